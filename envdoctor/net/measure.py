"""Truthful measurements of HTTP(S) mirrors: DNS, connect, TLS, first byte, throughput.

Every sample opens a fresh connection, as a cold ``pip``, ``conda`` or ``docker pull``
does, and times each phase separately the way curl reports them (``time_namelookup``,
``time_connect``, ``time_appconnect``, ``time_starttransfer``), except that the fields
here are durations of each phase rather than curl's running totals:

``dns_s``
    the ``getaddrinfo`` call (of the proxy's host when a proxy is used);
``connect_s``
    the TCP connect (through a proxy: to the proxy, plus its answer to ``CONNECT``);
``tls_s``
    the TLS handshake, ``None`` for plain http;
``ttfb_s``
    from the request sent to the first byte of the answer (the status line): server
    think time plus one round trip;
``redirect_s``
    time spent on the hops before the final one (curl's ``time_redirect``);
``total_s``
    the whole sample: redirects, phases, the headers and at most
    :data:`SMALL_READ_BYTES` of the body.

Truth over speed: only a 2xx answer after redirects is healthy (``401`` too for a
Docker registry's ``/v2/``, which is how a live registry answers an anonymous client);
DNS failures, refusals, resets, timeouts, certificate errors and proxy errors are
distinct :class:`Outcome` values with a one-line reason.  Certificates are checked
against the system store, or the bundle named by ``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE``; proxies come from the environment with Python
``urllib``/``requests`` semantics (see :func:`proxies_from_env`).  URLs and proxies in
results never carry credentials (:func:`mask_url`).

Typical use: ``rank(measure_all([pull_path, ...], env=ctx.env, throughput=True))``
measures every mirror's ``probe_url`` (each tool's
:class:`~envdoctor.net.session.PullPath`) concurrently, then the healthy ones' downloads
(:mod:`envdoctor.net.downloads`), all within one deadline, and
:func:`~envdoctor.net.ranking.rank` orders them best first.
:func:`measure` and :func:`measure_throughput` do one URL.

Only the standard library is used for HTTP; ``ping3`` for the optional ICMP probe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Mapping, Sequence

from envdoctor.net.chunked import ChunkedDecoder, ChunkedError, is_chunked
from envdoctor.net.downloads import add_throughput, time_download
from envdoctor.net.proxy import ProxyRules
from envdoctor.net.pull import (
    ANSWER_BODY_BYTES,
    Answer,
    Fetch,
    FindLargeFile,
    Freshness,
    LargeFile,
    PullRefused,
)
from envdoctor.net.results import (
    PHASE_WORDS,
    Measurement,
    Outcome,
    Phase,
    ProbeFailure,
    Sample,
    Throughput,
    count_of,
    host_port,
)
from envdoctor.net.session import (
    RECV_BYTES,
    Progress,
    PullPath,
    Resolver,
    Session,
    median,
    system_resolver,
    trust_store,
    via,
)
from envdoctor.redact import mask_url
from envdoctor.units import MiB

LATENCY_SHARE = 0.6
"""With throughput on, the part of the run's deadline latency may use; the rest is for
downloads.  Latency usually ends long before it: downloads then get all that is left."""


def _summarise(
    url: str,
    session: Session,
    samples: Sequence[Sample],
    *,
    outcome: Outcome,
    reason: str,
    phase: Phase | None,
    status_code: int | None,
    final_url: str | None,
    redirects: Sequence[str],
    proxy: str | None,
    elapsed_s: float,
) -> Measurement:
    ttfbs = [sample.ttfb_s for sample in samples]
    totals = [sample.total_s for sample in samples]
    families, fallbacks = session.progress.dual_stack()
    finding = None
    if fallbacks:
        host, how = next(iter(fallbacks.items()))
        broken = how.split(" ", 1)[0]
        others = [family for family in families if family != broken]
        if others:
            finding = f"{broken} to {host} is broken ({how}); {others[0]} works"
    return Measurement(
        ip_families=families,
        dual_stack=finding,
        url=mask_url(url),
        kind=session.kind,
        outcome=outcome,
        reason=reason,
        final_url=mask_url(final_url) if final_url else None,
        status_code=status_code,
        phase=phase,
        samples=tuple(samples),
        dns_s=median(sample.dns_s for sample in samples),
        connect_s=median(sample.connect_s for sample in samples),
        tls_s=median(sample.tls_s for sample in samples),
        ttfb_s=median(ttfbs),
        redirect_s=median(sample.redirect_s for sample in samples),
        total_s=median(totals),
        ttfb_min_s=min(ttfbs, default=None),
        ttfb_max_s=max(ttfbs, default=None),
        total_min_s=min(totals, default=None),
        total_max_s=max(totals, default=None),
        proxy=proxy,
        redirects=tuple(redirects),
        elapsed_s=elapsed_s,
    )


def _run_measure(
    url: str,
    session: Session,
    samples: int,
    find: FindLargeFile | None = None,
    found: list[LargeFile] | None = None,
) -> Measurement:
    started = time.perf_counter()
    measured = _run_samples(url, session, samples)
    if find is None or not measured.healthy:
        return measured
    try:
        large = find(fetch_with(session))
    except PullRefused as refused:
        return dataclasses.replace(
            measured,
            outcome=Outcome.HTTP_ERROR,
            reason=refused.reason,
            status_code=refused.status or measured.status_code,
            phase="first_byte",
            elapsed_s=time.perf_counter() - started,
        )
    except ProbeFailure as failure:
        return dataclasses.replace(
            measured,
            outcome=failure.outcome,
            reason=f"{measured.reason}, then the pull failed: {failure.reason}",
            phase=failure.phase,
            elapsed_s=time.perf_counter() - started,
        )
    if found is not None:
        found.append(large)
    measured = dataclasses.replace(
        measured,
        pull_url=mask_url(large.url),
        pull_file=large.what,
        pull_hops=large.hops,
        pull_finding=large.finding,
        elapsed_s=time.perf_counter() - started,  # the pull steps are part of the probe
    )
    return with_freshness(measured, large.freshness)


def with_freshness(measured: Measurement, freshness: Freshness | None) -> Measurement:
    """``measured`` with what ``freshness`` says of the mirror's lag (unchanged if None)."""
    if freshness is None:
        return measured
    return dataclasses.replace(
        measured,
        freshness=freshness.words,
        lag_s=freshness.lag_s,
        serials_behind=freshness.serials_behind,
    )


def fetch_with(session: Session) -> Fetch:
    """A :data:`~envdoctor.net.pull.Fetch` that makes its requests with ``session``
    (:func:`~envdoctor.net.pull.detached` gives one with a progress of its own)."""
    return _SessionFetch(session)


@dataclasses.dataclass(frozen=True)
class _SessionFetch:
    session: Session

    def __call__(
        self, url: str, headers: Sequence[tuple[str, str]], authorization: str | None
    ) -> Answer:
        return _fetch(self.session, url, headers, authorization)

    def detached(self) -> _SessionFetch:
        return _SessionFetch(dataclasses.replace(self.session, progress=Progress()))


def _fetch(
    session: Session, url: str, headers: Sequence[tuple[str, str]], authorization: str | None
) -> Answer:
    """GET ``url`` (redirects followed) and read at most :data:`ANSWER_BODY_BYTES` of
    the answer's body, within the timeout and the deadline; a chunked body is decoded
    (:mod:`envdoctor.net.chunked`), and one that does not decode is a named failure."""
    hop, _, hosts, _ = session.follow(url, headers=headers, authorization=authorization)
    try:
        head = hop.head
        if is_chunked(head.headers.get("Transfer-Encoding", "")):
            body = _read_chunked(session, hop.sock, bytes(head.leftover), hop.url, head.status)
            wanted = len(body)
        else:
            body = bytearray(head.leftover)
            wanted = ANSWER_BODY_BYTES
            size = count_of(head.headers.get("Content-Length", ""))
            if size is not None:
                wanted = min(wanted, size)
            until = time.monotonic() + session.timeout
            while len(body) < wanted:
                chunk = _recv(session, hop.sock, until, min(RECV_BYTES, wanted - len(body)))
                if not chunk:
                    break
                body += chunk
    finally:
        hop.sock.close()
    return Answer(
        url=hop.url,
        status=head.status,
        reason=head.reason,
        headers={name.lower(): value for name, value in head.headers.items()},
        body=bytes(body[:wanted]),
        redirects=tuple(hosts),
        redirect_headers=hop.redirect_headers,
    )


def _recv(session: Session, sock: socket.socket, until: float, size: int) -> bytes:
    try:
        sock.settimeout(session.budget("body", until))
        return sock.recv(size)
    except OSError as exc:
        raise session.classify(exc, "body", "") from None


def _read_chunked(
    session: Session, sock: socket.socket, leftover: bytes, url: str, status: int
) -> bytearray:
    """A chunked body's data, at most :data:`ANSWER_BODY_BYTES` of it; one that does not
    decode, or ends before its last chunk, is a :class:`ProbeFailure` naming the host."""
    decoder = ChunkedDecoder(ANSWER_BODY_BYTES)
    until = time.monotonic() + session.timeout
    raw = leftover
    try:
        while True:
            decoder.feed(raw)
            if decoder.finished:
                return decoder.data
            raw = _recv(session, sock, until, RECV_BYTES)
            if not raw:
                raise ChunkedError("the answer ends before its last chunk")
    except ChunkedError as error:
        where = host_port(url) or mask_url(url)
        raise ProbeFailure(
            Outcome.HTTP_ERROR, f"{where} sent a malformed chunked body: {error}", "body", status
        ) from None


def _run_samples(url: str, session: Session, samples: int) -> Measurement:
    started = time.perf_counter()
    final_url: str | None = None
    hosts: list[str] = []
    proxy: str | None = None
    status_code: int | None = None
    try:
        for _ in range(max(1, samples)):
            sample, final_url, hosts, proxy = session.sample(url)
            status_code = sample.status_code
            session.progress.add(sample)
    except ProbeFailure as failure:
        done = session.progress.snapshot()[1]
        reason = failure.reason
        if done:
            reason = f"sample {len(done) + 1} of {samples}: {reason}"
        return _summarise(
            url,
            session,
            done,
            outcome=failure.outcome,
            reason=reason,
            phase=failure.phase,
            status_code=failure.status_code,
            final_url=failure.final_url or final_url,
            redirects=failure.redirects or hosts,
            proxy=session.progress.proxy,
            elapsed_s=time.perf_counter() - started,
        )
    done = session.progress.snapshot()[1]
    ttfb = median(sample.ttfb_s for sample in done) or 0.0
    where = f" from {mask_url(final_url)}" if hosts and final_url else ""
    return _summarise(
        url,
        session,
        done,
        outcome=Outcome.OK,
        reason=f"HTTP {status_code}{where}, first byte in {ttfb * 1000:.0f} ms{via(proxy)}",
        phase=None,
        status_code=status_code,
        final_url=final_url,
        redirects=hosts,
        proxy=proxy,
        elapsed_s=time.perf_counter() - started,
    )


def measure(
    url: str,
    *,
    kind: str,
    env: Mapping[str, str],
    alive_statuses: frozenset[int] = frozenset(),
    samples: int = 3,
    timeout: float = 5.0,
    resolver: Resolver = system_resolver,
    cancel: threading.Event | None = None,
    deadline: float | None = None,
    proxy_rules: ProxyRules = "requests",
) -> Measurement:
    """Latency of ``url``: ``samples`` cold GETs, each phase timed, medians and spread.

    ``url`` is requested as given (each tool's ``pull_path`` says what to ask a mirror);
    ``kind`` names the client; ``alive_statuses`` are the answers besides 2xx that
    count as alive.  ``env`` supplies proxies and CA bundles
    (pass ``ctx.env``).  ``timeout`` bounds every blocking step (DNS, connect, TLS, each
    read); ``deadline`` (a ``time.monotonic()`` value) bounds the whole measurement.
    The first failing sample ends the measurement: its outcome is the result, with the
    samples completed before it.  ``proxy_rules`` names the client whose ``*_proxy``
    rules apply.  Never raises for network problems.
    """
    session = Session(
        proxy_rules=proxy_rules,
        kind=kind,
        alive_statuses=alive_statuses,
        timeout=timeout,
        env=env,
        resolver=resolver,
        deadline=deadline,
        stops=(cancel,) if cancel else (),
    )
    return _run_measure(url, session, samples)


def measure_throughput(
    url: str,
    *,
    env: Mapping[str, str],
    seconds: float = 1.0,
    max_bytes: int = 64 * MiB,
    timeout: float = 5.0,
    resolver: Resolver = system_resolver,
    cancel: threading.Event | None = None,
    deadline: float | None = None,
) -> Throughput:
    """Download rate of ``url``'s body: bytes after the headers over the time they took.

    The clock starts when the headers are complete, and bytes that arrived with them
    are not counted (they took no measurable time).  Reading stops after ``seconds``,
    ``max_bytes`` or the end of the body, whichever comes first.  Only a 2xx answer
    (after redirects) is measured.  Run one at a time: parallel downloads compete for
    the same bandwidth.
    """
    session = Session(
        kind="download",  # throughput needs a 2xx whatever the client
        timeout=timeout,
        env=env,
        resolver=resolver,
        deadline=deadline,
        stops=(cancel,) if cancel else (),
    )
    return time_download(url, session, seconds, max_bytes)


def measure_all(
    mirrors: Sequence[PullPath],
    *,
    env: Mapping[str, str],
    samples: int = 3,
    timeout: float = 5.0,
    deadline_s: float = 10.0,
    throughput: bool = False,
    throughput_seconds: float = 1.0,
    throughput_max_bytes: int = 64 * MiB,
    resolver: Resolver = system_resolver,
    cancel: threading.Event | None = None,
) -> list[Measurement]:
    """Measure mirrors, each given as its tool's :class:`PullPath`, within ``deadline_s`` seconds.

    ``deadline_s`` bounds the whole run, throughput included, whatever the servers do:
    every read is given only what is left of it.  Latency of every ``probe_url`` runs
    concurrently, one daemon thread per mirror; a mirror not done by the latency share of
    the deadline (all of it without ``throughput``, :data:`LATENCY_SHARE` with it), or by
    ``cancel``, is reported as ``timeout`` (``cancelled``) naming the phase it was stuck
    in.  Then, with ``throughput``, the healthy mirrors' files are downloaded, together
    and then the ones that matter alone, each window ``throughput_seconds`` or its share
    of the time left, whichever is shorter (:func:`~envdoctor.net.downloads.add_throughput`).
    Results come in the order given; :func:`~envdoctor.net.ranking.rank` orders them.
    """
    started = time.monotonic()
    deadline = started + deadline_s
    latency_s = deadline_s * (LATENCY_SHARE if throughput else 1.0)
    latency_deadline = started + latency_s
    if any(path.probe_url.lower().startswith("https:") for path in mirrors):
        # Once, before the threads: not inside any sample's TLS time.  A bad bundle is
        # reported by each https measurement.
        with contextlib.suppress(ProbeFailure):
            trust_store(env)
    abandon = threading.Event()
    stops = (abandon, cancel) if cancel else (abandon,)
    slots: list[Measurement | None] = [None] * len(mirrors)
    sessions: list[Session] = []
    probe_urls: list[str] = []
    finished = threading.Condition()
    large_files: list[list[LargeFile]] = [[] for _ in mirrors]

    def work(index: int, url: str, session: Session) -> None:
        try:
            result = _run_measure(
                url, session, samples, mirrors[index].large_file, large_files[index]
            )
        except Exception as exc:  # noqa: BLE001 - a bug must not hang the caller: report it
            result = Measurement(
                url=mask_url(url),
                kind=session.kind,
                outcome=Outcome.ERROR,
                reason=f"internal error: {exc!r}",
            )
        with finished:
            slots[index] = result
            finished.notify_all()

    for index, path in enumerate(mirrors):
        url = path.probe_url
        session = Session(
            path.kind,
            timeout,
            env,
            resolver,
            latency_deadline,
            stops,
            alive_statuses=path.alive_statuses,
            proxy_rules=path.proxy_rules,
        )
        sessions.append(session)
        probe_urls.append(url)
        thread = threading.Thread(
            target=work, args=(index, url, session), name=f"envdoctor-mirror-{index}", daemon=True
        )
        thread.start()

    with finished:
        while any(slot is None for slot in slots):
            if cancel is not None and cancel.is_set():
                break
            remaining = latency_deadline - time.monotonic()
            if remaining <= 0:
                break
            finished.wait(min(remaining, 0.05) if cancel is not None else remaining)
        snapshot = list(slots)
    abandon.set()

    results: list[Measurement] = []
    for index, path in enumerate(mirrors):
        slot = snapshot[index]
        if slot is None:
            slot = _unfinished(probe_urls[index], sessions[index], latency_s, deadline_s, cancel)
        results.append(dataclasses.replace(slot, base_url=mask_url(path.base_url)))

    if throughput:
        results = add_throughput(
            results,
            mirrors,
            env=env,
            timeout=timeout,
            deadline=deadline,
            seconds=throughput_seconds,
            max_bytes=throughput_max_bytes,
            resolver=resolver,
            cancel=cancel,
            large_files=[found[0] if found else None for found in large_files],
        )
    return results


def _unfinished(
    url: str,
    session: Session,
    latency_s: float,
    deadline_s: float,
    cancel: threading.Event | None,
) -> Measurement:
    phase, done, proxy = session.progress.snapshot()
    words = PHASE_WORDS.get(phase, phase)
    if cancel is not None and cancel.is_set():
        outcome, reason = Outcome.CANCELLED, f"cancelled while waiting for {words}"
    else:
        outcome = Outcome.TIMEOUT
        within = (
            f"the {deadline_s:g} s deadline"
            if latency_s >= deadline_s
            else f"the {latency_s:.3g} s of the {deadline_s:g} s deadline left for latency"
        )
        reason = f"not done within {within}: stuck waiting for {words}"
    return _summarise(
        url,
        session,
        done,
        outcome=outcome,
        reason=reason,
        phase=phase,
        status_code=None,
        final_url=None,
        redirects=(),
        proxy=proxy,
        elapsed_s=latency_s,
    )
