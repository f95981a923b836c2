"""What a measurement found: outcomes, phases, samples, and the failure that ends one."""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from envdoctor.redact import mask_url


class Outcome(str, enum.Enum):
    """What happened to a measurement; everything but ``ok`` is a failure."""

    OK = "ok"
    HTTP_ERROR = "http_error"
    """An answer, but not a healthy one (non-2xx after redirects, too many redirects)."""
    TLS_ERROR = "tls_error"
    """Certificate not trusted, hostname mismatch, unreadable CA bundle, protocol error."""
    DNS_ERROR = "dns_error"
    REFUSED = "refused"
    RESET = "reset"
    """Reset by the peer, or closed without an answer."""
    TIMEOUT = "timeout"
    """Connect, TLS, read or overall deadline; the reason says which."""
    PROXY_ERROR = "proxy_error"
    """The proxy could not be reached, refused ``CONNECT``, wants credentials, or is of a
    kind this probe does not speak (SOCKS, https://)."""
    UNREACHABLE = "unreachable"
    """No route: ENETUNREACH, EHOSTUNREACH, ENETDOWN, EADDRNOTAVAIL."""
    CANCELLED = "cancelled"
    """Stopped early because the run was interrupted."""
    ERROR = "error"
    """Anything else: a malformed URL or answer, an unexpected socket error."""


Phase = Literal["queued", "dns", "connect", "proxy", "tls", "first_byte", "body"]


PHASE_WORDS: dict[Phase, str] = {
    "queued": "its turn",
    "dns": "the DNS lookup",
    "connect": "the TCP connect",
    "proxy": "the proxy's answer to CONNECT",
    "tls": "the TLS handshake",
    "first_byte": "the first byte of the answer",
    "body": "the response body",
}


@dataclass(frozen=True)
class Sample:
    """One cold request (with its redirects), phase by phase, in seconds."""

    dns_s: float
    connect_s: float
    tls_s: float | None
    ttfb_s: float
    redirect_s: float
    total_s: float
    status_code: int
    address: str
    """``ip:port`` the final hop connected to (the proxy's, through a proxy)."""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Measurement:
    """The latency (and optionally throughput) of one URL: medians, spread and outcome.

    URLs and the proxy are masked (:func:`mask_url`): safe to print.  Timing fields are
    medians over :attr:`samples`; ``None`` when no sample completed (or no TLS).
    """

    url: str
    kind: str
    outcome: Outcome
    reason: str
    final_url: str | None = None
    base_url: str | None = None
    """The mirror as configured, when measured through :func:`measure_all`."""
    status_code: int | None = None
    phase: Phase | None = None
    """Where a failure happened (``dns``, ``connect``, ``proxy``, ``tls``,
    ``first_byte``, ``body``), ``None`` on success."""
    samples: tuple[Sample, ...] = ()
    dns_s: float | None = None
    connect_s: float | None = None
    tls_s: float | None = None
    ttfb_s: float | None = None
    redirect_s: float | None = None
    total_s: float | None = None
    ttfb_min_s: float | None = None
    ttfb_max_s: float | None = None
    total_min_s: float | None = None
    total_max_s: float | None = None
    throughput_bytes_per_s: float | None = None
    throughput_reason: str | None = None
    """Why throughput is missing, or how it was measured."""
    throughput_at_once: int | None = None
    """How many downloads ran at once while :attr:`throughput_bytes_per_s` was taken:
    1, alone; more, together with the run's other mirrors (see
    :mod:`envdoctor.net.downloads`); None when it was not taken."""
    throughput_lower_bound: bool = False
    """The figure was taken together with other downloads in a run where they competed
    for the link (a mirror timed alone ran much faster): the mirror's own speed is at
    least this."""
    proxy: str | None = None
    redirects: tuple[str, ...] = ()
    """``host[:port]`` of every redirect target, in order."""
    elapsed_s: float = 0.0
    """Wall time this measurement took: the latency samples and the pull steps after them
    (the download timed afterwards is not included)."""
    pull_url: str | None = None
    """The file the client's real pull path downloads (a registry's layer blob), found
    by its steps after the first answer; throughput times it."""
    pull_file: str | None = None
    """That file in words: ``layer sha256:3f57d9401f8d of library/busybox:latest``."""
    pull_hops: tuple[str, ...] = ()
    """``host[:port]`` of every redirect on the way to :attr:`pull_url` (a hub's
    ``resolve`` sending the file to a CDN)."""
    pull_finding: str | None = None
    """``large files from this mirror come from <host>`` and what changes that, when the
    pull path ends on another host than the mirror."""
    ip_families: tuple[str, ...] = ()
    """``IPv4``/``IPv6``: the families connections were made over."""
    dual_stack: str | None = None
    """A finding of its own when one family failed and the other worked (``IPv6 to
    <host> is broken ...``): the mirror is healthy, but clients differ in how they fall
    back."""
    freshness: str | None = None
    """How current the mirror is, in words (``behind pypi.org by 12 serials``, ``last
    synced 5 h ago``); None when neither the content nor the site says."""
    lag_s: float | None = None
    """How far behind the mirror is, in seconds; None: unknown.  From its content (a
    serial behind the upstream's, an older Release or repodata) it is a lower bound; from
    its site's sync status only, it is the time since the last successful sync, which for
    an upstream that changes every hour (PyPI, conda-forge, the Hub) is how stale the
    mirror's view is, and for a rarely changing one may overstate it."""
    serials_behind: int | None = None
    """PyPI-style indexes: how many serials the mirror's probe page is behind upstream."""
    range_support: bool | None = None
    """The large file's final host answers ``Range: bytes=0-0`` with 206 and a valid
    ``Content-Range``; None: not checked, or no usable answer."""
    pull_size: int | None = None
    """The large file's size in bytes, from ``Content-Range`` (or ``Content-Length``)."""
    throughput_by_connections: tuple[tuple[int, float], ...] = ()
    """``(connections, aggregate bytes/s)``: 1 connection, then 4 and 8 parallel ranges
    of the same file, as far as they were measured."""
    parallel_verdict: str | None = None
    """``per-connection limited: ...``, ``more connections do not help ...``, ``no
    Range support: each file over one connection``, or why parallel connections were not
    tested."""
    parallel_remedy: str | None = None
    """The client's knob for parallel downloads, when more connections helped."""

    @property
    def healthy(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def parallel_gain(self) -> float | None:
        """The best parallel rate over one connection's, when both were measured."""
        rates = dict(self.throughput_by_connections)
        single = rates.pop(1, None)
        if not single or not rates:
            return None
        return max(rates.values()) / single

    @property
    def final_host(self) -> str | None:
        """``host[:port]`` that gave the final answer."""
        if self.final_url is None:
            return None
        return host_port(self.final_url)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``outcome`` as its string value, tuples as lists)."""
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "samples":
                value = [sample.to_json() for sample in value]
            elif item.name in ("redirects", "ip_families", "pull_hops"):
                value = list(value)
            elif item.name == "throughput_by_connections":
                value = {str(count): rate for count, rate in value}
            elif isinstance(value, Outcome):
                value = value.value
            data[item.name] = value
        return data


@dataclass(frozen=True)
class Throughput:
    """A body download, timed from the end of the headers (see :func:`measure_throughput`)."""

    url: str
    outcome: Outcome
    reason: str
    bytes_read: int = 0
    duration_s: float = 0.0
    bytes_per_s: float | None = None
    status_code: int | None = None
    complete: bool = False
    """The whole body arrived before the time or byte limit: a short, less steady sample."""
    capped: bool = False
    """Reading stopped at the byte cap, not at the end of the body or the time window."""
    lower_bound: bool = False
    """:attr:`bytes_per_s` is a floor: a whole body too fast to time came in under
    :data:`~envdoctor.net.downloads.MIN_TIMED_S`, so it is its size over that time."""


def count_of(text: str) -> int | None:
    """``text`` as a count (a size, a serial): ASCII digits only, at most 18 of them;
    else None.  ``"²".isdigit()`` is true and ``int()`` refuses it, and ``int()`` refuses
    more than 4300 digits too."""
    if 0 < len(text) <= 18 and text.isascii() and text.isdigit():
        return int(text)
    return None


_CONTENT_RANGE = re.compile(r"bytes\s+(\d{1,18})-(\d{1,18})/(\d{1,18}|\*)", re.IGNORECASE)


def content_range(value: str) -> tuple[int, int, int | None] | None:
    """``Content-Range: bytes first-last/total`` as ``(first, last, total)``, total None
    for ``*``; None when it does not parse (at most 18 digits a number: more is no file's
    size, and ``int()`` refuses 4300)."""
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), None if match[3] == "*" else int(match[3])


def host_port(url: str) -> str:
    """``host[:port]`` of ``url``; empty when it has none or does not parse (``https://[x``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host


def redirect_target(current: str, location: str | None, status: int) -> str:
    """Where a redirect answered at ``current`` with ``location`` leads; no Location, or
    one that does not parse (``https://[x/``), is a named failure."""
    if not location:
        reason = f"HTTP {status} redirect without a Location"
        raise ProbeFailure(Outcome.HTTP_ERROR, reason, "first_byte", status)
    try:
        return urljoin(current, location.strip())
    except ValueError:
        reason = f"HTTP {status} redirect to a bad Location: {mask_url(location.strip())}"
        raise ProbeFailure(Outcome.HTTP_ERROR, reason, "first_byte", status) from None


class ProbeFailure(Exception):
    def __init__(
        self, outcome: Outcome, reason: str, phase: Phase | None, status_code: int | None = None
    ) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.phase = phase
        self.status_code = status_code
        self.final_url: str | None = None
        self.redirects: list[str] = []
