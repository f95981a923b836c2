"""Connect the way dual-stack clients do (RFC 8305, "Happy Eyeballs v2").

Every address ``getaddrinfo`` returned is tried, families interleaved (the first family
first, then the other, and so on), each attempt with its own connect budget; the next
attempt starts when the previous one fails or after :data:`ATTEMPT_DELAY_S` without an
answer, and the first connection to complete wins.  A family that failed (or had not
connected when the other won) is reported, so that "IPv6 to this host is broken" is a
finding of its own rather than a dead mirror: curl, Go (dockerd) and Python 3.12's
asyncio race the families like this, while ``socket.create_connection`` (pip's urllib3)
tries them one after the other, each for the whole timeout.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

ATTEMPT_DELAY_S = 0.25
"""RFC 8305's recommended "Connection Attempt Delay"."""

AddrInfo = tuple[Any, Any, int, str, tuple[Any, ...]]


@dataclass(frozen=True)
class AttemptFailure:
    """One address that did not connect."""

    address: str
    family: str
    """``IPv4`` or ``IPv6``."""
    error: OSError | None
    """The error, or None when another address won while this one was still waiting."""


class ConnectFailed(Exception):
    """No address connected: ``last`` is the last attempt's error."""

    def __init__(self, last: OSError, failures: list[AttemptFailure]) -> None:
        super().__init__(str(last))
        self.last = last
        self.failures = failures


def family_name(family: int) -> str:
    return "IPv6" if family == socket.AF_INET6 else "IPv4"


def shown_address(address: tuple[Any, ...]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def interleave(infos: Sequence[AddrInfo]) -> list[AddrInfo]:
    """RFC 8305 section 4: alternate the families, starting with the first one listed."""
    if not infos:
        return []
    first = infos[0][0]
    same = [info for info in infos if info[0] == first]
    other = [info for info in infos if info[0] != first]
    ordered: list[AddrInfo] = []
    for index in range(max(len(same), len(other))):
        ordered.extend(group[index] for group in (same, other) if index < len(group))
    return ordered


def race(
    infos: Sequence[AddrInfo],
    *,
    attempt_timeout: Callable[[], float],
    check: Callable[[], None],
    delay_s: float = ATTEMPT_DELAY_S,
) -> tuple[socket.socket, str, list[AttemptFailure]]:
    """Connect to the first address of ``infos`` that answers, racing as RFC 8305 says.

    ``attempt_timeout()`` gives the budget of an attempt starting now (the session's
    connect budget: the timeout, cut by the run's deadline; it raises when none is
    left); ``check()`` is called between waits and raises to stop (cancel, deadline).
    Returns the connected (blocking) socket, its address, and the addresses that did
    not connect.  Raises :class:`ConnectFailed` with the last attempt's ``OSError``
    (``TimeoutError`` when it timed out) when none connects.
    """
    pending = list(interleave(infos))
    failures: list[AttemptFailure] = []
    # socket -> (address, family, expiry)
    running: dict[socket.socket, tuple[str, int, float]] = {}
    last_error: OSError | None = None
    next_start = time.monotonic()
    with selectors.DefaultSelector() as selector:
        try:
            while pending or running:
                check()
                now = time.monotonic()
                if pending and (not running or now >= next_start):
                    family, socktype, proto, _name, address = pending.pop(0)
                    budget = attempt_timeout()
                    sock = socket.socket(family, socktype or socket.SOCK_STREAM, proto)
                    sock.setblocking(False)
                    code = sock.connect_ex(address)
                    shown = shown_address(address)
                    if code not in (0, errno.EINPROGRESS, errno.EAGAIN):
                        sock.close()
                        last_error = OSError(code, _strerror(code))
                        failures.append(AttemptFailure(shown, family_name(family), last_error))
                        continue  # a failure starts the next attempt at once
                    running[sock] = (shown, family, now + budget)
                    selector.register(sock, selectors.EVENT_WRITE)
                    next_start = now + delay_s
                    if code == 0:
                        return _won(sock, running, selector, failures)
                now = time.monotonic()
                wake = min(expiry for _, _, expiry in running.values())
                if pending:
                    wake = min(wake, next_start)
                for key, _ in selector.select(timeout=max(0.0, min(wake - now, 0.05))):
                    ready = key.fileobj
                    assert isinstance(ready, socket.socket)
                    code = ready.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code == 0:
                        return _won(ready, running, selector, failures)
                    shown, family, _ = running.pop(ready)
                    selector.unregister(ready)
                    ready.close()
                    last_error = OSError(code, _strerror(code))
                    failures.append(AttemptFailure(shown, family_name(family), last_error))
                    next_start = time.monotonic()  # start the next one now
                now = time.monotonic()
                for sock, (shown, family, expiry) in list(running.items()):
                    if now >= expiry:
                        running.pop(sock)
                        selector.unregister(sock)
                        sock.close()
                        last_error = TimeoutError(errno.ETIMEDOUT, "timed out")
                        failures.append(AttemptFailure(shown, family_name(family), last_error))
        except BaseException:
            for sock in running:
                sock.close()
            raise
    assert last_error is not None
    raise ConnectFailed(last_error, failures)


def _won(
    sock: socket.socket,
    running: dict[socket.socket, tuple[str, int, float]],
    selector: selectors.BaseSelector,
    failures: list[AttemptFailure],
) -> tuple[socket.socket, str, list[AttemptFailure]]:
    shown, _family, _ = running.pop(sock)
    selector.unregister(sock)
    for other, (other_shown, other_family, _) in running.items():
        selector.unregister(other)
        other.close()
        failures.append(AttemptFailure(other_shown, family_name(other_family), None))
    running.clear()
    sock.setblocking(True)
    return sock, shown, failures


def _strerror(code: int) -> str:
    try:
        return os.strerror(code)
    except ValueError:
        return f"error {code}"


def fallback_words(failures: Sequence[AttemptFailure], won_family: str) -> str | None:
    """One line on the other family when it did not connect and ``won_family`` did
    (``IPv6 [::1]:443: connection refused``), else None."""
    other = [failure for failure in failures if failure.family != won_family]
    if not other:
        return None
    failure = other[0]
    if failure.error is None:
        why = f"no connection within {ATTEMPT_DELAY_S * 1000:.0f} ms"
    elif isinstance(failure.error, TimeoutError):
        why = "connect timed out"
    else:
        why = (failure.error.strerror or str(failure.error)).lower()
    return f"{failure.family} {failure.address}: {why}"
