"""Command line: parse options, call the core, render, return an exit code.

Only click is imported at start-up; everything heavy (rich, psutil, pynvml) is imported
inside the command that needs it, so ``envdoctor --help`` is instant.
"""

from __future__ import annotations

import codecs
import contextlib
import itertools
import os
import sys
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from envdoctor import __version__
from envdoctor.errors import EnvdoctorError, UsageError
from envdoctor.selection import (
    IMAGE_HELP,
    THROUGHPUT_HELP,
    checked_image,
    select,
    split_names,
)

if TYPE_CHECKING:
    from envdoctor.context import Context

EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
"""What a shell reports for a program SIGPIPE ended (128 + 13): the reader of the output
(``| head -1``) went away, as GNU tools end then."""

MIRRORS_SCHEMA_VERSION = 2
"""``mirrors --json``: ``envdoctor/schema/mirrors-v2.json``.  Version 2 added the real
pull path, dual-stack and freshness fields to each measurement and kept every field of 1."""


class _Group(click.Group):
    """Maps errors to exit codes in one place: 2 for user errors, 3 for bugs.

    A command run for a program (``--json``, ``report --format json``) also gets the
    error as a JSON document on stdout (:func:`error_json`), beside the message on stderr.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:  # --help and --version print here, before any command runs
            return super().parse_args(ctx, args)
        except BrokenPipeError:
            silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)

    def invoke(self, ctx: click.Context) -> Any:
        as_json = _wants_json([*getattr(ctx, "_protected_args", []), *ctx.args])
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.ClickException as error:  # click prints it and exits with its code
            if as_json:
                hint = "Run the command with --help for its options."
                click.echo(error_json(error.format_message(), hint, error.exit_code))
            raise
        except click.Abort:
            raise
        except EnvdoctorError as error:
            _fail(error.message, error.hint, error.exit_code, as_json)
        except KeyboardInterrupt:
            click.echo("envdoctor: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # `envdoctor check | head -1`: not an error, not a bug
            silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except Exception as error:  # the last line of defence
            if os.environ.get("ENVDOCTOR_DEBUG"):
                raise
            _fail(
                f"internal error: {type(error).__name__}: {error}",
                "This is a bug in envdoctor. Run again with ENVDOCTOR_DEBUG=1 for the traceback "
                "and report it.",
                EXIT_INTERNAL,
                as_json,
            )


def silence_stdout() -> None:
    """Point standard output at /dev/null once its reader has gone, so that what is
    still buffered (and the interpreter's last flush) does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _wants_json(args: list[str]) -> bool:
    """Whether the command line asks for a JSON document: ``--json`` or ``--format json``,
    before a ``--`` (what follows belongs to the command ``watch`` runs)."""
    if "--" in args:
        args = args[: args.index("--")]
    if "--json" in args or "--format=json" in args:
        return True
    return any(a == "--format" and b == "json" for a, b in itertools.pairwise(args))


def error_json(message: str, hint: str | None, exit_code: int) -> str:
    """The error document of every ``--json`` command (``envdoctor/schema/error-v1.json``):
    ``{"schema_version": 1, "error": {"message", "hint", "exit_code"}}``."""
    import json

    error = {"message": message, "hint": hint, "exit_code": exit_code}
    return json.dumps({"schema_version": 1, "error": error}, indent=2)


def _fail(message: str, hint: str | None, code: int, as_json: bool = False) -> NoReturn:
    if as_json:
        click.echo(error_json(message, hint, code))
    click.echo(f"envdoctor: error: {message}", err=True)
    if hint:
        click.echo(f"  {hint}", err=True)
    sys.exit(code)


MAX_TIMEOUT_S = 86400.0
"""The longest --timeout: a day (``inf`` and ``1e12`` overflow the clocks that wait)."""


def _at_least(minimum: float, value: float | None) -> float | None:
    """A --timeout in seconds, refused in envdoctor's own words below ``minimum`` or
    above :data:`MAX_TIMEOUT_S`."""
    if value is not None and not value >= minimum:
        raise UsageError(
            f"--timeout {value:g}: too short, the least is {minimum:g} s",
            f"Give a number of seconds of {minimum:g} or more, e.g. --timeout 10.",
        )
    if value is not None and value > MAX_TIMEOUT_S:
        raise UsageError(
            f"--timeout {value:g}: too long, the most is {MAX_TIMEOUT_S:g} s (a day)",
            "Give a number of seconds of a day or less, e.g. --timeout 60.",
        )
    return value


def _probe_names(only: Iterable[str], skip: Iterable[str]) -> list[str]:
    from envdoctor.probes import ALIASES, PROBE_NAMES

    return select(only, skip, PROBE_NAMES, "check", ALIASES)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
)
@click.version_option(__version__, "-V", "--version", prog_name="envdoctor")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Is this machine ready for AI work? Measure it, then make it ready.

    \b
    envdoctor check                 disk, memory, CPU, GPU and mirrors
    envdoctor check --json          the same for CI: JSON and an exit code
    envdoctor mirrors               rank every mirror from this machine
    envdoctor apply --profile NAME  write the configuration, diff first
    envdoctor rollback              undo the last apply
    envdoctor report --format html  an onboarding report to attach
    """
    if ctx.invoked_subcommand is None:  # plain `envdoctor`: the help, not a usage error
        click.echo(ctx.get_help())
        ctx.exit(0)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a versioned JSON document.")
@click.option("--only", multiple=True, metavar="NAMES", help="Run only these checks (comma list).")
@click.option("--skip", multiple=True, metavar="NAMES", help="Leave these checks out (comma list).")
@click.option("--strict", is_flag=True, help="Treat warnings as failures (exit 1).")
@click.option("-v", "--verbose", is_flag=True, help="Show details and per-check timings.")
@click.option(
    "--require",
    multiple=True,
    metavar="KEY=VALUE,...",
    help="Thresholds that must be met, e.g. mem=16G,disk=50G,vram=24G,gpus=1,cpus=8.",
)
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Directory whose disk to test, instead of the defaults (repeatable).",
)
@click.option(
    "--timeout",
    type=float,
    callback=lambda ctx, param, value: _at_least(0.1, value),
    default=None,
    help="Seconds each check may take (default: per check).",
)
@click.option(
    "--profile",
    metavar="NAME",
    default=None,
    help="Also measure this profile's mirrors beside the configured ones.",
)
@click.option("--image", metavar="REF", default=None, callback=checked_image, help=IMAGE_HELP)
@click.option("--throughput", is_flag=True, help=THROUGHPUT_HELP)
def check(
    as_json: bool,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    strict: bool,
    verbose: bool,
    require: tuple[str, ...],
    paths: tuple[str, ...],
    timeout: float | None,
    profile: str | None,
    image: str | None,
    throughput: bool,
) -> None:
    """Check whether this machine is ready for AI work.

    \b
    Exit codes:
      0  every check passed (warnings allowed unless --strict)
      1  a check failed, or warned under --strict
      2  usage or input error
      3  a check could not finish (crashed or timed out), or an internal error
      141  the reader of the output went away (`| head -1`), as for any program
    """
    from envdoctor.context import Context
    from envdoctor.engine import run_checks
    from envdoctor.probes import load
    from envdoctor.render import live_progress, make_console, render_json, render_text
    from envdoctor.requirements import CheckOptions, parse_requirements

    names = _probe_names(only, skip)
    options = CheckOptions(
        requirements=parse_requirements(require),
        paths=paths,
        profile=profile,
        image=image,
        throughput=throughput,
    )
    console = make_console(os.environ)
    ctx = Context.from_environ(timeout=timeout, console=console)
    if profile is not None:
        from envdoctor.profiles import get_profile

        get_profile(ctx, profile)  # an unknown or broken profile is a usage error, exit 2
    _check_paths(ctx, paths)
    titles = {name: load(name).TITLE for name in names}
    with live_progress(console, names, titles, enabled=not as_json) as progress:
        report = run_checks(
            ctx, names, options, strict=strict, on_done=progress.done if progress else None
        )
    import dataclasses

    report = dataclasses.replace(report, duration=_since_process_start(report.duration))
    if as_json:
        click.echo(render_json(report))
    else:
        render_text(report, console, verbose=verbose)
    sys.exit(report.exit_code)


def _since_process_start(fallback: float) -> float:
    """Seconds since this process started (interpreter start-up and imports included), as a
    stopwatch around ``envdoctor check`` would show; ``fallback`` when /proc cannot say."""
    try:
        stat = Path("/proc/self/stat").read_text()
        started_ticks = int(stat.rpartition(")")[2].split()[19])  # field 22: starttime
        ticks = os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return fallback
    elapsed = uptime - started_ticks / ticks
    return elapsed if fallback <= elapsed < fallback + 600 else fallback


def _check_paths(ctx: Context, paths: Iterable[str]) -> None:
    """A --path that does not exist is measured at its nearest existing parent, which the
    result names; one with no parent but / is a typo, not a place to measure."""
    for value in paths:
        path = ctx.user_path(value)
        if path.exists():
            continue
        parent = next((p for p in path.parents if p.is_dir()), None)
        if parent is None or parent == Path(path.anchor):
            raise UsageError(
                f"--path {value}: no such directory, and none of its parents exists but /",
                "Give an existing directory, or create it first (mkdir -p).",
            )


@cli.command()
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NAMES",
    help="Only these targets: pip, uv, conda, docker, hf, modelscope (comma list).",
)
@click.option(
    "--profile",
    "profile_names",
    multiple=True,
    metavar="NAMES",
    help="Only the mirrors of these profiles (and the configured ones).",
)
@click.option(
    "--all", "include_opt_in", is_flag=True, help="Include opt-in profiles (Docker Hub proxies)."
)
@click.option("--samples", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option(
    "--timeout",
    type=float,
    callback=lambda ctx, param, value: _at_least(0.5, value),
    default=5.0,
    show_default=True,
    help="Deadline in seconds for measuring every mirror's latency.",
)
@click.option(
    "--throughput/--no-throughput",
    default=True,
    show_default=True,
    help="Also time a download from each healthy mirror: together, then alone where it matters.",
)
@click.option("--bandwidth", is_flag=True, help="Also run speedtest-cli's measurement.")
@click.option("--pick", is_flag=True, help="Choose the fastest healthy mirror per target.")
@click.option(
    "--save", metavar="NAME", default=None, help="With --pick: keep the choice as a user profile."
)
@click.option("--image", metavar="REF", default=None, callback=checked_image, help=IMAGE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")
@click.option("-v", "--verbose", is_flag=True, help="Show the URL and phase timings used.")
def mirrors(
    targets: tuple[str, ...],
    profile_names: tuple[str, ...],
    include_opt_in: bool,
    samples: int,
    timeout: float,
    throughput: bool,
    bandwidth: bool,
    pick: bool,
    save: str | None,
    image: str | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Rank the mirrors of every target by measuring them from this machine, now.

    \b
    Exit codes, with or without --pick: 0 every target has a mirror that answers; 1 some
    target has none (the last line names them); 2 usage error.
    """
    import json

    from envdoctor.context import Context
    from envdoctor.mirrors import TARGETS, gather, measure
    from envdoctor.profiles import get_profiles, load_profiles
    from envdoctor.render import make_console, mirrors_summary, render_mirrors, status
    from envdoctor.tools import PullOptions, configured_mirrors

    wanted = select(targets, (), TARGETS, "target", option="--target")
    if save is not None:  # refused before the measuring, not after it
        if not pick:
            raise UsageError("--save stores the choice of --pick", "Add --pick.")
        from envdoctor.auto import check_save_name

        check_save_name(save)
    console = make_console(os.environ)
    ctx = Context.from_environ(console=console)
    if profile_names:
        chosen = get_profiles(ctx, split_names(profile_names))
    else:
        chosen = [p for p in load_profiles(ctx).values() if include_opt_in or not p.opt_in]
    candidates = gather(profiles=chosen, configured=configured_mirrors(ctx), targets=wanted)
    quiet = as_json or not console.is_terminal
    with nullcontext() if quiet else status(console, f"Measuring {len(candidates)} mirrors..."):
        rankings = measure(
            ctx,
            candidates,
            samples=samples,
            timeout=timeout,
            throughput=throughput,
            pull=PullOptions(image=image),
        )
    choice = None
    if pick:
        from envdoctor.auto import build_profile, save_profile
        from envdoctor.auto import pick as pick_mirrors

        choice = pick_mirrors(rankings, targets=wanted)
        if save is not None:
            mix = build_profile(choice, name=save, base=load_profiles(ctx))
            path = save_profile(ctx, mix, save, choice=choice)
            click.echo(f"Saved as profile {save!r}: {path}", err=True)
    speed = None
    if bandwidth:
        from envdoctor.bandwidth import measure_bandwidth

        speed = measure_bandwidth(timeout=timeout)
    if as_json:
        document = {
            "schema_version": MIRRORS_SCHEMA_VERSION,
            "targets": [ranking.to_json() for ranking in rankings],
            "bandwidth": speed.to_json() if speed else None,
            "pick": choice.to_json() if choice else None,
        }
        click.echo(json.dumps(document, indent=2))
    else:
        render_mirrors(rankings, console, verbose=verbose, bandwidth=speed)
        for item in choice.targets if choice else ():
            click.echo(f"pick {item.target}: {item.reason}")
    # One rule for plain, --pick and --json: the summary says why the code is what it is.
    summary, code = mirrors_summary(rankings)
    if not as_json:
        click.echo(summary)
    sys.exit(code)


def _register_subgroups() -> None:
    from envdoctor.cli_apply import apply, env_command, history, rollback
    from envdoctor.cli_profiles import profiles
    from envdoctor.cli_report import report
    from envdoctor.cli_watch import watch

    for command in (profiles, apply, rollback, history, env_command, report, watch):
        cli.add_command(command)


_register_subgroups()


ASCII_GLYPHS = {"✓": "+", "✗": "x", "→": "->", "◀": "<", "…": "..."}
"""The glyphs only envdoctor's text views draw (badges, remedy arrows, the configured
mirror's marker, a cut line), and what stands for each where they cannot be written."""


def _ascii_glyph_or_escape(error: UnicodeError) -> tuple[str, int]:
    """A codec error handler: :data:`ASCII_GLYPHS` as ASCII, anything else as its
    ``\\u2265`` escape (``backslashreplace``)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    piece = error.object[error.start : error.end]
    words = [
        ASCII_GLYPHS.get(char) or char.encode("ascii", "backslashreplace").decode("ascii")
        for char in piece
    ]
    return "".join(words), error.end


def escape_unencodable(streams: Sequence[Any]) -> None:
    """Where a locale's encoding (ISO-8859-1, say) cannot write envdoctor's glyphs (✓,
    ≥, the spinner's braille), write the badges and arrows in ASCII (``+ ok``, ``->``)
    and anything else as a ``\\u2265`` escape rather than fail with a
    UnicodeEncodeError: readable for people, and in a JSON document a valid escape of
    the same text (the ASCII stand-ins are for glyphs no document holds)."""
    codecs.register_error("envdoctor-ascii", _ascii_glyph_or_escape)
    for stream in streams:
        encoding = str(getattr(stream, "encoding", None) or "").lower()
        if not encoding.startswith("utf") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="envdoctor-ascii")


def main() -> None:
    escape_unencodable((sys.stdout, sys.stderr))
    cli.main(prog_name="envdoctor")
