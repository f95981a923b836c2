"""With --json (or report --format json), a command that cannot run still prints a JSON
document: the error object of envdoctor/schema/error-v1.json, the message on stderr too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from envdoctor.cli import cli

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "envdoctor" / "schema" / "error-v1.json").read_text()
)


def invoke(tmp_path: Path, *args: str):
    (tmp_path / "home").mkdir(exist_ok=True)
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    return CliRunner().invoke(cli, list(args), env=env)


def broken_profile(tmp_path: Path) -> str:
    profiles = tmp_path / "cfg" / "envdoctor" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "broken.toml").write_text('name = "broken"\n[pip\n')
    return "broken"


def error_of(out: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(out.stdout)
    jsonschema.validate(document, SCHEMA)
    assert document["error"]["exit_code"] == out.exit_code
    error: dict[str, Any] = document["error"]
    assert error["message"] in out.stderr
    return error


def test_check_json_with_a_broken_profile_prints_the_error_document(tmp_path):
    name = broken_profile(tmp_path)
    out = invoke(tmp_path, "check", "--json", "--only", "config", "--profile", name)
    assert out.exit_code == 2
    error = error_of(out)
    assert "broken" in error["message"]
    assert error["hint"]


def test_profiles_show_json_of_a_broken_profile_prints_the_error_document(tmp_path):
    out = invoke(tmp_path, "profiles", "show", broken_profile(tmp_path), "--json")
    assert out.exit_code == 2, out.output
    assert "broken.toml" in error_of(out)["message"]


def test_without_json_stdout_stays_empty(tmp_path):
    name = broken_profile(tmp_path)
    out = invoke(tmp_path, "check", "--only", "config", "--profile", name)
    assert out.exit_code == 2
    assert out.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("check", "--json", "--timeout", "abc"),  # click's own usage error
        ("check", "--json", "--timeout", "0.01"),  # envdoctor's UsageError
        ("check", "--json", "--only", "memroy"),
        ("mirrors", "--json", "--target", "nope"),
        ("report", "--format", "json", "--profile", "nope"),
        ("report", "--format=json", "--profile", "nope"),
        ("apply", "--json", "--profile", "nope", "--dry-run"),
        ("rollback", "--json"),
        ("history", "--json", "--root", "/nonexistent-envdoctor"),
        ("profiles", "show", "nope", "--json"),
        ("profiles", "--json", "--all", "--bogus"),
    ],
)
def test_every_json_command_prints_the_error_document(tmp_path, args):
    if args[0] in ("apply", "rollback"):
        root = tmp_path / "image"
        (root / "home").mkdir(parents=True)
        args = (*args, "--root", str(root), "--scope", "user")
    out = invoke(tmp_path, *args)
    assert out.exit_code == 2, out.output
    error_of(out)


def test_a_bug_under_json_is_an_error_document_with_exit_3(tmp_path, monkeypatch):
    import envdoctor.engine

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(envdoctor.engine, "run_checks", explode)
    out = invoke(tmp_path, "check", "--json", "--only", "config")
    assert out.exit_code == 3
    assert "boom" in error_of(out)["message"]


def test_json_after_a_double_dash_belongs_to_the_watched_command(tmp_path):
    out = invoke(tmp_path, "watch", "--interval", "nope", "--", "echo", "--json")
    assert out.exit_code == 2
    assert out.stdout == ""
