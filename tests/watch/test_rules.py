"""One scenario per verdict: recorded counters through the psutil and NVML fakes, then the
verdict, its evidence and the text people read."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from io import StringIO

import pytest
from rich.console import Console

from envdoctor.watch import render, rules
from envdoctor.watch.model import CpuSample, MemorySample, Sample, WatchRun
from tests.probes import cgroup_fakes, nvml_fakes
from tests.watch.conftest import fake_sysfs
from tests.watch.nvml_watch_fakes import WatchGpu, WatchScenario
from tests.watch.psutil_fakes import FakeMachine, FakeProcess, tcp

KiB = 1024
MiB = 1024**2
GiB = 1024**3


def judged(samples, *, client=None, thresholds=None, command=None):
    thresholds = thresholds or rules.Thresholds()
    findings = [rules.evaluate(s, thresholds, client=client) for s in samples]
    judgement = rules.judge(samples, thresholds, client=client, findings=findings)
    run = WatchRun(
        samples=tuple(samples),
        interval_s=1.0,
        duration_s=float(len(samples)),
        started_at="2026-05-01T10:00:00+00:00",
        command=command,
        exit_code=None if command is None else 0,
    )
    return judgement, run


def summary_text(run, judgement) -> str:
    out = StringIO()
    render.render_summary(run, judgement, Console(file=out, width=120))
    return out.getvalue()


def live_text(sample) -> str:
    out = StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    console.print(render.live_view(sample, rules.evaluate(sample)))
    return out.getvalue()


def steps(count: int, **rates):
    return [dict(rates) for _ in range(count)]


# memory-pressure -----------------------------------------------------------------------


def test_swapping_is_memory_pressure(sample_run, wctx):
    cgroup_fakes.write(wctx.root, "/proc/vmstat", "pgmajfault 0\n")
    machine = FakeMachine()
    samples = sample_run(
        machine,
        steps(3, cores=[0.3] * 4, swap=(24 * MiB, 8 * MiB), available_memory=300 * MiB),
    )
    judgement, run = judged(samples)
    assert judgement.verdict == rules.MEMORY
    assert judgement.finding.rule == "memory-swap"
    assert judgement.held == 3
    text = summary_text(run, judgement)
    assert (
        "verdict: memory-pressure: swapping 24.0 MiB/s in and 8.0 MiB/s out, 0 major faults/s, "
        "300.0 MiB available (3 of 3 samples)\n"
    ) in text
    assert "fix: Memory is short: use fewer workers or a smaller batch" in text


def test_near_the_cgroup_limit_is_memory_pressure(sample_run, wctx):
    cgroup_fakes.cgroup_v2(
        wctx.root,
        "/",
        {
            "memory.max": str(8 * GiB),
            "memory.current": str(int(7.84 * GiB)),
            "memory.stat": cgroup_fakes.memory_stat(inactive_file=0),
        },
    )
    samples = sample_run(FakeMachine(), steps(2, cores=[0.5] * 4))
    judgement, run = judged(samples)
    assert judgement.verdict == rules.MEMORY
    assert judgement.finding.rule == "memory-cgroup"
    assert judgement.finding.evidence["used_pct"] == pytest.approx(98.0)
    assert "working set 7.8 GiB of the 8.0 GiB cgroup limit (98%)" in summary_text(run, judgement)
    assert "docker run --memory" in judgement.finding.remedy


def test_a_small_container_limit_barely_used_is_not_memory_pressure(sample_run, wctx):
    # Any container limited to under 5% of the host's memory read as memory-pressure:
    # its headroom was taken as a share of the host's total, not of its limit.
    cgroup_fakes.cgroup_v2(
        wctx.root,
        "/",
        {
            "memory.max": str(GiB),
            "memory.current": str(512 * 1024),
            "memory.stat": cgroup_fakes.memory_stat(inactive_file=0),
        },
    )
    machine = FakeMachine(total_memory=24 * GiB, available_memory=23 * GiB)
    judgement, _ = judged(sample_run(machine, steps(2, cores=[0.1] * 4)))
    assert judgement.verdict != rules.MEMORY, judgement.finding


def test_little_headroom_under_a_container_limit_is_memory_pressure(sample_run, wctx):
    cgroup_fakes.cgroup_v2(
        wctx.root,
        "/",
        {
            "memory.max": str(GiB),
            "memory.current": str(int(0.97 * GiB)),
            "memory.stat": cgroup_fakes.memory_stat(inactive_file=0),
        },
    )
    machine = FakeMachine(total_memory=24 * GiB, available_memory=23 * GiB)
    judgement, _ = judged(sample_run(machine, steps(2, cores=[0.1] * 4)))
    assert judgement.verdict == rules.MEMORY  # 3% of the limit left, whatever the host has


def test_little_memory_available_is_memory_pressure(sample_run):
    machine = FakeMachine(total_memory=32 * GiB, available_memory=GiB)
    samples = sample_run(machine, steps(2))
    judgement, _ = judged(samples)
    assert judgement.finding.rule == "memory-low"
    assert judgement.finding.message.startswith("1.0 GiB available of 32.0 GiB (3%)")


# GPUs ----------------------------------------------------------------------------------


def test_busy_gpu_is_gpu_bound_and_said_to_be_fine(sample_run, monkeypatch):
    nvml_fakes.install(
        monkeypatch,
        WatchScenario(
            gpus=[
                WatchGpu(utilization_gpu=3),
                WatchGpu(
                    utilization_gpu=97,
                    memory_used=60 * GiB,
                    memory_total=80 * GiB,
                    clock_reasons=0x4,
                    pcie_rx_kib=2_000_000,
                ),
            ]
        ),
    )
    samples = sample_run(FakeMachine(), steps(3, cores=[0.2] * 4), gpus=True)
    judgement, run = judged(samples)
    assert judgement.verdict == rules.GPU
    text = summary_text(run, judgement)
    assert (
        "verdict: gpu-bound: GPU 1 (NVIDIA H100 80GB HBM3) at 97% utilisation, 60.0 GiB of "
        "80.0 GiB used, 1 of 2 GPUs busy: the GPU is the limit, as it should be"
    ) in text
    assert "fix: Nothing to fix" in text
    live = live_text(samples[-1])
    assert "gpu 1" in live and "97% busy" in live and "PCIe rx 1.9 GiB/s" in live
    assert "clocks: sw_power_cap" in live


def test_thermal_slowdown_is_a_throttled_gpu(sample_run, monkeypatch):
    nvml_fakes.install(
        monkeypatch,
        WatchScenario(gpus=[WatchGpu(utilization_gpu=99, clock_reasons=0x40, temperature=91)]),
    )
    samples = sample_run(FakeMachine(), steps(2), gpus=True)
    judgement, run = judged(samples)
    assert judgement.verdict == rules.THROTTLED
    assert (
        "gpu-throttled: GPU 0 (NVIDIA H100 80GB HBM3) slowed by hw_thermal_slowdown at 99% "
        "utilisation, 91 °C"
    ) in summary_text(run, judgement)
    assert "nvidia-smi -q -d PERFORMANCE,TEMPERATURE,POWER" in judgement.finding.remedy


def test_an_idle_gpu_with_a_slowdown_bit_is_not_throttled(sample_run, monkeypatch):
    nvml_fakes.install(
        monkeypatch, WatchScenario(gpus=[WatchGpu(utilization_gpu=0, clock_reasons=0x41)])
    )
    samples = sample_run(FakeMachine(), steps(2), gpus=True)
    assert rules.judge(samples).verdict == rules.IDLE


def test_a_lost_gpu_is_shown_and_the_others_still_judged(sample_run, monkeypatch):
    import pynvml

    nvml_fakes.install(
        monkeypatch,
        WatchScenario(
            gpus=[
                WatchGpu(handle_error=pynvml.NVMLError_GpuIsLost),
                WatchGpu(
                    utilization_gpu=95,
                    errors={"nvmlDeviceGetPcieThroughput": pynvml.NVMLError_NotSupported},
                ),
            ]
        ),
    )
    samples = sample_run(FakeMachine(), steps(2), gpus=True)
    assert rules.judge(samples).verdict == rules.GPU
    live = live_text(samples[-1])
    assert re.search(r"^gpu 0 +lost: GPU is lost", live, re.M)
    assert "PCIe rx unknown tx unknown" in live


# disk-bound ----------------------------------------------------------------------------


def test_busy_disk_under_the_model_cache_is_disk_bound(sample_run, wctx, tmp_path, monkeypatch):
    fake_sysfs(wctx.root, os.stat(tmp_path).st_dev, "nvme0n1", "nvme0n1p1")
    nvml_fakes.install(monkeypatch, WatchScenario(gpus=[WatchGpu(utilization_gpu=5)]))
    machine = FakeMachine(disks=("nvme0n1", "nvme0n1p1"))
    samples = sample_run(
        machine,
        steps(4, cores=[0.2] * 4, iowait=[0.5] * 4, disks={"nvme0n1": (0, 400 * MiB, 0.92)}),
        gpus=True,
    )
    judgement, run = judged(samples)
    assert judgement.verdict == rules.DISK
    assert judgement.finding.evidence["device"] == "nvme0n1"
    text = summary_text(run, judgement)
    assert (
        "verdict: disk-bound: nvme0n1 (model cache, working directory) 92% busy, reading 0 B/s, "
        "writing 400.0 MiB/s, with the GPUs at 5% and the network at 0 B/s (4 of 4 samples)"
    ) in text
    # the disk holds both: the advice for each, not the model cache's alone (a dd that
    # writes only the working directory was told to move the model cache)
    assert (
        "if it is the model cache's I/O, move the model cache to a faster local disk "
        "(`export HF_HUB_CACHE=/fast/disk/hub`); if it is the working directory's I/O, work "
        "on a faster local disk, not this one"
    ) in text
    assert "iowait 50%" in live_text(samples[-1])


def test_a_busy_disk_the_command_does_not_touch_is_not_its_limit(sample_run):
    machine = FakeMachine()
    machine.spawn(FakeProcess(100, "sleep"))
    samples = sample_run(machine, steps(3, disks={"nvme0n1": (0, 200 * MiB, 0.95)}), pid=100)
    assert rules.judge(samples).verdict != rules.DISK
    machine = FakeMachine()
    machine.spawn(FakeProcess(100, "dd"))
    samples = sample_run(
        machine,
        steps(3, disks={"nvme0n1": (0, 200 * MiB, 0.95)}, process_io={100: (0, 200 * MiB)}),
        pid=100,
    )
    assert rules.judge(samples).verdict == rules.DISK


# network-bound -------------------------------------------------------------------------


def test_receiving_at_the_link_speed_is_network_bound(sample_run):
    machine = FakeMachine(nics={"lo": (0, "up,loopback"), "eth0": (1000, "up,broadcast")})
    samples = sample_run(machine, steps(3, cores=[0.1] * 4, nics={"eth0": (118_000_000, 900_000)}))
    judgement, run = judged(samples)
    assert judgement.verdict == rules.NETWORK
    assert judgement.finding.rule == "network-link"
    assert (
        "network-bound: eth0 receiving 112.5 MiB/s, 94% of the 119.2 MiB/s link speed"
    ) in summary_text(run, judgement)
    assert "envdoctor mirrors" in judgement.finding.remedy


def test_receiving_near_the_measured_mirror_speed_is_network_bound(sample_run):
    samples = sample_run(FakeMachine(), steps(2, nics={"eth0": (36 * MiB, 0)}))
    thresholds = rules.Thresholds(mirror_bytes_per_s=40 * MiB)
    judgement, _ = judged(samples, thresholds=thresholds)
    assert judgement.finding.rule == "network-link"
    assert judgement.finding.message == (
        "eth0 receiving 36.0 MiB/s, 90% of the 40.0 MiB/s measured mirror speed"
    )
    # Without the mirror speed and with no link speed, the same figures are a plain download.
    assert rules.judge(samples).finding.rule == "network-receiving"


def test_one_connection_per_host_is_network_bound_with_the_clients_knob(sample_run):
    machine = FakeMachine()
    root = machine.spawn(FakeProcess(100, "hf"))
    root.conns = [tcp("203.0.113.7")]
    samples = sample_run(
        machine, steps(3, threads={(100, 100): 0.15}, nics={"eth0": (2 * MiB, 40 * KiB)}), pid=100
    )
    command = ("hf", "download", "org/model")
    judgement, run = judged(samples, client=rules.client_of(command), command=command)
    assert judgement.verdict == rules.NETWORK
    assert judgement.finding.rule == "network-one-connection"
    text = summary_text(run, judgement)
    assert (
        "verdict: network-bound: receiving 2.0 MiB/s over 1 TCP connection per host "
        "(203.0.113.7): a mirror that limits each connection caps the download there"
    ) in text
    assert "fix: Download in parallel: `hf download --max-workers 16`" in text
    assert "watched hf download org/model for 3.0 s: 3 samples every 1 s, exit code 0" in text
    assert re.search(r"^tcp +1 open: 203.0.113.7 ×1", live_text(samples[-1]), re.M)


def test_loopback_traffic_counts_only_for_a_command_connected_to_loopback(sample_run):
    machine = FakeMachine()
    samples = sample_run(machine, steps(2, nics={"lo": (50 * MiB, 50 * MiB)}))
    assert rules.judge(samples).verdict == rules.IDLE
    machine = FakeMachine()
    root = machine.spawn(FakeProcess(100, "python3"))
    root.conns = [tcp("127.0.0.1", 8000)]
    samples = sample_run(machine, steps(2, nics={"lo": (3 * MiB, 3 * MiB)}), pid=100)
    judgement = rules.judge(samples, client=rules.client_of(["python3", "-m", "pip"]))
    assert judgement.finding.rule == "network-one-connection"
    assert "uv pip install" in judgement.finding.remedy


def test_many_connections_receiving_with_nothing_else_busy_is_network_bound(sample_run):
    machine = FakeMachine()
    root = machine.spawn(FakeProcess(100, "aria2c"))
    root.conns = [tcp("203.0.113.7", 443, port) for port in range(40000, 40008)]
    samples = sample_run(machine, steps(2, nics={"eth0": (20 * MiB, 0)}), pid=100)
    judgement, _ = judged(samples)
    assert judgement.finding.rule == "network-receiving"
    assert judgement.finding.message == (
        "receiving 20.0 MiB/s on eth0 over 8 TCP connections to 1 hosts while CPU, disks and "
        "GPUs are below their limits"
    )


def test_traffic_over_none_of_the_commands_connections_says_so(sample_run):
    # `watch -- sleep 4` beside someone else's download read as the command's network
    # limit; a `docker pull` downloads through dockerd, outside the command's tree, so
    # the verdict stays, in words that do not claim the bytes are the command's.
    machine = FakeMachine()
    machine.spawn(FakeProcess(100, "docker"))
    samples = sample_run(machine, steps(2, nics={"eth0": (20 * MiB, 0)}), pid=100)
    judgement, _ = judged(samples)
    assert judgement.finding.rule == "network-receiving"
    assert judgement.finding.message == (
        "receiving 20.0 MiB/s on eth0 (none over the command's own connections: another "
        "process's, or a daemon's) while CPU, disks and GPUs are below their limits"
    )
    thresholds = rules.Thresholds(mirror_bytes_per_s=21 * MiB)
    linked, _ = judged(samples, thresholds=thresholds)
    assert linked.finding.message.endswith(
        "measured mirror speed (none over the command's "
        "own connections: another process's, or a daemon's)"
    )


# cpu-bound -----------------------------------------------------------------------------


def test_one_pinned_thread_of_the_command_is_cpu_bound(sample_run):
    machine = FakeMachine(cores=8)
    machine.spawn(FakeProcess(100, "python3", threads_={100: 0.0, 101: 0.0}))
    samples = sample_run(
        machine,
        steps(3, cores=[0.9] + [0.05] * 7, threads={(100, 101): 0.99, (100, 100): 0.02}),
        pid=100,
    )
    judgement, run = judged(samples)
    assert judgement.verdict == rules.CPU
    assert judgement.finding.rule == "cpu-thread"
    assert (
        "cpu-bound: one thread, python3 (pid 100, thread 101), at 99% of a core: a "
        "single-threaded step (decompression, hashing, a Python loop)"
    ) in summary_text(run, judgement)
    assert "More CPUs will not help one thread" in judgement.finding.remedy


def test_one_pinned_core_on_the_machine_is_cpu_bound(sample_run):
    samples = sample_run(FakeMachine(cores=4), steps(2, cores=[0.02, 1.0, 0.04, 0.02]))
    judgement, _ = judged(samples)
    assert judgement.finding.rule == "cpu-core"
    assert judgement.finding.message == (
        "CPU 1 at 100% while the machine is 27% busy: one thread is the limit"
    )


def test_all_cpus_busy_is_cpu_bound(sample_run):
    samples = sample_run(FakeMachine(cores=8), steps(3, cores=[0.97] * 8))
    judgement, run = judged(samples)
    assert judgement.finding.rule == "cpu-saturated"
    assert "cpu-bound: CPUs 97% busy (7.8 of 8 usable)" in summary_text(run, judgement)


def test_a_command_using_all_its_cpus_is_cpu_bound(sample_run):
    machine = FakeMachine(cores=4)
    machine.spawn(FakeProcess(100, "make", threads_={100: 0, 101: 0, 102: 0, 103: 0}))
    shares = {(100, tid): 0.95 for tid in (100, 101, 102, 103)}
    samples = sample_run(machine, steps(2, cores=[0.95] * 4, threads=shares), pid=100)
    judgement, _ = judged(samples)
    assert judgement.finding.rule == "cpu-saturated"
    assert judgement.finding.message == (
        "CPUs 95% busy (3.8 of 4 usable); the command uses 3.8 of them"
    )


def test_under_a_cpu_quota_the_message_tells_the_machine_from_the_quota(sample_run, wctx):
    # "CPUs 56% busy (1.1 of 0.5 usable)": the machine's busy cores beside the quota.
    cgroup_fakes.cgroup_v2(wctx.root, "/", {"cpu.max": "50000 100000"})
    machine = FakeMachine(cores=2)
    machine.spawn(FakeProcess(100, "python3"))
    samples = sample_run(machine, steps(2, cores=[0.6, 0.5], threads={(100, 100): 0.5}), pid=100)
    judgement, _ = judged(samples)
    assert judgement.finding.rule == "cpu-saturated"
    assert judgement.finding.message == (
        "CPUs 55% busy (1.1 of the machine's 2; 0.5 usable here); the command uses 0.5 of them"
    )


def test_a_busy_machine_is_not_the_limit_of_a_command_that_uses_no_cpu(sample_run):
    machine = FakeMachine(cores=2)
    machine.spawn(FakeProcess(100, "sleep"))
    samples = sample_run(machine, steps(2, cores=[1.0, 1.0]), pid=100)
    assert rules.judge(samples).verdict == rules.UNCLEAR


# idle and no single limit --------------------------------------------------------------


def test_nothing_busy_is_idle(sample_run):
    samples = sample_run(FakeMachine(), steps(3, cores=[0.03] * 4))
    judgement, run = judged(samples)
    assert judgement.verdict == rules.IDLE
    assert (
        "verdict: idle: nothing is busy: CPUs 3% busy, no disk activity, receiving 0 B/s "
        "(3 of 3 samples)"
    ) in summary_text(run, judgement)


def test_moderate_load_everywhere_is_no_single_limit(sample_run):
    samples = sample_run(
        FakeMachine(),
        steps(
            2, cores=[0.5] * 4, disks={"nvme0n1": (20 * MiB, 0, 0.4)}, nics={"eth0": (MiB // 2, 0)}
        ),
    )
    judgement, _ = judged(samples)
    assert judgement.verdict == rules.UNCLEAR
    assert judgement.finding.message == (
        "no signal at its limit: CPUs 50% busy, busiest disk nvme0n1 40% busy, receiving "
        "512.0 KiB/s"
    )


# judging a whole run -------------------------------------------------------------------


def _sample(**cpu) -> Sample:
    return Sample(
        elapsed_s=1.0,
        interval_s=1.0,
        cpu=CpuSample(per_core_pct=(0.0,), iowait_pct=0.0, logical_cpus=1, **cpu),
        memory=MemorySample(64 * GiB, 32 * GiB, 0.0, 0.0, 0.0),
    )


def test_a_limit_held_for_a_fifth_of_the_samples_beats_idle():
    idle = _sample(busy_pct=2.0)
    busy = replace(_sample(busy_pct=99.0), cpu=CpuSample(99.0, (99.0,), 0.0, 1))
    judgement = rules.judge([idle] * 7 + [busy] * 3)
    assert judgement.verdict == rules.CPU
    assert judgement.held == 3 and judgement.samples == 10
    assert judgement.tally == ((rules.IDLE, 7), (rules.CPU, 3))
    assert judgement.headline.endswith("(3 of 10 samples)")
    assert rules.judge([idle] * 9 + [busy]).verdict == rules.IDLE


def test_the_typical_sample_is_the_median_of_the_winning_rule():
    samples = [
        replace(_sample(busy_pct=pct), cpu=CpuSample(pct, (pct,), 0.0, 1)) for pct in (91, 99, 95)
    ]
    judgement = rules.judge(samples)
    assert judgement.finding.evidence["busy_pct"] == 95


def test_no_sample_is_unknown():
    judgement = rules.judge([])
    assert judgement.verdict == rules.UNKNOWN
    assert judgement.headline == "unknown: no sample: it ended before the first interval"


def test_every_rule_is_documented_and_every_verdict_reachable():
    documented = rules.__doc__ or ""
    names = {rule.verdict for rule in rules.RULES}
    assert names == set(rules.VERDICTS) - {rules.UNKNOWN}
    for phrase in ("memory pressure", "GPU throttled", "GPU-bound", "disk-bound", "network-bound"):
        assert phrase in documented
    assert rules.RULES[-1].id == "no-single-limit"  # the catch-all comes last
    assert len({rule.id for rule in rules.RULES}) == len(rules.RULES)


@pytest.mark.parametrize(
    ("command", "client"),
    [
        (["hf", "download", "x"], "hf"),
        (["/usr/bin/python3", "-m", "pip", "install", "torch"], "pip"),
        (["docker", "pull", "x"], "docker"),
        (["python", "train.py"], None),
        (None, None),
    ],
)
def test_client_of(command, client):
    assert rules.client_of(command) == client
