"""Dual-stack names: every address is tried, the next one 250 ms after the first (RFC
8305), and a broken family is a finding of its own, not a dead mirror."""

from __future__ import annotations

import io
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from envdoctor.mirrors import Candidate, Entry, Ranking
from envdoctor.net.dualstack import interleave
from envdoctor.net.measure import measure
from envdoctor.net.results import Measurement, Outcome
from envdoctor.probes import network
from envdoctor.probes.network import timing
from envdoctor.render import render_mirrors
from envdoctor.results import CheckResult, Status
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


def _configured_row(**fields: object) -> tuple[str, CheckResult]:
    """The check's row for a configured hf mirror that answered, measured with ``fields``."""
    measured = Measurement(
        url="https://dual.lab.test/api/models/x", kind="hf", outcome=Outcome.OK, reason="",
        ttfb_s=0.05, **fields,  # type: ignore[arg-type]
    )  # fmt: skip
    entry = Entry(Candidate("hf", "https://dual.lab.test", configured=True), measured)
    return timing(measured), network._result(Ranking("hf", (entry,)), None)


def test_the_ipv6_finding_is_in_the_rows_and_the_check_warns_with_what_to_do() -> None:
    finding = "IPv6 to dual.lab.test is broken (IPv6 [::1]:443: no connection within 250 ms)"
    text, row = _configured_row(ip_families=("IPv4",), dual_stack=f"{finding}; IPv4 works")
    assert text == f"first byte 50 ms; {finding}; IPv4 works"
    assert row.status is Status.WARN and row.summary.endswith(text)
    assert row.remedy is not None and row.remedy.startswith(network.IPV6_REMEDY)
    assert "/etc/gai.conf" in row.remedy


def test_a_mirror_reached_over_both_families_has_no_finding() -> None:
    text, row = _configured_row(ip_families=("IPv6", "IPv4"))
    assert text == "first byte 50 ms"
    assert row.status is Status.OK and row.remedy is None


def test_verbose_mirrors_say_which_families_connected() -> None:
    measured = Measurement(
        url="https://dual.lab.test/api/models/x", kind="hf", outcome=Outcome.OK, reason="",
        ttfb_s=0.05, ip_families=("IPv4",),
    )  # fmt: skip
    entry = Entry(Candidate("hf", "https://dual.lab.test"), measured)
    for terminal in (False, True):  # plain lines, and the table
        console = Console(file=io.StringIO(), width=100, force_terminal=terminal)
        render_mirrors([Ranking("hf", (entry,))], console, verbose=True)
        assert "connected over IPv4" in console.file.getvalue()  # type: ignore[attr-defined]
