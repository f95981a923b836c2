from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
from markdown_it import MarkdownIt

from envdoctor.context import Context
from envdoctor.engine import Report, run_checks
from envdoctor.net.results import Measurement, Outcome
from envdoctor.planning import ApplyOptions
from envdoctor.planning import plan as plan_target
from envdoctor.profiles import get_profile
from envdoctor.report import (
    ReportDocument,
    make_document,
    render_html,
    render_json,
    render_markdown,
)
from envdoctor.requirements import CheckOptions
from envdoctor.results import CheckResult, Status, TargetPlan
from tests.mirrorlab import RecordingProxy

SCHEMA = Path(__file__).parent.parent / "envdoctor" / "schema" / "check-v2.json"
SECRET = "s3cr3t-token"
ZONE = timezone(timedelta(hours=8), "CST")

MACHINE: dict[str, object] = {
    "hostname": "gpu-box-7",
    "os": "Debian GNU/Linux 12 (bookworm)",
    "kernel": "6.1.0-18-amd64",
    "arch": "x86_64",
    "python": "3.11.2",
    "envdoctor": "0.1.0",
    "container": None,
    "user": {"name": "me"},
}


def mirror(url: str, ttfb: float | None, *, configured: bool = False, outcome: str = "ok"):
    return {
        "target": "pip",
        "url": url,
        "profiles": ["cn-tsinghua"],
        "configured": configured,
        "measurement": Measurement(
            url=url,
            kind="pip",
            outcome=Outcome(outcome),
            reason="ok" if outcome == "ok" else "HTTP 500 Internal Server Error",
            ttfb_s=ttfb,
        ).to_json(),
        "icmp_rtt_s": None,
        "icmp_method": None,
    }


RESULTS = (
    CheckResult("cpu", "cpu", Status.OK, "16 CPUs, load 0.3", {"cpus": 16}),
    CheckResult(
        "memory",
        "memory",
        Status.WARN,
        "12.0 GiB available *of* 16 <b>total</b>",
        {"available_bytes": 12 * 1024**3},
        remedy="See what keeps the CPUs busy: `top -o %CPU`",
    ),
    CheckResult("gpu", "gpu", Status.SKIP, "no NVIDIA driver; not required"),
    CheckResult(
        "disk",
        "disk /data [ext4]",
        Status.FAIL,
        "3.0 GiB free",
        remedy="Free some space: du -xh /data | sort -h | tail",
    ),
    CheckResult("kernel", "kernel", Status.ERROR, "the kernel check crashed"),
    CheckResult(
        "network",
        "mirror pip",
        Status.WARN,
        f"https://me:{SECRET}@pypi.example.org/simple: HTTP 500",
        {
            "target": "pip",
            "configured": "https://***:***@pypi.example.org/simple",
            "best": "https://pypi.tuna.tsinghua.edu.cn/simple",
            "mirrors": [
                mirror("https://pypi.tuna.tsinghua.edu.cn/simple", 0.045),
                mirror("https://pypi.org/simple", 0.310),
                mirror(
                    "https://***:***@pypi.example.org/simple",
                    None,
                    configured=True,
                    outcome="http_error",
                ),
            ],
        },
        remedy="Compare all mirrors: envdoctor mirrors --target pip",
    ),
    CheckResult(
        "config",
        '<img src="http://evil.example/x.png">',
        Status.OK,
        "`pip` points at <a href='https://evil.example'>here</a>",
    ),
)


def make_report(results: tuple[CheckResult, ...] = RESULTS) -> Report:
    return Report(
        machine=MACHINE,
        results=results,
        probes=tuple(dict.fromkeys(r.probe for r in results)),
        started_at=datetime(2026, 3, 4, 9, 30, 15, tzinfo=ZONE),
        duration=2.5,
    )


def make_ctx(root: Path) -> Context:
    home = root / "home" / "user"
    home.mkdir(parents=True, exist_ok=True)
    return Context.for_root(root, env={"XDG_CONFIG_HOME": str(home / ".config")}, home=home)


def real_plans(ctx: Context) -> list[TargetPlan]:
    """pip (with a credential in the current file) and uv planned for cn-tsinghua."""
    conf = ctx.home / ".config" / "pip" / "pip.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(
        f"[global]\nindex-url = https://me:{SECRET}@pypi.example.org/simple\ntimeout = 60\n"
    )
    profile = get_profile(ctx, "cn-tsinghua")
    return [plan_target(ctx, name, profile, ApplyOptions()) for name in ("pip", "uv")]


@pytest.fixture
def document(tmp_path: Path) -> ReportDocument:
    plans = [*real_plans(make_ctx(tmp_path)), TargetPlan("sysctl", skipped="needs root")]
    return make_document(
        make_report(),
        plans,
        profile="cn-tsinghua",
        choices={"pip": "pypi.tuna.tsinghua.edu.cn: first byte 45 ms; runner-up pypi.org 310 ms"},
    )


# --------------------------------------------------------------------------- document


def test_choices_are_per_target_or_plain_lines():
    report = make_report()
    assert make_document(report, choices={"pip": "fastest"}).choices == {"pip": "fastest"}
    lines = make_document(report, choices=["pip: fastest", "uv: no candidate answered"])
    assert lines.explanations == ("pip: fastest", "uv: no candidate answered")
    assert make_document(report, choices="one line").explanations == ("one line",)


def test_mirror_bars_come_from_the_network_details(document):
    bars = document.mirror_bars()
    assert [(b.ttfb_s, b.failure is None) for b in bars] == [
        (0.045, True),
        (0.310, True),
        (None, False),
    ]
    assert bars[2].configured and "500" in (bars[2].failure or "")


# --------------------------------------------------------------------------- Markdown


def checklist_items(text: str) -> list[str]:
    """The inline text of every list item that is a task (``[x] ...`` / ``[ ] ...``)."""
    tokens = MarkdownIt("commonmark").parse(text)
    items = []
    for index, token in enumerate(tokens):
        if token.type == "list_item_open":
            inline = tokens[index + 2]
            assert inline.type == "inline"
            if inline.content.startswith(("[x] ", "[ ] ")):
                items.append(inline.content)
    return items


def test_markdown_has_one_checklist_item_per_result(document):
    text = render_markdown(document)
    items = checklist_items(text)
    assert len(items) == len(RESULTS)
    ticked = [item for item in items if item.startswith("[x]")]
    assert len(ticked) == 3  # ok, skip, ok
    assert sum(line.startswith(("- [x] ", "- [ ] ")) for line in text.splitlines()) == len(RESULTS)
    assert any(
        item.startswith("[ ] fail") and "`du -xh /data | sort -h | tail`" in item for item in items
    )
    assert any("`top -o %CPU`" in item for item in items)


def test_markdown_header_says_what_where_and_when(document):
    text = render_markdown(document)
    header = text.split("## Checklist")[0]
    for fact in (
        "gpu-box-7",
        "Debian GNU/Linux 12 (bookworm)",
        "6.1.0-18-amd64",
        "3.11.2",
        "0.1.0",
        "2026-03-04 09:30:15 (CST, UTC+08:00)",
        "cn-tsinghua",
    ):
        assert fact in header
    assert "**Verdict: not ready** (2 ok, 1 skip, 2 warn, 1 fail, 1 error)" in header


def test_markdown_escapes_values_and_shows_the_plan(document):
    text = render_markdown(document)
    rendered = MarkdownIt("commonmark").render(text)
    assert "<img" not in rendered and "<a href" not in rendered and "<b>" not in rendered
    assert "&lt;img src=&quot;http://evil.example/x.png&quot;&gt;" in rendered
    assert "*of*" in rendered  # emphasis markers shown, not interpreted
    assert '<code class="language-diff">' in rendered
    assert "+index-url = https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple" in rendered
    assert "Skipped: needs root" in rendered
    assert "runner-up pypi.org 310 ms" in rendered
    assert SECRET not in text


def test_markdown_remedy_with_backticks_of_its_own():
    odd = CheckResult("x", "x", Status.WARN, "s", remedy="run ``a `b` c``")
    doc = make_document(make_report((odd,)))
    rendered = MarkdownIt("commonmark").render(render_markdown(doc))
    assert "<code>a `b` c</code>" in rendered


# --------------------------------------------------------------------------- JSON


def test_json_validates_against_the_check_schema_and_has_the_plan(document):
    data = json.loads(render_json(document))
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(data)
    assert data["profile"] == "cn-tsinghua"
    targets = {t["target"]: t for t in data["plan"]["targets"]}
    assert targets["sysctl"]["skipped"] == "needs root"
    pip = targets["pip"]
    assert pip["choice"].startswith("pypi.tuna")
    [file] = pip["files"]
    assert file["display"] == "~/.config/pip/pip.conf" and file["action"] == "edit"
    assert "+index-url = https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple" in file["diff"]
    assert "-index-url = https://***:***@pypi.example.org/simple" in file["diff"]
    assert SECRET not in json.dumps(data["plan"])
    assert data["summary"]["counts"] == make_report().counts
    assert len(data["results"]) == len(RESULTS)


def test_json_of_a_real_run_validates(tmp_path):
    ctx = make_ctx(tmp_path)
    report = run_checks(ctx, ["cpu", "memory"], CheckOptions())
    data = json.loads(render_json(make_document(report, real_plans(ctx), profile="cn-tsinghua")))
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(data)
    assert [r["probe"] for r in data["results"]] == ["cpu", "memory"]
    assert len(checklist_items(render_markdown(make_document(report)))) == len(report.results)


# --------------------------------------------------------------------------- HTML


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parsed(text: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = Collector()
    collector.feed(text)
    collector.close()
    return collector.tags


def test_html_loads_nothing_from_anywhere(document):
    text = render_html(document)
    tags = parsed(text)
    names = [tag for tag, _ in tags]
    assert "script" not in names and "link" not in names and "iframe" not in names
    assert "img" not in names and "a" not in names  # the ones in values were escaped
    for tag, attrs in tags:
        for key, value in attrs.items():
            if key in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
                assert not (value or "").lower().startswith(("http:", "https:", "//")), tag
    assert "url(" not in text and "@import" not in text
    assert SECRET not in text
    assert "&lt;img src=&quot;http://evil.example/x.png&quot;&gt;" in text


def test_html_has_summary_sections_chart_and_plan(document):
    text = render_html(document)
    tags = parsed(text)
    summary = next(attrs for tag, attrs in tags if attrs.get("id") == "summary")
    assert summary["class"] == "summary s-error"
    assert text.index('id="summary"') < text.index("<h2>Checks</h2>")
    assert '<span class="pill s-warn">2 warn</span>' in text
    probe_classes = [a.get("class") for t, a in tags if t == "section"]
    assert "probe s-fail" in probe_classes and "probe s-ok" in probe_classes
    assert [t for t, _ in tags].count("svg") == 1
    bars = [a for t, a in tags if t == "rect" and a.get("class") == "bar"]
    assert len(bars) == 2
    widths = sorted(float(a["width"] or 0) for a in bars)
    assert widths[1] / widths[0] == pytest.approx(310 / 45, rel=0.01)
    assert sum(1 for t, a in tags if t == "rect" and a.get("class") == "failed") == 1
    assert "45 ms" in text and "310 ms" in text and "failed: HTTP 500" in text
    add = "+index-url = https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple"
    assert f'<span class="add">{add}</span>' in text
    for fact in ("gpu-box-7", "6.1.0-18-amd64", "3.11.2", "2026-03-04 09:30:15 (CST, UTC+08:00)"):
        assert fact in text


def ranked(url: str, rates: tuple[tuple[int, float], ...], verdict: str | None) -> dict:
    measured = Measurement(
        url=url,
        kind="hf",
        outcome=Outcome.OK,
        reason="ok",
        ttfb_s=0.05,
        throughput_by_connections=rates,
        parallel_verdict=verdict,
    )
    return {"target": "hf", "mirrors": [{**mirror(url, 0.05), "measurement": measured.to_json()}]}


def test_html_draws_one_vs_n_connections_for_the_measured_mirrors(tmp_path):
    mib = 1024 * 1024
    measured = [
        ranked(
            f"https://me:{SECRET}@hf-mirror.example",
            ((1, 4 * mib), (4, 12 * mib), (8, 19 * mib)),
            "per-connection limited: 1 connection 4.0 MiB/s, 8 connections 19.0 MiB/s",
        ),
        ranked(
            "https://hub.example",
            ((1, 10 * mib),),
            "no Range support: each file over one connection",
        ),
        ranked("https://untimed.example", (), None),
    ]
    document = make_document(make_report(), [], profile="auto", measured=measured)
    text = render_html(document)
    tags = parsed(text)
    assert 'id="throughput"' in text and SECRET not in text
    rates = [a for t, a in tags if t == "rect" and a.get("class") == "rate"]
    assert [a["data-connections"] for a in rates] == ["1", "4", "8", "1"]
    widths = [float(a["width"] or 0) for a in rates]
    assert widths[2] / widths[0] == pytest.approx(19 / 4, rel=0.01)
    assert widths[3] / widths[0] == pytest.approx(10 / 4, rel=0.01)
    assert "19.0 MiB/s" in text and "per-connection limited" in text
    assert "untimed.example" not in text.split('id="throughput"', 1)[1]


def test_html_has_no_throughput_chart_without_parallel_figures(document):
    assert 'id="throughput"' not in render_html(document)


# --------------------------------------------------------------------------- Chromium


CHROMIUM_OWN = frozenset({"clients2.google.com", "update.googleapis.com", "accounts.google.com"})
"""Chromium's own clock, component-update and account checks, which it makes on start even
with --disable-background-networking and --disable-component-update (seen with Debian's
chromium 156).  Exact hosts: fonts.googleapis.com or any CDN would still count."""


def _host(request_line: str) -> str:
    """``GET http://host/x HTTP/1.1`` or ``CONNECT host:443 HTTP/1.1`` -> ``host``."""
    target = request_line.split(" ")[1] if " " in request_line else request_line
    return target.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].lower()


def chromium(page: Path, tmp: Path, proxy: RecordingProxy, *extra: str):
    binary = shutil.which("chromium")
    assert binary is not None
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp / 'profile'}",
            f"--proxy-server=http://127.0.0.1:{proxy.port}",
            "--proxy-bypass-list=<-loopback>",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_html_opens_in_headless_chromium_without_requests_or_errors(document, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(document), encoding="utf-8")
    shot = tmp_path / "report.png"
    proxy = RecordingProxy()
    try:
        # The control: a page with one external image does reach the proxy, so an
        # empty record below means the report asked for nothing, not a blind proxy.
        control = tmp_path / "control.html"
        control.write_text('<!DOCTYPE html><img src="http://assets.example/x.png">')
        chromium(control, tmp_path, proxy, "--dump-dom")
        assert any("assets.example" in line for line in proxy.requests), proxy.requests
        proxy.requests.clear()

        run = chromium(page, tmp_path, proxy, f"--screenshot={shot}", "--window-size=1200,1600")
        dom = chromium(page, tmp_path, proxy, "--dump-dom")
    finally:
        proxy.close()
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a blank 1200x1600 page compresses to a few KiB
    assert [line for line in proxy.requests if _host(line) not in CHROMIUM_OWN] == []
    assert "gpu-box-7" in dom.stdout and 'class="summary s-error"' in dom.stdout
    page_errors = [
        line
        for line in (run.stderr + dom.stderr).splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Content Security Policy" in line
    ]
    assert page_errors == []


def test_conda_path_tokens_never_reach_a_report(tmp_path: Path) -> None:
    token = "tk-0123456789abcdef"
    ctx = make_ctx(tmp_path)
    (ctx.home / ".condarc").write_text(
        f"channels:\n  - https://conda.example.org/t/{token}/private\n  - defaults\n"
    )
    plan = plan_target(ctx, "conda", get_profile(ctx, "cn-tsinghua"), ApplyOptions())
    assert any(token.encode() in (change.old or b"") for change in plan.changes)
    doc = make_document(make_report(), [plan])
    for text in (render_markdown(doc), render_html(doc), render_json(doc)):
        assert token not in text
        assert "/t/***/" in text


@pytest.mark.parametrize(
    ("remedy", "markdown"),
    [
        ("Use a machine with at least 4 CPUs", "Fix: Use a machine with at least 4 CPUs"),
        ("Compare all mirrors: envdoctor mirrors", "Fix: Compare all mirrors: `envdoctor mirrors`"),
        ("sudo sysctl -w net.ipv4.tcp_congestion_control=bbr", "Fix: `sudo sysctl -w net.ipv4"),
    ],
)
def test_markdown_remedies_keep_prose_as_prose_and_the_space_before_a_command(remedy, markdown):
    result = CheckResult("cpu", "cpu", Status.WARN, "2 CPUs", remedy=remedy)
    text = render_markdown(make_document(make_report((result,))))
    assert markdown in text
