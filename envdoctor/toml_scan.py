"""Where the ``[table]`` and ``[[array]]`` header lines of a TOML document are, fast, and
the document with the tables an edit does not need behind stand-ins.

tomlkit needs seconds for a 1 MiB file; finding the header lines, so that an edit can
show tomlkit only the tables it changes (:mod:`envdoctor.sparse_edit`), needs one pass
of a few regular expressions.  A line is a header when it starts (after blanks) with
``[`` outside a string and outside an array value spread over several lines: the scan
steps over basic and literal strings (multi-line ones included, with their escaped and
doubled closing quotes), comments and brackets.  It is meant for text that a TOML parser
(tomllib) accepted, with ``\\n`` line endings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from envdoctor import sparse_edit, toml10

# Runs of text that cannot change the scan's state, matched in one go: single-line
# strings (whose brackets do not count), comments, newlines not followed by a "["
# (after blanks), and any other character but a quote, "#" or a bracket.  The scan
# stops only where a multi-line string opens, at a bracket, or where a line starts
# with "[".
_INERT = re.compile(
    r"""(?:"(?!"")(?:[^"\\\n]|\\.)*"|'(?!'')[^'\n]*'|#[^\n]*|\n(?![ \t]*\[)|[^"'#\[\]{}\n])*"""
)
_HEADER_AT = re.compile(r"[ \t]*\[")


def header_starts(text: str) -> list[int]:
    """The offset of every top-level header line of ``text`` (where the line starts)."""
    found: list[int] = []
    depth = 0  # open brackets of the value being read
    size = len(text)
    position = 0
    if _HEADER_AT.match(text):
        found.append(0)
        position = _line_end(text, 0)
    while True:
        position = _INERT.match(text, position).end()  # type: ignore[union-attr]
        if position >= size:
            return found
        char = text[position]
        if char == "\n":  # a line that starts with "["
            if depth == 0:
                found.append(position + 1)
                position = _line_end(text, position + 1)  # it holds nothing multi-line
            else:
                position += 1  # the items of an array, over lines
        elif text.startswith('"""', position):
            position = _closing(text, position + 3, '"', escapes=True)
        elif text.startswith("'''", position):
            position = _closing(text, position + 3, "'", escapes=False)
        elif char in "[{":
            depth += 1
            position += 1
        elif char in "]}":
            depth = max(depth - 1, 0)
            position += 1
        else:  # not in valid TOML: step over it
            position += 1


def _line_end(text: str, start: int) -> int:
    """Where the line holding ``start`` ends (at its newline, or the end of the text)."""
    newline = text.find("\n", start)
    return len(text) if newline < 0 else newline


def _closing(text: str, start: int, quote: str, *, escapes: bool) -> int:
    """Where a multi-line string that opened before ``start`` ends (after its quotes)."""
    delimiter = quote * 3
    search = start
    while True:
        end = text.find(delimiter, search)
        if end < 0:
            return len(text)
        if escapes:
            backslashes = 0
            while end - backslashes - 1 >= start and text[end - backslashes - 1] == "\\":
                backslashes += 1
            if backslashes % 2:  # \""" is an escaped quote and two more
                search = end + 1
                continue
        end += 3
        extra = 0  # """"" ends the string with two quotes of its own
        while extra < 2 and end < len(text) and text[end] == quote:
            end += 1
            extra += 1
        return end


def header_line(text: str, start: int) -> str:
    """The header line that starts at ``start``, without its newline."""
    end = text.find("\n", start)
    return text[start : len(text) if end < 0 else end]


_FIRST_KEY = re.compile(r"""[ \t]*\[\[?[ \t]*(?:([A-Za-z0-9_-]+)|"([^"\\\n]*)"|'([^'\n]*)')""")


def _first_key(text: str, start: int) -> str | None:
    match = _FIRST_KEY.match(text, start)
    if match is None:
        return None
    return next(group for group in match.groups() if group is not None)


def tables_in_order(text: str, starts: Sequence[int]) -> bool:
    """Whether the tables of each top-level key come one after the other.

    tomlkit moves the tables of a key that comes back after another key's (a split
    array of tables) next to the first ones when it edits the document: what it would do
    to tables it does not see cannot be known, so such a file is edited whole.  A header
    this cannot read (an escape in a quoted key) counts as out of order.
    """
    closed: set[str] = set()
    previous: str | None = None
    for start in starts:
        key = _first_key(text, start)
        if key is None:
            return False
        if key != previous:
            if key in closed:
                return False
            if previous is not None:
                closed.add(previous)
            previous = key
    return True


def sparse_tables(
    text: str,
    parsed: Mapping[str, object],
    starts: Sequence[int],
    keep: Sequence[bool],
    *,
    blank_line: bool = False,
) -> sparse_edit.Sparse | None:
    """``text`` (valid TOML, ``\\n`` endings; ``parsed`` is tomllib's reading of it) with
    every run of tables not in ``keep`` (one entry per header of ``starts``) behind a
    stand-in (:mod:`envdoctor.sparse_edit`); None when nothing is hidden or tomlkit could
    not be shown the file this way.

    Stand-ins keep the sequence of kinds tomlkit sees: an array-of-tables element spelt
    as its header is, or a table.  The top-level key that comes last stays last (tomlkit
    edits ask it: a table appended before another gets a blank line after it), checked
    with tomllib on the text shown; files whose tables of one key are split are refused
    (:func:`tables_in_order`).
    """
    if not tables_in_order(text, starts):
        return None
    last = list(parsed)[-1] if parsed else None
    kinds: list[str] = ["top"]
    keeps: list[bool] = [True]
    named = False  # the first table of the last key is kept (tables are in order)
    for start, wanted in zip(starts, keep, strict=True):
        header = header_line(text, start)
        kinds.append(header if header.lstrip(" \t").startswith("[[") else "table")
        first = not named and _first_key(text, start) == last
        named = named or first
        keeps.append(wanted or first)
    shown = sparse_edit.reduce(text, starts, kinds, keeps, blank_line=blank_line)
    if not shown.runs:
        return None
    try:
        seen = toml10.loads(shown.text)
    except (toml10.TOMLDecodeError, RecursionError, ValueError):
        return None
    return shown if (list(seen)[-1] if seen else None) == last else None
