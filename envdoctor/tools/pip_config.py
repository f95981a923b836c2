"""How the installed pip reads its configuration: files, sections, variables, versions.

pip's rules changed between releases, so :func:`resolve_pip` follows the pip that will
run (found in the prefix it runs from, see :func:`installed_pip`), and says which rules it
used (:attr:`ToolConfig.client`).  Read from the sources of the pip wheels:

* merging (``configuration.py`` and ``cli/parser.py``): up to 25.1 the files fill one flat
  ``section.key`` table, so an empty value in a later file replaces (and so unsets) the
  value of an earlier one, and only the value that is left is converted (a bad boolean in
  a file a later one overrides does no harm); a file listed twice is read again in its
  later place.  25.2 and 25.3 give every file its own table: an empty value is skipped in
  its own file only (the earlier file's value stays) and every value is converted in turn
  (any bad one stops pip).  26.0 restores the flat table per section ("the fallthrough
  logic"), empty values unsetting again, but keeps a file listed twice in its first place.
* ``XDG_CONFIG_HOME``/``XDG_CONFIG_DIRS`` (the vendored platformdirs): up to 26.1 they are
  used as written, relative entries included (relative to the working directory), an
  empty ``XDG_CONFIG_DIRS`` entry being ``./pip/pip.conf``; up to 24.0 each
  ``XDG_CONFIG_DIRS`` entry also has ``~`` expanded; 26.2 strips the value and skips blank
  entries; from 26.3 only absolute entries count, as the XDG spec says.
"""

from __future__ import annotations

import configparser
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from envdoctor.configfiles import (
    ConfigProblem,
    Setting,
    Source,
    ToolConfig,
    dedupe,
    env_path,
    memoized,
    read_text,
    strtobool,
)
from envdoctor.context import Context
from envdoctor.redact import mask_url

PIP_DEFAULT_INDEX = "https://pypi.org/simple"

NEWEST_KNOWN = (26, 3)
"""The newest pip whose rules were read; a newer or unknown pip is read by these rules."""

PER_FILE_SINCE = (25, 2)
"""First pip whose files each keep their own table (empty values no longer unset)..."""

FLAT_AGAIN_SINCE = (26, 0)
"""...and the first one whose sections are one flat table again."""

PipVersion = tuple[int, ...]

_PIP_DEFAULT = Source("default", "pip")

_PipKind = Literal["url", "urls", "hosts", "float", "bool"]

# Long option names (as pip normalises config keys) -> (setting, how pip converts it).
# ``--index-url`` also answers to ``--pypi-url`` and ``--timeout`` to ``--default-timeout``.
_PIP_OPTIONS: dict[str, tuple[str, _PipKind]] = {
    "index-url": ("index-url", "url"),
    "pypi-url": ("index-url", "url"),
    "extra-index-url": ("extra-index-url", "urls"),
    "trusted-host": ("trusted-host", "hosts"),
    "timeout": ("timeout", "float"),
    "default-timeout": ("timeout", "float"),
    "no-index": ("no-index", "bool"),
}

_PIP_DEFAULTS: dict[str, object] = {
    "index-url": PIP_DEFAULT_INDEX,
    "extra-index-url": (),
    "trusted-host": (),
    "timeout": 15.0,
    "no-index": False,
}

_INLINE_COMMENT = re.compile(r"\s[;#]")
_DIST_INFO = re.compile(r"pip-(\d+(?:\.\d+)*)[^/]*\.dist-info")


def pip_option_name(name: str) -> str:
    """pip's ``_normalize_name``: lower case, ``_`` to ``-``, no leading ``--``."""
    name = name.lower().replace("_", "-")
    return name[2:] if name.startswith("--") else name


class PipConfigParser(configparser.RawConfigParser):
    """The parser pip builds (``configuration._RawConfigParser``): pip's key names.

    Its sections have no typed getters (``section.getint``...): configparser makes three
    of them for every section it reads, a third of the parse of a file of 20,000
    sections, and nothing here asks for one.  What it reads is the same.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in list(self.converters):
            del self.converters[name]

    def optionxform(self, optionstr: str) -> str:
        return pip_option_name(optionstr)


@dataclass(frozen=True)
class PipRules:
    """Which pip's rules a resolution follows, and where that pip was found."""

    version: PipVersion | None
    found: str
    """Where the version came from: a dist-info path, "as told", or why it is unknown."""

    @property
    def effective(self) -> PipVersion:
        return self.version if self.version is not None else NEWEST_KNOWN

    def describe(self) -> str:
        if self.version is None:
            newest = ".".join(map(str, NEWEST_KNOWN))
            return f"pip {newest} rules (no installed pip found: {self.found})"
        return f"pip {'.'.join(map(str, self.version))} rules ({self.found})"


def parse_version(text: str) -> PipVersion:
    """``25.2`` -> ``(25, 2)``; pre-release and local parts after the numbers are dropped."""
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    if match is None:
        raise ValueError(f"not a pip version: {text!r}")
    return tuple(int(part) for part in match.group().split("."))


def pip_prefix(ctx: Context) -> Path:
    """``sys.prefix`` of the pip on PATH: the active venv, else conda env, else /usr."""
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        value = ctx.env.get(variable)
        if value:
            return env_path(ctx, value)
    return ctx.path("/usr")


def installed_pip(ctx: Context) -> PipRules:
    """The version of the pip that runs from :func:`pip_prefix` (its ``.dist-info``)."""
    prefix = pip_prefix(ctx)
    patterns = ("lib/python3*/site-packages", "lib/python3*/dist-packages")
    roots = [prefix]
    if prefix == ctx.path("/usr"):
        roots.append(ctx.path("/usr/local"))  # Debian's pip installs land there
    found: list[tuple[PipVersion, Path]] = []
    for root in roots:
        for pattern in patterns:
            for dist in sorted(root.glob(f"{pattern}/pip-*.dist-info")):
                match = _DIST_INFO.fullmatch(dist.name)
                if match is not None:
                    found.append((parse_version(match.group(1)), dist))
    if not found:
        return PipRules(None, f"none under {prefix}")
    version, dist = found[0]
    return PipRules(version, str(dist))


def _expanduser(ctx: Context, value: str) -> str:
    """``os.path.expanduser`` of ``~`` and ``~/...`` as pip's process does (``$HOME``)."""
    if value == "~" or value.startswith("~/"):
        home = ctx.env.get("HOME") or str(ctx.home)
        return home + value[1:]
    return value


def _site_config_dirs(ctx: Context, version: PipVersion) -> list[str]:
    raw = ctx.env.get("XDG_CONFIG_DIRS", "")
    if version >= (26, 3):
        entries = [entry.strip() for entry in raw.split(":")]
        return [entry for entry in entries if entry.startswith("/")] or [str(ctx.path("/etc/xdg"))]
    if version >= (26, 2):
        if not raw.strip():
            return [str(ctx.path("/etc/xdg"))]
        return [entry for entry in raw.strip().split(":") if entry.strip()]
    if not raw.strip():
        return [str(ctx.path("/etc/xdg"))]
    entries = raw.split(":")
    if version < (24, 1):
        entries = [_expanduser(ctx, entry) for entry in entries]
    return entries


def relative_user_dir(ctx: Context, rules: PipRules | None = None) -> str | None:
    """The relative ``XDG_CONFIG_HOME`` this pip takes for its user files, read from the
    directory it runs in (pip before 26.3, through platformdirs); None when it takes an
    absolute one or ``~/.config``."""
    directory = _user_config_dir(ctx, (rules or installed_pip(ctx)).effective)
    return None if directory.startswith("/") else directory


def _user_config_dir(ctx: Context, version: PipVersion) -> str:
    raw = ctx.env.get("XDG_CONFIG_HOME", "")
    if version >= (26, 3):
        stripped = raw.strip()
        return stripped if stripped.startswith("/") else str(ctx.home / ".config")
    if not raw.strip():
        return str(ctx.home / ".config")
    return raw.strip() if version >= (26, 2) else raw


def pip_config_files(ctx: Context, rules: PipRules | None = None) -> list[Path]:
    """pip's files, lowest priority first (``get_configuration_files``, ``iter_config_files``)."""
    version = (rules or installed_pip(ctx)).effective
    env_file = ctx.env.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    files = [
        env_path(ctx, str(Path(directory) / "pip" / "pip.conf"))
        for directory in _site_config_dirs(ctx, version)
    ]
    files.append(ctx.path("/etc/pip.conf"))
    env_file_path = env_path(ctx, env_file) if env_file else None
    # "per-user config is not loaded when env_config_file exists"
    if env_file_path is None or not env_file_path.exists():
        user_file = str(Path(_user_config_dir(ctx, version)) / "pip" / "pip.conf")
        files += [ctx.home / ".pip" / "pip.conf", env_path(ctx, user_file)]
    files.append(pip_prefix(ctx) / "pip.conf")
    if env_file_path is not None:
        files.append(env_file_path)
    return files


def _configparser_problem(path: Path, exc: configparser.Error) -> ConfigProblem:
    line: int | None = None
    if isinstance(exc, configparser.MissingSectionHeaderError):
        line = exc.lineno
        message = "no [section] header before the first setting"
    elif isinstance(exc, configparser.DuplicateSectionError):
        line = exc.lineno
        message = f"section [{exc.section}] appears twice"
    elif isinstance(exc, configparser.DuplicateOptionError):
        line = exc.lineno
        message = f"{exc.option} is set twice in section [{exc.section}]"
    elif isinstance(exc, configparser.ParsingError):
        line = exc.errors[0][0] if exc.errors else None
        message = "a line is neither a [section], a key = value nor a comment"
    else:
        message = str(exc).splitlines()[0]
    return ConfigProblem(str(path), line, f"{message}: pip refuses to load this file")


def universal_newlines(text: str) -> str:
    """``text`` as pip reads it: its file is opened in text mode, so ``\r\n`` and a bare
    ``\r`` end a line as ``\n`` does."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def strict_parse(ctx: Context, text: str) -> tuple[PipConfigParser, configparser.Error | None]:
    """pip's own strict parse of ``text``, once per run: the parser, and the error that
    makes pip stop (None when pip loads it).  The parser is shared: never change it."""

    def parse() -> tuple[PipConfigParser, configparser.Error | None]:
        parser = PipConfigParser(strict=True)
        try:
            parser.read_string(text)
        except configparser.Error as exc:
            return parser, exc
        return parser, None

    return memoized(ctx, "pip.conf strict", text, parse)


def parse_pip_file(
    ctx: Context, path: Path, text: str, problems: list[ConfigProblem]
) -> list[tuple[str, str, str]]:
    """(section, normalised key, value) as pip's parser yields them.

    pip parses strictly and stops on any error; the settings keep what a lenient parse
    finds, so a user sees what the broken file was meant to do.  The lenient parse runs
    only when the strict one failed (otherwise both find the same), and each parse runs
    once per run and text (a plan resolves five times).
    """
    if text.startswith("\ufeff"):
        problems.append(
            ConfigProblem(
                str(path),
                1,
                "starts with a UTF-8 byte-order mark: pip refuses to load this file "
                "('File contains no section headers'); save it without BOM",
            )
        )
        text = text[1:]
    text = universal_newlines(text)
    parser, error = strict_parse(ctx, text)
    if error is not None:
        problems.append(_configparser_problem(path, error))
        parser = memoized(ctx, "pip.conf lenient", text, lambda: _lenient_parse(text))
    return memoized(
        ctx,
        f"pip.conf items {id(parser)}",
        text,
        lambda: [
            (section, name, value)
            for section in parser.sections()
            for name, value in parser.items(section)
        ],
    )


def _lenient_parse(text: str) -> PipConfigParser:
    parser = PipConfigParser(strict=False)
    try:
        parser.read_string(text)
    except configparser.ParsingError:
        pass  # the lines around the bad ones were still read
    except configparser.Error:
        return PipConfigParser(strict=False)
    return parser


@dataclass(frozen=True)
class _PipEntry:
    value: str
    source: Source


def _pip_convert(
    kind: _PipKind, name: str, entry: _PipEntry, problems: list[ConfigProblem]
) -> object:
    raw = entry.value
    where = f"${entry.source.location}" if entry.source.kind == "env" else entry.source.location
    if entry.source.kind == "file" and _INLINE_COMMENT.search(raw):
        problems.append(
            ConfigProblem(
                where,
                None,
                f"{name} = {raw!r}: pip has no inline comments, the whole text is the value",
            )
        )
    if kind == "url":
        return mask_url(raw)
    if kind == "urls":
        return tuple(mask_url(url) for url in raw.split())
    if kind == "hosts":
        return tuple(raw.split())
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            problems.append(
                ConfigProblem(where, None, f"{name} = {raw!r} is not a number: pip stops")
            )
            return raw
    flag = strtobool(raw)
    if flag is None:
        problems.append(ConfigProblem(where, None, f"{name} = {raw!r} is not a boolean: pip stops"))
        return raw
    return flag


def _entries(location: str, items: list[tuple[str, str, str]]) -> dict[str, _PipEntry]:
    # Only the options resolve_pip follows: a key it never reads changes nothing it
    # finds, and a file of 20,000 sections would be walked for each command.
    return {
        f"{section}.{name}": _PipEntry(value, Source("file", location, section))
        for section, name, value in items
        if name in _PIP_OPTIONS
    }


def _read_files(
    ctx: Context, rules: PipRules, problems: list[ConfigProblem], files_read: list[str]
) -> list[dict[str, _PipEntry]]:
    """Each file's ``section.key`` entries, in the order pip applies them."""
    reread = rules.effective < PER_FILE_SINCE
    parsed: dict[str, dict[str, _PipEntry]] = {}
    order: list[dict[str, _PipEntry]] = []
    for path in pip_config_files(ctx, rules):
        if path.is_dir():
            continue  # pip's parser skips what it cannot open
        key = str(path)
        if key not in parsed:
            text = read_text(path, problems)
            if text is None:
                continue
            files_read.append(key)
            items = parse_pip_file(ctx, path, text, problems)
            entries = memoized(
                ctx, f"pip.conf entries {key}", text, functools.partial(_entries, key, items)
            )
            parsed[key] = entries
            order.append(entries)
        elif reread:
            order.append(parsed[key])  # read again, in its later place
    return order


def resolve_pip(
    ctx: Context, command: str = "install", version: PipVersion | str | None = None
) -> ToolConfig:
    """What ``pip <command>`` uses: index-url, extra-index-url, trusted-host, timeout, no-index.

    Files merge by section across all files: every ``[global]`` key first, then
    ``[<command>]``, then ``PIP_*`` variables, later winning; so ``[install]`` in
    ``/etc/pip.conf`` beats ``[global]`` in the user's file.  An empty value unsets the key
    in its section, except in pip 25.2 and 25.3 which skip it (see the module docstring).
    ``version`` is the pip to follow; by default the installed one (:func:`installed_pip`).
    """
    if version is None:
        rules = installed_pip(ctx)
    else:
        told = parse_version(version) if isinstance(version, str) else version
        rules = PipRules(told, "as told")
    per_file = PER_FILE_SINCE <= rules.effective < FLAT_AGAIN_SINCE
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    layers = _read_files(ctx, rules, problems, files_read)
    env_entries: dict[str, _PipEntry] = {}
    for variable, value in ctx.env.items():
        if variable.startswith("PIP_") and variable[4:].lower() not in ("version", "help"):
            env_entries[f":env:.{pip_option_name(variable[4:])}"] = _PipEntry(
                value, Source("env", variable)
            )
    layers.append(env_entries)

    applied: dict[str, tuple[object, Source]] = {}
    seen: dict[str, list[tuple[object, Source]]] = {name: [] for name in _PIP_DEFAULTS}
    for section in ("global", command, ":env:"):
        stream = [
            (key.split(".", 1)[1], entry)
            for entries in layers
            for key, entry in entries.items()
            if key.split(".", 1)[0] == section
        ]
        if not per_file:
            # Outside 25.2-25.3 the files fill one flat table: a later value (an empty one
            # too) replaces an earlier one in its place, and only what is left is used.
            flat: dict[str, _PipEntry] = {}
            for name, entry in stream:
                earlier = flat.get(name)
                option = _PIP_OPTIONS.get(name)
                if earlier is not None and earlier is not entry and earlier.value and option:
                    converted = _pip_convert(option[1], name, earlier, [])
                    seen[option[0]].append((converted, earlier.source))
                flat[name] = entry
            stream = list(flat.items())
        for name, entry in stream:
            option = _PIP_OPTIONS.get(name)
            if option is None or not entry.value:
                continue  # pip skips empty values
            setting, kind = option
            item = (_pip_convert(kind, setting, entry, problems), entry.source)
            seen[setting].append(item)
            applied[setting] = item
    settings: dict[str, Setting] = {}
    for name, default in _PIP_DEFAULTS.items():
        effective = applied.get(name, (default, _PIP_DEFAULT))
        others = [item for item in seen[name] if item is not effective]
        if name in applied:
            others.insert(0, (default, _PIP_DEFAULT))
        settings[name] = Setting(name, effective[0], effective[1], tuple(others))
    return ToolConfig("pip", settings, dedupe(problems), files_read, client=rules.describe())
