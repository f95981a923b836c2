"""The onboarding report: a check and a plan, as one Markdown, HTML or JSON document.

Rendering only: the caller runs the probes (:func:`envdoctor.engine.run_checks`) and plans
the targets; this module turns both into text.  Every value that reaches a document is
escaped for it, and every URL in free text is masked again, although probes and targets
already mask credentials: a report is made to be attached to tickets.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from envdoctor.redact import mask_line, mask_url, scrub
from envdoctor.render import detail_outline
from envdoctor.results import CheckResult, FileChange, Status, TargetPlan
from envdoctor.transaction import unified_diff

if TYPE_CHECKING:
    from envdoctor.engine import Report

_VERDICTS = {0: "ready", 1: "not ready", 3: "incomplete"}
_TICKED = frozenset({Status.OK, Status.SKIP})
_STATUS_ORDER = (Status.OK, Status.SKIP, Status.WARN, Status.FAIL, Status.ERROR)
_BACKTICKS = re.compile(r"`+")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")


@dataclass(frozen=True)
class MirrorBar:
    """One mirror of one target in the chart: first-byte time, or why it failed."""

    target: str
    url: str
    configured: bool
    ttfb_s: float | None
    failure: str | None
    """None when the mirror answered; else the measurement's reason."""


@dataclass(frozen=True)
class ThroughputBars:
    """One mirror's download rate over 1 connection and over N parallel ranges."""

    target: str
    url: str
    rates: tuple[tuple[int, float], ...]
    """``(connections, bytes/s)``, fewest connections first."""
    verdict: str | None


@dataclass(frozen=True)
class ReportDocument:
    """What ``envdoctor report`` shows: the check, and what a profile would change.

    Build it with :func:`make_document`; ``choices`` maps a target to why its mirror was
    chosen, ``explanations`` holds lines that belong to no single target.
    """

    report: Report
    plans: tuple[TargetPlan, ...] = ()
    profile: str | None = None
    choices: Mapping[str, str] = field(default_factory=dict)
    explanations: tuple[str, ...] = ()
    measured: tuple[Mapping[str, Any], ...] = ()
    """Rankings measured besides the check (``--profile auto``'s, with throughput), as
    ``Ranking.to_json()`` documents."""

    @property
    def verdict(self) -> str:
        return _VERDICTS.get(self.report.exit_code, "incomplete")

    @property
    def started_at(self) -> datetime:
        """When the check started, in the zone it was recorded in (local when naive)."""
        started = self.report.started_at
        return started if started.tzinfo is not None else started.astimezone()

    def mirror_bars(self) -> list[MirrorBar]:
        """The measured mirrors of the network results, in the order they were ranked."""
        return [
            MirrorBar(mirror.target, mirror.url, mirror.configured, mirror.ttfb_s, mirror.failure)
            for result in self.report.results
            if result.probe == "network"
            for mirror in measured_mirrors(result.details, result.name)
        ]

    def throughput_bars(self) -> list[ThroughputBars]:
        """Mirrors whose download was timed over 1 and N connections, from the network
        results and from :attr:`measured`, each URL once per target."""
        rankings: list[Mapping[str, Any]] = [
            {"target": result.details.get("target") or result.name, **result.details}
            for result in self.report.results
            if result.probe == "network"
        ]
        rankings += self.measured
        bars: dict[tuple[str, str], ThroughputBars] = {}
        for ranking in rankings:
            for mirror in measured_mirrors(ranking, "?"):
                rates = _rates(mirror.measurement.get("throughput_by_connections"))
                if not rates:
                    continue
                verdict = mirror.measurement.get("parallel_verdict")
                bars.setdefault(
                    (mirror.target, mirror.url),
                    ThroughputBars(
                        mirror.target, mirror.url, rates, str(verdict) if verdict else None
                    ),
                )
        return list(bars.values())


@dataclass(frozen=True)
class MeasuredMirror:
    """One mirror of a network result's (or a ranking's) JSON, read defensively: the
    documents may come from another host or an older envdoctor (``report --merge``)."""

    target: str
    url: str
    """Masked."""
    configured: bool
    measurement: Mapping[str, Any]
    ttfb_s: float | None
    """The first-byte time of a mirror that answered; None otherwise."""
    failure: str | None
    """Why it did not answer; None when it did."""


def measured_mirrors(details: Mapping[str, Any], default_target: str) -> list[MeasuredMirror]:
    """The ``mirrors`` of one network result's details (or of a ``Ranking.to_json()``)."""
    found = []
    mirrors = details.get("mirrors")
    for mirror in mirrors if isinstance(mirrors, list) else ():
        if not isinstance(mirror, Mapping):
            continue
        measured = mirror.get("measurement")
        measured = measured if isinstance(measured, Mapping) else {}
        ttfb = measured.get("ttfb_s")
        # another host's document: NaN, infinity or a negative time is no measurement
        timed = (
            isinstance(ttfb, (int, float))
            and not isinstance(ttfb, bool)
            and math.isfinite(ttfb)
            and ttfb >= 0
        )
        healthy = measured.get("outcome") == "ok" and timed
        reason = str(measured.get("reason") or measured.get("outcome") or "not measured")
        reason = scrub(mask_line(reason))
        found.append(
            MeasuredMirror(
                target=str(mirror.get("target") or details.get("target") or default_target),
                url=mask_url(str(mirror.get("url") or measured.get("url") or "?")),
                configured=bool(mirror.get("configured")),
                measurement=measured,
                ttfb_s=float(ttfb) if healthy and isinstance(ttfb, (int, float)) else None,
                failure=None if healthy else reason if timed or ttfb is None else "not measured",
            )
        )
    return found


def _rates(value: object) -> tuple[tuple[int, float], ...]:
    """``{"1": 4e6, "8": 1.9e7}`` (JSON keys are strings) as sorted pairs; junk dropped."""
    if not isinstance(value, Mapping):
        return ()
    pairs = []
    for count, rate in value.items():
        if str(count).isdigit() and isinstance(rate, (int, float)) and rate > 0:
            pairs.append((int(count), float(rate)))
    return tuple(sorted(pairs))


def make_document(
    report: Report,
    plans: Sequence[TargetPlan] = (),
    *,
    profile: str | None = None,
    choices: Sequence[str] | Mapping[str, str] | None = None,
    measured: Sequence[Mapping[str, Any]] = (),
) -> ReportDocument:
    """A report document; ``choices`` is either target -> reason, or plain lines."""
    by_target: dict[str, str] = {}
    lines: tuple[str, ...] = ()
    if isinstance(choices, Mapping):
        by_target = {str(k): str(v) for k, v in choices.items()}
    elif isinstance(choices, str):
        lines = (choices,)
    elif choices is not None:
        lines = tuple(str(line) for line in choices)
    return ReportDocument(report, tuple(plans), profile, by_target, lines, tuple(measured))


# --------------------------------------------------------------------------- shared


def _clean(text: str) -> str:
    """One line, with credentials in URLs masked."""
    return mask_line(" ".join(str(text).split()))


def _remedy_parts(remedy: str) -> list[tuple[bool, str]]:
    """``(is_code, text)`` pieces: backticked spans are code; else the command after the
    last ``: `` (``Compare all mirrors: envdoctor mirrors``); else the whole remedy."""
    remedy = _clean(remedy)
    if "`" in remedy:
        return _code_spans(remedy)
    prose, sep, command = remedy.rpartition(": ")
    if sep and _looks_like_a_command(command):
        command = command.rstrip(".")
        return [(False, prose + ": "), (True, command)]
    if _looks_like_a_command(remedy):
        return [(True, remedy.rstrip("."))]
    return [(False, remedy)]


_COMMAND_START = re.compile(r"(?:sudo |export |unset |\$ )?[a-z0-9_./~-]+(?: |$)")


def _looks_like_a_command(text: str) -> bool:
    """A remedy's tail is a command when it starts like one (``envdoctor apply ...``,
    ``sudo sysctl ...``, ``export HF_HOME=...``), not like a sentence (``Use a ...``)."""
    return bool(text) and _COMMAND_START.match(text) is not None


def _code_spans(text: str) -> list[tuple[bool, str]]:
    """Split on code spans as CommonMark does: a run of n backticks up to the next run of
    exactly n; a run with no partner is plain text."""
    pieces: list[tuple[bool, str]] = []
    plain_from = 0
    position = 0
    while (opening := _BACKTICKS.search(text, position)) is not None:
        ticks = opening.group(0)
        closing = next(
            (m for m in _BACKTICKS.finditer(text, opening.end()) if m.group(0) == ticks), None
        )
        if closing is None:
            position = opening.end()
            continue
        if opening.start() > plain_from:
            pieces.append((False, text[plain_from : opening.start()]))
        code = text[opening.end() : closing.start()]
        if code.startswith(" ") and code.endswith(" ") and code.strip():
            code = code[1:-1]
        pieces.append((True, code))
        plain_from = position = closing.end()
    if plain_from < len(text):
        pieces.append((False, text[plain_from:]))
    return pieces


def _action(change: FileChange) -> str:
    if change.old is None:
        return "create"
    if change.new is None:
        return "remove"
    return "edit"


def _title(probe: str) -> str:
    from envdoctor.probes import load

    try:
        return load(probe).TITLE
    except (KeyError, ImportError, AttributeError):
        return probe


def _groups(results: Sequence[CheckResult]) -> list[tuple[str, list[CheckResult]]]:
    groups: dict[str, list[CheckResult]] = {}
    for result in results:
        groups.setdefault(result.probe, []).append(result)
    return list(groups.items())


def _when(doc: ReportDocument) -> str:
    started = doc.started_at
    offset = started.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    zone = started.tzname() or ""
    zone_text = f"{zone}, {offset}" if zone and zone != offset and zone != "UTC" else offset
    return f"{started.strftime('%Y-%m-%d %H:%M:%S')} ({zone_text})"


def _header_facts(doc: ReportDocument) -> list[tuple[str, str]]:
    machine = doc.report.machine
    facts = [
        ("Host", str(machine.get("hostname") or "unknown")),
        ("OS", str(machine.get("os") or "unknown")),
        ("Kernel", str(machine.get("kernel") or "unknown")),
        ("Architecture", str(machine.get("arch") or "unknown")),
        ("Python", str(machine.get("python") or "unknown")),
        ("envdoctor", str(machine.get("envdoctor") or "unknown")),
        ("Checked at", _when(doc)),
        ("Duration", f"{doc.report.duration:.2f} s"),
    ]
    if machine.get("container"):
        facts.insert(2, ("Container", str(machine["container"])))
    if doc.profile:
        facts.append(("Profile", doc.profile))
    return [(label, _clean(value)) for label, value in facts]


def _counts_text(doc: ReportDocument) -> str:
    counts = doc.report.counts
    return ", ".join(f"{counts[s.value]} {s.value}" for s in _STATUS_ORDER if counts[s.value])


# --------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", _clean(text))


def _md_code(text: str) -> str:
    """A code span that holds ``text`` whatever backticks it contains (CommonMark 6.1)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_fence(text: str, info: str) -> list[str]:
    longest = max((len(run) for run in re.findall(r"^ {0,3}(`{3,})", text, re.M)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *text.rstrip("\n").split("\n"), fence]


def _md_remedy(remedy: str) -> str:
    # The parts are cleaned already: cleaning each again would drop the space before a command.
    return "".join(
        _md_code(text) if code else _MD_SPECIAL.sub(r"\\\1", text)
        for code, text in _remedy_parts(remedy)
    )


def render_markdown(doc: ReportDocument) -> str:
    """The report as CommonMark: header, one checklist item per check result, the plan."""
    report = doc.report
    hostname = str(report.machine.get("hostname") or "unknown host")
    lines = [f"# envdoctor report: {_md(hostname)}", ""]
    lines += [f"- **{label}:** {_md(value)}" for label, value in _header_facts(doc)]
    lines += [
        "",
        f"**Verdict: {doc.verdict}** ({_md(_counts_text(doc) or 'nothing checked')})",
        "",
        "## Checklist",
    ]
    for probe, results in _groups(report.results):
        lines += ["", f"### {_md(_title(probe))}", ""]
        for result in results:
            box = "x" if result.status in _TICKED else " "
            item = f"- [{box}] {result.status.value}  **{_md(result.name)}**: {_md(result.summary)}"
            if result.remedy and result.status is not Status.OK:
                item += f" Fix: {_md_remedy(result.remedy)}"
            lines.append(item)
    lines += _md_plan(doc)
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_plan(doc: ReportDocument) -> list[str]:
    if not doc.plans and not doc.explanations:
        return []
    title = f"profile {_md_code(doc.profile)}" if doc.profile else "the profile"
    lines = ["", f"## Plan: what applying {title} would change", ""]
    lines.append("Nothing has been written; run `envdoctor apply` to make these changes.")
    if doc.explanations:
        lines.append("")
        lines += [f"- {_md(line)}" for line in doc.explanations]
    for plan in doc.plans:
        lines += ["", f"### {_md(plan.target)}", ""]
        if plan.target in doc.choices:
            lines += [f"Choice: {_md(doc.choices[plan.target])}", ""]
        if plan.skipped:
            lines.append(f"Skipped: {_md(plan.skipped)}")
        elif not plan.changed:
            lines.append("Already as the profile wants it.")
        for change in plan.changes:
            if not change.changed:
                continue
            lines += ["", f"{_action(change).capitalize()} {_md_code(change.display)}:", ""]
            lines += _md_fence(unified_diff(change), "diff")
        if plan.notes:
            lines.append("")
            lines += [f"- Note: {_md(note)}" for note in plan.notes]
    return lines


# --------------------------------------------------------------------------- JSON


def report_json(doc: ReportDocument) -> dict[str, Any]:
    """``check --json``'s document, plus ``profile`` and ``plan``."""
    data = doc.report.to_json()
    data["profile"] = doc.profile
    data["plan"] = {
        "profile": doc.profile,
        "explanations": [_clean(line) for line in doc.explanations],
        "targets": [
            {
                "target": plan.target,
                "skipped": plan.skipped,
                "changed": plan.changed,
                "choice": _clean(doc.choices[plan.target]) if plan.target in doc.choices else None,
                "notes": [_clean(note) for note in plan.notes],
                "files": [
                    {
                        "display": change.display,
                        "action": _action(change) if change.changed else "unchanged",
                        "diff": unified_diff(change),
                    }
                    for change in plan.changes
                ],
            }
            for plan in doc.plans
        ],
    }
    return data


def render_json(doc: ReportDocument) -> str:
    return json.dumps(report_json(doc), indent=2, ensure_ascii=False, default=str) + "\n"


# --------------------------------------------------------------------------- HTML

_CSS = """
:root { --ok:#1a7f37; --skip:#6e7781; --warn:#9a6700; --fail:#cf222e; --error:#8250df;
  --line:#d0d7de; --soft:#f6f8fa; color-scheme: light; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color:#1f2328;
  margin: 0 auto; max-width: 1100px; padding: 24px; background:#fff; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { border-bottom: 1px solid var(--line);
  padding-bottom: 4px; margin-top: 32px; } h3 { margin: 20px 0 8px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
.summary { display:flex; flex-wrap:wrap; gap:12px; align-items:center; padding:16px;
  border-radius:8px; background:var(--soft); border-left:8px solid var(--line); }
.summary .verdict { font-size: 22px; font-weight: 700; margin-right: 12px; }
.pill { display:inline-block; padding:2px 10px; border-radius:12px; color:#fff;
  font-weight:600; font-size:13px; }
.pill.zero { opacity: .35; }
.s-ok { --c: var(--ok); } .s-skip { --c: var(--skip); } .s-warn { --c: var(--warn); }
.s-fail { --c: var(--fail); } .s-error { --c: var(--error); }
.pill, .badge { background: var(--c); }
.summary.s-ok, .summary.s-skip, .summary.s-warn, .summary.s-fail, .summary.s-error {
  border-left-color: var(--c); }
section.probe { border:1px solid var(--line); border-left:6px solid var(--c);
  border-radius:6px; margin:12px 0; padding:4px 16px 8px; }
ul.checks { list-style:none; padding:0; margin:0; }
ul.checks li { padding:8px 0; border-top:1px solid var(--soft); }
.badge { display:inline-block; min-width:48px; text-align:center; color:#fff;
  border-radius:4px; font-size:12px; font-weight:700; padding:1px 6px; margin-right:8px;
  text-transform: uppercase; }
.name { font-weight: 600; margin-right: 8px; }
.remedy { margin: 4px 0 0 64px; } .remedy::before { content: "\\2192  "; color:#57606a; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: 13px; } code { background:var(--soft); padding:1px 4px; border-radius:4px; }
details { margin: 4px 0 0 64px; color:#57606a; font-size: 13px; }
details table { border-collapse: collapse; } details td { padding: 0 12px 0 0;
  vertical-align: top; overflow-wrap: anywhere; }
pre.diff { background:var(--soft); padding:8px 12px; border-radius:6px; overflow-x:auto; }
pre.diff .add { color: var(--ok); } pre.diff .del { color: var(--fail); }
pre.diff .hunk { color: #0550ae; } pre.diff .file { font-weight: 700; }
.chart { overflow-x:auto; } .chart svg { max-width: 100%; height: auto; }
.muted { color: #57606a; }
footer { margin-top: 40px; color:#57606a; font-size: 13px; }
"""


def _h(text: object) -> str:
    return html.escape(_clean(str(text)), quote=True)


def _h_block(text: str) -> str:
    """Multi-line text, escaped, with URLs masked line by line."""
    return html.escape("\n".join(mask_line(line) for line in text.split("\n")), quote=True)


def render_html(doc: ReportDocument) -> str:
    """The report as one HTML file with no external assets and no scripts."""
    report = doc.report
    hostname = str(report.machine.get("hostname") or "unknown host")
    worst = report.status.value
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # Belt and braces: even a value that slipped through could not load anything.
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>envdoctor report: {_h(hostname)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>envdoctor report: {_h(hostname)}</h1>",
        '<dl class="facts">',
        *(f"<dt>{_h(label)}</dt><dd>{_h(value)}</dd>" for label, value in _header_facts(doc)),
        "</dl>",
        "</header>",
        f'<section class="summary s-{worst}" id="summary">',
        f'<span class="verdict">{_h(doc.verdict.capitalize())}</span>',
    ]
    for status in _STATUS_ORDER:
        count = report.counts[status.value]
        zero = " zero" if not count else ""
        parts.append(f'<span class="pill s-{status.value}{zero}">{count} {status.value}</span>')
    parts += ["</section>", "<h2>Checks</h2>"]
    for probe, results in _groups(report.results):
        group_status = Status.worst(r.status for r in results).value
        parts.append(f'<section class="probe s-{group_status}">')
        parts.append(f"<h3>{_h(_title(probe))}</h3>")
        parts.append('<ul class="checks">')
        parts += [_html_result(result) for result in results]
        parts += ["</ul>", "</section>"]
    parts += _html_chart(doc)
    parts += _html_throughput(doc)
    parts += _html_plan(doc)
    parts += [
        f"<footer>Made by envdoctor {_h(report.machine.get('envdoctor') or '')} "
        f"on {_h(hostname)}, {_h(_when(doc))}.</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _html_remedy(remedy: str) -> str:
    return "".join(
        f"<code>{html.escape(text)}</code>" if code else html.escape(text)
        for code, text in _remedy_parts(remedy)
    )


def _html_result(result: CheckResult) -> str:
    status = result.status.value
    item = [
        f'<li class="s-{status}">',
        f'<span class="badge">{_h(status)}</span>',
        f'<span class="name">{_h(result.name)}</span>',
        f'<span class="summary-text">{_h(result.summary)}</span>',
    ]
    if result.remedy and result.status is not Status.OK:
        item.append(f'<div class="remedy">{_html_remedy(result.remedy)}</div>')
    shown = {k: v for k, v in result.details.items() if k not in ("mirrors", "traceback")}
    rows = [
        f'<tr><td style="padding-left:{depth * 14}px">{_h(label)}</td><td>{_h(text)}</td></tr>'
        for depth, label, text in detail_outline(shown)
    ]
    if rows:
        item.append("<details><summary>details</summary><table>")
        item += rows
        item.append("</table></details>")
    item.append("</li>")
    return "".join(item)


_BAR_ROW = 24
_LABEL_W = 380
_BAR_W = 420
_CHART_W = _LABEL_W + _BAR_W + 140


def _html_chart(doc: ReportDocument) -> list[str]:
    bars = doc.mirror_bars()
    if not bars:
        return []
    by_target: dict[str, list[MirrorBar]] = {}
    for bar in bars:
        by_target.setdefault(bar.target, []).append(bar)
    slowest = max((bar.ttfb_s for bar in bars if bar.ttfb_s is not None), default=0.0)
    scale = _BAR_W / slowest if slowest > 0 else 0.0
    rows = len(by_target) + len(bars)
    height = rows * _BAR_ROW + 16
    svg = [
        # Inline SVG in HTML needs no xmlns: the parser puts it in the SVG namespace.
        f'<svg role="img" width="{_CHART_W}" '
        f'height="{height}" viewBox="0 0 {_CHART_W} {height}" '
        'font-family="system-ui, sans-serif" font-size="12">',
        "<title>First-byte time per mirror, in milliseconds (shorter is faster)</title>",
    ]
    y = 8
    for target, items in by_target.items():
        svg.append(f'<text x="0" y="{y + 16}" font-weight="700" font-size="13">{_h(target)}</text>')
        y += _BAR_ROW
        for bar in items:
            label = bar.url if len(bar.url) <= 56 else bar.url[:55] + "\u2026"
            if bar.configured:
                label += " (configured)"
            svg.append(
                f'<text x="12" y="{y + 15}" fill="#1f2328"><title>{_h(bar.url)}</title>'
                f"{_h(label)}</text>"
            )
            if bar.ttfb_s is not None:
                width = max(2.0, bar.ttfb_s * scale)
                colour = "#0969da" if bar.configured else "#54aeff"
                svg.append(
                    f'<rect class="bar" x="{_LABEL_W}" y="{y + 4}" width="{width:.1f}" '
                    f'height="{_BAR_ROW - 8}" rx="3" fill="{colour}"/>'
                )
                svg.append(
                    f'<text x="{_LABEL_W + width + 6:.1f}" y="{y + 15}">'
                    f"{bar.ttfb_s * 1000:.0f} ms</text>"
                )
            else:
                svg.append(
                    f'<rect class="failed" x="{_LABEL_W}" y="{y + 4}" width="{_BAR_W}" '
                    f'height="{_BAR_ROW - 8}" rx="3" fill="none" stroke="#cf222e" '
                    'stroke-dasharray="4 3"/>'
                )
                failure = bar.failure or "failed"
                failure = failure if len(failure) <= 60 else failure[:59] + "\u2026"
                svg.append(
                    f'<text x="{_LABEL_W + 8}" y="{y + 15}" fill="#cf222e">'
                    f"failed: {_h(failure)}</text>"
                )
            y += _BAR_ROW
    svg.append("</svg>")
    return [
        '<section id="mirrors">',
        "<h2>Mirrors</h2>",
        '<p class="muted">Median time to the first byte of each mirror\'s answer; '
        "failed mirrors are outlined in red.</p>",
        f'<div class="chart">{"".join(svg)}</div>',
        "</section>",
    ]


_RATE_ROW = 18


def _html_throughput(doc: ReportDocument) -> list[str]:
    """One group of bars per mirror: its rate over 1 connection and over N parallel
    ranges of the same file, on one scale, with the verdict beneath."""
    groups = doc.throughput_bars()
    if not groups:
        return []
    fastest = max(rate for group in groups for _, rate in group.rates)
    scale = _BAR_W / fastest
    height = 16 + sum(_BAR_ROW + _RATE_ROW * (len(g.rates) + bool(g.verdict)) for g in groups)
    svg = [
        f'<svg role="img" width="{_CHART_W}" height="{height}" '
        f'viewBox="0 0 {_CHART_W} {height}" font-family="system-ui, sans-serif" font-size="12">',
        "<title>Download rate per mirror over 1 and over N parallel connections, in MiB/s "
        "(longer is faster)</title>",
    ]
    y = 8
    for group in groups:
        label = f"{group.target}  {group.url}"
        label = label if len(label) <= 90 else label[:89] + "\u2026"
        svg.append(f'<text x="0" y="{y + 16}" font-weight="700">{_h(label)}</text>')
        y += _BAR_ROW
        for count, rate in group.rates:
            width = max(2.0, rate * scale)
            colour = "#54aeff" if count == 1 else "#0969da"
            words = f"{count} connection{'s' if count > 1 else ''}"
            svg.append(f'<text x="12" y="{y + 13}">{_h(words)}</text>')
            svg.append(
                f'<rect class="rate" data-connections="{count}" x="{_LABEL_W}" y="{y + 3}" '
                f'width="{width:.1f}" height="{_RATE_ROW - 5}" rx="2" fill="{colour}"/>'
            )
            svg.append(
                f'<text x="{_LABEL_W + width + 6:.1f}" y="{y + 13}">'
                f"{rate / (1024 * 1024):.1f} MiB/s</text>"
            )
            y += _RATE_ROW
        if group.verdict:
            verdict = group.verdict if len(group.verdict) <= 110 else group.verdict[:109] + "\u2026"
            svg.append(f'<text x="12" y="{y + 13}" fill="#57606a">{_h(verdict)}</text>')
            y += _RATE_ROW
    svg.append("</svg>")
    return [
        '<section id="throughput">',
        "<h2>Throughput: 1 vs N connections</h2>",
        '<p class="muted">Each mirror\'s large file downloaded over one connection, then over '
        "parallel byte ranges, one mirror at a time. Much more with N connections means the "
        "server limits each connection: a client setting can use that.</p>",
        f'<div class="chart">{"".join(svg)}</div>',
        "</section>",
    ]


def _html_diff(diff: str) -> str:
    lines = []
    for line in diff.rstrip("\n").split("\n"):
        text = _h_block(line)
        if line.startswith(("+++", "---")):
            lines.append(f'<span class="file">{text}</span>')
        elif line.startswith("@@"):
            lines.append(f'<span class="hunk">{text}</span>')
        elif line.startswith("+"):
            lines.append(f'<span class="add">{text}</span>')
        elif line.startswith("-"):
            lines.append(f'<span class="del">{text}</span>')
        else:
            lines.append(text)
    return '<pre class="diff">' + "\n".join(lines) + "</pre>"


def _html_plan(doc: ReportDocument) -> list[str]:
    if not doc.plans and not doc.explanations:
        return []
    title = f"profile <code>{_h(doc.profile)}</code>" if doc.profile else "the profile"
    parts = [
        '<section id="plan">',
        f"<h2>Plan: what applying {title} would change</h2>",
        '<p class="muted">Nothing has been written; <code>envdoctor apply</code> makes '
        "these changes.</p>",
    ]
    if doc.explanations:
        parts.append("<ul>" + "".join(f"<li>{_h(line)}</li>" for line in doc.explanations))
        parts.append("</ul>")
    for plan in doc.plans:
        state = "s-skip" if plan.skipped else "s-warn" if plan.changed else "s-ok"
        parts.append(f'<section class="probe {state}">')
        parts.append(f"<h3>{_h(plan.target)}</h3>")
        if plan.target in doc.choices:
            parts.append(f"<p>Choice: {_h(doc.choices[plan.target])}</p>")
        if plan.skipped:
            parts.append(f'<p class="muted">Skipped: {_h(plan.skipped)}</p>')
        elif not plan.changed:
            parts.append("<p>Already as the profile wants it.</p>")
        for change in plan.changes:
            if change.changed:
                parts.append(
                    f"<p>{_h(_action(change).capitalize())} <code>{_h(change.display)}</code></p>"
                )
                parts.append(_html_diff(unified_diff(change)))
        if plan.notes:
            parts.append("<ul>" + "".join(f"<li>Note: {_h(n)}</li>" for n in plan.notes))
            parts.append("</ul>")
        parts.append("</section>")
    parts.append("</section>")
    return parts
