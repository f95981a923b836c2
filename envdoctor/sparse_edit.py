"""Let a slow round-trip editor edit a big file by showing it only the parts that matter.

configupdater and tomlkit keep every byte of a file they edit, but they build an object
for every line, key and table: a 1 MiB file takes them seconds.  An edit of envdoctor's
touches a few sections, so a file is cut into *chunks*, each a header line and what
follows it up to the next header (chunk 0 is what comes before the first header), and
every maximal run of chunks the edit does not need, all of one *kind*, is shown to the
editor as one small stand-in: the run's first header line and a comment holding a
marker.  After the edit each stand-in is put back as the bytes it replaced.

The caller says which chunks are needed and which kind each is (so that, say, the
sequence of ``[[index]]`` tables and other tables the editor sees alternates as the
file's does); :meth:`Sparse.put_back` returns None when a stand-in did not come back exactly once
and unchanged, and the caller then edits the whole file.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sparse:
    """The text the editor sees, and what each stand-in in it replaced."""

    text: str
    headers: tuple[str, ...]
    """The header line each stand-in starts with (and ends the line of)."""
    runs: tuple[str, ...]
    """The original bytes of each stand-in, in order."""
    token: str
    blank_line: bool = False
    """Each stand-in ends with a blank line (its run does too), which it takes back."""

    def put_back(self, edited: str) -> str | None:
        """``edited`` (the editor's output for ``self.text``) with every stand-in put back;
        None when one is missing, repeated or changed."""
        if not self.runs:
            return edited
        blank = "\n" if self.blank_line else ""
        pattern = re.compile(
            rf"^([^\n]*\n)# envdoctor-sparse-{self.token}-(\d+)\n{blank}", re.MULTILINE
        )
        seen: set[int] = set()
        broken = False

        def restore(match: re.Match[str]) -> str:
            nonlocal broken
            number = int(match.group(2))
            if number >= len(self.runs) or number in seen or match.group(1) != self.headers[number]:
                broken = True
                return match.group()
            seen.add(number)
            return self.runs[number]

        result = pattern.sub(restore, edited)
        if broken or len(seen) != len(self.runs) or self.token in result:
            return None
        return result


def reduce(
    text: str,
    starts: Sequence[int],
    kinds: Sequence[Hashable],
    keep: Sequence[bool],
    *,
    blank_line: bool = False,
) -> Sparse:
    """``text`` with each run of unneeded chunks of one kind replaced by a stand-in.

    ``starts`` are the offsets where chunks 1.. begin (each at the start of a header
    line; chunk 0 runs from 0 to the first); ``kinds`` and ``keep`` hold one entry per
    chunk, chunk 0 included.  A chunk whose header line has no newline is kept.  With
    ``blank_line``, each stand-in ends with a blank line, as the caller's runs must (an
    editor that separates tables by one then sees one).
    """
    bounds = [0, *starts, len(text)]
    token = secrets.token_hex(8)
    while token in text:  # pragma: no cover - 2**-64
        token = secrets.token_hex(8)
    out: list[str] = []
    headers: list[str] = []
    runs: list[str] = []
    index = 0
    count = len(bounds) - 1
    while index < count:
        chunk = text[bounds[index] : bounds[index + 1]]
        newline = chunk.find("\n")
        if index == 0 or keep[index] or newline < 0:
            out.append(chunk)
            index += 1
            continue
        end = index + 1
        while end < count and not keep[end] and kinds[end] == kinds[index]:
            end += 1
        header = chunk[: newline + 1]
        out.append(f"{header}# envdoctor-sparse-{token}-{len(runs)}\n" + "\n" * blank_line)
        headers.append(header)
        runs.append(text[bounds[index] : bounds[end]])
        index = end
    return Sparse("".join(out), tuple(headers), tuple(runs), token, blank_line)
