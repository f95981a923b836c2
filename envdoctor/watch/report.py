"""A watch summary inside ``envdoctor report`` (``--watch FILE.json``).

The file is what ``envdoctor watch --json-file FILE.json`` wrote.  The report gains one
section, in the report's own format: what was watched, the verdict with its figures, the
remedy, and how the other samples were judged.  Every text is escaped for the format and
URLs are masked, as everywhere in a report: a command line can carry a token.
"""

from __future__ import annotations

import html
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envdoctor.errors import UsageError
from envdoctor.redact import mask_line

SCHEMA = "envdoctor-watch/1"
_CODE_SPAN = re.compile(r"(`[^`]+`)")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")


@dataclass(frozen=True)
class WatchSummary:
    """What a report says about a watch."""

    watched: str
    started_at: str
    verdict: str
    headline: str
    remedy: str
    also: str | None
    raw: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        data = self.raw
        return {
            "schema": SCHEMA,
            "started_at": data.get("started_at"),
            "duration_s": data.get("duration_s"),
            "interval_s": data.get("interval_s"),
            "command": data.get("command"),
            "exit_code": data.get("exit_code"),
            "samples": len(data.get("samples") or []),
            "verdict": data.get("verdict"),
            "watched": self.watched,
        }


def load_watch(path: Path) -> WatchSummary:
    """The summary of a watch document; UsageError names the file when it is not one."""
    hint = "Write one with `envdoctor watch --json-file FILE.json` (with or without a command)."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}", hint) from None
    except ValueError as error:
        raise UsageError(f"{path} is not JSON: {error}", hint) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise UsageError(f"{path} is not an {SCHEMA} document (schema {found!r})", hint)
    verdict = data.get("verdict")
    if not isinstance(verdict, dict) or not all(
        isinstance(verdict.get(key), str) for key in ("verdict", "message", "remedy")
    ):
        raise UsageError(f"{path} has no verdict: it is cut short or was edited", hint)
    return _summary(data, verdict)


def _summary(data: Mapping[str, Any], verdict: Mapping[str, Any]) -> WatchSummary:
    command = data.get("command")
    what = "the machine" if not command else shlex.join(str(word) for word in command)
    samples = len(data.get("samples") or [])
    interval = float(data.get("interval_s") or 0)
    parts = [f"{what} for {float(data.get('duration_s') or 0):.1f} s"]
    parts.append(f"{samples} sample{'s' if samples != 1 else ''} every {interval:g} s")
    if data.get("exit_code") is not None:
        parts.append(f"exit code {data['exit_code']}")
    held, total = verdict.get("held"), verdict.get("samples")
    share = f" ({held} of {total} samples)" if isinstance(total, int) and total else ""
    others = [
        f"{item.get('verdict')} in {item.get('samples')}"
        for item in verdict.get("tally") or []
        if isinstance(item, dict) and item.get("verdict") != verdict["verdict"]
    ]
    return WatchSummary(
        watched=", ".join(parts),
        started_at=str(data.get("started_at") or "unknown"),
        verdict=verdict["verdict"],
        headline=f"{verdict['verdict']}: {verdict['message']}{share}",
        remedy=verdict["remedy"],
        also=f"{', '.join(others)} of {total} samples" if others else None,
        raw=data,
    )


def attach(text: str, fmt: str, summary: WatchSummary) -> str:
    """The report ``text`` in format ``fmt`` (md, html, json) with the watch section added."""
    if fmt == "md":
        return text.rstrip("\n") + "\n\n" + markdown_section(summary)
    if fmt == "html":
        section = html_section(summary)
        for marker in ("<footer", "</body>"):
            at = text.rfind(marker)
            if at != -1:
                return text[:at] + section + "\n" + text[at:]
        return text + section + "\n"
    data = json.loads(text)
    data["watch"] = summary.to_json()
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def _facts(summary: WatchSummary) -> list[tuple[str, str]]:
    facts = [
        ("Watched", summary.watched),
        ("Started", summary.started_at),
        ("Verdict", summary.headline),
        ("Fix", summary.remedy),
    ]
    if summary.also:
        facts.append(("Other samples", summary.also))
    return [(label, mask_line(" ".join(value.split()))) for label, value in facts]


def markdown_section(summary: WatchSummary) -> str:
    lines = ["## Watch: what the work waited on", ""]
    for label, value in _facts(summary):
        lines.append(f"- **{label}:** {_md_inline(value)}")
    return "\n".join(lines) + "\n"


def html_section(summary: WatchSummary) -> str:
    rows = "".join(
        f"<dt>{html.escape(label)}</dt><dd>{_html_inline(value)}</dd>"
        for label, value in _facts(summary)
    )
    return (
        '<section id="watch">\n<h2>Watch: what the work waited on</h2>\n'
        f'<dl class="facts">{rows}</dl>\n</section>'
    )


def _md_inline(text: str) -> str:
    """Backticked spans stay code; everything else is escaped for CommonMark."""
    return "".join(
        piece if _CODE_SPAN.fullmatch(piece) else _MD_SPECIAL.sub(r"\\\1", piece)
        for piece in _CODE_SPAN.split(text)
    )


def _html_inline(text: str) -> str:
    return "".join(
        f"<code>{html.escape(piece[1:-1])}</code>"
        if _CODE_SPAN.fullmatch(piece)
        else html.escape(piece)
        for piece in _CODE_SPAN.split(text)
    )
