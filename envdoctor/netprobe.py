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

Typical use: ``rank(measure_all([(base_url, kind), ...], env=ctx.env, throughput=True))``
measures every mirror's :func:`probe_url` concurrently, then the healthy ones'
:func:`throughput_url` one at a time, all within one deadline, and orders them best
first.  :func:`measure` and :func:`measure_throughput` do one URL.

Only the standard library is used for HTTP; ``ping3`` for the optional ICMP probe.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import errno
import http.client
import io
import ipaddress
import os
import socket
import ssl
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit

from envdoctor import __version__
from envdoctor.redact import mask_url
from envdoctor.units import MiB

if TYPE_CHECKING:
    from envdoctor.context import Context

__all__ = [
    "KINDS",
    "MAX_REDIRECTS",
    "REFERENCE_BYTES",
    "SMALL_READ_BYTES",
    "Kind",
    "Measurement",
    "Outcome",
    "Phase",
    "Resolver",
    "Sample",
    "Throughput",
    "bypasses_proxy",
    "icmp_permission",
    "icmp_rtt",
    "mask_url",
    "measure",
    "measure_all",
    "measure_throughput",
    "probe_url",
    "proxies_from_env",
    "proxy_for",
    "rank",
    "score",
    "throughput_url",
]

Kind = Literal["pip", "uv", "conda", "docker", "hf", "modelscope"]
"""What a mirror serves, which decides the request that exercises it."""
KINDS: tuple[Kind, ...] = get_args(Kind)

Resolver = Callable[[str, int, int, int], Sequence[tuple[Any, Any, int, str, tuple[Any, ...]]]]
"""``socket.getaddrinfo`` or a stand-in: ``(host, port, family, type) -> addrinfo list``."""

MAX_REDIRECTS = 5
SMALL_READ_BYTES = 16 * 1024
"""Body bytes a latency sample reads after the headers before hanging up."""
REFERENCE_BYTES = 4 * MiB
"""Size of the typical download (a mid-sized wheel, a channel's repodata) that
:func:`score` prices: first-byte time plus this many bytes at the measured throughput."""

PYPI_PROBE_PROJECT = "six"
"""A tiny, dependency-free project that has been on PyPI since 2010, is among the most
downloaded, and so is present on every full mirror and warm in every caching one."""
PYPI_LARGE_PROJECT = "numpy"
"""A project whose simple page is large (thousands of files): a real index download."""
HF_PROBE_MODEL = "openai-community/gpt2"
"""``gpt2`` under its canonical id since the 2024 move to the openai-community
organisation: a small, public, ungated model every mirror has."""
HF_LARGE_FILE = "model.safetensors"
MODELSCOPE_PROBE_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
MODELSCOPE_LARGE_FILE = "model.safetensors"

_USER_AGENT = f"envdoctor/{__version__} (mirror check)"
_MAX_HEAD_BYTES = 64 * 1024
_RECV_BYTES = 256 * 1024
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_UNREACHABLE_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EADDRNOTAVAIL}
)
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})
_DEFAULT_PORTS = {"http": 80, "https": 443}


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
_PHASE_WORDS: dict[Phase, str] = {
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
    kind: Kind
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
    proxy: str | None = None
    redirects: tuple[str, ...] = ()
    """``host[:port]`` of every redirect target, in order."""
    elapsed_s: float = 0.0
    """Wall time this measurement took."""

    @property
    def healthy(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def final_host(self) -> str | None:
        """``host[:port]`` that gave the final answer."""
        if self.final_url is None:
            return None
        return _host_port(self.final_url)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``outcome`` as its string value, tuples as lists)."""
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "samples":
                value = [sample.to_json() for sample in value]
            elif item.name == "redirects":
                value = list(value)
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


# --------------------------------------------------------------------------- URLs


def probe_url(base_url: str, kind: Kind) -> str:
    """The URL whose answer shows whether ``base_url`` serves ``kind`` clients.

    ``pip``/``uv``
        ``base_url`` is an index URL (ending in ``/simple``): the simple page of
        :data:`PYPI_PROBE_PROJECT`, the first thing ``pip install`` fetches.
    ``conda``
        ``base_url`` is an Anaconda mirror base (``<b>`` with ``<b>/pkgs/main``), a
        ``<b>/cloud`` base (conda-forge) or a channel under ``/pkgs/`` or ``/cloud/``:
        the channel's ``noarch/repodata.json``, which conda downloads first.  Fetched
        with GET, not HEAD: some mirrors and CDNs answer HEAD differently (405, another
        redirect), and the latency sample hangs up after a small read anyway.
    ``docker``
        ``base_url`` is a registry mirror: ``/v2/``, the version check ``docker pull``
        starts with (200, or 401 with a token challenge, on a live registry).
    ``hf``
        ``base_url`` is an ``HF_ENDPOINT``: the hub API's model info of
        :data:`HF_PROBE_MODEL` (``snapshot_download`` first asks the same API, with a
        revision).
    ``modelscope``
        ``base_url`` is a ``MODELSCOPE_DOMAIN`` (a bare host; ``https://`` is added as
        the SDK does) or a URL: ``/api/v1/models/<owner>/<name>``, the SDK's
        ``HubApi.repo_exists`` request.
    """
    base = _normalise_base(base_url, kind)
    if kind in ("pip", "uv"):
        return f"{base}/{PYPI_PROBE_PROJECT}/"
    if kind == "conda":
        return f"{_conda_channel(base)}/noarch/repodata.json"
    if kind == "docker":
        return f"{base}/v2/"
    if kind == "hf":
        return f"{base}/api/models/{HF_PROBE_MODEL}"
    return f"{base}/api/v1/models/{MODELSCOPE_PROBE_MODEL}"


def throughput_url(base_url: str, kind: Kind) -> str | None:
    """A large body on ``base_url`` worth timing, or ``None`` (a registry has none
    without a token).  Only the first bytes are read: see :func:`measure_throughput`."""
    base = _normalise_base(base_url, kind)
    if kind in ("pip", "uv"):
        return f"{base}/{PYPI_LARGE_PROJECT}/"
    if kind == "conda":
        return f"{_conda_channel(base)}/noarch/repodata.json"
    if kind == "docker":
        return None
    if kind == "hf":
        return f"{base}/{HF_PROBE_MODEL}/resolve/main/{HF_LARGE_FILE}"
    return (
        f"{base}/api/v1/models/{MODELSCOPE_PROBE_MODEL}/repo"
        f"?Revision=master&FilePath={MODELSCOPE_LARGE_FILE}"
    )


def _normalise_base(base_url: str, kind: Kind) -> str:
    base = base_url.strip()
    if kind == "modelscope" and "://" not in base:
        base = f"https://{base}"
    return base.rstrip("/")


def _conda_channel(base: str) -> str:
    segments = urlsplit(base).path.rstrip("/").split("/")
    if len(segments) >= 2 and segments[-2] in ("pkgs", "cloud"):
        return base
    if segments[-1] == "cloud":
        return f"{base}/conda-forge"
    return f"{base}/pkgs/main"


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host


# --------------------------------------------------------------------------- proxies


def proxies_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """``{"http": ..., "https": ..., "all": ..., "no": ...}`` from ``*_proxy`` variables.

    The semantics of Python's ``urllib.request.getproxies_environment``, which
    ``requests`` (so pip) uses: names are case-insensitive and a lowercase variable wins
    over its uppercase twin, an empty lowercase one removing it; ``HTTP_PROXY`` is
    ignored when ``REQUEST_METHOD`` is set (a CGI request can set it: httpoxy).  curl
    differs by ignoring uppercase ``HTTP_PROXY`` altogether; Go programs (docker)
    prefer uppercase.  Values hold credentials: mask them before showing.
    """
    proxies: dict[str, str] = {}
    for name, value in env.items():
        lowered = name.lower()
        if value and lowered.endswith("_proxy"):
            proxies[lowered[:-6]] = value
    if "REQUEST_METHOD" in env:
        proxies.pop("http", None)
    for name, value in env.items():
        if name.endswith("_proxy"):
            key = name.lower()[:-6]
            if value:
                proxies[key] = value
            else:
                proxies.pop(key, None)
    return proxies


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``no_proxy`` sends ``host:port`` direct.

    Comma-separated entries, spaces ignored: ``*`` alone matches everything; an IP
    address or CIDR network (``10.0.0.0/8``, ``::1``) matches IP hosts in it, as
    ``requests`` does; ``name`` or ``.name`` matches that host and its subdomains on a
    dot boundary (``urllib`` and curl; ``requests`` alone also matches ``xname``);
    ``name:port`` only that port.
    """
    entries = [entry.strip() for entry in no_proxy.split(",")]
    entries = [entry for entry in entries if entry]
    if entries == ["*"]:
        return True
    host = host.lower().strip("[]").rstrip(".")
    host_ip = _ip(host)
    for entry in entries:
        entry = entry.lower()
        entry_port: int | None = None
        bare = entry
        if entry.startswith("["):  # [v6]:port
            closing = entry.find("]")
            bare = entry[1:closing] if closing > 0 else entry
            rest = entry[closing + 1 :] if closing > 0 else ""
            if rest.startswith(":") and rest[1:].isdigit():
                entry_port = int(rest[1:])
        elif entry.count(":") == 1:
            name, _, port_text = entry.partition(":")
            if port_text.isdigit():
                bare, entry_port = name, int(port_text)
        if entry_port is not None and entry_port != port:
            continue
        if host_ip is not None:
            try:
                network = ipaddress.ip_network(bare, strict=False)
            except ValueError:
                continue
            if host_ip.version == network.version and host_ip in network:
                return True
            continue
        domain = bare.lstrip(".").rstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def proxy_for(url: str, env: Mapping[str, str]) -> str | None:
    """The proxy URL (with credentials: mask before showing) a pip-like client would use
    for ``url``, or ``None`` for a direct connection.  ``https_proxy`` for https,
    ``http_proxy`` for http, else ``all_proxy``; ``no_proxy`` per :func:`bypasses_proxy`.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    proxies = proxies_from_env(env)
    chosen = proxies.get(scheme) or proxies.get("all")
    if not chosen or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return chosen
    if bypasses_proxy(parts.hostname, port, proxies.get("no", "")):
        return None
    return chosen


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Proxy:
    host: str
    port: int
    authorization: str | None
    display: str


def _parse_proxy(value: str) -> _Proxy:
    display = mask_url(value if "://" in value else f"http://{value}")
    parts = urlsplit(value if "://" in value else f"http://{value}")
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        raise _Failure(
            Outcome.PROXY_ERROR,
            f"proxy {display}: SOCKS proxies are not supported by this probe",
            "connect",
        )
    if scheme != "http":
        raise _Failure(
            Outcome.PROXY_ERROR,
            f"proxy {display}: only http:// proxies are supported by this probe",
            "connect",
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise _Failure(Outcome.PROXY_ERROR, f"proxy {display}: bad port", "connect") from None
    if not parts.hostname:
        raise _Failure(Outcome.PROXY_ERROR, f"proxy {display}: no host", "connect")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return _Proxy(parts.hostname, port, authorization, display)


# --------------------------------------------------------------------------- TLS


@lru_cache(maxsize=16)
def _ssl_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile, capath=capath)


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
        raise _Failure(
            Outcome.TLS_ERROR,
            f"cannot load the CA bundle {env.get(name)!r} named by {name}: {_words(exc)}",
            "tls",
        ) from None


# --------------------------------------------------------------------------- core


class _Failure(Exception):
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


class _Progress:
    """Where a measurement stands, readable from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phase: Phase = "queued"
        self.samples: list[Sample] = []
        self.proxy: str | None = None

    def enter(self, phase: Phase) -> None:
        with self._lock:
            self.phase = phase

    def add(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)

    def snapshot(self) -> tuple[Phase, tuple[Sample, ...], str | None]:
        with self._lock:
            return self.phase, tuple(self.samples), self.proxy


@dataclass
class _Head:
    status: int
    reason: str
    headers: http.client.HTTPMessage
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


@dataclass
class _Session:
    """Settings shared by every request of one measurement."""

    kind: Kind
    timeout: float
    env: Mapping[str, str]
    resolver: Resolver
    deadline: float | None
    stops: tuple[threading.Event, ...]
    progress: _Progress = field(default_factory=_Progress)
    deadline_bound: bool = False
    """The last :meth:`budget` was cut short by the deadline rather than the timeout."""

    def budget(self, phase: Phase) -> float:
        """Seconds the next blocking step may take; raises when none are left."""
        if any(stop.is_set() for stop in self.stops):
            raise _Failure(Outcome.CANCELLED, "cancelled", phase)
        self.progress.enter(phase)
        if self.deadline is None:
            return self.timeout
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Failure(Outcome.TIMEOUT, f"deadline reached before {_PHASE_WORDS[phase]}", phase)
        self.deadline_bound = remaining < self.timeout
        return min(self.timeout, remaining)

    # ---- one request, one hop

    def open(self, url: str, *, authorization: str | None) -> _Hop:
        """Connect, send GET ``url`` and read the answer's head (not following redirects)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise _Failure(Outcome.ERROR, f"not an http(s) URL: {mask_url(url)}", None)
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            raise _Failure(Outcome.ERROR, f"bad port in {mask_url(url)}", None) from None
        host = parts.hostname
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise _Failure(Outcome.ERROR, f"bad host name in {mask_url(url)}", None) from None
        proxy_value = proxy_for(url, self.env)
        proxy = _parse_proxy(proxy_value) if proxy_value else None
        ssl_context = _ssl_context_for(self.env) if scheme == "https" else None
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
            )
            sock.settimeout(self.budget("first_byte"))
            sent_at = self._send(sock, request)
            head = self._read_head(sock, "first_byte")
        except BaseException:
            sock.close()
            raise
        if proxy is not None and head.status == 407:
            sock.close()
            raise _Failure(
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
        self, host: str, port: int, proxy: _Proxy | None
    ) -> list[tuple[Any, Any, int, str, tuple[Any, ...]]]:
        budget = self.budget("dns")
        try:
            if _ip(host.strip("[]")) is not None:
                return list(self.resolver(host, port, 0, socket.SOCK_STREAM))
            return _resolve_with_timeout(self.resolver, host, port, budget)
        except socket.gaierror as exc:
            reason = f"cannot resolve {host}: {exc.strerror or exc}"
            if proxy is not None:
                raise _Failure(
                    Outcome.PROXY_ERROR, f"proxy {proxy.display}: {reason}", "dns"
                ) from None
            raise _Failure(Outcome.DNS_ERROR, reason, "dns") from None
        except TimeoutError:
            reason = f"DNS lookup of {host} took longer than {budget:.1f} s"
            if proxy is not None:
                raise _Failure(
                    Outcome.PROXY_ERROR, f"proxy {proxy.display}: {reason}", "dns"
                ) from None
            raise _Failure(Outcome.TIMEOUT, reason, "dns") from None
        except OSError as exc:
            reason = f"cannot resolve {host}: {_words(exc)}"
            raise _Failure(Outcome.DNS_ERROR, reason, "dns") from None

    def _connect(
        self,
        infos: Sequence[tuple[Any, Any, int, str, tuple[Any, ...]]],
        host: str,
        port: int,
        proxy: _Proxy | None,
    ) -> tuple[socket.socket, str]:
        if not infos:
            raise _Failure(Outcome.DNS_ERROR, f"{host} has no address", "dns")
        last: OSError | None = None
        for family, socktype, proto, _name, address in infos:
            sock = socket.socket(family, socktype or socket.SOCK_STREAM, proto)
            try:
                # As curl and urllib3 do: no Nagle delay on the request.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(self.budget("connect"))
                sock.connect(address)
            except OSError as exc:
                sock.close()
                last = exc
                if isinstance(exc, TimeoutError):
                    break  # the budget is spent; another address would not get any
                continue
            except BaseException:
                sock.close()
                raise
            shown = (
                f"[{address[0]}]:{address[1]}"
                if ":" in address[0]
                else f"{address[0]}:{address[1]}"
            )
            return sock, shown
        assert last is not None
        failure = self.classify(last, "connect", f"{host}:{port}")
        if proxy is not None:
            failure = _Failure(
                Outcome.PROXY_ERROR, f"proxy {proxy.display}: {failure.reason}", "connect"
            )
        raise failure

    def _tunnel(self, sock: socket.socket, host: str, port: int, proxy: _Proxy) -> None:
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
        except _Failure as failure:
            if failure.outcome in (Outcome.CANCELLED,):
                raise
            raise _Failure(
                Outcome.PROXY_ERROR, f"proxy {proxy.display}: {failure.reason}", "proxy"
            ) from None
        if head.status != 200:
            hint = " (it wants credentials)" if head.status == 407 else ""
            raise _Failure(
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
            raise _Failure(Outcome.TLS_ERROR, f"TLS setup failed: {exc}", "tls") from None
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
        while True:
            try:
                sock.settimeout(self.budget(phase))
                chunk = sock.recv(_RECV_BYTES)
            except OSError as exc:
                raise self.classify(exc, phase, "") from None
            now = time.perf_counter()
            if not chunk:
                if first_byte_at is None:
                    raise _Failure(Outcome.RESET, "closed the connection without answering", phase)
                raise _Failure(Outcome.RESET, "closed the connection mid-headers", phase)
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
                raise _Failure(Outcome.ERROR, "response headers over 64 KiB", phase)

    def classify(self, exc: OSError, phase: Phase, where: str) -> _Failure:
        at = f" {where}" if where else ""
        if isinstance(exc, ssl.SSLCertVerificationError):
            return _Failure(
                Outcome.TLS_ERROR,
                f"certificate of{at} rejected: {exc.verify_message or exc.reason}",
                phase,
            )
        if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return _Failure(
                Outcome.RESET, f"closed the connection during {_PHASE_WORDS[phase]}", phase
            )
        if isinstance(exc, ssl.SSLError):
            return _Failure(Outcome.TLS_ERROR, f"TLS error{at}: {exc.reason or exc}", phase)
        if isinstance(exc, TimeoutError):
            if self.deadline_bound:
                return _Failure(
                    Outcome.TIMEOUT,
                    f"deadline reached while waiting for {_PHASE_WORDS[phase]}",
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
            return _Failure(Outcome.TIMEOUT, f"{what} after {limit}", phase)
        if isinstance(exc, ConnectionRefusedError):
            return _Failure(Outcome.REFUSED, f"connection to{at} refused", phase)
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)) or (
            exc.errno in _RESET_ERRNOS
        ):
            return _Failure(Outcome.RESET, f"connection reset during {_PHASE_WORDS[phase]}", phase)
        if exc.errno in _UNREACHABLE_ERRNOS:
            return _Failure(
                Outcome.UNREACHABLE, f"{where or 'host'} unreachable: {_words(exc)}", phase
            )
        return _Failure(
            Outcome.ERROR, f"{_PHASE_WORDS.get(phase, phase)} failed: {_words(exc)}", phase
        )

    # ---- a request with its redirects

    def follow(self, url: str) -> tuple[_Hop, float, list[str], str | None]:
        """GET ``url`` following redirects; the final hop (still open), the seconds spent
        on earlier hops, the redirect hosts and the first hop's proxy."""
        original_host = _host_port(url)
        authorization = _basic_auth(url)
        redirect_s = 0.0
        hosts: list[str] = []
        proxy: str | None = None
        current = url
        status = 0
        for hop_number in range(MAX_REDIRECTS + 1):
            hop_started = time.perf_counter()
            same_host = _host_port(current) == original_host
            hop = self.open(current, authorization=authorization if same_host else None)
            if hop_number == 0:
                proxy = hop.proxy
                self.progress.proxy = proxy
            status = hop.head.status
            location = hop.head.headers.get("Location")
            if status not in _REDIRECT_CODES:
                return hop, redirect_s, hosts, proxy
            hop.sock.close()
            if not location:
                raise _Failure(
                    Outcome.HTTP_ERROR,
                    f"HTTP {status} redirect without a Location",
                    "first_byte",
                    status,
                )
            current = urljoin(current, location.strip())
            hosts.append(_host_port(current))
            redirect_s += time.perf_counter() - hop_started
        raise _Failure(
            Outcome.HTTP_ERROR,
            f"more than {MAX_REDIRECTS} redirects (last to {mask_url(current)})",
            "first_byte",
            status,
        )

    def alive(self, status: int) -> bool:
        return 200 <= status < 300 or (self.kind == "docker" and status == 401)

    def sample(self, url: str) -> tuple[Sample, str, list[str], str | None]:
        started = time.perf_counter()
        hop, redirect_s, hosts, proxy = self.follow(url)
        try:
            head = hop.head
            if not self.alive(head.status):
                failure = _Failure(
                    Outcome.HTTP_ERROR,
                    f"HTTP {head.status} {head.reason}".rstrip() + _via(proxy),
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
        while wanted > 0:
            try:
                sock.settimeout(self.budget("body"))
                chunk = sock.recv(min(wanted, _RECV_BYTES))
            except OSError as exc:
                raise self.classify(exc, "body", "") from None
            if not chunk:
                return
            wanted -= len(chunk)

    def time_body(
        self, sock: socket.socket, started: float, seconds: float, max_bytes: int
    ) -> tuple[int, float, bool]:
        """Read the body for ``seconds`` after ``started``, or ``max_bytes``, or to its end:
        ``(bytes read, time the last of them arrived, whole body read)``."""
        count = 0
        last = started
        stop_at = started + seconds
        while count < max_bytes:
            window = stop_at - time.perf_counter()
            if window <= 0:
                return count, last, False
            try:
                budget = self.budget("body")
            except _Failure as failure:
                if failure.outcome is Outcome.TIMEOUT:
                    return count, last, False  # the overall deadline: what was read counts
                raise
            try:
                sock.settimeout(min(budget, window))
                chunk = sock.recv(_RECV_BYTES)
            except TimeoutError:
                if window < budget:
                    return count, last, False  # the window closed, not a stall
                raise self.classify(TimeoutError(), "body", "") from None
            except OSError as exc:
                raise self.classify(exc, "body", "") from None
            if not chunk:
                return count, last, True
            count += len(chunk)
            last = time.perf_counter()
        return count, last, False


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


def _parse_head(raw: bytes, phase: Phase) -> tuple[int, str, http.client.HTTPMessage]:
    status_line, _, rest = raw.partition(b"\r\n")
    words = status_line.decode("latin-1").split(None, 2)
    if len(words) < 2 or not words[0].startswith("HTTP/") or not words[1].isdigit():
        shown = status_line[:60].decode("latin-1", "replace")
        raise _Failure(Outcome.ERROR, f"not an HTTP answer: {shown!r}", phase)
    headers = http.client.parse_headers(io.BytesIO(rest))
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
    return shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"


def _basic_auth(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def _request_bytes(
    target: str, host: str, *, authorization: str | None, proxy_authorization: str | None
) -> bytes:
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}",
        f"User-Agent: {_USER_AGENT}",
        "Accept: */*",
        "Accept-Encoding: identity",
        "Connection: close",
    ]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    if proxy_authorization:
        lines.append(f"Proxy-Authorization: {proxy_authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _via(proxy: str | None) -> str:
    return f" (via proxy {proxy})" if proxy else ""


def _words(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _summarise(
    url: str,
    session: _Session,
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
    return Measurement(
        url=mask_url(url),
        kind=session.kind,
        outcome=outcome,
        reason=reason,
        final_url=mask_url(final_url) if final_url else None,
        status_code=status_code,
        phase=phase,
        samples=tuple(samples),
        dns_s=_median(sample.dns_s for sample in samples),
        connect_s=_median(sample.connect_s for sample in samples),
        tls_s=_median(sample.tls_s for sample in samples),
        ttfb_s=_median(ttfbs),
        redirect_s=_median(sample.redirect_s for sample in samples),
        total_s=_median(totals),
        ttfb_min_s=min(ttfbs, default=None),
        ttfb_max_s=max(ttfbs, default=None),
        total_min_s=min(totals, default=None),
        total_max_s=max(totals, default=None),
        proxy=proxy,
        redirects=tuple(redirects),
        elapsed_s=elapsed_s,
    )


def _run_measure(url: str, session: _Session, samples: int) -> Measurement:
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
    except _Failure as failure:
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
    ttfb = _median(sample.ttfb_s for sample in done) or 0.0
    where = f" from {mask_url(final_url)}" if hosts and final_url else ""
    return _summarise(
        url,
        session,
        done,
        outcome=Outcome.OK,
        reason=f"HTTP {status_code}{where}, first byte in {ttfb * 1000:.0f} ms{_via(proxy)}",
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
    kind: Kind,
    env: Mapping[str, str],
    samples: int = 3,
    timeout: float = 5.0,
    resolver: Resolver = socket.getaddrinfo,
    cancel: threading.Event | None = None,
    deadline: float | None = None,
) -> Measurement:
    """Latency of ``url``: ``samples`` cold GETs, each phase timed, medians and spread.

    ``url`` is requested as given (see :func:`probe_url` for what to ask a mirror);
    ``kind`` decides what counts as alive.  ``env`` supplies proxies and CA bundles
    (pass ``ctx.env``).  ``timeout`` bounds every blocking step (DNS, connect, TLS, each
    read); ``deadline`` (a ``time.monotonic()`` value) bounds the whole measurement.
    The first failing sample ends the measurement: its outcome is the result, with the
    samples completed before it.  Never raises for network problems.
    """
    session = _Session(
        kind=kind,
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
    resolver: Resolver = socket.getaddrinfo,
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
    session = _Session(
        kind="pip",  # any kind: throughput needs a 2xx whatever the client
        timeout=timeout,
        env=env,
        resolver=resolver,
        deadline=deadline,
        stops=(cancel,) if cancel else (),
    )
    return _run_throughput(url, session, seconds, max_bytes)


def _run_throughput(url: str, session: _Session, seconds: float, max_bytes: int) -> Throughput:
    shown = mask_url(url)
    try:
        hop, _, _, proxy = session.follow(url)
    except _Failure as failure:
        return Throughput(shown, failure.outcome, failure.reason, status_code=failure.status_code)
    head = hop.head
    try:
        if not 200 <= head.status < 300:
            reason = f"HTTP {head.status} {head.reason}".rstrip() + _via(proxy)
            return Throughput(shown, Outcome.HTTP_ERROR, reason, status_code=head.status)
        count, last, complete = session.time_body(hop.sock, head.done_at, seconds, max_bytes)
    except _Failure as failure:
        return Throughput(shown, failure.outcome, failure.reason, status_code=head.status)
    finally:
        hop.sock.close()
    duration = last - head.done_at
    if count == 0 or duration <= 0:
        if complete:
            reason, outcome = "the whole body came with the headers: too small to time", Outcome.OK
        else:
            reason, outcome = f"no body bytes within {seconds:g} s", Outcome.TIMEOUT
        return Throughput(shown, outcome, reason, count, duration, None, head.status, complete)
    note = "whole body" if complete else "first"
    return Throughput(
        shown,
        Outcome.OK,
        f"{note} {count} bytes in {duration:.2f} s{_via(proxy)}",
        count,
        duration,
        count / duration,
        head.status,
        complete,
    )


# --------------------------------------------------------------------------- many mirrors


def measure_all(
    mirrors: Sequence[tuple[str, Kind]],
    *,
    env: Mapping[str, str],
    samples: int = 3,
    timeout: float = 5.0,
    deadline_s: float = 10.0,
    throughput: bool = False,
    throughput_seconds: float = 1.0,
    throughput_max_bytes: int = 64 * MiB,
    resolver: Resolver = socket.getaddrinfo,
    cancel: threading.Event | None = None,
) -> list[Measurement]:
    """Measure mirrors, given as ``(base_url, kind)``, within ``deadline_s`` seconds.

    Latency of every :func:`probe_url` runs concurrently, one daemon thread per mirror;
    a mirror not done by the deadline (or by ``cancel``) is reported as ``timeout``
    (``cancelled``) naming the phase it was stuck in.  Then, with ``throughput``, the
    healthy mirrors' :func:`throughput_url` are downloaded one at a time, best first,
    for ``throughput_seconds`` each while the deadline allows.  Results come in the
    order given; :func:`rank` orders them.
    """
    started = time.monotonic()
    deadline = started + deadline_s
    abandon = threading.Event()
    stops = (abandon, cancel) if cancel else (abandon,)
    slots: list[Measurement | None] = [None] * len(mirrors)
    sessions: list[_Session] = []
    probe_urls: list[str] = []
    finished = threading.Condition()

    def work(index: int, url: str, session: _Session) -> None:
        try:
            result = _run_measure(url, session, samples)
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

    for index, (base, kind) in enumerate(mirrors):
        url = probe_url(base, kind)
        session = _Session(kind, timeout, env, resolver, deadline, stops)
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
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            finished.wait(min(remaining, 0.05) if cancel is not None else remaining)
        snapshot = list(slots)
    abandon.set()

    results: list[Measurement] = []
    for index, (base, _kind) in enumerate(mirrors):
        slot = snapshot[index]
        if slot is None:
            slot = _unfinished(probe_urls[index], sessions[index], deadline_s, cancel)
        results.append(dataclasses.replace(slot, base_url=mask_url(base)))

    if throughput:
        results = _add_throughput(
            results,
            mirrors,
            env,
            timeout,
            deadline,
            throughput_seconds,
            throughput_max_bytes,
            resolver,
            cancel,
        )
    return results


def _unfinished(
    url: str, session: _Session, deadline_s: float, cancel: threading.Event | None
) -> Measurement:
    phase, done, proxy = session.progress.snapshot()
    words = _PHASE_WORDS.get(phase, phase)
    if cancel is not None and cancel.is_set():
        outcome, reason = Outcome.CANCELLED, f"cancelled while waiting for {words}"
    else:
        outcome = Outcome.TIMEOUT
        reason = f"not done within the {deadline_s:g} s deadline: stuck waiting for {words}"
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
        elapsed_s=deadline_s,
    )


def _add_throughput(
    results: list[Measurement],
    mirrors: Sequence[tuple[str, Kind]],
    env: Mapping[str, str],
    timeout: float,
    deadline: float,
    seconds: float,
    max_bytes: int,
    resolver: Resolver,
    cancel: threading.Event | None,
) -> list[Measurement]:
    key = _rank_key(results)
    updated = list(results)
    for index in sorted(range(len(results)), key=lambda i: key(results[i])):
        result = results[index]
        if not result.healthy:
            continue
        base, kind = mirrors[index]
        url = throughput_url(base, kind)
        if url is None:
            updated[index] = dataclasses.replace(
                result, throughput_reason=f"no anonymous download to time on a {kind} mirror"
            )
            continue
        if cancel is not None and cancel.is_set():
            updated[index] = dataclasses.replace(result, throughput_reason="cancelled")
            continue
        # Starting needs the download window plus room to connect; else say so.
        if deadline - time.monotonic() < seconds + min(timeout, 0.5):
            updated[index] = dataclasses.replace(
                result, throughput_reason="not measured: no time left before the deadline"
            )
            continue
        session = _Session(kind, timeout, env, resolver, deadline, (cancel,) if cancel else ())
        measured = _run_throughput(url, session, seconds, max_bytes)
        reason = measured.reason
        if measured.bytes_per_s is None:
            reason = f"not measured: {reason}"
        updated[index] = dataclasses.replace(
            result, throughput_bytes_per_s=measured.bytes_per_s, throughput_reason=reason
        )
    return updated


# --------------------------------------------------------------------------- ranking


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
    key = _rank_key(items)
    return sorted(items, key=key)


def _rank_key(items: Sequence[Measurement]) -> Callable[[Measurement], tuple[int, float]]:
    rates = [
        item.throughput_bytes_per_s
        for item in items
        if item.healthy and item.throughput_bytes_per_s is not None
    ]
    fallback = min(rates) if rates else None

    def key(item: Measurement) -> tuple[int, float]:
        value = score(item, fallback_bytes_per_s=fallback)
        return (0, value) if value is not None else (1, 0.0)

    return key


# --------------------------------------------------------------------------- ICMP

_CAP_NET_RAW = 13


def icmp_permission(
    ctx: Context,
    *,
    egid: int | None = None,
    groups: Sequence[int] | None = None,
) -> str:
    """How this process may send ICMP echo: ``icmp-raw``, ``icmp-dgram`` or ``not permitted``.

    Raw sockets need CAP_NET_RAW (read from ``/proc/self/status``; root usually has it,
    a container's root may not).  Unprivileged ICMP datagram sockets need the effective
    gid or a supplementary group inside ``net.ipv4.ping_group_range`` (the kernel checks
    both).  Files are read through ``ctx``; ids default to this process's.
    """
    if _has_cap_net_raw(ctx):
        return "icmp-raw"
    try:
        text = ctx.path("/proc/sys/net/ipv4/ping_group_range").read_text()
        low, high = (int(word) for word in text.split()[:2])
    except (OSError, ValueError):
        return "not permitted"
    ids = [os.getegid() if egid is None else egid]
    ids.extend(os.getgroups() if groups is None else groups)
    return "icmp-dgram" if any(low <= gid <= high for gid in ids) else "not permitted"


def _has_cap_net_raw(ctx: Context) -> bool:
    try:
        text = ctx.path("/proc/self/status").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            try:
                return bool(int(line.split()[1], 16) >> _CAP_NET_RAW & 1)
            except (IndexError, ValueError):
                return False
    return False


def icmp_rtt(
    host: str,
    ctx: Context,
    *,
    timeout: float = 1.0,
    egid: int | None = None,
    groups: Sequence[int] | None = None,
) -> tuple[float | None, str]:
    """One ICMP echo to ``host``: ``(seconds, method)``, or ``(None, "<method>: why")``.

    Never required: many CDNs drop ICMP, and most users may not send it.  ``method`` is
    ``icmp-raw``, ``icmp-dgram`` or ``not permitted`` (see :func:`icmp_permission`).
    """
    method = icmp_permission(ctx, egid=egid, groups=groups)
    if method == "not permitted":
        return None, "not permitted: needs CAP_NET_RAW or a group in net.ipv4.ping_group_range"
    import ping3

    try:
        delay = ping3.ping(host, timeout=timeout, unit="s")
    except OSError as exc:
        return None, f"{method}: {_words(exc)}"
    except Exception as exc:  # noqa: BLE001 - ping3.errors.PingError when ping3.EXCEPTIONS is set
        return None, f"{method}: {exc}"
    if delay is None:
        return None, f"{method}: no reply within {timeout:g} s"
    if delay is False:
        return None, f"{method}: {host} could not be pinged (unknown host or send error)"
    return float(delay), method
