"""The common shape of a ``.condarc`` read and edited as text, judged by libyaml.

ruamel.yaml's round-trip mode, which conda reads ``.condarc`` with and which
:mod:`envdoctor.tools.conda` edits it with, is pure Python: seconds for a file of 1 MiB.
Most files have one simple shape, and this module reads and edits that shape as lines:

* a top-level block mapping whose keys are plain (``[A-Za-z_][A-Za-z0-9_.-]*``) or simply
  quoted scalars at column 0, comments and blank lines anywhere;
* under the keys conda reads (:data:`~envdoctor.tools.condarc.CONDA_FILE_KEYS`) only a
  scalar on the key's line, or a block sequence of scalars (``  - item  # comment``), or a
  block mapping of scalar to scalar (``  name: url  # comment``); a scalar is plain and
  means the same in YAML 1.1 and 1.2 (no ``yes``, ``on``, numbers, ``0o17``...), or quoted
  with ``'...'`` or ``"..."`` without escapes;
* under every other key anything libyaml reads but a block scalar (libyaml reads ``|#``,
  ruamel.yaml does not) and a plain scalar under a key with a comment (ruamel.yaml 0.19
  fails on it): its lines are kept byte for byte, up to the next column-0 line that is
  not a comment, a blank or a ``-`` item;
* no tab, no lone CR, no BOM but the first (the caller takes that and CRLF off and puts
  them back), no character ruamel.yaml's reader refuses.

Anything else raises :class:`Doubt`, and the caller goes back to ruamel.yaml.  Before an
edit is used it is judged by libyaml (:mod:`~envdoctor.tools.condarc_judge`), a second
reader with rules of its own: the old text and the new text are both loaded, the old data
must be what this module read, and the new data must be the old data with the intended
edit applied.  The judge refuses anchors, aliases, tags, several documents, non-string
or duplicate keys and trees nested deeper than
:data:`~envdoctor.configfiles.MAX_NESTING`, so those files go through ruamel.yaml too and
keep its messages.  What is left unproven: a construct under another key that libyaml
reads and ruamel.yaml refuses, other than those above (a fuzz of 40,000 values found no
more); such a file, which conda cannot read either, is edited.

conda's ``#!final``/``#!top``/``#!bottom`` flags are read the way ruamel.yaml attaches
comment tokens: the comment at the end of a node's line and every comment or blank line
after it up to the next line of content make one token; a key or item with a scalar on
its line owns a token even without a comment of its own (``"\\n#!top\\n"``), a key
followed by a block or by nothing owns one only when its line has a comment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from envdoctor.tools.condarc_judge import (
    FALSE,
    NULL,
    RESERVED,
    TRUE,
    Doubt,
    TooMany,
    judge_load,
    same,
)

__all__ = [
    "CondarcText", "Doubt", "Outcome", "TextData", "TooMany", "edit", "read", "read_judged",
]  # fmt: skip


FLAGS = ("final", "top", "bottom")

# Characters ruamel.yaml's reader refuses, line breaks other than \n (YAML 1.1 reads \x85,
# \u2028 and \u2029 as line breaks), a tab (indentation or separation) and a second BOM.
_ODD = re.compile(
    "[^\x0a\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
# A block scalar's header (``key: |``, ``- >-``, ``|#``) anywhere, even in a comment:
# libyaml reads some headers ruamel.yaml refuses (``|#``).
_BLOCK_SCALAR = re.compile(r"(?m)(?:^| )[|>][-+0-9]*(?: *#.*| *)$")
# A key with no value but a comment on its line, and a line that starts an item or an
# entry: ruamel.yaml (0.19) fails on a plain scalar under such a key followed by a blank
# line ("overlap in comment", not even a YAML error), so only those may follow.
_KEY_THEN_COMMENT = re.compile(r"(?m)^[^#\n]*: +#")
_ENTRY_START = re.compile(
    r""" *(?:-(?: |$)|[^\s#'"\[\]{}][^#]*?:(?: |$)|'[^']*':(?: |$)|"[^"\\]*":(?: |$))"""
)
_TOP_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.\-]*):(?= |$)")
_ITEM_KEY = re.compile(r"([A-Za-z_$/][A-Za-z0-9_.\-/$]*):(?= |$)")
_PLAIN_START = re.compile(r"[A-Za-z_/$]|~/")
_SINGLE = re.compile(r"'((?:[^']|'')*)'")
_DOUBLE = re.compile(r'"([^"\\]*)"')
# The usual item and entry lines: one plain word (checked by _word) and a comment.
_FAST_ITEM = re.compile(r"( *)-( +)([A-Za-z_/$][^ ]*)(?: *| +(#.*))")
_FAST_ENTRY = re.compile(r"( +)([A-Za-z_$/][A-Za-z0-9_.\-/$]*): +([A-Za-z_/$][^ ]*)(?: *| +(#.*))")
_NEW_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_.~:/%+@=\-]*")

_BLANK, _COMMENT, _CONTENT = 0, 1, 2
_ABSENT = object()


@dataclass(slots=True)
class Node:
    """One line that holds a value: a key's line, a sequence item or a mapping entry."""

    line: int
    """Index into :attr:`CondarcText.lines`."""
    value: object
    """str, True, False or None; for a key's line None also when a block follows."""
    vcol: int
    """Where the value starts on the line (-1: no value written on the line)."""
    comment: str | None
    ccol: int
    name: str | None = None
    """A mapping entry's key."""
    flag: str | None = None


@dataclass
class Key:
    """One top-level key and the lines of its block, ``line`` to ``end`` (excluded)."""

    name: str
    text: str
    """The key as written, quotes and all."""
    head: Node
    end: int
    kind: str
    """``scalar``, ``empty``, ``seq`` or ``map`` for keys conda reads, else ``other``."""
    items: list[Node]
    indent: int

    @property
    def last(self) -> int:
        """The block's last line of content."""
        return self.items[-1].line if self.items else self.head.line

    def value(self) -> object:
        if self.kind == "seq":
            return [item.value for item in self.items]
        if self.kind == "map":
            return {item.name: item.value for item in self.items}
        return self.head.value


class TextData(dict[str, object]):
    """Top-level data with the line of each key, for the messages of an edit."""

    lines: dict[str, int]

    def line(self, key: str) -> int:
        return self.lines.get(key, 0) + 1


class CondarcText:
    """A ``.condarc`` read as lines (:func:`read`): keys, values and conda's flags."""

    def __init__(self, lines: list[str], keys: dict[str, Key], final_newline: bool) -> None:
        self.lines = lines
        self.keys = keys
        self.final_newline = final_newline

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def value(self, key: str) -> object:
        """The value of a key conda reads: str, bool, None, a list or a dict of str."""
        return self.keys[key].value()

    def line(self, key: str) -> int:
        """The key's line, counted from 1."""
        return self.keys[key].head.line + 1

    def key_flag(self, key: str) -> str | None:
        return self.keys[key].head.flag

    def item_flags(self, key: str) -> tuple[str | None, ...]:
        entry = self.keys[key]
        return tuple(item.flag for item in entry.items) if entry.kind == "seq" else ()

    def final_keys(self, key: str) -> frozenset[str]:
        entry = self.keys[key]
        if entry.kind != "map":
            return frozenset()
        return frozenset(str(item.name) for item in entry.items if item.flag == "final")

    def data(self, placeholder: object) -> TextData:
        """The top-level mapping: values of keys conda reads, ``placeholder`` for others."""
        data = TextData(
            (name, key.value() if key.kind != "other" else placeholder)
            for name, key in self.keys.items()
        )
        data.lines = {name: key.head.line for name, key in self.keys.items()}
        return data


# --- reading ----------------------------------------------------------------------------


def read(text: str, read_keys: Collection[str]) -> CondarcText:
    """``text`` (no BOM, ``\\n`` line ends) read as lines; values parsed for ``read_keys``."""
    if _ODD.search(text):
        raise Doubt("a character outside the plain subset")
    if _BLOCK_SCALAR.search(text):
        raise Doubt("a block scalar")
    lines = text.split("\n")
    final_newline = lines[-1] == ""
    if final_newline:
        lines.pop()
    kinds = [_BLANK] * len(lines)
    starts: list[int] = []  # the top-level key lines
    for index, line in enumerate(lines):
        first = line[:1]
        if first == "#":
            kinds[index] = _COMMENT
        elif first == " ":
            stripped = line.lstrip(" ")
            if stripped:
                kinds[index] = _COMMENT if stripped[0] == "#" else _CONTENT
        elif first:
            kinds[index] = _CONTENT
            if first != "-" or line[1:2] not in ("", " "):
                starts.append(index)
    row, at = 0, 0
    for match in _KEY_THEN_COMMENT.finditer(text):
        row += text.count("\n", at, match.start())
        at = match.start()
        following = row + 1
        while following < len(lines) and kinds[following] != _CONTENT:
            following += 1
        if following < len(lines) and not _ENTRY_START.match(lines[following]):
            raise Doubt(f"line {following + 1}: a scalar under a key with a comment")
    first_key = starts[0] if starts else len(lines)
    if any(kinds[index] == _CONTENT for index in range(first_key)):
        raise Doubt("content before the first key")
    keys: dict[str, Key] = {}
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        key = _read_key(lines, kinds, start, end, read_keys)
        if key.name in keys:
            raise Doubt(f"{key.name} twice")  # ruamel.yaml refuses it: let it say so
        keys[key.name] = key
    return CondarcText(lines, keys, final_newline)


def _read_key(
    lines: list[str], kinds: list[int], start: int, end: int, read_keys: Collection[str]
) -> Key:
    line = lines[start]
    match = _TOP_KEY.match(line)
    if match is not None:
        name = text = match.group(1)
        if name.lower() in RESERVED:
            raise Doubt(f"key {name}")
        rest_at = match.end()
    else:
        name, size = _quoted(line)
        text = line[:size]
        if line[size : size + 1] != ":" or line[size + 1 : size + 2] not in ("", " "):
            raise Doubt(f"line {start + 1}: not a simple key")
        rest_at = size + 1
    if name not in read_keys:
        head = Node(start, None, -1, None, -1)
        return Key(name, text, head, end, "other", [], 0)
    head = _node(lines, kinds, start, rest_at, allow_empty=True)
    content = [index for index in range(start + 1, end) if kinds[index] == _CONTENT]
    if head.vcol >= 0:
        if content:
            raise Doubt(f"line {content[0] + 1}: more under a scalar")
        return Key(name, text, head, end, "scalar", [], 0)
    if not content:
        return Key(name, text, head, end, "empty", [], 0)
    first = lines[content[0]]
    indent = len(first) - len(first.lstrip(" "))
    is_seq = first[indent] == "-"
    items: list[Node] = []
    names: set[str] = set()
    fast = _FAST_ITEM if is_seq else _FAST_ENTRY
    for index in content:
        item = lines[index]
        match = fast.fullmatch(item)
        if (
            match is not None
            and match.end(1) == indent
            and _word(match.group(3))
            and (is_seq or _word(match.group(2)))
        ):  # the usual line, read with one regex
            value, comment = match.group(3, 4)
            entry = None if is_seq else match.group(2)
            if entry is not None:
                if entry in names:
                    raise Doubt(f"line {index + 1}: {entry} twice")
                names.add(entry)
            flag = None
            if comment is not None or (index + 1 < len(lines) and kinds[index + 1] != _CONTENT):
                flag = _flag(lines, kinds, index, comment or "")
            ccol = match.start(4) if comment is not None else -1
            items.append(Node(index, value, match.start(3), comment, ccol, entry, flag))
            continue
        if len(item) - len(item.lstrip(" ")) != indent:
            raise Doubt(f"line {index + 1}: indentation")
        if is_seq:
            if item[indent : indent + 2] != "- ":
                raise Doubt(f"line {index + 1}: not an item")
            at = indent + 2
            while item[at : at + 1] == " ":
                at += 1
            node = _node(lines, kinds, index, at, allow_empty=False, value_at=at)
        else:
            node = _entry(lines, kinds, index, indent)
            if node.name in names:
                raise Doubt(f"line {index + 1}: {node.name} twice")
            names.add(str(node.name))
        if not isinstance(node.value, str):
            raise Doubt(f"line {index + 1}: not a string")
        items.append(node)
    return Key(name, text, head, end, "seq" if is_seq else "map", items, indent)


def _entry(lines: list[str], kinds: list[int], index: int, indent: int) -> Node:
    line = lines[index]
    match = _ITEM_KEY.match(line, indent)
    if match is not None:
        name = match.group(1)
        if name.lower() in RESERVED:
            raise Doubt(f"line {index + 1}: key {name}")
        after = match.end()
    else:
        name, size = _quoted(line[indent:])
        after = indent + size
        if line[after : after + 2] != ": ":
            raise Doubt(f"line {index + 1}: not a simple entry")
        after += 1
    node = _node(lines, kinds, index, after, allow_empty=False)
    node.name = name
    return node


def _quoted(text: str) -> tuple[str, int]:
    """A quoted scalar at the start of ``text``: its value and its length."""
    if text[:1] == "'":
        match = _SINGLE.match(text)
        if match is not None:
            return match.group(1).replace("''", "'"), match.end()
    elif text[:1] == '"':
        match = _DOUBLE.match(text)
        if match is not None:
            return match.group(1), match.end()
    raise Doubt("not a simple scalar")


def _node(
    lines: list[str],
    kinds: list[int],
    index: int,
    after: int,
    *,
    allow_empty: bool,
    value_at: int | None = None,
) -> Node:
    """The value and comment of line ``index`` from column ``after`` (past ``:`` or ``-``)."""
    line = lines[index]
    at = value_at if value_at is not None else len(line) - len(line[after:].lstrip(" "))
    if value_at is None and at == after and at < len(line):
        raise Doubt(f"line {index + 1}: no space after the colon")
    value: object = None
    vcol = -1
    size = 0
    if at < len(line) and line[at] != "#":
        vcol = at
        if line[at] in "'\"":
            value, size = _quoted(line[at:])
        else:
            cut = line.find(" #", at)
            raw = (line[at:] if cut < 0 else line[at:cut]).rstrip(" ")
            value, size = _plain(raw, index), len(raw)
    elif not allow_empty:
        raise Doubt(f"line {index + 1}: an empty value")
    comment, ccol = None, -1
    tail_at = vcol + size if vcol >= 0 else at
    tail = line[tail_at:]
    if tail.strip(" "):
        stripped = tail.lstrip(" ")
        if stripped[0] != "#" or (vcol >= 0 and stripped == tail):
            raise Doubt(f"line {index + 1}: more after the value")
        comment, ccol = stripped, len(line) - len(stripped)
    flag = None
    if comment is not None or vcol >= 0:
        flag = _flag(lines, kinds, index, comment or "")
    return Node(index, value, vcol, comment, ccol, None, flag)


def _word(word: str) -> bool:
    """A word :data:`_FAST_ITEM` matched is a plain string in YAML 1.1 and 1.2."""
    return word[-1] != ":" and (len(word) > 5 or word.lower() not in RESERVED)


def _plain(raw: str, index: int) -> object:
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    if raw in NULL:
        return None
    if raw.lower() in RESERVED or not _PLAIN_START.match(raw) or ": " in raw or raw.endswith(":"):
        raise Doubt(f"line {index + 1}: {raw!r} may not be a plain string")
    return raw


def _flag(lines: list[str], kinds: list[int], index: int, comment: str) -> str | None:
    """conda's flag in the comment token ruamel.yaml gives the node on line ``index``."""
    following = index + 1
    if following >= len(lines) or kinds[following] == _CONTENT:
        if not comment:
            return None
        token = comment
    else:
        parts = [comment]
        while following < len(lines) and kinds[following] != _CONTENT:
            parts.append(lines[following])
            following += 1
        token = "\n".join(parts)
    flag = token.strip().strip("!#").strip()  # conda: comment.strip(), then strip("!#")
    return flag if flag in FLAGS else None


# --- the edit ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What :func:`edit` made: the new text (None: no change) and the old file as read."""

    text: str | None
    read: CondarcText


def edit(
    text: str,
    read_keys: Collection[str],
    change: Callable[[dict[str, object]], bool],
    sequence_offset: int,
) -> Outcome:
    """``text`` edited by ``change`` (which edits a mapping in place, returning whether it
    changed anything), as lines: only the lines that change are replaced.

    ``change`` is run on the data this module reads, to find the intended edit, and on
    the data libyaml reads from ``text``: libyaml's reading of the new text must equal the
    latter, or :class:`Doubt` is raised.  An error ``change`` raises goes to the caller.
    """
    old, judged = _read_judged(text, read_keys)
    before = old.data(_ABSENT)
    after = _copy(before)
    if not change(after):
        return Outcome(None, old)
    new_text = _rewrite(old, before, after, sequence_offset)
    new = read(new_text, read_keys)
    _check_read(old, new, before, after)
    expected = _copy(judged, {name: key.head.line for name, key in old.keys.items()})
    if not change(expected) or not same(judge_load(new_text), expected):
        raise Doubt("libyaml does not read the intended edit")
    return Outcome(new_text, old)


def read_judged(text: str, read_keys: Collection[str]) -> CondarcText:
    """:func:`read`, when libyaml reads the same keys and the same values of ``read_keys``
    (what :func:`edit` checks before it edits); else :class:`Doubt`."""
    return _read_judged(text, read_keys)[0]


def _read_judged(text: str, read_keys: Collection[str]) -> tuple[CondarcText, dict[str, object]]:
    judged = judge_load(text)  # first: it stops early on a file too big to be worth it
    old = read(text, read_keys)
    if list(judged) != list(old.keys):
        raise Doubt("libyaml sees other top-level keys")
    for name, key in old.keys.items():
        if key.kind != "other" and not same(key.value(), judged[name]):
            raise Doubt(f"libyaml reads {name} otherwise")
    return old, judged


def _copy(data: Mapping[str, object], lines: dict[str, int] | None = None) -> TextData:
    """``data`` with its lists and mappings copied (what ``change`` edits in place)."""
    copied = TextData((key, _shallow(value)) for key, value in data.items())
    copied.lines = lines if lines is not None else getattr(data, "lines", {})
    return copied


def _shallow(value: object) -> object:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def _rewrite(
    old: CondarcText, before: Mapping[str, object], after: Mapping[str, object], offset: int
) -> str:
    lines = old.lines
    replace: dict[int, list[str]] = {}
    insert: dict[int, list[str]] = {}
    appended: list[str] = []
    for name in [*before, *(key for key in after if key not in before)]:
        was, now = before.get(name, _ABSENT), after.get(name, _ABSENT)
        if was is now or (was is not _ABSENT and same(was, now)):
            continue
        if was is _ABSENT:
            appended.extend(_block(name, now, " " * offset))
            continue
        key = old.keys[name]
        if key.kind == "other":
            raise Doubt(f"{name} is not read here")
        if now is _ABSENT:
            for index in range(key.head.line, key.last + 1):
                replace[index] = []
        elif isinstance(now, list):
            _rewrite_list(old, key, was, now, offset, replace, insert)
        elif isinstance(now, dict):
            _rewrite_map(old, key, was, now, replace, insert)
        elif key.kind in ("scalar", "empty"):
            replace[key.head.line] = [_with_value(lines[key.head.line], key, _render(now))]
        else:
            raise Doubt(f"{name}: a block becomes a scalar")
    out: list[str] = []
    for index, line in enumerate(lines):
        out.extend(replace.get(index, (line,)))
        out.extend(insert.get(index, ()))
    if appended:
        out.extend(appended)
    return "\n".join(out) + "\n" if out else ""


def _rewrite_list(
    old: CondarcText,
    key: Key,
    was: object,
    now: list[object],
    offset: int,
    replace: dict[int, list[str]],
    insert: dict[int, list[str]],
) -> None:
    if key.kind == "seq" and isinstance(was, list) and same(now[: len(was)], was):
        pad = " " * key.indent
        _insert_after(old, key, [f"{pad}- {_render(item)}" for item in now[len(was) :]], insert)
        return
    pad = " " * (key.indent if key.kind == "seq" else offset)
    for item in key.items:
        replace[item.line] = []
    _head_without_value(old, key, replace)
    items = [f"{pad}- {_render(item)}" for item in now]
    insert.setdefault(key.head.line, []).extend(items)


def _rewrite_map(
    old: CondarcText,
    key: Key,
    was: object,
    now: dict[str, object],
    replace: dict[int, list[str]],
    insert: dict[int, list[str]],
) -> None:
    if key.kind == "map" and isinstance(was, dict):
        kept = [name for name in was if name in now]
        if list(now)[: len(kept)] != kept:
            raise Doubt("custom_channels in another order")
        for item in key.items:
            if item.name not in now:
                replace[item.line] = []
            elif not same(now[str(item.name)], item.value):
                line = old.lines[item.line]
                replace[item.line] = [
                    _comment_kept(line[: item.vcol] + _render(now[str(item.name)]), item)
                ]
        pad = " " * key.indent
        fresh = [f"{pad}{_render(name)}: {_render(now[name])}" for name in list(now)[len(kept) :]]
        _insert_after(old, key, fresh, insert)
        return
    if key.kind not in ("empty", "scalar") or was is not None:
        raise Doubt(f"{key.name}: not a mapping before")
    _head_without_value(old, key, replace)
    fresh = [f"  {_render(name)}: {_render(value)}" for name, value in now.items()]
    insert.setdefault(key.head.line, []).extend(fresh)


def _insert_after(old: CondarcText, key: Key, new: list[str], insert: dict[int, list[str]]) -> None:
    """``new`` lines after the block's last content and the indented comments below it."""
    if not new:
        return
    at = key.last
    while (
        at + 1 < key.end and old.lines[at + 1][:1] == " " and old.lines[at + 1].strip()[:1] == "#"
    ):
        at += 1
    insert.setdefault(at, []).extend(new)


def _head_without_value(old: CondarcText, key: Key, replace: dict[int, list[str]]) -> None:
    """The key's line without the scalar on it (``channels: ~`` becomes ``channels:``)."""
    if key.head.vcol < 0:
        return
    code = key.text + ":"
    comment = key.head.comment
    replace[key.head.line] = [f"{code}  {comment}" if comment is not None else code]


def _with_value(line: str, key: Key, value: str) -> str:
    head = key.head
    start = head.vcol if head.vcol >= 0 else len(key.text) + 1
    code = line[:start].rstrip(" ") + " " + value if head.vcol < 0 else line[:start] + value
    return _comment_kept(code, head)


def _comment_kept(code: str, node: Node) -> str:
    """``code`` and the node's comment, at its column if there is room (as ruamel.yaml)."""
    if node.comment is None:
        return code
    return code + " " * max(1, node.ccol - len(code)) + node.comment


def _render(value: object) -> str:
    """A scalar as ruamel.yaml writes it, for the values an edit writes: plain only."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if (
        isinstance(value, str)
        and _NEW_PLAIN.fullmatch(value)
        and value.lower() not in RESERVED
        and not value.endswith(":")
    ):
        return value
    raise Doubt(f"{value!r} would need quoting")


def _block(name: str, value: object, pad: str) -> list[str]:
    """A new key at the end of the file, as ruamel.yaml writes it."""
    key = _render(name)
    if isinstance(value, list):
        return [f"{key}:", *(f"{pad}- {_render(item)}" for item in value)]
    if isinstance(value, dict):
        return [f"{key}:", *(f"  {_render(k)}: {_render(v)}" for k, v in value.items())]
    return [f"{key}: {_render(value)}"]


def _check_read(
    old: CondarcText, new: CondarcText, before: Mapping[str, object], after: Mapping[str, object]
) -> None:
    """The new text, read again here, holds ``after``, and conda's flags stay where they
    were: on the keys, items and entries kept, none on those the edit wrote."""
    if list(new.keys) != list(after):
        raise Doubt("the new text has other keys")
    for name, key in new.keys.items():
        if key.kind == "other":
            continue
        now = after[name]
        if not same(key.value(), now):
            raise Doubt(f"the new text reads {name} otherwise")
        was = old.keys.get(name)
        value = before.get(name)
        kept_flags: tuple[str | None, ...] = ()
        finals: frozenset[str] = frozenset()
        if was is not None:
            if isinstance(value, list) and isinstance(now, list) and same(now[: len(value)], value):
                kept_flags = old.item_flags(name)
            if isinstance(value, dict) and isinstance(now, dict):
                finals = frozenset(k for k in old.final_keys(name) if k in now)
        flags = new.item_flags(name)
        if key.head.flag != (was.head.flag if was is not None else None):
            raise Doubt(f"the flag of {name} moved")
        if flags[: len(kept_flags)] != kept_flags or any(flags[len(kept_flags) :]):
            raise Doubt(f"the item flags of {name} moved")
        if new.final_keys(name) != finals:
            raise Doubt(f"the #!final entries of {name} moved")
