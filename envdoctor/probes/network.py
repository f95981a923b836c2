"""The network part of ``check``: do the configured mirrors answer, and fast enough?

Measures what each tool is configured to use now (pip, uv, conda, Docker, the HF hub,
ModelScope) and, with ``--profile``, that profile's mirrors beside them.  A dead
configured mirror or one much slower than the best measured is a warning, never a
failure: many machines that run ``check`` (CI) have no route to any mirror at all.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from envdoctor.results import CheckResult, Status
from envdoctor.units import format_rate

if TYPE_CHECKING:
    from envdoctor.context import Context
    from envdoctor.mirrors import Entry, Ranking
    from envdoctor.net.results import Measurement
    from envdoctor.requirements import CheckOptions

NAME = "network"
TITLE = "Mirrors"
DEFAULT_TIMEOUT = 12.0
"""Above the 5 s latency deadline: the probe itself returns by then, even offline."""

MIN_MEASURE_S = 0.05
"""What measuring gets when the --timeout is all but spent before it starts: the rows then
say every mirror timed out, rather than the check not finishing."""

SLOWER_FACTOR = 2.0
SLOWER_MARGIN_S = 0.1
"""The configured mirror is 'much slower' when its first byte takes over twice as long as
the best one's, and at least 100 ms longer (small absolute gaps are noise)."""


def run(ctx: Context, options: CheckOptions) -> list[CheckResult]:
    started = time.monotonic()  # --timeout counts from here: imports and configs too
    from envdoctor.mirrors import LATENCY_DEADLINE_S, gather, measure
    from envdoctor.profiles import get_profile
    from envdoctor.tools import PullOptions, configured_mirrors

    profiles = [get_profile(ctx, options.profile)] if options.profile else []
    candidates = gather(profiles=profiles, configured=configured_mirrors(ctx))
    deadline = LATENCY_DEADLINE_S
    if ctx.timeout is not None:  # a fifth of it kept for the rows and the engine's margin
        deadline = max(MIN_MEASURE_S, ctx.timeout * 0.8 - (time.monotonic() - started))
    rankings = measure(
        ctx,
        candidates,
        timeout=deadline,
        throughput=options.throughput,
        pull=PullOptions(image=options.image),
    )
    return [_result(ranking, options.profile) for ranking in rankings]


def timing(measurement: Measurement, *, rate: bool = False) -> str:
    """``first byte 45 ms (40-52 ms)`` and the findings, or the reason it failed; with
    ``rate``, the download's rate too when it was timed (``download 4.0 MiB/s``: a check
    row has no column for it)."""
    if not measurement.healthy or measurement.ttfb_s is None:
        return measurement.reason
    text = f"first byte {_ms(measurement.ttfb_s)}"
    low, high = measurement.ttfb_min_s, measurement.ttfb_max_s
    if low is not None and high is not None and len(measurement.samples) > 1:
        text += f" ({low * 1000:.0f}-{high * 1000:.0f} ms)"
    download = rate_words(measurement) if rate else None
    if download is not None:
        text += f", download {download}"
    if measurement.final_host and measurement.redirects:
        text += f", served by {measurement.final_host}"
    if measurement.pull_finding:
        text += f"; {measurement.pull_finding}"
    if measurement.dual_stack:
        text += f"; {measurement.dual_stack}"
    fresh = brief_freshness(measurement)
    if fresh:
        text += f"; {fresh}"
    parallel = brief_parallel(measurement)
    if parallel:
        text += f"; {parallel}"
    return text


def rate_words(measurement: Measurement) -> str | None:
    """``4.0 MiB/s`` over one connection, ``≥4.0 MiB/s`` for a share of a link the run's
    downloads competed for (a lower bound); None when it was not timed."""
    if measurement.throughput_bytes_per_s is None:
        return None
    bound = "≥" if measurement.throughput_lower_bound else ""
    return bound + format_rate(measurement.throughput_bytes_per_s)


def brief_parallel(measurement: Measurement) -> str | None:
    """What more connections did (``per-connection limited: 1 connection 4.0 MiB/s, 8
    connections 19.0 MiB/s``, ``no Range support``), when measured: why they were not
    tested is left to ``-v`` and ``--json``."""
    from envdoctor.net.parallel import NO_RANGE

    if measurement.range_support is False:  # asked of every timed mirror, not only step 4's
        return NO_RANGE
    words = measurement.parallel_verdict
    if words is None:
        return None
    if words.startswith("per-connection limited"):
        return words
    if words.startswith("more connections do not help"):
        return "more connections do not help"
    return None


_UNKNOWN_FRESHNESS = (
    "sync status unknown",
    "Release date unknown",
    "Release date not compared",
    "freshness unknown",
)


def brief_freshness(measurement: Measurement) -> str | None:
    """How current the mirror is, when known (``last synced 5 h ago``): what it is
    unknown for is left to ``-v`` and ``--json``."""
    words = measurement.freshness or ""
    known = [
        part
        for part in words.split("; ")
        if part and not part.removeprefix("site: ").startswith(_UNKNOWN_FRESHNESS)
    ]
    return "; ".join(known) or None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _result(ranking: Ranking, profile: str | None) -> CheckResult:
    target = ranking.target
    configured, best = ranking.configured, ranking.best
    details: dict[str, object] = {
        "target": target,
        "configured": configured.candidate.url if configured else None,
        "best": best.candidate.url if best else None,
        "mirrors": [entry.to_json() for entry in ranking.entries],
    }
    compare = f"envdoctor mirrors --target {target}"
    name = f"mirror {target}"
    if configured is None:  # only the profile's mirrors were measured
        return _profile_only(name, ranking, details, profile)
    current = configured.measurement
    if not current.healthy:
        alternative = _alternative(best)
        return CheckResult(
            NAME,
            name,
            Status.WARN,
            f"{configured.candidate.url}: {current.reason}",
            details,
            remedy=f"{alternative}Compare all mirrors: {compare}",
        )
    if _behind_a_day(current):
        fresher = [
            e
            for e in ranking.entries
            if e.measurement.healthy and e is not configured and not _behind_a_day(e.measurement)
        ]
        offer = _alternative(fresher[0]) if fresher else ""
        return CheckResult(
            NAME,
            name,
            Status.WARN,
            f"{configured.candidate.url}: {timing(current, rate=True)}",
            details,
            remedy=f"It is more than a day behind: recent releases may be missing. {offer}"
            f"Compare all mirrors: {compare}",
        )
    if best is not None and best is not configured and _much_slower(current, best.measurement):
        return CheckResult(
            NAME,
            name,
            Status.WARN,
            f"{configured.candidate.url}: {timing(current, rate=True)}; "
            f"{best.candidate.url} answers in {_ms(best.measurement.ttfb_s or 0.0)}",
            details,
            remedy=f"{_alternative(best)}Compare all mirrors: {compare}",
        )
    summary = f"{configured.candidate.url}: {timing(current, rate=True)}"
    if (current.dual_stack or "").startswith("IPv6 "):
        return CheckResult(
            NAME, name, Status.WARN, summary, details, remedy=f"{IPV6_REMEDY} Compare: {compare} -v"
        )
    dead = [e for e in ranking.entries if not e.measurement.healthy and e is not configured]
    if dead:
        summary += f"; {len(dead)} other mirror{'s' if len(dead) > 1 else ''} not answering"
        return CheckResult(
            NAME, name, Status.WARN, summary, details, remedy=f"See which and why: {compare} -v"
        )
    return CheckResult(NAME, name, Status.OK, summary, details)


IPV6_REMEDY = (
    "If IPv6 to it is down rather than slow, Python clients (pip, conda, huggingface_hub) "
    "try its addresses one after another and wait out their connect timeout on the IPv6 "
    "one, on every new connection; curl and Go clients (docker, containerd) race the two "
    "families, as envdoctor does. Fix the IPv6 route, or make this machine prefer IPv4: "
    "uncomment `precedence ::ffff:0:0/96  100` in /etc/gai.conf."
)
"""What to do when the configured mirror's IPv6 did not connect and its IPv4 did."""


def _behind_a_day(measurement: Measurement) -> bool:
    from envdoctor.auto import STALE_AFTER_S

    return measurement.lag_s is not None and measurement.lag_s > STALE_AFTER_S


def _much_slower(current: Measurement, best: Measurement) -> bool:
    if current.ttfb_s is None or best.ttfb_s is None:
        return False
    gap = current.ttfb_s - best.ttfb_s
    return current.ttfb_s > best.ttfb_s * SLOWER_FACTOR and gap > SLOWER_MARGIN_S


def _alternative(best: Entry | None) -> str:
    if best is None:
        return "No measured mirror answered either: check the network and proxy settings. "
    offered = f" (profile {', '.join(best.candidate.profiles)})" if best.candidate.profiles else ""
    return f"{best.candidate.url}{offered} answers in {_ms(best.measurement.ttfb_s or 0.0)}. "


def _profile_only(
    name: str, ranking: Ranking, details: dict[str, object], profile: str | None
) -> CheckResult:
    entry = ranking.entries[0]
    if entry.measurement.healthy:
        return CheckResult(
            NAME,
            name,
            Status.OK,
            f"{entry.candidate.url}: {timing(entry.measurement, rate=True)}",
            details,
        )
    return CheckResult(
        NAME,
        name,
        Status.WARN,
        f"{entry.candidate.url} (profile {profile}): {entry.measurement.reason}",
        details,
        remedy=f"Compare all mirrors: envdoctor mirrors --target {ranking.target}",
    )
