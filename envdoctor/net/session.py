"""One measurement's requests: resolve, connect, tunnel, TLS, send, read the head, follow
redirects and time the body, every blocking step within the timeout and the deadline."""

from __future__ import annotations

import base64
import errno
import socket
import ssl
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urlsplit

from envdoctor import __version__
from envdoctor.net.body import BODY_BUFFER_BYTES, STEADY_STEP_S, read_buffer, steady_rate
from envdoctor.net.dualstack import ConnectFailed, fallback_words, family_name, race
from envdoctor.net.head import Headers, HeadTooLarge, parse_fields
from envdoctor.net.proxy import (
    DEFAULT_PORTS,
    Proxy,
    ProxyRules,
    ip_or_none,
    parse_proxy,
    proxy_for,
)
from envdoctor.net.pull import FindLargeFile
from envdoctor.net.results import (
    PHASE_WORDS,
    Outcome,
    Phase,
    ProbeFailure,
    Sample,
    host_port,
    redirect_target,
)
from envdoctor.redact import mask_url

Resolver = Callable[[str, int, int, int], Sequence[tuple[Any, Any, int, str, tuple[Any, ...]]]]
"""``socket.getaddrinfo`` or a stand-in: ``(host, port, family, type) -> addrinfo list``."""


def system_resolver(
    host: str, port: int, family: int, kind: int
) -> Sequence[tuple[Any, Any, int, str, tuple[Any, ...]]]:
    """``socket.getaddrinfo``, looked up at each call (so that a test's guard on it, or
    a caller's patch, applies to every measurement)."""
    return socket.getaddrinfo(host, port, family, kind)


MAX_REDIRECTS = 5


SMALL_READ_BYTES = 16 * 1024
"""Body bytes a latency sample reads after the headers before hanging up."""


_USER_AGENT = f"envdoctor/{__version__} (mirror check)"


_MAX_HEAD_BYTES = 64 * 1024


RECV_BYTES = 256 * 1024
"""The largest read of a head or a small body."""


_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


_UNREACHABLE_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EADDRNOTAVAIL}
)


_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


@dataclass(frozen=True)
class PullPath:
    """What to ask a mirror, as its tool's client would: given by each tool module.

    ``probe_url`` is the first small request the client makes (latency); ``throughput_url``
    a large body worth timing, or None when there is none to fetch anonymously.
    """

    base_url: str
    kind: str
    probe_url: str
    throughput_url: str | None
    alive_statuses: frozenset[int] = frozenset()
    large_file: FindLargeFile | None = None
    """The client's steps from the first answer to the file it downloads (a registry's
    token, manifest and layer): run once after the latency samples; a refusal there is
    a named failure, and the file found is what throughput times."""
    proxy_rules: ProxyRules = "requests"
    """Whose ``*_proxy`` rules the tool's client follows (:mod:`envdoctor.net.proxy`)."""
    parallel_advice: str | None = None
    """The client's knob for parallel downloads, in words (``HF_XET_HIGH_PERFORMANCE=1``):
    given, the large file's Range support and 1 vs 4 and 8 connections are measured, and
    this is the remedy when more connections help."""


_TRUST_LOCK = threading.Lock()


@lru_cache(maxsize=16)
def _ssl_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile, capath=capath)


def trust_store(env: Mapping[str, str]) -> ssl.SSLContext:
    """The trust store pip or curl would use under ``env``, built once per run.

    Loading the system store takes tens of milliseconds; without the lock every mirror's
    thread would miss the cache at once and load it again, serialised on the GIL, and
    that time would land in the first sample's TLS phase.  :func:`measure_all` calls this
    before its threads start.
    """
    with _TRUST_LOCK:
        return _ssl_context_for(env)


def _ssl_context_for(env: Mapping[str, str]) -> ssl.SSLContext:
    """The trust store pip or curl would use under ``env``.

    ``REQUESTS_CA_BUNDLE`` then ``CURL_CA_BUNDLE`` (requests' order), then OpenSSL's
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``; a bundle replaces the system store, as it does
    for those clients.  None set: the system store.
    """
    source = next(
        (
            name
            for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
            if env.get(name)
        ),
        None,
    )
    cafile = env[source] if source else None
    capath = env.get("SSL_CERT_DIR") or None
    if cafile and Path(cafile).is_dir():
        cafile, capath = None, cafile
    try:
        return _ssl_context(cafile, capath)
    except (OSError, ssl.SSLError) as exc:
        name = source or "SSL_CERT_DIR"
        raise ProbeFailure(
            Outcome.TLS_ERROR,
            f"cannot load the CA bundle {env.get(name)!r} named by {name}: {words(exc)}",
            "tls",
        ) from None


class Progress:
    """Where a measurement stands, readable from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phase: Phase = "queued"
        self.samples: list[Sample] = []
        self.proxy: str | None = None
        self.families: dict[str, None] = {}
        self.fallbacks: dict[str, str] = {}

    def enter(self, phase: Phase) -> None:
        with self._lock:
            self.phase = phase

    def add(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)

    def connected(self, host: str, family: str, fallback: str | None) -> None:
        """A connection to ``host`` over ``family``; ``fallback`` says how the other
        family failed first, if it did."""
        with self._lock:
            self.families.setdefault(family, None)
            if fallback is not None:
                self.fallbacks.setdefault(host, fallback)

    def dual_stack(self) -> tuple[tuple[str, ...], dict[str, str]]:
        """Families that connected, and per host how the other family failed."""
        with self._lock:
            return tuple(self.families), dict(self.fallbacks)

    def snapshot(self) -> tuple[Phase, tuple[Sample, ...], str | None]:
        with self._lock:
            return self.phase, tuple(self.samples), self.proxy


@dataclass
class _Head:
    status: int
    reason: str
    headers: Headers
    first_byte_at: float
    done_at: float
    leftover: bytes


@dataclass
class _Hop:
    url: str
    sock: socket.socket
    head: _Head
    dns_s: float
    connect_s: float
    tls_s: float | None
    ttfb_s: float
    address: str
    proxy: str | None
    redirect_headers: tuple[dict[str, str], ...] = ()
    """The headers of each redirect answered before this hop, names in lower case (a
    hub sends its file metadata, Xet's included, on the redirect to its CDN)."""


@dataclass
class Session:
    """Settings shared by every request of one measurement."""

    kind: str
    """The tool whose client is imitated (shown in results)."""
    timeout: float
    env: Mapping[str, str]
    resolver: Resolver
    deadline: float | None
    stops: tuple[threading.Event, ...]
    progress: Progress = field(default_factory=Progress)
    alive_statuses: frozenset[int] = frozenset()
    """Answers besides 2xx that show a live server to this client (a registry's 401)."""
    deadline_bound: bool = False
    """The last :meth:`budget` was cut short by the deadline rather than the timeout."""
    proxy_rules: ProxyRules = "requests"
    """Whose ``no_proxy`` rules decide which requests go through the proxy."""

    def budget(self, phase: Phase, step_until: float | None = None) -> float:
        """Seconds the next blocking step may take; raises when none are left.

        ``step_until`` (a ``time.monotonic()`` value) bounds a step made of many reads,
        such as a head the server sends one byte at a time: each read is short, but the
        whole step may not take longer than the timeout.
        """
        if any(stop.is_set() for stop in self.stops):
            raise ProbeFailure(Outcome.CANCELLED, "cancelled", phase)
        self.progress.enter(phase)
        now = time.monotonic()
        if step_until is not None and step_until - now <= 0:
            raise ProbeFailure(
                Outcome.TIMEOUT,
                f"{PHASE_WORDS[phase]} still incomplete after {self.timeout:g} s: "
                "the server sends it too slowly",
                phase,
            )
        limit = self.timeout if step_until is None else min(self.timeout, step_until - now)
        if self.deadline is None:
            return limit
        remaining = self.deadline - now
        if remaining <= 0:
            raise ProbeFailure(
                Outcome.TIMEOUT, f"deadline reached before {PHASE_WORDS[phase]}", phase
            )
        self.deadline_bound = remaining < limit
        return min(limit, remaining)

    # ---- one request, one hop

    def open(
        self, url: str, *, authorization: str | None, headers: Sequence[tuple[str, str]] = ()
    ) -> _Hop:
        """Connect, send GET ``url`` and read the answer's head (not following redirects)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ProbeFailure(Outcome.ERROR, f"not an http(s) URL: {mask_url(url)}", None)
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError:
            raise ProbeFailure(Outcome.ERROR, f"bad port in {mask_url(url)}", None) from None
        host = parts.hostname
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise ProbeFailure(
                    Outcome.ERROR, f"bad host name in {mask_url(url)}", None
                ) from None
        proxy_value = proxy_for(url, self.env, self.proxy_rules)
        proxy = parse_proxy(proxy_value) if proxy_value else None
        ssl_context = trust_store(self.env) if scheme == "https" else None
        connect_host, connect_port = (proxy.host, proxy.port) if proxy else (host, port)

        started = time.perf_counter()
        infos = self._resolve(connect_host, connect_port, proxy)
        resolved = time.perf_counter()
        sock, address = self._connect(infos, connect_host, connect_port, proxy)
        try:
            if proxy is not None and ssl_context is not None:
                self._tunnel(sock, host, port, proxy)
            connected = time.perf_counter()
            tls_s: float | None = None
            if ssl_context is not None:
                sock = self._handshake(sock, ssl_context, host)
                tls_s = time.perf_counter() - connected
            target = _origin_form(parts)
            if proxy is not None and ssl_context is None:
                target = _absolute_form(parts)
            request = _request_bytes(
                target,
                _host_header(host, port, scheme),
                authorization=authorization,
                proxy_authorization=proxy.authorization if proxy and ssl_context is None else None,
                headers=headers,
            )
            sock.settimeout(self.budget("first_byte"))
            sent_at = self._send(sock, request)
            head = self._read_head(sock, "first_byte")
        except BaseException:
            sock.close()
            raise
        if proxy is not None and head.status == 407:
            sock.close()
            raise ProbeFailure(
                Outcome.PROXY_ERROR,
                f"proxy {proxy.display} wants credentials (HTTP 407)",
                "first_byte",
                407,
            )
        return _Hop(
            url=url,
            sock=sock,
            head=head,
            dns_s=resolved - started,
            connect_s=connected - resolved,
            tls_s=tls_s,
            ttfb_s=head.first_byte_at - sent_at,
            address=address,
            proxy=proxy.display if proxy else None,
        )

    def _resolve(
        self, host: str, port: int, proxy: Proxy | None
    ) -> list[tuple[Any, Any, int, str, tuple[Any, ...]]]:
        budget = self.budget("dns")
        try:
            if ip_or_none(host.strip("[]")) is not None:
                return list(self.resolver(host, port, 0, socket.SOCK_STREAM))
            return _resolve_with_timeout(self.resolver, host, port, budget)
        except socket.gaierror as exc:
            reason = f"cannot resolve {host}: {exc.strerror or exc}"
            if proxy is not None:
                raise ProbeFailure(
                    Outcome.PROXY_ERROR, f"proxy {proxy.display}: {reason}", "dns"
                ) from None
            raise ProbeFailure(Outcome.DNS_ERROR, reason, "dns") from None
        except TimeoutError:
            reason = f"DNS lookup of {host} took longer than {budget:.1f} s"
            if proxy is not None:
                raise ProbeFailure(
                    Outcome.PROXY_ERROR, f"proxy {proxy.display}: {reason}", "dns"
                ) from None
            raise ProbeFailure(Outcome.TIMEOUT, reason, "dns") from None
        except OSError as exc:
            reason = f"cannot resolve {host}: {words(exc)}"
            raise ProbeFailure(Outcome.DNS_ERROR, reason, "dns") from None

    def _connect(
        self,
        infos: Sequence[tuple[Any, Any, int, str, tuple[Any, ...]]],
        host: str,
        port: int,
        proxy: Proxy | None,
    ) -> tuple[socket.socket, str]:
        if not infos:
            raise ProbeFailure(Outcome.DNS_ERROR, f"{host} has no address", "dns")
        try:
            sock, shown, failures = race(
                infos,
                attempt_timeout=lambda: self.budget("connect"),
                check=lambda: self._check_stops("connect"),
            )
        except ConnectFailed as exc:
            last: OSError = exc.last
            families = {failure.family for failure in exc.failures}
            if len(families) > 1:
                detail = "; ".join(
                    f"{failure.family} {failure.address}: {words(failure.error)}"
                    for failure in exc.failures
                    if failure.error is not None
                )
                failure = self.classify(last, "connect", f"{host}:{port}")
                failure.reason += f" (every address failed: {detail})"
            else:
                failure = self.classify(last, "connect", f"{host}:{port}")
            if proxy is not None:
                failure = ProbeFailure(
                    Outcome.PROXY_ERROR, f"proxy {proxy.display}: {failure.reason}", "connect"
                )
            raise failure from None
        # As curl and urllib3 do: no Nagle delay on the request.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        won = family_name(sock.family)
        self.progress.connected(host, won, fallback_words(failures, won))
        return sock, shown

    def _check_stops(self, phase: Phase) -> None:
        if any(stop.is_set() for stop in self.stops):
            raise ProbeFailure(Outcome.CANCELLED, "cancelled", phase)
        if self.deadline is not None and self.deadline <= time.monotonic():
            raise ProbeFailure(
                Outcome.TIMEOUT, f"deadline reached while waiting for {PHASE_WORDS[phase]}", phase
            )

    def _tunnel(self, sock: socket.socket, host: str, port: int, proxy: Proxy) -> None:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [
            f"CONNECT {authority} HTTP/1.1",
            f"Host: {authority}",
            f"User-Agent: {_USER_AGENT}",
        ]
        if proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        try:
            sock.settimeout(self.budget("proxy"))
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            head = self._read_head(sock, "proxy")
        except ProbeFailure as failure:
            if failure.outcome in (Outcome.CANCELLED,):
                raise
            raise ProbeFailure(
                Outcome.PROXY_ERROR, f"proxy {proxy.display}: {failure.reason}", "proxy"
            ) from None
        if head.status != 200:
            hint = " (it wants credentials)" if head.status == 407 else ""
            raise ProbeFailure(
                Outcome.PROXY_ERROR,
                f"proxy {proxy.display} refused CONNECT {authority}: "
                f"HTTP {head.status} {head.reason}{hint}".rstrip(),
                "proxy",
                head.status,
            )

    def _handshake(self, sock: socket.socket, context: ssl.SSLContext, host: str) -> ssl.SSLSocket:
        try:
            tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
        except (OSError, ValueError) as exc:
            raise ProbeFailure(Outcome.TLS_ERROR, f"TLS setup failed: {exc}", "tls") from None
        try:
            tls.settimeout(self.budget("tls"))
            tls.do_handshake()
        except OSError as exc:
            raise self.classify(exc, "tls", host) from None
        return tls

    def _send(self, sock: socket.socket, request: bytes) -> float:
        try:
            sock.sendall(request)
        except OSError as exc:
            raise self.classify(exc, "first_byte", "") from None
        return time.perf_counter()

    def _read_head(self, sock: socket.socket, phase: Phase) -> _Head:
        buffer = bytearray()
        first_byte_at: float | None = None
        until = time.monotonic() + self.timeout
        while True:
            try:
                sock.settimeout(self.budget(phase, until))
                chunk = sock.recv(RECV_BYTES)
            except OSError as exc:
                if isinstance(exc, TimeoutError) and first_byte_at is not None:
                    self.budget(phase, until)  # the deadline's or the step's words
                    raise ProbeFailure(
                        Outcome.TIMEOUT, "headers stalled halfway (read timeout)", phase
                    ) from None
                raise self.classify(exc, phase, "") from None
            now = time.perf_counter()
            if not chunk:
                if first_byte_at is None:
                    raise ProbeFailure(
                        Outcome.RESET, "closed the connection without answering", phase
                    )
                raise ProbeFailure(Outcome.RESET, "closed the connection mid-headers", phase)
            if first_byte_at is None:
                first_byte_at = now
            buffer += chunk
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                status, reason, headers = _parse_head(bytes(buffer[: end + 4]), phase)
                del buffer[: end + 4]
                # 1xx (100 Continue, 103 Early Hints) is interim: the answer follows.
                if not 100 <= status < 200:
                    return _Head(status, reason, headers, first_byte_at, now, bytes(buffer))
            if len(buffer) > _MAX_HEAD_BYTES:
                raise ProbeFailure(
                    Outcome.ERROR,
                    "not a usable HTTP answer: the server sent headers over 64 KiB",
                    phase,
                )

    def classify(self, exc: OSError, phase: Phase, where: str) -> ProbeFailure:
        at = f" {where}" if where else ""
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ProbeFailure(
                Outcome.TLS_ERROR,
                f"certificate of{at} rejected: {exc.verify_message or exc.reason}",
                phase,
            )
        if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return ProbeFailure(
                Outcome.RESET, f"closed the connection during {PHASE_WORDS[phase]}", phase
            )
        if isinstance(exc, ssl.SSLError):
            return ProbeFailure(Outcome.TLS_ERROR, f"TLS error{at}: {exc.reason or exc}", phase)
        if isinstance(exc, TimeoutError):
            if self.deadline_bound:
                return ProbeFailure(
                    Outcome.TIMEOUT,
                    f"deadline reached while waiting for {PHASE_WORDS[phase]}",
                    phase,
                )
            limit = f"{self.timeout:g} s"
            what = {
                "connect": f"connect to{at} timed out",
                "tls": "TLS handshake timed out",
                "proxy": "no answer to CONNECT",
                "first_byte": "no answer (read timeout)",
                "body": "body stalled (read timeout)",
            }.get(phase, f"{phase} timed out")
            return ProbeFailure(Outcome.TIMEOUT, f"{what} after {limit}", phase)
        if isinstance(exc, ConnectionRefusedError):
            return ProbeFailure(Outcome.REFUSED, f"connection to{at} refused", phase)
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)) or (
            exc.errno in _RESET_ERRNOS
        ):
            return ProbeFailure(
                Outcome.RESET, f"connection reset during {PHASE_WORDS[phase]}", phase
            )
        if exc.errno in _UNREACHABLE_ERRNOS:
            return ProbeFailure(
                Outcome.UNREACHABLE, f"{where or 'host'} unreachable: {words(exc)}", phase
            )
        return ProbeFailure(
            Outcome.ERROR, f"{PHASE_WORDS.get(phase, phase)} failed: {words(exc)}", phase
        )

    # ---- a request with its redirects

    def follow(
        self,
        url: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        authorization: str | None = None,
    ) -> tuple[_Hop, float, list[str], str | None]:
        """GET ``url`` following redirects; the final hop (still open), the seconds spent
        on earlier hops, the redirect hosts and the first hop's proxy.

        ``authorization`` (else the URL's own credentials) goes to the first host only,
        as requests and dockerd do: a redirect to a CDN does not get the token;
        ``headers`` go with every hop."""
        original_host = host_port(url)
        authorization = authorization or _basic_auth(url)
        redirect_s = 0.0
        hosts: list[str] = []
        earlier: list[dict[str, str]] = []
        proxy: str | None = None
        current = url
        status = 0
        for hop_number in range(MAX_REDIRECTS + 1):
            hop_started = time.perf_counter()
            same_host = host_port(current) == original_host
            hop = self.open(
                current, authorization=authorization if same_host else None, headers=headers
            )
            if hop_number == 0:
                proxy = hop.proxy
                self.progress.proxy = proxy
            status = hop.head.status
            location = hop.head.headers.get("Location")
            if status not in _REDIRECT_CODES:
                hop.redirect_headers = tuple(earlier)
                return hop, redirect_s, hosts, proxy
            earlier.append({name.lower(): value for name, value in hop.head.headers.items()})
            hop.sock.close()
            current = redirect_target(current, location, status)
            hosts.append(host_port(current))
            redirect_s += time.perf_counter() - hop_started
        raise ProbeFailure(
            Outcome.HTTP_ERROR,
            f"more than {MAX_REDIRECTS} redirects (last to {mask_url(current)})",
            "first_byte",
            status,
        )

    def alive(self, status: int) -> bool:
        return 200 <= status < 300 or status in self.alive_statuses

    def sample(self, url: str) -> tuple[Sample, str, list[str], str | None]:
        started = time.perf_counter()
        hop, redirect_s, hosts, proxy = self.follow(url)
        try:
            head = hop.head
            if not self.alive(head.status):
                failure = ProbeFailure(
                    Outcome.HTTP_ERROR,
                    f"HTTP {head.status} {head.reason}".rstrip() + via(proxy),
                    "first_byte",
                    head.status,
                )
                failure.final_url, failure.redirects = hop.url, hosts
                raise failure
            self._read_some(hop.sock, SMALL_READ_BYTES - len(head.leftover))
        finally:
            hop.sock.close()
        sample = Sample(
            dns_s=hop.dns_s,
            connect_s=hop.connect_s,
            tls_s=hop.tls_s,
            ttfb_s=hop.ttfb_s,
            redirect_s=redirect_s,
            total_s=time.perf_counter() - started,
            status_code=head.status,
            address=hop.address,
        )
        return sample, hop.url, hosts, proxy

    def _read_some(self, sock: socket.socket, wanted: int) -> None:
        until = time.monotonic() + self.timeout
        while wanted > 0:
            try:
                sock.settimeout(self.budget("body", until))
                chunk = sock.recv(min(wanted, RECV_BYTES))
            except OSError as exc:
                raise self.classify(exc, "body", "") from None
            if not chunk:
                return
            wanted -= len(chunk)

    def time_body(
        self,
        sock: socket.socket,
        started: float,
        seconds: float,
        max_bytes: int,
        steady: bool = False,
        buffer_bytes: int | None = None,
    ) -> tuple[int, float, bool, bool]:
        """Read the body for ``seconds`` after ``started``, ``max_bytes``, to its end or (with
        ``steady``) a steady rate: ``(bytes, when the read ended, whole body, steady)``.  A
        read the window or the run's deadline cuts ends then, not at its last byte: a
        burst and then silence is timed over both.  One buffer (:func:`read_buffer`), filled
        by ``recv_into``: no allocation per read, so a fast link is not under-reported."""
        count = 0
        last = started
        stop_at = started + seconds
        view = memoryview(read_buffer(buffer_bytes or BODY_BUFFER_BYTES))
        marks: list[tuple[float, int]] = [(started, 0)]
        while count < max_bytes:
            now = time.perf_counter()
            window = stop_at - now
            if window <= 0:
                return count, max(last, stop_at), False, False
            if steady and now - marks[-1][0] >= STEADY_STEP_S:
                marks.append((last, count))
                if steady_rate(marks):
                    return count, last, False, True
            try:
                budget = self.budget("body")
            except ProbeFailure as failure:
                if failure.outcome is Outcome.TIMEOUT:  # the run's deadline: what came counts
                    return count, time.perf_counter(), False, False
                raise
            try:
                sock.settimeout(min(budget, window))
                got = sock.recv_into(view[: min(len(view), max_bytes - count)])
            except TimeoutError:
                if window < budget:  # the window closed, not a stall
                    return count, max(last, stop_at), False, False
                if self.deadline_bound and count:  # the run's deadline, not a stall
                    return count, time.perf_counter(), False, False
                raise self.classify(TimeoutError(), "body", "") from None
            except OSError as exc:
                raise self.classify(exc, "body", "") from None
            if not got:
                return count, last, True, False
            count += got
            last = time.perf_counter()
        return count, last, False, False


def _resolve_with_timeout(
    resolver: Resolver, host: str, port: int, timeout: float
) -> list[tuple[Any, Any, int, str, tuple[Any, ...]]]:
    """``getaddrinfo`` cannot be interrupted: run it in a daemon thread and stop waiting."""
    results: list[tuple[Any, Any, int, str, tuple[Any, ...]]] = []
    errors: list[Exception] = []
    done = threading.Event()

    def work() -> None:
        try:
            results.extend(resolver(host, port, 0, socket.SOCK_STREAM))
        except Exception as exc:  # noqa: BLE001 - re-raised in the waiting thread
            errors.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name=f"envdoctor-dns-{host}", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"DNS lookup of {host} timed out")
    if errors:
        raise errors[0]
    return results


def _parse_head(raw: bytes, phase: Phase) -> tuple[int, str, Headers]:
    status_line, _, rest = raw.partition(b"\r\n")
    words = status_line[:1024].decode("latin-1").split(None, 2)  # int() stops at 4300 digits
    if len(words) < 2 or not words[0].startswith("HTTP/") or not words[1].isdecimal():
        shown = status_line[:60].decode("latin-1", "replace")
        raise ProbeFailure(Outcome.ERROR, f"not an HTTP answer: {shown!r}", phase)
    try:
        headers = parse_fields(rest)
    except HeadTooLarge as exc:
        # More than 100 header lines, or one over 64 KiB: http.client (so pip and
        # requests) gives up on such an answer too.
        raise ProbeFailure(
            Outcome.ERROR, f"not a usable HTTP answer: the server sent {exc.what}", phase
        ) from None
    return int(words[1]), words[2].strip() if len(words) > 2 else "", headers


def _origin_form(parts: SplitResult) -> str:
    path = parts.path or "/"
    target = f"{path}?{parts.query}" if parts.query else path
    # A request line is ASCII: percent-encode anything else, as browsers and requests do.
    return "".join(char if char.isascii() else quote(char) for char in target)


def _absolute_form(parts: SplitResult) -> str:
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}{_origin_form(parts)}"


def _host_header(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port == DEFAULT_PORTS[scheme] else f"{shown}:{port}"


def _basic_auth(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def _request_bytes(
    target: str,
    host: str,
    *,
    authorization: str | None,
    proxy_authorization: str | None,
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    given = {name.lower() for name, _ in headers}
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}",
        f"User-Agent: {_USER_AGENT}",
        *([] if "accept" in given else ["Accept: */*"]),
        "Accept-Encoding: identity",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    if proxy_authorization:
        lines.append(f"Proxy-Authorization: {proxy_authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def via(proxy: str | None) -> str:
    return f" (via proxy {proxy})" if proxy else ""


def words(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None
