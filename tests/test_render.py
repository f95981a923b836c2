from __future__ import annotations

import io
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rich.console import Console

from envdoctor.engine import Report
from envdoctor.render import format_value, render_json, render_plans, render_text
from envdoctor.results import CheckResult, FileChange, Status, TargetPlan

MACHINE: dict[str, object] = {
    "hostname": "box",
    "os": "Debian 12",
    "kernel": "6.1",
    "arch": "x86_64",
    "python": "3.11.7",
    "envdoctor": "0.1.0",
    "container": None,
    "user": {},
}


def report(*results, strict=False):
    return Report(
        machine=MACHINE,
        results=tuple(results),
        probes=("a",),
        started_at=datetime(2026, 1, 2, tzinfo=timezone.utc),
        duration=1.5,
        strict=strict,
    )


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=120, force_terminal=terminal, no_color=True), buffer


WARN = CheckResult(
    "disk",
    "disk /data",
    Status.WARN,
    "30.0 GiB free [ext4]",
    {"free_bytes": 30 * 1024**3},
    remedy="free some space",
    duration=0.25,
)


def test_terminal_table_shows_badge_summary_and_remedy():
    con, out = console(terminal=True)
    render_text(report(WARN), con)
    text = out.getvalue()
    assert "! warn" in text
    assert "30.0 GiB free [ext4]" in text  # brackets are not eaten as markup
    assert "→ free some space" in text
    assert "box · Debian 12 · kernel 6.1" in text
    assert "free bytes" not in text  # details only with -v


def test_terminal_table_verbose_has_details_and_time():
    con, out = console(terminal=True)
    render_text(report(WARN), con, verbose=True)
    assert "free bytes: 30.0 GiB" in out.getvalue()
    assert "0.25 s" in out.getvalue()


def test_plain_lines_when_not_a_terminal():
    con, out = console(terminal=False)
    render_text(report(WARN), con)
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("warn   disk /data  30.0 GiB free [ext4]")
    assert lines[2].strip() == "fix: free some space"
    assert lines[-1] == "ready: 1 warn in 1.50 s"


def test_no_color_means_no_escape_codes():
    buffer = io.StringIO()
    con = Console(file=buffer, width=120, force_terminal=True, no_color=True)
    render_text(report(WARN), con)
    assert "\x1b[3" not in buffer.getvalue()  # no colour sequences (bold is allowed)


def test_json_keeps_numbers_raw():
    assert '"free_bytes": 32212254720' in render_json(report(WARN))


def test_format_value_by_suffix():
    assert format_value("read_bytes_per_s", 2 * 1024**3) == "2.0 GiB/s"
    assert format_value("ttfb_s", 0.0123) == "12.3 ms"
    assert format_value("timeout_s", 5) == "5.00 s"
    assert format_value("utilization_pct", 37) == "37 %"
    assert format_value("reasons", []) == "none"
    assert format_value("anything", None) == "n/a"
    assert format_value("cache_only", True) == "yes"


def test_live_progress_shows_each_probe_on_a_terminal():
    from envdoctor.render import live_progress

    con, out = console(terminal=True)
    with live_progress(con, ["cpu", "gpu"], {"cpu": "CPU", "gpu": "GPUs"}) as progress:
        assert progress is not None
        progress.done("cpu", [CheckResult("cpu", "cpu", Status.OK, "fine")])
        con.print(progress)  # what the live view draws at this moment
    frame = out.getvalue()
    assert "✓ ok" in frame and "CPU" in frame and "GPUs" in frame


def test_no_live_progress_off_a_terminal_or_when_disabled():
    from envdoctor.render import live_progress

    con, out = console(terminal=False)
    with live_progress(con, ["cpu"], {"cpu": "CPU"}) as progress:
        assert progress is None
    con, out = console(terminal=True)
    with live_progress(con, ["cpu"], {"cpu": "CPU"}, enabled=False) as progress:
        assert progress is None
    assert out.getvalue() == ""


NESTED = CheckResult(
    "config",
    "config pip",
    Status.OK,
    "index-url https://mirror.example/simple",
    details={
        "settings": {
            "index-url": {
                "value": "https://mirror.example/simple",
                "source": "~/.config/pip/pip.conf [global]",
                "shadowed": [["https://pypi.org/simple", "default (pip)"]],
            }
        },
        "files_read": ["/etc/pip.conf", "~/.config/pip/pip.conf"],
        "liveness": "see `envdoctor check --only network`",
    },
)


def test_verbose_details_are_an_indented_outline_of_labelled_lines():
    con, out = console(terminal=False)
    render_text(report(NESTED), con, verbose=True)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "settings:")
    indent = len(lines[start]) - len(lines[start].lstrip())
    assert [line[indent:] for line in lines[start : start + 8]] == [
        "settings:",
        "  index-url:",
        "    value: https://mirror.example/simple",
        "    source: ~/.config/pip/pip.conf [global]",
        "    shadowed:",
        "      - https://pypi.org/simple, default (pip)",
        "files read: /etc/pip.conf, ~/.config/pip/pip.conf",
        "liveness: see `envdoctor check --only network`",
    ]
    assert all(len(line) < 160 for line in lines)


def test_html_report_shows_nested_details_too():
    from envdoctor.report import make_document, render_html

    html = render_html(make_document(report(NESTED), []))
    assert "<td>shadowed</td>" not in html  # indented, not flat
    assert 'padding-left:28px">shadowed</td>' in html
    assert "https://pypi.org/simple, default (pip)" in html


def _plan_with_diff() -> tuple[list[TargetPlan], str]:
    change = FileChange("pip", Path("/etc/pip.conf"), "/etc/pip.conf", b"a\nold\n", b"a\nnew\n")
    diff = "--- a/etc/pip.conf\n+++ b/etc/pip.conf\n@@ -1,2 +1,2 @@\n a\n-old\n+new\n"
    return [TargetPlan("pip", (change,))], diff


def test_a_diff_off_a_terminal_is_written_as_it_is():
    plans, diff = _plan_with_diff()
    con, buffer = console(terminal=False)
    render_plans(plans, con, [diff])
    assert buffer.getvalue() == "pip: edit /etc/pip.conf\n" + diff


def test_a_diff_on_a_colour_terminal_is_coloured_as_git_colours_it():
    plans, diff = _plan_with_diff()
    buffer = io.StringIO()
    con = Console(file=buffer, width=120, force_terminal=True, color_system="standard")
    render_plans(plans, con, [diff])
    out = buffer.getvalue()
    assert "\x1b[1m--- a/etc/pip.conf\x1b[0m\n" in out
    # the hunk header cyan, the context line plain, removed red, added green
    assert "\x1b[36m@@ -1,2 +1,2 @@\x1b[0m\n a\n\x1b[31m-old\x1b[0m\n\x1b[32m+new\x1b[0m\n" in out
    con, buffer = console(terminal=True)  # NO_COLOR: the diff as it is
    render_plans(plans, con, [diff])
    assert buffer.getvalue().endswith("\n" + diff)


def test_a_diff_of_50000_lines_prints_in_well_under_a_second():
    plans, _ = _plan_with_diff()
    diff = "--- a/f\n+++ b/f\n@@ -1,50000 +1,50000 @@\n" + "".join(
        f"-GOX{n}=value{n}\n+GOX{n}=value{n}\n" for n in range(25_000)
    )
    buffer = io.StringIO()
    con = Console(file=buffer, width=120, force_terminal=True, color_system="standard")
    started = time.process_time()
    render_plans(plans, con, [diff])
    assert time.process_time() - started < 2  # 1.2 s through rich's Text before; 0.05 now
    assert buffer.getvalue().count("\n") == 50_004


@pytest.mark.parametrize(
    ("words", "line"),
    [
        ("behind pypi.org by 3 serials (numpy)", "freshness: behind pypi.org by 3 serials (numpy)"),
        ("freshness unknown: no upstream asked", "freshness unknown: no upstream asked"),
    ],
)
def test_the_verbose_freshness_line_does_not_say_freshness_twice(words: str, line: str) -> None:
    from envdoctor.render import _freshness_line

    assert _freshness_line(words) == line
