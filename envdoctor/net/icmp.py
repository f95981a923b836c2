"""The optional ICMP echo: who may send it, and one round trip."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from envdoctor.net.session import words

if TYPE_CHECKING:
    from envdoctor.context import Context

_CAP_NET_RAW = 13


def icmp_permission(
    ctx: Context,
    *,
    egid: int | None = None,
    groups: Sequence[int] | None = None,
) -> str:
    """How this process may send ICMP echo: ``icmp-raw``, ``icmp-dgram`` or ``not permitted``.

    Raw sockets need CAP_NET_RAW (read from ``/proc/self/status``; root usually has it,
    a container's root may not).  Unprivileged ICMP datagram sockets need the effective
    gid or a supplementary group inside ``net.ipv4.ping_group_range`` (the kernel checks
    both).  Files are read through ``ctx``; ids default to this process's.
    """
    if _has_cap_net_raw(ctx):
        return "icmp-raw"
    try:
        text = ctx.path("/proc/sys/net/ipv4/ping_group_range").read_text()
        low, high = (int(word) for word in text.split()[:2])
    except (OSError, ValueError):
        return "not permitted"
    ids = [os.getegid() if egid is None else egid]
    ids.extend(os.getgroups() if groups is None else groups)
    return "icmp-dgram" if any(low <= gid <= high for gid in ids) else "not permitted"


def _has_cap_net_raw(ctx: Context) -> bool:
    try:
        text = ctx.path("/proc/self/status").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            try:
                return bool(int(line.split()[1], 16) >> _CAP_NET_RAW & 1)
            except (IndexError, ValueError):
                return False
    return False


def icmp_rtt(
    host: str,
    ctx: Context,
    *,
    timeout: float = 1.0,
    egid: int | None = None,
    groups: Sequence[int] | None = None,
) -> tuple[float | None, str]:
    """One ICMP echo to ``host``: ``(seconds, method)``, or ``(None, "<method>: why")``.

    Never required: many CDNs drop ICMP, and most users may not send it.  ``method`` is
    ``icmp-raw``, ``icmp-dgram`` or ``not permitted`` (see :func:`icmp_permission`).
    """
    method = icmp_permission(ctx, egid=egid, groups=groups)
    if method == "not permitted":
        return None, "not permitted: needs CAP_NET_RAW or a group in net.ipv4.ping_group_range"
    import ping3

    try:
        delay = ping3.ping(host, timeout=timeout, unit="s")
    except OSError as exc:
        return None, f"{method}: {words(exc)}"
    except Exception as exc:  # noqa: BLE001 - ping3.errors.PingError when ping3.EXCEPTIONS is set
        return None, f"{method}: {exc}"
    if delay is None:
        return None, f"{method}: no reply within {timeout:g} s"
    if delay is False:  # ping3 folds an unknown host and a refused send into False
        return None, f"{method}: {_why_not_sent(host)}"
    return float(delay), method


def _why_not_sent(host: str) -> str:
    """What made ping3 give up without a reply: the name, or the send itself."""
    import socket

    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return f"{host} does not resolve"
    return (
        f"{host} resolves, but the echo request could not be sent "
        "(no permission for ICMP sockets here, or no route to it)"
    )
