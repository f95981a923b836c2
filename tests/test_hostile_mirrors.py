"""Servers that try to keep envdoctor busy or confuse it: the run's deadline holds per read,
answers that are not usable HTTP are the server's fault, and an endless body stops at the
byte cap.  Also what the measurement itself must not cost: one trust store per run."""

from __future__ import annotations

import shutil
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from envdoctor.context import Context
from envdoctor.mirrors import Candidate, measure
from envdoctor.net.measure import measure as measure_one
from envdoctor.net.measure import measure_all, measure_throughput
from envdoctor.net.results import Outcome
from envdoctor.tools import pull_path
from envdoctor.units import MiB
from tests.mirrorlab import MirrorLab

pytest_plugins = ["tests.mirrorlab"]


def test_a_head_sent_one_byte_at_a_time_ends_at_the_timeout(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("slowloris", behaviour="trickle-head", trickle_interval_s=0.05)
    started = time.monotonic()
    result = measure_one(
        pull_path(base, "hf").probe_url, kind="hf", env=mirror_lab.env, samples=1, timeout=1.0
    )
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"took {elapsed:.1f} s under a 1 s timeout"
    assert result.outcome is Outcome.TIMEOUT and result.phase == "first_byte"
    assert "too slowly" in result.reason


def test_trickled_downloads_do_not_keep_mirrors_past_its_deadline(
    tmp_path: Path, mirror_lab: MirrorLab
) -> None:
    urls = [
        mirror_lab.add(f"drip{i}", behaviour="trickle-body", trickle_interval_s=0.02)
        for i in range(10)
    ]
    ctx = Context.for_root(tmp_path, env=mirror_lab.env)
    candidates = [Candidate("hf", url, (f"p{i}",)) for i, url in enumerate(urls)]
    started = time.monotonic()
    (ranking,) = measure(
        ctx, candidates, samples=1, timeout=2.0, throughput=True, throughput_seconds=1.0, icmp=False
    )
    elapsed = time.monotonic() - started
    assert elapsed < 2.4, f"10 trickling mirrors took {elapsed:.1f} s under --timeout 2"
    assert all(entry.measurement.healthy for entry in ranking.entries)
    # Each download got its share of what was left, and the trickle shows as what it is.
    rates = [entry.measurement.throughput_bytes_per_s for entry in ranking.entries]
    assert all(rate is not None and rate < 1000 for rate in rates), rates


def test_thousands_of_headers_are_the_servers_fault(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("chatty", header_count=5000)
    (result,) = measure_all([pull_path(base, "hf")], env=mirror_lab.env, samples=1)
    assert result.outcome is Outcome.ERROR
    assert "internal error" not in result.reason
    assert result.reason == ("not a usable HTTP answer: the server sent more than 100 header lines")


def test_an_endless_body_stops_at_the_byte_cap(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("endless", tls=False, body_bytes=2**40)
    url = pull_path(base, "hf").throughput_url
    assert url is not None
    started = time.monotonic()
    result = measure_throughput(url, env=mirror_lab.env, seconds=5.0, max_bytes=8 * MiB)
    assert time.monotonic() - started < 2.0
    assert result.capped and not result.complete
    assert result.bytes_read == 8 * MiB
    assert result.reason.startswith("stopped at the 8 MiB cap")
    assert result.bytes_per_s is not None


def test_a_small_fast_body_is_too_small_to_time(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("tiny", tls=False, body_bytes=200 * 1024)
    url = pull_path(base, "hf").throughput_url
    assert url is not None
    result = measure_throughput(url, env=mirror_lab.env, seconds=1.0)
    assert result.complete and 0 < result.bytes_read <= 200 * 1024
    assert result.bytes_per_s is None
    assert result.reason.startswith("too small to time")


def test_the_trust_store_is_built_once_per_run(
    tmp_path: Path, mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_file = tmp_path / "ca.pem"  # a path of its own: no earlier test's store is reused
    shutil.copy(mirror_lab.pki.ca_file, ca_file)
    real = ssl.create_default_context
    calls: list[float] = []
    lock = threading.Lock()

    def slow_store(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        with lock:
            calls.append(time.monotonic())
        # What loading the store costs, made long enough that ten TLS handshakes at once on
        # two loaded CPUs stay well under it: only a store load inside a sample reaches it.
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", slow_store)
    paths = [pull_path(mirror_lab.add(f"m{i}"), "hf") for i in range(10)]
    results = measure_all(paths, env={"SSL_CERT_FILE": str(ca_file)}, samples=1)
    assert all(result.healthy for result in results), [r.reason for r in results]
    assert len(calls) == 1
    # Built before the samples: no sample's TLS phase holds the 200 ms load.
    tls = [result.tls_s for result in results]
    assert all(value is not None and value < 0.2 for value in tls), tls
