"""The download phase (envdoctor.net.downloads): every mirror together, then alone where
the downloads competed, against lab mirrors that share one paced link the way mirrors
share a user's access link."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from urllib.parse import urlsplit

import pytest

from envdoctor.mirrors import Candidate, Entry
from envdoctor.net import downloads
from envdoctor.net.downloads import ALONE_PER_KIND, CONTENDED
from envdoctor.net.measure import measure_all
from envdoctor.net.results import Measurement, Outcome, Throughput
from envdoctor.net.session import PullPath, Session, system_resolver
from envdoctor.probes.network import timing
from envdoctor.render import _plain_rate
from envdoctor.tools import hf, pull_path
from envdoctor.units import MiB
from tests.mirrorlab import BURST_BYTES, Link, MirrorLab

ENDLESS = 2**40


def test_mirrors_that_compete_for_one_link_are_timed_alone(mirror_lab: MirrorLab) -> None:
    # Four conda mirrors behind one 4 MiB/s link: together each gets about a quarter of
    # it; alone, the whole.  The run must see that they competed, time the best ones
    # alone (ALONE_PER_KIND of the kind) and call the last one's figure what it is.
    link = Link(4 * MiB)
    bases = [mirror_lab.add(f"m{index}", link=link) for index in range(4)]
    results = measure_all(
        [pull_path(base + "/anaconda", "conda") for base in bases],
        env=mirror_lab.env,
        samples=1,
        deadline_s=10,
        throughput=True,
        throughput_seconds=0.5,
    )
    assert all(result.healthy for result in results), [r.reason for r in results]
    alone = [r for r in results if r.throughput_at_once == 1]
    together = [r for r in results if r.throughput_at_once != 1]
    assert len(alone) == ALONE_PER_KIND == 3
    for result in alone:
        rate = result.throughput_bytes_per_s
        assert rate is not None and abs(rate - 4 * MiB) <= 0.3 * 4 * MiB, result
        assert not result.throughput_lower_bound
    [share] = together
    assert share.throughput_at_once == 4 and share.throughput_lower_bound
    assert share.throughput_bytes_per_s is not None
    assert share.throughput_bytes_per_s * CONTENDED <= 4 * MiB
    reason = share.throughput_reason or ""
    assert "alongside 3 other downloads" in reason
    assert "; the downloads competed for the link: " in reason, reason
    assert reason.endswith(": at least this")


def _hubs_measured(mirror_lab: MirrorLab, bases: list[str], deadline_s: float) -> list[Measurement]:
    """The lab hubs ``bases`` measured with throughput on: one sample, 0.5 s windows."""
    return measure_all(
        [hf.pull_path(base) for base in bases],
        env=mirror_lab.env,
        samples=1,
        deadline_s=deadline_s,
        throughput=True,
        throughput_seconds=0.5,
    )


def _got(rate: float) -> Throughput:
    return Throughput("https://m.example/f", Outcome.OK, "", 1, 1.0, rate)


@pytest.mark.parametrize(
    ("rates", "chosen"),
    [
        # the median share, the lower one of an even count
        ({0: 3.0, 1: 1.0, 2: 2.0}, 2),
        ({0: 3.0, 1: 1.0, 2: 2.0, 3: 4.0}, 2),
        ({5: 1.5}, 5),
        # a download without a rate is no one's typical share
        ({0: None, 1: 2.0}, 1),
        ({0: None}, None),
        ({}, None),
    ],
)
def test_the_typical_mirror_has_the_median_share(
    rates: dict[int, float | None], chosen: int | None
) -> None:
    together = {
        index: _got(rate * MiB)
        if rate is not None
        else Throughput("https://m.example/f", Outcome.TIMEOUT, "no body bytes")
        for index, rate in rates.items()
    }
    assert downloads.typical(list(rates), together) == chosen


def test_kinds_take_turns_best_first() -> None:
    kinds = ["pip", "pip", "conda", "pip", "hf", "conda"]
    mirrors = [PullPath(f"https://m{i}.example", kind, "u", None) for i, kind in enumerate(kinds)]
    order = [0, 1, 3, 2, 5, 4]  # best first
    turns = downloads.by_kind_in_turn(order, mirrors)
    assert turns == [0, 2, 4, 1, 5, 3]


def test_a_share_of_a_link_is_shown_as_a_lower_bound_and_fits_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from tests.test_json_schemas import MIRRORS

    measured = Measurement(
        url="https://m.example/anaconda/noarch/repodata.json",
        kind="conda",
        outcome=Outcome.OK,
        reason="HTTP 200",
        throughput_bytes_per_s=MiB,
        throughput_reason="first 262144 bytes in 0.25 s, alongside 3 other downloads",
        throughput_at_once=4,
        throughput_lower_bound=True,
    )
    entry = Entry(Candidate("conda", "https://m.example/anaconda"), measured)
    assert _plain_rate(entry) == "≥1.0 MiB/s"
    alone = dataclasses.replace(measured, throughput_at_once=1, throughput_lower_bound=False)
    assert _plain_rate(Entry(entry.candidate, alone)) == "1.0 MiB/s"
    data = json.loads(json.dumps(measured.to_json()))
    assert data["throughput_at_once"] == 4 and data["throughput_lower_bound"] is True
    document = {"$defs": MIRRORS["$defs"], "$ref": "#/$defs/measurement"}
    jsonschema.Draft202012Validator(document).validate(data)
    data["throughput_at_once"] = 0  # at least one download: the one measured
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(document).validate(data)


def test_the_parallel_verdict_compares_connections_all_timed_alone(
    mirror_lab: MirrorLab,
) -> None:
    # Two hubs behind one 4 MiB/s link that limits neither connection: together each
    # gets half.  Beside that half, eight connections alone (the whole link) would look
    # like a per-connection limit and earn the hub a remedy that cannot help; beside one
    # connection alone, they are what they are: the link's limit.
    link = Link(4 * MiB)
    bases = [mirror_lab.add(f"hub{index}", link=link, body_bytes=ENDLESS) for index in range(2)]
    results = _hubs_measured(mirror_lab, bases, deadline_s=12)
    assert all(r.throughput_at_once == 1 for r in results), [r.throughput_reason for r in results]
    [tested] = [r for r in results if r.throughput_by_connections]
    rates = dict(tested.throughput_by_connections)
    assert rates[1] >= 0.7 * 4 * MiB, rates
    assert (tested.parallel_verdict or "").startswith("more connections do not help"), rates
    assert tested.parallel_remedy is None
    [other] = [r for r in results if r is not tested]
    assert other.parallel_verdict == (
        "parallel connections not tested: only on the best hf mirror of the run"
    )


def _hanging_phase(lab: MirrorLab, count: int, cancel: threading.Event | None) -> downloads._Phase:
    """``count`` mirrors whose file is never answered (the request is read, then
    nothing), with a run deadline 20 s away and a 10 s timeout."""
    paths, urls = [], []
    for index in range(count):
        base = lab.add(f"hang{index}")
        urls.append(lab.serve(f"hang{index}", "/file.bin", hang=True))
        paths.append(PullPath(base, "hf", base + "/api/models/x", urls[-1]))
    results = [Measurement(url=u, kind="hf", outcome=Outcome.OK, reason="") for u in urls]
    return downloads._Phase(
        results, paths, urls, [None] * count, lab.env, 10.0, system_resolver,
        time.monotonic() + 20, 5.0, MiB, cancel,
    )  # fmt: skip


def test_ctrl_c_ends_the_downloads_together_at_once(mirror_lab: MirrorLab) -> None:
    cancel = threading.Event()
    phase = _hanging_phase(mirror_lab, 3, cancel)
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    got = phase.together([0, 1, 2], 5.0)
    assert time.monotonic() - started < 1.5
    for index in range(3):
        measured = got.get(index)
        phase.record(index, measured, 3)
        assert phase.results[index].throughput_bytes_per_s is None
        assert phase.results[index].throughput_reason in ("cancelled", "not measured: cancelled")


def test_a_download_that_never_answers_is_cut_at_its_own_deadline(mirror_lab: MirrorLab) -> None:
    # Its window (0.3 s) and room for its request (REQUEST_ALLOWANCE_S), not the 10 s
    # timeout nor the run's 20 s deadline: the others' windows do not wait on it.
    phase = _hanging_phase(mirror_lab, 2, None)
    started = time.monotonic()
    got = phase.together([0, 1], 0.3)
    took = time.monotonic() - started
    assert took < 0.3 + downloads.REQUEST_ALLOWANCE_S + downloads.JOIN_S + 0.5, took
    for index in (0, 1):
        phase.record(index, got.get(index), 2)
        reason = phase.results[index].throughput_reason or ""
        assert reason.startswith("not measured: "), reason


def _offline_phase(results: list[Measurement], paths: list[PullPath]) -> downloads._Phase:
    """A download phase over ``results`` whose downloads a test replaces: one file URL
    each on no server, 10 s to the deadline, 1 s windows."""
    return downloads._Phase(
        results, paths, ["https://m.example/f"] * len(results), [None] * len(results), {},
        5.0, system_resolver, time.monotonic() + 10, 1.0, MiB, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("alone", "rate", "reason"),
    [
        # the whole file came too fast to time alone: what it got together, while it
        # competed, says nothing either
        (
            Throughput("u", Outcome.OK, "too small to time: the whole body (4 MiB) came in 40 ms"),
            None,
            "not measured: too small to time: the whole body (4 MiB) came in 40 ms",
        ),
        # a failure alone (a reset, a stall) keeps the figure from together
        (
            Throughput("u", Outcome.TIMEOUT, "no body bytes within 0.3 s"),
            2 * MiB,
            "first 1 bytes, alongside 1 other download",
        ),
    ],
)
def test_a_download_alone_without_a_rate(
    alone: Throughput, rate: float | None, reason: str
) -> None:
    together = {0: _got(2 * MiB), 1: _got(2 * MiB)}
    results = [
        Measurement(
            url="u", kind="hf", outcome=Outcome.OK, reason="", throughput_bytes_per_s=2 * MiB,
            throughput_reason="first 1 bytes, alongside 1 other download", throughput_at_once=2,
        )
    ] * 2  # fmt: skip
    phase = _offline_phase(list(results), [])
    phase.download = lambda index, window, buffer_bytes: alone  # type: ignore[method-assign]
    assert downloads._alone(phase, 0, together, 1) is None
    assert phase.results[0].throughput_bytes_per_s == rate
    assert phase.results[0].throughput_reason == reason
    assert phase.results[0].throughput_at_once == (None if rate is None else 2)


def test_a_mirror_tried_alone_is_not_tried_again(mirror_lab: MirrorLab) -> None:
    # The best one's file comes too fast to time alone; the typical one runs four times
    # faster alone than together: they competed, and the rest are timed alone, but not
    # the best again.
    rates = [3.0, 1.0, 2.0]
    results = [
        Measurement(
            url="u", kind="conda", outcome=Outcome.OK, reason="", ttfb_s=0.01,
            throughput_bytes_per_s=rate * MiB, throughput_at_once=3,
        )
        for rate in rates
    ]  # fmt: skip
    paths = [PullPath(f"https://m{i}.example", "conda", "u", "u") for i in range(3)]
    phase = _offline_phase(results, paths)
    asked: list[int] = []

    def download(index: int, window: float, buffer_bytes: int) -> Throughput:
        asked.append(index)
        if index == 0:
            return Throughput("u", Outcome.OK, "too small to time: the whole body came in 1 ms")
        return _got(4 * MiB)

    phase.download = download  # type: ignore[method-assign]
    together = {index: _got(rate * MiB) for index, rate in enumerate(rates)}
    said = downloads._time_alone(phase, [0, 1, 2], [], together)
    assert said is not None and "ran 4.0x faster than together" in said
    assert asked == [0, 1, 2]


def test_without_a_figure_alone_no_parallel_windows_are_timed() -> None:
    # Every hf mirror's figure is from the downloads together (their windows alone got
    # no time): 1 vs 8 connections would compare a share with the whole link.
    paths = [
        PullPath(f"https://m{i}.example", "hf", "u", "u", parallel_advice="aria2c -x 8")
        for i in range(2)
    ]
    results = [
        Measurement(
            url="u", kind="hf", outcome=Outcome.OK, reason="", ttfb_s=0.01,
            throughput_bytes_per_s=MiB, throughput_at_once=2,
        ),
        Measurement(url="u", kind="hf", outcome=Outcome.OK, reason="", ttfb_s=0.01),
    ]  # fmt: skip
    phase = _offline_phase(results, paths)
    downloads._add_parallel(phase, [0, 1], ["hf"])
    assert [r.parallel_verdict for r in phase.results] == [
        "parallel connections not tested: no hf mirror was timed alone",
        "parallel connections not tested: one connection was not timed",
    ]
    assert not any(r.throughput_by_connections for r in phase.results)


def _download(mirror_lab: MirrorLab, base: str, window: float, deadline_in: float) -> Throughput:
    url = hf.pull_path(base).throughput_url
    assert url is not None
    ends = time.monotonic() + deadline_in
    session = Session("hf", 10.0, mirror_lab.env, system_resolver, ends, ())
    return downloads.time_download(url, session, window, 64 * MiB)


def test_a_burst_and_then_silence_is_timed_over_the_silence(mirror_lab: MirrorLab) -> None:
    # BURST_BYTES at once, then nothing: over a 0.5 s window that is BURST_BYTES / 0.5 s,
    # not the burst's own speed (which once ranked a stalled mirror first, by far).
    base = mirror_lab.add("burst", behaviour="burst-then-stall", body_bytes=ENDLESS)
    got = _download(mirror_lab, base, 0.5, 20.0)
    assert got.outcome is Outcome.OK, got
    assert got.bytes_read == BURST_BYTES
    assert 0.5 <= got.duration_s < 0.7, got
    assert got.bytes_per_s is not None and got.bytes_per_s <= BURST_BYTES / 0.5, got


def test_a_download_the_deadline_cuts_keeps_what_it_read(mirror_lab: MirrorLab) -> None:
    # A body paced at 1 MiB/s, a 5 s window and a run that ends in 1 s: the figure is
    # what came before the deadline, over the time until then.
    base = mirror_lab.add("paced", rate_bps=MiB, body_bytes=ENDLESS)
    got = _download(mirror_lab, base, 5.0, 1.0)
    assert got.outcome is Outcome.OK, got
    assert got.bytes_per_s is not None and 0.5 * MiB <= got.bytes_per_s <= 1.3 * MiB, got
    assert got.duration_s < 1.0, got


@pytest.mark.parametrize(("deadline", "timed"), [(4.0, False), (20.0, True)])
def test_a_file_whose_head_comes_late_is_waited_for_as_long_as_the_deadline_allows(
    mirror_lab: MirrorLab, deadline: float, timed: bool
) -> None:
    # The model file's head comes 1.8 s late (the API the probe asks answers at once):
    # a 4 s run has no room for it and says whose time ran out; a 20 s run waits.
    base = mirror_lab.add("cold", body_bytes=ENDLESS, rate_bps=8 * MiB)
    path = hf.pull_path(base)
    assert path.throughput_url is not None
    mirror_lab.answer_late("cold", urlsplit(path.throughput_url).path, 1.8)
    (result,) = measure_all(
        [path], env=mirror_lab.env, samples=1, deadline_s=deadline, throughput=True
    )
    assert result.healthy, result.reason
    if timed:
        assert result.throughput_bytes_per_s is not None, result.throughput_reason
    else:
        reason = result.throughput_reason or ""
        assert result.throughput_bytes_per_s is None
        assert "its time ran out" in reason and "room for the request" in reason, reason


def test_every_hub_mirror_gets_its_range_support_not_only_the_best(
    mirror_lab: MirrorLab,
) -> None:
    # Three hubs; the slowest ignores Range.  Step 4 times connections on the best one
    # only, but each of the others was asked bytes=0-0 after the downloads together.
    bases = [
        mirror_lab.add("fast", rate_bps=8 * MiB, body_bytes=ENDLESS),
        mirror_lab.add("mid", rate_bps=4 * MiB, body_bytes=ENDLESS),
        mirror_lab.add("plain", rate_bps=2 * MiB, body_bytes=ENDLESS, ranges=False),
    ]
    results = _hubs_measured(mirror_lab, bases, deadline_s=10)
    fast, mid, plain = results
    assert all(result.healthy for result in results), [r.reason for r in results]
    assert fast.throughput_by_connections and fast.range_support is True
    assert mid.range_support is True and mid.pull_size == ENDLESS
    assert (
        mid.parallel_verdict
        == "parallel connections not tested: only on the best hf mirror of the run"
    )
    assert plain.range_support is False
    assert plain.parallel_verdict == "no Range support: each file over one connection"
    assert "no Range support" in timing(plain)


def test_check_times_downloads_only_when_asked(tmp_path, mirror_lab: MirrorLab) -> None:
    import envdoctor.probes.network as network
    from envdoctor.requirements import CheckOptions
    from tests.test_auto import ALL
    from tests.test_mirrors import lab_context

    base = mirror_lab.add("m", rate_bps=4 * MiB, body_bytes=8 * MiB)
    ctx = lab_context(tmp_path, mirror_lab, dict.fromkeys(ALL, base))
    for asked in (False, True):
        rows = {r.name: r for r in network.run(ctx, CheckOptions(throughput=asked))}
        row = rows["mirror hf"]
        [mirror] = row.details["mirrors"]
        rate = mirror["measurement"]["throughput_bytes_per_s"]
        if asked:  # every target's mirror is this one server: their downloads compete
            assert rate is not None and rate > 0, mirror
            assert ", download " in row.summary and "/s" in row.summary, row.summary
        else:
            assert rate is None and "download" not in row.summary, row.summary


def test_downloads_refused_or_dead_are_not_counted_as_running_alongside(
    mirror_lab: MirrorLab,
) -> None:
    # Five conda mirrors, two of which refuse their package file (404): the figures
    # taken together say how many downloads really ran, 3.
    bases = [mirror_lab.add(f"m{index}", rate_bps=4 * MiB) for index in range(5)]
    paths = [pull_path(base + "/anaconda", "conda") for base in bases]
    named = measure_all(paths, env=mirror_lab.env, samples=1, deadline_s=10)
    assert all(result.pull_url for result in named), [r.reason for r in named]
    for index in (3, 4):
        mirror_lab.serve(f"m{index}", urlsplit(named[index].pull_url or "").path, status=404)
    results = measure_all(
        paths,
        env=mirror_lab.env,
        samples=1,
        deadline_s=10,
        throughput=True,
        throughput_seconds=0.5,
    )
    for result in results[3:5]:
        assert result.throughput_bytes_per_s is None
        assert "HTTP 404" in (result.throughput_reason or ""), result.throughput_reason
    together = [r for r in results[:3] if r.throughput_at_once not in (None, 1)]
    assert together, [r.throughput_reason for r in results]
    for result in together:
        assert result.throughput_at_once == 3, result.throughput_reason
        assert "alongside 2 other downloads" in (result.throughput_reason or "")
    assert downloads.ran_together(
        [0, 1, 2, 3],
        {
            0: _got(MiB),
            1: Throughput("u", Outcome.HTTP_ERROR, "HTTP 404", status_code=404),
            2: Throughput("u", Outcome.REFUSED, "connection refused"),
        },
    ) == [0, 3]  # 3: still running at the end
