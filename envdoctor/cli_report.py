"""``envdoctor report``: the whole check plus a profile's plan, as one document to attach."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from envdoctor.selection import IMAGE_HELP, THROUGHPUT_HELP, checked_image


@click.command()
@click.option(
    "--profile",
    "profile_name",
    default="auto",
    show_default=True,
    metavar="NAME",
    help="The profile whose plan to include; 'auto' measures and picks per target.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html", "json"]),
    default="md",
    show_default=True,
    help="Markdown checklist, one self-contained HTML file, or the check JSON plus the plan.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here instead of to standard output.",
)
@click.option(
    "--watch",
    "watch_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE.json",
    help="Include this `envdoctor watch --json-file` summary.",
)
@click.option("--image", metavar="REF", default=None, callback=checked_image, help=IMAGE_HELP)
@click.option("--throughput", is_flag=True, help=THROUGHPUT_HELP)
@click.option(
    "--merge",
    is_flag=True,
    help="Merge the check or report JSON documents of many hosts (the FILES) into one fleet "
    "view instead of checking this machine.",
)
@click.argument(
    "files",
    nargs=-1,
    metavar="[FILES.json]...",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
def report(
    profile_name: str,
    fmt: str,
    output: Path | None,
    watch_file: Path | None,
    image: str | None,
    throughput: bool,
    merge: bool,
    files: tuple[Path, ...],
) -> None:
    """Check everything and plan a profile without applying it; write a report.

    \b
    envdoctor report --format html -o onboarding.html
    envdoctor report --profile cn-tsinghua --format md > onboarding.md
    envdoctor report --merge reports/*.json --format html -o fleet.html
    Exit code: that of `envdoctor check` (0 ready, 1 not ready, 3 incomplete); with
    --merge, the worst of the hosts'.
    """
    if merge or files:
        here = image is not None or throughput  # options of a check of this machine
        _merge(files, fmt, output, merge=merge, profile=profile_name, watch=watch_file, here=here)
        return
    from envdoctor import report as documents
    from envdoctor.context import Context
    from envdoctor.engine import run_checks
    from envdoctor.errors import EnvdoctorError
    from envdoctor.planning import TARGET_NAMES, ApplyOptions, plan
    from envdoctor.probes import PROBE_NAMES, load
    from envdoctor.profiles import get_profile
    from envdoctor.render import live_progress, make_console, status
    from envdoctor.requirements import CheckOptions
    from envdoctor.results import TargetPlan
    from envdoctor.tools import PullOptions
    from envdoctor.watch.report import attach, load_watch

    watched = None if watch_file is None else load_watch(watch_file)  # a bad file: exit 2 now
    if output is not None:
        _check_output(output)  # before the whole check runs, not after
    progress_console = make_console(os.environ, stderr=True)  # stdout may be the report
    ctx = Context.from_environ(console=progress_console)
    auto = profile_name == "auto"
    checked = None if auto else get_profile(ctx, profile_name)  # unknown name: exit 2 now
    names = list(PROBE_NAMES)
    titles = {name: load(name).TITLE for name in names}
    options = CheckOptions(
        profile=None if auto else profile_name, image=image, throughput=throughput
    )
    with live_progress(progress_console, names, titles) as progress:
        result = run_checks(ctx, names, options, on_done=progress.done if progress else None)
    choices = None
    measured: list[dict[str, object]] = []
    if auto:
        from envdoctor.auto import auto_profile

        with status(progress_console, "Measuring mirrors for the automatic choice..."):
            profile, choice = auto_profile(ctx, pull=PullOptions(image=image))
        choices = {item.target: item.reason for item in choice.targets}
        measured = [ranking.to_json() for ranking in choice.measured]
    else:
        assert checked is not None
        profile = checked
    scope = ApplyOptions(scope="system" if os.geteuid() == 0 else "user")
    plans = []
    for target in TARGET_NAMES:
        try:
            plans.append(plan(ctx, target, profile, scope))
        except EnvdoctorError as error:  # a malformed file is a finding of the report
            plans.append(TargetPlan(target, skipped=f"cannot plan: {error.message}"))
    document = documents.make_document(
        result, plans, profile=profile.name, choices=choices, measured=measured
    )
    render = {
        "md": documents.render_markdown,
        "html": documents.render_html,
        "json": documents.render_json,
    }[fmt]
    text = render(document)
    if watched is not None:
        text = attach(text, fmt, watched)
    _write(text, fmt, output)
    sys.exit(result.exit_code)


def _merge(
    documents: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    *,
    merge: bool,
    profile: str,
    watch: Path | None,
    here: bool,
) -> None:
    """``report --merge``: one fleet view of many hosts' documents."""
    from envdoctor import fleet
    from envdoctor.errors import UsageError

    if not merge:
        raise UsageError(
            f"report takes no files ({documents[0]}) unless they are to be merged",
            "Add --merge to merge check or report JSON documents of many hosts.",
        )
    if not documents:
        raise UsageError(
            "--merge needs the JSON documents to merge",
            "Name them: envdoctor report --merge A.json B.json ...",
        )
    if profile != "auto" or watch is not None or here:
        raise UsageError(
            "--merge reads documents; --profile, --watch, --image and --throughput are for a "
            "report of this machine",
            "Leave them out with --merge.",
        )
    if output is not None:
        _check_output(output)
    merged = fleet.load(documents)
    _write(fleet.render(merged, fmt), fmt, output)
    sys.exit(merged.exit_code)


def _write(text: str, fmt: str, output: Path | None) -> None:
    from envdoctor.errors import EnvdoctorError

    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise EnvdoctorError(
            f"cannot write the report to {output}: {exc.strerror or exc}",
            "Choose another file with -o, or free space there.",
        ) from None
    click.echo(f"Wrote {output} ({fmt}).", err=True)


def _check_output(output: Path) -> None:
    """Refuse an -o the report could not be written to, naming why."""
    from envdoctor.errors import UsageError

    parent = output.parent if str(output.parent) else Path()
    if output.is_dir():
        raise UsageError(f"-o {output} is a directory", "Name a file: -o DIR/report.html.")
    if not parent.is_dir():
        raise UsageError(
            f"-o {output}: the directory {parent} does not exist",
            f"Create it first (mkdir -p {parent}) or write the report elsewhere.",
        )
    target = output if output.exists() else parent
    if not os.access(target, os.W_OK):
        raise UsageError(
            f"-o {output}: {'the file' if target == output else 'the directory ' + str(parent)}"
            " is not writable by you",
            "Write the report somewhere you can write, or run as a user who can.",
        )
