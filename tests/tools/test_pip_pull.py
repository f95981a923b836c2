"""pip's and uv's real pull path against lab indexes: numpy's page asked with the
client's Accept, the wheel it lists downloaded and timed, refusals named, freshness
from serials and PEP 700 upload times; judged by the real pip (and uv) against the same
lab server."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from envdoctor.cli import cli
from envdoctor.context import Context
from envdoctor.net import shared
from envdoctor.net.measure import fetch_with, measure_all
from envdoctor.net.pull import ANSWER_BODY_BYTES, Answer, detached
from envdoctor.net.results import Measurement, Outcome
from envdoctor.net.session import Session, system_resolver
from envdoctor.probes.network import timing
from envdoctor.tools import pip, pip_pull, uv
from tests.mirrorlab import MirrorLab, SimpleIndex
from tests.test_mirrors import lab_context, user_profile

WHEEL = "/packages/ab/cd/numpy-1.{}.0-py3-none-any.whl"


def measure_one(
    lab: MirrorLab,
    base: str,
    upstream: str | None = None,
    *,
    throughput: bool = True,
    **options: Any,
) -> Measurement:
    """The lab index ``base`` measured along pip's path against the index ``upstream``
    (a URL; None: none), with its download timed unless ``throughput`` is off."""
    if throughput:
        options["throughput_seconds"] = 0.3
    (result,) = measure_all(
        [pip.pull_path_against(f"{base}/simple", upstream)],
        env=lab.env,
        samples=1,
        throughput=throughput,
        **options,
    )
    return result


def gets(lab: MirrorLab, name: str) -> list[tuple[str, dict[str, str]]]:
    server = lab.server(name)
    server.wait_idle()
    return [(r.target, r.headers) for r in server.records if r.method == "GET"]


def test_the_wheel_on_numpys_page_is_chosen_and_its_download_timed(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add_index("m", SimpleIndex(numpy_files=5), rate_bps=4_000_000)
    result = measure_one(mirror_lab, base)
    assert result.healthy, result.reason
    assert result.pull_file == "wheel numpy-1.4.0-py3-none-any.whl"
    # ../../packages/... resolved against /simple/numpy/, the #sha256= fragment gone
    assert result.pull_url == base + WHEEL.format(4)
    assert result.pull_finding is None and result.pull_hops == ()
    seen = gets(mirror_lab, "m")
    page = [headers for target, headers in seen if target == "/simple/numpy/"]
    assert page and page[0]["accept"] == pip_pull.PIP_ACCEPT
    assert page[0]["cache-control"] == "max-age=0"
    wheel = [headers for target, headers in seen if target == WHEEL.format(4)]
    assert wheel and wheel[0]["accept-encoding"] == "identity"
    rate = result.throughput_bytes_per_s
    assert rate is not None and 2_000_000 < rate < 6_000_000, result.throughput_reason
    # what the user is told: no upstream in tests, and no serial on this page
    assert result.freshness is None


def test_a_large_page_is_asked_for_its_newest_end(mirror_lab: MirrorLab) -> None:
    # numpy's page is about 4 MiB, four times the cap; bandersnatch's serial ends it
    base = mirror_lab.add_index("big", SimpleIndex(serial=100, serial_header=False))
    result = measure_one(mirror_lab, base)
    assert result.healthy, result.reason
    listed = 4 * 1024 * 1024 // 200
    assert result.pull_file == f"wheel numpy-1.{listed - 1}.0-py3-none-any.whl"  # as pip
    (page,) = [h for t, h in gets(mirror_lab, "big") if t == "/simple/numpy/"]
    assert page["range"] == f"bytes=-{pip_pull.PAGE_TAIL_BYTES}"
    assert result.freshness == "freshness unknown: no upstream asked (numpy serial 100)"


def test_a_page_cut_at_the_byte_cap_still_gives_a_wheel(mirror_lab: MirrorLab) -> None:
    # a server that ignores Range: the page's first MiB, about a quarter of it
    base = mirror_lab.add_index("big", SimpleIndex(ranges=False))
    result = measure_one(mirror_lab, base)
    assert result.healthy, result.reason
    assert result.pull_file is not None
    match = re.fullmatch(r"wheel numpy-1\.(\d+)\.0-py3-none-any\.whl", result.pull_file)
    assert match, result.pull_file
    listed = 4 * 1024 * 1024 // 200
    assert 1000 < int(match.group(1)) < listed // 2  # the newest of what was read
    assert any(target == WHEEL.format(match.group(1)) for target, _ in gets(mirror_lab, "big"))


def test_an_index_without_files_or_without_the_project_is_a_named_failure(
    mirror_lab: MirrorLab,
) -> None:
    empty = mirror_lab.add_index("empty", SimpleIndex(numpy_files=0))
    missing = mirror_lab.add_index("missing", SimpleIndex(missing=("numpy",)))
    yanked = mirror_lab.add_index("yanked", SimpleIndex(numpy_files=2, yanked=(0, 1)))
    results = measure_all(
        [pip.pull_path(f"{url}/simple") for url in (empty, missing, yanked)],
        env=mirror_lab.env,
        samples=1,
    )
    assert [r.outcome for r in results] == [Outcome.HTTP_ERROR] * 3
    assert results[0].reason == (
        "the index has no files for numpy (an HTML page without file links)"
    )
    assert results[1].reason == "the index has no project numpy (HTTP 404)"
    assert results[1].status_code == 404
    assert results[2].reason == "the index has no files for numpy (only yanked files)"


def test_wheels_linked_on_another_host_are_a_finding_and_timed_there(
    mirror_lab: MirrorLab,
) -> None:
    files = mirror_lab.add("files", rate_bps=4_000_000)
    base = mirror_lab.add_index("pages", SimpleIndex(numpy_files=3, files_from=files))
    result = measure_one(mirror_lab, base)
    host = files.removeprefix("https://")
    assert result.healthy, result.reason
    assert result.pull_url == files + WHEEL.format(2)
    assert result.pull_hops == (host,)
    assert result.pull_finding is not None
    assert result.pull_finding.startswith(f"wheels from this mirror come from {host}")
    asked = gets(mirror_lab, "files")  # the timed download, then Range and parallel ranges
    assert {target for target, _ in asked} == {WHEEL.format(2)}
    assert "range" not in asked[0][1]
    assert result.throughput_bytes_per_s is not None, result.throughput_reason


def test_serials_say_behind_current_or_unknown_and_upstream_is_asked_once(
    mirror_lab: MirrorLab,
) -> None:
    pypi = mirror_lab.add_index("pypi", SimpleIndex(numpy_files=5, serial=100, json=True))
    behind = mirror_lab.add_index("behind", SimpleIndex(numpy_files=5, serial=97))
    # bandersnatch behind nginx: the serial only in the page's comment
    current = mirror_lab.add_index(
        "current", SimpleIndex(numpy_files=5, serial=100, serial_header=False)
    )
    plain = mirror_lab.add_index("plain", SimpleIndex(numpy_files=5))
    upstream = f"{pypi}/simple"
    results = measure_all(
        [pip.pull_path_against(f"{url}/simple", upstream) for url in (behind, current, plain)],
        env=mirror_lab.env,
        samples=1,
    )
    assert all(r.healthy for r in results), [r.reason for r in results]
    late, fresh, unknown = results
    assert late.serials_behind == 3 and late.lag_s is None  # it lacks no file
    assert late.freshness == "behind 127.0.0.1 by 3 serials (numpy)"
    assert fresh.serials_behind == 0 and fresh.lag_s == 0.0
    assert fresh.freshness == "current with 127.0.0.1 (numpy serial 100)"
    assert unknown.serials_behind is None and unknown.lag_s is None
    assert unknown.freshness == "freshness unknown: no serial on its numpy page"
    # three mirrors, one question to the upstream, asked for its JSON
    asked = gets(mirror_lab, "pypi")
    assert [target for target, _ in asked] == ["/simple/numpy/"]
    assert asked[0][1]["accept"] == pip_pull.JSON_TYPE


def test_the_upstream_is_asked_apart_from_the_mirror_with_the_same_resolver(
    mirror_lab: MirrorLab,
) -> None:
    # The upstream is asked on a fetch detached from the first mirror's (a progress of its
    # own) that keeps its resolver and trust store: a name with a dead IPv6 address before
    # a working IPv4 one is reached, and "IPv6 is broken" stays out of the mirror's row,
    # which was reached over IPv4 alone.
    pypi = mirror_lab.add_index("pypi", SimpleIndex(numpy_files=5, serial=100, json=True))
    behind = mirror_lab.add_index("behind", SimpleIndex(numpy_files=5, serial=97))
    port = urlsplit(pypi).port
    hole, hole_port = mirror_lab.blackhole_address(socket.AF_INET6)

    def resolve(host: str, port_asked: int, *rest: object) -> list[tuple[Any, ...]]:
        v4 = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port_asked))
        if host == "127.0.0.1":
            return [v4]
        assert host == "pypi.lab.test", host
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (hole, hole_port, 0, 0)), v4]

    (result,) = measure_all(
        [pip.pull_path_against(f"{behind}/simple", f"https://pypi.lab.test:{port}/simple")],
        env=mirror_lab.env,
        samples=1,
        resolver=resolve,
    )
    assert result.healthy, result.reason
    assert result.freshness == "behind pypi.lab.test by 3 serials (numpy)", result.freshness
    assert result.ip_families == ("IPv4",)
    assert result.dual_stack is None, result.dual_stack


def test_a_detached_fetch_leaves_the_mirrors_progress_alone(mirror_lab: MirrorLab) -> None:
    # What the mirror's row is made of (its phase, address families, dual-stack finding)
    # is its session's progress: a request for the upstream must not move it.
    base = mirror_lab.add_index("m", SimpleIndex(numpy_files=3, serial=42))
    session = Session("pip", 5.0, mirror_lab.env, system_resolver, None, ())
    fetch = fetch_with(session)
    answer = detached(fetch)(f"{base}/simple/numpy/", (), None)
    assert answer.status == 200
    assert session.progress.snapshot()[0] == "queued"
    assert session.progress.dual_stack() == ((), {})
    fetch(f"{base}/simple/numpy/", (), None)  # the mirror's own request does move it
    assert session.progress.dual_stack()[0] == ("IPv4",)
    plain = lambda url, headers, authorization: answer  # noqa: E731 - a test's fake fetch
    assert detached(plain) is plain


def test_an_upstream_that_does_not_answer_leaves_freshness_unknown(
    mirror_lab: MirrorLab,
) -> None:
    base = mirror_lab.add_index("m", SimpleIndex(numpy_files=3, serial=42))
    upstream = mirror_lab.refused_url("https") + "/simple"
    (result,) = measure_all(
        [pip.pull_path_against(f"{base}/simple", upstream)], env=mirror_lab.env, samples=1
    )
    assert result.healthy, result.reason
    assert result.freshness == "freshness unknown: 127.0.0.1 did not answer (numpy serial 42 here)"
    assert result.serials_behind is None and result.lag_s is None


def test_pep_700_upload_times_bound_the_lag(mirror_lab: MirrorLab) -> None:
    # upstream files 0..4 were uploaded 50, 40, 30, 20 and 10 h ago; the mirror has 0 and 1
    pypi = mirror_lab.add_index("pypi", SimpleIndex(numpy_files=5, serial=100, json=True))
    late = mirror_lab.add_index("late", SimpleIndex(numpy_files=2, serial=90, json=True))
    result = measure_one(mirror_lab, late, f"{pypi}/simple", throughput=False)
    assert result.healthy, result.reason
    assert result.serials_behind == 10
    assert result.lag_s is not None and abs(result.lag_s - 30 * 3600) < 120
    assert result.freshness == (
        "behind 127.0.0.1 by 10 serials (numpy); lacks 3 of 127.0.0.1's files, "
        "the oldest uploaded 30 h ago"
    )
    assert result.pull_file == "wheel numpy-1.1.0-py3-none-any.whl (4.0 MiB)"  # JSON's size


def test_the_end_of_a_large_upstream_page_bounds_the_lag(mirror_lab: MirrorLab) -> None:
    # 5000 upstream files, one a minute, the newest a minute ago; the mirror has 1000
    # (a page short enough to come whole)
    upstream = SimpleIndex(numpy_files=5000, serial=100, json=True, upload_step_s=60)
    pypi = mirror_lab.add_index("pypi", upstream)
    late = mirror_lab.add_index("late", SimpleIndex(numpy_files=1000, serial=60))
    result = measure_one(mirror_lab, late, f"{pypi}/simple", throughput=False)
    assert result.healthy, result.reason
    (asked,) = [h for t, h in gets(mirror_lab, "pypi") if t == "/simple/numpy/"]
    assert asked["range"] == f"bytes=-{pip_pull.UPSTREAM_TAIL_BYTES}"  # only the newest end
    # the oldest lacking file within the tail: newer than file 1000 (4000 min), older than
    # the newest (1 min)
    assert result.lag_s is not None and 60 < result.lag_s < 4000 * 60, result.freshness
    assert result.serials_behind == 40


def test_a_mirror_page_read_in_part_still_bounds_the_lag(mirror_lab: MirrorLab) -> None:
    # numpy's real page runs past the 256 KiB tail read of a mirror: its lag was never
    # bounded, and auto chose a mirror 30 h behind.  File i of 6000 was uploaded
    # (6000 - i) x 10 h ago; the mirror lacks the newest three.
    pypi = mirror_lab.add_index("pypi", SimpleIndex(numpy_files=6000, serial=1000, json=True))
    late = mirror_lab.add_index("late", SimpleIndex(numpy_files=5997, serial=900))
    result = measure_one(mirror_lab, late, f"{pypi}/simple", throughput=False)
    assert result.healthy, result.reason
    (asked,) = [h for t, h in gets(mirror_lab, "late") if t == "/simple/numpy/"]
    assert asked["range"] == f"bytes=-{pip_pull.PAGE_TAIL_BYTES}"  # read in part
    assert result.lag_s is not None and abs(result.lag_s - 30 * 3600) < 120, result.freshness
    assert "lacks 3 of 127.0.0.1's files, the oldest uploaded 30 h ago" in result.freshness


def test_a_hanging_upstream_costs_a_bounded_wait(
    mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared, "WAIT_S", 0.5)
    hanging = mirror_lab.add("pypi", behaviour="hang")
    base = mirror_lab.add_index("m", SimpleIndex(numpy_files=3, serial=42))
    started = time.monotonic()
    result = measure_one(mirror_lab, base, f"{hanging}/simple", throughput=False, deadline_s=8)
    assert time.monotonic() - started < 5  # not the 8 s deadline
    assert result.healthy, result.reason
    assert result.freshness == "freshness unknown: 127.0.0.1 did not answer (numpy serial 42 here)"


def test_a_cut_mirror_page_gives_no_lag(mirror_lab: MirrorLab) -> None:
    pypi = mirror_lab.add_index("pypi", SimpleIndex(numpy_files=5, serial=100, json=True))
    big = mirror_lab.add_index("big", SimpleIndex(serial=90))  # 4 MiB: past the cap
    result = measure_one(mirror_lab, big, f"{pypi}/simple", throughput=False)
    assert result.serials_behind == 10 and result.lag_s is None


def test_the_upstream_itself_says_nothing_of_freshness(mirror_lab: MirrorLab) -> None:
    pypi = mirror_lab.add_index("pypi", SimpleIndex(numpy_files=3, serial=100))
    result = measure_one(mirror_lab, pypi, f"{pypi}/simple", throughput=False)
    assert result.healthy and result.freshness is None


def test_uv_asks_with_its_own_accept(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add_index("m", SimpleIndex(numpy_files=3))
    (result,) = measure_all([uv.pull_path(f"{base}/simple")], env=mirror_lab.env, samples=1)
    assert result.healthy and result.pull_file == "wheel numpy-1.2.0-py3-none-any.whl"
    page = [h for t, h in gets(mirror_lab, "m") if t == "/simple/numpy/"]
    assert page[0]["accept"] == pip_pull.UV_ACCEPT


def test_mirrors_shows_how_far_behind_and_the_wheel_timed(
    tmp_path: Path, mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    pypi = mirror_lab.add_index("pypi", SimpleIndex(numpy_files=5, serial=100, json=True))
    late = mirror_lab.add_index("late", SimpleIndex(numpy_files=5, serial=97))
    others = ("uv", "conda", "docker", "hf", "modelscope")
    urls = {name: mirror_lab.add(name) for name in others}
    ctx = lab_context(tmp_path, mirror_lab, {**urls, "pip": late})
    # only the lab's mirrors: without --profile, the shipped profiles' public ones too
    user_profile(ctx, "lab", f'[pip]\nindex-url = "{late}/simple"\n')
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    monkeypatch.setattr(pip_pull, "UPSTREAM_INDEX", f"{pypi}/simple")
    args = ["mirrors", "--target", "pip", "--profile", "lab", "--no-throughput"]
    args += ["--timeout", "20"]
    plain = CliRunner().invoke(cli, args)
    assert len(plain.stdout.splitlines()) == 2, plain.output  # one mirror, the summary
    first = plain.stdout.splitlines()[0]
    assert "ms); behind 127.0.0.1 by 3 serials (numpy)  profiles: lab" in first, plain.output
    verbose = CliRunner().invoke(cli, [*args, "-v"])
    assert "pull: wheel numpy-1.4.0-py3-none-any.whl" in verbose.stdout, verbose.output
    assert "freshness: behind 127.0.0.1 by 3 serials (numpy)" in verbose.stdout


def test_unknown_freshness_stays_out_of_the_short_line(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add_index("m", SimpleIndex(numpy_files=3, serial=42))
    upstream = mirror_lab.refused_url("https") + "/simple"
    (result,) = measure_all(
        [pip.pull_path_against(f"{base}/simple", upstream)], env=mirror_lab.env, samples=1
    )
    assert result.freshness is not None and result.freshness.startswith("freshness unknown")
    assert "unknown" not in timing(result)


# --------------------------------------------------------------------------- parsing


def _answer(body: bytes, kind: str = "text/html", url: str = "https://m.test/simple/numpy/"):
    return Answer(url, 200, "OK", {"content-type": kind}, body)


def test_the_newest_final_release_is_chosen_whatever_the_page_order() -> None:
    # PyPI lists files by name: 1.10 before 1.9, an rc after its final release; a
    # Linux x86_64 wheel before a Windows one or an sdist of a newer version
    names = [
        "numpy-1.10.0-cp39-cp39-manylinux1_x86_64.whl",
        "numpy-1.26.4-py3-none-any.whl",
        "numpy-1.9.3-py3-none-any.whl",
        "numpy-2.0.0-cp312-cp312-win_amd64.whl",
        "numpy-2.0.0rc1-py3-none-any.whl",
        "numpy-2.0.0.tar.gz",
    ]
    body = "".join(f'<a href="{n}">{n}</a>' for n in names).encode()
    chosen = pip_pull.choose_file(pip_pull.parse_page(_answer(body)))
    assert chosen is not None and chosen.filename == "numpy-1.26.4-py3-none-any.whl"
    only_pre = b'<a href="numpy-3.0.0rc1-py3-none-any.whl">x</a>'
    chosen = pip_pull.choose_file(pip_pull.parse_page(_answer(only_pre)))
    assert chosen is not None and chosen.filename == "numpy-3.0.0rc1-py3-none-any.whl"


_NAMES = st.sampled_from(
    [
        "numpy-1.10.0-cp39-cp39-manylinux1_x86_64.whl",
        "numpy-1.26.4-py3-none-any.whl",
        "numpy-1.9.3-py3-none-any.whl",
        "numpy-2.0.0-cp312-cp312-win_amd64.whl",
        "numpy-2.0.0-cp312-cp312-manylinux_2_17_aarch64.whl",
        "numpy-2.0.0rc1-py3-none-any.whl",
        "numpy-2.0.0.tar.gz",
        "numpy-2.1.zip",
        "numpy-2.2.0-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "numpy-2.2.0-cp313-cp313-musllinux_1_1_x86_64.whl",
        "README.html",
    ]
)


@st.composite
def _anchor(draw: st.DrawFn) -> str:
    """One link as pages write them: quoted or not, with a path, a query or fragment, an
    encoded dash or dot, an entity, yanked, or no href at all."""
    name = draw(_NAMES)
    spelled = draw(st.sampled_from(["plain", "%2D", "&#45;", "%2E", "&amp;"]))
    if spelled == "%2D":
        name = name.replace("-", "%2D", 1)
    elif spelled == "&#45;":
        name = name.replace("-", "&#45;")
    elif spelled == "%2E":
        name = name.replace(".whl", "%2Ewhl")
    elif spelled == "&amp;":
        name += "?a=1&amp;b=2"
    href = draw(st.sampled_from(["", "../../p/", "https://files.test/x/"])) + name
    href += draw(st.sampled_from(["", "#sha256=00", "/"]))
    quote = draw(st.sampled_from(['"', "'", ""]))
    attributes = "" if draw(st.booleans()) and quote else f"href={quote}{href}{quote}"
    if draw(st.booleans()):
        attributes += ' data-requires-python="&gt;=3.10"'
    if draw(st.integers(0, 4)) == 0:
        attributes += draw(st.sampled_from([" data-yanked", ' DATA-Yanked="bad"']))
    return f"<a {attributes or 'name=x'}>{name}</a>\n"


@given(anchors=st.lists(_anchor(), max_size=12))
def test_choosing_among_the_preferred_links_equals_choosing_among_every_file(
    anchors: list[str],
) -> None:
    page = pip_pull.parse_page(_answer("".join(anchors).encode()))
    assert pip_pull.choose_file(page) == pip_pull._choose_from_files(page)


def test_a_pypi_shaped_page_gives_its_newest_linux_wheel() -> None:
    # The lab's PyPI-shaped numpy page (the mirrors_scale benchmark's): 33 files a
    # version, of which 4 are manylinux x86_64 wheels; the last 256 KiB, as asked.
    from tests.mirrorlab import _simple_page

    body = _simple_page("numpy", 2 * 1024 * 1024, "pypi")[-256 * 1024 :]
    page = pip_pull.parse_page(_answer(body))
    chosen = pip_pull.choose_file(page)
    assert chosen == pip_pull._choose_from_files(page)
    assert chosen is not None and chosen.filename.endswith(
        "-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    newest = max(int(f.filename.split("-")[1].split(".")[1]) for f in page.files)
    assert chosen.filename.startswith(f"numpy-1.{newest}.0-")
    assert 400 < len(page.files) < 700


def test_a_json_serial_may_be_a_string() -> None:
    body = b'{"files": [], "meta": {"_last-serial": "42069282", "api-version": "1.1"}}'
    assert pip_pull.parse_page(_answer(body, pip_pull.JSON_TYPE)).serial == 42069282


def test_html_links_resolve_as_pip_resolves_them() -> None:
    body = (
        b'<html><head><base href="https://files.test/root/"></head><body>'
        b'<a href="a/numpy-1.0-py3-none-any.whl#sha256=ab">x</a>'
        b'<a href="/abs/numpy-1.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl">'
        b"y</a>"
        b'<a href="numpy-1.2-cp311-cp311-win_amd64.whl" data-yanked="">z</a>'
        b'<a href="numpy-1.3.tar.gz">s</a></body></html>\n<!--SERIAL 12-->'
    )
    page = pip_pull.parse_page(_answer(body))
    assert page.serial == 12 and page.complete and not page.is_json
    assert [f.url for f in page.files] == [
        "https://files.test/root/a/numpy-1.0-py3-none-any.whl",
        "https://files.test/abs/numpy-1.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "https://files.test/root/numpy-1.2-cp311-cp311-win_amd64.whl",
        "https://files.test/root/numpy-1.3.tar.gz",
    ]
    assert [f.yanked for f in page.files] == [False, False, True, False]
    chosen = pip_pull.choose_file(page)
    assert chosen is not None and "manylinux" in chosen.filename


def test_a_cut_json_page_gives_the_files_before_the_cut() -> None:
    file = (
        '{"filename": "numpy-1.%d-py3-none-any.whl", "url": "../../p/numpy-1.%d-py3-none-any.whl",'
        ' "hashes": {"sha256": "00"}, "upload-time": "2026-11-30T10:00:00.000000Z",'
        ' "yanked": false}'
    )
    files = ", ".join(file % (i, i) for i in range(20000))
    body = (
        '{"meta": {"api-version": "1.1", "_last-serial": 7}, "name": "numpy", "files": ['
        + files
        + "]}"
    ).encode()
    cut = body[:ANSWER_BODY_BYTES]
    page = pip_pull.parse_page(_answer(cut, pip_pull.JSON_TYPE))
    assert page.is_json and not page.complete and page.serial == 7
    assert 100 < len(page.files) < 20000
    assert page.files[0].url == "https://m.test/p/numpy-1.0-py3-none-any.whl"
    assert page.files[0].upload_time is not None
    whole = pip_pull.parse_page(_answer(body[: body.index(b"}, {") + 1] + b"]}", "x/json"))
    assert len(whole.files) == 1 and whole.complete


def test_the_end_of_a_json_page_gives_its_whole_objects() -> None:
    # Warehouse's key order: a dict-valued key last, then meta after the files
    file = (
        '{"filename": "numpy-2.%d-py3-none-any.whl", "hashes": {"sha256": "00"}, '
        '"upload-time": "2026-11-30T10:00:00Z", '
        '"url": "https://files.test/numpy-2.%d-py3-none-any.whl", '
        '"yanked": false, "data-dist-info-metadata": {"sha256": "11"}}'
    )
    page = (
        '{"files": [' + ", ".join(file % (i, i) for i in range(50)) + '], "meta": '
        '{"_last-serial": 9, "api-version": "1.1"}, "name": "numpy", "versions": ["2.0"]}'
    ).encode()
    tail = page[len(page) // 2 :]
    answer = Answer(
        "https://m.test/simple/numpy/",
        206,
        "Partial Content",
        {
            "content-type": pip_pull.JSON_TYPE,
            "content-range": f"bytes {len(page) // 2}-{len(page) - 1}/{len(page)}",
        },
        tail,
    )
    parsed = pip_pull.parse_page(answer)
    assert not parsed.complete and parsed.serial == 9
    names = [item.filename for item in parsed.files]
    assert names[-1] == "numpy-2.49-py3-none-any.whl"  # the last object, before "meta"
    assert 20 < len(names) < 26  # the whole objects of the second half, the cut one left out
    assert all(item.upload_time is not None for item in parsed.files)


def _pages() -> tuple[bytes, bytes]:
    names = [f"numpy-1.{i}.0-cp311-cp311-manylinux_2_17_x86_64.whl" for i in range(30)]
    html_page = "".join(
        f'<a href="../../p/{n}#sha256={i:064x}" data-requires-python="&gt;=3.9">{n}</a><br/>'
        for i, n in enumerate(names)
    )
    files = [
        {"filename": n, "url": f"../../p/{n}", "hashes": {"sha256": "0"}, "core-metadata": {}}
        for n in names
    ]
    document = {"meta": {"_last-serial": 3}, "name": "numpy", "files": files}
    return html_page.encode(), json.dumps(document).encode()


@given(cut=st.integers(min_value=0, max_value=10_000), as_json=st.booleans())
def test_a_page_cut_anywhere_gives_a_prefix_of_its_files(cut: int, as_json: bool) -> None:
    whole_html, whole_json = _pages()
    whole = whole_json if as_json else whole_html
    kind = pip_pull.JSON_TYPE if as_json else "text/html"
    every = [f.filename for f in pip_pull.parse_page(_answer(whole, kind)).files]
    assert len(every) == 30
    cut_page = pip_pull.parse_page(_answer(whole[: cut % (len(whole) + 1)], kind))
    names = [f.filename for f in cut_page.files]
    assert names == every[: len(names)]  # never a file that is not there, never reordered
    assert all(f.url.startswith("https://m.test/p/numpy-1.") for f in cut_page.files)
    assert all("#" not in f.url for f in cut_page.files)


# --------------------------------------------------------------------------- real clients


def _client_env(lab: MirrorLab, tmp_path: Path) -> dict[str, str]:
    """No proxies, no pip settings of this machine (``PIP_FIND_LINKS``...), and the lab
    CA wherever requests looks first (its ``REQUESTS_CA_BUNDLE`` beats ``--cert``)."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith(("PIP_", "UV_"))
    }
    ca = lab.env["SSL_CERT_FILE"]
    return {
        **kept,
        "PIP_CONFIG_FILE": os.devnull,
        "HOME": str(tmp_path),
        "NO_PROXY": "*",
        "SSL_CERT_FILE": ca,
        "REQUESTS_CA_BUNDLE": ca,
        "CURL_CA_BUNDLE": ca,
    }


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
@pytest.mark.parametrize("json_pages", [True, False], ids=["pep691", "pep503"])
def test_pip_download_fetches_the_wheel_envdoctor_names(
    mirror_lab: MirrorLab, tmp_path: Path, json_pages: bool, chunked: bool
) -> None:
    base = mirror_lab.add_index(
        "m", SimpleIndex(numpy_files=6, yanked=(5,), json=json_pages), body_bytes=200_000
    )
    mirror_lab.server("m").chunked = chunked  # pages made on the fly: no Content-Length
    result = measure_one(mirror_lab, base)
    assert result.healthy and result.pull_url is not None, result.reason
    ours = urlsplit(result.pull_url).path
    mirror_lab.server("m").records.clear()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--index-url",
            f"{base}/simple",
            "--cert",
            mirror_lab.env["SSL_CERT_FILE"],
            "-d",
            str(tmp_path / "out"),
            "numpy",
        ],
        env=_client_env(mirror_lab, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # The lab's wheels are filler, so pip refuses them after the download (the hash);
    # what it asked for is the judge.
    seen = gets(mirror_lab, "m")
    wheels = [target for target, _ in seen if target.endswith(".whl")]
    assert wheels == [ours], (wheels, done.stdout[-1500:], done.stderr[-1500:])
    page = [headers for target, headers in seen if target == "/simple/numpy/"]
    assert page, seen
    assert page[0]["accept"] == pip_pull.PIP_ACCEPT
    assert page[0]["cache-control"] == "max-age=0"


def test_uv_asks_for_the_page_as_envdoctor_does(mirror_lab: MirrorLab, tmp_path: Path) -> None:
    binary = Path(sys.executable).with_name("uv")
    if not binary.exists():
        pytest.skip("uv is not installed next to this Python")
    base = mirror_lab.add_index("m", SimpleIndex(numpy_files=3, json=True), body_bytes=200_000)
    (result,) = measure_all([uv.pull_path(f"{base}/simple")], env=mirror_lab.env, samples=1)
    assert result.healthy and result.pull_url is not None, result.reason
    mirror_lab.server("m").records.clear()
    done = subprocess.run(
        [str(binary), "pip", "compile", "--no-cache", "--index-url", f"{base}/simple", "-"],
        input="numpy\n",
        env={**_client_env(mirror_lab, tmp_path), "UV_SYSTEM_CERTS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    seen = gets(mirror_lab, "m")
    page = [headers for target, headers in seen if target == "/simple/numpy/"]
    assert page, (seen, done.stderr[-1500:])
    assert page[0]["accept"] == pip_pull.UV_ACCEPT
    # uv reads the newest wheel's metadata first (then older ones, as the filler is no zip)
    wheels = [target for target, _ in seen if target.endswith(".whl")]
    assert wheels[:1] == [urlsplit(result.pull_url).path], wheels
