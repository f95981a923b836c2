"""Which mirror of each target answers, how fast, and which one is configured now.

Candidates come from profiles (shipped and user) and from the configuration the tools
really use (each tool module's ``resolve``); :mod:`envdoctor.net` measures each with
the request its tool's client makes (``pull_path``).  This
module only gathers, deduplicates, measures once per URL and ranks; rendering is
:mod:`envdoctor.render`'s job.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from envdoctor import tools
from envdoctor.net.icmp import icmp_rtt
from envdoctor.net.measure import measure_all, with_freshness
from envdoctor.net.pull import Freshness
from envdoctor.net.ranking import rank
from envdoctor.net.results import Measurement
from envdoctor.net.session import PullPath
from envdoctor.net.sync_status import (
    SITES,
    SiteStatus,
    combine,
    fetch_documents,
    site_for,
    site_freshness,
)
from envdoctor.redact import with_userinfo
from envdoctor.tools import MIRROR_TOOLS
from envdoctor.tools.docker import DOCKER_HUB

if TYPE_CHECKING:
    from envdoctor.context import Context
    from envdoctor.profiles import Profile

TARGETS: tuple[str, ...] = MIRROR_TOOLS
"""The tools whose mirrors are measured (the kernel has none)."""

OCI_TARGETS = frozenset({"docker", "containerd", "podman"})
"""The targets measured with Docker's pull path, which a profile's ``probe-image`` and
``--image`` choose the image of."""

LATENCY_DEADLINE_S = 5.0
"""The default global deadline for measuring every mirror's latency."""


@dataclass(frozen=True)
class Candidate:
    """One mirror of one target, and who points at it."""

    target: str
    url: str
    """Base URL as a tool is configured with it, masked and without a trailing ``/``."""
    profiles: tuple[str, ...] = ()
    configured: bool = False
    """This is what the tool uses now."""
    request_url: str | None = field(default=None, repr=False, compare=False)
    """:attr:`url` with the credentials it is configured with, to make the requests with
    and never to show (the JSON documents do not carry it); None: :attr:`url` itself."""
    probe_image: str | None = None
    """The image to ask this registry mirror for, from the ``probe-image`` of a profile that
    names it (:func:`probe_image`: Docker, containerd and podman mirrors); None: the
    default.  In a measured :class:`Entry`, the image that was asked (``--image`` over the
    profile's)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "url": self.url,
            "profiles": list(self.profiles),
            "configured": self.configured,
        }


@dataclass(frozen=True)
class Entry:
    candidate: Candidate
    measurement: Measurement
    icmp_rtt_s: float | None = None
    icmp_method: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.candidate.to_json(),
            "measurement": self.measurement.to_json(),
            "icmp_rtt_s": self.icmp_rtt_s,
            "icmp_method": self.icmp_method,
        }


@dataclass(frozen=True)
class Ranking:
    """The mirrors of one target, best first (healthy ones before failed ones)."""

    target: str
    entries: tuple[Entry, ...]

    @property
    def best(self) -> Entry | None:
        first = self.entries[0] if self.entries else None
        return first if first is not None and first.measurement.healthy else None

    @property
    def configured(self) -> Entry | None:
        return next((e for e in self.entries if e.candidate.configured), None)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "mirrors": [entry.to_json() for entry in self.entries]}


def _with_advice(measured: Measurement, advice: str | None) -> Measurement:
    """``measured`` with this client's parallel remedy: pip and uv (Docker and
    containerd) share one measurement of an index (a registry) they ask alike, and each
    has its own knob, or none."""
    if measured.parallel_remedy is None or measured.parallel_remedy == advice:
        return measured
    return dataclasses.replace(measured, parallel_remedy=advice)


def canonical(target: str, url: str) -> str:
    """The form two spellings of one mirror share (the tool's own ``canonical``): masked,
    no trailing ``/``, and for conda the Anaconda base rather than its ``/pkgs/main``."""
    return tools.load(target).canonical(url)


def gather(
    *,
    profiles: Iterable[Profile],
    configured: Mapping[str, Sequence[str]] | None = None,
    targets: Sequence[str] = TARGETS,
) -> list[Candidate]:
    """Every distinct mirror per target, from the profiles and the current configuration.

    A profile that configures Docker with no registry mirror means Docker Hub itself,
    and so does a daemon with none configured: both are measured as :data:`DOCKER_HUB`.
    Configured indexes that are not http(s) (``file:///srv/wheels``) have no mirror to
    measure and are left out.
    """
    found: dict[tuple[str, str], tuple[list[str], bool]] = {}
    images: dict[tuple[str, str], str] = {}  # the first profile's probe image wins
    secrets: dict[tuple[str, str], str] = {}  # the URL with its credentials, to ask

    def add(
        target: str, url: str, profile: str | None, is_configured: bool, image: str | None = None
    ) -> None:
        if target not in targets:
            return
        scheme, sep, _ = url.strip().partition("://")
        if sep and scheme.lower() not in ("http", "https"):
            return
        key = (target, canonical(target, url))
        asked = with_userinfo(key[1], url.strip())
        if asked != key[1]:  # the masked form is shown; the requests need the rest
            secrets.setdefault(key, asked)
        names, was_configured = found.get(key, ([], False))
        if profile is not None and profile not in names:
            names.append(profile)
        found[key] = (names, was_configured or is_configured)
        if image is not None and target in OCI_TARGETS:
            images.setdefault(key, image)

    from envdoctor.profiles import endpoints

    for profile in profiles:
        for endpoint in endpoints(profile):
            image = probe_image(profile, endpoint.target)
            add(endpoint.target, endpoint.url, profile.name, False, image)
        if profile.docker is not None and not profile.docker.registry_mirrors:
            add("docker", DOCKER_HUB, profile.name, False, profile.docker.probe_image)
    for target, urls in (configured or {}).items():
        for url in urls or ([DOCKER_HUB] if target == "docker" else []):
            add(target, url, None, True)
    order = {target: index for index, target in enumerate(TARGETS)}
    candidates = [
        Candidate(
            target=target,
            url=url,
            profiles=tuple(names),
            configured=is_configured,
            request_url=secrets.get((target, url)),
            probe_image=images.get((target, url)),
        )
        for (target, url), (names, is_configured) in found.items()
    ]
    return sorted(candidates, key=lambda c: (order.get(c.target, len(order)), not c.configured))


def probe_image(profile: Profile, target: str) -> str | None:
    """The image ``profile`` names for measuring its ``target`` registry mirrors: the
    target's own ``probe-image`` (``[containerd]``, ``[podman]``), else ``[docker]``'s;
    None: the default."""
    if target not in OCI_TARGETS:
        return None
    image: str | None = getattr(getattr(profile, target, None), "probe_image", None)
    if image is None and profile.docker is not None:
        image = profile.docker.probe_image
    return image


def measure(
    ctx: Context,
    candidates: Sequence[Candidate],
    *,
    samples: int = 3,
    timeout: float = LATENCY_DEADLINE_S,
    throughput: bool = False,
    throughput_seconds: float = 1.0,
    icmp: bool = True,
    pull: tools.PullOptions | None = None,
    sync_sites: Sequence[SiteStatus] | None = None,
) -> list[Ranking]:
    """Measure each distinct URL once (pip and uv often share one), rank per target.

    ``timeout`` is a wall-clock deadline for the whole run, downloads included, enforced
    on every read whatever a server does.  Latency of all mirrors runs concurrently; with
    ``throughput`` the healthy mirrors are then downloaded together, and alone where that
    matters (:mod:`envdoctor.net.downloads`), each window ``throughput_seconds`` or its
    share of the time left.
    ``pull.image`` (``--image``) is the image asked of every registry mirror, over a
    profile's ``probe-image``.
    Then the sites of the healthy mirrors that publish their sync status
    (``sync_sites``, default :data:`~envdoctor.net.sync_status.SITES`) are asked, one
    request per document, concurrently, in what is left of the deadline
    (:func:`with_site_status`).
    """
    started = time.monotonic()
    requests: dict[tuple[str, str], PullPath] = {}
    # each candidate as asked (the image asked of it), its request and its client's knob
    planned: list[tuple[Candidate, tuple[str, str], str | None]] = []
    for candidate in candidates:
        image = None
        if candidate.target in OCI_TARGETS:
            image = (pull.image if pull is not None else None) or candidate.probe_image
            if image != candidate.probe_image:  # --image: the entry says what was asked
                candidate = dataclasses.replace(candidate, probe_image=image)
        options = tools.PullOptions(image=image) if image is not None else None
        path = tools.pull_path(candidate.request_url or candidate.url, candidate.target, options)
        # one request per URL and client, and per probe image where one is named
        key = (candidate.url, path.kind + (f" {image}" if image else ""))
        requests.setdefault(key, path)
        planned.append((candidate, key, path.parallel_advice))
    ordered = list(requests)
    deadline = timeout
    icmp_results: dict[str, tuple[float | None, str]] = {}
    icmp_thread = _start_icmp(ctx, ordered, icmp_results, min(timeout, 2.0)) if icmp else None
    measurements = measure_all(
        list(requests.values()),
        env=ctx.env,
        samples=samples,
        timeout=timeout,
        deadline_s=deadline,
        throughput=throughput,
        throughput_seconds=throughput_seconds,
        cancel=ctx.cancel,
    )
    measurements = with_site_status(
        ctx,
        measurements,
        deadline=started + timeout,
        sites=SITES if sync_sites is None else sync_sites,
    )
    measurements = [  # as each tool shows them: conda hides its channel tokens
        tools.shown_measurement(path.kind, measured)
        for path, measured in zip(requests.values(), measurements, strict=True)
    ]
    if icmp_thread is not None:
        icmp_thread.join(max(0.0, min(timeout, 2.0)))
    by_request = dict(zip(ordered, measurements, strict=True))
    rankings = []
    for target in TARGETS:
        mine = [plan for plan in planned if plan[0].target == target]
        if not mine:
            continue
        entries = {}
        own: dict[int, Measurement] = {}  # id(shared measurement) -> this target's view
        for candidate, key, advice in mine:
            shared = by_request[key]
            measured = own.setdefault(id(shared), _with_advice(shared, advice))
            rtt, method = icmp_results.get(_host(candidate.url), (None, None))
            entries[id(measured)] = Entry(candidate, measured, rtt, method)
        ranked = rank(entry.measurement for entry in entries.values())
        rankings.append(Ranking(target, tuple(entries[id(m)] for m in ranked)))
    return rankings


def with_site_status(
    ctx: Context,
    measurements: Sequence[Measurement],
    *,
    deadline: float,
    sites: Sequence[SiteStatus] = SITES,
) -> list[Measurement]:
    """``measurements`` with what their sites say of their sync (see
    :mod:`envdoctor.net.sync_status`), combined with what their pull steps found.

    Only healthy mirrors on a site in ``sites`` are looked up, each document once,
    concurrently, and never past ``deadline`` (a ``time.monotonic()`` value): a status
    URL that does not answer in time leaves those mirrors' freshness as it was.  A
    mirror is looked up by its configured URL, else by the host that answered it (a
    redirector's campus mirror).
    """
    wanted: dict[int, tuple[str, SiteStatus]] = {}
    for index, measured in enumerate(measurements):
        if not measured.healthy:
            continue
        for url in (measured.base_url or measured.url, measured.final_url):
            site = site_for(url, sites) if url else None
            if url and site is not None:
                wanted[index] = (url, site)
                break
    if not wanted or deadline - time.monotonic() < MIN_STATUS_S:
        return list(measurements)
    documents = fetch_documents(
        [site for _, site in wanted.values()],
        env=ctx.env,
        deadline=deadline,
        timeout=max(MIN_STATUS_S, deadline - time.monotonic()),
        cancel=ctx.cancel,
    )
    now = time.time()
    updated = list(measurements)
    for index, (url, _) in wanted.items():
        measured = measurements[index]
        said = site_freshness(url, documents, sites, now)
        if said is None:
            continue
        tool = None
        if measured.freshness is not None:
            tool = Freshness(measured.freshness, measured.lag_s, measured.serials_behind)
        updated[index] = with_freshness(measured, combine(tool, said))
    return updated


MIN_STATUS_S = 0.2
"""Less time than this left before the deadline: the sites' sync status is not asked."""


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""


def _start_icmp(
    ctx: Context,
    requests: Sequence[tuple[str, str]],
    into: dict[str, tuple[float | None, str]],
    timeout: float,
) -> threading.Thread | None:
    """ICMP round trips to every host, in the background; never required."""
    from envdoctor.net.icmp import icmp_permission

    if icmp_permission(ctx) == "not permitted":
        return None
    hosts = sorted({_host(url) for url, _ in requests} - {""})

    def ping_all() -> None:
        workers = [
            threading.Thread(target=_ping_one, args=(host, ctx, into, timeout), daemon=True)
            for host in hosts
        ]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + timeout + 0.5
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    thread = threading.Thread(target=ping_all, name="icmp", daemon=True)
    thread.start()
    return thread


def _ping_one(
    host: str, ctx: Context, into: dict[str, tuple[float | None, str]], timeout: float
) -> None:
    into[host] = icmp_rtt(host, ctx, timeout=timeout)
