"""Kernel network settings that decide download speed: congestion control, qdisc, buffers.

Everything is read through the :class:`Context` (``/proc/sys``, the sysctl.d directories,
``/lib/modules``) and compared with what the boot configuration will set, so a value set
by hand that the next boot undoes is reported.  Thresholds:

* BBR is the goal (``net.ipv4.tcp_congestion_control = bbr``); another algorithm while BBR
  is available or loadable is a warning with the apply command as remedy.
* TCP autotuning maximum (the third field of ``tcp_rmem``/``tcp_wmem``) under
  :data:`MIN_TCP_BUFFER_BYTES` (4 MiB) is a warning: a 100 ms path at 1 Gbit/s needs a
  12.5 MB window.  ``net.core.rmem_max``/``wmem_max`` are reported but not graded: they
  only cap buffers that programs set themselves with ``SO_RCVBUF``/``SO_SNDBUF``
  (Documentation/networking/ip-sysctl.rst: tcp_rmem "does not override
  net.core.rmem_max"), and every stock kernel ships 208 KiB there.
* A key whose boot value (the file that wins in sysctl.d order) differs from the running
  value is a warning: the next reboot changes it.

Inside a container ``/proc/sys`` is read-only and ``net.core.default_qdisc`` belongs to the
host's network namespace: the values are reported and the host is named as the place to
change them, without a warning.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envdoctor.context import Context
from envdoctor.facts import detect_container
from envdoctor.requirements import CheckOptions
from envdoctor.results import CheckResult, Status
from envdoctor.tools import sysctl
from envdoctor.units import MiB, format_bytes

NAME = "kernel"
TITLE = "Kernel network"
DEFAULT_TIMEOUT = 3.0

MIN_TCP_BUFFER_BYTES = 4 * MiB
"""Below this TCP autotuning maximum, long fat links (high bandwidth x delay) are capped."""

APPLY_COMMAND = "sudo envdoctor apply --profile global --only sysctl --now"

CONGESTION = "net.ipv4.tcp_congestion_control"
AVAILABLE = "net.ipv4.tcp_available_congestion_control"
QDISC = "net.core.default_qdisc"
TCP_RMEM = "net.ipv4.tcp_rmem"
TCP_WMEM = "net.ipv4.tcp_wmem"
RMEM_MAX = "net.core.rmem_max"
WMEM_MAX = "net.core.wmem_max"
BOOT_KEYS = (CONGESTION, QDISC, TCP_RMEM, TCP_WMEM, RMEM_MAX, WMEM_MAX)
"""The keys whose boot configuration is traced."""


@dataclass(frozen=True)
class BootAssignment:
    """One line of a boot-time sysctl file setting a key (``display`` is the path as known)."""

    file: str
    line: int
    value: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "value": self.value}


def boot_files(ctx: Context) -> list[tuple[str, Path]]:
    """``(display, path)`` of every file applied at boot, in the order they are applied.

    ``*.conf`` from the sysctl.d directories sorted by name across directories (a name in
    an earlier directory hides it in later ones), then ``/etc/sysctl.conf`` last as procps
    ``sysctl --system`` does.  A file that is a link to one read later (Debian's
    ``99-sysctl.conf`` -> ``/etc/sysctl.conf``) counts only at its last position.
    """
    ordered = [*sysctl.sysctl_d_files(ctx), sysctl.SYSCTL_CONF]
    files: list[tuple[str, Path]] = []
    for display in ordered:
        path = sysctl.follow(ctx, ctx.path(display))
        if path.is_file():
            files.append((display, path))
    last: dict[Path, int] = {}
    for index, (_, path) in enumerate(files):
        last[_real(path)] = index
    return [entry for index, entry in enumerate(files) if last[_real(entry[1])] == index]


def boot_chain(ctx: Context, keys: Iterable[str]) -> dict[str, list[BootAssignment]]:
    """Every boot-time assignment of each key in application order: the last one wins."""
    wanted = list(keys)
    chain: dict[str, list[BootAssignment]] = {key: [] for key in wanted}
    for display, path in boot_files(ctx):
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        for line, pattern, value in sysctl.assignments(text):
            for key in wanted:
                if fnmatch.fnmatchcase(key, pattern):
                    chain[key].append(BootAssignment(display, line, value))
    return chain


def run(ctx: Context, options: CheckOptions) -> list[CheckResult]:
    values = {key: _read_sysctl(ctx, key) for key in (*BOOT_KEYS, AVAILABLE)}
    current = values[CONGESTION]
    listed = values[AVAILABLE]
    available = listed.split() if listed is not None else None
    bbr_loadable = sysctl.module_exists(ctx, "tcp_bbr")
    bbr_available = (available is not None and "bbr" in available) or bbr_loadable
    container = detect_container(ctx)
    writable = sysctl.proc_sys_writable(ctx)
    chain = boot_chain(ctx, BOOT_KEYS)
    boot: dict[str, Any] = {}
    drift: list[tuple[str, BootAssignment]] = []
    for key in BOOT_KEYS:
        winner = chain[key][-1] if chain[key] else None
        differs = (
            winner is not None
            and values[key] is not None
            and winner.value.split() != (values[key] or "").split()
        )
        boot[key] = {
            "chain": [a.to_json() for a in chain[key]],
            "winner": winner.to_json() if winner else None,
            "differs_from_current": differs,
        }
        if differs and winner is not None:
            drift.append((key, winner))
    rmem, wmem = _triple(values[TCP_RMEM]), _triple(values[TCP_WMEM])
    details: dict[str, Any] = {
        "congestion_control": current,
        "available_congestion_control": available,
        "bbr_available": bbr_available,
        "bbr_loadable": bbr_loadable,
        "default_qdisc": values[QDISC],
        "default_qdisc_reason": None if values[QDISC] is not None else _qdisc_reason(ctx),
        "tcp_rmem": rmem,
        "tcp_wmem": wmem,
        "tcp_rmem_max_bytes": rmem[2] if rmem else None,
        "tcp_wmem_max_bytes": wmem[2] if wmem else None,
        "rmem_max_bytes": _int(values[RMEM_MAX]),
        "wmem_max_bytes": _int(values[WMEM_MAX]),
        "min_tcp_buffer_bytes": MIN_TCP_BUFFER_BYTES,
        "container": container,
        "proc_sys_writable": writable,
        "boot": boot,
    }

    def result(status: Status, summary: str, remedy: str | None = None) -> CheckResult:
        return CheckResult(NAME, NAME, status, summary, details, remedy)

    if current is None:
        return [result(Status.SKIP, f"cannot read {_proc(CONGESTION)}: no /proc/sys here")]
    where = f"{current}, qdisc {values[QDISC] or 'unknown'}"
    if container is not None and writable is not True:
        return [
            result(
                Status.OK,
                f"{where}; inside a container ({container}) /proc/sys is read-only: "
                "set these on the host",
            )
        ]
    if current != "bbr" and bbr_available:
        return [
            result(
                Status.WARN,
                f"congestion control {current}, not bbr (available in this kernel)",
                APPLY_COMMAND,
            )
        ]
    if drift:
        key, winner = drift[0]
        return [
            result(
                Status.WARN,
                f"{key} is {' '.join((values[key] or '').split())} now but "
                f"{winner.file} line {winner.line} sets {winner.value} at next boot",
                f"edit {winner.file} line {winner.line} to keep the current value, or run "
                "`sudo sysctl --system` to use the boot values now",
            )
        ]
    small = [
        (key, triple[2])
        for key, triple in ((TCP_RMEM, rmem), (TCP_WMEM, wmem))
        if triple is not None and triple[2] < MIN_TCP_BUFFER_BYTES
    ]
    if small:
        listed = ", ".join(f"{key} max {format_bytes(size)}" for key, size in small)
        setting = " ".join(f"{key}='4096 131072 {16 * MiB}'" for key, _ in small)
        return [
            result(
                Status.WARN,
                f"{listed} < {format_bytes(MIN_TCP_BUFFER_BYTES)}: long fat links are capped",
                f"sudo sysctl -w {setting} (and put the values in /etc/sysctl.d/ to keep them)",
            )
        ]
    if current != "bbr":
        return [result(Status.OK, f"{where}; bbr is not available in this kernel")]
    return [result(Status.OK, where)]


# --- reading ---------------------------------------------------------------------------


def _proc(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def _read_sysctl(ctx: Context, key: str) -> str | None:
    try:
        text = ctx.path(_proc(key)).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return " ".join(text.split())


def _triple(value: str | None) -> list[int] | None:
    parts = (value or "").split()
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return [int(p) for p in parts]


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _qdisc_reason(ctx: Context) -> str:
    if not ctx.path("/proc/sys/net/core").is_dir():
        return "no /proc/sys/net/core here"
    return (
        f"{_proc(QDISC)} is missing: it exists only in the initial network namespace "
        "(a container or another netns); the host's value applies"
    )


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path
