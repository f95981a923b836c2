"""The mount table, read once the same way by every check that needs it.

``/proc/self/mountinfo`` (``proc(5)``): a later mount on the same point is on top, paths
escape space, tab, newline and backslash as ``\\ooo``.  Without it (old kernels, some
sandboxes) the fstab-style ``/proc/mounts``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from envdoctor.context import Context

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    """One mounted filesystem."""

    mount_point: str
    filesystem: str
    options: tuple[str, ...] = field(default=(), compare=False)
    """The per-mount options (``ro``, ``nosuid`` ...); two mounts compare by place and type."""


def unescape(field: str) -> str:
    """A mountinfo path field with its ``\\ooo`` escapes decoded."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts from ``/proc/<pid>/mountinfo`` text, in file order (later mounts on top)."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        separator = fields.index("-")
        if separator < 6 or separator + 1 >= len(fields):
            continue
        options = tuple(fields[5].split(","))
        mounts.append(Mount(unescape(fields[4]), fields[separator + 1], options))
    return mounts


def read_mounts(ctx: Context) -> list[Mount]:
    """This machine's (or image's) mounts through ``ctx``; empty when unreadable."""
    with contextlib.suppress(OSError):
        return parse_mountinfo(ctx.path("/proc/self/mountinfo").read_text(errors="replace"))
    try:
        text = ctx.path("/proc/mounts").read_text(errors="replace")
    except OSError:
        return []
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            options = tuple(fields[3].split(",")) if len(fields) > 3 else ()
            mounts.append(Mount(unescape(fields[1]), fields[2], options))
    return mounts


def find_mount(mounts: Sequence[Mount], path: str) -> Mount | None:
    """The mount holding ``path`` (a resolved path): the longest matching mount point,
    the later one where two share a point."""
    best: Mount | None = None
    for mount in mounts:
        point = mount.mount_point.rstrip("/")
        if (path == point or path.startswith(point + "/") or mount.mount_point == "/") and (
            best is None or len(point) >= len(best.mount_point.rstrip("/"))
        ):
            best = mount
    return best
