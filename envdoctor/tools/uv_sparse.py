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
import sys
from collections.abc import Mapping

from envdoctor import sparse_edit
from envdoctor.toml_scan import header_starts

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_INDEX_KEY = r"""(?:index|"index"|'index')"""
_INDEX_TABLE = re.compile(rf"[ \t]*\[\[[ \t]*{_INDEX_KEY}[ \t]*\]\][ \t]*(?:#.*)?")
_MAY_BE_INDEX = re.compile(rf"[ \t]*\[\[?[ \t]*{_INDEX_KEY}[ \t]*[.\]]|[^\n]*\\")
_DEFAULT_TRUE = re.compile(r"""^[ \t]*["']?default["']?[ \t]*=[ \t]*true""", re.MULTILINE)


def sparse_for(text: str, parsed: Mapping[str, object]) -> sparse_edit.Sparse | None:
    """``text`` (``\\n`` endings, valid TOML; ``parsed`` is tomllib's reading of it) with
    the tables the edit does not touch behind stand-ins, or None when nothing is hidden
    or the stand-ins would change what the edit finds.

    The edit also asks which top-level key comes last (a new ``[[index]]`` gets a blank
    line after it when another table follows), so a header that may name that key is
    kept, and tomllib checks that the text shown ends with the same key.
    """
    last = list(parsed)[-1] if parsed else None
    starts = header_starts(text)
    if not _in_order(text, starts):
        return None
    bounds = [*starts, len(text)]
    kinds: list[str] = ["top"]
    keep: list[bool] = [True]
    last_index = -1
    for number, start in enumerate(starts, start=1):
        end = text.find("\n", start)
        header = text[start : len(text) if end < 0 else end]
        if _INDEX_TABLE.fullmatch(header):
            # tomlkit writes every [[index]] header as the first one is spelt: a run
            # hides tables spelt as the one tomlkit sees, so that a respelling shows.
            kinds.append(header)
            keep.append(_DEFAULT_TRUE.search(text, start, bounds[number]) is not None)
            last_index = number
        else:
            kinds.append("other")
            named = last is not None and last in header
            keep.append(named or _MAY_BE_INDEX.match(header) is not None)
    if last_index > 0:
        keep[last_index] = True  # a new table goes after it, whatever it ends with
    shown = sparse_edit.reduce(text, starts, kinds, keep)
    if not shown.runs:
        return None
    try:
        seen = tomllib.loads(shown.text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None
    return shown if (list(seen)[-1] if seen else None) == last else None


_FIRST_KEY = re.compile(r"""[ \t]*\[\[?[ \t]*(?:([A-Za-z0-9_-]+)|"([^"\\\n]*)"|'([^'\n]*)')""")


def _in_order(text: str, starts: list[int]) -> bool:
    """Whether the tables of each top-level key come one after the other.

    tomlkit moves the tables of a key that comes back after another key's (a split
    array of tables, a sub-table far from its parent) next to the first ones when it
    edits the document: what it would do to parts it does not see cannot be known, so
    such a file is edited whole, as before.  A header this cannot read counts as out of
    order.
    """
    closed: set[str] = set()
    previous: str | None = None
    for start in starts:
        match = _FIRST_KEY.match(text, start)
        if match is None:
            return False
        key = next(group for group in match.groups() if group is not None)
        if key != previous:
            if key in closed:
                return False
            if previous is not None:
                closed.add(previous)
            previous = key
    return True


def follows(old: Mapping[str, object], new_text: str, url: str) -> bool:
    """Whether ``new_text`` is ``old`` (tomllib's reading of the file before) with the
    edit made: ``index-url`` gone, the first default index at ``url``, the other default
    indexes gone, or a default index at ``url`` added last; nothing else changed."""
    try:
        new = tomllib.loads(new_text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
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
