from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from envdoctor.context import Context


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    """A Context confined to tmp_path: nothing a test does reaches the real machine."""
    home = tmp_path / "home" / "user"
    home.mkdir(parents=True)
    return Context.for_root(tmp_path, home=home, env={"XDG_CONFIG_HOME": str(home / ".config")})


@pytest.fixture(autouse=True)
def _no_public_apt_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    """apt's pull step compares a mirror's InRelease with the archive's own host: never
    in tests (a test names a lab upstream itself)."""
    monkeypatch.setattr("envdoctor.tools.apt.UPSTREAMS", {})


@pytest.fixture(autouse=True)
def _no_public_index_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip's and conda's pull steps compare a mirror with pypi.org and Anaconda: never in
    tests (a test names a lab upstream itself)."""
    monkeypatch.setattr("envdoctor.tools.pip_pull.UPSTREAM_INDEX", None)
    monkeypatch.setattr("envdoctor.tools.conda_pull.UPSTREAM_BASES", {})


@pytest.fixture(autouse=True)
def _no_answers_from_earlier_tests() -> None:
    """Upstream answers are kept for a minute per URL (``net.shared.once_per_run``); a
    lab upstream's URL can be an earlier test's (a port handed out again), whose answer
    (a page with other serials, or none) must not stand in for this test's server."""
    from envdoctor.net import shared

    shared.forget()


_RESERVED_SUFFIXES = (".test", ".invalid", ".example", ".localhost", ".local")
_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")


def _may_resolve(host: object) -> bool:
    """Loopback, address literals and the names RFC 2606/6761 keep off the Internet."""
    if not isinstance(host, str) or not host:
        return True
    name = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(name.strip("[]").split("%")[0])
    except ValueError:
        pass
    else:
        return True
    if name == "localhost" or name.endswith(_RESERVED_SUFFIXES) or name in ("test", "invalid"):
        return True
    return any(name == d or name.endswith("." + d) for d in _RESERVED_DOMAINS)


@pytest.fixture(autouse=True)
def _no_public_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never touch a public host: a lookup of a public name fails at once (as it
    does offline) and fails the test that asked, naming the host, so that a test which
    measures the shipped profiles' mirrors by accident is caught on a machine with DNS
    too (envdoctor resolves through ``socket.getaddrinfo`` at each call)."""
    real = socket.getaddrinfo
    asked: list[str] = []
    lock = threading.Lock()

    def guarded(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if _may_resolve(host):
            return real(host, *args, **kwargs)
        with lock:
            asked.append(str(host))
        raise socket.gaierror(socket.EAI_NONAME, f"tests never resolve public names: {host}")

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield
    with lock:
        names = sorted(set(asked))
    assert not names, f"this test asked for public hosts: {', '.join(names)}"


pytest_plugins = ["tests.mirrorlab"]
