"""The download phase of a run: how fast each healthy mirror's file comes, and whether
more connections would help, all within what is left of the run's deadline.

Downloads one mirror at a time make a run's wall time grow with the number of mirrors;
all at once, they may compete for the user's link, and each then gets a share of it
rather than its own speed.  :func:`add_throughput` does both, where each is true:

1. **Together.** Every healthy mirror's file over one connection, all at once, one
   thread each, each stopped once its rate is steady; then, where the client can use
   ranges, each file asked for ``Range: bytes=0-0``, all at once.
2. **Alone.** The best mirror of each kind with a parallel-connections knob (when no
   kind has one, the best mirror of the run) is timed again, by itself, and so is one
   typical of the rest (:func:`typical`).  A mirror's rate alone beside its rate
   together says whether the downloads competed: :data:`CONTENDED` times faster alone,
   and the link (or this machine) was the limit, so the rates taken together are shares
   of it.  The best alone is not enough to tell: on a full link the shares are rarely
   fair, and the best is the one that took the largest.  A run with one download skips
   this: step 1 was alone.
3. **Again alone, when they competed.** The next best mirrors of each kind, each kind
   in turn, until :data:`ALONE_PER_KIND` of a kind have been timed alone.  Every figure
   still from step 1 is then a lower bound (``throughput_lower_bound``) and says so;
   the ranking keeps it, priced at that bound.
4. **Parallel connections.** The best mirror of each kind with a knob, among those timed
   alone: Range support, then 4 and 8 connections beside its one connection alone
   (:func:`~envdoctor.net.parallel.add_parallel`), one mirror at a time, so that mirrors
   do not compete.

Every window is a share of what is left when it starts, so the run ends by its deadline
whatever the number of mirrors; a request that stalls is cut at that deadline.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from envdoctor.net.body import BODY_BUFFER_BYTES
from envdoctor.net.parallel import (
    CONNECTIONS,
    NO_RANGE,
    NOT_TESTED,
    RangeCheck,
    add_parallel,
    check_range,
)
from envdoctor.net.pull import LargeFile
from envdoctor.net.ranking import rank_key
from envdoctor.net.results import Measurement, Outcome, ProbeFailure, Throughput
from envdoctor.net.session import PullPath, Resolver, Session, via
from envdoctor.redact import mask_url
from envdoctor.units import MiB, format_rate

T = TypeVar("T")

MIN_TIMED_BYTES = 256 * 1024
MIN_TIMED_S = 0.05
"""A whole body smaller than this, or read faster than this, is "too small to time": a
42 KiB page read in under a millisecond says nothing about the link and must not move
the ranking.  A read cut short by its time window or byte cap always counts."""

MIN_WINDOW_S = 0.1
"""A download window shorter than this is not worth starting."""

CONTENDED = 1.5
"""A mirror timed alone this many times faster than together with the others: the
downloads competed (for the user's link, or for this machine), and what each got
together was its share, not its speed."""

ALONE_PER_KIND = 3
"""When the downloads competed, at most this many mirrors of each kind are timed alone
(the best first): the ones the user would choose between."""

REQUEST_ALLOWANCE_S = 0.5
"""Time a download may take before its window starts (connect, TLS, the answer's head),
at least: three times the mirror's own measured request time when that is longer, or
the share of the time left that the windows leave for requests (a long ``--timeout``
waits longer for a file whose head comes late: a proxy fetching it on a cache miss, a
redirect to a far CDN)."""

JOIN_S = 0.2
"""After the last window of the downloads run together, how long their threads get to
report before the ones still running are left behind (they stop at their deadline)."""

TOGETHER_MIN_BUFFER_BYTES = 64 * 1024
ALONE_BUFFER_BYTES = BODY_BUFFER_BYTES
"""The read buffers: the whole one for a download alone; together, that split between
them, but not below 64 KiB each."""


def time_download(
    url: str,
    session: Session,
    seconds: float,
    max_bytes: int,
    large: LargeFile | None = None,
    steady: bool = False,
    buffer_bytes: int | None = None,
) -> Throughput:
    """Download ``url`` with ``session`` (as ``large`` says to ask for it) and time its
    body from the end of the headers: for ``seconds``, ``max_bytes`` or to its end, or
    with ``steady`` until its rate is steady.  Only a 2xx answer is timed; never raises
    for network problems."""
    shown = mask_url(url)
    try:
        if large is not None:
            hop, _, _, proxy = session.follow(
                url, headers=large.headers, authorization=large.authorization
            )
        else:
            hop, _, _, proxy = session.follow(url)
    except ProbeFailure as failure:
        return Throughput(shown, failure.outcome, failure.reason, status_code=failure.status_code)
    head = hop.head
    try:
        if not 200 <= head.status < 300:
            reason = f"HTTP {head.status} {head.reason}".rstrip() + via(proxy)
            return Throughput(shown, Outcome.HTTP_ERROR, reason, status_code=head.status)
        count, last, complete, settled = session.time_body(
            hop.sock, head.done_at, seconds, max_bytes, steady, buffer_bytes
        )
    except ProbeFailure as failure:
        return Throughput(shown, failure.outcome, failure.reason, status_code=head.status)
    finally:
        hop.sock.close()
    duration = last - head.done_at
    capped = count >= max_bytes
    if count == 0 or duration <= 0:
        if complete:
            reason, outcome = "the whole body came with the headers: too small to time", Outcome.OK
        else:
            reason, outcome = f"no body bytes within {seconds:.2f} s", Outcome.TIMEOUT
        return Throughput(shown, outcome, reason, count, duration, None, head.status, complete)
    if complete and count >= MIN_TIMED_BYTES and duration < MIN_TIMED_S:
        # Too fast to time, but not small: it moved at least its size in MIN_TIMED_S (a
        # LAN mirror's 4 MiB in 8 ms), a floor that ranks it, not "unknown".
        floor = count / MIN_TIMED_S
        reason = (
            f"the whole body ({_size(count)}) came in under {MIN_TIMED_S * 1000:.0f} ms: "
            f"at least {format_rate(floor)}{via(proxy)}"
        )
        return Throughput(
            shown, Outcome.OK, reason, count, duration, floor, head.status, True, lower_bound=True
        )
    if complete and (count < MIN_TIMED_BYTES or duration < MIN_TIMED_S):
        reason = (
            f"too small to time: the whole body ({_size(count)}) came in "
            f"{duration * 1000:.1f} ms{via(proxy)}"
        )
        return Throughput(shown, Outcome.OK, reason, count, duration, None, head.status, True)
    if capped:
        note = f"stopped at the {_size(max_bytes)} cap: first"
    else:
        note = "whole body" if complete else "first"
    settled_note = ", then stopped: the rate was steady" if settled else ""
    return Throughput(
        shown,
        Outcome.OK,
        f"{note} {count} bytes in {duration:.2f} s{settled_note}{via(proxy)}",
        count,
        duration,
        count / duration,
        head.status,
        complete,
        capped,
    )


def _size(count: int) -> str:
    if count >= MiB:
        return f"{count / MiB:.3g} MiB"
    return f"{count / 1024:.3g} KiB"


def by_kind_in_turn(order: Sequence[int], mirrors: Sequence[PullPath]) -> list[int]:
    """``order`` (best first) taken one client kind at a time: the best pip mirror, the
    best conda mirror, ..., then each kind's second best, and so on, so that a run over
    every target that runs short of time does not spend it all on one kind."""
    queues: dict[str, list[int]] = {}
    for index in order:
        queues.setdefault(mirrors[index].kind, []).append(index)
    turns: list[int] = []
    while any(queues.values()):
        for queue in queues.values():
            if queue:
                turns.append(queue.pop(0))
    return turns


@dataclass
class _Phase:
    """One run's download phase: what it downloads, how, and what it found so far."""

    results: list[Measurement]
    mirrors: Sequence[PullPath]
    urls: Sequence[str | None]
    large_files: Sequence[LargeFile | None]
    env: Mapping[str, str]
    timeout: float
    resolver: Resolver
    deadline: float
    seconds: float
    max_bytes: int
    cancel: threading.Event | None
    tried_alone: set[int] = field(default_factory=set)
    """The mirrors already downloaded alone, whatever came of it."""
    room: float = 0.0
    """What the last :meth:`window` left each window for its request."""

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def session(self, index: int, ends: float) -> Session:
        stops = (self.cancel,) if self.cancel else ()
        path = self.mirrors[index]
        return Session(
            path.kind, self.timeout, self.env, self.resolver, ends, stops,
            proxy_rules=path.proxy_rules,
        )  # fmt: skip

    def ends(self, index: int, window: float) -> float:
        """When a download of ``index`` starting now with ``window`` must be done: its
        window and room for its request, never past the deadline."""
        measured = self.results[index]
        phases = (measured.dns_s, measured.connect_s, measured.tls_s, measured.ttfb_s)
        request = sum(value or 0.0 for value in phases) + (measured.redirect_s or 0.0)
        allowance = max(REQUEST_ALLOWANCE_S, 3 * request, self.room)
        return min(self.deadline, time.monotonic() + window + allowance)

    def window(self, units: int) -> float:
        """One window of ``units`` still to come: its share of what is left, leaving a
        fifth for the requests (:attr:`room`), at most ``seconds``; 0 when the deadline
        has passed."""
        share = max(0.0, self.deadline - time.monotonic()) / max(1, units)
        self.room = share * 0.2
        return min(self.seconds, share * 0.8)

    def download(self, index: int, window: float, buffer_bytes: int) -> Throughput:
        url = self.urls[index] or ""
        started = time.monotonic()
        ends = self.ends(index, window)
        try:
            measured = time_download(
                url,
                self.session(index, ends),
                window,
                self.max_bytes,
                self.large_files[index],
                steady=True,  # the time saved goes to the downloads after it
                buffer_bytes=buffer_bytes,
            )
        except Exception as exc:  # noqa: BLE001 - a bug must not hang the run: report it
            return Throughput(mask_url(url), Outcome.ERROR, f"internal error: {exc!r}")
        cut = measured.outcome is Outcome.TIMEOUT and "deadline reached" in measured.reason
        if cut and ends < self.deadline:
            # its own end, not the run's deadline: say which, and how long it had
            words = measured.reason.replace("deadline reached", "its time ran out", 1)
            allowed = f"{ends - started:.1f} s: the window and room for the request"
            measured = dataclasses.replace(measured, reason=f"{words} ({allowed})")
        return measured

    def check_ranges(self, indices: Sequence[int]) -> None:
        """Ask the file of each of ``indices`` for ``Range: bytes=0-0`` (one byte, asked
        as the client asks the file), all at once, each within room for one request, and
        keep the answers: after the downloads, so that none competes with them."""
        ends = {index: self.ends(index, 0.0) for index in indices}

        def ask(index: int) -> RangeCheck:
            large = self.large_files[index]
            headers, authorization = (large.headers, large.authorization) if large else ((), None)
            session = self.session(index, ends[index])
            return check_range(self.urls[index] or "", session, headers, authorization)

        answers = self.at_once("range-check", indices, ask, max(ends.values(), default=0.0))
        for index, checked in answers.items():
            self.results[index] = dataclasses.replace(
                self.results[index], range_support=checked.supported, pull_size=checked.size
            )

    def together(self, indices: Sequence[int], window: float) -> dict[int, Throughput]:
        """Download every mirror of ``indices`` at once, each for ``window``; those not
        done by their deadline (and :data:`JOIN_S`) are missing from the answer."""
        if len(indices) == 1:  # alone: no thread to wait for
            return {indices[0]: self.download(indices[0], window, ALONE_BUFFER_BYTES)}
        buffer = max(TOGETHER_MIN_BUFFER_BYTES, ALONE_BUFFER_BYTES // len(indices))
        last = max(self.ends(index, window) for index in indices)
        return self.at_once(
            "download", indices, lambda index: self.download(index, window, buffer), last
        )

    def at_once(
        self, what: str, indices: Sequence[int], work: Callable[[int], T], last: float
    ) -> dict[int, T]:
        """``work(index)`` for every one of ``indices``, one thread each, all at once;
        the answers in by ``last`` (and :data:`JOIN_S`), or by Ctrl-C.  A thread still
        running then is left behind: its own session ends it by its deadline."""
        done: dict[int, T] = {}
        changed = threading.Condition()

        def run(index: int) -> None:
            answer = work(index)
            with changed:
                done[index] = answer
                changed.notify_all()

        for index in indices:
            name = f"envdoctor-{what}-{index}"
            threading.Thread(target=run, args=(index,), name=name, daemon=True).start()
        with changed:
            while len(done) < len(indices) and not self.cancelled():
                left = last + JOIN_S - time.monotonic()
                if left <= 0:
                    break
                changed.wait(min(left, 0.05))
            return dict(done)

    def record(self, index: int, measured: Throughput | None, at_once: int) -> None:
        """``index``'s figure from ``measured`` (None: not done in time), taken with
        ``at_once`` downloads running."""
        result = self.results[index]
        if measured is None:
            reason = "cancelled" if self.cancelled() else "not measured: not done by the deadline"
            self.results[index] = dataclasses.replace(result, throughput_reason=reason)
            return
        reason = measured.reason
        if measured.bytes_per_s is None:
            reason = f"not measured: {reason}"
        elif at_once > 1:
            others = at_once - 1
            reason += f", alongside {others} other download{'s' if others > 1 else ''}"
        self.results[index] = dataclasses.replace(
            result,
            throughput_bytes_per_s=measured.bytes_per_s,
            throughput_reason=reason,
            throughput_at_once=at_once if measured.bytes_per_s is not None else None,
            throughput_lower_bound=measured.lower_bound,
        )

    def note(self, index: int, reason: str) -> None:
        self.results[index] = dataclasses.replace(self.results[index], throughput_reason=reason)

    def ranked(self, indices: Sequence[int]) -> list[int]:
        key = rank_key(self.results)
        return sorted(indices, key=lambda index: key(self.results[index]))

    def best_of(self, indices: Sequence[int], kind: str) -> int | None:
        """The best mirror of ``kind`` among ``indices``, by the figures so far."""
        ranked = self.ranked([index for index in indices if self.mirrors[index].kind == kind])
        return ranked[0] if ranked else None

    def best_alone(self, indices: Sequence[int], kind: str) -> int | None:
        """The best mirror of ``kind`` among ``indices`` whose figure was taken alone."""
        alone = [index for index in indices if self.results[index].throughput_at_once == 1]
        return self.best_of(alone, kind)


def add_throughput(
    results: Sequence[Measurement],
    mirrors: Sequence[PullPath],
    *,
    env: Mapping[str, str],
    timeout: float,
    deadline: float,
    seconds: float,
    max_bytes: int,
    resolver: Resolver,
    cancel: threading.Event | None,
    large_files: Sequence[LargeFile | None],
) -> list[Measurement]:
    """``results`` with the throughput of every healthy mirror that has a file to time,
    the steps in the module's docstring, all by ``deadline`` (a ``time.monotonic()``
    value).  ``large_files`` are the files the pull steps found (None: the mirror's own
    ``throughput_url``); each window is at most ``seconds`` and ``max_bytes``."""
    phase = _Phase(
        list(results), mirrors,
        [large.url if large is not None else path.throughput_url
         for large, path in zip(large_files, mirrors, strict=True)],
        large_files, env, timeout, resolver, deadline, seconds, max_bytes, cancel,
    )  # fmt: skip
    key = rank_key(results)
    order = by_kind_in_turn(sorted(range(len(results)), key=lambda i: key(results[i])), mirrors)
    timed = []
    for index in order:
        if not results[index].healthy:
            continue
        if phase.urls[index] is None:
            kind = mirrors[index].kind
            phase.note(index, f"no anonymous download to time on a {kind} mirror")
        elif phase.cancelled():
            phase.note(index, "cancelled")
        else:
            timed.append(index)
    if not timed:
        return phase.results
    knob_kinds = list(dict.fromkeys(mirrors[i].kind for i in timed if mirrors[i].parallel_advice))
    alone_units = 0 if len(timed) == 1 else max(1, len(knob_kinds)) + 1  # and a typical one
    window = phase.window(1 + alone_units + len(CONNECTIONS) * len(knob_kinds))
    if window < MIN_WINDOW_S:  # no room for the later steps: the figures together first
        window = phase.window(1)
    if window < MIN_WINDOW_S:
        for index in timed:
            phase.note(index, "not measured: no time left before the deadline")
        return phase.results
    together = phase.together(timed, window)
    running = len(ran_together(timed, together))
    for index in timed:
        phase.record(index, together.get(index), running)
    if len(timed) > 1:  # alone, step 4 asks (its mirror is the best of its kind)
        rated = [index for index in timed if phase.results[index].throughput_bytes_per_s]
        phase.check_ranges([index for index in rated if mirrors[index].parallel_advice])
        contention = _time_alone(phase, timed, knob_kinds, together)
        if contention is not None:
            _mark_shares(phase, timed, contention)
    _add_parallel(phase, timed, knob_kinds)
    return phase.results


def ran_together(timed: Sequence[int], together: Mapping[int, Throughput]) -> list[int]:
    """The downloads of ``timed`` that ran while they were together: those whose file
    was answered with a 2xx, and those still running at the end.  One refused (a 404, a
    429) or never answered moved no bytes beside the others."""
    return [
        index
        for index in timed
        if index not in together
        or together[index].bytes_read > 0
        or 200 <= (together[index].status_code or 0) < 300
    ]


def _time_alone(
    phase: _Phase, timed: Sequence[int], knob_kinds: Sequence[str], together: dict[int, Throughput]
) -> str | None:
    """Steps 2 and 3: the best of each kind with a knob (or of the run) and a typical
    one timed alone, and when that shows the downloads competed, the next best of each
    kind too.  Returns the words that say they competed, or None."""
    parallel_units = len(CONNECTIONS) * len(knob_kinds)
    with_rate = [i for i in timed if phase.results[i].throughput_bytes_per_s is not None]
    best = [phase.best_of(with_rate, kind) for kind in knob_kinds]
    first = [index for index in best if index is not None] or phase.ranked(with_rate)[:1]
    middle = typical([index for index in with_rate if index not in first], together)
    contention: str | None = None
    for position, index in enumerate(first):
        units = len(first) - position + (middle is not None) + parallel_units
        contention = _alone(phase, index, together, units) or contention
    if contention is None and middle is not None:  # else step 3 times it if it matters
        contention = _alone(phase, middle, together, 1 + parallel_units)
    if contention is None:
        return None
    # Step 3: the next best of each kind, each kind in turn, until ALONE_PER_KIND of it.
    counts: dict[str, int] = {}
    for index in timed:
        if phase.results[index].throughput_at_once == 1:
            kind = phase.mirrors[index].kind
            counts[kind] = counts.get(kind, 0) + 1
    queue = []
    for index in by_kind_in_turn(phase.ranked(timed), phase.mirrors):
        kind = phase.mirrors[index].kind
        if index in phase.tried_alone or counts.get(kind, 0) >= ALONE_PER_KIND:
            continue
        counts[kind] = counts.get(kind, 0) + 1
        queue.append(index)
    for position, index in enumerate(queue):
        _alone(phase, index, together, len(queue) - position + parallel_units)
    return contention


def _alone(phase: _Phase, index: int, together: dict[int, Throughput], units: int) -> str | None:
    """Time ``index`` alone, in a window that leaves room for ``units`` - 1 more after
    it, and keep its figure; when it ran :data:`CONTENDED` times faster than together,
    the words that say the downloads competed.  A download alone that fails keeps the
    figure it got together; one whose whole file came too fast to time replaces it (a
    file that small says nothing of the link, alone or together)."""
    if phase.cancelled():
        return None
    window = phase.window(units)
    if window < MIN_WINDOW_S:
        return None
    phase.tried_alone.add(index)
    alone = phase.download(index, window, ALONE_BUFFER_BYTES)
    if alone.bytes_per_s is not None or alone.outcome is Outcome.OK:  # timed, or too small
        phase.record(index, alone, 1)
    if alone.bytes_per_s is None:
        return None
    before = together.get(index)
    if (
        before is None
        or not before.bytes_per_s
        or alone.bytes_per_s < CONTENDED * before.bytes_per_s
    ):
        return None
    host = phase.results[index].final_host or mask_url(phase.urls[index] or "")
    factor = alone.bytes_per_s / before.bytes_per_s
    return (
        f"the downloads competed for the link: alone, {host} ran {factor:.1f}x faster than together"
    )


def typical(indices: Sequence[int], together: Mapping[int, Throughput]) -> int | None:
    """Of ``indices``, the one whose rate together is the median (the lower one of an
    even count): timed alone, it shows what the downloads together did to most mirrors.
    None when there is none with a rate."""
    rated = [index for index in indices if together.get(index) and together[index].bytes_per_s]
    rated.sort(key=lambda index: together[index].bytes_per_s or 0.0)
    return rated[(len(rated) - 1) // 2] if rated else None


def _mark_shares(phase: _Phase, timed: Sequence[int], contention: str) -> None:
    """Every figure still taken together is a lower bound of the mirror's speed."""
    for index in timed:
        result = phase.results[index]
        if result.throughput_at_once is None or result.throughput_at_once == 1:
            continue
        phase.results[index] = dataclasses.replace(
            result,
            throughput_lower_bound=True,
            throughput_reason=f"{result.throughput_reason}; {contention}: at least this",
        )


def _add_parallel(phase: _Phase, timed: Sequence[int], knob_kinds: Sequence[str]) -> None:
    """Step 4: Range and 4 and 8 connections on the best mirror of each kind with a knob
    among those timed alone; the others of that kind say why they have no verdict."""
    chosen = [phase.best_alone(timed, kind) for kind in knob_kinds]
    parallel = [index for index in chosen if index is not None]
    for index in timed:
        path = phase.mirrors[index]
        if path.parallel_advice is None or index in parallel:
            continue
        measured = phase.results[index]
        if measured.range_support is False:  # asked after the downloads together
            words = NO_RANGE
        elif measured.throughput_bytes_per_s is None:
            words = f"{NOT_TESTED}: one connection was not timed"
        elif phase.best_alone(timed, path.kind) is None:
            words = f"{NOT_TESTED}: no {path.kind} mirror was timed alone"
        else:
            words = f"{NOT_TESTED}: only on the best {path.kind} mirror of the run"
        phase.results[index] = dataclasses.replace(measured, parallel_verdict=words)
    for position, index in enumerate(parallel):
        if phase.cancelled():
            break
        slot = (phase.deadline - time.monotonic()) / (len(parallel) - position)
        phase.results[index] = add_parallel(
            phase.results[index],
            phase.mirrors[index],
            phase.urls[index] or "",
            phase.large_files[index],
            min(phase.deadline, time.monotonic() + slot),
            functools.partial(phase.session, index),
            min(phase.seconds, slot * 0.8 / len(CONNECTIONS)),
            phase.cancel,
        )
