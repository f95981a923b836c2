"""The sampler: every signal ``envdoctor watch`` judges, read together at each interval.

The machine's counters come from psutil, the one boundary tests replace (``psutil_module``):
CPU times per core, memory and swap, per-disk I/O with busy time, per-interface bytes, and
for a watched command its process tree (CPU per process and per thread, storage I/O, TCP
connections).  GPUs come from NVML through :mod:`envdoctor.nvml`, the container
memory limit from the cgroup files through :mod:`envdoctor.probes.memory`, and the usable
CPU count (affinity, cgroup quota) from :mod:`envdoctor.probes.cpu`.

psutil has no system-wide count of major page faults, so that one figure is read from
``pgmajfault`` in ``/proc/vmstat`` through the Context.

Counters are cumulative; a :class:`Sampler` keeps the previous reading and turns the
difference into rates over the interval.  Processes are told apart by pid and start time,
so a reused pid is not diffed against a dead process.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from envdoctor import nvml as _nvml
from envdoctor.context import Context
from envdoctor.watch import devices
from envdoctor.watch.model import (
    CpuSample,
    DiskSample,
    Filesystem,
    MemorySample,
    NicSample,
    RemoteHost,
    Sample,
    TreeSample,
)

_ESTABLISHED = "ESTABLISHED"
_MEGABIT_BYTES = 1_000_000 / 8


@dataclass(frozen=True)
class _ProcessReading:
    name: str
    cpu_s: float
    threads: Mapping[int, float]
    """Thread id -> CPU seconds."""
    io: tuple[int, int] | None
    """(read_bytes, write_bytes) to the storage layer, None when not readable."""
    reaped_s: float = 0.0
    """CPU seconds of its children that ended and were waited for (``children_user`` and
    ``children_system``): a shell loop's short-lived commands live only in here."""


@dataclass(frozen=True)
class _TreeReading:
    processes: Mapping[tuple[int, float], _ProcessReading]
    connections: frozenset[tuple[str, int, str, int]]
    """(local ip, local port, remote ip, remote port) of each established TCP connection."""
    unreadable: int


@dataclass(frozen=True)
class _Reading:
    """Every cumulative counter at one instant."""

    at: float
    cpu: tuple[tuple[float, float, float], ...]
    """Per core: (total, idle, iowait) seconds."""
    swap: tuple[int, int] | None
    major_faults: int | None
    disks: Mapping[str, tuple[int, int, int | None]]
    """Device -> (read bytes, written bytes, busy ms)."""
    nics: Mapping[str, tuple[int, int]]
    tree: _TreeReading | None = None
    memory: tuple[int | None, int | None] = (None, None)
    cgroup: tuple[int | None, int | None] = (None, None)


class Sampler:
    """Reads every signal; each :meth:`sample` covers the time since the previous one.

    Use as a context manager: entering opens the NVML session (when there are GPUs) and
    takes the first reading, leaving shuts NVML down.  ``pid`` is the root of the process
    tree to watch (the command ``watch`` started), or None to watch only the machine.
    """

    def __init__(
        self,
        ctx: Context,
        *,
        pid: int | None = None,
        psutil_module: Any = None,
        gpus: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if psutil_module is None:
            import psutil as psutil_module
        self._ctx = ctx
        self._ps = psutil_module
        self._pid = pid
        self._want_gpus = gpus
        self._clock = clock
        self._stack = ExitStack()
        self._gpu_sampler: _nvml.GpuSampler | None = None
        self.gpu_note: str | None = None if gpus else "not sampled (--no-gpu)"
        self._root: Any = None
        self._start = 0.0
        self._previous: _Reading | None = None
        self._partition_names: dict[str, bool] = {}
        self.filesystems: tuple[Filesystem, ...] = ()
        self._roles: dict[str, tuple[str, ...]] = {}
        self._nic_info: dict[str, tuple[float | None, bool]] = {}
        """Interfaces that are up: name -> (link speed in bytes/s, loopback)."""
        self._usable_cpus: float | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Sampler:
        try:
            self._setup()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _setup(self) -> None:
        from envdoctor.probes import cpu

        if self._want_gpus:
            try:
                self._gpu_sampler = self._stack.enter_context(_nvml.sampling())
            except (_nvml.NvmlUnavailable, _nvml.NvmlBroken) as error:
                self.gpu_note = error.reason
            else:
                if self._gpu_sampler.device_count == 0:
                    self.gpu_note = "the NVIDIA driver sees no GPU"
        self._usable_cpus = cpu.read_facts(self._ctx).effective
        try:
            partitions = self._ps.disk_partitions(all=True)
        except OSError:
            partitions = []
        self.filesystems = devices.filesystems(self._ctx, partitions)
        roles: dict[str, list[str]] = {}
        for filesystem in self.filesystems:
            if filesystem.device is not None:
                roles.setdefault(filesystem.device, []).append(filesystem.role)
        self._roles = {device: tuple(names) for device, names in roles.items()}
        self._nic_info = self._read_nic_info()
        if self._pid is not None:
            self.attach(self._pid)
        else:
            self._start = self._clock()
            self._previous = self._read()

    def attach(self, pid: int) -> None:
        """Watch the process tree under ``pid`` from now on, and start the clock again.

        ``watch`` enters the Sampler first and starts the command after, so the set-up
        (NVML, the device map) does not eat the command's first moments.
        """
        self._pid = pid
        self._root = None
        with contextlib.suppress(self._ps.NoSuchProcess):
            self._root = self._ps.Process(pid)
        self._start = self._clock()
        self._previous = self._read()

    # -- sampling -------------------------------------------------------------------------

    def sample(self) -> Sample:
        """Every signal over the time since the previous sample (or since entering)."""
        assert self._previous is not None, "use the Sampler as a context manager"
        previous, current = self._previous, self._read()
        self._previous = current
        interval = max(current.at - previous.at, 1e-6)
        gpus = self._gpu_sampler.sample() if self._gpu_sampler is not None else ()
        return Sample(
            elapsed_s=current.at - self._start,
            interval_s=interval,
            cpu=self._cpu(previous, current),
            memory=self._memory(previous, current, interval),
            disks=self._disks(previous, current, interval),
            nics=self._nics(previous, current, interval),
            tree=_tree(previous.tree, current.tree, interval),
            gpus=gpus,
            gpu_note=self.gpu_note,
        )

    def _read(self) -> _Reading:
        ps = self._ps
        tree = self._read_tree() if self._pid is not None else None
        at = self._clock()
        cores = tuple(_core_times(times) for times in ps.cpu_times(percpu=True))
        try:
            swap = ps.swap_memory()
            swap_counts: tuple[int, int] | None = (int(swap.sin), int(swap.sout))
        except (OSError, RuntimeError):  # no /proc/vmstat in some sandboxes
            swap_counts = None
        memory = ps.virtual_memory()
        disks = {
            name: (int(io.read_bytes), int(io.write_bytes), _busy_ms(io))
            for name, io in (ps.disk_io_counters(perdisk=True) or {}).items()
        }
        nics = {
            name: (int(io.bytes_recv), int(io.bytes_sent))
            for name, io in (ps.net_io_counters(pernic=True) or {}).items()
        }
        return _Reading(
            at=at,
            cpu=cores,
            swap=swap_counts,
            major_faults=self._major_faults(),
            disks=disks,
            nics=nics,
            tree=tree,
            memory=(_maybe_int(memory.total), _maybe_int(memory.available)),
            cgroup=self._cgroup_memory(),
        )

    def _major_faults(self) -> int | None:
        try:
            text = self._ctx.path("/proc/vmstat").read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            return None
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "pgmajfault" and value.strip().isdigit():
                return int(value)
        return None

    def _cgroup_memory(self) -> tuple[int | None, int | None]:
        from envdoctor.probes import memory

        group = memory.read_cgroup(self._ctx)
        if group is None or group.limit is None:
            return None, None
        return group.limit, group.working_set

    def _read_nic_info(self) -> dict[str, tuple[float | None, bool]]:
        try:
            stats = self._ps.net_if_stats()
        except OSError:
            return {}
        info = {}
        for name, stat in stats.items():
            if not stat.isup:
                continue
            flags = str(getattr(stat, "flags", ""))
            loopback = "loopback" in flags.split(",") or name == "lo"
            speed = float(stat.speed) * _MEGABIT_BYTES if stat.speed and stat.speed > 0 else None
            info[name] = (speed, loopback)
        return info

    def _read_tree(self) -> _TreeReading | None:
        if self._root is None:
            return _TreeReading({}, frozenset(), 0)
        ps = self._ps
        try:
            members = [self._root, *self._root.children(recursive=True)]
        except ps.NoSuchProcess:
            return _TreeReading({}, frozenset(), 0)
        processes: dict[tuple[int, float], _ProcessReading] = {}
        connections: set[tuple[str, int, str, int]] = set()
        unreadable = 0
        for process in members:
            try:
                key, reading, denied = self._read_process(process, connections)
            except ps.NoSuchProcess:  # exited between the listing and the reading
                continue
            except ps.AccessDenied:
                unreadable += 1
                continue
            processes[key] = reading
            unreadable += denied
        return _TreeReading(processes, frozenset(connections), unreadable)

    def _read_process(
        self, process: Any, connections: set[tuple[str, int, str, int]]
    ) -> tuple[tuple[int, float], _ProcessReading, int]:
        ps = self._ps
        denied = 0
        with process.oneshot():
            key = (int(process.pid), float(process.create_time()))
            times = process.cpu_times()
            name = str(process.name())
            threads = {int(t.id): float(t.user_time + t.system_time) for t in process.threads()}
            try:
                io_counts = process.io_counters()
                io: tuple[int, int] | None = (
                    int(io_counts.read_bytes),
                    int(io_counts.write_bytes),
                )
            except (ps.AccessDenied, AttributeError):  # AttributeError: no io_counters here
                io = None
                denied = 1
        try:
            connections.update(_established(process))
        except ps.AccessDenied:
            denied = 1
        reaped = float(
            getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
        )
        own = float(times.user + times.system)
        return key, _ProcessReading(name, own, threads, io, reaped), denied

    # -- differences ----------------------------------------------------------------------

    def _cpu(self, previous: _Reading, current: _Reading) -> CpuSample:
        per_core: list[float] = []
        total_all = idle_all = iowait_all = 0.0
        for before, after in zip(previous.cpu, current.cpu, strict=False):
            total = max(after[0] - before[0], 0.0)
            idle = max(after[1] - before[1], 0.0)
            iowait = max(after[2] - before[2], 0.0)
            per_core.append(_pct(total - idle - iowait, total))
            total_all += total
            idle_all += idle
            iowait_all += iowait
        return CpuSample(
            busy_pct=_pct(total_all - idle_all - iowait_all, total_all),
            per_core_pct=tuple(per_core),
            iowait_pct=_pct(iowait_all, total_all) if total_all else None,
            logical_cpus=len(current.cpu),
            usable_cpus=self._usable_cpus,
        )

    def _memory(self, previous: _Reading, current: _Reading, interval: float) -> MemorySample:
        swap_in = swap_out = None
        if previous.swap is not None and current.swap is not None:
            swap_in = _rate(previous.swap[0], current.swap[0], interval)
            swap_out = _rate(previous.swap[1], current.swap[1], interval)
        faults = None
        if previous.major_faults is not None and current.major_faults is not None:
            faults = _rate(previous.major_faults, current.major_faults, interval)
        return MemorySample(
            total_bytes=current.memory[0],
            available_bytes=current.memory[1],
            swap_in_bytes_per_s=swap_in,
            swap_out_bytes_per_s=swap_out,
            major_faults_per_s=faults,
            cgroup_limit_bytes=current.cgroup[0],
            cgroup_working_set_bytes=current.cgroup[1],
        )

    def _disks(
        self, previous: _Reading, current: _Reading, interval: float
    ) -> tuple[DiskSample, ...]:
        found = []
        for name, after in current.disks.items():
            before = previous.disks.get(name)
            if before is None or self._is_partition(name):
                continue
            busy = None
            if before[2] is not None and after[2] is not None:
                busy = min(100.0, _pct(after[2] - before[2], interval * 1000.0))
            sample = DiskSample(
                device=name,
                read_bytes_per_s=_rate(before[0], after[0], interval),
                write_bytes_per_s=_rate(before[1], after[1], interval),
                busy_pct=busy,
                roles=self._roles.get(name, ()),
            )
            active = sample.read_bytes_per_s or sample.write_bytes_per_s or sample.busy_pct
            if sample.roles or active:
                found.append(sample)
        return tuple(found)

    def _is_partition(self, name: str) -> bool:
        known = self._partition_names.get(name)
        if known is None:
            known = self._partition_names[name] = devices.is_partition(self._ctx, name)
        return known

    def _nics(
        self, previous: _Reading, current: _Reading, interval: float
    ) -> tuple[NicSample, ...]:
        found = []
        for name, after in current.nics.items():
            before = previous.nics.get(name)
            if before is None:
                continue
            speed, loopback = self._nic_info.get(name, (None, name == "lo"))
            sample = NicSample(
                name=name,
                rx_bytes_per_s=_rate(before[0], after[0], interval),
                tx_bytes_per_s=_rate(before[1], after[1], interval),
                speed_bytes_per_s=speed,
                loopback=loopback,
            )
            if name in self._nic_info or sample.rx_bytes_per_s or sample.tx_bytes_per_s:
                found.append(sample)
        return tuple(found)


def _tree(
    previous: _TreeReading | None, current: _TreeReading | None, interval: float
) -> TreeSample | None:
    if current is None:
        return None
    before = previous.processes if previous is not None else {}
    cpu_s = 0.0
    read = written = 0
    io_known = False
    busiest: tuple[float, str] | None = None
    reaped_s = 0.0
    for key, process in current.processes.items():
        earlier = before.get(key)
        cpu_s += max(process.cpu_s - (earlier.cpu_s if earlier else 0.0), 0.0)
        reaped_s += max(process.reaped_s - (earlier.reaped_s if earlier else 0.0), 0.0)
        if process.io is not None:
            io_known = True
            old_io = earlier.io if earlier is not None and earlier.io is not None else (0, 0)
            read += max(process.io[0] - old_io[0], 0)
            written += max(process.io[1] - old_io[1], 0)
        for tid, seconds in process.threads.items():
            used = seconds - (earlier.threads.get(tid, 0.0) if earlier else 0.0)
            if busiest is None or used > busiest[0]:
                who = f"pid {key[0]}" if tid == key[0] else f"pid {key[0]}, thread {tid}"
                busiest = (used, f"{process.name} ({who})")
    # What the children waited for in this interval used, less what was already counted
    # of those seen before (gone now: their seconds moved into a parent's reaped_s).
    gone = [earlier for key, earlier in before.items() if key not in current.processes]
    cpu_s += max(reaped_s - sum(p.cpu_s + p.reaped_s for p in gone), 0.0)
    return TreeSample(
        processes=len(current.processes),
        cpu_pct=cpu_s / interval * 100.0,
        # Clock ticks are 10 ms: a thread can seem to use a little more than its interval.
        busiest_thread_pct=None if busiest is None else _pct(busiest[0], interval),
        busiest_thread=None if busiest is None else busiest[1],
        read_bytes_per_s=read / interval if io_known else None,
        write_bytes_per_s=written / interval if io_known else None,
        remote_hosts=_remote_hosts(current.connections),
        unreadable=current.unreadable,
    )


def _established(process: Any) -> Iterable[tuple[str, int, str, int]]:
    """Established TCP connections with a remote end (psutil >= 6 ``net_connections``)."""
    method = getattr(process, "net_connections", None) or process.connections
    for connection in method(kind="tcp"):
        if connection.status != _ESTABLISHED or not connection.raddr:
            continue
        local = connection.laddr
        remote = connection.raddr
        yield (str(local[0]), int(local[1]), str(remote[0]), int(remote[1]))


def _remote_hosts(connections: Iterable[tuple[str, int, str, int]]) -> tuple[RemoteHost, ...]:
    by_host: dict[str, list[int]] = {}
    for _, _, address, port in connections:
        by_host.setdefault(address, []).append(port)
    hosts = [
        RemoteHost(address, len(ports), _is_loopback(address), tuple(sorted(set(ports))))
        for address, ports in by_host.items()
    ]
    return tuple(sorted(hosts, key=lambda host: (-host.connections, host.address)))


def _is_loopback(address: str) -> bool:
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped.is_loopback
    return parsed.is_loopback


def _core_times(times: Any) -> tuple[float, float, float]:
    """(total, idle, iowait) seconds of one core, guest time counted once, as psutil does."""
    values = times._asdict()
    # On Linux guest and guest_nice are already included in user and nice.
    total = sum(values.values()) - values.get("guest", 0.0) - values.get("guest_nice", 0.0)
    return float(total), float(values.get("idle", 0.0)), float(values.get("iowait", 0.0))


def _busy_ms(io: Any) -> int | None:
    busy = getattr(io, "busy_time", None)
    return None if busy is None else int(busy)


def _maybe_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _rate(before: float, after: float, interval: float) -> float:
    # A counter that went backwards was reset (device re-added, counter wrapped): no rate.
    return max(after - before, 0) / interval


def _pct(part: float, whole: float) -> float:
    return 0.0 if whole <= 0 else max(0.0, min(100.0, part / whole * 100.0))
