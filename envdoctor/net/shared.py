"""An answer every mirror's pull steps need, asked once per run: the upstream's page a
mirror is compared with (PyPI's simple page, Anaconda's repodata headers).

Mirrors are measured in one thread each; the first thread that needs ``key`` starts its
computation in a thread of its own, with its own fetch (its mirror's session: proxies,
trust store, deadline), and every mirror then waits for the value :data:`WAIT_S` at
most: an upstream that is slow or unreachable (pypi.org from behind a firewall) costs
each mirror that long, never its measurement.  A value is kept for :data:`RUN_TTL_S`,
longer than any run's deadline, so a long-lived process (``watch``, the test suite)
asks again on its next run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from envdoctor.net.results import ProbeFailure

T = TypeVar("T")

RUN_TTL_S = 60.0
WAIT_S = 2.0
"""How long a mirror's pull step waits for an upstream's answer."""


@dataclass
class _Entry(Generic[T]):
    done: threading.Event
    at: float
    value: T | None = None


_ENTRIES: dict[str, _Entry[object]] = {}
_LOCK = threading.Lock()


def once_per_run(
    key: str, compute: Callable[[], T], *, wait_s: float | None = None, ttl_s: float = RUN_TTL_S
) -> T | None:
    """``compute()``, run once for ``key`` in ``ttl_s`` seconds whoever asks, and waited
    for ``wait_s`` seconds at most (default :data:`WAIT_S`); None when it is not done by
    then, or failed with a network problem (:class:`~envdoctor.net.results.ProbeFailure`,
    kept too: an upstream that did not answer is not asked once per mirror)."""
    now = time.monotonic()
    with _LOCK:
        entry = _ENTRIES.get(key)
        first = entry is None or (entry.done.is_set() and now - entry.at > ttl_s)
        if first:
            entry = _Entry(threading.Event(), now)
            _ENTRIES[key] = entry
    assert entry is not None
    if first:
        threading.Thread(
            target=_compute, args=(entry, compute), name="envdoctor-upstream", daemon=True
        ).start()
    entry.done.wait(WAIT_S if wait_s is None else wait_s)
    return entry.value  # type: ignore[return-value]


def forget() -> None:
    """Drop every value kept: the next ask of any key computes it again.  For a process
    whose runs must not share answers (each test of the suite: a lab's upstream on a
    port that an earlier test's refused upstream had is another server)."""
    with _LOCK:
        _ENTRIES.clear()


def _compute(entry: _Entry[T], compute: Callable[[], T]) -> None:
    try:
        entry.value = compute()
    except ProbeFailure:
        entry.value = None  # the upstream did not answer: nothing to compare with
    except Exception:  # noqa: BLE001 - a bug here must not fail every mirror's measurement
        entry.value = None
    finally:
        entry.done.set()


def age(seconds: float) -> str:
    """``40 s``, ``12 min``, ``5 h``, ``3 days``: a lag or an age in words (seconds up to
    90, minutes up to 90, hours up to 48)."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
