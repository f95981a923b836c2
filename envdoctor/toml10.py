"""TOML 1.0 as uv, cargo, containerd and podman read it: one fast, bounded ``loads``.

Every TOML judge parses through :func:`loads`, for two reasons:

* Speed.  tomli's compiled wheels (built with mypyc) parse about three times as fast
  as the standard library's tomllib, which is the same code uncompiled: a 1 MiB
  ``uv.toml`` in 0.13 s instead of 0.4 s, and an edit parses a file twice (before, and
  the result).  tomli 2.4 and later follow TOML 1.1 (newlines and trailing commas in
  inline tables, ``\\e`` and ``\\x`` escapes, times without seconds), which the
  clients' TOML 1.0 parsers refuse: so envdoctor requires tomli 2.3, and uses the
  installed tomli only when it is compiled and refuses a TOML 1.1 inline table
  (:func:`_follows_toml_10`), else tomllib (tomli on Python 3.10).
* Bounds.  Both parsers take time quadratic in the length of a dotted key (each prefix
  of ``a.a.a...`` is looked up again): a 60 KB line of 30,000 parts takes 20 s.  Such a
  key nests tables deeper than :data:`~envdoctor.configfiles.MAX_NESTING`, which uv's
  and cargo's parser refuse ("recursion limit") and :func:`nesting_problem` refuses once
  parsed, so :func:`loads` refuses it first, with the line, as a
  :data:`TOMLDecodeError` (:func:`is_refusal` tells it from the parser's own).  The scan
  reads each line on its own: quoted key parts, one-line strings and comments are
  understood, but a line inside a multi-line string is read as if it were outside, so a
  run of over 100 dotted names there is refused too (a document no config file holds).
"""

from __future__ import annotations

import re
import sys
from types import ModuleType
from typing import Any

from envdoctor.configfiles import MAX_NESTING

# A line holding more than MAX_NESTING dots, found in one linear pass (about 15 ms for
# 1 MiB); only such lines are read closely.
_MANY_DOTS = re.compile(rf"^(?:[^.\n]*\.){{{MAX_NESTING}}}", re.MULTILINE)
_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
_SEPARATOR = r"[ \t]*\.[ \t]*"
# What a line is made of: a dotted run of key parts (a one-line string is one part), a
# comment (the rest of the line), or any other character.
_TOKEN = re.compile(rf"(?P<run>{_PART}(?:{_SEPARATOR}{_PART})*)|(?P<comment>#.*)|.")
_PARTS = re.compile(rf"{_PART}")


def _follows_toml_10(module: ModuleType) -> bool:
    """Whether ``module`` refuses what TOML 1.1 allows and 1.0 does not."""
    try:
        module.loads("t = {a = 1,}")
    except module.TOMLDecodeError:
        return True
    return False


def _choose() -> tuple[ModuleType, str]:
    """The parser to use, and its name; tomllib is imported only when it is the one."""
    found: ModuleType | None
    try:
        import tomli
        import tomli._parser
    except ImportError:  # pragma: no cover - a dependency, but tomllib does as well
        found = None
    else:
        found = tomli
        if not (tomli._parser.__file__ or "").endswith(".py") and _follows_toml_10(tomli):
            return tomli, "tomli (compiled)"
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib, "tomllib"
    assert found is not None, "Python 3.10 needs tomli (a dependency)"  # pragma: no cover
    return found, "tomli"  # pragma: no cover - Python 3.10


_parser, PARSER = _choose()
TOMLDecodeError: type[ValueError] = _parser.TOMLDecodeError


def loads(text: str) -> dict[str, Any]:
    """``text`` parsed by TOML 1.0's rules; raises :data:`TOMLDecodeError` (with the line
    and column, as the parser says them) for what it refuses, RecursionError for inline
    values nested past the parser's limit, ValueError for an integer over 4,300 digits."""
    _refuse_long_dotted_keys(text)
    data: dict[str, Any] = _parser.loads(text)
    return data


def position(message: str) -> tuple[str, int | None, int | None]:
    """A :data:`TOMLDecodeError`'s message without the `` (at line L, column C)`` the
    parser (and :func:`loads`'s own refusal) ends it with, and that line and column;
    both None when it names none."""
    where = _AT.search(message)
    if where is None:
        return message, None, None
    return message[: where.start()], int(where.group(1)), int(where.group(2))


_AT = re.compile(r" \(at line (\d+), column (\d+)\)$")


def nesting_problem(data: object) -> str | None:
    """Why a tree :func:`loads` returned is refused (nested deeper than
    :data:`~envdoctor.configfiles.MAX_NESTING`), or None.

    :func:`~envdoctor.configfiles.structure_problem` in a third of the time: a TOML tree
    shares no subtrees and holds no lone surrogates (the parser refuses their escapes), so
    only the depth of its tables and arrays is walked.
    """
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return f"nests lists or tables more than {MAX_NESTING} deep"
        values = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((value, depth + 1) for value in values if isinstance(value, (dict, list)))
    return None


def is_refusal(message: str) -> bool:
    """Whether ``message`` (an error's) is :func:`loads` refusing a key the parser did not
    read: uv's and cargo's parser (the ``toml`` crate) stop at such a key ("recursion
    limit"), but what containerd's and podman's do is not known here."""
    return message.startswith(_REFUSAL)


_REFUSAL = "a dotted key of "


def _refuse_long_dotted_keys(text: str) -> None:
    for found in _MANY_DOTS.finditer(text):
        start = found.start()
        end = text.find("\n", start)
        line = text[start : end if end >= 0 else len(text)]
        for token in _TOKEN.finditer(line):
            if token.group("comment") is not None:
                break
            run = token.group("run")
            if run is None or len(run) <= 2 * MAX_NESTING:
                continue
            parts = len(_PARTS.findall(run))
            if parts > MAX_NESTING:
                raise _decode_error(
                    f"{_REFUSAL}{parts} parts nests tables more than {MAX_NESTING} deep",
                    text,
                    start + token.start(),
                )


def _decode_error(message: str, text: str, pos: int) -> ValueError:
    """The parser's own error, worded as it words its own (``... (at line L, column C)``)."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    error = TOMLDecodeError(message, text, pos)  # tomli 2.1+ and Python 3.14 word it
    if len(error.args) != 1:  # a plain ValueError (tomllib before 3.14) keeps all three
        error = TOMLDecodeError(f"{message} (at line {line}, column {column})")
    return error
