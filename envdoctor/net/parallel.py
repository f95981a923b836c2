"""Range support and parallel connections on one large file: does a mirror limit each
connection, or its link (or itself) as a whole?

A client that splits one file into byte ranges (hf_xet, ``aria2c -x N -s N``) or that
downloads many files at once (uv, dockerd's layers) gains only from a server that limits
each connection's rate.  :func:`check_range` asks the file's final host for
``Range: bytes=0-0``; :func:`time_connections` downloads ``n`` disjoint ranges of the
file at once, each over its own connection (its own :class:`Session`), and measures the
aggregate rate over the window they all share: the clock starts once every connection
has its headers (or the wait for them is over), so the connection set-up and the bytes
that came before are not counted.  :func:`verdict` puts 1 connection beside ``n`` in
words.

Run one mirror at a time (the caller's job): parallel downloads of two mirrors compete
for the same link.  Every read is bounded by the sessions' timeout and the run's
deadline; at the end of the window the main thread shuts the sockets, so a stalled
connection does not keep the run waiting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from envdoctor.net.body import BODY_BUFFER_BYTES
from envdoctor.net.pull import LargeFile
from envdoctor.net.results import Measurement, Outcome, ProbeFailure, content_range, count_of
from envdoctor.net.session import PullPath, Session, via
from envdoctor.units import MiB, format_rate

CONNECTIONS = (4, 8)
"""Parallel connection counts timed after the single connection."""

GAIN = 1.5
"""``n`` connections must give at least this many times one connection's rate for the
mirror to count as per-connection limited: less is within what a short window and a
loaded machine can move."""

MIN_RANGE_BYTES = 256 * 1024
"""A range smaller than this per connection is too small to time."""

MIN_PARALLEL_WINDOW_S = 0.1
"""A parallel window shorter than this is not worth starting."""


@dataclass(frozen=True)
class RangeCheck:
    """The answer to ``Range: bytes=0-0``."""

    supported: bool | None
    """206 with a valid ``Content-Range``: True; the whole file or an invalid 206: False;
    no usable answer: None (unknown)."""
    size: int | None
    """The file's size: the total of ``Content-Range`` (or the 200's
    ``Content-Length``), None when the server does not say."""
    reason: str


@dataclass(frozen=True)
class ConnectionsRate:
    """``connections`` parallel ranges of one file: their aggregate rate, or why not."""

    connections: int
    bytes_per_s: float | None
    reason: str


def check_range(
    url: str,
    session: Session,
    headers: Sequence[tuple[str, str]] = (),
    authorization: str | None = None,
) -> RangeCheck:
    """GET ``url`` (redirects followed, so the final host answers) with
    ``Range: bytes=0-0``; never raises for network problems."""
    asked = [(name, value) for name, value in headers if name.lower() != "range"]
    try:
        hop, _, _, proxy = session.follow(
            url, headers=(*asked, ("Range", "bytes=0-0")), authorization=authorization
        )
    except ProbeFailure as failure:
        return RangeCheck(None, None, f"the Range check failed: {failure.reason}")
    head = hop.head
    hop.sock.close()
    if head.status == 206:
        parsed = content_range(head.headers.get("Content-Range", ""))
        # byte 0 of a file of 0 bytes (total not past the range) is no valid range
        if parsed is None or parsed[:2] != (0, 0) or parsed[2] == 0:
            shown = head.headers.get("Content-Range") or "none"
            return RangeCheck(False, None, f"HTTP 206 with a bad Content-Range ({shown})")
        size = parsed[2]
        return RangeCheck(True, size, f"Range: bytes=0-0 answered with 206{via(proxy)}")
    if 200 <= head.status < 300:
        length = head.headers.get("Content-Length", "")
        size = count_of(length)
        reason = f"Range ignored: HTTP {head.status} with the whole file{via(proxy)}"
        return RangeCheck(False, size, reason)
    return RangeCheck(None, None, f"the Range check got HTTP {head.status} {head.reason}".rstrip())


@dataclass
class _Connection:
    first: int
    last: int
    count: int = 0
    ready: bool = False
    done: bool = False
    error: str | None = None
    sock: socket.socket | None = None


JOIN_S = 1.0
"""After a parallel window, the readers together get this long to end (one budget for
all of them, not one each): a reader still waiting for its answer is told to stop and
left behind (a daemon thread, bounded by its session's timeout)."""


@dataclass
class _Run:
    connections: list[_Connection]
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)
    stopped: bool = False
    stop_event: threading.Event = field(default_factory=threading.Event)
    """Set by :meth:`stop`; among every reader's session's stops, so a reader still in its
    request (connect, TLS, headers, a redirect) gives up at its next step."""

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def stop(self) -> None:
        """Wake every reader: shut its socket (a later one is shut when it registers)."""
        self.stop_event.set()
        with self.lock:
            self.stopped = True
            sockets = [c.sock for c in self.connections if c.sock is not None]
        for sock in sockets:
            shut(sock)


def shut(sock: socket.socket) -> None:
    """Wake a thread reading ``sock`` from another thread: shut the connection down at
    the TCP level.  Not ``SSLSocket.shutdown``, which also drops the socket's TLS object
    while the reader may be between ``ssl.py``'s check of it and its use: the reader
    would get a ``ValueError`` or ``AttributeError`` (an exception its ``except OSError``
    does not catch) instead of the end of the stream.  Never closed here: the reader
    closes its own socket (OpenSSL reads the descriptor by number)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def time_connections(
    url: str,
    connections: int,
    size: int,
    window: float,
    make_session: Callable[[], Session],
    headers: Sequence[tuple[str, str]] = (),
    authorization: str | None = None,
    cancel: threading.Event | None = None,
) -> ConnectionsRate:
    """Download ``connections`` disjoint ranges of ``url`` (``size`` bytes) at once and
    return their aggregate rate over ``window`` seconds of common reading.

    Each connection gets its own session from ``make_session`` (its deadline bounds the
    whole call).  The window starts when every connection has its headers, or when the
    first session's timeout has passed since they started (a connection that never
    answers then counts for nothing), and ends after ``window`` seconds or at the
    deadline; the rate is the bytes read in that window over its length.
    """
    step = size // connections
    parts = [
        _Connection(index * step, size - 1 if index == connections - 1 else (index + 1) * step - 1)
        for index in range(connections)
    ]
    run = _Run(parts)
    sessions = [
        dataclasses.replace(session, stops=(*session.stops, run.stop_event))
        for session in (make_session() for _ in parts)
    ]
    asked = [(name, value) for name, value in headers if name.lower() != "range"]
    threads = [
        threading.Thread(
            target=_read_range,
            args=(run, part, session, url, asked, authorization),
            name=f"envdoctor-range-{index}",
            daemon=True,
        )
        for index, (part, session) in enumerate(zip(parts, sessions, strict=True))
    ]
    deadline = sessions[0].deadline
    heads_until = time.monotonic() + sessions[0].timeout
    if deadline is not None:
        heads_until = min(heads_until, deadline - MIN_PARALLEL_WINDOW_S)
    for thread in threads:
        thread.start()
    try:
        with run.changed:
            while not all(part.ready or part.error or part.done for part in parts):
                left = heads_until - time.monotonic()
                if left <= 0 or (cancel is not None and cancel.is_set()):
                    break
                run.changed.wait(min(left, 0.05))
        started = time.perf_counter()
        before = sum(part.count for part in parts)
        reading = sum(1 for part in parts if part.ready)
        ends = time.monotonic() + window
        if deadline is not None:
            ends = min(ends, deadline)
        if reading == 0:
            errors = [part.error for part in parts if part.error]
            why = errors[0] if errors else "no connection answered in time"
            return ConnectionsRate(connections, None, why)
        while (left := ends - time.monotonic()) > 0:
            if cancel is not None and cancel.wait(min(left, 0.05)):
                return ConnectionsRate(connections, None, "cancelled")
            if cancel is None:
                time.sleep(left)
        after = sum(part.count for part in parts)
        duration = time.perf_counter() - started
    finally:
        run.stop()
        joined_by = time.monotonic() + JOIN_S
        for thread in threads:
            thread.join(timeout=max(0.0, joined_by - time.monotonic()))
    errors = [part.error for part in parts if part.error]
    if errors and reading < connections:
        return ConnectionsRate(connections, None, f"{connections} connections: {errors[0]}")
    if duration < MIN_PARALLEL_WINDOW_S / 2 or after <= before:
        return ConnectionsRate(connections, None, f"no bytes within {duration:.2f} s")
    if after - before < MIN_RANGE_BYTES:
        return ConnectionsRate(
            connections, None, f"too few bytes to time ({after - before} in {duration:.2f} s)"
        )
    rate = (after - before) / duration
    finished = sum(1 for part in parts if part.done)
    note = f", {finished} ranges ended early" if finished else ""
    reason = f"{connections} connections: {after - before} bytes in {duration:.2f} s{note}"
    return ConnectionsRate(connections, rate, reason)


def _read_range(
    run: _Run,
    part: _Connection,
    session: Session,
    url: str,
    headers: Sequence[tuple[str, str]],
    authorization: str | None,
) -> None:
    wanted = f"bytes={part.first}-{part.last}"
    try:
        hop, _, _, _ = session.follow(
            url, headers=(*headers, ("Range", wanted)), authorization=authorization
        )
    except ProbeFailure as failure:  # after stop: told to stop (cancelled), not an error
        _finish(run, part, error=None if run.stopped else failure.reason)
        return
    sock = hop.sock
    try:
        with run.lock:
            if run.stopped:
                return
            part.sock = sock
        head = hop.head
        answered = head.headers.get("Content-Range", "").strip()
        parsed = content_range(answered)
        if head.status != 206 or parsed is None or parsed[0] != part.first:
            got = f"HTTP {head.status}" + (f" ({answered})" if parsed else "")
            _finish(run, part, error=f"{wanted} not answered with its range: {got}")
            return
        part.count = len(head.leftover)
        _finish(run, part, ready=True)
        view = memoryview(bytearray(BODY_BUFFER_BYTES))
        while not run.stopped:
            try:
                sock.settimeout(session.budget("body"))
                got_bytes = sock.recv_into(view)
            except ProbeFailure as failure:
                if failure.outcome is not Outcome.TIMEOUT and not run.stopped:
                    part.error = failure.reason
                return  # the deadline, or told to stop: what was read counts
            except OSError as exc:
                if not run.stopped:
                    part.error = session.classify(exc, "body", "").reason
                return
            if not got_bytes:
                part.done = not run.stopped
                return
            part.count += got_bytes
    finally:
        sock.close()


def _finish(run: _Run, part: _Connection, *, ready: bool = False, error: str | None = None) -> None:
    with run.changed:
        part.ready = part.ready or ready
        part.error = error or part.error
        run.changed.notify_all()


def verdict(
    single: float | None, by_connections: Sequence[tuple[int, float]]
) -> tuple[str | None, bool]:
    """``(words, per-connection limited)`` for one connection's rate beside ``n``
    connections' (``(n, bytes/s)`` pairs, measured ones only)."""
    if single is None or not by_connections:
        return None, False
    best_n, best = max(by_connections, key=lambda pair: pair[1])
    most_n, most = max(by_connections, key=lambda pair: pair[0])
    if best >= GAIN * single:
        return (
            f"per-connection limited: 1 connection {_mib(single)}, "
            f"{best_n} connections {_mib(best)}",
            True,
        )
    return (
        "more connections do not help (link or server limit): "
        f"1 connection {_mib(single)}, {most_n} connections {_mib(most)}",
        False,
    )


def too_small(size: int | None, connections: int) -> str | None:
    """Why a file of ``size`` bytes cannot be split ``connections`` ways, or None."""
    if size is None:
        return "the server does not say the file's size: parallel connections not tested"
    if size // connections < MIN_RANGE_BYTES:
        return f"too small to test parallel connections ({size / MiB:.3g} MiB)"
    return None


def _mib(rate: float) -> str:
    return format_rate(rate)


NO_RANGE = "no Range support: each file over one connection"
NOT_TESTED = "parallel connections not tested"
"""The verdicts of a mirror whose file cannot be asked in ranges, and the start of one
whose connections were not timed (the reason follows)."""


def add_parallel(
    measured: Measurement,
    path: PullPath,
    url: str,
    large: LargeFile | None,
    ends: float,
    make_session: Callable[[float], Session],
    window: float,
    cancel: threading.Event | None = None,
) -> Measurement:
    """``measured`` (one connection already timed on ``url``) with the file's Range
    support, 4 and 8 connections' rates and the verdict, all done by ``ends`` (a
    ``time.monotonic()`` value); each window at most ``window`` seconds.
    ``make_session(ends)`` gives a fresh session bounded by ``ends``."""
    single = measured.throughput_bytes_per_s
    if single is None:
        return dataclasses.replace(
            measured,
            parallel_verdict="parallel connections not tested: one connection was not timed",
        )
    if ends - time.monotonic() < 2 * MIN_PARALLEL_WINDOW_S:
        return dataclasses.replace(
            measured, parallel_verdict="parallel connections not tested: no time left"
        )
    headers = large.headers if large is not None else ()
    authorization = large.authorization if large is not None else None
    if measured.range_support is not None:  # asked after the downloads together
        checked = RangeCheck(measured.range_support, measured.pull_size, "")
    else:
        checked = check_range(url, make_session(ends), headers, authorization)
    result = dataclasses.replace(measured, range_support=checked.supported, pull_size=checked.size)
    if checked.supported is False:
        return dataclasses.replace(result, parallel_verdict=NO_RANGE)
    if checked.supported is None or checked.size is None:
        why = checked.reason if checked.supported is None else "the server does not say its size"
        return dataclasses.replace(result, parallel_verdict=f"{NOT_TESTED}: {why}")
    size = checked.size
    rates: list[tuple[int, float]] = []
    why = ""
    for position, count in enumerate(CONNECTIONS):
        # Each range must outlast the window even at one connection's full rate.
        lasts = size / count / single * 0.8
        if size // count < MIN_RANGE_BYTES or lasts < MIN_PARALLEL_WINDOW_S:
            why = f"too small to test parallel connections ({size / MiB:.3g} MiB)"
            break
        left = (ends - time.monotonic()) * 0.8 / (len(CONNECTIONS) - position)
        span = min(window, left, lasts)
        if span < MIN_PARALLEL_WINDOW_S:
            why = f"no time left for {count} connections"
            if not rates:
                why = f"parallel connections not tested: {why}"
            break
        timed = time_connections(
            url, count, size, span, lambda: make_session(ends), headers, authorization, cancel
        )
        if timed.bytes_per_s is None:
            why = f"parallel connections not measured: {timed.reason}"
            break
        rates.append((count, timed.bytes_per_s))
    words, limited = verdict(single, rates)
    return dataclasses.replace(
        result,
        throughput_by_connections=((1, single), *rates),
        # words from 1 and 4 connections, and why 8 were not timed: never dropped
        parallel_verdict=f"{words} ({why})" if words and why else words or why,
        parallel_remedy=path.parallel_advice if limited else None,
    )
