"""Dual-stack names: every address is tried, the next one 250 ms after the first (RFC
8305), and a broken family is a finding of its own, not a dead mirror."""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urlsplit

from envdoctor.net.dualstack import interleave
from envdoctor.net.measure import measure
from envdoctor.net.results import Outcome
from envdoctor.tools import pull_path
from tests.mirrorlab import MirrorLab

pytest_plugins = ["tests.mirrorlab"]

Info = tuple[Any, Any, int, str, tuple[Any, ...]]


def _v6(host: str, port: int) -> Info:
    return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (host, port, 0, 0))


def _v4(host: str, port: int) -> Info:
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, port))


def _resolver(answers: list[Info]) -> Any:
    def resolve(host: str, port: int, family: int = 0, type: int = 0) -> list[Info]:
        assert host == "dual.lab.test"
        return answers

    return resolve


def _dual_url(mirror_lab: MirrorLab, name: str) -> tuple[str, int]:
    port = urlsplit(mirror_lab.add(name)).port
    assert port is not None
    return pull_path(f"https://dual.lab.test:{port}", "hf").probe_url, port


def _unused_port(family: socket.AddressFamily, host: str) -> int:
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def test_an_ipv6_address_that_drops_packets_falls_back_to_ipv4(mirror_lab: MirrorLab) -> None:
    url, port = _dual_url(mirror_lab, "dual")
    hole = mirror_lab.blackhole_address(socket.AF_INET6)
    started = time.monotonic()
    result = measure(
        url,
        kind="hf",
        env=mirror_lab.env,
        samples=2,
        timeout=3.0,
        resolver=_resolver([_v6(*hole), _v4("127.0.0.1", port)]),
    )
    assert result.healthy, result.reason
    assert time.monotonic() - started < 1.5, "waited for the dead address's whole budget"
    assert result.connect_s is not None and 0.2 < result.connect_s < 0.6
    assert result.ip_families == ("IPv4",)
    assert result.dual_stack == (
        f"IPv6 to dual.lab.test is broken (IPv6 [::1]:{hole[1]}: no connection within "
        "250 ms); IPv4 works"
    )


def test_a_refused_ipv6_address_starts_ipv4_at_once(mirror_lab: MirrorLab) -> None:
    url, port = _dual_url(mirror_lab, "dual")
    dead = _unused_port(socket.AF_INET6, "::1")
    result = measure(
        url,
        kind="hf",
        env=mirror_lab.env,
        samples=1,
        timeout=3.0,
        resolver=_resolver([_v6("::1", dead), _v4("127.0.0.1", port)]),
    )
    assert result.healthy, result.reason
    assert result.connect_s is not None and result.connect_s < 0.1
    assert result.dual_stack is not None and "connection refused" in result.dual_stack


def test_every_address_failing_names_each(mirror_lab: MirrorLab) -> None:
    dead6 = _unused_port(socket.AF_INET6, "::1")
    dead4 = _unused_port(socket.AF_INET, "127.0.0.1")
    result = measure(
        "https://dual.lab.test:1/api/models/x",
        kind="hf",
        env=mirror_lab.env,
        samples=1,
        timeout=2.0,
        resolver=_resolver([_v6("::1", dead6), _v4("127.0.0.1", dead4)]),
    )
    assert result.outcome is Outcome.REFUSED
    assert f"IPv6 [::1]:{dead6}" in result.reason and f"IPv4 127.0.0.1:{dead4}" in result.reason
    assert result.dual_stack is None


def test_families_are_interleaved_starting_with_the_first() -> None:
    infos = [_v6("::1", 1), _v6("::2", 2), _v4("127.0.0.1", 3), _v4("127.0.0.2", 4)]
    assert [info[4][1] for info in interleave(infos)] == [1, 3, 2, 4]
