"""Where the ``[table]`` and ``[[array]]`` header lines of a TOML document are, fast.

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
