"""Turn results into text for people or JSON for machines.  No checking logic lives here."""

from __future__ import annotations

import errno
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from envdoctor.results import CheckResult, Status, TargetPlan
from envdoctor.units import format_bytes, format_rate

if TYPE_CHECKING:
    from rich.status import Status as RichStatus

    from envdoctor.bandwidth import Bandwidth
    from envdoctor.engine import Report
    from envdoctor.mirrors import Entry, Ranking
    from envdoctor.net.results import Measurement

NARROW_COLUMNS = 100
"""Below this width, ``mirrors`` shows each mirror as lines in one column, not a table."""

_BADGES: dict[Status, tuple[str, str]] = {
    Status.OK: ("✓ ok", "green"),
    Status.WARN: ("! warn", "yellow"),
    Status.FAIL: ("✗ fail", "bold red"),
    Status.SKIP: ("- skip", "dim"),
    Status.ERROR: ("? error", "magenta"),
}


class _Console(Console):
    """rich's Console, but a reader that went away (``| head -1``) raises
    BrokenPipeError, as ``click.echo`` does, for the command line to end on in one way
    (rich itself exits 1, which ``check`` documents as "a check failed")."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")


def make_console(env: Mapping[str, str], *, stderr: bool = False) -> Console:
    """A Console that honours NO_COLOR and FORCE_COLOR from the given environment."""
    no_color = bool(env.get("NO_COLOR"))
    return _Console(stderr=stderr, no_color=no_color, highlight=False, soft_wrap=False)


def unicode_out(stream: Any) -> bool:
    """Whether ``stream`` encodes all of Unicode (UTF-8 or another UTF)."""
    return str(getattr(stream, "encoding", None) or "").lower().startswith("utf")


def spinner(console: Console) -> str:
    """Rich's braille ``dots`` on a terminal that can show them, else ASCII ``line``."""
    return "dots" if unicode_out(console.file) else "line"


def status(console: Console, text: str) -> RichStatus:
    """``console.status(text)`` with the :func:`spinner` the terminal can show."""
    return console.status(text, spinner=spinner(console))


def format_value(key: str, value: Any) -> str:
    """A detail value for people, formatted by the key's unit suffix.

    None reads "n/a" (as nvidia-smi prints it): not set, not applicable or not reported.
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if key.endswith("_bytes_per_s"):
            return format_rate(value)
        if key.endswith("_bytes"):
            return format_bytes(value)
        if key.endswith("_s"):
            return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
        if key.endswith("_pct"):
            return f"{value:g} %"
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={format_value(str(k), v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(key, v) for v in value) or "none"
    return str(value)


def _detail_lines(result: CheckResult) -> list[str]:
    """The details as labelled lines, nested values indented under their label."""
    lines: list[str] = []
    for depth, label, text in detail_outline(result.details):
        if label == "traceback":
            lines.extend(text.rstrip().splitlines())
            continue
        prefix = "  " * depth
        if label == "-":
            lines.append(f"{prefix}- {text}")
        else:
            lines.append(f"{prefix}{label}:" + (f" {text}" if text else ""))
    return lines


Outline = list[tuple[int, str, str]]
_MAX_DEPTH = 6


def detail_outline(details: Mapping[str, Any]) -> Outline:
    """A result's details as an outline for people: ``(depth, label, text)`` rows, where a
    table or a list of tables gets a label row with empty text and its entries one level
    deeper, and a list entry that is a short row of values has the label ``-``.  Text and
    HTML renderings share it, so every detail shows in both."""
    rows: Outline = []
    for key, value in details.items():
        if key == "traceback":
            rows.append((0, key, str(value)))
        else:
            _outline(key, value, 0, rows)
    return rows


def _label(key: str) -> str:
    return key.replace("_", " ")


def _is_flat(value: object) -> bool:
    if isinstance(value, Mapping):
        return not value
    if isinstance(value, (list, tuple)):
        return all(not isinstance(item, (Mapping, list, tuple)) for item in value)
    return True


def _outline(key: str, value: object, depth: int, rows: Outline) -> None:
    if _is_flat(value) or depth >= _MAX_DEPTH:
        rows.append((depth, _label(key), format_value(key, value)))
        return
    rows.append((depth, _label(key), ""))
    if isinstance(value, Mapping):
        for name, entry in value.items():
            _outline(str(name), entry, depth + 1, rows)
        return
    assert isinstance(value, (list, tuple))
    for number, entry in enumerate(value, 1):
        if isinstance(entry, Mapping) and _is_flat_mapping(entry):
            text = ", ".join(
                f"{_label(str(k))} {format_value(str(k), v)}" for k, v in entry.items()
            )
            rows.append((depth + 1, "-", text))
        elif _is_flat(entry) or (
            isinstance(entry, (list, tuple)) and all(_is_flat(item) for item in entry)
        ):  # a shadowed value is a [value, source] pair: one row
            parts = entry if isinstance(entry, (list, tuple)) else [entry]
            rows.append((depth + 1, "-", ", ".join(format_value(key, item) for item in parts)))
        else:
            _outline(f"#{number}", entry, depth + 1, rows)


def _is_flat_mapping(value: Mapping[Any, Any]) -> bool:
    return len(value) <= 4 and all(
        _is_flat(v) and not isinstance(v, (list, tuple)) for v in value.values()
    )


def _header(report: Report) -> str:
    machine = report.machine
    parts = [
        f"envdoctor {machine.get('envdoctor')}",
        str(machine.get("hostname")),
        str(machine.get("os") or "unknown OS"),
        f"kernel {machine.get('kernel')}",
        f"Python {machine.get('python')}",
    ]
    if machine.get("container"):
        parts.append(f"in a container ({machine['container']})")
    return " · ".join(parts)


def _footer(report: Report) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in report.counts.items() if n)
    verdict = {0: "ready", 1: "not ready", 3: "incomplete"}.get(report.exit_code, "")
    return f"{verdict}: {counts or 'nothing checked'} in {report.duration:.2f} s"


def render_text(report: Report, console: Console, *, verbose: bool = False) -> None:
    """A table on a terminal; plain, greppable lines in logs and pipes."""
    if console.is_terminal:
        _render_table(report, console, verbose=verbose)
    else:
        _render_plain(report, console, verbose=verbose)


def _render_table(report: Report, console: Console, *, verbose: bool) -> None:
    console.print(Text(_header(report), style="dim"))
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True, style="bold")
    table.add_column("result", overflow="fold")
    if verbose:
        table.add_column("time", justify="right", no_wrap=True, style="dim")
    for result in report.results:
        label, style = _BADGES[result.status]
        cell = Text(result.summary)
        if result.remedy and result.status is not Status.OK:
            cell.append("\n→ " + result.remedy, style="cyan")
        if verbose:
            for line in _detail_lines(result):
                cell.append("\n  " + line, style="dim")
        row = [Text(label, style=style), Text(result.name), cell]
        if verbose:
            row.append(Text(f"{result.duration:.2f} s"))
        table.add_row(*row)
    console.print(table)
    label, style = _BADGES[report.status]
    console.print(Text(_footer(report), style=style))


def _render_plain(report: Report, console: Console, *, verbose: bool) -> None:
    width = max((len(r.name) for r in report.results), default=0)
    lines = [_header(report)]
    for result in report.results:
        timing = f"  ({result.duration:.2f} s)" if verbose else ""
        lines.append(f"{result.status.value:<5}  {result.name:<{width}}  {result.summary}{timing}")
        indent = " " * (width + 9)
        if result.remedy and result.status is not Status.OK:
            lines.append(f"{indent}fix: {result.remedy}")
        if verbose:
            lines.extend(indent + line for line in _detail_lines(result))
    lines.append(_footer(report))
    # Plain lines must not be re-wrapped or styled: they are for logs and grep.
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False, default=str)


class _Progress:
    """The live view while probes run: a spinner per running probe, a badge per finished."""

    def __init__(self, names: Sequence[str], titles: Mapping[str, str], spinner: str) -> None:
        self._names = list(names)
        self._titles = titles
        self._spinner = spinner
        self._done: dict[str, Status] = {}
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def done(self, name: str, results: Sequence[CheckResult]) -> None:
        with self._lock:
            self._done[name] = Status.worst(r.status for r in results)

    def __rich__(self) -> Group:
        table = Table.grid(padding=(0, 2))
        with self._lock:
            for name in self._names:
                status = self._done.get(name)
                if status is None:
                    table.add_row(Spinner(self._spinner, style="cyan"), Text(self._titles[name]))
                else:
                    label, style = _BADGES[status]
                    table.add_row(Text(label, style=style), Text(self._titles[name]))
        elapsed = Text(f"{time.monotonic() - self._start:.1f} s", style="dim")
        return Group(table, elapsed)


@contextmanager
def live_progress(
    console: Console, names: Sequence[str], titles: Mapping[str, str], *, enabled: bool = True
) -> Iterator[_Progress | None]:
    """Show progress on a terminal; yield None (and show nothing) elsewhere."""
    if not enabled or not console.is_terminal:
        yield None
        return
    from rich.live import Live

    progress = _Progress(names, titles, spinner(console))
    with Live(progress, console=console, transient=True, refresh_per_second=12):
        yield progress


def render_mirrors(
    rankings: Sequence[Ranking],
    console: Console,
    *,
    verbose: bool = False,
    bandwidth: Bandwidth | None = None,
) -> None:
    """One table per target, best mirror first, the configured one marked.

    Off a terminal, one plain line per mirror in aligned columns: ``TARGET RANK URL
    [configured] [THROUGHPUT] STATUS: TIMING profiles: ...``; the caller ends with
    :func:`mirrors_summary`.  On a terminal narrower than :data:`NARROW_COLUMNS`, each
    mirror is lines in one column: its URL, its throughput and profiles, its result.
    """
    if not console.is_terminal:
        _render_mirrors_plain(rankings, console, verbose=verbose, bandwidth=bandwidth)
        return
    narrow = console.width < NARROW_COLUMNS
    for ranking in rankings:
        table = Table(title=f"{ranking.target}", title_justify="left", box=None, pad_edge=False)
        table.add_column("#", justify="right", style="dim")
        table.add_column("mirror", overflow="fold")
        if not narrow:  # five columns in 60 would leave the result a word a line
            table.add_column("profiles", style="dim", overflow="fold")
            table.add_column("result", overflow="fold")
            table.add_column("throughput", justify="right", no_wrap=True)
        for index, entry in enumerate(ranking.entries, start=1):
            mirror = Text(entry.candidate.url)
            if entry.candidate.configured:
                mirror.append("  ◀ configured", style="bold cyan")
            result = _result_text(entry, verbose=verbose)
            profiles = ", ".join(entry.candidate.profiles)
            rate = _plain_rate(entry)
            if narrow:
                cell = Text.assemble(mirror, "\n")
                facts = [rate] if rate != "-" else []
                facts += [f"profiles: {profiles}"] if profiles else []
                if facts:
                    cell.append(" · ".join(facts) + "\n", style="dim")
                cell.append_text(result)
                table.add_row(str(index), cell)
            else:
                table.add_row(str(index), mirror, Text(profiles or "-"), result, Text(rate))
        console.print(table)
        console.print()
    if bandwidth is not None:
        console.print(_bandwidth_line(bandwidth), markup=False, highlight=False)


def _result_text(entry: Entry, *, verbose: bool) -> Text:
    """A mirror's result in the table: its timing and findings, and with ``verbose`` the
    phases, the pull and the parallel verdict, one per line."""
    from envdoctor.probes.network import timing

    measurement = entry.measurement
    result = Text(timing(measurement), style="" if measurement.healthy else "red")
    if verbose:
        result.append(f"\n  GET {measurement.url}", style="dim")
        for phase in ("dns_s", "connect_s", "tls_s", "ttfb_s", "total_s"):
            value = getattr(measurement, phase)
            if value is not None:
                result.append(f"\n  {phase[:-2]}: {format_value(phase, value)}", style="dim")
        if measurement.ip_families:
            over = ", ".join(measurement.ip_families)
            result.append(f"\n  connected over {over}", style="dim")
        if measurement.proxy:
            result.append(f"\n  via proxy {measurement.proxy}", style="dim")
        if measurement.freshness:
            result.append(f"\n  {_freshness_line(measurement.freshness)}", style="dim")
        if measurement.pull_file:
            result.append(f"\n  pull: {measurement.pull_file}", style="dim")
        for line in _parallel_lines(measurement):
            result.append(f"\n  {line}", style="dim")
        if entry.icmp_method:
            result.append(f"\n  {_icmp_text(entry)}", style="dim")
    return result


def _icmp_text(entry: Entry) -> str:
    if entry.icmp_rtt_s is None:
        return f"ICMP: {entry.icmp_method}"  # the method and why there is no figure
    return f"ICMP ({entry.icmp_method}): {format_value('icmp_s', entry.icmp_rtt_s)}"


def _bandwidth_line(bandwidth: Bandwidth) -> str:
    if not bandwidth.ok:
        return f"Internet bandwidth: not measured: {bandwidth.reason}"
    return (
        f"Internet bandwidth: download {format_rate(bandwidth.download_bytes_per_s)}, "
        f"upload {format_rate(bandwidth.upload_bytes_per_s)} via {bandwidth.server}"
    )


def _render_mirrors_plain(
    rankings: Sequence[Ranking], console: Console, *, verbose: bool, bandwidth: Bandwidth | None
) -> None:
    from envdoctor.probes.network import timing

    rows = [
        (ranking, index, entry)
        for ranking in rankings
        for index, entry in enumerate(ranking.entries, start=1)
    ]
    # Columns, so that a pipe into `column`, `less` or a log reads like the table.
    target_width = max([10, *(len(ranking.target) for ranking, _, _ in rows)])
    mirror_width = max([0, *(len(_plain_mirror(entry)) for _, _, entry in rows)])
    rates = [_plain_rate(entry) for _, _, entry in rows]
    rate_width = max([0, *(len(rate) for rate in rates if rate != "-")])
    lines = []
    for (ranking, index, entry), rate in zip(rows, rates, strict=True):
        measurement = entry.measurement
        parts = [
            f"{ranking.target:<{target_width}} {index:>2}  {_plain_mirror(entry):<{mirror_width}}"
        ]
        if rate_width:
            parts.append(f"{rate:>{rate_width}}")
        parts.append(f"{_plain_status(entry)} {timing(measurement)}")
        if entry.candidate.profiles:
            parts.append(f"profiles: {', '.join(entry.candidate.profiles)}")
        lines.append("  ".join(parts))
        if verbose:
            lines.append(f"{'':14}GET {measurement.url}")
            phases = [
                f"{phase[:-2]} {format_value(phase, getattr(measurement, phase))}"
                for phase in ("dns_s", "connect_s", "tls_s", "ttfb_s", "total_s")
                if getattr(measurement, phase) is not None
            ]
            if phases:
                lines.append(f"{'':14}{', '.join(phases)}")
            if measurement.ip_families:
                lines.append(f"{'':14}connected over {', '.join(measurement.ip_families)}")
            if measurement.proxy:
                lines.append(f"{'':14}via proxy {measurement.proxy}")
            if measurement.freshness:
                lines.append(f"{'':14}{_freshness_line(measurement.freshness)}")
            if measurement.pull_file:
                lines.append(f"{'':14}pull: {measurement.pull_file}")
            lines.extend(f"{'':14}{line}" for line in _parallel_lines(measurement))
            if entry.icmp_method:
                lines.append(f"{'':14}{_icmp_text(entry)}")
    if bandwidth is not None:
        lines.append(_bandwidth_line(bandwidth))
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def _freshness_line(words: str) -> str:
    """``-v``'s line on how current a mirror is: ``freshness: behind pypi.org by 3
    serials``, but ``freshness unknown: ...`` as it is."""
    return words if words.startswith("freshness ") else f"freshness: {words}"


def _plain_mirror(entry: Entry) -> str:
    return entry.candidate.url + (" [configured]" if entry.candidate.configured else "")


def _plain_rate(entry: Entry) -> str:
    """``4.0 MiB/s``, or with parallel connections ``4.0 MiB/s, 8x 19.0 MiB/s``; ``≥4.0
    MiB/s`` for a share of a link the run's downloads competed for (a lower bound)."""
    from envdoctor.probes.network import rate_words

    text = rate_words(entry.measurement)
    if text is None:
        return "-"
    parallel = [pair for pair in entry.measurement.throughput_by_connections if pair[0] > 1]
    if parallel:
        count, most = max(parallel)
        text += f", {count}x {format_rate(most)}"
    return text


def _parallel_lines(measurement: Measurement) -> list[str]:
    """``-v``: Range support, the parallel verdict and its remedy."""
    lines = []
    if measurement.range_support is not None:
        lines.append(f"Range: {'yes' if measurement.range_support else 'no'}")
    if measurement.parallel_verdict:
        lines.append(f"parallel: {measurement.parallel_verdict}")
    if measurement.parallel_remedy:
        lines.append(f"remedy: {measurement.parallel_remedy}")
    return lines


def _plain_status(entry: Entry) -> str:
    measurement = entry.measurement
    return ("ok" if measurement.healthy else measurement.outcome.value) + ":"


def mirrors_summary(rankings: Sequence[Ranking]) -> tuple[str, int]:
    """The last line of ``mirrors`` and its exit code: 0 when every target has a mirror
    that answers, else 1, naming the targets without one and why."""
    silent = [ranking.target for ranking in rankings if ranking.entries and ranking.best is None]
    empty = [ranking.target for ranking in rankings if not ranking.entries]
    if rankings and not silent and not empty:
        count = f"{len(rankings)} target{'s' if len(rankings) > 1 else ''}"
        return f"every target has a mirror that answers ({count} measured): exit 0", 0
    reasons = []
    if silent:
        reasons.append(f"no mirror answered for {', '.join(silent)}")
    if empty:
        reasons.append(f"no mirror to measure for {', '.join(empty)}")
    if not rankings:
        reasons.append("no target to measure")
    return f"{'; '.join(reasons)}: exit 1", 1


def render_plans(plans: Sequence[TargetPlan], console: Console, diffs: Sequence[str]) -> None:
    """What ``apply`` would do: per target the reason it is skipped, or a diff per file,
    then its notes.  ``diffs`` holds one (masked) unified diff per changed file, in order."""
    diff_iter = iter(diffs)
    for plan in plans:
        if plan.skipped:
            console.print(
                Text(f"{plan.target}: skipped: {plan.skipped}", style="dim"), soft_wrap=True
            )
        elif not plan.changed:
            console.print(Text(f"{plan.target}: already up to date", style="green"))
        for change in plan.changes:
            if not change.changed:
                continue
            verb = "create" if change.old is None else "remove" if change.new is None else "edit"
            line = Text(f"{plan.target}: {verb} {change.display}", style="bold")
            console.print(line, soft_wrap=True)  # a path under --root is long: never cut it
            _print_diff(next(diff_iter), console)
        for note in plan.notes:
            console.print(Text(f"  note: {note}", style="yellow"), soft_wrap=True)


# git's colours for a diff: headers bold, hunks cyan, removed red, added green
_DIFF_COLOURS = (("+++", "1"), ("---", "1"), ("@@", "36"), ("+", "32"), ("-", "31"))


def _print_diff(diff: str, console: Console) -> None:
    """``diff`` written as it is, coloured on a terminal that shows colour.

    Written to the console's file, not rendered by rich: rich needs a second for the
    50,000 lines a 1 MiB file's edit can change (go's env file, kept sorted as
    ``go env -w`` keeps it, or every entry of a big ``sources.list``)."""
    if not diff:
        return
    if not console.is_terminal or console.no_color or console.color_system is None:
        console.file.write(diff if diff.endswith("\n") else diff + "\n")
        return
    out = []
    for line in diff.splitlines():
        colour = next((code for start, code in _DIFF_COLOURS if line.startswith(start)), None)
        out.append(f"\x1b[{colour}m{line}\x1b[0m\n" if colour else line + "\n")
    console.file.write("".join(out))
