"""An answer every mirror's pull steps need, asked once per run: the upstream's page a
mirror is compared with (PyPI's simple page, Anaconda's repodata headers).

Mirrors are measured in one thread each; the first thread that needs ``key`` computes
it with its own fetch (its mirror's session: proxies, trust store, deadline), the
others wait for that value instead of asking the upstream again.  A value is kept for
:data:`RUN_TTL_S`, longer than any run's deadline, so a long-lived process (``watch``,
the test suite) asks again on its next run.
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


@dataclass
class _Entry(Generic[T]):
    done: threading.Event
    at: float
    value: T | None = None


_ENTRIES: dict[str, _Entry[object]] = {}
_LOCK = threading.Lock()


def once_per_run(key: str, compute: Callable[[], T], *, ttl_s: float = RUN_TTL_S) -> T | None:
    """``compute()`` for the first caller of ``key`` in ``ttl_s`` seconds, and the same
    value for every later one (waiting while the first computes); None when it failed
    with a network problem (:class:`~envdoctor.net.results.ProbeFailure`), which is kept
    too: an upstream that did not answer is not asked once per mirror."""
    now = time.monotonic()
    with _LOCK:
        entry = _ENTRIES.get(key)
        first = entry is None or (entry.done.is_set() and now - entry.at > ttl_s)
        if first:
            entry = _Entry(threading.Event(), now)
            _ENTRIES[key] = entry
    assert entry is not None
    if not first:
        entry.done.wait(ttl_s)
        return entry.value  # type: ignore[return-value]
    value: T | None = None
    try:
        value = compute()
    except ProbeFailure:
        value = None
    finally:
        entry.value = value
        entry.done.set()
    return value


def age(seconds: float) -> str:
    """``40 s``, ``12 min``, ``5 h``, ``3 days``: a lag or an age in words."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
