"""What one ``envdoctor watch`` sample holds: rates over the last interval, as frozen data.

The sampler (:mod:`envdoctor.watch.signals`) fills these from psutil and NVML; the rules
(:mod:`envdoctor.watch.rules`) read them; the renderers turn them into text or JSON.  Rates
are per second over the interval that ended at ``elapsed_s``; ``None`` means unknown (the
kernel, the driver or a permission did not say), never zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from envdoctor.nvml import GpuSample, LostGpu


@dataclass(frozen=True)
class CpuSample:
    """The machine's CPUs over the interval."""

    busy_pct: float
    """Share of all logical CPUs' time spent neither idle nor waiting for I/O, 0-100."""
    per_core_pct: tuple[float, ...]
    iowait_pct: float | None
    logical_cpus: int
    usable_cpus: float | None = None
    """What this process may use: the affinity mask and the cgroup quota (None: unknown)."""

    @property
    def busy_cores(self) -> float:
        """Busy time in CPUs: 1.0 is one core kept busy the whole interval."""
        return self.busy_pct / 100.0 * self.logical_cpus

    @property
    def capacity(self) -> float:
        """The CPUs the watched work can use: the usable count, else every logical CPU."""
        return self.usable_cpus if self.usable_cpus else float(self.logical_cpus)


@dataclass(frozen=True)
class MemorySample:
    """Memory now, and paging over the interval."""

    total_bytes: int | None
    available_bytes: int | None
    """The host's MemAvailable (psutil)."""
    swap_in_bytes_per_s: float | None
    swap_out_bytes_per_s: float | None
    major_faults_per_s: float | None
    """Pages read from disk on a fault, swap-ins and memory-mapped files (model loads) alike."""
    cgroup_limit_bytes: int | None = None
    cgroup_working_set_bytes: int | None = None
    """The cgroup's usage less its inactive page cache: what counts against the limit."""

    @property
    def effective_available_bytes(self) -> int | None:
        """What a new allocation can get: the cgroup headroom capped by the host's available."""
        candidates = (self.available_bytes, self.cgroup_headroom_bytes)
        known = [value for value in candidates if value is not None]
        return min(known) if known else None

    @property
    def effective_total_bytes(self) -> int | None:
        """What :attr:`effective_available_bytes` is a share of: the cgroup's limit where
        it is below the host's memory (a container's), else the host's."""
        if self.cgroup_limit_bytes is not None and (
            self.total_bytes is None or self.cgroup_limit_bytes < self.total_bytes
        ):
            return self.cgroup_limit_bytes
        return self.total_bytes

    @property
    def cgroup_headroom_bytes(self) -> int | None:
        if self.cgroup_limit_bytes is None or self.cgroup_working_set_bytes is None:
            return None
        return max(0, self.cgroup_limit_bytes - self.cgroup_working_set_bytes)


@dataclass(frozen=True)
class DiskSample:
    """One block device over the interval, as ``iostat -x`` shows it."""

    device: str
    """The kernel's name (``nvme0n1``, ``sda``, ``dm-0``, ``vda``), as in /proc/diskstats."""
    read_bytes_per_s: float
    write_bytes_per_s: float
    busy_pct: float | None
    """Time with at least one request in flight (iostat's ``%util``); None if not counted."""
    roles: tuple[str, ...] = ()
    """The filesystems that matter that live on it: model cache, Docker data root, cwd."""


@dataclass(frozen=True)
class NicSample:
    """One network interface over the interval."""

    name: str
    rx_bytes_per_s: float
    tx_bytes_per_s: float
    speed_bytes_per_s: float | None = None
    """The link speed the driver reports (None: virtual or unknown)."""
    loopback: bool = False


@dataclass(frozen=True)
class RemoteHost:
    """The TCP connections the watched processes hold open to one remote address."""

    address: str
    connections: int
    loopback: bool = False
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class TreeSample:
    """The watched command and all its descendants over the interval."""

    processes: int
    cpu_pct: float
    """CPU time of the whole tree, in percent of one core (200 is two cores kept busy)."""
    busiest_thread_pct: float | None = None
    """The single thread that used the most CPU, in percent of one core."""
    busiest_thread: str | None = None
    """Who that was: ``python3 (pid 4242, thread 4250)``."""
    read_bytes_per_s: float | None = None
    """Bytes the tree made the storage layer read or write (not page-cache hits)."""
    write_bytes_per_s: float | None = None
    remote_hosts: tuple[RemoteHost, ...] = ()
    unreadable: int = 0
    """Processes whose figures psutil was not allowed to read (another user's setuid child)."""

    @property
    def max_connections_per_host(self) -> int:
        return max((host.connections for host in self.remote_hosts), default=0)

    @property
    def connections(self) -> int:
        return sum(host.connections for host in self.remote_hosts)


@dataclass(frozen=True)
class Sample:
    """Every signal, sampled together, over the interval that ended ``elapsed_s`` in."""

    elapsed_s: float
    interval_s: float
    cpu: CpuSample
    memory: MemorySample
    disks: tuple[DiskSample, ...] = ()
    nics: tuple[NicSample, ...] = ()
    tree: TreeSample | None = None
    """None when watching the machine rather than a command."""
    gpus: tuple[GpuSample | LostGpu, ...] = ()
    gpu_note: str | None = None
    """Why there are no GPU figures (no NVIDIA driver, NVML broken), else None."""

    @property
    def usable_gpus(self) -> tuple[GpuSample, ...]:
        return tuple(gpu for gpu in self.gpus if isinstance(gpu, GpuSample))


@dataclass(frozen=True)
class Filesystem:
    """A directory that matters to AI work and the block device under it."""

    role: str
    path: Path
    display: str
    """The path as people know it (``~/.cache/huggingface/hub``)."""
    device: str | None
    """The disk as psutil's ``disk_io_counters`` names it; None when it cannot be told."""
    note: str | None = None
    """Why the device is unknown (tmpfs, overlay, network filesystem)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "path": str(self.path),
            "display": self.display,
            "device": self.device,
            "note": self.note,
        }


def sample_to_json(sample: Sample) -> dict[str, Any]:
    """A sample as JSON-ready data: rates rounded to whole bytes, percentages to 0.1."""
    data: dict[str, Any] = _rounded(asdict(sample))
    data["gpus"] = [_gpu_json(gpu) for gpu in sample.gpus]
    return data


def _gpu_json(gpu: GpuSample | LostGpu) -> dict[str, Any]:
    data: dict[str, Any] = _rounded(asdict(gpu))
    data["lost"] = isinstance(gpu, LostGpu)
    return data


def _rounded(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v, key) for v in value]
    if isinstance(value, float):
        if key.endswith(("_bytes_per_s", "_bytes")):
            return round(value)
        return round(value, 1 if key.endswith("_pct") else 3)
    return value


@dataclass(frozen=True)
class WatchRun:
    """A whole watch: what was watched, every sample, how the command ended."""

    samples: tuple[Sample, ...]
    interval_s: float
    duration_s: float
    started_at: str
    """ISO 8601 with the UTC offset."""
    filesystems: tuple[Filesystem, ...] = ()
    command: tuple[str, ...] | None = None
    exit_code: int | None = None
    interrupted: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
