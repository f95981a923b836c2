"""What ``conda install`` downloads from a channel after its index, and how current the
channel's index is.

conda reads ``<channel>/<subdir>/repodata.json`` (hundreds of MB on conda-forge) and then
downloads package files named by its ``packages`` and ``packages.conda`` keys from
``<channel>/<subdir>/<filename>`` (or from ``info.base_url`` in repodata v2, CEP 15).
:func:`find_package` asks for the first :data:`REPODATA_PREFIX_BYTES` of
``noarch/repodata.json`` with ``Range`` (a server that ignores it is read up to
:data:`~envdoctor.net.pull.ANSWER_BODY_BYTES`), finds the package entries in those bytes
without parsing the whole document, and returns the largest package whose entry was
read whole: the file the throughput phase downloads.

Freshness: the repodata's ``Last-Modified`` against the upstream channel's (Anaconda's
``repo.anaconda.com`` for ``pkgs/*``, ``conda.anaconda.org`` for the channels under
``cloud/``), asked once per run with ``Range: bytes=0-0`` so that only headers come.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from urllib.parse import urljoin, urlsplit

from envdoctor.net.pull import Answer, Fetch, Freshness, LargeFile, PullRefused, detached
from envdoctor.net.results import host_port
from envdoctor.net.shared import age, once_per_run
from envdoctor.units import format_bytes

REPODATA_PREFIX_BYTES = 64 * 1024
"""Enough of a repodata.json for some whole package entries (about 500 bytes each)."""

UPSTREAM_BASES: dict[str, str] = {
    "pkgs": "https://repo.anaconda.com/pkgs",
    "cloud": "https://conda.anaconda.org",
}
"""Where a mirror's ``<b>/pkgs/<name>`` and ``<b>/cloud/<name>`` channels come from; the
test suite empties it, so that no test reaches a public host."""

_PACKAGE_KEY = re.compile(rb'"([^"/\\]+-[^"/\\]+-[^"/\\]+\.(?:tar\.bz2|conda))"\s*:\s*\{')
"""A package entry's key: ``<name>-<version>-<build>.tar.bz2`` or ``.conda`` (which
``"packages.conda": {`` is not)."""
_BASE_URL = re.compile(rb'"base_url"\s*:\s*"([^"]*)"')


def upstream_channel(channel: str) -> str | None:
    """The upstream of a mirror's channel URL (``<b>/pkgs/main`` ->
    ``https://repo.anaconda.com/pkgs/main``), or None when it is not known."""
    segments = urlsplit(channel).path.rstrip("/").split("/")
    if len(segments) < 2 or segments[-2] not in UPSTREAM_BASES:
        return None
    return f"{UPSTREAM_BASES[segments[-2]]}/{segments[-1]}"


def find_package(channel: str, fetch: Fetch, *, upstream: str | None = None) -> LargeFile:
    """A package file conda would download from ``channel`` (a channel URL), named by
    the first bytes of its ``noarch/repodata.json``; :class:`PullRefused` when the
    repodata names none.  ``upstream`` is the channel its ``Last-Modified`` is compared
    with (default :func:`upstream_channel`)."""
    channel = channel.rstrip("/")
    index = f"{channel}/noarch/repodata.json"
    answer = fetch(index, (("Range", f"bytes=0-{REPODATA_PREFIX_BYTES - 1}"),), None)
    if not 200 <= answer.status < 300:
        words = f"HTTP {answer.status} {answer.reason}".rstrip()
        raise PullRefused(f"refuses the read of noarch/repodata.json: {words}", answer.status)
    if answer.is_html:
        raise PullRefused("answers noarch/repodata.json with an HTML page", answer.status)
    chosen = choose_package(answer.body)
    if chosen is None:
        raise PullRefused(
            "the channel's noarch/repodata.json names no package files "
            f"(in the {len(answer.body)} bytes read)",
            answer.status,
        )
    filename, size = chosen
    try:
        url = urljoin(_base_url(answer), filename)
    except ValueError:  # a base_url such as "https://[x/"
        raise PullRefused(
            "the channel's noarch/repodata.json names a base_url that does not parse",
            answer.status,
        ) from None
    finding = None
    hops: tuple[str, ...] = ()
    if host_port(url) != host_port(answer.url):
        hops = (host_port(url),)
        finding = (
            f"packages from this channel come from {host_port(url)}: its repodata names "
            "that base_url, and conda downloads them from there"
        )
    shown = f" ({format_bytes(size)})" if size and size >= 100_000 else ""
    return LargeFile(
        url=url,
        what=f"package noarch/{filename}{shown}",
        hops=hops,
        finding=finding,
        freshness=freshness(channel, answer, fetch, upstream),
    )


def choose_package(body: bytes) -> tuple[str, int | None] | None:
    """``(filename, size)`` of the largest package whose entry in ``body`` (a possibly
    cut repodata.json) was read whole; the first named when none was."""
    decoder = json.JSONDecoder()
    text_cache: dict[int, str] = {}
    best: tuple[str, int | None] | None = None
    for match in _PACKAGE_KEY.finditer(body):
        filename = match.group(1).decode("utf-8", "replace")
        start = match.end() - 1
        chunk = text_cache.setdefault(start, body[start : start + 16384].decode("utf-8", "replace"))
        try:
            entry, _ = decoder.raw_decode(chunk)
        except (ValueError, RecursionError):
            entry = None  # cut by the byte cap, or nested past the parser's depth
        size = entry.get("size") if isinstance(entry, dict) else None
        size = size if isinstance(size, int) and size > 0 else None
        if best is None or (size is not None and (best[1] is None or size > best[1])):
            best = (filename, size)
    return best


def _base_url(answer: Answer) -> str:
    """Where package files are: ``info.base_url`` (repodata v2) resolved against the
    repodata's URL, else its directory."""
    match = _BASE_URL.search(answer.body[:4096])
    directory = answer.url.rsplit("/", 1)[0] + "/"
    named = match.group(1).decode("utf-8", "replace") if match else ""
    if named:
        return str(urljoin(directory, named.rstrip("/") + "/"))
    return directory


def freshness(
    channel: str, answer: Answer, fetch: Fetch, upstream: str | None = None
) -> Freshness | None:
    """The repodata's ``Last-Modified`` against the upstream channel's.  ``lag_s`` is how
    much older the mirror's repodata is than the upstream's (as apt's ``InRelease``
    ``Date:`` comparison, and reflector, rank): the mirror lacks every change the
    upstream made in that gap.  For a channel that changes every few minutes
    (conda-forge) that is how stale the mirror's view is; for one that changes rarely it
    may overstate it by up to the time between the upstream's updates."""
    upstream = (upstream or upstream_channel(channel) or "").rstrip("/")
    mine = _date(answer.headers.get("last-modified"))
    if not upstream or host_port(upstream) == host_port(channel):
        if mine is None:
            return None
        return Freshness(f"repodata last modified {age(time.time() - mine)} ago")
    if mine is None:
        return Freshness("freshness unknown: no Last-Modified on its repodata")
    host = urlsplit(upstream).hostname or upstream
    theirs = once_per_run(
        f"{upstream}/noarch/repodata.json#last-modified", lambda: _ask(upstream, detached(fetch))
    )
    if theirs is None:
        here = age(time.time() - mine)
        return Freshness(f"freshness unknown: {host} did not say (repodata {here} old here)")
    if mine >= theirs:
        return Freshness(f"repodata current with {host}'s", 0.0)
    return Freshness(f"repodata last updated {age(theirs - mine)} before {host}'s", theirs - mine)


def _ask(upstream: str, fetch: Fetch) -> float | None:
    answer = fetch(f"{upstream}/noarch/repodata.json", (("Range", "bytes=0-0"),), None)
    if not 200 <= answer.status < 300:
        return None
    return _date(answer.headers.get("last-modified"))


def _date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
