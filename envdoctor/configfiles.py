"""What every tool module shares about configuration files and their values.

A tool module resolves its configuration into a :class:`ToolConfig`: for every setting
the effective value, its :class:`Source` (a file and section, an environment variable, or
the built-in default) and the values it overrode.  A file the tool itself would refuse
becomes a :class:`ConfigProblem`.  The helpers here read files, expand variables and paths
the way the tools' own processes do, and give the one clear error an ``apply`` shows for
a file it cannot read.

Hostile files are refused here, at the shared readers, before any parser runs: a config
file over :data:`MAX_CONFIG_BYTES` is never parsed (a problem in ``resolve``, an
:class:`~envdoctor.errors.EnvdoctorError` in ``plan``), and :func:`structure_problem`
names a parsed tree that is nested too deep, holds lone surrogates, refers to itself or
expands (YAML aliases) far beyond its own size.  :func:`memoized` keeps what one run
parsed, keyed by the file's bytes, so the config check and the plan of one run parse each
file once; the bytes themselves are read afresh each time (a read is cheap, and a cache
keyed by path or mtime could serve a stale file).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar, cast

from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.redact import Masked, mask_url, unmasked
from envdoctor.safewrite import resolve_target

SourceKind = Literal["default", "file", "env"]

MAX_CONFIG_BYTES = 4 * 1024 * 1024
"""The largest config file envdoctor reads (4 MiB): real ones are a few KiB, and a file
over this is refused with a message, never parsed."""

MAX_NESTING = 100
"""The deepest nesting of lists and tables a parsed config file may have: past it, the
parsers and the code that walks their tree run out of stack."""

MAX_ALIAS_EXPANSION = 10_000
"""How many values YAML aliases may add to a tree when expanded (billion laughs: nine
aliases to nine aliases... make 320 bytes expand to 10^9 values)."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class Source:
    """Where a value comes from.

    ``kind`` is ``file`` (``location`` is the path read, ``section`` the INI section or TOML
    table when there is one), ``env`` (``location`` is the variable's name) or ``default``
    (``location`` says whose built-in default it is).
    """

    kind: SourceKind
    location: str
    section: str | None = None

    def __str__(self) -> str:
        if self.kind == "env":
            return f"${self.location}"
        if self.kind == "file" and self.section:
            return f"{self.location} [{self.section}]"
        if self.kind == "default":
            return f"default ({self.location})" if self.location else "default"
        return self.location


@dataclass(frozen=True)
class Setting:
    """One setting as the tool sees it.

    ``value`` is the effective value; ``shadowed`` holds the other values the tool saw for
    it with their sources, lowest priority first (the built-in default first).  For a list
    the tool merges across files (conda ``channels``, uv ``index``) ``value`` is the merged
    list, ``source`` its highest-priority contributor and ``shadowed`` the lower layers
    that were merged in.
    """

    name: str
    value: object
    source: Source
    shadowed: tuple[tuple[object, Source], ...] = ()


@dataclass(frozen=True)
class ConfigProblem:
    """A file or variable the tool would reject or misread.

    ``path`` is the file, or ``$NAME`` for an environment variable; ``line`` is 1-based
    when known.
    """

    path: str
    line: int | None
    message: str


@dataclass(frozen=True)
class ToolConfig:
    """What one tool resolves: settings by name, problems, and the files actually read."""

    tool: str
    settings: dict[str, Setting]
    problems: list[ConfigProblem]
    files_read: list[str]
    client: str | None = None
    """Whose rules the answer follows, when they differ by version ("pip 25.2 rules ...")."""

    def value(self, name: str) -> object:
        """The effective value of ``name`` (``KeyError`` for a setting this tool lacks)."""
        return self.settings[name].value


TRUTHY = ("y", "yes", "t", "true", "on", "1")


FALSY = ("n", "no", "f", "false", "off", "0")


def normalise_endpoint(url: str) -> str:
    """How :func:`configured_mirrors` spells an endpoint: masked, trailing ``/`` stripped;
    a :class:`~envdoctor.redact.Masked` that keeps the credentials it hides, as written
    (the requests to the mirror need them)."""
    shown = mask_url(url.strip()).rstrip("/")
    raw = unmasked(url).strip().rstrip("/")
    return shown if shown == raw else Masked(shown, raw)


def chain_setting(name: str, chain: Sequence[tuple[object, Source]]) -> Setting:
    """A setting whose value is the last of ``chain`` (lowest priority first)."""
    value, source = chain[-1]
    return Setting(name, value, source, tuple(chain[:-1]))


def env_path(ctx: Context, value: str) -> Path:
    """A path named by an environment variable, as the tool's own process resolves it."""
    path = Path(value)
    return path if path.is_absolute() else ctx.cwd / path


def is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


_EOL_SPLIT = re.compile(r"(\r\n|\r|\n)")
_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


def expandvars(value: str, env: Mapping[str, str]) -> str:
    """``os.path.expandvars`` against ``env``: unknown variables stay as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("{"):
            name = name[1:-1]
        return env.get(name, match.group(0))

    return _VARIABLE.sub(replace, value)


def expanduser(ctx: Context, value: str) -> str:
    if value == "~" or value.startswith("~/"):
        return str(ctx.home / value[2:]) if len(value) > 2 else str(ctx.home)
    return value


def read_text(path: Path, problems: list[ConfigProblem]) -> str | None:
    """The file's text, or None when it does not exist or cannot be read (a problem).

    A file over :data:`MAX_CONFIG_BYTES` is a problem and None: it is not parsed.
    """
    try:
        data = _read_capped(path)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        problems.append(ConfigProblem(str(path), None, "is a directory, not a file"))
        return None
    except OSError as exc:
        problems.append(ConfigProblem(str(path), None, f"cannot be read: {exc.strerror}"))
        return None
    if data is None:
        problems.append(ConfigProblem(str(path), None, _too_large()))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(
            ConfigProblem(str(path), line, f"is not valid UTF-8 (byte {data[exc.start]:#04x})")
        )
        return data.decode("utf-8", errors="replace")


def _read_capped(path: Path) -> bytes | None:
    """The file's bytes, or None when it holds more than :data:`MAX_CONFIG_BYTES`.

    Reads at most one byte past the cap, so a huge or endless file (a FIFO, /dev/zero
    linked in) costs no more than the cap.
    """
    with path.open("rb") as stream:
        data = stream.read(MAX_CONFIG_BYTES + 1)
    return None if len(data) > MAX_CONFIG_BYTES else data


def _too_large() -> str:
    return (
        f"is over {MAX_CONFIG_BYTES // (1024 * 1024)} MiB, far larger than any real config "
        "file: envdoctor does not parse it"
    )


def strtobool(value: str) -> bool | None:
    lowered = value.lower()
    if lowered in TRUTHY:
        return True
    if lowered in FALSY:
        return False
    return None


def dedupe(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return list(dict.fromkeys(problems))


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def read_existing(path: Path, display: str, tool: str, *, root: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist yet.

    ``root`` is the context's, with no default: a plan that forgot it would read this
    machine's files through an image's links.  Under a ``root`` other than ``/`` (an
    image tree), links are followed as inside a chroot
    (:func:`~envdoctor.safewrite.resolve_target`): the file read is the one the write
    replaces.  A file over :data:`MAX_CONFIG_BYTES` stops the apply before anything is
    parsed.
    """
    try:
        data = _read_capped(path if root == Path("/") else resolve_target(path, root))
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise EnvdoctorError(
            f"{display} is a directory, not a file ({tool} expects a file)",
            "Move it away, then run apply again.",
        ) from None
    except OSError as exc:
        raise EnvdoctorError(
            f"{display} cannot be read: {exc.strerror or exc}",
            "Run as a user who can read it (system scope needs root).",
        ) from None
    if data is None:
        raise EnvdoctorError(
            f"{display} {_too_large()}",
            f"Move {display} away or cut it down to the settings {tool} needs, "
            "then run apply again.",
        )
    return data


def decode_utf8(data: bytes, display: str, tool: str) -> str:
    """The file's text; a file that is not UTF-8 names the line, as the tools refuse it.

    Bytes over :data:`MAX_CONFIG_BYTES` are refused, as :func:`read_existing` refuses them.
    """
    if len(data) > MAX_CONFIG_BYTES:
        raise EnvdoctorError(
            f"{display} {_too_large()}",
            f"Move {display} away or cut it down to the settings {tool} needs, "
            "then run apply again.",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise EnvdoctorError(
            f"{display} line {line}: not valid UTF-8 (byte {data[exc.start]:#04x}); "
            f"{tool} cannot read it",
            f"Save {display} as UTF-8, then run apply again.",
        ) from None


def memoized(ctx: Context, kind: str, text: str | bytes, parse: Callable[[], _T]) -> _T:
    """``parse()``, computed once per run (``ctx``) for one ``kind`` of parse of ``text``.

    The key is a digest of the text, so a file that changed is parsed again.  What
    ``parse`` returns is shared: callers must not change it (parse again to edit).
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    key: Hashable = (kind, hashlib.sha256(data).digest())
    if key not in ctx.memo:
        ctx.memo[key] = parse()
    return cast("_T", ctx.memo[key])


def json_refusal(exc: RecursionError | ValueError) -> str:
    """Why Python's JSON parser gave up on a file that is not malformed as such."""
    if isinstance(exc, RecursionError):
        return f"refused: nests arrays or objects more than {MAX_NESTING} deep"
    return f"refused: {str(exc).split(';')[0]}"  # "Exceeds the limit (4300 digits)..."


def structure_problem(data: object) -> str | None:
    """Why a parsed config tree is refused, or None when it is fine.

    Walks the tree without recursion (the reason deep trees are refused is that recursive
    code runs out of stack), counting each shared subtree (a YAML alias) as often as it
    is used: a tree nested deeper than :data:`MAX_NESTING`, one that contains itself, one
    whose aliases add more than :data:`MAX_ALIAS_EXPANSION` values, or a string holding a
    lone surrogate (``"\\ud800"`` in JSON or YAML: no UTF-8 encoder can write it).
    """
    sizes: dict[int, int] = {}  # id -> expanded size of a finished container
    entered: set[int] = set()  # containers being walked: an ancestor of the current node
    own = 0  # values in the file itself: each distinct container and its items once
    # (node, depth, its items once entered); a container is pushed again below its items
    # so that its size is summed once they are all done.
    stack: list[tuple[object, int, list[object] | None]] = [(data, 1, None)]
    while stack:
        node, depth, items = stack.pop()
        if isinstance(node, str):
            if has_surrogate(node):
                return f"holds a lone surrogate ({_escaped(node)}), which is not text"
            continue
        if not isinstance(node, (dict, list, tuple)):
            continue
        ident = id(node)
        if items is None:
            if ident in sizes:
                continue  # a second use of a shared subtree: counted in its parent's size
            if ident in entered:
                return "refers to itself (a YAML alias inside its own anchor)"
            if depth > MAX_NESTING:
                return f"nests lists or tables more than {MAX_NESTING} deep"
            entered.add(ident)
            children: list[object] = (
                [value for pair in node.items() for value in pair]
                if isinstance(node, dict)
                else list(node)
            )
            own += 1 + len(children)
            stack.append((node, depth, children))
            stack.extend((child, depth + 1, None) for child in children)
            continue
        entered.discard(ident)
        sizes[ident] = 1 + sum(sizes.get(id(child), 1) for child in items)
        if sizes[ident] - own > MAX_ALIAS_EXPANSION:
            return (
                f"expands to more than {sizes[ident]:,} values through YAML aliases from "
                f"{own:,} in the file (an alias bomb)"
            )
    return None


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (``"\\ud800"`` in JSON or YAML), which no
    UTF-8 encoder can write."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _escaped(text: str) -> str:
    found = next(char for char in text if 0xD800 <= ord(char) <= 0xDFFF)
    return f"\\u{ord(found):04x}"


_MATCH_BUDGET = 1_000_000
"""The most line pairs (changed old lines x changed new lines) worth matching one by one."""


def restore_line_endings(old_lines: Sequence[tuple[str, str]], new_text: str) -> str:
    """``new_text`` (``\\n`` endings) with the old file's line endings put back.

    Lines the edit left alone get their own ending back, byte for byte; new or changed
    lines get the file's usual ending.  A last line without an ending keeps having none
    while it stays the last line.  The lines before the first and after the last change
    are matched in one pass; only the part between is matched line by line, and when
    that part is huge (over :data:`_MATCH_BUDGET` line pairs, never for a real edit) it
    counts as changed, so the work stays linear in the file's size.  A file whose lines
    all end the same way (the usual case) needs no matching at all.
    """
    endings = {ending for _, ending in old_lines}
    if len(endings) == 1 and "\r" not in new_text:
        (ending,) = endings
        if ending:  # every old line ends, and the same way: each line of the result too
            if new_text and not new_text.endswith("\n"):
                new_text += "\n"
            return new_text if ending == "\n" else new_text.replace("\n", ending)
    new_lines = [content for content, _ in split_lines(new_text)]
    old_contents = [content for content, _ in old_lines]
    usual = _usual_ending(old_lines)
    head = 0
    limit = min(len(old_contents), len(new_lines))
    while head < limit and old_contents[head] == new_lines[head]:
        head += 1
    tail = 0
    while (
        tail < limit - head
        and old_contents[len(old_contents) - 1 - tail] == new_lines[len(new_lines) - 1 - tail]
    ):
        tail += 1
    old_middle = old_contents[head : len(old_contents) - tail]
    new_middle = new_lines[head : len(new_lines) - tail]
    opcodes: list[tuple[str, int, int, int, int]] = [("equal", 0, head, 0, head)]
    if len(old_middle) * len(new_middle) <= _MATCH_BUDGET:
        matcher = difflib.SequenceMatcher(None, old_middle, new_middle, autojunk=False)
        opcodes += [
            (tag, i1 + head, i2 + head, j1 + head, j2 + head)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        ]
    else:
        opcodes.append(("replace", head, head + len(old_middle), head, head + len(new_middle)))
    opcodes.append(
        (
            "equal",
            len(old_contents) - tail,
            len(old_contents),
            len(new_lines) - tail,
            len(new_lines),
        )
    )
    out: list[str] = []
    last_is_old_last = False
    for tag, i1, i2, j1, j2 in opcodes:
        if i1 == i2 and j1 == j2:
            continue
        if tag == "equal":
            out += [old_lines[i][0] + (old_lines[i][1] or usual) for i in range(i1, i2)]
            last_is_old_last = i2 == len(old_lines) and j2 == len(new_lines)
        else:
            out += [line + usual for line in new_lines[j1:j2]]
            last_is_old_last = False
    if last_is_old_last and old_lines[-1][1] == "":
        out[-1] = old_lines[-1][0]
    return "".join(out)


def split_lines(text: str) -> list[tuple[str, str]]:
    """(content, ending) per line, splitting where Python's universal newlines do."""
    if "\r" not in text:  # the usual case, in one C-level split (1 MiB files are common)
        parts = text.split("\n")
        last = parts.pop()
        lines = [(part, "\n") for part in parts]
    else:
        pieces = _EOL_SPLIT.split(text)  # content, ending, content, ending, ..., content
        last = pieces.pop()
        lines = list(zip(pieces[::2], pieces[1::2], strict=True))
    if last:
        lines.append((last, ""))
    return lines


def _usual_ending(lines: Sequence[tuple[str, str]]) -> str:
    endings = [ending for _, ending in lines if ending]
    if not endings:
        return "\n"
    return max(("\n", "\r\n", "\r"), key=endings.count)
