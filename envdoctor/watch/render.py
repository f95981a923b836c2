"""``envdoctor watch`` for people and machines: a live table, plain lines, or JSON.

No judging here: the sampler measures, the rules decide, this module only writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from envdoctor import __version__
from envdoctor.nvml import GpuSample, LostGpu
from envdoctor.units import format_bytes, format_rate
from envdoctor.watch import rules
from envdoctor.watch.model import Sample, WatchRun, sample_to_json

SCHEMA = "envdoctor-watch/1"

_STYLES = {
    rules.GPU: "bold green",
    rules.IDLE: "dim",
    rules.UNCLEAR: "bold",
    rules.UNKNOWN: "dim",
    rules.MEMORY: "bold red",
    rules.THROTTLED: "bold red",
}
_DEFAULT_STYLE = "bold yellow"


# --------------------------------------------------------------------------- one sample


def signal_rows(sample: Sample) -> list[tuple[str, str]]:
    """(signal, figures) for every signal of a sample: the rows of the live table."""
    rows = [("cpu", _cpu_text(sample))]
    if sample.tree is not None:
        rows.append(("command", _tree_text(sample)))
        rows.append(("tcp", _connections_text(sample)))
    rows.append(("memory", _memory_text(sample)))
    for disk in sample.disks:
        busy = "busy unknown" if disk.busy_pct is None else f"{disk.busy_pct:.0f}% busy"
        roles = f" · {', '.join(disk.roles)}" if disk.roles else ""
        rows.append(
            (
                f"disk {disk.device}",
                f"{busy} · read {format_rate(disk.read_bytes_per_s)} · "
                f"write {format_rate(disk.write_bytes_per_s)}{roles}",
            )
        )
    for nic in sample.nics:
        if nic.loopback and not (nic.rx_bytes_per_s or nic.tx_bytes_per_s):
            continue
        link = f" · link {format_rate(nic.speed_bytes_per_s)}" if nic.speed_bytes_per_s else ""
        rows.append(
            (
                f"net {nic.name}",
                f"rx {format_rate(nic.rx_bytes_per_s)} · "
                f"tx {format_rate(nic.tx_bytes_per_s)}{link}",
            )
        )
    if sample.gpu_note is not None:
        rows.append(("gpu", sample.gpu_note))
    for gpu in sample.gpus:
        rows.append((f"gpu {gpu.index}", _gpu_text(gpu)))
    return rows


def _cpu_text(sample: Sample) -> str:
    cpu = sample.cpu
    cores = " ".join(f"{pct:.0f}" for pct in cpu.per_core_pct[:32])
    more = f" (+{len(cpu.per_core_pct) - 32})" if len(cpu.per_core_pct) > 32 else ""
    usable = ""
    if cpu.usable_cpus is not None and cpu.usable_cpus < cpu.logical_cpus:
        usable = f", {cpu.usable_cpus:g} usable"
    iowait = "" if cpu.iowait_pct is None else f" · iowait {cpu.iowait_pct:.0f}%"
    return (
        f"{cpu.busy_pct:.0f}% busy of {cpu.logical_cpus} CPUs{usable} · per core % {cores}{more}"
        f"{iowait}"
    )


def _tree_text(sample: Sample) -> str:
    tree = sample.tree
    assert tree is not None
    parts = [
        f"{tree.processes} process{'es' if tree.processes != 1 else ''}",
        f"{tree.cpu_pct:.0f}% of a core",
    ]
    if tree.busiest_thread is not None and tree.busiest_thread_pct is not None:
        parts.append(f"busiest thread {tree.busiest_thread} {tree.busiest_thread_pct:.0f}%")
    if tree.read_bytes_per_s is not None and tree.write_bytes_per_s is not None:
        parts.append(
            f"storage read {format_rate(tree.read_bytes_per_s)} "
            f"write {format_rate(tree.write_bytes_per_s)}"
        )
    if tree.unreadable:
        parts.append(f"{tree.unreadable} not readable")
    return " · ".join(parts)


def _connections_text(sample: Sample) -> str:
    tree = sample.tree
    assert tree is not None
    if not tree.remote_hosts:
        return "no connection open"
    shown = tree.remote_hosts[:6]
    hosts = ", ".join(f"{host.address} ×{host.connections}" for host in shown)
    more = f" (+{len(tree.remote_hosts) - len(shown)} hosts)" if len(tree.remote_hosts) > 6 else ""
    return f"{tree.connections} open: {hosts}{more}"


def _memory_text(sample: Sample) -> str:
    memory = sample.memory
    parts = [
        f"{format_bytes(memory.available_bytes)} available of {format_bytes(memory.total_bytes)}"
    ]
    if memory.cgroup_limit_bytes is not None:
        parts.append(
            f"cgroup {format_bytes(memory.cgroup_working_set_bytes)} of "
            f"{format_bytes(memory.cgroup_limit_bytes)}"
        )
    parts.append(
        f"swap in {format_rate(memory.swap_in_bytes_per_s)} "
        f"out {format_rate(memory.swap_out_bytes_per_s)}"
    )
    if memory.major_faults_per_s is not None:
        parts.append(f"{memory.major_faults_per_s:.0f} major faults/s")
    return " · ".join(parts)


def _gpu_text(gpu: GpuSample | LostGpu) -> str:
    if isinstance(gpu, LostGpu):
        return f"lost: {gpu.reason}"

    def pct(value: int | None) -> str:
        return "unknown" if value is None else f"{value}%"

    parts = [gpu.name or "unknown model", f"{pct(gpu.utilization_gpu_pct)} busy"]
    parts.append(
        f"memory {format_bytes(gpu.memory_used_bytes)} of {format_bytes(gpu.memory_total_bytes)}"
    )
    parts.append(
        f"PCIe rx {format_rate(gpu.pcie_rx_bytes_per_s)} tx {format_rate(gpu.pcie_tx_bytes_per_s)}"
    )
    if gpu.temperature_c is not None:
        parts.append(f"{gpu.temperature_c} °C")
    if gpu.power_draw_w is not None:
        parts.append(f"{gpu.power_draw_w:.0f} W")
    reasons = gpu.clock_event_reasons
    if reasons is None:
        parts.append("clock events unknown")
    elif [reason for reason in reasons if reason != "gpu_idle"]:
        parts.append("clocks: " + ", ".join(reasons))
    return " · ".join(parts)


def live_view(sample: Sample, finding: rules.Finding) -> Group:
    """The live display: the current verdict on top, then a compact table of signals."""
    style = _STYLES.get(finding.verdict, _DEFAULT_STYLE)
    head = Text()
    head.append(f"{finding.verdict}", style=style)
    head.append(f": {finding.message}")
    fix = Text(f"→ {finding.remedy}", style="cyan")
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column("signal", style="bold", no_wrap=True)
    table.add_column("now", overflow="fold")
    for name, figures in signal_rows(sample):
        table.add_row(name, figures)
    clock = Text(
        f"{sample.elapsed_s:.1f} s, every {sample.interval_s:.1f} s · Ctrl-C stops", style="dim"
    )
    return Group(head, fix, table, clock)


def sample_line(sample: Sample, finding: rules.Finding) -> str:
    """One plain line per sample for logs: the time, the verdict, the figures."""
    return f"{sample.elapsed_s:7.1f} s  {finding.verdict:<15}  {finding.message}"


# --------------------------------------------------------------------------- the summary


def summary_lines(run: WatchRun, judgement: rules.Judgement) -> list[str]:
    """What the watch found, in plain lines: what was watched, the verdict, the remedy."""
    what = "the machine" if run.command is None else _command_text(run.command)
    lines = [
        f"watched {what} for {run.duration_s:.1f} s: {len(run.samples)} "
        f"sample{'s' if len(run.samples) != 1 else ''} every {run.interval_s:g} s"
        + ("" if run.exit_code is None else f", exit code {run.exit_code}")
        + (", interrupted" if run.interrupted else "")
    ]
    lines.append(f"verdict: {judgement.headline}")
    lines.append(f"fix: {judgement.finding.remedy}")
    others = [f"{name} in {count}" for name, count in judgement.tally if name != judgement.verdict]
    if others:
        lines.append(f"also: {', '.join(others)} of {judgement.samples} samples")
    if run.filesystems:
        lines.append(
            "filesystems: "
            + " · ".join(
                f"{fs.role} {fs.display} on {fs.device or fs.note or 'unknown'}"
                for fs in run.filesystems
            )
        )
    lines.extend(f"note: {note}" for note in run.notes)
    return lines


def render_summary(run: WatchRun, judgement: rules.Judgement, console: Console) -> None:
    """The summary, styled on a terminal and as plain greppable lines elsewhere."""
    lines = summary_lines(run, judgement)
    if not console.is_terminal:
        console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
        return
    style = _STYLES.get(judgement.verdict, _DEFAULT_STYLE)
    console.print(Text(lines[0], style="dim"))
    verdict = Text("verdict: ")
    verdict.append(judgement.verdict, style=style)
    verdict.append(judgement.headline[len(judgement.verdict) :])
    console.print(verdict)
    console.print(Text(f"→ {judgement.finding.remedy}", style="cyan"))
    for line in lines[3:]:
        console.print(Text(line, style="dim"))


def _command_text(command: Sequence[str]) -> str:
    import shlex

    text = " ".join(shlex.join(command).split())  # one line, even for a multi-line -c script
    return text if len(text) <= 80 else text[:79] + "…"


# --------------------------------------------------------------------------- JSON


def document(
    run: WatchRun,
    judgement: rules.Judgement,
    findings: Sequence[rules.Finding],
    thresholds: rules.Thresholds,
) -> dict[str, Any]:
    """The ``envdoctor-watch/1`` document: every sample with its verdict, and the verdict."""
    from dataclasses import asdict

    samples = []
    for sample, finding in zip(run.samples, findings, strict=True):
        data = sample_to_json(sample)
        data["verdict"] = {
            "verdict": finding.verdict,
            "rule": finding.rule,
            "message": finding.message,
        }
        samples.append(data)
    return {
        "schema": SCHEMA,
        "envdoctor_version": __version__,
        "started_at": run.started_at,
        "duration_s": round(run.duration_s, 3),
        "interval_s": run.interval_s,
        "command": None if run.command is None else list(run.command),
        "exit_code": run.exit_code,
        "interrupted": run.interrupted,
        "filesystems": [fs.to_json() for fs in run.filesystems],
        "notes": list(run.notes),
        "thresholds": asdict(thresholds),
        "samples": samples,
        "verdict": judgement.to_json(),
    }


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
