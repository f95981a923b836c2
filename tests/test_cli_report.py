"""report, apply --profile auto and mirrors --pick through the CLI, on the mirror lab.

Every tool is configured to lab mirrors and the candidate profiles are replaced by lab
ones, so nothing here reaches a public host.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

import envdoctor.profiles
from envdoctor.cli import cli
from envdoctor.context import Context
from tests.test_mirrors import lab_context, user_profile

SCHEMA = json.loads(resources.files("envdoctor").joinpath("schema/check-v2.json").read_text())


@pytest.fixture
def lab_machine(tmp_path, mirror_lab, monkeypatch):
    """A machine configured to a slow lab mirror, with a fast lab profile on offer."""
    slow = mirror_lab.add("slow", delay_ms=150)
    fast = mirror_lab.add("fast", delay_ms=5)
    urls = dict.fromkeys(("pip", "uv", "conda", "docker", "hf", "modelscope"), slow)
    ctx = lab_context(tmp_path, mirror_lab, urls)
    user_profile(
        ctx,
        "lab",
        f'[pip]\nindex-url = "{fast}/simple"\n[hf]\nendpoint = "{fast}"\n'
        f'[hf.env]\nHF_HUB_DISABLE_XET = "1"\n',
    )
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    # Candidates for auto come from the lab profile alone, not the shipped public mirrors.
    real_load = envdoctor.profiles.load_profiles
    monkeypatch.setattr(
        envdoctor.profiles,
        "load_profiles",
        lambda c: {k: v for k, v in real_load(c).items() if k == "lab"},
    )
    return ctx, slow, fast


def test_report_markdown_has_the_checklist_and_the_plan(lab_machine, tmp_path):
    _, _, fast = lab_machine
    out = CliRunner().invoke(cli, ["report", "--profile", "lab", "--format", "md"])
    assert out.exit_code in (0, 1, 3), out.output
    text = out.stdout
    assert text.count("- [x]") + text.count("- [ ]") >= 7
    assert "```diff" in text
    assert f"{fast}/simple" in text


def test_report_json_validates_against_the_check_schema(lab_machine, tmp_path):
    target = tmp_path / "report.json"
    out = CliRunner().invoke(cli, ["report", "--profile", "lab", "--format", "json", "-o", target])
    assert "Wrote" in out.stderr
    document = json.loads(target.read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["profile"] == "lab"
    assert document["summary"]["exit_code"] == out.exit_code


def test_report_with_auto_explains_each_choice(lab_machine, tmp_path):
    target = tmp_path / "report.html"
    out = CliRunner().invoke(cli, ["report", "--format", "html", "-o", str(target)])
    html = target.read_text()
    assert out.exit_code in (0, 1, 3), out.output
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "runner-up" in html or "runner up" in html


def test_apply_auto_picks_the_fast_lab_mirror_and_can_save_it(lab_machine):
    ctx, _, fast = lab_machine
    out = CliRunner().invoke(
        cli, ["apply", "--profile", "auto", "--only", "pip", "--save", "office", "--dry-run"]
    )
    assert out.exit_code == 0, out.output
    assert any(
        line.startswith("auto pip: ") and "127.0.0.1" in line for line in out.stdout.splitlines()
    )
    assert f"+index-url = {fast}/simple" in out.stdout
    saved = ctx.xdg_config_home / "envdoctor" / "profiles" / "office.toml"
    assert f"{fast}/simple" in saved.read_text()
    # --only pip: only pip's and uv's sibling lines are measured, and only pip is saved
    # (the saved profile applied on the fleet changed every target before).
    assert not [line for line in out.stdout.splitlines() if line.startswith("auto docker")]
    assert "[docker]" not in saved.read_text() and "[conda]" not in saved.read_text()


def test_apply_auto_refuses_a_bad_only_before_measuring_or_saving(lab_machine):
    ctx, _, _ = lab_machine
    args = ["apply", "--profile", "auto", "--only", "nosuch", "--save", "x", "--dry-run"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 2 and "no target named 'nosuch'" in out.stderr
    assert "auto " not in out.stdout and "Saved" not in out.stderr
    assert not (ctx.xdg_config_home / "envdoctor" / "profiles" / "x.toml").exists()


def test_mirrors_pick_reports_a_choice_per_target(lab_machine):
    _, _, fast = lab_machine
    out = CliRunner().invoke(
        cli, ["mirrors", "--target", "pip,hf", "--pick", "--json", "--no-throughput"]
    )
    document = json.loads(out.stdout)
    chosen = {c["target"]: c["winner"]["url"] for c in document["pick"]["targets"] if c["winner"]}
    assert chosen == {"pip": f"{fast}/simple", "hf": fast}


def test_save_without_pick_is_a_usage_error(lab_machine):
    out = CliRunner().invoke(cli, ["mirrors", "--save", "x"])
    assert out.exit_code == 2
    assert "--pick" in out.stderr


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/dir/r.html", "does not exist"),
        ("adir", "is a directory"),
        ("locked/r.html", "not writable"),
    ],
)
def test_report_refuses_an_unusable_output_before_checking(tmp_path, monkeypatch, where, message):
    (tmp_path / "adir").mkdir()
    (tmp_path / "locked").mkdir(mode=0o500)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path).name != "locked")
    ran = []
    monkeypatch.setattr("envdoctor.engine.run_checks", lambda *a, **k: ran.append(1))
    out = CliRunner().invoke(cli, ["report", "-o", str(tmp_path / where)])
    assert out.exit_code == 2, out.output
    assert message in out.stderr and "internal error" not in out.stderr
    assert ran == []  # refused before the whole check ran


def test_apply_auto_changes_nothing_when_the_configured_mirror_wins(
    tmp_path, mirror_lab, monkeypatch
):
    fast = mirror_lab.add("configured-fast", delay_ms=5)
    slow = mirror_lab.add("offered-slow", delay_ms=200)
    urls = dict.fromkeys(("pip", "uv", "conda", "docker", "hf", "modelscope"), fast)
    ctx = lab_context(tmp_path, mirror_lab, urls)
    user_profile(ctx, "lab", f'[pip]\nindex-url = "{slow}/simple"\n')
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    real_load = envdoctor.profiles.load_profiles
    monkeypatch.setattr(
        envdoctor.profiles,
        "load_profiles",
        lambda c: {k: v for k, v in real_load(c).items() if k == "lab"},
    )
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    out = CliRunner().invoke(cli, ["apply", "--profile", "auto", "--only", "pip,uv", "--yes"])
    assert out.exit_code == 0, out.output
    assert "Nothing to change" in out.stdout
    assert "pip: skipped: auto: kept as configured, nothing to change (fastest, configured now" in (
        out.stdout
    )
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # no pip.conf, no uv.toml


def test_a_named_profiles_report_charts_connections_only_with_throughput(
    tmp_path, mirror_lab, monkeypatch
):
    # Mirrors that pace each connection at 2 MiB/s: 8 ranges get more than one.
    paced = mirror_lab.add("paced", rate_bps=2 * 1024 * 1024, body_bytes=8 * 1024 * 1024)
    targets = ("pip", "uv", "conda", "docker", "hf", "modelscope")
    ctx = lab_context(tmp_path, mirror_lab, dict.fromkeys(targets, paced))
    user_profile(ctx, "lab", f'[hf]\nendpoint = "{paced}"\n')
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    for asked in (False, True):
        target = tmp_path / f"report-{asked}.html"
        args = ["report", "--profile", "lab", "--format", "html", "-o", str(target)]
        out = CliRunner().invoke(cli, [*args, "--throughput"] if asked else args)
        assert out.exit_code in (0, 1, 3), out.output
        html = target.read_text()
        assert ('data-connections="8"' in html) is asked, asked
