"""``envdoctor watch``: name what a pull or a job is waiting on, while it runs."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from envdoctor.errors import UsageError

if TYPE_CHECKING:  # heavy: imported only when the command runs
    from envdoctor.watch.model import Sample
    from envdoctor.watch.rules import Finding

_BIT_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:bit/s|bps)\s*$")
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_rate(text: str) -> float:
    """Bytes per second from ``40MB/s``, ``40MiB/s``, ``40M`` or ``300Mbit/s`` (``300Mbps``).

    Sizes follow ``--require``: ``M`` and ``MiB`` are powers of 1024, ``MB`` of 1000; bit
    rates, as link speeds are quoted, are decimal bits.
    """
    from envdoctor.units import parse_size

    bits = _BIT_RATE.match(text)
    if bits is not None:
        value = float(bits.group(1)) * _DECIMAL[bits.group(2).lower()] / 8
    else:
        size = text.strip()
        size = size[:-2] if size.lower().endswith("/s") else size
        try:
            value = float(parse_size(size))
        except ValueError:
            raise UsageError(
                f"--mirror-speed: not a rate: {text!r}",
                "Give bytes per second such as 40MB/s or 40MiB/s, or a bit rate such as 300Mbit/s.",
            ) from None
    if value <= 0:
        raise UsageError(
            f"--mirror-speed: must be more than zero, not {text!r}",
            "Give the download rate `envdoctor mirrors` measured, such as 40MB/s.",
        )
    return value


def _check_writable(path: Path) -> None:
    directory = path.parent if str(path.parent) else Path()
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise UsageError(
            f"--json-file: cannot write {path}: {directory} is not a writable directory",
            "Choose a file in a directory you can write to.",
        )


@click.command(context_settings={"allow_interspersed_args": False})
@click.option(
    "--seconds",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Without a command: how long to watch the machine (default 10; Ctrl-C stops early).",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 60.0),
    default=1.0,
    show_default=True,
    help="Seconds between samples.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the JSON document (every sample) on stdout."
)
@click.option(
    "--json-file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write the JSON document to this file (for `envdoctor report --watch`).",
)
@click.option(
    "--mirror-speed",
    metavar="RATE",
    default=None,
    help="The download rate measured from the mirror (e.g. 40MB/s): near it is network-bound.",
)
@click.option("--gpu/--no-gpu", "gpus", default=True, help="Sample the GPUs through NVML.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def watch(
    seconds: float | None,
    interval: float,
    as_json: bool,
    json_file: Path | None,
    mirror_speed: str | None,
    gpus: bool,
    command: tuple[str, ...],
) -> None:
    """Name the bottleneck of a pull or a job while it runs: network, disk, CPU, memory, GPU.

    \b
    envdoctor watch                       the machine, for 10 s or until Ctrl-C
    envdoctor watch -- hf download org/model
                                          start the command, watch it and its children
    envdoctor watch --json-file w.json -- python train.py
    With a command, its output passes through, envdoctor reports on stderr when it
    exits, and the exit code is the command's (128+N if a signal N killed it).
    Without one, the exit code is 0.
    """
    from contextlib import nullcontext
    from dataclasses import replace

    from rich.live import Live
    from rich.text import Text

    from envdoctor.context import Context
    from envdoctor.render import make_console
    from envdoctor.watch import render
    from envdoctor.watch.run import WatchOptions
    from envdoctor.watch.run import watch as run_watch

    if command and seconds is not None:
        raise UsageError(
            "--seconds applies only without a command",
            "With a command, watch lasts until it exits; drop --seconds or the command.",
        )
    total = 10.0 if seconds is None else seconds
    if not command and total < interval:
        raise UsageError(
            f"--seconds {total:g} is shorter than --interval {interval:g}",
            "Watch for at least one interval.",
        )
    if json_file is not None:
        _check_writable(json_file)  # before the command runs, not after it is done
    options = WatchOptions(seconds=total, interval=interval, command=command or None, gpus=gpus)
    if mirror_speed is not None:
        options = replace(
            options,
            thresholds=replace(options.thresholds, mirror_bytes_per_s=parse_rate(mirror_speed)),
        )

    # With a command its stdout is the command's own: envdoctor speaks on stderr.
    console = make_console(os.environ, stderr=bool(command) or as_json)
    # A live table would tear the command's own output apart on a shared terminal.
    live = console.is_terminal and not command
    lines = not console.is_terminal and not as_json
    ctx = Context.from_environ(console=console)
    waiting = Text(f"watching: the first sample comes in {interval:g} s", style="dim")
    display = (
        Live(waiting, console=console, auto_refresh=False, transient=True)
        if live
        else nullcontext()
    )
    with display as shown:

        def on_sample(sample: Sample, finding: Finding) -> None:
            if isinstance(shown, Live):
                shown.update(render.live_view(sample, finding), refresh=True)
            elif lines:
                console.print(
                    render.sample_line(sample, finding),
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )

        result = run_watch(ctx, options, on_sample=on_sample)
    data = render.document(result.run, result.judgement, result.findings, options.thresholds)
    if json_file is not None:
        try:
            json_file.write_text(render.render_json(data) + "\n", encoding="utf-8")
        except OSError as error:
            raise UsageError(
                f"cannot write {json_file}: {error.strerror or error}",
                "Choose a file in a directory you can write to.",
            ) from None
    if as_json:
        click.echo(render.render_json(data))
    else:
        render.render_summary(result.run, result.judgement, console)
    sys.exit(result.run.exit_code or 0)
