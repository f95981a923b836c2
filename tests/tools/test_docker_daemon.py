from __future__ import annotations

import json
import shutil
import signal
import socket
import socketserver
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from envdoctor.context import Context
from envdoctor.tools import docker_daemon as dockerd
from envdoctor.tools.docker import resolve_docker
from tests.tools.test_docker import _start_dockerd, _stop, _wait_for, needs_dockerd


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to 108 bytes: pytest's tmp_path can be longer."""
    directory = Path(tempfile.mkdtemp(prefix="envdoctor-dd-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@contextmanager
def _serve(path: Path, answer: Callable[[str], tuple[int, bytes]]) -> Iterator[list[str]]:
    """A fake Docker API on a unix socket; yields the request paths it saw."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            status, body = answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = _Server(str(path), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def _info_json(mirrors: object, version: str = "26.1.5") -> Callable[[str], tuple[int, bytes]]:
    def answer(path: str) -> tuple[int, bytes]:
        if path != "/info":
            return 404, b'{"message": "page not found"}'
        body = {"ServerVersion": version, "RegistryConfig": {"Mirrors": mirrors}}
        return 200, json.dumps(body).encode()

    return answer


@pytest.fixture
def fake_daemon(short_dir: Path) -> Iterator[tuple[Path, list[str]]]:
    sock = short_dir / "docker.sock"
    with _serve(sock, _info_json(["https://a.example/", "https://b.example"])) as seen:
        yield sock, seen


def test_docker_host_socket_is_asked(ctx: Context, fake_daemon: tuple[Path, list[str]]) -> None:
    sock, seen = fake_daemon
    ctx = Context.for_root(ctx.root, env={"DOCKER_HOST": f"unix://{sock}"})
    info = dockerd.daemon_info(ctx)
    assert info.mirrors == ["https://a.example", "https://b.example"]
    assert info.socket == str(sock)
    assert info.reason == f"dockerd 26.1.5 answered on {sock}"
    assert seen == ["/info"]
    assert dockerd.daemon_mirrors(ctx) == ["https://a.example", "https://b.example"]


def test_system_socket_under_root() -> None:
    # a short root: the socket path must fit in 108 bytes
    root = Path(tempfile.mkdtemp(prefix="edr-", dir="/tmp"))
    try:
        sock = root / "var/run/docker.sock"
        sock.parent.mkdir(parents=True)
        ctx = Context.for_root(root)
        with _serve(sock, _info_json(None)):
            info = dockerd.daemon_info(ctx)
            assert info.mirrors == []  # dockerd sends null for "no mirror"
            assert info.socket == str(sock)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_rootless_socket_when_the_system_one_is_missing(ctx: Context, short_dir: Path) -> None:
    runtime = short_dir / "run"
    runtime.mkdir()
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    assert dockerd.docker_socket(Context.for_root(ctx.root, env=env)) == str(
        ctx.path(dockerd.SYSTEM_SOCKET)
    )  # no rootless socket either: the system path is named in the reason
    with _serve(runtime / "docker.sock", _info_json(["https://r.example"])):
        assert dockerd.daemon_mirrors(Context.for_root(ctx.root, env=env)) == ["https://r.example"]
        system = ctx.path(dockerd.SYSTEM_SOCKET)
        system.parent.mkdir(parents=True)
        system.touch()  # the system socket exists: it wins, as it does for the docker CLI
        assert dockerd.docker_socket(Context.for_root(ctx.root, env=env)) == str(system)


def test_tcp_docker_host_is_not_followed(ctx: Context) -> None:
    env = {"DOCKER_HOST": "tcp://10.0.0.1:2375"}
    assert dockerd.docker_socket(Context.for_root(ctx.root, env=env)) == str(
        ctx.path("/var/run/docker.sock")
    )


def test_missing_socket(ctx: Context) -> None:
    info = dockerd.daemon_info(ctx)
    sock = ctx.path("/var/run/docker.sock")
    assert info == dockerd.DaemonInfo(
        None, f"no Docker socket at {sock}: dockerd is not running", str(sock)
    )


def test_refused_socket(ctx: Context, short_dir: Path) -> None:
    sock = short_dir / "docker.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.close()  # the file stays, nobody listens: connect() is refused
    info = dockerd.daemon_info(Context.for_root(ctx.root, env={"DOCKER_HOST": f"unix://{sock}"}))
    assert info.mirrors is None
    assert info.reason == f"{sock} refused the connection: dockerd is not running"


def test_silent_daemon_times_out(ctx: Context, short_dir: Path) -> None:
    sock = short_dir / "docker.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.listen(1)  # accepts into the backlog, never answers
    try:
        start = time.monotonic()
        info = dockerd.daemon_info(
            Context.for_root(ctx.root, env={"DOCKER_HOST": f"unix://{sock}"}), timeout=0.2
        )
        assert time.monotonic() - start < 2
    finally:
        listener.close()
    assert info.mirrors is None
    assert info.reason == f"dockerd on {sock} did not answer within 0.2 s"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (lambda path: (403, b"{}"), "answered GET /info with HTTP 403"),
        (lambda path: (200, b"<html>"), "answered GET /info with no JSON"),
        (lambda path: (200, b"[1]"), "answered GET /info with no JSON object"),
        (_info_json("https://x.example"), "sent RegistryConfig.Mirrors='https://x.example'"),
    ],
)
def test_odd_answers_give_a_reason(
    ctx: Context, short_dir: Path, answer: Callable[[str], tuple[int, bytes]], reason: str
) -> None:
    sock = short_dir / "docker.sock"
    with _serve(sock, answer):
        info = dockerd.daemon_info(
            Context.for_root(ctx.root, env={"DOCKER_HOST": f"unix://{sock}"})
        )
    assert info.mirrors is None
    assert info.reason.endswith(reason)
    assert str(sock) in info.reason


def test_configured_vs_running() -> None:
    assert not dockerd.configured_vs_running(
        ["https://a/", " https://b"], ["https://a", "https://b/"]
    )
    assert dockerd.configured_vs_running(["https://a", "https://b"], ["https://b", "https://a"])
    assert dockerd.configured_vs_running([], ["https://a"])
    assert dockerd.mismatch_message(["https://a"], ["https://a/"], "daemon.json") is None
    assert dockerd.mismatch_message([], ["https://a/"], "/etc/docker/daemon.json") == (
        "dockerd uses https://a but /etc/docker/daemon.json says no mirror: "
        "the file was edited without a reload"
    )


# --- the real dockerd --------------------------------------------------------------------


@pytest.mark.slow
@needs_dockerd
def test_real_dockerd_edited_without_reload(ctx: Context, short_dir: Path) -> None:
    config = ctx.path("/etc/docker/daemon.json")
    config.parent.mkdir(parents=True)
    config.write_text(
        json.dumps({"registry-mirrors": ["https://one.example", "https://two.example"]})
    )
    process = _start_dockerd(config, short_dir)
    try:
        sock = short_dir / "docker.sock"
        assert _wait_for(process, sock), _stop(process)
        ctx = Context.for_root(ctx.root, home=ctx.home, env={"DOCKER_HOST": f"unix://{sock}"})

        def both() -> tuple[list[str], list[str]]:
            running = dockerd.daemon_mirrors(ctx)
            assert running is not None, dockerd.daemon_info(ctx).reason
            configured = resolve_docker(ctx).value("registry-mirrors")
            assert isinstance(configured, tuple)
            return [str(m) for m in configured], running

        configured, running = both()
        assert running == ["https://one.example", "https://two.example"]
        assert not dockerd.configured_vs_running(configured, running)

        config.write_text(json.dumps({"registry-mirrors": ["https://three.example"]}))
        configured, running = both()
        assert running == ["https://one.example", "https://two.example"]  # not reloaded
        assert dockerd.configured_vs_running(configured, running)
        assert dockerd.mismatch_message(configured, running, str(config)) == (
            f"dockerd uses https://one.example, https://two.example but {config} says "
            "https://three.example: the file was edited without a reload"
        )

        process.send_signal(signal.SIGHUP)  # unshare execs dockerd: this is its pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and dockerd.configured_vs_running(*both()):
            time.sleep(0.05)
        configured, running = both()
        assert running == ["https://three.example"]
        assert not dockerd.configured_vs_running(configured, running)
    finally:
        _stop(process)
