"""Which block device holds a directory, named as psutil's ``disk_io_counters`` names it.

A directory's ``st_dev`` is the device number of its filesystem; ``/sys/dev/block/M:m``
links to that device's sysfs directory, whose name is the kernel's (``nvme0n1p2``, ``sda1``,
``dm-0``), the name ``/proc/diskstats`` and so psutil use.  A partition's busy time is only
its own share, so a partition is mapped to the disk it belongs to (the sysfs directory
above it), the device ``iostat -x`` shows as busy.  Filesystems with an anonymous device
number (btrfs subvolumes, overlayfs) have no sysfs link: the mount's source device from
``psutil.disk_partitions`` is tried next.  tmpfs, NFS and a container's overlay root have no
local block device at all, and say so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from envdoctor.context import Context
from envdoctor.probes import disk as disk_probe
from envdoctor.watch.model import Filesystem

_NO_BLOCK_DEVICE = {
    "tmpfs": "in memory (tmpfs)",
    "ramfs": "in memory (ramfs)",
    "overlay": "an overlay filesystem (a container's layers): its disk is the host's",
    "nfs": "a network filesystem (NFS)",
    "nfs4": "a network filesystem (NFS)",
    "cifs": "a network filesystem (SMB)",
    "fuse.sshfs": "a network filesystem (sshfs)",
    "9p": "a host share (9p)",
    "virtiofs": "a host share (virtiofs)",
}

Stat = Callable[[str], os.stat_result]


def filesystems(
    ctx: Context, partitions: Sequence[Any], *, stat: Stat = os.stat
) -> tuple[Filesystem, ...]:
    """The model cache, the Docker data root (when there is one) and the working directory,
    each with the disk under it.  ``partitions`` is ``psutil.disk_partitions(all=True)``."""
    roles = [(disk_probe.ROLE_MODEL_CACHE, disk_probe.hf_hub_cache(ctx))]
    docker = disk_probe.docker_data_root(ctx)
    if docker is not None:
        roles.append((disk_probe.ROLE_DOCKER, docker))
    roles.append((disk_probe.ROLE_WORKDIR, ctx.cwd))
    found = []
    for role, path in roles:
        device, note = block_device(ctx, _nearest_directory(path), partitions, stat=stat)
        found.append(Filesystem(role, path, ctx.display(path), device, note))
    return tuple(found)


def block_device(
    ctx: Context, path: Path, partitions: Sequence[Any], *, stat: Stat = os.stat
) -> tuple[str | None, str | None]:
    """``(disk name, None)`` for the disk holding ``path``, or ``(None, why not)``."""
    try:
        number = stat(str(path)).st_dev
    except OSError as error:
        return None, f"cannot stat {ctx.display(path)}: {error.strerror or error}"
    name = sysfs_name(ctx, os.major(number), os.minor(number))
    mount = _mount_of(ctx.system_path(path), partitions)
    if name is None and mount is not None:
        name = _source_device(ctx, str(mount.device), stat)
    if name is None:
        fstype = str(getattr(mount, "fstype", "") or "")
        source = str(getattr(mount, "device", "") or "")
        reason = _NO_BLOCK_DEVICE.get(fstype) or (
            f"no block device for {fstype} ({source})" if fstype else "no block device found"
        )
        return None, reason
    return whole_disk(ctx, name), None


def sysfs_name(ctx: Context, major: int, minor: int) -> str | None:
    """The kernel's name for block device ``major:minor``, or None when it has none."""
    link = ctx.path(f"/sys/dev/block/{major}:{minor}")
    try:
        return Path(os.path.realpath(link)).name if link.exists() else None
    except OSError:
        return None


def whole_disk(ctx: Context, name: str) -> str:
    """The disk a partition belongs to (``nvme0n1p2`` -> ``nvme0n1``); other names as given."""
    entry = ctx.path(f"/sys/class/block/{name}")
    if not (entry / "partition").exists():
        return name
    return Path(os.path.realpath(entry)).parent.name


def is_partition(ctx: Context, name: str) -> bool:
    return ctx.path(f"/sys/class/block/{name}/partition").exists()


def _source_device(ctx: Context, device: str, stat: Stat) -> str | None:
    """The kernel name behind a mount source such as ``/dev/mapper/vg-root`` or ``/dev/sda2``."""
    if not device.startswith("/dev/"):
        return None
    try:
        number = stat(device).st_rdev
    except OSError:
        return None
    return sysfs_name(ctx, os.major(number), os.minor(number)) if number else None


def _mount_of(system_path: str, partitions: Iterable[Any]) -> Any:
    """The partition entry whose mount point holds ``system_path`` most closely."""
    best: Any = None
    for partition in partitions:
        mountpoint = str(partition.mountpoint).rstrip("/") or "/"
        inside = system_path == mountpoint or system_path.startswith(mountpoint.rstrip("/") + "/")
        if inside and (best is None or len(mountpoint) >= len(str(best.mountpoint))):
            best = partition
    return best


def _nearest_directory(path: Path) -> Path:
    """The directory itself, else its nearest existing parent (a cache not created yet)."""
    for candidate in (path, *path.parents):
        if os.path.isdir(candidate):  # noqa: PTH112 - unlike Path.is_dir, never raises
            return candidate
    return Path("/")
