"""Which mirror is best: the time a typical download would take from each, healthy ones
first.  Used by the run's ranking (:mod:`envdoctor.mirrors`), by the download phase to
choose which mirrors to time alone (:mod:`envdoctor.net.downloads`) and by ``auto``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from envdoctor.net.results import Measurement
from envdoctor.units import MiB

REFERENCE_BYTES = 4 * MiB
"""Size of the typical download (a mid-sized wheel, a channel's repodata) that
:func:`score` prices: first-byte time plus this many bytes at the measured throughput."""


def score(measurement: Measurement, *, fallback_bytes_per_s: float | None = None) -> float | None:
    """Estimated seconds to fetch :data:`REFERENCE_BYTES` from a healthy mirror, else None.

    Median first-byte time plus the time redirects cost, plus the transfer time at the
    measured throughput (or ``fallback_bytes_per_s`` when this mirror's is unknown; no
    transfer term when both are unknown).
    """
    if not measurement.healthy or measurement.ttfb_s is None:
        return None
    latency = measurement.ttfb_s + (measurement.redirect_s or 0.0)
    rate = measurement.throughput_bytes_per_s or fallback_bytes_per_s
    return latency + (REFERENCE_BYTES / rate if rate else 0.0)


def rank(measurements: Iterable[Measurement]) -> list[Measurement]:
    """Best first: healthy mirrors by :func:`score`, then the failed ones; ties and the
    failed keep their order.  A healthy mirror whose throughput was not measured while
    others' was is priced at the slowest measured rate: unknown is not rewarded."""
    items = list(measurements)
    return sorted(items, key=rank_key(items))


def fallback_rate(items: Iterable[Measurement]) -> float | None:
    """The rate :func:`score` prices a healthy mirror of ``items`` at when its own was not
    measured: the slowest measured one (unknown is not rewarded); None when none was."""
    rates = [
        item.throughput_bytes_per_s
        for item in items
        if item.healthy and item.throughput_bytes_per_s is not None
    ]
    return min(rates) if rates else None


def rank_key(items: Sequence[Measurement]) -> Callable[[Measurement], tuple[int, float]]:
    """The sort key :func:`rank` orders ``items`` by (the fallback rate is theirs)."""
    fallback = fallback_rate(items)

    def key(item: Measurement) -> tuple[int, float]:
        value = score(item, fallback_bytes_per_s=fallback)
        return (0, value) if value is not None else (1, 0.0)

    return key
