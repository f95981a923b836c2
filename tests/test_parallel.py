"""Range support and 1 vs 4 and 8 parallel connections, against lab hubs that limit each
connection, limit the total, or ignore ``Range``."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from envdoctor.auto import AutoChoice, TargetChoice, build_profile
from envdoctor.context import Context
from envdoctor.mirrors import Candidate, Entry, measure
from envdoctor.net.measure import measure_all
from envdoctor.net.parallel import JOIN_S, check_range, shut, time_connections, verdict
from envdoctor.net.results import Measurement, Outcome
from envdoctor.net.session import PullPath, Session, system_resolver
from envdoctor.planning import ApplyOptions
from envdoctor.profile_checks import ProfileError
from envdoctor.profiles import get_profile
from envdoctor.tools import docker, hf, modelscope, pip, uv
from envdoctor.units import MiB
from tests.mirrorlab import MirrorLab, SimpleIndex

ENDLESS = 2**40


def measure_hub(lab: MirrorLab, base: str, *, deadline_s: float = 8.0) -> Measurement:
    [result] = measure_all(
        [hf.pull_path(base)],
        env=lab.env,
        samples=1,
        timeout=5.0,
        deadline_s=deadline_s,
        throughput=True,
        throughput_seconds=1.0,
    )
    assert result.healthy, result.reason
    return result


def test_a_per_connection_limited_hub_gains_from_more_connections(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("slow-lanes", rate_bps=1 * MiB, body_bytes=ENDLESS)
    result = measure_hub(mirror_lab, base)
    assert result.range_support is True
    rates = dict(result.throughput_by_connections)
    assert set(rates) == {1, 4, 8}, result.parallel_verdict
    assert rates[8] > 3 * rates[1], rates  # 8x in theory; the machine is loaded
    assert (result.parallel_verdict or "").startswith("per-connection limited: 1 connection ")
    assert result.parallel_remedy is not None and "aria2c -x 8 -s 8" in result.parallel_remedy
    assert result.parallel_gain is not None and result.parallel_gain >= 1.5
    # Disjoint ranges of the one file, each asked once per run.
    ranges = [r.headers.get("range") for r in mirror_lab.server("slow-lanes").records]
    split = [value for value in ranges if value and value != "bytes=0-0"]
    assert len(set(split)) == len(split) == 4 + 8


def test_only_the_best_mirror_of_a_kind_gets_the_parallel_windows(mirror_lab: MirrorLab) -> None:
    # Two per-connection limited hubs: the faster one (by its one connection) is the one a
    # user would pick, and the only one whose 4 and 8 connections are timed; the other
    # keeps its one-connection figure and says why it has no verdict.
    fast = mirror_lab.add("fast-lanes", rate_bps=2 * MiB, body_bytes=ENDLESS)
    slow = mirror_lab.add("slow-lanes", rate_bps=MiB // 2, body_bytes=ENDLESS)
    results = measure_all(
        [hf.pull_path(slow), hf.pull_path(fast)],
        env=mirror_lab.env,
        samples=1,
        timeout=5.0,
        deadline_s=10.0,
        throughput=True,
        throughput_seconds=1.0,
    )
    slow_result, fast_result = results
    assert fast_result.throughput_bytes_per_s and slow_result.throughput_bytes_per_s
    assert fast_result.throughput_bytes_per_s > slow_result.throughput_bytes_per_s
    assert set(dict(fast_result.throughput_by_connections)) == {1, 4, 8}, fast_result
    assert not slow_result.throughput_by_connections
    assert slow_result.parallel_verdict == (
        "parallel connections not tested: only on the best hf mirror of the run"
    )
    ranges = [r.headers.get("range") for r in mirror_lab.server("slow-lanes").records]
    assert [value for value in ranges if value and value != "bytes=0-0"] == []  # no split


def test_a_hub_limited_in_total_gains_nothing(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("one-pipe", total_rate_bps=4 * MiB, body_bytes=ENDLESS)
    result = measure_hub(mirror_lab, base)
    assert result.range_support is True
    rates = dict(result.throughput_by_connections)
    assert rates[8] < 1.5 * rates[1], rates
    assert (result.parallel_verdict or "").startswith("more connections do not help")
    assert result.parallel_remedy is None


def test_a_hub_without_range_support_is_one_connection_only(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("whole", rate_bps=4 * MiB, body_bytes=ENDLESS, ranges=False)
    result = measure_hub(mirror_lab, base)
    assert result.range_support is False
    assert result.parallel_verdict == "no Range support: each file over one connection"
    assert [count for count, _ in result.throughput_by_connections] == []
    assert result.throughput_bytes_per_s is not None
    data = result.to_json()
    assert json.loads(json.dumps(data))["range_support"] is False


def test_a_small_file_is_too_small_to_split(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("small", rate_bps=1 * MiB, body_bytes=512 * 1024)
    result = measure_hub(mirror_lab, base)
    assert result.range_support is True
    assert result.pull_size == 512 * 1024
    assert (result.parallel_verdict or "").startswith("too small to test parallel connections")


def test_a_stalled_range_does_not_outlast_the_deadline(
    mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = mirror_lab.add("stalls", rate_bps=2 * MiB, body_bytes=ENDLESS)
    server = mirror_lab.server("stalls")
    send = server._send_body
    lock = threading.Lock()
    ranges_seen = [0]

    def sometimes_stall(conn: object, body: bytes | int) -> None:
        if isinstance(body, int) and 1 < body < ENDLESS:
            with lock:
                ranges_seen[0] += 1
                stall = ranges_seen[0] % 2 == 0
            if stall:  # headers sent, then nothing: a stalled connection
                mirror_lab.stop.wait()
                return
        send(conn, body)  # type: ignore[arg-type]

    monkeypatch.setattr(server, "_send_body", sometimes_stall)
    started = time.monotonic()
    [result] = measure_all(
        [hf.pull_path(base)],
        env=mirror_lab.env,
        samples=1,
        timeout=30.0,  # only the deadline can end the stalled reads
        deadline_s=3.0,
        throughput=True,
    )
    elapsed = time.monotonic() - started
    assert elapsed < 3.0 + 1.5, elapsed
    assert result.healthy, result.reason
    assert result.parallel_verdict is not None


def test_range_check_reads_the_total_size_from_content_range(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("sized", body_bytes=5 * MiB)
    session = Session("hf", 5.0, mirror_lab.env, socket.getaddrinfo, None, ())
    checked = check_range(f"{base}/m/resolve/main/f.bin", session)
    assert (checked.supported, checked.size) == (True, 5 * MiB)
    mirror_lab.add("ignores", body_bytes=5 * MiB, ranges=False)
    url = mirror_lab.server("ignores").url + "/m/resolve/main/f.bin"
    assert check_range(url, session).supported is False


def test_verdict_words() -> None:
    words, limited = verdict(4 * MiB, [(4, 15 * MiB), (8, 19 * MiB)])
    assert limited
    assert words == "per-connection limited: 1 connection 4.0 MiB/s, 8 connections 19.0 MiB/s"
    words, limited = verdict(10 * MiB, [(4, 11 * MiB), (8, 9 * MiB)])
    assert not limited and words is not None
    assert words.startswith("more connections do not help (link or server limit)")
    assert verdict(None, [(4, 1.0)]) == (None, False)


# --- the knobs: a profile's download-workers, and --profile auto --------------------------


def _profile(ctx: Context, name: str, text: str) -> Path:
    directory = ctx.xdg_config_home / "envdoctor" / "profiles"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def test_modelscope_download_workers_become_the_sdks_variables(ctx: Context) -> None:
    _profile(ctx, "ms", '[modelscope]\ndomain = "www.modelscope.cn"\ndownload-workers = 8\n')
    profile = get_profile(ctx, "ms")
    assert profile.modelscope is not None and profile.modelscope.download_workers == 8
    variables = dict(modelscope.env_variables(profile))
    # modelscope_hub 0.5.1 reads the first, modelscope before 1.40 the second
    assert variables["MODELSCOPE_DOWNLOAD_PARALLEL_WORKERS"] == "8"
    assert variables["MODELSCOPE_DOWNLOAD_PARALLELS"] == "8"
    assert "download-workers = 8" in tomlkit.dumps(modelscope.settings_toml(profile.modelscope))
    _profile(ctx, "plain", '[modelscope]\ndomain = "www.modelscope.cn"\n')
    plain = dict(modelscope.env_variables(get_profile(ctx, "plain")))
    assert "MODELSCOPE_DOWNLOAD_PARALLEL_WORKERS" not in plain
    _profile(ctx, "bad", '[modelscope]\ndomain = "www.modelscope.cn"\ndownload-workers = 64\n')
    with pytest.raises(ProfileError, match="from 1 to 16"):
        get_profile(ctx, "bad")


def _choice(target: str, url: str, rates: tuple[tuple[int, float], ...]) -> AutoChoice:
    measured = Measurement(
        url=url, kind=target, outcome=Outcome.OK, reason="ok", throughput_by_connections=rates
    )
    winner = Entry(Candidate(target, url), measured)
    return AutoChoice((TargetChoice(target, winner, None, "fastest"),))


def test_auto_turns_parallel_ranges_on_only_where_they_helped() -> None:
    url = "https://mirror.example"
    gained = build_profile(_choice("modelscope", url, ((1, 4 * MiB), (8, 19 * MiB))), base={})
    assert gained.modelscope is not None and gained.modelscope.download_workers == 8
    flat = build_profile(_choice("modelscope", url, ((1, 10 * MiB), (8, 11 * MiB))), base={})
    assert flat.modelscope is not None and flat.modelscope.download_workers is None
    unknown = build_profile(_choice("modelscope", url, ()), base={})
    assert unknown.modelscope is not None and unknown.modelscope.download_workers is None
    # The hub's plain HTTP download has no such knob: nothing is added for it.
    hub = build_profile(_choice("hf", url, ((1, 4 * MiB), (8, 19 * MiB))), base={})
    assert hub.hf is not None and set(hub.hf.env) == {"HF_HUB_DISABLE_XET"}


# --- real clients as judges ----------------------------------------------------------------


def _aria2c_rate(lab: MirrorLab, url: str, size: int, tmp_path: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [
            *("aria2c", "-x8", "-s8", "-k1M", "--ca-certificate", lab.env["SSL_CERT_FILE"]),
            *("--file-allocation=none", "--console-log-level=error", "--summary-interval=0"),
            *("--download-result=hide", "-d", str(tmp_path), "-o", "f.bin", url),
        ],
        check=True,
        timeout=120,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - started
    assert (tmp_path / "f.bin").stat().st_size == size
    return size / elapsed


@pytest.mark.skipif(shutil.which("aria2c") is None, reason="aria2c is not installed (aria2)")
def test_aria2c_gains_where_envdoctor_says_and_not_where_it_says_not(
    mirror_lab: MirrorLab, tmp_path: Path
) -> None:
    size = 8 * MiB
    for name, limits in (("lanes", {"rate_bps": 1 * MiB}), ("pipe", {"total_rate_bps": 4 * MiB})):
        base = mirror_lab.add(name, body_bytes=size, **limits)  # type: ignore[arg-type]
        ours = measure_hub(mirror_lab, base)
        single = ours.throughput_bytes_per_s
        assert single is not None
        directory = tmp_path / name
        directory.mkdir()
        theirs = _aria2c_rate(mirror_lab, f"{base}/m/resolve/main/f.bin", size, directory)
        limited = (ours.parallel_verdict or "").startswith("per-connection limited")
        # aria2c's 8 ranges, set-up included, beside envdoctor's one connection
        assert limited == (name == "lanes"), ours.parallel_verdict
        assert (theirs > 3 * single) == limited, (name, theirs, single)


_PLAIN_DOWNLOAD = """
import sys
from huggingface_hub import hf_hub_download
print(hf_hub_download("openai-community/gpt2", "model.safetensors", cache_dir=sys.argv[1]))
"""


def test_the_hubs_plain_download_uses_one_connection_as_the_advice_says(
    mirror_lab: MirrorLab, tmp_path: Path
) -> None:
    pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed")
    hub = mirror_lab.add("hub", body_bytes=3 * MiB)
    env = {
        **{k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")},
        **mirror_lab.env,
        "REQUESTS_CA_BUNDLE": mirror_lab.env["SSL_CERT_FILE"],
        "HF_ENDPOINT": hub,
        "HF_HUB_DISABLE_XET": "1",
        # the knobs of hf_xet: they must change nothing on this path
        "HF_XET_HIGH_PERFORMANCE": "1",
        "HF_XET_NUM_CONCURRENT_RANGE_GETS": "16",
        "HF_HOME": str(tmp_path / "home"),
        "NO_PROXY": "*",
    }
    done = subprocess.run(
        [sys.executable, "-c", _PLAIN_DOWNLOAD, str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    mirror_lab.server("hub").wait_idle()
    gets = [
        r for r in mirror_lab.server("hub").records if r.method == "GET" and "/resolve/" in r.target
    ]
    assert len(gets) == 1 and "range" not in gets[0].headers, [g.headers for g in gets]
    assert "aria2c -x 8 -s 8" in hf.PARALLEL_ADVICE and "one connection" in hf.PARALLEL_ADVICE


def test_docker_max_concurrent_downloads_goes_into_daemon_json(ctx: Context) -> None:
    _profile(ctx, "layers", "[docker]\nregistry-mirrors = []\nmax-concurrent-downloads = 8\n")
    profile = get_profile(ctx, "layers")
    assert profile.docker is not None and profile.docker.max_concurrent_downloads == 8
    path = ctx.path("/etc/docker/daemon.json")
    path.parent.mkdir(parents=True)
    path.write_text('{"registry-mirrors": ["https://old.example"], "debug": true}\n')
    (change,) = docker.plan(ctx, profile, ApplyOptions(scope="system")).changes
    assert change.new is not None
    assert json.loads(change.new) == {"debug": True, "max-concurrent-downloads": 8}
    unset = dataclasses.replace(profile.docker, max_concurrent_downloads=None)
    kept = dataclasses.replace(profile, docker=unset)
    path.write_text('{"max-concurrent-downloads": 5}\n')
    assert docker.plan(ctx, kept, ApplyOptions(scope="system")).changes[0].new == path.read_bytes()
    _profile(ctx, "zero", "[docker]\nregistry-mirrors = []\nmax-concurrent-downloads = 0\n")
    with pytest.raises(ProfileError, match="at least 1"):
        get_profile(ctx, "zero")


def test_auto_raises_dockerds_layer_downloads_only_where_they_helped() -> None:
    url = "https://registry.example"
    gained = build_profile(_choice("docker", url, ((1, 4 * MiB), (8, 19 * MiB))), base={})
    assert gained.docker is not None and gained.docker.max_concurrent_downloads == 8
    flat = build_profile(_choice("docker", url, ((1, 10 * MiB), (4, 11 * MiB))), base={})
    assert flat.docker is not None and flat.docker.max_concurrent_downloads is None


def test_a_measured_parallel_verdict_fits_the_mirrors_schema(mirror_lab: MirrorLab) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from tests.test_json_schemas import MIRRORS

    base = mirror_lab.add("lanes", rate_bps=1 * MiB, body_bytes=ENDLESS)
    data = json.loads(json.dumps(measure_hub(mirror_lab, base).to_json()))
    assert set(data["throughput_by_connections"]) == {"1", "4", "8"}
    document = {"$defs": MIRRORS["$defs"], "$ref": "#/$defs/measurement"}
    jsonschema.Draft202012Validator(document).validate(data)


def _range_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("envdoctor-range-")]


def _long_sessions(lab: MirrorLab) -> Callable[[], Session]:
    """Sessions with a long timeout and no deadline: only the run can stop a reader."""
    return lambda: Session("hf", 30.0, lab.env, system_resolver, None, ())


def test_readers_that_never_get_an_answer_share_one_join_budget(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("hangs", behaviour="hang")  # reads each request, never answers
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()  # Ctrl-C while all 8 wait for their headers
    started = time.monotonic()
    timed = time_connections(
        f"{base}/file", 8, 64 * MiB, 1.0, _long_sessions(mirror_lab), cancel=cancel
    )
    elapsed = time.monotonic() - started
    assert timed.bytes_per_s is None and timed.reason == "no connection answered in time"
    # one shared 1 s budget for the joins (8 readers, one after the other: 8 s and more)
    assert elapsed < 0.3 + JOIN_S + 3.0, elapsed
    assert len(mirror_lab.server("hangs").records) == 8
    assert len(_range_threads()) >= 1  # left behind, bounded by their sessions' timeout


def test_readers_answered_after_the_run_stop_without_reading(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("late", delay_ms=1500, rate_bps=64 * 1024, body_bytes=ENDLESS)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    before = set(_range_threads())
    timed = time_connections(
        f"{base}/m/resolve/main/f.bin", 8, 64 * MiB, 1.0, _long_sessions(mirror_lab), cancel=cancel
    )
    assert timed.bytes_per_s is None
    stragglers = [t for t in _range_threads() if t not in before]
    assert stragglers  # still waiting for their answers, 1.5 s late
    for thread in stragglers:  # told to stop: once answered they close, reading nothing
        thread.join(timeout=15.0)  # (a reader not told would read an endless body)
    assert not [t for t in stragglers if t.is_alive()]


def _pip_and_uv(lab: MirrorLab, tmp_path: Path, name: str, **limits: float) -> list[Entry]:
    """pip and uv configured to one lab index (they share its measurement), measured."""
    base = lab.add_index(name, SimpleIndex(numpy_files=4), **limits)
    for index in range(4):  # the wheels are large; the pages stay small
        lab.serve(name, f"/packages/ab/cd/numpy-1.{index}.0-py3-none-any.whl", ENDLESS)
    ctx = Context.for_root(tmp_path, home=tmp_path, env=lab.env)
    url = f"{base}/simple"
    rankings = measure(
        ctx,
        [Candidate("pip", url, configured=True), Candidate("uv", url, configured=True)],
        samples=1,
        timeout=10.0,
        throughput=True,
        icmp=False,
        sync_sites=[],
    )
    entries = [entry for ranking in rankings for entry in ranking.entries]
    assert [entry.candidate.target for entry in entries] == ["pip", "uv"]
    return entries


def test_pip_is_told_of_uv_and_uv_of_its_limit_where_connections_help(
    mirror_lab: MirrorLab, tmp_path: Path
) -> None:
    pip_entry, uv_entry = _pip_and_uv(mirror_lab, tmp_path, "lanes", rate_bps=1 * MiB)
    measured = pip_entry.measurement
    assert measured.healthy, measured.reason
    assert measured.pull_url is not None and measured.pull_url.endswith(".whl")
    assert measured.range_support is True
    assert (measured.parallel_verdict or "").startswith("per-connection limited"), measured
    assert measured.parallel_remedy == pip.PARALLEL_ADVICE
    assert "uv pip install" in measured.parallel_remedy
    assert uv_entry.measurement.parallel_verdict == measured.parallel_verdict  # one measurement
    assert uv_entry.measurement.parallel_remedy == uv.PARALLEL_ADVICE
    assert "UV_CONCURRENT_DOWNLOADS" in uv.PARALLEL_ADVICE
    for advice in (pip.PARALLEL_ADVICE, uv.PARALLEL_ADVICE):  # true remedies only
        assert "range" not in advice.lower() and "one connection" in advice
    wheel = [r for r in mirror_lab.server("lanes").records if r.target.endswith(".whl")]
    ranges = [r.headers.get("range") for r in wheel]
    assert len([value for value in ranges if value and value != "bytes=0-0"]) == 4 + 8


def test_pip_and_uv_get_no_remedy_where_connections_do_not_help(
    mirror_lab: MirrorLab, tmp_path: Path
) -> None:
    entries = _pip_and_uv(mirror_lab, tmp_path, "one-pipe", total_rate_bps=4 * MiB)
    for entry in entries:
        measured = entry.measurement
        assert measured.healthy, measured.reason
        assert (measured.parallel_verdict or "").startswith("more connections do not help")
        assert measured.parallel_remedy is None


def test_shut_wakes_a_tls_reader_without_unwrapping_it(mirror_lab: MirrorLab) -> None:
    # What stop() does to each range reader's socket from another thread: the reader must
    # see the end of the stream through its TLS layer (an OSError or b""), never lose the
    # layer under it (ssl.py's SSLSocket.shutdown sets it to None: ValueError in a read).
    import ssl

    base = mirror_lab.add("hub", rate_bps=100_000)
    port = int(base.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=mirror_lab.env["SSL_CERT_FILE"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET /api/models/x/resolve/main/f HTTP/1.1\r\nHost: lab\r\n\r\n")
        assert tls.recv(1)
        got: list[object] = []

        def reader() -> None:
            try:
                while tls.recv(65536):
                    pass
                got.append(b"")
            except OSError as exc:
                got.append(exc)
            except Exception as exc:  # what the test is about
                got.append(exc)

        thread = threading.Thread(target=reader)
        thread.start()
        time.sleep(0.1)
        shut(tls)
        thread.join(timeout=5)
        assert not thread.is_alive()
        assert tls._sslobj is not None  # the TLS layer is still there (ssl.py drops it in shutdown)
        assert got and (got[0] == b"" or isinstance(got[0], OSError)), got


def test_an_untimed_eight_connections_says_why_beside_the_verdict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The row said "per-connection limited: 1 connection ..., 4 connections ..." and the
    # JSON had no 8 and no word of why: the reason was computed, then dropped.
    from types import SimpleNamespace

    from envdoctor.net import parallel

    def four_only(url, count, size, span, session, headers, authorization, cancel):
        time.sleep(0.35)  # the 4 connections take what is left for 8 too
        return SimpleNamespace(bytes_per_s=4 * MiB, reason="")

    monkeypatch.setattr(parallel, "time_connections", four_only)
    measured = Measurement(
        url="u", kind="hf", outcome=Outcome.OK, reason="", ttfb_s=0.01,
        throughput_bytes_per_s=1 * MiB, range_support=True, pull_size=1 << 30,
    )  # fmt: skip
    path = PullPath("https://hub.example", "hf", "u", "u", parallel_advice="aria2c -x 8 -s 8")
    result = parallel.add_parallel(
        measured, path, "https://hub.example/f", None, time.monotonic() + 0.45, None, 1.0
    )
    assert dict(result.throughput_by_connections) == {1: 1 * MiB, 4: 4 * MiB}
    assert result.parallel_verdict == (
        "per-connection limited: 1 connection 1.0 MiB/s, 4 connections 4.0 MiB/s "
        "(no time left for 8 connections)"
    )
