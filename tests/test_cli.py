from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

import jsonschema
import pytest
from click.testing import CliRunner

from envdoctor.cli import cli
from envdoctor.results import Status
from tests.fake_probes import install, reporting, result

SCHEMA = json.loads(resources.files("envdoctor").joinpath("schema/check-v2.json").read_text())


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def fakes(monkeypatch):
    def fake(status_by_name):
        specs = {n: (reporting(n, s), 5.0) for n, s in status_by_name.items()}
        install(monkeypatch, specs)

    return fake


def test_json_document_validates_against_the_schema(runner, fakes):
    fakes({"memory": Status.OK, "disk": Status.WARN})
    out = runner.invoke(cli, ["check", "--json"])
    assert out.exit_code == 0, out.output
    document = json.loads(out.stdout)
    jsonschema.validate(document, SCHEMA)
    assert [r["name"] for r in document["results"]] == ["memory", "disk"]
    assert document["summary"]["counts"]["warn"] == 1
    assert document["summary"]["status"] == "warn"


def test_strict_turns_warnings_into_exit_1(runner, fakes):
    fakes({"memory": Status.OK, "disk": Status.WARN})
    assert runner.invoke(cli, ["check"]).exit_code == 0
    out = runner.invoke(cli, ["check", "--strict", "--json"])
    assert out.exit_code == 1
    assert json.loads(out.stdout)["strict"] is True


def test_failure_exits_1_and_error_exits_3(runner, fakes):
    fakes({"a": Status.FAIL, "b": Status.OK})
    assert runner.invoke(cli, ["check"]).exit_code == 1
    fakes({"a": Status.ERROR, "b": Status.OK})
    assert runner.invoke(cli, ["check"]).exit_code == 3


def test_only_and_skip_select_probes(runner, fakes):
    fakes({"cpu": Status.OK, "memory": Status.OK, "disk": Status.OK, "gpu": Status.OK})
    out = runner.invoke(cli, ["check", "--json", "--only", "memory,disk"])
    assert [r["name"] for r in json.loads(out.stdout)["results"]] == ["memory", "disk"]
    out = runner.invoke(cli, ["check", "--json", "--skip", "gpu", "--skip", "cpu"])
    assert json.loads(out.stdout)["probes"] == ["memory", "disk"]


def test_unknown_probe_name_is_a_usage_error_with_a_suggestion(runner, fakes):
    fakes({"memory": Status.OK})
    out = runner.invoke(cli, ["check", "--only", "memroy"])
    assert out.exit_code == 2
    assert "no check named 'memroy'" in out.stderr
    assert "Did you mean 'memory'?" in out.stderr
    assert "Traceback" not in out.output


def test_skipping_everything_is_a_usage_error(runner, fakes):
    fakes({"memory": Status.OK})
    assert runner.invoke(cli, ["check", "--skip", "memory"]).exit_code == 2


@pytest.mark.parametrize("spec", ["mem", "mem=lots", "colour=blue", "gpus=1.5", "disk=-5G"])
def test_bad_require_is_a_usage_error(runner, fakes, spec):
    fakes({"memory": Status.OK})
    out = runner.invoke(cli, ["check", "--require", spec])
    assert out.exit_code == 2
    assert "--require" in out.stderr
    assert "Traceback" not in out.output


def test_plain_output_has_one_line_per_result_and_a_verdict(runner, fakes):
    fakes({"memory": Status.OK, "disk": Status.FAIL})
    out = runner.invoke(cli, ["check"])
    lines = out.stdout.splitlines()
    assert any(line.startswith("ok") and "memory is ok" in line for line in lines)
    assert any(line.startswith("fail") and "disk is fail" in line for line in lines)
    assert lines[-1].startswith("not ready: 1 ok, 1 fail")


def test_verbose_shows_details_and_timings(runner, monkeypatch):
    install(
        monkeypatch,
        {"disk": (lambda ctx, options: [result("disk", free_bytes=2 * 1024**3)], 5.0)},
    )
    out = runner.invoke(cli, ["check", "-v"])
    assert "free bytes: 2.0 GiB" in out.stdout
    assert " s)" in out.stdout


def test_a_bug_in_envdoctor_exits_3_without_a_traceback(runner, monkeypatch):
    import envdoctor.engine

    def explode(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(envdoctor.engine, "run_checks", explode)
    install(monkeypatch, {"memory": (lambda ctx, options: [result("memory")], 5.0)})
    monkeypatch.delenv("ENVDOCTOR_DEBUG", raising=False)
    out = runner.invoke(cli, ["check"])
    assert out.exit_code == 3
    assert "internal error: RuntimeError: kaboom" in out.stderr
    assert "Traceback" not in out.output


def test_version(runner):
    out = runner.invoke(cli, ["--version"])
    assert out.exit_code == 0
    assert "envdoctor" in out.stdout


def test_help_imports_nothing_heavy():
    code = (
        "import sys; from envdoctor.cli import cli\n"
        "try:\n    cli.main(['--help'], prog_name='envdoctor')\nexcept SystemExit: pass\n"
        "heavy = [m for m in ('rich.console', 'rich.table', 'psutil', 'pynvml', 'tomlkit', "
        "'ping3', 'envdoctor.engine') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_python_dash_m_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "envdoctor", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("envdoctor")


def test_titles_people_read_select_their_check(runner, fakes):
    fakes({"network": Status.OK, "config": Status.OK, "gpu": Status.OK})
    out = runner.invoke(cli, ["check", "--json", "--only", "mirrors,configuration"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["probes"] == ["network", "config"]
    out = runner.invoke(cli, ["check", "--only", "mirorz"])
    assert out.exit_code == 2
    assert "Did you mean 'network'?" in out.stderr


def test_every_check_title_is_accepted_by_only():
    from envdoctor.probes import ALIASES, PROBE_NAMES, load

    for name in PROBE_NAMES:
        word = load(name).TITLE.split()[0].lower()
        assert word in PROBE_NAMES or ALIASES.get(word) == name, (name, word)


def test_a_named_path_with_no_parent_but_root_is_a_usage_error(runner, fakes, tmp_path):
    fakes({"disk": Status.OK})
    out = runner.invoke(cli, ["check", "--only", "disk", "--path", "/nonexistent-envdoctor/dir"])
    assert out.exit_code == 2
    assert "--path /nonexistent-envdoctor/dir: no such directory" in out.stderr
    # A new directory under an existing one is measured there (the disk check names it).
    out = runner.invoke(cli, ["check", "--only", "disk", "--path", str(tmp_path / "new")])
    assert out.exit_code == 0, out.output


def test_no_arguments_prints_the_help_and_exits_0(runner):
    out = runner.invoke(cli, [])
    assert out.exit_code == 0
    assert "Is this machine ready for AI work?" in out.stdout


def test_unknown_require_key_names_the_keys(runner, fakes):
    fakes({"memory": Status.OK})
    out = runner.invoke(cli, ["check", "--require", "vrma=24G"])
    assert out.exit_code == 2
    assert "unknown key 'vrma', expected one of cpus, disk, gpus, mem, memory, vram" in out.stderr
    assert "Did you mean 'vram'?" in out.stderr


def test_journal_commands_say_what_root_means(runner):
    for command in ("history", "rollback", "env"):
        text = runner.invoke(cli, [command, "--help"]).stdout
        assert "Apply to an image" not in text and "journal of an image" in " ".join(text.split())


def test_check_reports_the_wall_time_since_the_process_started(tmp_path):
    """The footer's time includes start-up (imports), as a stopwatch would show."""
    code = (
        "import time, sys; time.sleep(0.3)\n"
        "from envdoctor.cli import main\n"
        "sys.argv = ['envdoctor', 'check', '--only', 'cpu', '--json']\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert json.loads(result.stdout)["duration_s"] >= 0.3


@pytest.mark.parametrize("command", [["check"], ["mirrors"]])
def test_a_too_short_timeout_is_refused_in_envdoctors_words(runner, command):
    out = runner.invoke(cli, [*command, "--timeout", "0"])
    assert out.exit_code == 2
    assert out.stderr.startswith("envdoctor: error: --timeout 0: too short")
    assert "Invalid value" not in out.stderr


@pytest.mark.parametrize("command", [["check"], ["mirrors"]])
@pytest.mark.parametrize("value", ["inf", "1e12", "86401"])
def test_a_timeout_over_a_day_is_refused_before_any_work(runner, command, value):
    # inf and 1e12 overflowed the clocks the probes wait on: an internal error (exit 3),
    # or every mirror marked "internal error" and exit 1.
    out = runner.invoke(cli, [*command, "--timeout", value, "--json"])
    assert out.exit_code == 2
    assert "too long, the most is 86400 s" in json.loads(out.stdout)["error"]["message"]


def test_profiles_piped_is_one_unwrapped_line_each_without_trailing_spaces(runner):
    from envdoctor.context import Context
    from envdoctor.profiles import scan_profiles

    out = runner.invoke(cli, ["profiles"], env={"COLUMNS": "60"})
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert all(line == line.rstrip() for line in lines)
    names = sorted(scan_profiles(Context.from_environ()).profiles)
    listed = [line.split()[0] for line in lines[1 : 1 + len(names)]]
    assert listed == names  # one line per profile: nothing wrapped onto a line of its own


def _on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run envdoctor with a pseudo-terminal as its stdout and stderr: its exit code and
    what it wrote."""
    import os
    import pty

    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "envdoctor", *args],
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "120", **env},
    )
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return process.wait(timeout=60), b"".join(chunks).decode("latin-1")


def test_a_terminal_whose_locale_cannot_write_the_glyphs_gets_ascii_not_a_crash() -> None:
    # An ISO-8859-1 terminal: the live view's braille spinner and the table's badges once
    # ended the check with a UnicodeEncodeError (exit 3).
    code, output = _on_a_terminal(["check", "--only", "memory"], {"PYTHONIOENCODING": "latin-1"})
    assert code in (0, 1), output  # 1: a machine short of memory; 3 was the crash
    assert "internal error" not in output
    badges = ("+ ok", "! warn", "x fail")  # ✓ and ✗ in ASCII
    assert any(badge in output for badge in badges), output
    assert "\\u2713" not in output and "\\u2717" not in output


def test_glyphs_a_locale_cannot_write_become_ascii_or_escapes() -> None:
    import io

    from envdoctor.cli import escape_unencodable

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="latin-1")
    escape_unencodable([stream])
    stream.write("✓ ok · ✗ fail → fix ◀ configured … ≥1.0 MiB/s 20 °C \U0001f600")
    stream.flush()
    written = raw.getvalue().decode("latin-1")
    assert written == ("+ ok · x fail -> fix < configured ... \\u22651.0 MiB/s 20 °C \\U0001f600")
    with pytest.raises(UnicodeDecodeError):  # a decode error is not this handler's
        b"\xff".decode("utf-8", errors="envdoctor-ascii")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["mirrors", "--save", "office"], "--save stores the choice of --pick"),
        (["mirrors", "--pick", "--save", "Bad Name"], "'Bad Name' is not a profile name"),
        (["apply", "--profile", "auto", "--save", "Bad Name", "--dry-run"], "not a profile"),
    ],
)
def test_a_bad_save_is_refused_before_measuring(runner, monkeypatch, args, words):
    import envdoctor.cli_apply
    import envdoctor.mirrors

    def measured(*args, **kwargs):
        raise AssertionError("measured before refusing --save")

    monkeypatch.setattr(envdoctor.mirrors, "measure", measured)
    monkeypatch.setattr(envdoctor.cli_apply, "_auto", measured)
    out = runner.invoke(cli, args)
    assert out.exit_code == 2, out.output
    assert words in out.stderr
