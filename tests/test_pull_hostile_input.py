"""Pull steps fed hostile answers: each is a named outcome (a PullRefused, an unknown),
never an exception that would surface as ``internal error``."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from envdoctor.net.measure import fetch_with, measure
from envdoctor.net.parallel import check_range
from envdoctor.net.pull import Answer, Fetch, PullRefused
from envdoctor.net.results import Outcome, count_of, host_port
from envdoctor.net.session import Session
from envdoctor.net.sync_status import (
    SITES,
    Document,
    Job,
    SiteStatus,
    freshness_of,
    job_for,
    parse,
)
from envdoctor.tools import conda_pull, docker_pull, hf_pull, pip_pull

MIRROR = "https://user:secret@mirror.example/simple"


def _fetch(body: bytes, headers: Mapping[str, str] | None = None, status: int = 206) -> Fetch:
    def fetch(url: str, asked: Sequence[tuple[str, str]], authorization: str | None) -> Answer:
        return Answer(url, status, "Partial Content", dict(headers or {}), body)

    return fetch


def test_host_port_of_an_unparseable_url_is_empty() -> None:
    assert host_port("https://[x/a") == ""
    assert host_port("https://mirror.example:8443/a") == "mirror.example:8443"


def test_a_wheel_href_that_does_not_parse_is_refused_with_credentials_masked() -> None:
    page = b'<a href="https://u:pw@[x/numpy-2.0-py3-none-any.whl">numpy</a>'
    fetch = _fetch(page, {"content-type": "text/html"}, status=200)
    with pytest.raises(PullRefused) as refused:
        pip_pull.find_wheel(MIRROR, "numpy", fetch, upstream="")
    assert "does not parse" in refused.value.reason
    assert "pw" not in refused.value.reason and "***" in refused.value.reason


def test_a_repodata_base_url_that_does_not_parse_is_refused() -> None:
    body = b'{"info": {"base_url": "https://[x/"}, "packages": {"a-1-0.tar.bz2": {"size": 5}}}'
    with pytest.raises(PullRefused, match="base_url that does not parse"):
        conda_pull.find_package("https://mirror.example/pkgs/main", _fetch(body), upstream="")


def test_a_xet_refresh_route_that_does_not_parse_falls_back_to_the_endpoint() -> None:
    answer = Answer(
        "https://mirror.example/m/resolve/main/f",
        200,
        "OK",
        {"x-xet-hash": "abc", "x-xet-refresh-route": "https://[x/api/token"},
        b"",
    )
    xet = hf_pull.xet_metadata("https://mirror.example/m/resolve/main/f", answer)
    assert xet is not None and xet.token_host == "mirror.example"


def test_a_sync_job_whose_url_does_not_parse_is_passed_over() -> None:
    good = Job("pypi", "/pypi", "success", 1.0)
    document = Document(SITES[0], (Job("bad", "http://[x/pypi", "success", 1.0), good))
    assert job_for("https://mirror.example/pypi/web/simple/", document) == good


class _RawServer:
    """Answers every connection on 127.0.0.1 with ``raw`` (head and body as given)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                    conn.sendall(self.raw)

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):  # wakes accept(): never close a socket under it
            self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes], _RawServer]]:
    made: list[_RawServer] = []

    def make(raw: bytes) -> _RawServer:
        made.append(_RawServer(raw))
        return made[-1]

    yield make
    for server in made:
        server.close()


def test_a_superscript_status_code_is_not_an_http_answer(raw_server) -> None:  # type: ignore[no-untyped-def]
    server = raw_server("HTTP/1.1 \xb200 OK\r\nContent-Length: 0\r\n\r\n".encode("latin-1"))
    measured = measure(f"{server.url}/", kind="pip", env={}, samples=1, timeout=2.0)
    assert measured.outcome is Outcome.ERROR
    assert "not an HTTP answer" in measured.reason


def test_a_superscript_content_length_is_no_size(raw_server) -> None:  # type: ignore[no-untyped-def]
    server = raw_server("HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nxy".encode("latin-1"))
    session = Session("pip", 2.0, {}, socket.getaddrinfo, None, ())
    checked = check_range(f"{server.url}/f.bin", session)
    assert checked.supported is False and checked.size is None
    answer = fetch_with(Session("pip", 2.0, {}, socket.getaddrinfo, None, ()))(
        f"{server.url}/f.bin", (), None
    )
    assert answer.status == 200 and answer.body.startswith(b"xy")


def test_a_superscript_serial_or_size_is_unknown() -> None:
    page = pip_pull.parse_page(
        Answer("https://m/simple/numpy/", 200, "OK", {"x-pypi-last-serial": "\xb2"}, b"")
    )
    assert page.serial is None
    answer = Answer("https://m/f", 206, "OK", {"content-range": "bytes 0-0/\xb2"}, b"x")
    found = hf_pull.find_file("https://m/f", "m/f", (), "", lambda *_: answer)
    assert found.what == "m/f"


DEEP = b"[" * 100_000


def test_json_nested_past_the_parsers_depth_is_not_a_file() -> None:
    kind = {"content-type": "application/vnd.pypi.simple.v1+json"}
    whole = pip_pull.parse_page(
        Answer("https://m/simple/numpy/", 200, "OK", kind, b'{"files": [{"a": ' + DEEP)
    )
    assert whole.files == ()
    tail = b'l"}, {"a": ' + DEEP + b'}, {"url": "b-2.whl"}], "meta": {}}'
    page = pip_pull.parse_page(Answer("https://m/simple/numpy/", 206, "OK", kind, tail))
    assert [item.filename for item in page.files] == ["b-2.whl"]
    assert conda_pull.choose_package(b'"a-1-0.tar.bz2": {"x": ' + DEEP[:16000]) == (
        "a-1-0.tar.bz2",
        None,
    )


@pytest.mark.parametrize("total", ["0", "000"])
def test_a_range_past_the_files_total_is_a_bad_content_range(raw_server, total) -> None:  # type: ignore[no-untyped-def]
    head = f"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/{total}\r\n"
    server = raw_server(f"{head}Content-Length: 1\r\n\r\nx".encode("latin-1"))
    checked = check_range(
        f"{server.url}/f.bin", Session("pip", 2.0, {}, socket.getaddrinfo, None, ())
    )
    assert checked.supported is False and checked.size is None
    assert "bad Content-Range" in checked.reason


@pytest.mark.parametrize(
    "realm", ["ftp://user:secret@registry.example/token", "https://user:secret@[x/token"]
)
def test_an_unusable_token_realm_is_refused_with_its_credentials_masked(realm: str) -> None:
    challenge = {"www-authenticate": f'Bearer realm="{realm}",service="registry"'}
    fetch = _fetch(b"", challenge, status=401)
    with pytest.raises(PullRefused, match="no usable token realm") as refused:
        docker_pull.find_layer("https://mirror.example", "library/busybox:latest", fetch)
    assert "secret" not in refused.value.reason and "***" in refused.value.reason


@pytest.mark.parametrize("stamp", ["1700000000", None, [1], True])
def test_a_successful_sync_job_without_a_numeric_time_is_unknown_not_never_synced(
    stamp: object,
) -> None:
    site = SiteStatus(
        ("mirror.example",), "https://mirror.example/static/tunasync.json", "tunasync", "test"
    )
    body = json.dumps([{"name": "pypi", "status": "success", "last_update_ts": stamp}])
    document = parse(site, Answer(site.url, 200, "OK", {}, body.encode()))
    job = job_for("https://mirror.example/pypi/web/simple/", document)
    assert job is not None
    words = freshness_of(job, document, 1_800_000_000.0).words
    assert words.startswith("sync status unknown"), words
    assert "no successful sync" not in words


def test_the_elsewhere_finding_says_what_was_measured_and_no_more() -> None:
    page = b'<a href="https://user:pw@files.example/p/numpy-2.0-py3-none-any.whl">numpy</a>'
    fetch = _fetch(page, {"content-type": "text/html"}, status=200)
    found = pip_pull.find_wheel(MIRROR, "numpy", fetch, upstream="")
    assert found.finding is not None
    assert "numpy page links numpy-2.0-py3-none-any.whl there" in found.finding
    assert "keeps downloads" not in found.finding
    assert "pw" not in found.finding and found.hops == ("files.example",)


@pytest.mark.parametrize("size", ["12", 1e400, [1], True, None])
def test_a_manifest_layer_size_of_the_wrong_type_is_no_size(size: object) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "layers": [{"digest": {"not": "a string"}, "size": 5}, {"digest": "sha256:" + "a" * 64}],
    }
    manifest["layers"][1]["size"] = size  # type: ignore[index]
    body = json.dumps(manifest).encode()  # 1e400 is written as Infinity, which json reads

    def fetch(url: str, asked: Sequence[tuple[str, str]], authorization: str | None) -> Answer:
        if "/manifests/" in url:
            kind = {"content-type": "application/vnd.oci.image.manifest.v1+json"}
            return Answer(url, 200, "OK", kind, body)
        return Answer(url, 206 if "/blobs/" in url else 200, "OK", {}, b"x")

    found = docker_pull.find_layer("https://mirror.example", "library/busybox:latest", fetch)
    assert found.url.endswith("/blobs/sha256:" + "a" * 64)
    assert "MB" not in found.what


BIG = "9" * 5000  # int() refuses more than 4300 digits


def test_numbers_of_thousands_of_digits_are_unknown_not_an_error() -> None:
    assert count_of(BIG) is None and count_of("12") == 12 and count_of("") is None
    serial = {"x-pypi-last-serial": BIG, "content-length": BIG}
    assert (
        pip_pull.parse_page(Answer("https://m/simple/numpy/", 200, "OK", serial, b"")).serial
        is None
    )
    comment = pip_pull.parse_page(
        Answer("https://m/simple/numpy/", 200, "OK", {}, f"<!--SERIAL {BIG}-->".encode())
    )
    assert comment.serial is None
    kind = {"content-type": "application/vnd.pypi.simple.v1+json"}
    body = f'{{"meta": {{"_last-serial": {BIG}}}, "files": []}}'.encode()
    assert (
        pip_pull.parse_page(Answer("https://m/simple/numpy/", 200, "OK", kind, body)).serial is None
    )
    links = f'<a href="numpy-{BIG}-py3-none-any.whl">a</a><a href="numpy-1.0.tar.gz">b</a>'
    page = pip_pull.parse_page(Answer("https://m/simple/numpy/", 200, "OK", {}, links.encode()))
    chosen = pip_pull.choose_file(page)
    assert chosen is not None  # the unreadable version ranks as no version, not a crash
    ranged = {"content-range": f"bytes 0-0/{BIG}"}
    found = hf_pull.find_file(
        "https://m/f", "m/f", (), "", lambda *_: Answer("https://m/f", 206, "OK", ranged, b"x")
    )
    assert found.what == "m/f"


def test_a_status_code_or_length_of_thousands_of_digits_is_named(raw_server) -> None:  # type: ignore[no-untyped-def]
    status = raw_server(f"HTTP/1.1 2{BIG} OK\r\nContent-Length: 0\r\n\r\n".encode())
    measured = measure(f"{status.url}/", kind="pip", env={}, samples=1, timeout=2.0)
    assert "internal error" not in measured.reason and not measured.healthy
    length = raw_server(f"HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\nxy".encode())
    checked = check_range(f"{length.url}/f", Session("pip", 2.0, {}, socket.getaddrinfo, None, ()))
    assert checked.supported is False and checked.size is None
    answer = fetch_with(Session("pip", 2.0, {}, socket.getaddrinfo, None, ()))(
        f"{length.url}/f", (), None
    )
    assert answer.status == 200 and answer.body.startswith(b"xy")
    ranged = raw_server(
        f"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/{BIG}\r\n"
        "Content-Length: 1\r\n\r\nx".encode()
    )
    checked = check_range(f"{ranged.url}/f", Session("pip", 2.0, {}, socket.getaddrinfo, None, ()))
    assert checked.supported is False and "bad Content-Range" in checked.reason


def test_a_redirect_to_a_location_that_does_not_parse_is_named(raw_server) -> None:  # type: ignore[no-untyped-def]
    head = "HTTP/1.1 302 Found\r\nLocation: https://user:secret@[x/simple/\r\n"
    server = raw_server(f"{head}Content-Length: 0\r\n\r\n".encode())
    measured = measure(f"{server.url}/simple/", kind="pip", env={}, samples=1, timeout=2.0)
    assert measured.outcome is Outcome.HTTP_ERROR, measured.reason
    assert measured.reason.startswith("HTTP 302 redirect to a bad Location: https://***:***@[x")
    assert "secret" not in json.dumps(measured.to_json())


def test_a_base_href_that_does_not_parse_is_refused() -> None:
    page = b'<base href="https://[x/"><a href="numpy-1.0-py3-none-any.whl">numpy</a>'
    fetch = _fetch(page, {"content-type": "text/html"}, status=200)
    with pytest.raises(PullRefused, match="does not parse"):
        pip_pull.find_wheel(MIRROR, "numpy", fetch, upstream="")
