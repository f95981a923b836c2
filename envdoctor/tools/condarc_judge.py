"""libyaml's reading of a ``.condarc``: the judge of :mod:`envdoctor.tools.condarc_text`.

libyaml (PyYAML's C parser) is a second YAML reader with rules of its own.  Its events
are built here into str, bool, None, :class:`Opaque`, lists and dicts, typed only where
YAML 1.1 (PyYAML, libyaml) and 1.2 (ruamel.yaml, which conda reads with) agree.  What
libyaml refuses, and what ruamel.yaml could read otherwise or refuse (anchors, aliases,
tags, documents, duplicate keys, keys that are not strings, deep trees), is a
:class:`Doubt`: the caller goes back to ruamel.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from envdoctor.configfiles import MAX_NESTING, has_surrogate


class Doubt(Exception):
    """The text is outside what this module is sure of: read it with ruamel.yaml."""


class TooMany(Doubt):
    """The text holds more than :data:`MAX_VALUES` values: more than a second of work."""


# Scalars, lists and mappings one judge reads: a .condarc holds tens, and an edit of one
# with 40,000 (20,000 short keys, 190 KiB) takes the text path and its judge 0.8 s.
MAX_VALUES = 40_000


TRUE = ("true", "True", "TRUE")
FALSE = ("false", "False", "FALSE")
NULL = ("~", "null", "Null", "NULL")
# Plain words that YAML 1.1 (PyYAML) or 1.2 (ruamel.yaml) reads as something else.
RESERVED = frozenset(("y", "n", "yes", "no", "on", "off", "true", "false", "null"))
_ABSENT = object()
_SPECIAL: dict[str, object] = {
    "": None,
    **dict.fromkeys(NULL, None),
    **dict.fromkeys(TRUE, True),
    **dict.fromkeys(FALSE, False),
}
# A plain scalar libyaml gives that is a string in YAML 1.1 and 1.2 (with a RESERVED check).
_SAFE_TEXT = re.compile(r"(?:[A-Za-z_/$]|~/)(?:[^\n]*[^\n:])?")


@dataclass(frozen=True)
class Opaque:
    """A plain scalar whose type YAML 1.1 and 1.2 may not agree on: compared as text."""

    text: str


def judge_load(text: str) -> dict[str, object]:
    """``text`` loaded by libyaml into str, bool, None, :class:`Opaque`, lists and dicts.

    Raises :class:`Doubt` where libyaml refuses the text, and where ruamel.yaml could read
    it otherwise or refuse it: anchors, aliases, tags, documents, duplicate keys, keys
    that are not strings and trees nested too deep.
    """
    import yaml  # PyYAML; only the C parser is used: its events, built here

    if not getattr(yaml, "__with_libyaml__", False):
        raise Doubt("PyYAML without libyaml")
    loader = yaml.CBaseLoader(text)
    get_event = loader.get_event
    scalar, seq_start, map_start = yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent
    ends = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
    special, absent, safe, reserved = _SPECIAL, _ABSENT, _SAFE_TEXT.fullmatch, RESERVED
    root: list[object] = []
    # the open container, whether it is a list, and (a mapping's) key waiting for a value
    parent: Any = root
    in_list = True
    key: str | None = None
    stack: list[tuple[Any, bool, str | None]] = []
    documents = 0
    left = MAX_VALUES
    try:
        while True:
            event = get_event()
            kind = type(event)
            value: Any
            if kind is scalar or kind is seq_start or kind is map_start:
                left -= 1
                if left < 0:
                    raise TooMany(f"more than {MAX_VALUES:,} values")
            if kind is scalar:
                if event.anchor is not None or event.tag is not None:
                    raise Doubt("an anchor or a tag")
                value = event.value
                if not event.style:  # plain: typed as both YAML 1.1 and 1.2 would, or Opaque
                    typed = special.get(value, absent)
                    if typed is not absent:
                        value = typed
                    elif not safe(value) or (len(value) <= 5 and value.lower() in reserved):
                        value = Opaque(value)
                elif event.style == '"' and has_surrogate(value):
                    raise Doubt("a lone surrogate")
                if in_list:
                    parent.append(value)
                elif key is None:
                    if type(value) is not str or value in parent:
                        raise Doubt("a key that is not a string, or a key twice")
                    key = value
                else:
                    parent[key] = value
                    key = None
                continue
            if kind is seq_start or kind is map_start:
                if event.anchor is not None or event.tag is not None:
                    raise Doubt("an anchor or a tag")
                if len(stack) >= MAX_NESTING:
                    raise Doubt("nested too deep")
                value = [] if kind is seq_start else {}
                if in_list:
                    parent.append(value)
                elif key is None:
                    raise Doubt("a key that is a list or a mapping")
                else:
                    parent[key] = value
                stack.append((parent, in_list, None))
                parent, in_list, key = value, kind is seq_start, None
            elif kind in ends:
                parent, in_list, key = stack.pop()
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1 or event.explicit or event.version or event.tags:
                    raise Doubt("documents or directives")
            elif kind is yaml.DocumentEndEvent:
                if event.explicit:
                    raise Doubt("an explicit document end")
            elif kind is yaml.StreamEndEvent:
                break
            elif kind is not yaml.StreamStartEvent:
                raise Doubt("an alias")
    except yaml.YAMLError as exc:
        raise Doubt(f"libyaml: {exc}") from None
    finally:
        loader.dispose()
    if not root or root[0] is None:
        return {}
    if not isinstance(root[0], dict):
        raise Doubt("not a mapping")
    return root[0]


def same(a: object, b: object) -> bool:
    """Equal values of equal types, mappings in the same order (``True != 1`` here)."""
    if a is b:
        return True
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        pairs: Iterable[tuple[object, object]] = zip(a, b, strict=True)
    elif isinstance(a, dict):
        if not isinstance(b, dict) or list(a) != list(b):
            return False
        pairs = ((value, b[key]) for key, value in a.items())
    else:
        return type(a) is type(b) and a == b
    for one, other in pairs:
        if type(one) is str:  # most values: no call
            if type(other) is not str or one != other:
                return False
        elif not same(one, other):
            return False
    return True
