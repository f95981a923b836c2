"""Disk probe: free space, filesystem and honest sequential speed where AI work writes.

The directories that matter are the Hugging Face model cache, the working directory, the
pip cache and Docker's data root (or exactly the ``--path`` directories).  Each
filesystem among them gets one short write-then-read test of 1 MiB blocks of random data
in that directory, never in /tmp: with O_DIRECT where the filesystem allows it, else
buffered writes with fsync inside the timed window and the page cache dropped
(``posix_fadvise(DONTNEED)``) before reading back.  Numbers only RAM could produce
(tmpfs, or faster than any device) are reported but not graded as a disk speed.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import mmap
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envdoctor.configfiles import env_path, expanduser, expandvars
from envdoctor.context import Context
from envdoctor.mounts import Mount, find_mount, read_mounts
from envdoctor.requirements import CheckOptions, Requirements, Threshold
from envdoctor.results import CheckResult, Status
from envdoctor.units import GiB, MiB, format_bytes, format_rate

NAME = "disk"
TITLE = "Disk space and speed"
DEFAULT_TIMEOUT = 15.0

BUDGET_S = 2.0
"""Seconds of throughput testing shared by all filesystems."""
MIN_SLICE_S = 0.4
"""Fewest seconds one filesystem gets, however many there are: shorter windows are noise."""
BLOCK_BYTES = MiB
SIZE_CAP_BYTES = GiB
"""Most bytes written per filesystem: enough for a steady rate, little wear."""

_RANDOM_BLOCKS = 4
_MIN_TEST_BYTES = 8 * MiB
# PCIe 5.0 x4 NVMe drives top out near 14 GB/s; anything faster came from RAM.
_FASTEST_DEVICE_BYTES_PER_S = 16 * GiB
_MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
_UNWRITABLE = {
    errno.EACCES: "no permission to write here",
    errno.EPERM: "no permission to write here",
    errno.EROFS: "read-only filesystem",
    errno.ENOSPC: "no space left",
    errno.EDQUOT: "disk quota exceeded",
}
TEMP_PREFIX = ".envdoctor-disktest-"

METHOD_DIRECT = "O_DIRECT"
METHOD_BUFFERED = "fsync+fadvise"

# The engine runs probes in daemon threads, which die at interpreter exit without running
# their ``finally`` blocks; this set lets an atexit handler remove what they left.
_LIVE_FILES: set[str] = set()
_LIVE_LOCK = threading.Lock()


def _remove_live_files() -> None:
    with _LIVE_LOCK:
        paths = list(_LIVE_FILES)
        _LIVE_FILES.clear()
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)  # noqa: PTH108 - str paths straight from the registry


atexit.register(_remove_live_files)


@contextlib.contextmanager
def _temp_file(path: Path) -> Iterator[Path]:
    """Registers ``path`` for removal at exit and removes it when the block ends."""
    name = str(path)
    with _LIVE_LOCK:
        _LIVE_FILES.add(name)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with _LIVE_LOCK:
            _LIVE_FILES.discard(name)


# --------------------------------------------------------------------------- throughput


@dataclass(frozen=True)
class Throughput:
    """One filesystem's sequential write and read speed, or why it was not measured."""

    method: str | None = None
    """``O_DIRECT`` or ``fsync+fadvise``; None when nothing was written."""
    write_bytes_per_s: float | None = None
    read_bytes_per_s: float | None = None
    bytes_written: int = 0
    bytes_read: int = 0
    write_s: float = 0.0
    read_s: float = 0.0
    skipped: str | None = None
    """Why there are no numbers: an expected condition such as a read-only filesystem."""
    failed: str | None = None
    """An unexpected I/O error met during the test."""
    interrupted: bool = False


def measure_throughput(
    directory: Path,
    budget_s: float,
    cancel: threading.Event | None = None,
    *,
    size_cap: int = SIZE_CAP_BYTES,
) -> Throughput:
    """Write then read back a temporary file of random 1 MiB blocks in ``directory``.

    About half of ``budget_s`` goes to writing (until the time is up or ``size_cap``
    bytes are written), the rest to reading the same bytes back.  The file is named
    ``.envdoctor-disktest-<pid>-<random>`` and removed on every exit path.  A directory
    that cannot be written returns a result with ``skipped`` set, not an exception.
    """
    cancel = cancel or threading.Event()
    try:
        stats = os.statvfs(directory)
    except OSError as error:
        return Throughput(skipped=f"cannot inspect the directory: {error.strerror}")
    free = stats.f_bavail * stats.f_frsize
    # Never take more than a quarter of what is left: the test must not fill a disk.
    limit = min(size_cap, free // 4) // BLOCK_BYTES * BLOCK_BYTES
    if limit < _MIN_TEST_BYTES:
        return Throughput(skipped=f"only {format_bytes(free)} free")
    path = directory / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    blocks = [_random_block() for _ in range(_RANDOM_BLOCKS)]
    try:
        with _temp_file(path):
            return _write_then_read(path, blocks, budget_s, cancel, limit)
    except OSError as error:
        reason = _UNWRITABLE.get(error.errno or 0)
        if reason is not None:
            return Throughput(skipped=reason)
        return Throughput(failed=f"I/O error during the speed test: {error.strerror or error}")
    finally:
        for block in blocks:
            block.close()


def _random_block() -> mmap.mmap:
    # Anonymous mmaps are page aligned, which O_DIRECT requires of user buffers.
    block = mmap.mmap(-1, BLOCK_BYTES)
    block.write(os.urandom(BLOCK_BYTES))
    return block


def _write_then_read(
    path: Path, blocks: Sequence[mmap.mmap], budget_s: float, cancel: threading.Event, limit: int
) -> Throughput:
    write = _write(path, blocks, budget_s / 2, cancel, limit)
    if write.interrupted or write.bytes == 0:
        return Throughput(
            method=write.method,
            bytes_written=write.bytes,
            write_s=write.seconds,
            interrupted=write.interrupted,
            skipped="interrupted" if write.interrupted else "nothing could be written",
        )
    read_budget = max(budget_s / 2, budget_s - write.seconds)
    read = _read(
        path,
        blocks[0],
        direct=write.method == METHOD_DIRECT,
        budget_s=read_budget,
        cancel=cancel,
        limit=write.bytes,
    )
    return Throughput(
        method=write.method,
        write_bytes_per_s=write.bytes / write.seconds if write.seconds > 0 else None,
        read_bytes_per_s=read.bytes / read.seconds if read.bytes and read.seconds > 0 else None,
        bytes_written=write.bytes,
        bytes_read=read.bytes,
        write_s=write.seconds,
        read_s=read.seconds,
        interrupted=read.interrupted,
    )


@dataclass(frozen=True)
class _Phase:
    bytes: int
    seconds: float
    method: str | None = None
    interrupted: bool = False


def _open_for_write(path: Path, *, direct: bool) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    return os.open(path, flags | os.O_DIRECT if direct else flags, 0o600)


def _write(
    path: Path, blocks: Sequence[mmap.mmap], budget_s: float, cancel: threading.Event, limit: int
) -> _Phase:
    try:
        fd = _open_for_write(path, direct=True)
        direct = True
    except OSError as error:
        # Filesystems without O_DIRECT refuse it at open with EINVAL (some create the
        # file first, hence O_TRUNC rather than O_EXCL on both opens).
        if error.errno != errno.EINVAL:
            raise
        fd = _open_for_write(path, direct=False)
        direct = False
    try:
        written = 0
        dirty = 0
        sync_every = 8 * MiB
        last_sync = start = time.perf_counter()
        deadline = start + budget_s
        interrupted = False
        while written < limit:
            if cancel.is_set():
                interrupted = True
                break
            try:
                count = os.write(fd, blocks[(written // BLOCK_BYTES) % len(blocks)])
            except OSError as error:
                # Some filesystems accept O_DIRECT at open and refuse the first write.
                if not (direct and written == 0 and error.errno == errno.EINVAL):
                    raise
                buffered = _open_for_write(path, direct=False)
                os.close(fd)
                fd, direct = buffered, False
                last_sync = start = time.perf_counter()
                deadline = start + budget_s
                continue
            written += count
            if count < BLOCK_BYTES:  # a short write means the filesystem is full
                break
            if not direct:
                dirty += count
                if dirty >= sync_every:
                    # Syncing as we go keeps the clock honest: the time is spent on the
                    # device, not deferred past the deadline into one long final fsync.
                    os.fdatasync(fd)
                    now = time.perf_counter()
                    if now - last_sync < budget_s / 20:
                        sync_every = min(sync_every * 2, 256 * MiB)
                    last_sync = now
                    dirty = 0
            if time.perf_counter() >= deadline:
                break
        os.fsync(fd)  # inside the window: data still in a cache is not written
        seconds = time.perf_counter() - start
        # Clean pages after fsync can be dropped, so the read below hits the device.
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    method = METHOD_DIRECT if direct else METHOD_BUFFERED
    return _Phase(written, seconds, method, interrupted)


def _read(
    path: Path,
    buffer: mmap.mmap,
    *,
    direct: bool,
    budget_s: float,
    cancel: threading.Event,
    limit: int,
) -> _Phase:
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_DIRECT if direct else 0)
    fd = os.open(path, flags)
    try:
        if not direct:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        total = 0
        interrupted = False
        start = time.perf_counter()
        deadline = start + budget_s
        while total < limit:
            if cancel.is_set():
                interrupted = True
                break
            count = os.readv(fd, [buffer])
            if count == 0:
                break
            total += count
            if time.perf_counter() >= deadline:
                break
        seconds = time.perf_counter() - start
    finally:
        os.close(fd)
    return _Phase(total, seconds, interrupted=interrupted)


# --------------------------------------------------------------------------- locations


def _mounts(ctx: Context) -> list[Mount]:
    return read_mounts(ctx)


def hf_hub_cache(ctx: Context) -> Path:
    """Where huggingface_hub stores models, following its ``constants.py``.

    ``HF_HUB_CACHE``, else the legacy ``HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``,
    where ``HF_HOME`` defaults to ``$XDG_CACHE_HOME/huggingface`` (``~/.cache/huggingface``).
    """
    from envdoctor.tools import hf

    return hf.hub_cache(ctx)


def pip_cache(ctx: Context) -> Path:
    """pip's cache: ``PIP_CACHE_DIR``, else ``$XDG_CACHE_HOME/pip``."""
    if value := ctx.env.get("PIP_CACHE_DIR"):
        return env_path(ctx, expandvars(expanduser(ctx, value), ctx.env))
    return ctx.xdg_cache_home / "pip"


def docker_data_root(ctx: Context) -> Path | None:
    """Docker's ``data-root`` from daemon.json, else /var/lib/docker; None if absent."""
    root = ctx.path("/var/lib/docker")
    try:
        config = json.loads(ctx.path("/etc/docker/daemon.json").read_text())
    except (OSError, ValueError):
        config = None
    if isinstance(config, dict):
        # "graph" is the name data-root had before Docker 17.05.
        configured = config.get("data-root") or config.get("graph")
        if isinstance(configured, str) and configured.startswith("/"):
            root = ctx.path(configured)
    return root if root.is_dir() else None


ROLE_MODEL_CACHE = "model cache"
ROLE_WORKDIR = "working directory"
ROLE_PIP = "pip cache"
ROLE_DOCKER = "docker data root"
ROLE_REQUESTED = "requested"
_GRADED_ROLES = frozenset({ROLE_MODEL_CACHE, ROLE_REQUESTED})


def directories(ctx: Context, options: CheckOptions) -> list[tuple[str, Path]]:
    """(role, directory) pairs to check: ``--path`` values, else the defaults."""
    if options.paths:
        candidates = [(ROLE_REQUESTED, ctx.user_path(value)) for value in options.paths]
    else:
        candidates = [
            (ROLE_MODEL_CACHE, hf_hub_cache(ctx)),
            (ROLE_WORKDIR, ctx.cwd),
            (ROLE_PIP, pip_cache(ctx)),
        ]
        docker = docker_data_root(ctx)
        if docker is not None:
            candidates.append((ROLE_DOCKER, docker))
    seen: set[str] = set()
    unique = []
    for role, path in candidates:
        key = os.path.normpath(path)
        if key not in seen:
            seen.add(key)
            unique.append((role, Path(key)))
    return unique


@dataclass(frozen=True)
class _Location:
    role: str
    path: Path
    measured: Path
    exists: bool
    device: int | None
    mount: Mount | None
    free: int | None
    total: int | None


def _nearest_directory(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.isdir(candidate):  # noqa: PTH112 - unlike Path.is_dir, never raises
            return candidate
    return Path("/")


def _device(path: Path) -> int | None:
    try:
        return path.stat().st_dev
    except OSError:
        return None


def _locate(role: str, path: Path, mounts: Sequence[Mount]) -> _Location:
    measured = _nearest_directory(path)
    exists = measured == path
    device = _device(measured)
    try:
        usage = shutil.disk_usage(measured)
        free: int | None = usage.free
        total: int | None = usage.total
    except OSError:
        free = total = None
    mount = find_mount(mounts, os.path.realpath(measured))
    return _Location(role, path, measured, exists, device, mount, free, total)


# --------------------------------------------------------------------------- the probe


@dataclass(frozen=True)
class _Measurement:
    throughput: Throughput
    where: _Location | None
    """The location whose directory held the test file."""


def run(ctx: Context, options: CheckOptions) -> list[CheckResult]:
    """One result per directory: space, filesystem and (once per filesystem) speed."""
    return check(ctx, options)


def check(
    ctx: Context,
    options: CheckOptions,
    *,
    budget_s: float | None = None,
    min_slice_s: float | None = None,
) -> list[CheckResult]:
    """:func:`run` with an adjustable time budget (tests use small ones)."""
    budget_s = BUDGET_S if budget_s is None else budget_s
    min_slice_s = MIN_SLICE_S if min_slice_s is None else min_slice_s
    mounts = _mounts(ctx)
    locations = [_locate(role, path, mounts) for role, path in directories(ctx, options)]
    groups: dict[int, list[_Location]] = {}
    for location in locations:
        # Locations whose device is unknown are tested on their own.
        device = location.device if location.device is not None else -1 - len(groups)
        groups.setdefault(device, []).append(location)
    slice_s = max(min_slice_s, budget_s / max(len(groups), 1))
    measurements = {
        key: _measure_group(group, slice_s, ctx.cancel) for key, group in groups.items()
    }
    # No per-result durations: the engine stamps every result with the probe's run time.
    return [
        _result(ctx, options.requirements, location, measurements[key])
        for key, group in groups.items()
        for location in group
    ]


def _measure_group(
    group: Sequence[_Location], slice_s: float, cancel: threading.Event
) -> _Measurement:
    outcome = Throughput(skipped="not tested")
    for location in group:
        if cancel.is_set():
            return _Measurement(Throughput(skipped="interrupted", interrupted=True), None)
        outcome = measure_throughput(location.measured, slice_s, cancel)
        # Another directory on the same filesystem may be writable where this one is not.
        if outcome.skipped is None or outcome.interrupted:
            return _Measurement(outcome, location)
    return _Measurement(outcome, None)


def _display(ctx: Context, path: Path) -> str:
    """``~/...`` for paths under home, for readable names and summaries."""
    try:
        relative = path.relative_to(ctx.home)
    except ValueError:
        return str(path)
    return "~" if str(relative) == "." else f"~/{relative}"


def _result(
    ctx: Context, requirements: Requirements, location: _Location, measurement: _Measurement
) -> CheckResult:
    throughput = measurement.throughput
    filesystem = location.mount.filesystem if location.mount else None
    memory_backed = filesystem in _MEMORY_FILESYSTEMS
    fastest = max(throughput.write_bytes_per_s or 0.0, throughput.read_bytes_per_s or 0.0)
    cache_only = memory_backed or fastest > _FASTEST_DEVICE_BYTES_PER_S
    graded = location.role in _GRADED_ROLES

    statuses: list[Status] = []
    problems: list[str] = []
    parts: list[str] = []
    if not location.exists:
        parts.append(f"not created yet, measured at {_display(ctx, location.measured)}")

    if location.free is None or location.total is None:
        parts.append("free space unknown")
        statuses.append(Status.WARN)
    else:
        space = f"{format_bytes(location.free)} free of {format_bytes(location.total)}"
        status, note = _grade(requirements.disk, location.free, graded, format_bytes)
        statuses.append(status)
        if note:
            space += f" ({note})"
            problems.append("space")
        parts.append(space)
    parts.append(filesystem or "unknown filesystem")

    shared = measurement.where is not None and measurement.where.path != location.path
    speed_note: str | None = None
    if throughput.write_bytes_per_s is not None or throughput.read_bytes_per_s is not None:
        speeds = []
        for label, rate, threshold in (
            ("write", throughput.write_bytes_per_s, requirements.disk_write),
            ("read", throughput.read_bytes_per_s, requirements.disk_read),
        ):
            if rate is None:
                speeds.append(f"{label} unknown")
                continue
            text = f"{label} {format_rate(rate)}"
            if not cache_only:
                status, note = _grade(threshold, rate, graded, format_rate)
                statuses.append(status)
                if note:
                    text += f" ({note})"
                    problems.append("speed")
            speeds.append(text)
        how = throughput.method or "unknown method"
        if shared and measurement.where is not None:
            how += f", same filesystem as {_display(ctx, measurement.where.path)}"
        parts.append(f"{', '.join(speeds)} ({how})")
        if throughput.interrupted:
            speed_note = "interrupted early; numbers are from a shorter run"
            parts.append(speed_note)
    else:
        reason = throughput.failed or throughput.skipped or "not tested"
        speed_note = f"speed not tested: {reason}"
        if throughput.failed:
            statuses.append(Status.WARN)
        parts.append(speed_note)
    if cache_only:
        if memory_backed:
            speed_note = (
                f"memory-backed {filesystem}: speeds reflect RAM; contents vanish at reboot"
            )
            if graded:
                statuses.append(Status.WARN)
                problems.append("memory")
        else:
            speed_note = "faster than any disk: served from memory/cache, not graded"
        parts.append(speed_note)

    details: dict[str, Any] = {
        "path": str(location.path),
        "role": location.role,
        "exists": location.exists,
        "measured_path": str(location.measured),
        "filesystem": filesystem,
        "mount_point": location.mount.mount_point if location.mount else None,
        "device": location.device,
        "free_bytes": location.free,
        "total_bytes": location.total,
        "write_bytes_per_s": throughput.write_bytes_per_s,
        "read_bytes_per_s": throughput.read_bytes_per_s,
        "method": throughput.method,
        "cache_only": cache_only,
        "bytes_tested": throughput.bytes_written,
        "tested_in": str(measurement.where.measured) if measurement.where else None,
        "speed_note": speed_note,
    }
    return CheckResult(
        probe=NAME,
        name=f"disk {_display(ctx, location.path)}",
        status=Status.worst(statuses),
        summary=" · ".join(parts),
        details=details,
        remedy=_remedy(location, problems),
    )


def _grade(
    threshold: Threshold, value: float, graded: bool, show: Callable[[float | None], str]
) -> tuple[Status, str | None]:
    """Graded roles get the full scale; the others only warn below the minimum."""
    if value < threshold.minimum:
        status = Status.FAIL if graded else Status.WARN
        return status, f"below the {show(threshold.minimum)} minimum"
    if graded and value < threshold.recommended:
        return Status.WARN, f"under the recommended {show(threshold.recommended)}"
    return Status.OK, None


_SPACE_REMEDIES: Mapping[str, str] = {
    ROLE_MODEL_CACHE: "Free space on {mount}, or point the cache at a larger disk: "
    "export HF_HUB_CACHE=/path/on/larger/disk",
    ROLE_REQUESTED: "Free space on {mount}, or use a directory on a larger disk.",
    ROLE_WORKDIR: "Free space on {mount}.",
    ROLE_PIP: "Free space with `pip cache purge`, or set PIP_CACHE_DIR to a larger disk.",
    ROLE_DOCKER: "Free space with `docker system prune`, or move Docker's data-root "
    "(/etc/docker/daemon.json) to a larger disk.",
}


def _remedy(location: _Location, problems: Sequence[str]) -> str | None:
    mount = location.mount.mount_point if location.mount else str(location.measured)
    if "space" in problems:
        return _SPACE_REMEDIES[location.role].format(mount=mount)
    if "memory" in problems:
        if location.role == ROLE_MODEL_CACHE:
            return "Put the model cache on a disk: export HF_HUB_CACHE=/path/on/disk/hub"
        return "Use a directory on a disk-backed filesystem, not tmpfs."
    if "speed" in problems:
        if location.role == ROLE_MODEL_CACHE:
            return (
                "Keep models on a local SSD: export HF_HUB_CACHE=/path/on/ssd/hub "
                "(network shares and spinning disks make loading slow)."
            )
        return "Use a directory on a local SSD for model files."
    return None
