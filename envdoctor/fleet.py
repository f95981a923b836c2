"""``envdoctor report --merge``: many hosts' check documents as one fleet view.

Reads ``check --json`` documents, ``report --format json`` documents, or what the Ansible
collection's ``envdoctor_check`` module returned (the document under
``ansible_facts.envdoctor_check``), and writes one Markdown, HTML or JSON view: a row per
host with each check's status, hosts sorted worst first, the failing items with their
remedies, and per mirror the first-byte figures across hosts (median, worst host).
Rendering only: nothing is measured here.  The HTML is one file with no external resource.
"""

from __future__ import annotations

import html
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envdoctor import __version__
from envdoctor.configfiles import json_refusal, structure_problem
from envdoctor.errors import UsageError
from envdoctor.redact import mask_line
from envdoctor.results import Status

SCHEMA_VERSION = 1
CHECK_VERSIONS = (1, 2)
"""The check document versions a fleet merges (``check --json``, ``report --format json``)."""
_BAD = frozenset({Status.WARN, Status.FAIL, Status.ERROR})
_MISSING = "-"


@dataclass(frozen=True)
class Finding:
    name: str
    status: Status
    summary: str
    remedy: str | None


@dataclass(frozen=True)
class Host:
    """One input document."""

    label: str
    hostname: str
    source: str
    started_at: str | None
    status: Status
    exit_code: int
    statuses: Mapping[str, Status]
    """Check name -> status, in the document's order."""
    findings: tuple[Finding, ...]
    mirrors: tuple[tuple[str, str, float | None, str | None], ...]
    """(target, masked url, first byte in seconds or None, failure reason or None)."""

    @property
    def rank(self) -> tuple[int, int, int, str]:
        """Worst first: status, then failures, then warnings, then name."""
        fails = sum(1 for s in self.statuses.values() if s.severity >= Status.FAIL.severity)
        warns = sum(1 for s in self.statuses.values() if s is Status.WARN)
        return (-self.status.severity, -fails, -warns, self.label)


@dataclass(frozen=True)
class MirrorFigures:
    target: str
    url: str
    answered: int
    failed: tuple[str, ...]
    """Labels of the hosts where it did not answer, with the reason."""
    median_s: float | None
    worst_host: str | None
    worst_s: float | None


@dataclass(frozen=True)
class Fleet:
    hosts: tuple[Host, ...]
    checks: tuple[str, ...]
    mirrors: tuple[MirrorFigures, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        """As ``envdoctor check`` would: 3 when any host could not finish, else 1 when any
        failed, else 0."""
        codes = {host.exit_code for host in self.hosts}
        return 3 if 3 in codes else 1 if 1 in codes else 0

    @property
    def status(self) -> Status:
        return Status.worst(host.status for host in self.hosts)


# --------------------------------------------------------------------------- reading


def _unwrap(data: object) -> object:
    """The check document inside what Ansible returned, when it is one."""
    if isinstance(data, Mapping):
        facts = data.get("ansible_facts")
        if isinstance(facts, Mapping) and "envdoctor_check" in facts:
            return facts["envdoctor_check"]
        if "envdoctor_check" in data and "results" not in data:
            return data["envdoctor_check"]
    return data


def _status(value: object, where: str) -> Status:
    try:
        return Status(str(value))
    except ValueError:
        raise UsageError(
            f"{where}: unknown status {value!r}",
            "Merge documents written by envdoctor check --json or report --format json.",
        ) from None


def load(paths: Sequence[Path]) -> Fleet:
    """Read every document; a file that is not one is a usage error naming it."""
    read: list[tuple[Path, Mapping[str, Any]]] = []
    seen: dict[Path, Path] = {}
    for path in paths:
        real = path.resolve()
        if real in seen:
            raise UsageError(
                f"{path} is named twice (as {seen[real]} too): its host would count twice",
                "Name each host's document once.",
            )
        seen[real] = path
        read.append((path, _document(path)))
    names = [_hostname(doc, path) for path, doc in read]
    stems = [path.stem for path, _ in read]
    labels = [
        name if names.count(name) == 1 else stem if stems.count(stem) == 1 else str(path)
        for (path, _), name, stem in zip(read, names, stems, strict=True)
    ]
    hosts = [
        _host(path, doc, label, name)
        for (path, doc), name, label in zip(read, names, labels, strict=True)
    ]
    hosts.sort(key=lambda host: host.rank)
    checks: dict[str, None] = {}
    for host in hosts:
        checks.update(dict.fromkeys(host.statuses))
    return Fleet(tuple(hosts), tuple(checks), tuple(_figures(hosts)))


_HINT = "Merge documents written by envdoctor check --json or report --format json."


def _document(path: Path) -> Mapping[str, Any]:
    """One host's check document, or a UsageError naming the file and what is wrong."""
    try:
        data = _unwrap(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", "Name a readable file.") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} line {exc.lineno}: not JSON ({exc.msg})", _HINT) from None
    except (RecursionError, ValueError) as exc:  # 100,000 [, a 5,000-digit number
        raise UsageError(f"{path}: {json_refusal(exc)}", _HINT) from None
    problem = structure_problem(data)
    if problem is not None:
        raise UsageError(f"{path}: refused: {problem}", _HINT)
    if not (
        isinstance(data, Mapping)
        and isinstance(data.get("results"), list)
        and isinstance(data.get("summary"), Mapping)
    ):
        raise UsageError(
            f"{path}: not an envdoctor check document (no results and summary)",
            f"{_HINT[:-1]}, or what the envdoctor_check module returned.",
        )
    version = data.get("schema_version")
    if version not in CHECK_VERSIONS or isinstance(version, bool):
        raise UsageError(
            f"{path}: check document schema_version {version!r}, which this envdoctor "
            f"does not know (it reads {', '.join(map(str, CHECK_VERSIONS))})",
            "Merge documents of this envdoctor's version or older, or upgrade envdoctor.",
        )
    if not isinstance(data.get("machine", {}), Mapping):
        raise UsageError(f"{path}: machine is not an object", _HINT)
    return data


def _hostname(doc: Mapping[str, Any], path: Path) -> str:
    name = dict(doc.get("machine") or {}).get("hostname")
    return str(name) if isinstance(name, str) and name.strip() else path.stem


def _host(path: Path, doc: Mapping[str, Any], label: str, hostname: str) -> Host:
    where = str(path)
    statuses: dict[str, Status] = {}
    findings: list[Finding] = []
    mirrors: list[tuple[str, str, float | None, str | None]] = []
    for item in doc["results"]:
        if not isinstance(item, Mapping):
            continue
        name = str(item.get("name") or item.get("probe") or "?")
        status = _status(item.get("status"), where)
        statuses[name] = Status.worst([statuses.get(name, Status.OK), status])
        if status in _BAD:
            remedy = item.get("remedy")
            findings.append(
                Finding(
                    name,
                    status,
                    mask_line(str(item.get("summary") or "")),
                    mask_line(str(remedy)) if remedy else None,
                )
            )
        details = item.get("details")
        if item.get("probe") == "network" and isinstance(details, Mapping):
            mirrors.extend(_measured(details, name))
    summary = doc["summary"]
    code = summary.get("exit_code")
    return Host(
        label=label,
        hostname=hostname,
        source=where,
        started_at=str(doc["started_at"]) if doc.get("started_at") else None,
        status=_status(summary.get("status"), where),
        exit_code=code if isinstance(code, int) and not isinstance(code, bool) else 3,
        statuses=statuses,
        findings=tuple(sorted(findings, key=lambda f: -f.status.severity)),
        mirrors=tuple(mirrors),
    )


def _measured(
    details: Mapping[str, Any], default_target: str
) -> list[tuple[str, str, float | None, str | None]]:
    """The mirrors of one network result, as ``report``'s chart reads them."""
    from envdoctor.report import measured_mirrors

    return [
        (mirror.target, mirror.url, mirror.ttfb_s, mirror.failure)
        for mirror in measured_mirrors(details, default_target)
    ]


def _figures(hosts: Sequence[Host]) -> list[MirrorFigures]:
    """Per (target, mirror): how many hosts it answered, the median and the worst host."""
    seen: dict[tuple[str, str], list[tuple[str, float | None, str | None]]] = {}
    for host in hosts:
        for target, url, ttfb, failure in host.mirrors:
            seen.setdefault((target, url), []).append((host.label, ttfb, failure))
    figures = []
    for (target, url), samples in sorted(seen.items()):
        times = [(ttfb, label) for label, ttfb, _ in samples if ttfb is not None]
        failed = tuple(f"{label}: {failure}" for label, ttfb, failure in samples if ttfb is None)
        worst = max(times) if times else None
        figures.append(
            MirrorFigures(
                target=target,
                url=url,
                answered=len(times),
                failed=failed,
                median_s=statistics.median(t for t, _ in times) if times else None,
                worst_host=failed[0].split(": ", 1)[0] if failed else worst[1] if worst else None,
                worst_s=None if failed or worst is None else worst[0],
            )
        )
    return figures


# --------------------------------------------------------------------------- JSON


def to_json(fleet: Fleet) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "envdoctor_version": __version__,
        "kind": "fleet",
        "summary": {
            "hosts": len(fleet.hosts),
            "status": fleet.status.value,
            "exit_code": fleet.exit_code,
            "counts": {
                status.value: sum(1 for host in fleet.hosts if host.status is status)
                for status in Status
            },
        },
        "checks": list(fleet.checks),
        "hosts": [
            {
                "host": host.label,
                "hostname": host.hostname,
                "source": host.source,
                "started_at": host.started_at,
                "status": host.status.value,
                "exit_code": host.exit_code,
                "checks": {name: status.value for name, status in host.statuses.items()},
                "findings": [
                    {
                        "name": f.name,
                        "status": f.status.value,
                        "summary": f.summary,
                        "remedy": f.remedy,
                    }
                    for f in host.findings
                ],
            }
            for host in fleet.hosts
        ],
        "mirrors": [
            {
                "target": m.target,
                "url": m.url,
                "answered": m.answered,
                "failed": list(m.failed),
                "median_ttfb_s": m.median_s,
                "worst_host": m.worst_host,
                "worst_ttfb_s": m.worst_s,
            }
            for m in fleet.mirrors
        ],
    }


def render_json(fleet: Fleet) -> str:
    return json.dumps(to_json(fleet), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- Markdown


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _md(text: str) -> str:
    """Text safe in a Markdown table cell."""
    escaped = "".join(f"\\{c}" if c in "\\`*_[]<>|~&#!" else c for c in text)
    return " ".join(escaped.split())  # a CR ends a line in CommonMark too


def _verdict(fleet: Fleet) -> str:
    counts = to_json(fleet)["summary"]["counts"]
    parts = [f"{count} {name}" for name, count in counts.items() if count]
    return f"{len(fleet.hosts)} hosts: {', '.join(parts)}"


def render_markdown(fleet: Fleet) -> str:
    lines = ["# envdoctor fleet report", "", _md(_verdict(fleet)), ""]
    lines += ["## Hosts, worst first", ""]
    lines.append("| host | status | " + " | ".join(_md(name) for name in fleet.checks) + " |")
    lines.append("|---|---|" + "---|" * len(fleet.checks))
    for host in fleet.hosts:
        cells = [host.statuses[n].value if n in host.statuses else _MISSING for n in fleet.checks]
        lines.append(f"| {_md(host.label)} | **{host.status.value}** | " + " | ".join(cells) + " |")
    lines += ["", "## What to fix", ""]
    bad = [host for host in fleet.hosts if host.findings]
    if not bad:
        lines += ["Nothing: every check passed on every host.", ""]
    for host in bad:
        lines += [f"### {_md(host.label)}", ""]
        for finding in host.findings:
            lines.append(
                f"- **{finding.status.value}** {_md(finding.name)}: {_md(finding.summary)}"
            )
            if finding.remedy:
                lines.append(f"  - fix: {_md(finding.remedy)}")
        lines.append("")
    lines += ["## Mirrors across hosts", ""]
    if not fleet.mirrors:
        lines.append("No mirror was measured (the documents hold no network check).")
    else:
        lines.append("| target | mirror | answered | median first byte | worst host |")
        lines.append("|---|---|---|---|---|")
        for m in fleet.mirrors:
            worst = "-" if m.worst_host is None else m.worst_host
            worst += f" ({_ms(m.worst_s)})" if m.worst_s is not None else ""
            worst += " (no answer)" if m.failed else ""
            answered = f"{m.answered} of {m.answered + len(m.failed)}"
            lines.append(
                f"| {_md(m.target)} | {_md(m.url)} | {answered} | {_ms(m.median_s)} | "
                f"{_md(worst)} |"
            )
    lines += ["", f"Made by envdoctor {__version__} from {len(fleet.hosts)} documents.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1d2430}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #d0d7de;padding:4px 8px;
text-align:left}th{background:#f3f5f8}.ok{background:#e6f4ea}.skip{background:#f0f0f0}
.warn{background:#fff4ce}.fail{background:#fde2e1}.error{background:#f6c8c6}
code{background:#f3f5f8;padding:1px 4px}.summary{font-weight:600}
"""


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def render_html(fleet: Fleet) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        "<title>envdoctor fleet report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>envdoctor fleet report</h1>",
        f'<p class="summary {fleet.status.value}">{_h(_verdict(fleet))}</p>',
        "<h2>Hosts, worst first</h2>",
        "<table><thead><tr><th>host</th><th>status</th>",
        *(f"<th>{_h(name)}</th>" for name in fleet.checks),
        "</tr></thead><tbody>",
    ]
    for host in fleet.hosts:
        out.append(f'<tr><td>{_h(host.label)}</td><td class="{host.status.value}">')
        out.append(f"<b>{host.status.value}</b></td>")
        for name in fleet.checks:
            status = host.statuses.get(name)
            css = f' class="{status.value}"' if status else ""
            out.append(f"<td{css}>{status.value if status else _MISSING}</td>")
        out.append("</tr>")
    out += ["</tbody></table>", "<h2>What to fix</h2>"]
    bad = [host for host in fleet.hosts if host.findings]
    if not bad:
        out.append("<p>Nothing: every check passed on every host.</p>")
    for host in bad:
        out += [f"<h3>{_h(host.label)}</h3>", "<ul>"]
        for f in host.findings:
            fix = f"<br>fix: <code>{_h(f.remedy)}</code>" if f.remedy else ""
            out.append(
                f'<li><span class="{f.status.value}">{f.status.value}</span> '
                f"{_h(f.name)}: {_h(f.summary)}{fix}</li>"
            )
        out.append("</ul>")
    out.append("<h2>Mirrors across hosts</h2>")
    if not fleet.mirrors:
        out.append("<p>No mirror was measured (the documents hold no network check).</p>")
    else:
        out.append(
            "<table><thead><tr><th>target</th><th>mirror</th><th>answered</th>"
            "<th>median first byte</th><th>worst host</th></tr></thead><tbody>"
        )
        for m in fleet.mirrors:
            worst = _h(m.worst_host or "-")
            worst += f" ({_ms(m.worst_s)})" if m.worst_s is not None else ""
            worst += (
                f' <span class="fail">no answer: {_h("; ".join(m.failed))}</span>'
                if m.failed
                else ""
            )
            out.append(
                f"<tr><td>{_h(m.target)}</td><td>{_h(m.url)}</td>"
                f"<td>{m.answered} of {m.answered + len(m.failed)}</td>"
                f"<td>{_ms(m.median_s)}</td><td>{worst}</td></tr>"
            )
        out.append("</tbody></table>")
    out.append(f"<p>Made by envdoctor {_h(__version__)} from {len(fleet.hosts)} documents.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render(fleet: Fleet, fmt: str) -> str:
    return {"md": render_markdown, "html": render_html, "json": render_json}[fmt](fleet)
