"""A client's real pull path, as steps a tool module writes and :mod:`envdoctor.net`
runs: small requests that find the large file (a registry's token, manifest and layer;
a hub's resolve), then that file's download timed like any other.

Tool modules build on these types only; the requests themselves are made by
:func:`envdoctor.net.measure.measure_all` with the session of the mirror being measured,
within the run's deadline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast


@dataclass(frozen=True)
class Answer:
    """One GET, redirects followed: the final status, headers and the first bytes of
    the body (at most :data:`ANSWER_BODY_BYTES`; a chunked body decoded)."""

    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    """Names in lower case."""
    body: bytes
    redirects: tuple[str, ...] = ()
    redirect_headers: tuple[Mapping[str, str], ...] = ()
    """The headers of each redirect on the way, in order (names in lower case): one per
    entry of :attr:`redirects`."""

    def json(self) -> object:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None

    @property
    def is_html(self) -> bool:
        kind = self.headers.get("content-type", "").lower()
        start = self.body.lstrip()[:15].lower()
        return "text/html" in kind or start.startswith((b"<!doctype html", b"<html"))


ANSWER_BODY_BYTES = 1024 * 1024

Fetch = Callable[[str, Sequence[tuple[str, str]], str | None], Answer]
"""``fetch(url, headers, authorization)``: one GET within the measurement's budget;
``authorization`` goes to the first host only."""


def detached(fetch: Fetch) -> Fetch:
    """``fetch`` for a request that is not part of its mirror's measurement (an upstream
    asked once per run, :func:`~envdoctor.net.shared.once_per_run`, on the first mirror's
    fetch): the same proxies, trust store, resolver, timeout and deadline, and a progress
    of its own, so that the mirror's phase, address families and dual-stack finding stay
    the mirror's (an upstream reached over IPv6, or whose IPv6 is broken, is not a finding
    about the mirror).  A fetch with no session behind it (a test's) is returned as is."""
    detach = getattr(fetch, "detached", None)
    return cast("Fetch", detach()) if callable(detach) else fetch


class PullRefused(Exception):
    """The mirror answers its first request but refuses the pull: a named failure."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Freshness:
    """How current a mirror is, as far as its content or its site says."""

    words: str
    """``behind pypi.org by 12 serials (numpy)``, ``last synced 5 h ago``, ``current``."""
    lag_s: float | None = None
    """How far behind the mirror is, in seconds; None: unknown.  From its content (a
    serial behind the upstream's, an older Release or repodata) it is a lower bound; from
    its site's sync status only, it is the time since the last successful sync, which for
    an upstream that changes every hour (PyPI, conda-forge, the Hub) is how stale the
    mirror's view is, and for a rarely changing one may overstate it."""
    serials_behind: int | None = None
    """PyPI-style indexes: the upstream's serial for the probe project minus the mirror's."""


@dataclass(frozen=True)
class LargeFile:
    """The file a pull really downloads, and how to ask for it."""

    url: str
    what: str
    """In words: ``layer sha256:3f57d9401f8d of library/busybox:latest``."""
    headers: tuple[tuple[str, str], ...] = ()
    authorization: str | None = None
    """Never shown: a token from the registry's realm."""
    hops: tuple[str, ...] = ()
    """``host[:port]`` of every redirect target on the way to :attr:`url`, in order."""
    finding: str | None = None
    """In plain words, when the bytes come from elsewhere than the mirror: ``large files
    from this mirror come from <host>``, with what changes that path and what does not."""
    freshness: Freshness | None = None
    """What the pull steps learnt of the mirror's lag (a simple page's serial, a
    repodata's ``Last-Modified``), when they learnt anything."""


FindLargeFile = Callable[[Fetch], LargeFile]
"""A tool's pull steps: given a fetch, the large file, or :class:`PullRefused`."""
