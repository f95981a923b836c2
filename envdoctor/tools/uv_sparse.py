"""What of a uv.toml tomlkit must see to set the default index, and a check of the result.

The edit (:func:`envdoctor.tools.uv.edit`) reads and writes the top-level keys
(``index-url``, an inline ``index = [...]``), the ``[[index]]`` tables that say
``default = true``, and appends a table after the last ``[[index]]``.  So tomlkit is shown
those in full and, for every other run of tables, a stand-in
(:mod:`envdoctor.sparse_edit`) of the same kind (an ``[[index]]`` table spelt the same,
or another table), so that the order of index and other tables it sees is the file's.  A
header that may name a sub-table of ``index`` (``[index.x]``, or any header with an
escape) is kept too.

:func:`follows` then checks with tomllib that the whole new file means what the edit
means: every setting the same, the index list changed as the edit changes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from envdoctor import sparse_edit, toml10
from envdoctor.toml_scan import header_line, header_starts, sparse_tables

_INDEX_KEY = r"""(?:index|"index"|'index')"""
_INDEX_TABLE = re.compile(rf"[ \t]*\[\[[ \t]*{_INDEX_KEY}[ \t]*\]\][ \t]*(?:#.*)?")
_MAY_BE_INDEX = re.compile(rf"[ \t]*\[\[?[ \t]*{_INDEX_KEY}[ \t]*[.\]]|[^\n]*\\")
_DEFAULT_TRUE = re.compile(r"""^[ \t]*["']?default["']?[ \t]*=[ \t]*true""", re.MULTILINE)


def sparse_for(text: str, parsed: Mapping[str, object]) -> sparse_edit.Sparse | None:
    """``text`` (``\\n`` endings, valid TOML; ``parsed`` is tomllib's reading of it) with
    the tables the edit does not touch behind stand-ins, or None
    (:func:`envdoctor.toml_scan.sparse_tables`)."""
    starts = header_starts(text)
    bounds = [*starts, len(text)]
    keep: list[bool] = []
    last_index = -1
    for number, start in enumerate(starts):
        header = header_line(text, start)
        if _INDEX_TABLE.fullmatch(header):
            keep.append(_DEFAULT_TRUE.search(text, start, bounds[number + 1]) is not None)
            last_index = number
        else:
            keep.append(_MAY_BE_INDEX.match(header) is not None)
    if last_index >= 0:
        keep[last_index] = True  # a new table goes after it, whatever it ends with
    return sparse_tables(text, parsed, starts, keep)


def follows(old: Mapping[str, object], new_text: str, url: str) -> bool:
    """Whether ``new_text`` is ``old`` (tomllib's reading of the file before) with the
    edit made: ``index-url`` gone, the first default index at ``url``, the other default
    indexes gone, or a default index at ``url`` added last; nothing else changed."""
    try:
        new = toml10.loads(new_text)
    except (toml10.TOMLDecodeError, RecursionError, ValueError):
        return False
    indexes = old.get("index", [])
    if not isinstance(indexes, list) or not all(isinstance(entry, dict) for entry in indexes):
        return False
    defaults = [number for number, entry in enumerate(indexes) if entry.get("default") is True]
    if defaults:
        wanted = [
            {**entry, "url": url} if number == defaults[0] else entry
            for number, entry in enumerate(indexes)
            if number == defaults[0] or number not in defaults
        ]
    else:
        wanted = [*indexes, {"url": url, "default": True}]
    rest = {key: value for key, value in old.items() if key not in ("index", "index-url")}
    return new == {**rest, "index": wanted}
