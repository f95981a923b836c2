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
