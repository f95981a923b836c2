"""A fake ``psutil`` module for the watch sampler: recorded counters, advanced by the test.

:class:`FakeMachine` holds cumulative counters the way the kernel keeps them (CPU seconds
per core by state, bytes and busy milliseconds per disk, bytes per interface, swap bytes,
per-process and per-thread CPU seconds, storage bytes, TCP connections) and a clock.  A
test describes each interval with rates (:meth:`FakeMachine.advance`); the sampler reads the
counters through the psutil functions it really calls, and turns them back into rates.
Exceptions are psutil's own classes, so ``except psutil.NoSuchProcess`` is exercised.
"""

from __future__ import annotations

import contextlib
from collections import namedtuple
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil as real_psutil

CpuTimes = namedtuple(
    "CpuTimes",
    "user nice system idle iowait irq softirq steal guest guest_nice",
)
DiskIo = namedtuple("DiskIo", "read_count write_count read_bytes write_bytes busy_time")
NetIo = namedtuple("NetIo", "bytes_sent bytes_recv packets_sent packets_recv")
NicStats = namedtuple("NicStats", "isup duplex speed mtu flags")
Partition = namedtuple("Partition", "device mountpoint fstype opts")
Swap = namedtuple("Swap", "total used free percent sin sout")
Memory = namedtuple("Memory", "total available percent used free")
ProcTimes = namedtuple("ProcTimes", "user system children_user children_system iowait")
Thread = namedtuple("Thread", "id user_time system_time")
ProcIo = namedtuple("ProcIo", "read_count write_count read_bytes write_bytes")
Addr = namedtuple("Addr", "ip port")
Connection = namedtuple("Connection", "fd family type laddr raddr status")

GiB = 1024**3


@dataclass
class FakeProcess:
    """One process of the watched tree; CPU per thread, storage bytes, TCP connections."""

    pid: int
    name_: str = "python3"
    started: float = 1000.0
    threads_: dict[int, float] = field(default_factory=dict)
    """Thread id -> CPU seconds so far."""
    io: tuple[int, int] | None = (0, 0)
    """(read_bytes, write_bytes); None: io_counters raises AccessDenied."""
    conns: list[Connection] = field(default_factory=list)
    children_: list[FakeProcess] = field(default_factory=list)
    gone: bool = False
    """Exited: every call raises NoSuchProcess."""
    old_psutil: bool = False
    """Only the pre-6.0 ``connections`` method, no ``net_connections``."""
    deny_connections: bool = False
    reaped_: float = 0.0
    """CPU seconds of its children that ended and were waited for (``children_user``)."""

    def __post_init__(self) -> None:
        self.threads_.setdefault(self.pid, 0.0)

    def __getattr__(self, name: str) -> Any:
        if name == "net_connections" and not self.old_psutil:
            return self._connections
        if name == "connections":
            return self._connections
        raise AttributeError(name)

    def _check(self) -> None:
        if self.gone:
            raise real_psutil.NoSuchProcess(self.pid)

    @contextlib.contextmanager
    def oneshot(self) -> Iterator[None]:
        yield

    def create_time(self) -> float:
        self._check()
        return self.started

    def name(self) -> str:
        self._check()
        return self.name_

    def cpu_times(self) -> ProcTimes:
        self._check()
        total = sum(self.threads_.values())
        return ProcTimes(total * 0.8, total * 0.2, self.reaped_, 0.0, 0.0)

    def threads(self) -> list[Thread]:
        self._check()
        return [Thread(tid, s * 0.8, s * 0.2) for tid, s in self.threads_.items()]

    def io_counters(self) -> ProcIo:
        self._check()
        if self.io is None:
            raise real_psutil.AccessDenied(self.pid)
        return ProcIo(0, 0, *self.io)

    def _connections(self, kind: str = "inet") -> list[Connection]:
        assert kind == "tcp"
        self._check()
        if self.deny_connections:
            raise real_psutil.AccessDenied(self.pid)
        return list(self.conns)

    def children(self, recursive: bool = False) -> list[FakeProcess]:
        self._check()
        found = []
        for child in self.children_:
            found.append(child)
            if recursive:
                with contextlib.suppress(real_psutil.NoSuchProcess):
                    found.extend(child.children(recursive=True))
        return found


def tcp(remote: str, port: int = 443, local_port: int = 50000, status: str = "ESTABLISHED"):
    """An established TCP connection from this machine to ``remote``."""
    local = "127.0.0.1" if remote.startswith("127.") else "10.0.0.2"
    return Connection(-1, 2, 1, Addr(local, local_port), Addr(remote, port), status)


def listening(port: int) -> Connection:
    return Connection(-1, 2, 1, Addr("0.0.0.0", port), (), "LISTEN")


class FakeMachine:
    """The psutil module as seen by the sampler, over a machine whose counters a test drives."""

    NoSuchProcess = real_psutil.NoSuchProcess
    AccessDenied = real_psutil.AccessDenied

    def __init__(
        self,
        *,
        cores: int = 4,
        disks: Sequence[str] = ("nvme0n1",),
        nics: Mapping[str, tuple[int, str]] | None = None,
        total_memory: int = 64 * GiB,
        available_memory: int = 48 * GiB,
        partitions: Sequence[Partition] = (),
        busy_time: bool = True,
    ) -> None:
        self.now = 5000.0
        self.cpu = [dict.fromkeys(CpuTimes._fields, 0.0) for _ in range(cores)]
        for core in self.cpu:
            core["idle"] = 10_000.0
        self.disks = {name: [0, 0, 0, 0, 0] for name in disks}
        self.busy_time = busy_time
        self.nic_info = dict(nics or {"lo": (0, "up,loopback,running"), "eth0": (0, "up")})
        self.nic_bytes = {name: [0, 0] for name in self.nic_info}
        self.swap = [0, 0]
        self.memory = [total_memory, available_memory]
        self.partitions = list(partitions)
        self.processes: dict[int, FakeProcess] = {}
        self.reads: list[str] = []

    def clock(self) -> float:
        return self.now

    # -- what the test drives -------------------------------------------------------------

    def spawn(self, process: FakeProcess, parent: FakeProcess | None = None) -> FakeProcess:
        self.processes[process.pid] = process
        if parent is not None:
            parent.children_.append(process)
        return process

    def advance(
        self,
        seconds: float = 1.0,
        *,
        cores: Sequence[float] | None = None,
        iowait: Sequence[float] | None = None,
        disks: Mapping[str, tuple[float, float, float]] | None = None,
        nics: Mapping[str, tuple[float, float]] | None = None,
        swap: tuple[float, float] = (0.0, 0.0),
        threads: Mapping[tuple[int, int], float] | None = None,
        process_io: Mapping[int, tuple[float, float]] | None = None,
        available_memory: int | None = None,
    ) -> None:
        """Let ``seconds`` pass at these rates.

        ``cores``: busy fraction per core; ``iowait``: iowait fraction per core;
        ``disks``: device -> (read B/s, write B/s, busy fraction); ``nics``: name -> (rx B/s,
        tx B/s); ``swap``: (in B/s, out B/s); ``threads``: (pid, tid) -> share of a core;
        ``process_io``: pid -> (read B/s, write B/s) to storage.
        """
        self.now += seconds
        for index, core in enumerate(self.cpu):
            busy = cores[index] if cores else 0.0
            waiting = iowait[index] if iowait else 0.0
            core["user"] += busy * seconds * 0.7
            core["system"] += busy * seconds * 0.3
            core["iowait"] += waiting * seconds
            core["idle"] += max(0.0, 1.0 - busy - waiting) * seconds
        for name, (read, write, busy) in (disks or {}).items():
            counters = self.disks[name]
            counters[2] += int(read * seconds)
            counters[3] += int(write * seconds)
            counters[4] += int(busy * seconds * 1000)
        for name, (rx, tx) in (nics or {}).items():
            self.nic_bytes[name][0] += int(rx * seconds)
            self.nic_bytes[name][1] += int(tx * seconds)
        self.swap[0] += int(swap[0] * seconds)
        self.swap[1] += int(swap[1] * seconds)
        for (pid, tid), share in (threads or {}).items():
            process = self.processes[pid]
            process.threads_[tid] = process.threads_.get(tid, 0.0) + share * seconds
        for pid, (read, write) in (process_io or {}).items():
            process = self.processes[pid]
            assert process.io is not None
            process.io = (process.io[0] + int(read * seconds), process.io[1] + int(write * seconds))
        if available_memory is not None:
            self.memory[1] = available_memory

    # -- the psutil functions the sampler calls -------------------------------------------

    def cpu_times(self, percpu: bool = False) -> list[CpuTimes]:
        assert percpu
        self.reads.append("cpu_times")
        return [CpuTimes(**core) for core in self.cpu]

    def swap_memory(self) -> Swap:
        return Swap(0, 0, 0, 0.0, *self.swap)

    def virtual_memory(self) -> Memory:
        total, available = self.memory
        return Memory(total, available, 0.0, total - available, available)

    def disk_io_counters(self, perdisk: bool = False) -> dict[str, Any]:
        assert perdisk
        if self.busy_time:
            return {name: DiskIo(*c) for name, c in self.disks.items()}
        short = namedtuple("short", "read_count write_count read_bytes write_bytes")
        return {name: short(*c[:4]) for name, c in self.disks.items()}

    def disk_partitions(self, all: bool = False) -> list[Partition]:
        return list(self.partitions)

    def net_io_counters(self, pernic: bool = False) -> dict[str, NetIo]:
        assert pernic
        return {name: NetIo(tx, rx, 0, 0) for name, (rx, tx) in self.nic_bytes.items()}

    def net_if_stats(self) -> dict[str, NicStats]:
        return {
            name: NicStats("up" in flags.split(","), 0, speed, 1500, flags)
            for name, (speed, flags) in self.nic_info.items()
        }

    def Process(self, pid: int) -> FakeProcess:
        process = self.processes.get(pid)
        if process is None or process.gone:
            raise real_psutil.NoSuchProcess(pid)
        return process
