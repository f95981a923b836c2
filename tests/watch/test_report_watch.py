"""``envdoctor report --watch FILE.json``: the watch summary as a section of the report."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

import envdoctor.engine
from envdoctor.cli import cli
from envdoctor.context import Context
from envdoctor.engine import Report
from envdoctor.errors import UsageError
from envdoctor.results import CheckResult, Status
from envdoctor.watch import render, rules
from envdoctor.watch.model import WatchRun
from envdoctor.watch.report import attach, load_watch
from tests.watch.psutil_fakes import FakeMachine, FakeProcess, tcp

MiB = 1024**2
TOKEN_URL = "https://alice:s3cret@hub.example/<script>org/model"


@pytest.fixture
def watch_file(tmp_path, sample_run) -> Path:
    """A watch of a one-connection download, as `watch --json-file` writes it."""
    machine = FakeMachine()
    root = machine.spawn(FakeProcess(100, "hf"))
    root.conns = [tcp("203.0.113.7")]
    samples = sample_run(
        machine, [{"nics": {"eth0": (2 * MiB, 0)}}] * 3 + [{"threads": {(100, 100): 0.99}}], pid=100
    )
    command = ("hf", "download", TOKEN_URL)
    client = rules.client_of(command)
    findings = [rules.evaluate(sample, client=client) for sample in samples]
    run = WatchRun(
        tuple(samples),
        1.0,
        4.2,
        "2026-05-01T10:00:00+00:00",
        command=command,
        exit_code=0,
    )
    judgement = rules.judge(samples, client=client, findings=findings)
    path: Path = tmp_path / "watch.json"
    data = render.document(run, judgement, findings, rules.Thresholds())
    path.write_text(render.render_json(data))
    return path


def test_markdown_section(watch_file):
    text = attach("# envdoctor report: box\n\nbody\n", "md", load_watch(watch_file))
    assert text.startswith("# envdoctor report: box\n\nbody\n\n## Watch: what the work waited on\n")
    assert "s3cret" not in text
    assert "- **Watched:** hf download 'https://\\*\\*\\*:\\*\\*\\*@hub.example/" in text
    assert "for 4.2 s, 4 samples every 1 s, exit code 0" in text
    assert (
        "- **Verdict:** network-bound: receiving 2.0 MiB/s over 1 TCP connection per host "
        "(203.0.113.7): a mirror that limits each connection caps the download there "
        "(3 of 4 samples)"
    ) in text
    assert "- **Other samples:** cpu-bound in 1 of 4 samples" in text
    # The remedy's command stays a code span.
    rendered = MarkdownIt().render(text)
    assert "<code>hf download --max-workers 16</code>" in rendered
    assert "<script>" not in rendered


def test_html_section_goes_before_the_footer_and_is_escaped(watch_file):
    page = "<html><body><h1>r</h1>\n<footer>made</footer>\n</body></html>\n"
    text = attach(page, "html", load_watch(watch_file))
    assert text.index('<section id="watch">') < text.index("<footer>")
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "s3cret" not in text
    assert "<code>hf download --max-workers 16</code>" in text


def test_json_gains_a_watch_key(watch_file):
    text = attach(json.dumps({"schema_version": 1}), "json", load_watch(watch_file))
    data = json.loads(text)
    assert data["schema_version"] == 1
    watch = data["watch"]
    assert watch["schema"] == "envdoctor-watch/1"
    assert watch["samples"] == 4
    assert watch["exit_code"] == 0
    assert watch["verdict"]["verdict"] == "network-bound"
    assert watch["verdict"]["rule"] == "network-one-connection"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read {path}: No such file or directory"),
        ("{not json", "{path} is not JSON: "),
        ('{"schema_version": 1}', "{path} is not an envdoctor-watch/1 document (schema None)"),
        ('{"schema": "envdoctor-watch/1"}', "{path} has no verdict: it is cut short or was edited"),
    ],
)
def test_a_file_that_is_not_a_watch_is_a_usage_error(tmp_path, content, message):
    path = tmp_path / "w.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as caught:
        load_watch(path)
    assert caught.value.message.startswith(message.format(path=path))
    assert caught.value.hint == (
        "Write one with `envdoctor watch --json-file FILE.json` (with or without a command)."
    )


def test_report_with_a_bad_watch_file_stops_before_checking(tmp_path, monkeypatch):
    def no_checks(*args, **kwargs):
        raise AssertionError("the checks must not run")

    monkeypatch.setattr(envdoctor.engine, "run_checks", no_checks)
    out = CliRunner().invoke(cli, ["report", "--watch", str(tmp_path / "missing.json")])
    assert out.exit_code == 2
    assert f"envdoctor: error: cannot read {tmp_path / 'missing.json'}" in out.stderr


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_report_includes_the_watch(tmp_path, monkeypatch, watch_file, fmt):
    home = tmp_path / "home" / "user"
    home.mkdir(parents=True, exist_ok=True)
    ctx = Context.for_root(tmp_path, home=home)
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))

    def quick_checks(ctx, names, options, **kwargs):
        result = CheckResult("cpu", "cpu", Status.OK, "4 usable CPUs")
        return Report({"hostname": "box"}, (result,), ("cpu",), datetime.now(timezone.utc), 0.1)

    monkeypatch.setattr(envdoctor.engine, "run_checks", quick_checks)
    out = CliRunner().invoke(
        cli, ["report", "--profile", "global", "--format", fmt, "--watch", str(watch_file)]
    )
    assert out.exit_code == 0, out.output
    if fmt == "json":
        assert json.loads(out.stdout)["watch"]["verdict"]["verdict"] == "network-bound"
    else:
        assert "Watch: what the work waited on" in out.stdout
        assert "network-bound: receiving 2.0 MiB/s" in out.stdout
