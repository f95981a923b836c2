"""A loopback mirror lab: HTTP(S) servers on 127.0.0.1 that act like real mirrors.

Each server answers the paths real clients ask for (a PyPI simple page, a conda
channel's ``repodata.json``, a registry's ``/v2/``, the Hugging Face and ModelScope model
APIs and their file downloads) and can be told to misbehave: wait before the status line,
trickle its body at a set rate, answer 403/404/500, redirect to another lab server, reset
the connection, close without answering, or never answer.  A small forward proxy
(plain HTTP and ``CONNECT``, optional Basic credentials) logs what passes through it.
Certificates come from a lab CA made with ``cryptography``; ``lab.env`` points
``SSL_CERT_FILE`` at it.

Use in tests through the ``mirror_lab`` fixture (``pytest_plugins = ["tests.mirrorlab"]``),
or directly, as the benchmarks do::

    with MirrorLab(LabPKI.create(directory)) as lab:
        base = lab.add("tuna", delay_ms=40)
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import functools
import hashlib
import ipaddress
import json
import re
import selectors
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Behaviour = Literal[
    "ok", "reset", "close", "hang", "trickle-head", "trickle-body", "burst-then-stall"
]
"""``reset``: RST (SO_LINGER 0) after reading the request; ``close``: a clean close
without answering; ``hang``: read the request and never answer (until the lab closes);
``trickle-head``: send every head one byte per ``trickle_interval_s`` (a hostile server
that never lets a read time out); ``trickle-body``: the same for the large file bodies
only (the model and package downloads), small answers come at once;
``burst-then-stall``: a large file body's first :data:`BURST_BYTES` at once, then
nothing until the lab closes (a stalled upstream behind a cache)."""

BURST_BYTES = 1024 * 1024

PageShape = Literal["lab", "pypi"]
"""How numpy's simple page looks: see ``_simple_page``."""

CertChoice = Literal["lab", "wrong-host", "rogue"]
"""``lab``: valid for 127.0.0.1, localhost and *.lab.test, from the trusted lab CA;
``wrong-host``: from the lab CA but only for elsewhere.invalid; ``rogue``: valid names,
from a CA nobody trusts."""

DEFAULT_BODY_BYTES = 4 * 1024 * 1024
_BLOCK = bytes(range(256)) * 256  # 64 KiB of filler for large bodies


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class LabPKI:
    """The lab's certificate files."""

    directory: Path
    ca_file: Path
    rogue_ca_file: Path
    certs: dict[str, tuple[Path, Path]]
    """``CertChoice`` -> (certificate chain file, key file)."""

    @classmethod
    def create(cls, directory: Path) -> LabPKI:
        directory.mkdir(parents=True, exist_ok=True)
        ca_key, ca_cert = _make_ca("envdoctor lab CA")
        rogue_key, rogue_cert = _make_ca("rogue CA")
        good_names: list[x509.GeneralName] = [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost"),
            x509.DNSName("lab.test"),
            x509.DNSName("*.lab.test"),
        ]
        leaves = {
            "lab": _make_leaf(ca_key, ca_cert, good_names),
            "wrong-host": _make_leaf(ca_key, ca_cert, [x509.DNSName("elsewhere.invalid")]),
            "rogue": _make_leaf(rogue_key, rogue_cert, good_names),
        }
        ca_file = directory / "lab-ca.pem"
        ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        rogue_ca_file = directory / "rogue-ca.pem"
        rogue_ca_file.write_bytes(rogue_cert.public_bytes(serialization.Encoding.PEM))
        certs: dict[str, tuple[Path, Path]] = {}
        for name, (key, cert) in leaves.items():
            cert_file = directory / f"{name}.pem"
            key_file = directory / f"{name}.key"
            cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            certs[name] = (cert_file, key_file)
        return cls(directory, ca_file, rogue_ca_file, certs)

    @functools.cached_property
    def _contexts(self) -> dict[str, ssl.SSLContext]:
        contexts = {}
        for name, (cert_file, key_file) in self.certs.items():
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_file, key_file)
            contexts[name] = context
        return contexts

    def server_context(self, choice: CertChoice) -> ssl.SSLContext:
        return self._contexts[choice]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _make_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=1))
        .not_valid_after(_now() + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: list[x509.GeneralName],
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab mirror")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=1))
        .not_valid_after(_now() + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


# --------------------------------------------------------------------------- servers


@dataclass
class RequestRecord:
    """One request a lab server or proxy received, logged as soon as its head was read
    (so a client that got any answer always finds its request here)."""

    method: str
    target: str
    headers: dict[str, str]
    started: float
    """``time.monotonic()`` when the request head was read."""
    finished: float | None = None
    """``time.monotonic()`` when the answer was written or abandoned; ``None`` until then
    (:meth:`MirrorServer.wait_idle` waits for it)."""


class _LoopbackServer:
    """Accepts on 127.0.0.1 without polling (a selector with a wake-up pipe) and runs one
    daemon thread per connection; :meth:`close` releases every connection."""

    def __init__(self, name: str, stop: threading.Event) -> None:
        self.name = name
        self.stop = stop
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port: int = self.listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closing = False
        self._threads: list[threading.Thread] = []
        self.records: list[RequestRecord] = []
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"lab-{name}", daemon=True)
        self._acceptor.start()

    def _accept_loop(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        with selector:
            while not self.stop.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        conn, _addr = self.listener.accept()
                    except OSError:
                        return
                    # Real servers (nginx's tcp_nodelay) answer without Nagle's wait;
                    # without it a header queued behind TLS session tickets waits for an ACK.
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.track(conn)
                    thread = threading.Thread(
                        target=self._serve, args=(conn,), name=f"lab-{self.name}-conn", daemon=True
                    )
                    with self._lock:
                        self._threads.append(thread)
                    thread.start()

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)
            closing = self._closing
        if closing:  # tracked after close() shut the others: shut this one too
            _shut(sock)

    def open_connections(self) -> int:
        """How many accepted connections are still open."""
        with self._lock:
            return len(self._open)

    def untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        sock.close()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except OSError:
            pass  # the client hung up (a latency sample stops after a small read)
        finally:
            self.untrack(conn)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def record(self, method: str, target: str, headers: dict[str, str]) -> RequestRecord:
        entry = RequestRecord(method, target, headers, time.monotonic())
        with self._lock:
            self.records.append(entry)
        return entry

    def wait_idle(self, timeout: float = 2.0) -> None:
        """Wait until every connection so far is handled (and recorded)."""
        with self._lock:
            threads = list(self._threads)
        until = time.monotonic() + timeout
        for thread in threads:
            thread.join(timeout=max(0.0, until - time.monotonic()))

    def close(self) -> None:
        """Stop accepting, wake every connection's thread and wait for them (2 s in all).

        Another thread's socket is shut down here, never closed: its thread closes it.
        Closing it here would free its descriptor while that thread may still be inside
        OpenSSL, which reads and writes the descriptor by number, so that a thread woken
        late would read from whatever socket got the number next (a later test's client,
        whose handshake then sees someone else's bytes: ``WRONG_VERSION_NUMBER``)."""
        self._wake_w.send(b"x")
        self._acceptor.join(timeout=2)
        if not self._acceptor.is_alive():
            self.listener.close()
        with self._lock:
            self._closing = True
            sockets = list(self._open)
            threads = list(self._threads)
        for sock in sockets:
            _shut(sock)  # wakes a thread blocked in recv
        until = time.monotonic() + 2
        for thread in threads:
            thread.join(timeout=max(0.0, until - time.monotonic()))
        if not self._acceptor.is_alive():
            self._wake_r.close()
            self._wake_w.close()


def _shut(sock: socket.socket) -> None:
    """Shut ``sock`` down at the TCP level to wake the thread using it: not
    ``SSLSocket.shutdown``, which also drops the TLS object under that thread (a
    ``ValueError`` or ``AttributeError`` there instead of the end of the stream)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _read_head(conn: socket.socket) -> tuple[str, str, dict[str, str], bytes] | None:
    """Request line words and headers, or None when the client left first."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffer += chunk
        if len(buffer) > 65536:
            return None
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers, rest


class Link:
    """A token bucket every body sent through it is paced by: the sum of their rates is
    ``rate_bps``, not each one's.  A server's own total (``total_rate_bps``), or the
    user's link that several lab mirrors share (``MirrorLab.add(link=...)``), where
    downloads from different mirrors at once compete as they do on a real access link."""

    def __init__(self, rate_bps: float) -> None:
        self.rate_bps = rate_bps
        self._lock = threading.Lock()
        self._free_at = 0.0

    def slot(self, size: int) -> float:
        """When ``size`` more bytes may be sent (a ``time.monotonic()`` value)."""
        with self._lock:
            slot = max(time.monotonic(), self._free_at)
            self._free_at = slot + size / self.rate_bps
        return slot


class MirrorServer(_LoopbackServer):
    """One lab mirror; see :meth:`MirrorLab.add` for what each setting does."""

    index: SimpleIndex
    """What its simple pages and repodata say (:meth:`MirrorLab.add_index`)."""

    def __init__(
        self,
        name: str,
        stop: threading.Event,
        *,
        tls: ssl.SSLContext | None,
        delay_ms: float,
        rate_bps: float | None,
        status: int | None,
        redirect_to: Callable[[], str] | None,
        behaviour: Behaviour,
        body_bytes: int,
        trickle_interval_s: float = 1.0,
        header_count: int = 0,
        registry: Registry | None = None,
        resolve_to: Callable[[], str] | None = None,
        total_rate_bps: float | None = None,
        ranges: bool = True,
        link: Link | None = None,
        page_shape: PageShape = "lab",
    ) -> None:
        self.page_shape: PageShape = page_shape
        self.total_rate_bps = total_rate_bps
        self.ranges = ranges
        self.links = tuple(
            pace for pace in (Link(total_rate_bps) if total_rate_bps else None, link) if pace
        )
        """The token buckets every body goes through: this server's total, and the link
        it shares with other lab mirrors."""
        self.registry = registry if registry is not None else Registry()
        self.resolve_to = resolve_to
        self.files: dict[str, tuple[int, dict[str, str], bytes | int]] = {}
        """Paths answered as given (:meth:`MirrorLab.serve`), before any other route."""
        self.hang_paths: set[str] = set()
        """Paths never answered: the request is read, then nothing until the lab stops."""
        self.late_paths: dict[str, float] = {}
        """Paths answered this many seconds late (:meth:`MirrorLab.answer_late`)."""
        self.trickle_interval_s = trickle_interval_s
        self.header_count = header_count
        self.tls = tls
        self.delay_ms = delay_ms
        self.rate_bps = rate_bps
        self.status = status
        self.redirect_to = redirect_to
        self.behaviour: Behaviour = behaviour
        self.body_bytes = body_bytes
        super().__init__(name, stop)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        if self.tls is not None:
            # Tracked before the handshake, so that close() can wake a handshake that
            # waits (the plain socket is detached by wrap_socket: shutting it does nothing).
            tls_conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            self.track(tls_conn)
            conn = tls_conn
            try:
                tls_conn.do_handshake()
            except (OSError, ssl.SSLError):
                self.untrack(tls_conn)
                return  # the client refused our certificate (the test), or close() shut it
        request = _read_head(conn)
        if request is None:
            return
        method, target, headers, _ = request
        entry = self.record(method, target, headers)
        try:
            self._answer(conn, target, headers, method)
        finally:
            entry.finished = time.monotonic()
            self.untrack(conn)

    def _answer(
        self, conn: socket.socket, target: str, request: dict[str, str], method: str = "GET"
    ) -> None:
        if self.behaviour == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if self.behaviour == "close":
            return
        if self.behaviour == "hang" or urlsplit(target).path in self.hang_paths:
            self.stop.wait()
            return
        # The delay sits after the request is read and before the status line: it is
        # what the client must see as time to first byte.
        if self.delay_ms and self.stop.wait(self.delay_ms / 1000):
            return
        path = urlsplit(target).path
        if self.late_paths.get(path) and self.stop.wait(self.late_paths[path]):
            return
        if (path.startswith("/v2/") or path == "/token") and (
            self.status is None and self.redirect_to is None
        ):
            status, headers, body = self.registry.route(self.url, target, request, self.body_bytes)
        else:
            status, headers, body = self._route(target)
            if status == 200:
                status, headers, body = self.index.answer(self, path, request, headers, body)
            if _is_file(target) and status == 200:
                status, headers, body = self._file(target, request, headers, body)
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head += [f"X{index}: 1" for index in range(self.header_count)]
        chunked = self.chunked and isinstance(body, bytes) and _is_dynamic(headers)
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {_length(body)}"
        head += [framing, "Connection: close", "Server: envdoctor-lab"]
        raw_head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.behaviour == "trickle-head":
            self._trickle(conn, raw_head)
            return
        conn.sendall(raw_head)
        if self.behaviour == "trickle-body" and isinstance(body, int):
            self._trickle(conn, _BLOCK)
            return
        if self.behaviour == "burst-then-stall" and isinstance(body, int):
            conn.sendall(_BLOCK * (BURST_BYTES // len(_BLOCK)))
            self.stop.wait()
            return
        if method != "HEAD":
            self._send_body(conn, _chunked(body) if chunked and isinstance(body, bytes) else body)

    chunked: bool = False
    """Set to send JSON and HTML answers chunked, as nginx sends answers made on the fly
    (an API, a generated page): no ``Content-Length``, chunks with an extension, a
    trailer (:func:`_chunked`)."""

    xet: XetFile | None = None
    """Set on a hub: its ``resolve`` answers announce a Xet-backed file (:class:`XetFile`)."""

    def _file(
        self, target: str, request: dict[str, str], headers: dict[str, str], body: bytes | int
    ) -> tuple[int, dict[str, str], bytes | int]:
        """A hub's file: the headers huggingface_hub needs (``X-Repo-Commit``, ``ETag``);
        with ``resolve_to``, a 302 to that server (the Hub's CDN redirect); a
        ``Range: bytes=a-b`` answered with 206 and ``Content-Range``; with :attr:`xet`,
        the Xet headers on the ``resolve`` answer (the redirect, or the file itself)."""
        size = _length(body)
        etag = f'"lab-{size}"'
        hub = {"X-Repo-Commit": _LAB_COMMIT, "ETag": etag}
        if self.xet is not None and "/resolve/" in target:
            hub.update(self.xet.headers(self.url, target))
        if self.resolve_to is not None:
            cdn = {"Location": f"{self.resolve_to()}{target}", "X-Linked-Size": str(size)}
            return 302, {**hub, **cdn, "X-Linked-Etag": etag}, b""
        headers = {**headers, **hub, "Accept-Ranges": "bytes"}
        if not self.ranges:
            del headers["Accept-Ranges"]
            return 200, headers, body
        return _ranged(request, headers, body)

    def _trickle(self, conn: socket.socket, data: bytes) -> None:
        for index in range(len(data)):
            conn.sendall(data[index : index + 1])
            if self.stop.wait(self.trickle_interval_s):
                return

    def _route(self, target: str) -> tuple[int, dict[str, str], bytes | int]:
        path = urlsplit(target).path
        if path in self.files:
            status, headers, body = self.files[path]
            return status, dict(headers), body
        if self.redirect_to is not None:
            return 302, {"Location": self.redirect_to() + target}, b""
        if self.status is not None:
            text = f"{self.status} from lab mirror {self.name}\n".encode()
            return self.status, {"Content-Type": "text/plain"}, text
        if path.endswith("/v2/"):
            return 401, _REGISTRY_HEADERS, _REGISTRY_BODY
        if path.endswith("repodata.json"):
            return 200, {"Content-Type": "application/json"}, _repodata(self.body_bytes)
        if path.startswith("/api/v1/models/") and path.endswith("/repo"):
            return 200, {"Content-Type": "application/octet-stream"}, self.body_bytes
        if path.startswith("/api/v1/models/"):
            return 200, {"Content-Type": "application/json"}, _modelscope_json(path)
        if "/xet-read-token/" in path and self.xet is not None and self.xet.cas is not None:
            return 200, self.xet.token_headers(), b"{}"
        if path.startswith("/api/models/"):
            return 200, {"Content-Type": "application/json"}, _hf_json(path)
        if "/resolve/" in path:
            return 200, {"Content-Type": "application/octet-stream"}, self.body_bytes
        if path.endswith((".whl", ".tar.bz2", ".conda")):  # a wheel, a conda package
            return 200, {"Content-Type": "application/octet-stream"}, self.body_bytes
        if path.endswith("/") and "/simple/" in path:
            project = path.rstrip("/").rsplit("/", 1)[-1]
            page = _simple_page(project, self.body_bytes, self.page_shape)
            return 200, {"Content-Type": "text/html"}, page
        other = _other_client(path, self.body_bytes)
        if other is not None:
            return other
        return 404, {"Content-Type": "text/plain"}, b"not found\n"

    def _send_body(self, conn: socket.socket, body: bytes | int) -> None:
        rates = [rate for rate in (self.rate_bps, *(pace.rate_bps for pace in self.links)) if rate]
        chunk = max(1024, int(min(rates) / 100)) if rates else 64 * 1024
        started = time.monotonic()
        sent = 0
        for piece in _pieces(body, chunk):
            if self.rate_bps:
                wait = started + sent / self.rate_bps - time.monotonic()
                if wait > 0 and self.stop.wait(wait):
                    return
            for pace in self.links:
                wait = pace.slot(len(piece)) - time.monotonic()
                if wait > 0 and self.stop.wait(wait):
                    return
            conn.sendall(piece)
            sent += len(piece)


def _ranged(
    request: dict[str, str], headers: dict[str, str], body: bytes | int
) -> tuple[int, dict[str, str], bytes | int]:
    """``Range: bytes=a-b`` (or ``a-``) answered with 206 and ``Content-Range``, as nginx
    and object stores do; anything else with the whole body."""
    size = _length(body)
    wanted = request.get("range", "")
    start_s, _, end_s = wanted.removeprefix("bytes=").partition("-")
    if wanted.startswith("bytes=") and start_s.isdigit() and size:
        start = int(start_s)
        end = min(int(end_s), size - 1) if end_s.isdigit() else size - 1
        if start <= end:
            headers = {**headers, "Content-Range": f"bytes {start}-{end}/{size}"}
            if isinstance(body, bytes):
                return 206, headers, body[start : end + 1]
            return 206, headers, end - start + 1
    return 200, headers, body


_LAB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class XetFile:
    """What the Hub sends on ``resolve`` for a Xet-backed file: ``X-Xet-Hash``,
    ``X-Xet-Refresh-Route`` (the token route under ``/api/models/<repo>/xet-read-token/``)
    and, with ``link``, a ``Link`` header naming the same route as ``xet-auth`` and the
    storage's reconstruction URL (``storage``, a base URL) as ``xet-reconstruction-info``.
    ``upstream_route`` spells the route on ``https://huggingface.co``, as a mirror that
    passes the Hub's headers through does."""

    file_hash: str = "ab" * 32
    link: bool = True
    storage: str | None = None
    upstream_route: bool = False
    cas: str | None = None
    """With it, the hub answers the token route as the Hub does: ``X-Xet-Cas-Url`` (this
    base URL), ``X-Xet-Access-Token`` and ``X-Xet-Token-Expiration``."""

    def token_headers(self) -> dict[str, str]:
        return {
            "X-Xet-Cas-Url": self.cas or "",
            "X-Xet-Access-Token": "lab-token",
            "X-Xet-Token-Expiration": str(int(time.time()) + 3600),
        }

    def headers(self, hub: str, target: str) -> dict[str, str]:
        repo = urlsplit(target).path.lstrip("/").split("/resolve/")[0]
        base = "https://huggingface.co" if self.upstream_route else hub
        route = f"{base}/api/models/{repo}/xet-read-token/{_LAB_COMMIT}"
        headers = {"X-Xet-Hash": self.file_hash, "X-Xet-Refresh-Route": route}
        if self.link:
            parts = [f'<{route}>; rel="xet-auth"']
            if self.storage is not None:
                info = f"{self.storage}/v1/reconstructions/{self.file_hash}"
                parts.append(f'<{info}>; rel="xet-reconstruction-info"')
            headers["Link"] = ", ".join(parts)
        return headers


def _is_file(target: str) -> bool:
    path = urlsplit(target).path
    return "/resolve/" in path or (path.startswith("/api/v1/models/") and path.endswith("/repo"))


def _is_dynamic(headers: dict[str, str]) -> bool:
    kind = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return "json" in kind or "html" in kind


def _chunked(body: bytes, size: int = 1000) -> bytes:
    """``body`` as a chunked body: pieces of ``size`` bytes, the first size line with an
    extension, the last chunk followed by a trailer."""
    pieces = [body[start : start + size] for start in range(0, len(body), size)]
    out = b"".join(
        b"%x%s\r\n%s\r\n" % (len(piece), b";lab=1" if index == 0 else b"", piece)
        for index, piece in enumerate(pieces)
    )
    return out + b"0\r\nX-Lab-Trailer: 1\r\n\r\n"


def _length(body: bytes | int) -> int:
    return body if isinstance(body, int) else len(body)


def _pieces(body: bytes | int, size: int) -> Iterator[bytes]:
    if isinstance(body, bytes):
        for start in range(0, len(body), size):
            yield body[start : start + size]
        return
    remaining = body
    block = (_BLOCK * (size // len(_BLOCK) + 1))[:size]
    while remaining > 0:
        piece = block[: min(size, remaining)]
        remaining -= len(piece)
        yield piece


_REASONS = {
    200: "OK",
    206: "Partial Content",
    429: "Too Many Requests",
    301: "Moved Permanently",
    302: "Found",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    407: "Proxy Authentication Required",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_REGISTRY_HEADERS = {
    "Content-Type": "application/json",
    "Docker-Distribution-Api-Version": "registry/2.0",
    "WWW-Authenticate": 'Bearer realm="https://auth.lab.test/token",service="registry.lab.test"',
}
_REGISTRY_BODY = (
    b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n'
)


@dataclass
class Registry:
    """A registry serving one small image the way ``docker pull`` fetches it: ``/v2/``
    answers 401 with a Bearer challenge whose realm is this server's ``/token``; the tag
    is an OCI index (linux/amd64 and linux/arm64) of image manifests, each with a config
    blob and one layer of ``body_bytes`` filler bytes (digests are the true sha256 of what
    is served).  Misbehaviours of real proxies: ``allow`` serves only those repositories
    (403 DENIED "not in allowlist" for others); ``manifest_status`` answers manifests
    with that code (429 as a rate-limited proxy does); ``html`` answers manifests with a
    web page."""

    repos: tuple[str, ...] = ("library/busybox",)
    allow: tuple[str, ...] | None = None
    manifest_status: int | None = None
    html: bool = False
    token: str = "lab-token"
    tags: tuple[str, ...] = ("latest",)
    """Tags that name the image (``3.12-slim`` as well as ``latest``)."""
    echo_authorization: bool = False
    """The allowlist's refusal repeats the request's ``Authorization`` header, as some
    proxies' error messages do."""

    def route(
        self, base: str, target: str, request: dict[str, str], body_bytes: int
    ) -> tuple[int, dict[str, str], bytes | int]:
        path = urlsplit(target).path
        json_type = {"Content-Type": "application/json"}
        if path == "/v2/":
            challenge = f'Bearer realm="{base}/token",service="lab-registry"'
            return 401, {**_REGISTRY_HEADERS, "WWW-Authenticate": challenge}, _REGISTRY_BODY
        if path == "/token":
            return 200, json_type, json.dumps({"token": self.token}).encode()
        match = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", path)
        if match is None:
            return 404, {"Content-Type": "text/plain"}, b"not found\n"
        repo, kind, reference = match.groups()
        if request.get("authorization") != f"Bearer {self.token}":
            return 401, _REGISTRY_HEADERS, _REGISTRY_BODY
        if self.allow is not None and repo not in self.allow:
            message = "not in allowlist"
            if self.echo_authorization:
                message = f"not in allowlist for {request['authorization']}"
            error = {"errors": [{"code": "DENIED", "message": message}]}
            return 403, json_type, json.dumps(error).encode()
        if repo not in self.repos:
            error = {"errors": [{"code": "NAME_UNKNOWN", "message": "repository unknown"}]}
            return 404, json_type, json.dumps(error).encode()
        image = _image(body_bytes)
        if kind == "manifests":
            if self.manifest_status is not None:
                error = {"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}
                return self.manifest_status, json_type, json.dumps(error).encode()
            if self.html:
                return 200, {"Content-Type": "text/html"}, b"<!DOCTYPE html><html>hi</html>\n"
            document = image.manifests.get("latest" if reference in self.tags else reference)
            if document is None:
                return 404, json_type, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
            kind_header = json.loads(document)["mediaType"]
            return 200, {"Content-Type": kind_header}, document
        if reference == image.config_digest:
            return 200, {"Content-Type": "application/octet-stream"}, image.config
        if reference == image.layer_digest:
            return _ranged(request, {"Content-Type": "application/octet-stream"}, body_bytes)
        return 404, json_type, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}'


@dataclass(frozen=True)
class _Image:
    manifests: dict[str, bytes]
    """``latest`` and each manifest's digest -> the document."""
    config: bytes
    config_digest: str
    layer_digest: str


@functools.lru_cache(maxsize=4)
def _image(layer_bytes: int) -> _Image:
    layer = hashlib.sha256()
    for piece in _pieces(layer_bytes, 64 * 1024):
        layer.update(piece)
    layer_digest = f"sha256:{layer.hexdigest()}"
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    config_digest = f"sha256:{hashlib.sha256(config).hexdigest()}"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": layer_bytes,
                }
            ],
        }
    ).encode()
    manifest_digest = f"sha256:{hashlib.sha256(manifest).hexdigest()}"
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": f"sha256:{'0' * 64}",
                    "size": len(manifest),
                    "platform": {"architecture": "arm64", "os": "linux"},
                },
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                },
            ],
        }
    ).encode()
    return _Image({"latest": index, manifest_digest: manifest}, config, config_digest, layer_digest)


@functools.lru_cache(maxsize=8)
def _repodata(size: int) -> bytes:
    """A valid ``repodata.json`` of about ``size`` bytes."""
    packages = {}
    total = 0
    index = 0
    while total < size:
        filename = f"labpkg{index}-1.0.{index}-py_0.tar.bz2"
        entry = {
            "build": "py_0",
            "build_number": 0,
            "depends": ["python >=3.8"],
            "md5": f"{index:032x}",
            "name": f"labpkg{index}",
            "noarch": "python",
            "sha256": f"{index:064x}",
            "size": 1000 + index,
            "subdir": "noarch",
            "version": f"1.0.{index}",
        }
        packages[filename] = entry
        total += len(filename) + 260
        index += 1
    document = {
        "info": {"subdir": "noarch"},
        "packages": packages,
        "packages.conda": {},
        "removed": [],
        "repodata_version": 1,
    }
    return json.dumps(document).encode()


_PYPI_PLATFORMS = (
    "win32",
    "win_amd64",
    "macosx_10_9_x86_64",
    "macosx_11_0_arm64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "musllinux_1_1_aarch64",
    "musllinux_1_1_x86_64",
)


def simple_html(project: str, links: str) -> bytes:
    """A PEP 503 page of ``project`` around ``links`` (its ``<a>`` lines), as pypi.org
    writes one."""
    return (
        '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1">'
        f"<title>Links for {project}</title></head>\n<body><h1>Links for {project}</h1>\n"
        f"{links}</body></html>\n"
    ).encode()


@functools.lru_cache(maxsize=16)
def _simple_page(project: str, large_size: int, shape: PageShape = "lab") -> bytes:
    """A PEP 503 page: two files for a small project, ``large_size`` bytes for numpy.
    ``shape`` "lab": numpy's files are all ``py3-none-any`` wheels behind short links;
    "pypi": as on pypi.org, each version's wheels for four CPythons and eight platforms
    and its sdist, behind links with their hash, ``data-requires-python`` and
    ``data-dist-info-metadata`` (about 500 bytes each), so that choosing a wheel costs
    what it costs there.  Made once per arguments: a page of many MiB is asked for by
    every sample of every mirror."""
    if project == "numpy" and shape == "pypi":
        return _pypi_shaped_page(project, large_size)
    count = 2 if project != "numpy" else max(2, large_size // 200)
    links = "".join(
        f'<a href="../../packages/ab/cd/{project}-1.{index}.0-py3-none-any.whl'
        f'#sha256={index:064x}">{project}-1.{index}.0-py3-none-any.whl</a><br/>\n'
        for index in range(count)
    )
    return simple_html(project, links)


def _pypi_shaped_page(project: str, large_size: int) -> bytes:
    links: list[str] = []
    size = 0
    version = 0
    while size < large_size:
        number = f"1.{version}.0"
        names = [
            f"{project}-{number}-{python}-{python}-{platform}.whl"
            for python in ("cp310", "cp311", "cp312", "cp313")
            for platform in _PYPI_PLATFORMS
        ]
        names.append(f"{project}-{number}.tar.gz")
        for name in names:
            digest = f"{len(links):064x}"
            link = (
                f'<a href="../../packages/ab/cd/{digest[:56]}/{name}'
                f'#sha256={digest}" data-requires-python="&gt;=3.10" '
                f'data-dist-info-metadata="sha256={digest}" data-core-metadata="sha256={digest}"'
                f">{name}</a><br />\n"
            )
            links.append(link)
            size += len(link)
        version += 1
    return simple_html(project, "".join(links))


def _hf_json(path: str) -> bytes:
    repo = path.removeprefix("/api/models/").split("/revision/")[0]
    return json.dumps(
        {
            "_id": "621ffdc036468d709f174338",
            "id": repo,
            "modelId": repo,
            "private": False,
            "sha": "607a30d783dfa663caf39e06633721c8d4cfcd7e",
            "siblings": [{"rfilename": name} for name in ("config.json", "model.safetensors")],
        }
    ).encode()


def _modelscope_json(path: str) -> bytes:
    owner, _, name = path.removeprefix("/api/v1/models/").partition("/")
    return json.dumps(
        {
            "Code": 200,
            "Data": {"Id": 1, "Name": name, "Path": owner, "Revision": "master"},
            "Message": "success",
            "RequestId": "lab",
            "Success": True,
        }
    ).encode()


class LabProxy(_LoopbackServer):
    """A forward proxy: absolute-form GET for http, ``CONNECT`` tunnels for https."""

    def __init__(self, name: str, stop: threading.Event, auth: tuple[str, str] | None) -> None:
        self.auth = auth
        super().__init__(name, stop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> list[str]:
        """``METHOD target`` of every request that reached the proxy."""
        return [f"{record.method} {record.target}" for record in self.records]

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        request = _read_head(conn)
        if request is None:
            return
        method, target, headers, rest = request
        entry = self.record(method, target, headers)
        try:
            self._relay_request(conn, method, target, headers, rest)
        finally:
            entry.finished = time.monotonic()

    def _relay_request(
        self, conn: socket.socket, method: str, target: str, headers: dict[str, str], rest: bytes
    ) -> None:
        if self.auth is not None:
            import base64

            expected = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
            if headers.get("proxy-authorization") != expected:
                conn.sendall(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="lab"\r\n'
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = self._dial(conn, host.strip("[]"), int(port))
            if upstream is None:
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pump(conn, upstream)
            return
        parts = urlsplit(target)
        upstream = self._dial(conn, parts.hostname or "", parts.port or 80)
        if upstream is None:
            return
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        lines = [f"{method} {path} HTTP/1.1"]
        lines += [
            f"{name}: {value}" for name, value in headers.items() if not name.startswith("proxy-")
        ]
        upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + rest)
        self._pump(conn, upstream)

    def _dial(self, conn: socket.socket, host: str, port: int) -> socket.socket | None:
        try:
            upstream = socket.create_connection((host, port), timeout=5)
        except OSError:
            conn.sendall(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            return None
        self.track(upstream)
        return upstream

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(client, selectors.EVENT_READ, upstream)
                selector.register(upstream, selectors.EVENT_READ, client)
                while not self.stop.is_set():
                    for key, _ in selector.select(timeout=10):
                        source = key.fileobj
                        assert isinstance(source, socket.socket)
                        data = source.recv(65536)
                        if not data:
                            return
                        key.data.sendall(data)
        finally:
            self.untrack(upstream)


class RecordingProxy:
    """A loopback "proxy" that records the first line of every request and answers 502.

    :meth:`close` shuts the listener down before closing it and waits for the serving
    thread: a thread left in ``accept()`` on a descriptor closed under it is a zombie that
    can end up accepting on whatever listener gets that number next (a later test's lab
    mirror), and answers its clients' TLS handshakes with this plain-text 502: the
    ``TLS error 127.0.0.1: WRONG_VERSION_NUMBER`` that failed CI runs."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self._serve, name="recording-proxy", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # shut down by close()
            with conn:
                conn.settimeout(2)
                try:
                    head = conn.recv(4096)
                    self.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        _shut(self.server)  # wakes the accept() (EINVAL), which close() alone does not
        self.thread.join(timeout=5)
        self.server.close()


# --------------------------------------------------------------------------- the lab


@dataclass
class MirrorLab:
    """A set of lab mirrors and proxies, all stopped by :meth:`close`."""

    pki: LabPKI
    stop: threading.Event = field(default_factory=threading.Event)
    servers: dict[str, MirrorServer] = field(default_factory=dict)
    proxies: dict[str, LabProxy] = field(default_factory=dict)
    _extra: list[socket.socket] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """Environment for clients: trust the lab CA, no proxies."""
        return {"SSL_CERT_FILE": str(self.pki.ca_file)}

    def add(
        self,
        name: str,
        *,
        tls: bool = True,
        delay_ms: float = 0,
        rate_bps: float | None = None,
        status: int | None = None,
        redirect_to: str | None = None,
        behaviour: Behaviour = "ok",
        body_bytes: int = DEFAULT_BODY_BYTES,
        cert: CertChoice = "lab",
        trickle_interval_s: float = 1.0,
        header_count: int = 0,
        registry: Registry | None = None,
        resolve_to: str | None = None,
        total_rate_bps: float | None = None,
        ranges: bool = True,
        link: Link | None = None,
        page_shape: PageShape = "lab",
    ) -> str:
        """Start a mirror and return its base URL (``https://127.0.0.1:<port>``).

        ``delay_ms`` waits after reading the request, before the status line;
        ``rate_bps`` paces the body (bytes per second); ``status`` answers every path
        with that code; ``redirect_to`` (another server's name) answers 302 to the same
        path there; ``behaviour`` resets, closes or hangs instead of answering;
        ``body_bytes`` sizes the large bodies (repodata.json, file downloads, numpy's
        simple page; any size: a body of 2**40 bytes is endless in practice);
        ``cert`` picks the server certificate; ``trickle_interval_s`` paces the
        ``trickle-*`` behaviours; ``header_count`` adds that many header lines to every
        answer (http.client refuses more than 100); ``registry`` makes it a registry
        serving a real small image (see :class:`Registry`); ``resolve_to`` (another
        server's name) makes it a hub whose file answers (``/resolve/``, ModelScope's
        ``/repo``) are 302s to the same path there, as the Hub sends LFS files to
        its CDN.  File answers carry ``X-Repo-Commit`` and ``ETag`` (huggingface_hub
        needs both) and honour ``Range: bytes=a-b`` with a 206.  ``rate_bps`` limits
        each connection (a per-connection limited server: more connections help);
        ``total_rate_bps`` limits the sum over all of them (one token bucket: more
        connections do not help); ``link`` (a :class:`Link`) paces its bodies together
        with every other mirror on the same link; ``ranges=False`` ignores ``Range`` and
        answers 200 with the whole file; ``page_shape`` shapes numpy's simple page (see
        ``_simple_page``).
        """
        if name in self.servers:
            raise ValueError(f"lab mirror {name!r} exists")
        target = None
        if redirect_to is not None:
            other = redirect_to
            target = functools.partial(lambda n: self.servers[n].url, other)
        server = MirrorServer(
            name,
            self.stop,
            tls=self.pki.server_context(cert) if tls else None,
            delay_ms=delay_ms,
            rate_bps=rate_bps,
            status=status,
            redirect_to=target,
            behaviour=behaviour,
            body_bytes=body_bytes,
            trickle_interval_s=trickle_interval_s,
            header_count=header_count,
            registry=registry,
            resolve_to=(
                None
                if resolve_to is None
                else functools.partial(lambda n: self.servers[n].url, resolve_to)
            ),
            total_rate_bps=total_rate_bps,
            ranges=ranges,
            link=link,
            page_shape=page_shape,
        )
        self.servers[name] = server
        if body_bytes <= 64 * 1024 * 1024:
            _repodata(body_bytes)  # made now, so that the first request does not wait for it
        return server.url

    def server(self, name: str) -> MirrorServer:
        return self.servers[name]

    def serve(
        self,
        name: str,
        path: str,
        body: bytes | int = b"",
        *,
        status: int = 200,
        content_type: str = "application/json",
        hang: bool = False,
    ) -> str:
        """Answer ``path`` on mirror ``name`` with ``body`` (bytes, or a size of filler)
        and ``status``, or never (``hang``): a site's ``/static/tunasync.json``, an
        ``InRelease`` with a given ``Date:`` (:func:`inrelease`).  Returns its URL."""
        server = self.servers[name]
        if hang:
            server.hang_paths.add(path)
        else:
            server.files[path] = (status, {"Content-Type": content_type}, body)
        return server.url + path

    def answer_late(self, name: str, path: str, seconds: float) -> None:
        """Answer ``path`` on mirror ``name`` as usual, but ``seconds`` late: a proxy that
        fetches a large file from its upstream on a cache miss."""
        self.servers[name].late_paths[path] = seconds

    def add_proxy(self, name: str = "proxy", *, auth: tuple[str, str] | None = None) -> str:
        """Start a forward proxy and return its URL (no credentials in it)."""
        proxy = LabProxy(name, self.stop, auth)
        self.proxies[name] = proxy
        return proxy.url

    def proxy(self, name: str = "proxy") -> LabProxy:
        return self.proxies[name]

    def add_index(self, name: str, index: SimpleIndex, **settings: Any) -> str:
        """:meth:`add` a mirror whose simple pages and repodata are ``index``'s."""
        url = self.add(name, **settings)
        self.servers[name].index = index
        return url

    def refused_url(self, scheme: str = "http") -> str:
        """A URL on a loopback port nothing listens on."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return f"{scheme}://127.0.0.1:{port}"

    def blackhole_url(self, scheme: str = "http") -> str:
        """A URL whose TCP connect never completes: a listener that never accepts, its
        backlog already full, so the kernel drops further SYNs (a connect timeout)."""
        host, port = self.blackhole_address()
        return f"{scheme}://{host}:{port}"

    def blackhole_address(self, family: socket.AddressFamily = socket.AF_INET) -> tuple[str, int]:
        """``(address, port)`` on loopback (``::1`` for ``AF_INET6``) where a connect
        never completes: the half of a dual-stack name whose packets are dropped."""
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        listener = socket.socket(family)
        listener.bind((host, 0))
        listener.listen(0)
        self._extra.append(listener)
        address = listener.getsockname()[:2]
        for _ in range(3):
            filler = socket.socket(family)
            filler.setblocking(False)
            filler.connect_ex(address)
            self._extra.append(filler)
        time.sleep(0.05)
        return host, address[1]

    def close(self) -> None:
        self.stop.set()
        for server in [*self.servers.values(), *self.proxies.values()]:
            server.close()
        for sock in self._extra:
            sock.close()

    def __enter__(self) -> MirrorLab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@pytest.fixture(scope="session")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPKI:
    """The lab's CA and server certificates, made once per test session."""
    return LabPKI.create(tmp_path_factory.mktemp("mirrorlab-pki"))


@pytest.fixture
def mirror_lab(lab_pki: LabPKI) -> Iterator[MirrorLab]:
    """A fresh lab; every server, proxy and hanging connection is released afterwards."""
    with MirrorLab(lab_pki) as lab:
        yield lab


def inrelease(date: datetime.datetime, suite: str = "stable") -> bytes:
    """An (unsigned) ``InRelease`` of ``suite`` whose ``Date:`` is ``date`` (UTC)."""
    stamp = date.astimezone(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S UTC")
    return f"Origin: Lab\nLabel: Lab\nSuite: {suite}\nCodename: {suite}\nDate: {stamp}\n".encode()


def _other_client(path: str, large_size: int) -> tuple[int, dict[str, str], bytes] | None:
    """The first requests of apt, npm, Go, cargo's sparse index and git's smart HTTP, and
    their large bodies."""
    text = {"Content-Type": "text/plain"}
    if path.endswith("/InRelease"):
        date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime())
        return 200, text, f"Origin: Lab\nSuite: stable\nDate: {date}\n".encode()
    if path.endswith(("/Packages.xz", ".tgz", ".zip", "/sy/n/syn")):
        return 200, {"Content-Type": "application/octet-stream"}, b"\0" * large_size
    if path.endswith("/@v/list"):
        return 200, text, b"v0.20.0\nv0.21.0\n"
    if path.endswith("/config.json"):
        return 200, {"Content-Type": "application/json"}, b'{"dl": "https://lab.invalid/dl"}'
    if path.endswith("/info/refs"):
        kind = {"Content-Type": "application/x-git-upload-pack-advertisement"}
        return 200, kind, b"001e# service=git-upload-pack\n0000"
    if path.endswith("/lodash"):
        document = {"name": "lodash", "dist-tags": {"latest": "4.17.21"}, "versions": {}}
        return 200, {"Content-Type": "application/json"}, json.dumps(document).encode()
    return None


@dataclass(frozen=True)
class SimpleIndex:
    """What a lab mirror's simple pages and ``repodata.json`` say, as real indexes do.

    ``numpy_files``: how many files numpy's page lists (None: enough for a page of about
    ``body_bytes``; other projects list two); ``serial``: the project serial, in an
    ``X-PyPI-Last-Serial`` header (unless ``serial_header=False``), a bandersnatch
    ``<!--SERIAL n-->`` comment and PEP 691's ``meta._last-serial``; ``json``: answer
    PEP 691 JSON (API 1.1, PEP 700 ``upload-time`` and ``size``) when ``Accept`` asks for
    it; ``files_from``: another server's URL, on which the file links are absolute (as
    PyPI's pages link files.pythonhosted.org); ``yanked``: numpy file indexes marked
    yanked; file ``i`` of ``n`` was uploaded ``(n - i) * upload_step_s`` ago, its wheel
    served at ``/packages/...`` with ``body_bytes`` of filler.  ``missing``: projects
    whose page is a 404.  ``last_modified`` (POSIX time): the repodata's
    ``Last-Modified``; ``repodata``: its body instead of the generated one.  repodata
    and wheels honour ``Range: bytes=a-b`` (wheels unless the server's ``ranges=False``),
    simple pages ``Range: bytes=-N`` (unless ``ranges=False``: the whole page, as a
    server that ignores ``Range``).
    """

    numpy_files: int | None = None
    serial: int | None = None
    serial_header: bool = True
    json: bool = False
    files_from: str | None = None
    yanked: tuple[int, ...] = ()
    upload_step_s: float = 36000.0
    last_modified: float | None = None
    missing: tuple[str, ...] = ()
    repodata: bytes | None = None
    ranges: bool = True

    def answer(
        self,
        server: MirrorServer,
        path: str,
        request: dict[str, str],
        headers: dict[str, str],
        body: bytes | int,
    ) -> tuple[int, dict[str, str], bytes | int]:
        if path.endswith("repodata.json"):
            if self.repodata is not None:
                body = self.repodata
            if self.last_modified is not None:
                stamp = email.utils.formatdate(self.last_modified, usegmt=True)
                headers = {**headers, "Last-Modified": stamp}
            return _ranged(request, headers, body)
        if path.endswith(".whl") and server.ranges:  # a static file: Range, as nginx
            return _ranged(request, headers, body)
        if not (path.endswith("/") and "/simple/" in path):
            return 200, headers, body
        project = path.rstrip("/").rsplit("/", 1)[-1]
        if not self.ranges:
            request = {k: v for k, v in request.items() if k != "range"}
        if project in self.missing:
            return 404, {"Content-Type": "text/plain"}, b"not found\n"
        if self.serial is not None and self.serial_header:
            headers = {**headers, "X-PyPI-Last-Serial": str(self.serial)}
        wants_json = "application/vnd.pypi.simple.v1+json" in request.get("accept", "")
        if self.json and wants_json:
            headers = {**headers, "Content-Type": "application/vnd.pypi.simple.v1+json"}
            return _suffix_range(request, headers, self._json_page(server, project))
        if self.numpy_files is None and self.files_from is None and not self.yanked:
            page = _simple_page(project, server.body_bytes, server.page_shape)
        else:
            page = self._html_page(server, project)
        if self.serial is not None:
            page += f"<!--SERIAL {self.serial}-->\n".encode()
        return _suffix_range(request, headers, page)

    def _files(self, server: MirrorServer, project: str) -> list[tuple[str, str, bool, float]]:
        """``(filename, href, yanked, upload time)`` of every file the page lists."""
        count = 2
        if project == "numpy":
            count = (
                self.numpy_files
                if self.numpy_files is not None
                else max(2, server.body_bytes // 200)
            )
        prefix = "../../packages"
        if self.files_from is not None:
            prefix = f"{self.files_from.rstrip('/')}/packages"
        now = time.time()
        return [
            (
                f"{project}-1.{index}.0-py3-none-any.whl",
                f"{prefix}/ab/cd/{project}-1.{index}.0-py3-none-any.whl#sha256={index:064x}",
                project == "numpy" and index in self.yanked,
                now - (count - index) * self.upload_step_s,
            )
            for index in range(count)
        ]

    def _html_page(self, server: MirrorServer, project: str) -> bytes:
        links = "".join(
            f'<a href="{href}"{" data-yanked=" if yanked else ""}>{name}</a><br/>\n'
            for name, href, yanked, _ in self._files(server, project)
        )
        return simple_html(project, links)

    def _json_page(self, server: MirrorServer, project: str) -> bytes:
        files = [
            {
                "filename": name,
                "url": href.partition("#")[0],
                "hashes": {"sha256": href.partition("#sha256=")[2]},
                "requires-python": None,
                "size": server.body_bytes,
                "upload-time": datetime.datetime.fromtimestamp(uploaded, datetime.timezone.utc)
                .isoformat(timespec="microseconds")
                .replace("+00:00", "Z"),
                "yanked": "lab yanked it" if yanked else False,
            }
            for name, href, yanked, uploaded in self._files(server, project)
        ]
        meta: dict[str, object] = {"api-version": "1.1"}
        if self.serial is not None:
            meta["_last-serial"] = self.serial
        versions = sorted({name.split("-")[1] for name, *_ in self._files(server, project)})
        document = {"meta": meta, "name": project, "files": files, "versions": versions}
        return json.dumps(document).encode()


MirrorServer.index = SimpleIndex()


def _suffix_range(
    request: dict[str, str], headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """``Range: bytes=-N`` (the last N bytes, all of them when N is larger) as nginx and
    Fastly answer it; a page asked without ``Range`` comes whole."""
    wanted = request.get("range", "")
    if not (wanted.startswith("bytes=-") and wanted[7:].isdigit() and body):
        return 200, headers, body
    start = max(0, len(body) - int(wanted[7:]))
    headers = {**headers, "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
    return 206, headers, body[start:]
