"""Where pip's parser sees each ``[section]`` of a pip.conf, so an edit shows configupdater
only ``[global]`` (:mod:`envdoctor.sparse_edit`): a 1 MiB pip.conf of 20,000 sections
took it seconds.

:func:`section_starts` follows the loop of ``configparser.RawConfigParser._read`` with
pip's settings (``#`` and ``;`` full-line comments, no inline comments, blank lines kept
inside values): a line is a header when it is not blank or a comment, is not indented
deeper than the option before it (which makes it part of that option's value), and
matches ``\\[(?P<header>.+)\\]`` once stripped.  It is meant for text pip's strict parse
accepted.
"""

from __future__ import annotations

import re

from envdoctor import sparse_edit

_SECTCRE = re.compile(r"\[(?P<header>.+)\]")  # RawConfigParser._SECT_TMPL
_NONSPACE = re.compile(r"\S")  # RawConfigParser.NONSPACECRE
_COMMENT_PREFIXES = ("#", ";")
# A line that starts with "[" is a header whatever came before (it is not indented deeper
# than anything); one indented may be a continuation, and needs the loop below.
_UNINDENTED_HEADER = re.compile(r"^\[(?P<header>.+)\]", re.MULTILINE)
_INDENTED_BRACKET = re.compile(r"^[^\S\n]+\[", re.MULTILINE)


def section_starts(text: str) -> list[tuple[int, str]]:
    """(offset of the line, section name) of every header pip's parser finds in ``text``
    (``\\n`` line endings)."""
    if _INDENTED_BRACKET.search(text) is None:  # the usual file: one regular expression
        return [
            (match.start(), match.group("header")) for match in _UNINDENTED_HEADER.finditer(text)
        ]
    return _section_starts(text)


def _section_starts(text: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    in_section = False
    in_option = False
    indent_level = 0
    offset = 0
    for line in text.split("\n"):  # io.StringIO, which configparser reads, splits at \n only
        start = offset
        offset += len(line) + 1
        value = line.strip()
        if not value or value.startswith(_COMMENT_PREFIXES):
            continue  # blank lines and comments neither end a value nor start a key
        match = _NONSPACE.search(line)
        indent = match.start() if match else 0
        if in_section and in_option and indent > indent_level:
            continue  # a continuation line of the option above
        indent_level = indent
        header = _SECTCRE.match(value)
        if header is not None:
            found.append((start, header.group("header")))
            in_section, in_option = True, False
        else:
            in_option = True
    return found


def sparse_for(text: str, section: str) -> sparse_edit.Sparse:
    """``text`` with every run of sections other than ``section`` behind a stand-in."""
    starts = section_starts(text)
    keep = [True] + [name == section for _, name in starts]
    return sparse_edit.reduce(text, [offset for offset, _ in starts], [0] * len(keep), keep)
