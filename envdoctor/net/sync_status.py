"""What mirror sites say of their own sync: tunasync's ``tunasync.json`` and MirrorZ's
``mirrorz.json``.

Some sites publish, per repository ("job"), when it last synced successfully and how
the last run ended.  Which site publishes which document is data (:data:`SITES`, with
the source of each line); a mirror on any other site stays "unknown".  Each document is
fetched once per run (:func:`fetch_documents`, concurrently, within the run's deadline)
and parsed defensively: at most :data:`~envdoctor.net.pull.ANSWER_BODY_BYTES` of it,
and anything malformed is "unknown", never an exception.

Formats, as their generators write them:

``tunasync``
    a JSON list of jobs: ``name``, ``status`` (``success``, ``syncing``, ``failed``,
    ``paused``...), ``last_update_ts`` (the last successful sync, Unix seconds),
    ``last_ended_ts``, ``last_started_ts``, ``next_schedule_ts``, ``upstream``, and an
    optional ``url``; a job without one is served at ``/<name>`` (tuna/tunasync
    ``internal/status_web.go``; mirrorz-org/mirrorz-config ``parser/tunasync.js``).
``mirrorz``
    ``{"site": {...}, "mirrors": [{"cname", "url", "status", ...}]}``; ``url`` is a path
    on the site or a full URL; ``status`` concatenates ``[A-Z](\\d+)?`` tokens: one main
    status, ``S<ts>`` successful (last success), ``Y<ts>`` syncing (started), ``F<ts>``
    failed (last attempt), ``P<ts>`` paused, ``U`` unknown, and auxiliary ones such as
    ``O<ts>`` (the last success, with ``Y`` or ``F``) and ``X<ts>`` (next run)
    (mirrorz-org/mirrorz ``README.md``, data format).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from envdoctor.net.measure import fetch_with
from envdoctor.net.pull import ANSWER_BODY_BYTES, Answer, Freshness
from envdoctor.net.results import ProbeFailure, count_of, host_port
from envdoctor.net.session import Resolver, Session, system_resolver
from envdoctor.net.shared import age
from envdoctor.redact import mask_url

Format = Literal["tunasync", "mirrorz"]


@dataclass(frozen=True)
class SiteStatus:
    """Where one mirror site publishes its sync status."""

    hosts: tuple[str, ...]
    """``host`` or ``host:port`` of the mirror URLs this document covers."""
    url: str
    format: Format
    source: str
    """Where this line comes from."""


SITES: tuple[SiteStatus, ...] = (
    SiteStatus(
        ("mirrors.tuna.tsinghua.edu.cn",),
        "https://mirrors.tuna.tsinghua.edu.cn/static/tunasync.json",
        "tunasync",
        "mirrorz-org/mirrorz-config parser/tuna.js",
    ),
    SiteStatus(
        ("mirrors.bfsu.edu.cn",),
        "https://mirrors.bfsu.edu.cn/static/tunasync.json",
        "tunasync",
        "mirrorz-org/mirrorz-config parser/bfsu.js",
    ),
    SiteStatus(
        ("mirror.nju.edu.cn", "mirrors.nju.edu.cn"),
        "https://mirrors.nju.edu.cn/.mirrorz/tunasync.json",
        "tunasync",
        "mirrorz-org/mirrorz-config parser/nju.js",
    ),
    SiteStatus(
        ("mirrors.ustc.edu.cn",),
        "https://mirrors.ustc.edu.cn/static/json/mirrorz.json",
        "mirrorz",
        "mirrorz-org/mirrorz-config config/mirrorz.org.json",
    ),
    SiteStatus(
        ("mirror.sjtu.edu.cn",),
        "https://mirror.sjtu.edu.cn/mirrorz/siyuan.json",
        "mirrorz",
        "mirrorz-org/mirrorz-config config/mirrorz.org.json (siyuan is mirror.sjtu.edu.cn)",
    ),
)
"""Every site known to publish its sync status.  The mirrors in the shipped profiles on
other sites (Aliyun, Huawei, Tencent, MirrorZ's redirector) publish none known here."""

FAILED_LONG_S = 24 * 3600.0
"""A failed job whose last success is older than this is worth saying so."""


@dataclass(frozen=True)
class Job:
    """One repository's sync, as its site reports it (timestamps in Unix seconds)."""

    name: str
    path: str
    """Where it is served: a path on the site (``/pypi``) or a full URL."""
    status: str
    """``success``, ``syncing``, ``failed``, ``paused`` or ``unknown``."""
    last_success: float | None = None
    last_ended: float | None = None


@dataclass(frozen=True)
class Document:
    """A site's parsed status document, or why there is none (``jobs`` empty)."""

    site: SiteStatus
    jobs: tuple[Job, ...] = ()
    problem: str | None = None


def site_for(url: str, sites: Sequence[SiteStatus] = SITES) -> SiteStatus | None:
    """The site whose status covers ``url``'s host, if one is known."""
    parts = urlsplit(url)
    names = {host_port(url).lower(), (parts.hostname or "").lower()}
    return next((site for site in sites if names & {h.lower() for h in site.hosts}), None)


def parse(site: SiteStatus, answer: Answer) -> Document:
    """``answer`` (a GET of ``site.url``) as a :class:`Document`; never raises."""
    if not 200 <= answer.status < 300:
        return Document(site, problem=f"HTTP {answer.status} for {mask_url(site.url)}")
    length = answer.headers.get("content-length", "")
    if len(answer.body) >= ANSWER_BODY_BYTES or (count_of(length) or 0) > ANSWER_BODY_BYTES:
        return Document(site, problem=f"{mask_url(site.url)} is over 1 MiB: not read")
    data = answer.json()  # a chunked answer comes decoded (net.chunked, in the fetch)
    try:
        jobs = _tunasync(data) if site.format == "tunasync" else _mirrorz(data)
    except (TypeError, ValueError, AttributeError, OverflowError):
        jobs = None
    if not jobs:
        return Document(site, problem=f"{mask_url(site.url)} is not a {site.format} document")
    return Document(site, tuple(jobs))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 < value < 1e11 else None


_TUNASYNC_STATUS = {
    "success": "success",
    "syncing": "syncing",
    "failed": "failed",
    "fail": "failed",
    "paused": "paused",
}


def _tunasync(data: object) -> list[Job] | None:
    if not isinstance(data, list):
        return None
    jobs = []
    for item in data:
        if not isinstance(item, Mapping):
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name:
            continue
        url = item.get("url")
        path = url if isinstance(url, str) and url else f"/{name}"
        status = item.get("status")
        jobs.append(
            Job(
                name,
                path,
                _TUNASYNC_STATUS.get(status, "unknown") if isinstance(status, str) else "unknown",
                _number(item.get("last_update_ts")),
                _number(item.get("last_ended_ts")),
            )
        )
    return jobs


_MIRRORZ_MAIN = {"S": "success", "Y": "syncing", "F": "failed", "P": "paused", "U": "unknown"}
_TOKEN = re.compile(r"([A-Z])(\d*)")


def _mirrorz(data: object) -> list[Job] | None:
    if not isinstance(data, Mapping) or not isinstance(data.get("mirrors"), list):
        return None
    jobs = []
    for item in data["mirrors"]:
        if not isinstance(item, Mapping):
            continue
        name, url, status = item.get("cname"), item.get("url"), item.get("status")
        if not isinstance(url, str) or not url or not isinstance(status, str):
            continue
        tokens = {
            letter: _number(int(digits)) if digits else None
            for letter, digits in _TOKEN.findall(status[:200])
        }
        main = next((letter for letter in tokens if letter in _MIRRORZ_MAIN), "U")
        stamp = tokens.get(main)
        success = stamp if main in ("S", "P") else tokens.get("O")
        ended = stamp if main in ("S", "F") else None
        jobs.append(Job(str(name) if name else url, url, _MIRRORZ_MAIN[main], success, ended))
    return jobs


def job_for(url: str, document: Document) -> Job | None:
    """The job serving ``url``: the one whose path is the longest prefix of ``url``'s,
    on a ``/`` boundary (``/pypi`` serves ``/pypi/web/simple``)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/") + "/"
    here = host_port(url).lower()
    best: Job | None = None
    best_length = -1
    for job in document.jobs:
        try:
            where = urlsplit(job.path)
        except ValueError:  # a job's URL such as "http://[x": it serves nothing we can name
            continue
        if where.scheme:
            if host_port(job.path).lower() != here:
                continue
            prefix = where.path
        else:
            prefix = job.path
        segments = prefix.strip("/")
        if not segments and not where.scheme:
            continue  # a job at the site's root would claim every mirror on it
        prefix = f"/{segments}/" if segments else "/"
        if path.startswith(prefix) and len(prefix) > best_length:
            best, best_length = job, len(prefix)
    return best


def freshness_of(job: Job, document: Document, now: float) -> Freshness:
    """What the site says of ``job``, in words, with the time since its last success."""
    kind = document.site.format
    since = None if job.last_success is None else max(0.0, now - job.last_success)
    if since is None:
        if job.status in ("success", "syncing", "paused"):  # its time is missing or unreadable
            return Freshness(f"sync status unknown: no readable sync time ({kind}: {job.status})")
        return Freshness(f"no successful sync on record ({kind}: {job.status})")
    synced = f"last synced {ago(since)}"
    if job.status == "failed":
        when = ""
        if job.last_ended is not None:
            when = f" {ago(max(0.0, now - job.last_ended))}"
        if since > FAILED_LONG_S:
            words = f"last successful sync {ago(since)}, the last run failed{when}"
        else:
            words = f"{synced}, the last run failed{when}"
        return Freshness(f"{words} ({kind})", since)
    return Freshness(f"{synced} ({kind}: {job.status})", since)


def ago(seconds: float) -> str:
    """``40 s ago``, ``12 min ago``, ``5 h ago``, ``3 days ago``."""
    return f"{age(seconds)} ago"


def combine(tool: Freshness | None, site: Freshness | None) -> Freshness | None:
    """The pull step's freshness and the site's, together: a known lag from the content
    itself (serials, dates) is the more precise and is kept; the site's words follow."""
    if site is None:
        return tool
    if tool is None:
        return site
    if tool.lag_s is None and tool.serials_behind is None and site.lag_s is not None:
        return Freshness(f"{site.words}; {tool.words}", site.lag_s)
    lag = tool.lag_s if tool.lag_s is not None else site.lag_s
    return Freshness(f"{tool.words}; site: {site.words}", lag, tool.serials_behind)


def fetch_documents(
    sites: Iterable[SiteStatus],
    *,
    env: Mapping[str, str],
    deadline: float,
    timeout: float = 5.0,
    cancel: threading.Event | None = None,
    resolver: Resolver = system_resolver,
) -> dict[str, Document]:
    """Each site's document (by its URL), fetched concurrently, one daemon thread per
    document, and waited for until ``deadline`` (a ``time.monotonic()`` value) at most:
    a status URL that hangs is left behind as "no answer before the deadline"."""
    unique = {site.url: site for site in sites}
    found: dict[str, Document] = {}
    lock = threading.Lock()
    stops = (cancel,) if cancel is not None else ()

    def one(site: SiteStatus) -> None:
        session = Session("download", timeout, env, resolver, deadline, stops)
        try:
            document = parse(site, fetch_with(session)(site.url, (), None))
        except ProbeFailure as failure:
            document = Document(site, problem=f"{mask_url(site.url)}: {failure.reason}")
        except Exception as exc:  # noqa: BLE001 - a status page must never break the run
            document = Document(site, problem=f"{mask_url(site.url)}: {exc!r}")
        with lock:
            found[site.url] = document

    threads = [
        threading.Thread(target=one, args=(site,), name="envdoctor-sync-status", daemon=True)
        for site in unique.values()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        result = dict(found)
    for url, site in unique.items():
        result.setdefault(url, Document(site, problem=f"{mask_url(url)}: no answer in time"))
    return result


def site_freshness(
    url: str, documents: Mapping[str, Document], sites: Sequence[SiteStatus], now: float
) -> Freshness | None:
    """What ``url``'s site says of it: None when the site publishes nothing known or
    has no job for it; "unknown" words when the document could not be read."""
    site = site_for(url, sites)
    if site is None:
        return None
    document = documents.get(site.url)
    if document is None:
        return None
    if document.problem is not None:
        return Freshness(f"sync status unknown: {document.problem}")
    job = job_for(url, document)
    return None if job is None else freshness_of(job, document, now)
