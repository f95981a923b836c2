"""Reading a timed body: the thread's read buffer, and when a download's rate is steady
enough to stop early."""

from __future__ import annotations

import threading
from collections.abc import Sequence

BODY_BUFFER_BYTES = 1024 * 1024
"""A body reader's buffer: large enough that a 1 Gbit/s link is not under-reported by
the reader's own cost per ``recv_into``."""


STEADY_MIN_S = 0.25
"""A download stopped for a steady rate has run at least this long: on a real link that
is a few round trips, past most of TCP's slow start (whose doubling halves never agree)."""

STEADY_MIN_BYTES = 256 * 1024
"""Nor before this many bytes: the "too small to time" bound of a throughput figure."""

STEADY_STEP_S = 0.05
STEADY_TOLERANCE = 0.1


def steady_rate(marks: Sequence[tuple[float, int]]) -> bool:
    """``marks`` are ``(time, bytes so far)`` from the start of the body: is the rate over
    the second half of the time within :data:`STEADY_TOLERANCE` of the first half's?"""
    start_at, _ = marks[0]
    end_at, end_count = marks[-1]
    if end_at - start_at < STEADY_MIN_S or end_count < STEADY_MIN_BYTES:
        return False
    middle = start_at + (end_at - start_at) / 2
    mid_at, mid_count = min(marks, key=lambda mark: abs(mark[0] - middle))
    if not start_at < mid_at < end_at:
        return False
    first = mid_count / (mid_at - start_at)
    second = (end_count - mid_count) / (end_at - mid_at)
    return first > 0 and abs(second - first) <= STEADY_TOLERANCE * max(first, second)


_BUFFERS = threading.local()


def read_buffer(size: int = BODY_BUFFER_BYTES) -> bytearray:
    """This thread's body buffer, made ``size`` bytes long on the thread's first download
    (downloads run one at a time per thread).  Many downloads at once, one thread each,
    ask for less: each gets a share of the link, and a 1 MiB buffer per thread would
    cost a run of 100 mirrors 100 MiB."""
    buffer: bytearray | None = getattr(_BUFFERS, "buffer", None)
    if buffer is None:
        buffer = bytearray(size)
        _BUFFERS.buffer = buffer
    return buffer
