"""What the watched work is waiting on: verdict rules, written as data in one place.

Each sample is judged on its own: the rules below are tried in order and the first whose
test holds names the sample's limit, with the figures that prove it (``message``) and the
remedy they imply.  The order is the priority: memory pressure slows everything else
down, so it comes first; a busy GPU is the limit a job should have, so it beats the disk;
a saturated link is the network's fault before a CPU step is; a download over a single
connection, or a steady download while nothing else is busy, is waiting on the network.

The default thresholds (:class:`Thresholds`), the rules of thumb people apply by hand:

=====================  ==========================================================
memory pressure        swap in + out >= 1 MiB/s; or the working set >= 90% of the
                       cgroup memory limit; or <= 5% of memory available.  Major
                       page faults alone are not pressure: memory-mapped model
                       files fault too.  They are shown as evidence.
GPU throttled          a GPU at >= 10% utilisation whose clocks are held down by
                       thermal slowdown, hardware slowdown or a power brake.
GPU-bound (fine)       a GPU at >= 90% utilisation.
disk-bound             a device >= 70% busy (iostat's %util) while the GPUs and the
                       network wait, and, when watching a command, the command
                       itself reads or writes storage.
network-bound          receive rate >= 80% of the mirror speed (``--mirror-speed``)
                       or of the interface's link speed; or, for a command, data
                       arriving (>= 32 KiB/s) over one TCP connection per host (a
                       per-connection limited mirror); or >= 1 MiB/s arriving
                       while CPU, disks and GPUs are all below their limits.
CPU-bound              one thread of the command >= 80% of a core (a single-threaded
                       step: decompression, hashing, a Python loop), or, watching
                       the machine, one core >= 95% while the others idle; or the
                       CPUs >= 90% busy (with the command using >= half a core of
                       them, or the command using >= 90% of its usable CPUs).
idle                   CPUs < 25% busy, every disk < 10%, < 256 KiB/s received,
                       GPUs < 10%.
no single limit        none of the above: the figures of each, for a human to read.
=====================  ==========================================================

The run's verdict is the one that held for the most samples, preferring a real limit
over "idle" or "no single limit" when that limit held for at least a fifth of them.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from envdoctor.probes import disk as disk_probe
from envdoctor.units import KiB, MiB, format_bytes, format_rate
from envdoctor.watch.model import DiskSample, NicSample, Sample, TreeSample

NETWORK = "network-bound"
DISK = "disk-bound"
CPU = "cpu-bound"
MEMORY = "memory-pressure"
GPU = "gpu-bound"
THROTTLED = "gpu-throttled"
IDLE = "idle"
UNCLEAR = "no-single-limit"
UNKNOWN = "unknown"
"""No sample at all: the command ended before the first interval."""

VERDICTS = (MEMORY, THROTTLED, GPU, DISK, NETWORK, CPU, IDLE, UNCLEAR, UNKNOWN)
_NOT_A_LIMIT = frozenset({IDLE, UNCLEAR, UNKNOWN})

THROTTLE_REASONS = frozenset(
    {"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}
)
"""Clocks-event reasons that mean the GPU is slowed down against its will.  ``sw_power_cap``
is left out: a GPU working flat out at its configured power limit shows it."""


@dataclass(frozen=True)
class Thresholds:
    """Every number the rules compare against; see the module docstring."""

    swap_bytes_per_s: float = 1 * MiB
    cgroup_fraction: float = 0.90
    available_fraction: float = 0.05
    gpu_active_pct: float = 10.0
    gpu_busy_pct: float = 90.0
    disk_busy_pct: float = 70.0
    link_fraction: float = 0.80
    trickle_bytes_per_s: float = 32 * KiB
    receiving_bytes_per_s: float = 1 * MiB
    thread_pct: float = 80.0
    core_pct: float = 95.0
    others_idle_pct: float = 75.0
    cpu_saturated_pct: float = 90.0
    tree_share_pct: float = 50.0
    idle_cpu_pct: float = 25.0
    idle_disk_pct: float = 10.0
    idle_rx_bytes_per_s: float = 256 * KiB
    idle_gpu_pct: float = 10.0
    mirror_bytes_per_s: float | None = None
    """The download speed measured from this mirror (``envdoctor mirrors``), if known."""
    majority_fraction: float = 0.20


Evidence = dict[str, Any]
Test = Callable[[Sample, Thresholds], "Evidence | None"]


@dataclass(frozen=True)
class Rule:
    """One way of naming the limit: a test over a sample, and texts over its evidence.

    ``message`` and ``remedy`` are :meth:`str.format` templates over the evidence; the
    format specs ``rate``, ``bytes``, ``pct`` and ``count`` print figures for people.
    ``key`` is the evidence figure that shows how strongly the rule held.
    """

    id: str
    verdict: str
    test: Test
    message: str
    remedy: str
    key: str


@dataclass(frozen=True)
class Finding:
    """A rule that held for one sample, its texts filled in."""

    rule: str
    verdict: str
    message: str
    remedy: str
    evidence: Evidence

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "rule": self.rule,
            "message": self.message,
            "remedy": self.remedy,
            "evidence": _json_ready(self.evidence),
        }


@dataclass(frozen=True)
class Judgement:
    """The verdict over a whole watch: the finding that held for the most samples."""

    finding: Finding
    held: int
    samples: int
    tally: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    """(verdict, samples) for each verdict seen, most frequent first."""

    @property
    def verdict(self) -> str:
        return self.finding.verdict

    @property
    def headline(self) -> str:
        share = f" ({self.held} of {self.samples} samples)" if self.samples else ""
        return f"{self.finding.verdict}: {self.finding.message}{share}"

    def to_json(self) -> dict[str, Any]:
        data = self.finding.to_json()
        data["held"] = self.held
        data["samples"] = self.samples
        data["tally"] = [{"verdict": name, "samples": count} for name, count in self.tally]
        return data


# --------------------------------------------------------------------------- figures


def receiving(sample: Sample) -> tuple[float, tuple[NicSample, ...]]:
    """Bytes/s arriving on the interfaces that carry the work, and those interfaces.

    Loopback traffic is local, so it counts only when the watched command is connected to
    a loopback address (a local proxy or mirror).
    """
    tree = sample.tree
    local = tree is not None and any(host.loopback for host in tree.remote_hosts)
    nics = tuple(nic for nic in sample.nics if local or not nic.loopback)
    return sum(nic.rx_bytes_per_s for nic in nics), nics


def _busiest_disk(sample: Sample) -> DiskSample | None:
    known = [disk for disk in sample.disks if disk.busy_pct is not None]
    return max(known, key=lambda disk: disk.busy_pct or 0.0, default=None)


def _gpu_max(sample: Sample) -> float | None:
    values = [gpu.utilization_gpu_pct for gpu in sample.usable_gpus]
    known = [value for value in values if value is not None]
    return float(max(known)) if known else None


def _waiting(sample: Sample) -> str:
    rx, _ = receiving(sample)
    parts = []
    gpu = _gpu_max(sample)
    if gpu is not None:
        parts.append(f"the GPUs at {gpu:.0f}%")
    parts.append(f"the network at {format_rate(rx)}")
    return " and ".join(parts)


def _storage_rate(tree: TreeSample) -> float | None:
    if tree.read_bytes_per_s is None or tree.write_bytes_per_s is None:
        return None
    return tree.read_bytes_per_s + tree.write_bytes_per_s


def _roles(disk: DiskSample) -> str:
    return f" ({', '.join(disk.roles)})" if disk.roles else ""


# --------------------------------------------------------------------------- tests


def _memory_swap(sample: Sample, t: Thresholds) -> Evidence | None:
    memory = sample.memory
    swap_in, swap_out = memory.swap_in_bytes_per_s, memory.swap_out_bytes_per_s
    if swap_in is None or swap_out is None or swap_in + swap_out < t.swap_bytes_per_s:
        return None
    return {
        "swap_in_bytes_per_s": swap_in,
        "swap_out_bytes_per_s": swap_out,
        "swap_bytes_per_s": swap_in + swap_out,
        "major_faults_per_s": memory.major_faults_per_s,
        "available_bytes": memory.effective_available_bytes,
    }


def _memory_cgroup(sample: Sample, t: Thresholds) -> Evidence | None:
    memory = sample.memory
    limit, used = memory.cgroup_limit_bytes, memory.cgroup_working_set_bytes
    if not limit or used is None or used < t.cgroup_fraction * limit:
        return None
    return {
        "working_set_bytes": used,
        "limit_bytes": limit,
        "used_pct": used / limit * 100,
        "major_faults_per_s": memory.major_faults_per_s,
    }


def _memory_low(sample: Sample, t: Thresholds) -> Evidence | None:
    memory = sample.memory
    # a container's headroom is a share of its limit, not of the host's memory
    total, available = memory.effective_total_bytes, memory.effective_available_bytes
    if not total or available is None or available > t.available_fraction * total:
        return None
    return {
        "available_bytes": available,
        "total_bytes": total,
        "available_pct": available / total * 100,
        "major_faults_per_s": memory.major_faults_per_s,
    }


def _gpu_throttled(sample: Sample, t: Thresholds) -> Evidence | None:
    for gpu in sample.usable_gpus:
        reasons = sorted(THROTTLE_REASONS & set(gpu.clock_event_reasons or ()))
        busy = gpu.utilization_gpu_pct
        if reasons and busy is not None and busy >= t.gpu_active_pct:
            temperature = "" if gpu.temperature_c is None else f", {gpu.temperature_c} °C"
            return {
                "gpu": gpu.index,
                "name": gpu.name or "unknown model",
                "reasons": ", ".join(reasons),
                "utilization_pct": busy,
                "temperature": temperature,
            }
    return None


def _gpu_bound(sample: Sample, t: Thresholds) -> Evidence | None:
    gpus = [gpu for gpu in sample.usable_gpus if gpu.utilization_gpu_pct is not None]
    busiest = max(gpus, key=lambda gpu: gpu.utilization_gpu_pct or 0, default=None)
    if busiest is None or (busiest.utilization_gpu_pct or 0) < t.gpu_busy_pct:
        return None
    busy = sum(1 for gpu in gpus if (gpu.utilization_gpu_pct or 0) >= t.gpu_busy_pct)
    memory = ""
    if busiest.memory_used_bytes is not None and busiest.memory_total_bytes:
        memory = (
            f", {format_bytes(busiest.memory_used_bytes)} of "
            f"{format_bytes(busiest.memory_total_bytes)} used"
        )
    return {
        "gpu": busiest.index,
        "name": busiest.name or "unknown model",
        "utilization_pct": busiest.utilization_gpu_pct,
        "busy_gpus": busy,
        "gpus": len(sample.usable_gpus),
        "memory": memory,
    }


def _disk_busy(sample: Sample, t: Thresholds) -> Evidence | None:
    disk = _busiest_disk(sample)
    if disk is None or disk.busy_pct is None or disk.busy_pct < t.disk_busy_pct:
        return None
    tree = sample.tree
    if tree is not None and _storage_rate(tree) == 0:
        return None  # someone else's I/O: the command does not touch storage
    # Which of the disk's roles the command's bytes are for is not known: one advice for
    # each, never the model cache's alone for a job that only writes its own files.
    roles = [role for role in disk.roles if role in _DISK_ADVICE]
    if not roles:
        advice = _DISK_ADVICE_OTHER
    elif len(roles) == 1:
        advice = _DISK_ADVICE[roles[0]]
    else:
        advice = "; ".join(f"if it is the {role}'s I/O, {_DISK_ADVICE[role]}" for role in roles)
    return {
        "device": disk.device,
        "roles": _roles(disk),
        "busy_pct": disk.busy_pct,
        "read_bytes_per_s": disk.read_bytes_per_s,
        "write_bytes_per_s": disk.write_bytes_per_s,
        "waiting": _waiting(sample),
        "advice": advice,
    }


def _network_link(sample: Sample, t: Thresholds) -> Evidence | None:
    rx, nics = receiving(sample)
    if rx < t.trickle_bytes_per_s:
        return None
    if t.mirror_bytes_per_s:
        ceiling, source = t.mirror_bytes_per_s, "measured mirror speed"
        names = ", ".join(nic.name for nic in nics if nic.rx_bytes_per_s > 0) or "the network"
        if rx < t.link_fraction * ceiling:
            return None
    else:
        linked = [nic for nic in nics if nic.speed_bytes_per_s]
        full = [
            nic
            for nic in linked
            if nic.speed_bytes_per_s
            and nic.rx_bytes_per_s >= t.link_fraction * nic.speed_bytes_per_s
        ]
        if not full:
            return None
        nic = max(full, key=lambda n: n.rx_bytes_per_s)
        rx, names = nic.rx_bytes_per_s, nic.name
        ceiling, source = float(nic.speed_bytes_per_s or 0), "link speed"
    return {
        "nics": names,
        "rx_bytes_per_s": rx,
        "ceiling_bytes_per_s": ceiling,
        "ceiling": source,
        "share_pct": rx / ceiling * 100,
        "whose": _not_its_own(sample),
    }


def _cpu_thread(sample: Sample, t: Thresholds) -> Evidence | None:
    tree = sample.tree
    if tree is None or tree.busiest_thread_pct is None or tree.busiest_thread_pct < t.thread_pct:
        return None
    return {"thread": tree.busiest_thread, "thread_pct": tree.busiest_thread_pct}


def _cpu_core(sample: Sample, t: Thresholds) -> Evidence | None:
    cpu = sample.cpu
    if sample.tree is not None or len(cpu.per_core_pct) < 2:
        return None
    core = max(range(len(cpu.per_core_pct)), key=lambda index: cpu.per_core_pct[index])
    others = [pct for index, pct in enumerate(cpu.per_core_pct) if index != core]
    if cpu.per_core_pct[core] < t.core_pct or statistics.fmean(others) > t.others_idle_pct:
        return None
    return {"core": core, "core_pct": cpu.per_core_pct[core], "busy_pct": cpu.busy_pct}


def _cpu_saturated(sample: Sample, t: Thresholds) -> Evidence | None:
    cpu = sample.cpu
    tree = sample.tree
    capacity = cpu.capacity
    machine_busy = cpu.busy_pct >= t.cpu_saturated_pct
    if tree is None:
        held = machine_busy
        part = ""
    else:
        uses_all = tree.cpu_pct >= t.cpu_saturated_pct * capacity
        held = uses_all or (machine_busy and tree.cpu_pct >= t.tree_share_pct)
        part = f"; the command uses {tree.cpu_pct / 100:.1f} of them"
    if not held:
        return None
    load = f"{cpu.busy_cores:.1f} of {capacity:g} usable"
    if capacity < cpu.logical_cpus:  # a quota or an affinity mask: the machine is larger
        load = f"{cpu.busy_cores:.1f} of the machine's {cpu.logical_cpus}; {capacity:g} usable here"
    return {
        "busy_pct": cpu.busy_pct,
        "busy_cores": cpu.busy_cores,
        "capacity": capacity,
        "load": load,
        "tree": part,
    }


def _network_one_connection(sample: Sample, t: Thresholds) -> Evidence | None:
    tree = sample.tree
    if tree is None or tree.max_connections_per_host != 1:
        return None
    rx, _ = receiving(sample)
    if rx < t.trickle_bytes_per_s:
        return None
    hosts = ", ".join(host.address for host in tree.remote_hosts)
    return {
        "rx_bytes_per_s": rx,
        "connections": tree.connections,
        "hosts": hosts,
        "per_host": tree.max_connections_per_host,
    }


def _network_receiving(sample: Sample, t: Thresholds) -> Evidence | None:
    rx, nics = receiving(sample)
    if rx < t.receiving_bytes_per_s:
        return None
    tree = sample.tree
    connections = _not_its_own(sample)
    if tree is not None and tree.remote_hosts:
        connections = f" over {tree.connections} TCP connections to {len(tree.remote_hosts)} hosts"
    names = ", ".join(nic.name for nic in nics if nic.rx_bytes_per_s > 0)
    return {"rx_bytes_per_s": rx, "nics": names, "connections": connections}


def _not_its_own(sample: Sample) -> str:
    """Words for traffic counted on the machine's interfaces while the watched command
    holds no TCP connection: another process's, or a daemon's it asked (``docker pull``
    downloads through dockerd), which is still what a pull waits for."""
    tree = sample.tree
    if tree is None or tree.connections or tree.unreadable:
        return ""
    return " (none over the command's own connections: another process's, or a daemon's)"


def _idle(sample: Sample, t: Thresholds) -> Evidence | None:
    rx, _ = receiving(sample)
    disk = _busiest_disk(sample)
    disk_busy = disk.busy_pct if disk is not None and disk.busy_pct is not None else 0.0
    gpu = _gpu_max(sample) or 0.0
    tree_cpu = sample.tree.cpu_pct if sample.tree is not None else 0.0
    if (
        sample.cpu.busy_pct >= t.idle_cpu_pct
        or tree_cpu >= t.idle_cpu_pct
        or disk_busy >= t.idle_disk_pct
        or rx >= t.idle_rx_bytes_per_s
        or gpu >= t.idle_gpu_pct
    ):
        return None
    return _overview(sample)


def _overview(sample: Sample, t: Thresholds | None = None) -> Evidence:
    rx, _ = receiving(sample)
    disk = _busiest_disk(sample)
    gpu = _gpu_max(sample)
    disk_text = (
        f"busiest disk {disk.device} {disk.busy_pct:.0f}% busy"
        if disk is not None and disk.busy_pct is not None
        else "no disk activity"
    )
    parts = [f"CPUs {sample.cpu.busy_pct:.0f}% busy"]
    if sample.tree is not None:
        parts.append(f"the command {sample.tree.cpu_pct:.0f}% of a core")
    parts += [disk_text, f"receiving {format_rate(rx)}"]
    if gpu is not None:
        parts.append(f"GPUs at most {gpu:.0f}%")
    return {"figures": ", ".join(parts), "busy_pct": sample.cpu.busy_pct}


# --------------------------------------------------------------------------- the rules

_DISK_ADVICE: Mapping[str, str] = {
    disk_probe.ROLE_MODEL_CACHE: (
        "move the model cache to a faster local disk (`export HF_HUB_CACHE=/fast/disk/hub`)"
    ),
    disk_probe.ROLE_DOCKER: (
        'move Docker\'s data root to a faster disk ("data-root" in /etc/docker/daemon.json)'
    ),
    disk_probe.ROLE_WORKDIR: "work on a faster local disk, not this one",
}
_DISK_ADVICE_OTHER = "put the data this job reads and writes on a faster local disk"

PARALLEL_DOWNLOADS: Mapping[str, str] = {
    "hf": "`hf download --max-workers 16`, and `export HF_XET_HIGH_PERFORMANCE=1`",
    "huggingface-cli": "`hf download --max-workers 16`, and `export HF_XET_HIGH_PERFORMANCE=1`",
    "modelscope": "`modelscope download --max-workers 16`",
    "docker": '"max-concurrent-downloads": 10 in /etc/docker/daemon.json (default 3)',
    "uv": "`export UV_CONCURRENT_DOWNLOADS=16`",
    "pip": "pip fetches one file at a time: `uv pip install` downloads in parallel",
    "pip3": "pip fetches one file at a time: `uv pip install` downloads in parallel",
    "git": "`git config lfs.concurrenttransfers 16` for Git LFS files",
    "git-lfs": "`git config lfs.concurrenttransfers 16`",
    "wget": "`aria2c -x 8 -s 8 URL` instead of wget",
    "curl": "`aria2c -x 8 -s 8 URL` instead of curl",
}
"""The knob that makes each client download in parallel, by the command's name."""
_PARALLEL_DEFAULT = "a parallel download (`aria2c -x 8 -s 8 URL`; `hf download --max-workers 16`)"

RULES: tuple[Rule, ...] = (
    Rule(
        "memory-swap",
        MEMORY,
        _memory_swap,
        "swapping {swap_in_bytes_per_s:rate} in and {swap_out_bytes_per_s:rate} out, "
        "{major_faults_per_s:count} major faults/s, {available_bytes:bytes} available",
        "Memory is short: use fewer workers or a smaller batch, or give the job more memory "
        "(a bigger machine, `docker run --memory`).",
        "swap_bytes_per_s",
    ),
    Rule(
        "memory-cgroup",
        MEMORY,
        _memory_cgroup,
        "working set {working_set_bytes:bytes} of the {limit_bytes:bytes} cgroup limit "
        "({used_pct:pct}), {major_faults_per_s:count} major faults/s",
        "Raise the container's memory limit (`docker run --memory`, Kubernetes "
        "resources.limits.memory) or use less: at the limit the kernel evicts the page cache, "
        "then kills the job.",
        "used_pct",
    ),
    Rule(
        "memory-low",
        MEMORY,
        _memory_low,
        "{available_bytes:bytes} available of {total_bytes:bytes} ({available_pct:pct}), "
        "{major_faults_per_s:count} major faults/s",
        "Free memory (find the largest processes with `ps aux --sort=-rss | head`) or use a "
        "machine with more.",
        "available_pct",
    ),
    Rule(
        "gpu-throttled",
        THROTTLED,
        _gpu_throttled,
        "GPU {gpu} ({name}) slowed by {reasons} at {utilization_pct:pct} utilisation{temperature}",
        "Check cooling and power: `nvidia-smi -q -d PERFORMANCE,TEMPERATURE,POWER`; thermal "
        "slowdown means airflow or fans, a power brake means the power supply signalled it.",
        "utilization_pct",
    ),
    Rule(
        "gpu-busy",
        GPU,
        _gpu_bound,
        "GPU {gpu} ({name}) at {utilization_pct:pct} utilisation{memory}, {busy_gpus} of "
        "{gpus} GPUs busy: the GPU is the limit, as it should be",
        "Nothing to fix: the GPU is the limit. Only a faster or second GPU, or less work per "
        "step (mixed precision, a smaller batch or model), makes it faster.",
        "utilization_pct",
    ),
    Rule(
        "disk-busy",
        DISK,
        _disk_busy,
        "{device}{roles} {busy_pct:pct} busy, reading {read_bytes_per_s:rate}, writing "
        "{write_bytes_per_s:rate}, with {waiting}",
        "The disk is the limit: {advice}; avoid small synchronous writes (an fsync per file).",
        "busy_pct",
    ),
    Rule(
        "network-link",
        NETWORK,
        _network_link,
        "{nics} receiving {rx_bytes_per_s:rate}, {share_pct:pct} of the "
        "{ceiling_bytes_per_s:rate} {ceiling}{whose}",
        "The link is full: only a faster link or a closer mirror helps; `envdoctor mirrors` "
        "ranks them from this machine.",
        "share_pct",
    ),
    Rule(
        "cpu-saturated",
        CPU,
        _cpu_saturated,
        "CPUs {busy_pct:pct} busy ({load}){tree}",
        "The CPUs are the limit: give the job more CPUs (a bigger machine, `docker run "
        "--cpus`) or stop what competes with it (`top -o %CPU`).",
        "busy_pct",
    ),
    Rule(
        "cpu-thread",
        CPU,
        _cpu_thread,
        "one thread, {thread}, at {thread_pct:pct} of a core: a single-threaded step "
        "(decompression, hashing, a Python loop)",
        "More CPUs will not help one thread: parallelise that step (more workers, `pigz` or "
        "`zstd -T0` to decompress) or use a faster implementation.",
        "thread_pct",
    ),
    Rule(
        "cpu-core",
        CPU,
        _cpu_core,
        "CPU {core} at {core_pct:pct} while the machine is {busy_pct:pct} busy: one thread "
        "is the limit",
        "More CPUs will not help one thread: find it with `top -H` and parallelise that step "
        "or use a faster implementation.",
        "core_pct",
    ),
    Rule(
        "network-one-connection",
        NETWORK,
        _network_one_connection,
        "receiving {rx_bytes_per_s:rate} over {per_host} TCP connection per host ({hosts}): "
        "a mirror that limits each connection caps the download there",
        "Download in parallel: {knob}.",
        "rx_bytes_per_s",
    ),
    Rule(
        "network-receiving",
        NETWORK,
        _network_receiving,
        "receiving {rx_bytes_per_s:rate} on {nics}{connections} while CPU, disks and GPUs "
        "are below their limits",
        "The mirror or the link is the limit: compare mirrors from here with `envdoctor "
        "mirrors` and switch with `envdoctor apply --profile auto`.",
        "rx_bytes_per_s",
    ),
    Rule(
        "idle",
        IDLE,
        _idle,
        "nothing is busy: {figures}",
        "Nothing here is the limit: the work waits on something outside this machine (a lock, "
        "a remote service, input) or is not running.",
        "busy_pct",
    ),
    Rule(
        "no-single-limit",
        UNCLEAR,
        _overview,
        "no signal at its limit: {figures}",
        "Nothing saturates: look at the job itself (its own progress output, `py-spy top` for "
        "a Python process).",
        "busy_pct",
    ),
)
"""Tried in this order; the first that holds names the sample's limit."""


# --------------------------------------------------------------------------- judging


def client_of(command: Sequence[str] | None) -> str | None:
    """The download client a command runs (``python -m pip`` -> ``pip``), if one is known."""
    for word in command or ():
        name = PurePath(word).name
        if name in PARALLEL_DOWNLOADS:
            return name
    return None


def evaluate(
    sample: Sample, thresholds: Thresholds | None = None, *, client: str | None = None
) -> Finding:
    """The first rule that holds for ``sample`` (the last rule always does)."""
    thresholds = thresholds or Thresholds()
    for rule in RULES:
        evidence = rule.test(sample, thresholds)
        if evidence is not None:
            return _finding(rule, evidence, client)
    raise AssertionError("the last rule always holds")


def judge(
    samples: Sequence[Sample],
    thresholds: Thresholds | None = None,
    *,
    client: str | None = None,
    findings: Sequence[Finding] | None = None,
) -> Judgement:
    """The verdict over a whole watch, with the figures of its most typical sample."""
    thresholds = thresholds or Thresholds()
    if findings is None:
        findings = [evaluate(sample, thresholds, client=client) for sample in samples]
    if not findings:
        empty = Finding(
            UNKNOWN,
            UNKNOWN,
            "no sample: it ended before the first interval",
            "Watch something that runs longer, or sample more often (`--interval 0.2`).",
            {},
        )
        return Judgement(empty, 0, 0)
    order = {verdict: index for index, verdict in enumerate(VERDICTS)}
    counts = Counter(finding.verdict for finding in findings)
    tally = tuple(sorted(counts.items(), key=lambda item: (-item[1], order[item[0]])))
    limits = [(name, n) for name, n in tally if name not in _NOT_A_LIMIT]
    enough = max(1.0, thresholds.majority_fraction * len(findings))
    winner = limits[0][0] if limits and limits[0][1] >= enough else tally[0][0]
    chosen = [finding for finding in findings if finding.verdict == winner]
    rule = Counter(finding.rule for finding in chosen).most_common(1)[0][0]
    typical = _median_finding([finding for finding in chosen if finding.rule == rule], rule)
    return Judgement(typical, counts[winner], len(findings), tally)


def _median_finding(findings: Sequence[Finding], rule_id: str) -> Finding:
    key = next(rule.key for rule in RULES if rule.id == rule_id)
    ranked = sorted(findings, key=lambda finding: _number(finding.evidence.get(key)))
    return ranked[(len(ranked) - 1) // 2]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _finding(rule: Rule, evidence: Evidence, client: str | None) -> Finding:
    values = dict(evidence)
    values.setdefault("knob", PARALLEL_DOWNLOADS.get(client or "", _PARALLEL_DEFAULT))
    wrapped = {key: _Figure(value) for key, value in values.items()}
    return Finding(
        rule.id,
        rule.verdict,
        rule.message.format_map(wrapped),
        rule.remedy.format_map(wrapped),
        evidence,
    )


class _Figure:
    """A value that formats itself for people under the specs ``rate``, ``bytes``,
    ``pct`` and ``count``, and ``unknown`` when it is None."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        value = self.value
        if spec in ("rate", "bytes", "pct", "count") and value is None:
            return "unknown"
        if spec == "rate":
            return format_rate(value)
        if spec == "bytes":
            return format_bytes(value)
        if spec == "pct":
            return f"{value:.0f}%"
        if spec == "count":
            return f"{value:.0f}"
        return format(value, spec)


def _json_ready(evidence: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: round(value, 3) if isinstance(value, float) else value
        for key, value in evidence.items()
    }
