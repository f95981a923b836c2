"""speedtest-cli fails softly: faked per scenario, because its servers are public hosts."""

from __future__ import annotations

import time
import types
import typing

import pytest

import envdoctor.bandwidth as bandwidth


class _Results:
    download = 80_000_000.0  # bits/s, as speedtest-cli reports
    upload = 16_000_000.0
    ping = 23.0
    server: typing.ClassVar[dict[str, str]] = {"sponsor": "Lab ISP", "name": "Loopback"}


def _fake_speedtest(monkeypatch, behaviour):
    module = types.ModuleType("speedtest")

    class ConfigRetrievalError(Exception):
        pass

    class Speedtest:
        def __init__(self, timeout, secure):
            behaviour(ConfigRetrievalError)
            self.results = _Results()

        def get_best_server(self):
            return {}

        def download(self):
            return _Results.download

        def upload(self, pre_allocate):
            assert pre_allocate is False
            return _Results.upload

    module.Speedtest = Speedtest  # type: ignore[attr-defined]
    monkeypatch.setattr(bandwidth, "_import_speedtest", lambda: module)


def test_measured_speeds_are_in_bytes_per_second(monkeypatch):
    _fake_speedtest(monkeypatch, lambda error: None)
    result = bandwidth.measure_bandwidth(timeout=1, deadline_s=5)
    assert result.ok
    assert result.download_bytes_per_s == 10_000_000
    assert result.upload_bytes_per_s == 2_000_000
    assert result.ping_s == pytest.approx(0.023)
    assert result.server == "Lab ISP (Loopback)"


def test_unreachable_servers_are_a_clear_reason_not_a_crash(monkeypatch):
    def refuse(error):
        raise error("HTTP Error 403: Forbidden")

    _fake_speedtest(monkeypatch, refuse)
    result = bandwidth.measure_bandwidth(timeout=1, deadline_s=5)
    assert not result.ok
    assert result.reason == (
        "speedtest.net servers cannot be reached: ConfigRetrievalError: HTTP Error 403: Forbidden"
    )


def test_a_hung_speedtest_is_cut_off_at_the_deadline(monkeypatch):
    import threading

    release = threading.Event()
    _fake_speedtest(monkeypatch, lambda error: release.wait(10))
    started = time.monotonic()
    result = bandwidth.measure_bandwidth(timeout=1, deadline_s=0.2)
    assert time.monotonic() - started < 1.0
    # The hung worker is still there, as a daemon thread that cannot keep the process alive.
    hung = [t for t in threading.enumerate() if t.name == "speedtest"]
    assert len(hung) == 1 and hung[0].daemon and hung[0].is_alive()
    release.set()
    hung[0].join(5)
    assert not hung[0].is_alive()
    # What it finished with afterwards does not change the answer already given.
    assert not result.ok
    assert result.reason == "speedtest did not finish within 0.2 s"


def test_missing_speedtest_cli_says_how_to_install_it(monkeypatch):
    def missing():
        raise ImportError("No module named 'speedtest'")

    monkeypatch.setattr(bandwidth, "_import_speedtest", missing)
    result = bandwidth.measure_bandwidth()
    assert not result.ok
    assert "pip install 'envdoctor[speedtest]'" in result.reason
