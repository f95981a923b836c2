"""Choosing names from a known set: --only, --skip, --target, with a did-you-mean; and
``--image``, the image name every command that measures registry mirrors takes."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

from envdoctor.errors import UsageError


def split_names(values: Iterable[str]) -> list[str]:
    """Option values given repeatedly or comma-separated: ``--only gpu,disk --only cpu``."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def check_names(
    option: str,
    names: Iterable[str],
    known: Sequence[str],
    noun: str,
    aliases: Mapping[str, str] | None = None,
) -> None:
    """Raise a UsageError naming the first unknown name, with the closest known one."""
    aliases = aliases or {}
    for name in names:
        if name not in known and name not in aliases:
            close = difflib.get_close_matches(name, [*known, *aliases], n=1)
            if close and close[0] in aliases:
                close = [aliases[close[0]]]
            hint = f"Did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"{option}: no {noun} named {name!r}",
                f"{hint}{noun.capitalize()}s: {', '.join(known)}.",
            )


def select(
    only: Iterable[str],
    skip: Iterable[str],
    known: Sequence[str],
    noun: str,
    aliases: Mapping[str, str] | None = None,
    option: str = "--only",
) -> list[str]:
    """The known names that --only keeps (all when empty) and --skip does not drop.

    ``aliases`` maps other words people use (a check's title, ``mirrors`` for ``network``)
    to known names; ``option`` is what the command calls its --only (``--target``)."""
    aliases = aliases or {}
    only = tuple(only)
    only_names, skip_names = split_names(only), split_names(skip)
    if only and not only_names:  # --only "$EMPTY" in a script must not mean "all of them"
        raise UsageError(
            f"{option} names no {noun}: its value is empty",
            f"Name one or more (e.g. {option} {known[0]}), or leave {option} out for all.",
        )
    check_names(option, only_names, known, noun, aliases)
    check_names("--skip", skip_names, known, noun, aliases)
    only_names = [aliases.get(name, name) for name in only_names]
    skip_names = [aliases.get(name, name) for name in skip_names]
    selected = [n for n in known if (not only_names or n in only_names) and n not in skip_names]
    if not selected:
        raise UsageError(
            f"--only/--skip left no {noun} to run", f"{noun.capitalize()}s: {', '.join(known)}."
        )
    return selected


THROUGHPUT_HELP = (
    "Also time each healthy mirror's download, as `envdoctor mirrors` does (1, then 4 and 8 "
    "connections on the best of each kind), within the network check's deadline."
)

IMAGE_HELP = (
    "Image to ask registry mirrors for (default: a profile's probe-image, else "
    "library/busybox:latest)."
)


def checked_image(ctx: object, param: object, value: str | None) -> str | None:
    """``--image`` (a click callback): an image name as ``docker pull`` takes it, without a
    registry host; another form is a UsageError (exit 2) naming what is wrong."""
    if value is None:
        return None
    from envdoctor.tools.docker_pull import image_problem

    problem = image_problem(value)
    if problem is not None:
        raise UsageError(
            f"--image {value}: {problem}",
            "Name an image as on Docker Hub, e.g. --image library/python:3.12-slim.",
        )
    return value.strip()
