"""``mirrors`` off a terminal: aligned columns, a last line that explains the exit code,
and one exit code with or without ``--pick``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from envdoctor.cli import cli
from envdoctor.context import Context
from envdoctor.mirrors import Candidate, Entry, Ranking
from envdoctor.net.results import Measurement, Outcome
from envdoctor.render import mirrors_summary
from tests.mirrorlab import MirrorLab
from tests.test_mirrors import lab_context, user_profile


def run_mirrors(tmp_path: Path, lab: MirrorLab, monkeypatch: pytest.MonkeyPatch, *extra: str):
    fast = lab.add("fast", delay_ms=5)
    urls = dict.fromkeys(("pip", "uv", "conda", "docker", "hf", "modelscope"), fast)
    urls["hf"] = lab.refused_url("https")
    ctx = lab_context(tmp_path, lab, urls)
    user_profile(ctx, "lab", f'[pip]\nindex-url = "{lab.add("slow", delay_ms=30)}/longer/simple"\n')
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    args = ["mirrors", "--target", "pip,hf", "--profile", "lab", "--no-throughput", "--samples"]
    return CliRunner().invoke(cli, [*args, "1", "--timeout", "2", *extra])


def test_plain_lines_are_aligned_and_end_with_the_reason_for_the_exit_code(
    tmp_path: Path, mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run_mirrors(tmp_path, mirror_lab, monkeypatch)
    lines = out.stdout.splitlines()
    rows, summary = lines[:-1], lines[-1]
    assert [line.split()[0] for line in rows] == ["pip", "pip", "hf"]
    # The result column starts at the same place on every line, whatever the URL's length.
    starts = {line.find(" ok: ") for line in rows if " ok: " in line}
    starts |= {line.find(" refused: ") for line in rows if " refused: " in line}
    assert len(starts) == 1, rows
    assert summary == "no mirror answered for hf: exit 1"
    assert out.exit_code == 1


def test_pick_exits_as_mirrors_does_and_says_why(
    tmp_path: Path, mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run_mirrors(tmp_path, mirror_lab, monkeypatch, "--pick")
    lines = out.stdout.splitlines()
    assert any(line.startswith("pick hf: ") for line in lines)
    assert lines[-1] == "no mirror answered for hf: exit 1"
    assert out.exit_code == 1


def entry(url: str, outcome: Outcome) -> Entry:
    measurement = Measurement(url=url, kind="pip", outcome=outcome, reason="r")
    return Entry(Candidate("pip", url), measurement)


def test_summary_names_targets_without_an_answer_and_without_a_mirror() -> None:
    ok = Ranking("pip", (entry("https://a/simple", Outcome.OK),))
    dead = Ranking("conda", (entry("https://b/", Outcome.TIMEOUT),))
    empty = Ranking("docker", ())
    assert mirrors_summary([ok]) == (
        "every target has a mirror that answers (1 target measured): exit 0",
        0,
    )
    assert mirrors_summary([ok, dead, empty]) == (
        "no mirror answered for conda; no mirror to measure for docker: exit 1",
        1,
    )
    assert mirrors_summary([]) == ("no target to measure: exit 1", 1)


def test_a_narrow_terminal_gets_each_mirror_as_lines_not_a_table_of_words() -> None:
    import io

    from rich.console import Console

    from envdoctor.render import NARROW_COLUMNS, render_mirrors

    verdict = "per-connection limited: 1 connection 2.9 MiB/s, 8 connections 22.9 MiB/s"
    measured = Measurement(
        url="u", kind="pip", outcome=Outcome.OK, reason="", ttfb_s=0.045,
        throughput_bytes_per_s=3e6, throughput_by_connections=((1, 3e6), (8, 24e6)),
        parallel_verdict=verdict,
    )  # fmt: skip
    url = "https://mirrors.example.edu.cn/pypi/web/simple"
    entry = Entry(Candidate("pip", url, ("cn-a", "cn-b")), measured)
    for width in (60, NARROW_COLUMNS):
        console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
        render_mirrors([Ranking("pip", (entry,))], console)
        text = console.file.getvalue()  # type: ignore[attr-defined]
        assert all(len(line.rstrip()) <= width for line in text.splitlines())
        if width < NARROW_COLUMNS:  # the URL, the facts and the result each whole
            assert url in text and "2.9 MiB/s, 8x 22.9 MiB/s · profiles: cn-a, cn-b" in text
            assert "first byte 45 ms; per-connection limited: 1 connection" in text, text
        else:  # the table, its throughput column whole
            assert "throughput" in text and "2.9 MiB/s, 8x 22.9 MiB/s" in text
