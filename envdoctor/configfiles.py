"""What every tool module shares about configuration files and their values.

A tool module resolves its configuration into a :class:`ToolConfig`: for every setting
the effective value, its :class:`Source` (a file and section, an environment variable, or
the built-in default) and the values it overrode.  A file the tool itself would refuse
becomes a :class:`ConfigProblem`.  The helpers here read files, expand variables and paths
the way the tools' own processes do, and give the one clear error an ``apply`` shows for
a file it cannot read.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.redact import mask_url

SourceKind = Literal["default", "file", "env"]


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
    """How :func:`configured_mirrors` spells an endpoint: masked, trailing ``/`` stripped."""
    return mask_url(url.strip()).rstrip("/")


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


_EOL = re.compile(r"\r\n|\r|\n")
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
    """The file's text, or None when it does not exist or cannot be read (a problem)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        problems.append(ConfigProblem(str(path), None, "is a directory, not a file"))
        return None
    except OSError as exc:
        problems.append(ConfigProblem(str(path), None, f"cannot be read: {exc.strerror}"))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(
            ConfigProblem(str(path), line, f"is not valid UTF-8 (byte {data[exc.start]:#04x})")
        )
        return data.decode("utf-8", errors="replace")


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


def read_existing(path: Path, display: str, tool: str) -> bytes | None:
    """The file's bytes, or None when it does not exist yet."""
    try:
        return path.read_bytes()
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


def decode_utf8(data: bytes, display: str, tool: str) -> str:
    """The file's text; a file that is not UTF-8 names the line, as the tools refuse it."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise EnvdoctorError(
            f"{display} line {line}: not valid UTF-8 (byte {data[exc.start]:#04x}); "
            f"{tool} cannot read it",
            f"Save {display} as UTF-8, then run apply again.",
        ) from None


def restore_line_endings(old_lines: Sequence[tuple[str, str]], new_text: str) -> str:
    """``new_text`` (``\\n`` endings) with the old file's line endings put back.

    Lines the edit left alone get their own ending back, byte for byte; new or changed
    lines get the file's usual ending.  A last line without an ending keeps having none
    while it stays the last line.
    """
    new_lines = [content for content, _ in split_lines(new_text)]
    usual = _usual_ending(old_lines)
    matcher = difflib.SequenceMatcher(
        None, [content for content, _ in old_lines], new_lines, autojunk=False
    )
    out: list[str] = []
    last_is_old_last = False
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
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
    lines: list[tuple[str, str]] = []
    start = 0
    for match in _EOL.finditer(text):
        lines.append((text[start : match.start()], match.group()))
        start = match.end()
    if start < len(text):
        lines.append((text[start:], ""))
    return lines


def _usual_ending(lines: Sequence[tuple[str, str]]) -> str:
    endings = [ending for _, ending in lines if ending]
    if not endings:
        return "\n"
    return max(("\n", "\r\n", "\r"), key=endings.count)
