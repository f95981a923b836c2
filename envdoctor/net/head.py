"""An HTTP answer's status line and header fields, read as ``http.client`` reads them.

pip, requests and urllib3 take an answer's headers from ``http.client.parse_headers``,
which hands the lines to the ``email`` package's feed parser.  That parser costs about
0.25 ms an answer; a run of 100 mirrors reads some 400 answers, each holding the
interpreter's lock while its neighbours wait to time their first bytes.  :func:`parse_head`
gives the same fields for the same bytes, limits included, from a split and a loop:

- lines end at ``\\r\\n``, ``\\r`` or ``\\n`` (the feed parser's ``NLCRE_crack``);
- a line that starts with a space or a tab continues the field before it, its line end
  kept inside the value (``compat32``'s ``header_source_parse``); one with no field
  before it is dropped;
- a field's name is every byte before its first colon, printable and not a space; a
  line that is no field (and not a continuation) ends the fields, as the feed parser
  then takes the rest for the body; ``From `` lines and names that are empty are
  skipped;
- values lose their leading spaces and tabs and their line end, nothing else;
- over :data:`MAX_HEADER_LINES` lines, or a line over :data:`MAX_LINE_BYTES`, is
  :class:`HeadTooLarge`, as ``http.client`` refuses them (``_read_headers``).

Bytes are ISO-8859-1, so every byte is one character and nothing fails to decode.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import overload

MAX_HEADER_LINES = 100
"""``http.client._MAXHEADERS``: the blank line that ends the head counts among them."""
MAX_LINE_BYTES = 65536
"""``http.client._MAXLINE``, a line's newline included."""

_LINE_END = re.compile(r"\r\n|\r|\n")
_FIELD = re.compile(r"[\041-\071\073-\176]*:")
"""The feed parser's ``headerRE`` less its ``From `` and continuation alternatives."""


class HeadTooLarge(ValueError):
    """More header lines, or a longer one, than ``http.client`` accepts."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Headers:
    """An answer's header fields in the order sent.  :meth:`get` gives a name's first
    value, whatever its case, as ``http.client.HTTPMessage.get`` does; :meth:`items`
    every field."""

    __slots__ = ("_fields", "_first")

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        first: dict[str, str] = {}
        for name, value in fields:
            first.setdefault(name.lower(), value)
        self._first = first

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


def check_size(raw: bytes) -> None:
    """Raise :class:`HeadTooLarge` where ``http.client`` would for the header lines
    ``raw`` (the status line not among them): it reads them with ``readline``, which
    ends a line at ``\\n`` only."""
    start = 0
    count = 0
    while start < len(raw):
        end = raw.find(b"\n", start)
        end = len(raw) if end < 0 else end + 1
        if end - start > MAX_LINE_BYTES:
            raise HeadTooLarge("a header line too long")
        count += 1
        if count > MAX_HEADER_LINES:
            raise HeadTooLarge("more than 100 header lines")
        if end - start <= 2 and raw[start:end] in (b"\r\n", b"\n"):
            return
        start = end
    if count + 1 > MAX_HEADER_LINES:  # readline's final b"" is a line too
        raise HeadTooLarge("more than 100 header lines")


def parse_fields(raw: bytes) -> Headers:
    """The header fields of ``raw``, the lines after an answer's status line up to and
    including the blank one, as ``http.client.parse_headers`` gives them."""
    check_size(raw)
    fields: list[tuple[str, str]] = []
    name: str | None = None
    parts: list[str] = []
    for body, line in _lines(raw.decode("iso-8859-1")):
        if not body:
            break  # the blank line: the head ends
        if body[0] in " \t":
            if name is not None:
                parts.append(line)
            continue
        if name is not None:
            fields.append((name, _value(parts)))
            name = None
        if body.startswith("From "):
            continue
        if _FIELD.match(body) is None:
            break  # no field: the feed parser takes the rest for the body
        colon = body.index(":")
        if colon:
            name, parts = body[:colon], [line[colon + 1 :]]
    if name is not None:
        fields.append((name, _value(parts)))
    return Headers(fields)


def _lines(text: str) -> Iterator[tuple[str, str]]:
    """Each line of ``text``: without its line end, and with it."""
    position = 0
    for match in _LINE_END.finditer(text):
        yield text[position : match.start()], text[position : match.end()]
        position = match.end()
    if position < len(text):
        yield text[position:], text[position:]


def _value(parts: list[str]) -> str:
    value = parts[0].lstrip(" \t") + "".join(parts[1:])
    return value.rstrip("\r\n")
