"""Which mirror each tool really uses, and where every value comes from.

Each ``resolve_*`` function reads the files and variables a tool reads, in the tool's own
order, and returns a :class:`ToolConfig`: for every setting the effective value, its
:class:`Source` (a file and section, an environment variable, or the built-in default) and
the values it overrode.  Nothing here raises on a broken file: a file the tool itself would
refuse becomes a :class:`ConfigProblem` naming the file and line, and the settings still
show what the file meant to say.

The rules follow each tool's source, not its folklore:

* pip: ``pip/_internal/configuration.py`` (file kinds and ``PIP_CONFIG_FILE``) and
  ``cli/parser.py`` ``_get_ordered_configuration_items`` (sections ``global``, then the
  command, then ``PIP_*`` variables; later wins; an empty value unsets).
* uv: ``uv-settings`` (project ``uv.toml`` or ``[tool.uv]``, user, system) and
  ``IndexLocations::default_index`` (the first index marked ``default`` wins).
* conda: ``conda/base/constants.py`` ``SEARCH_PATH`` and ``conda/common/configuration.py``
  (lists merge with higher files first, scalars override, ``#!final`` locks a key).
* Docker: ``daemon.json`` as dockerd reads it (a UTF-8 BOM is reported: dockerd 20.10 refuses it).
* Hugging Face hub: ``huggingface_hub/constants.py``; ModelScope: ``modelscope.hub.utils``.

Every path comes from the :class:`~envdoctor.context.Context`: system files through
``ctx.path``, the home through ``ctx.home``, variables through ``ctx.env``.  Paths named by
environment variables are taken as the tool's process would take them (absolute as given,
relative to ``ctx.cwd``).  URLs in settings are shown with credentials masked
(``envdoctor.netprobe.mask_url``; conda ``/t/<token>`` segments too).
"""

from __future__ import annotations

import configparser
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

import tomlkit
import tomlkit.exceptions
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from envdoctor.context import Context
from envdoctor.redact import mask_conda_url, mask_url

__all__ = [
    "CONDA_DEFAULT_CHANNELS",
    "CONDA_DEFAULT_CHANNEL_ALIAS",
    "HF_DEFAULT_ENDPOINT",
    "MODELSCOPE_DEFAULT_DOMAIN",
    "PIP_DEFAULT_INDEX",
    "UV_DEFAULT_INDEX",
    "ConfigProblem",
    "Setting",
    "Source",
    "ToolConfig",
    "conda_base",
    "configured_mirrors",
    "normalise_endpoint",
    "resolve_conda",
    "resolve_docker",
    "resolve_hf",
    "resolve_modelscope",
    "resolve_pip",
    "resolve_uv",
]

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

    def value(self, name: str) -> object:
        """The effective value of ``name`` (``KeyError`` for a setting this tool lacks)."""
        return self.settings[name].value


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------

_TRUTHY = ("y", "yes", "t", "true", "on", "1")
_FALSY = ("n", "no", "f", "false", "off", "0")


def normalise_endpoint(url: str) -> str:
    """How :func:`configured_mirrors` spells an endpoint: masked, trailing ``/`` stripped."""
    return mask_url(url.strip()).rstrip("/")


def _chain_setting(name: str, chain: Sequence[tuple[object, Source]]) -> Setting:
    """A setting whose value is the last of ``chain`` (lowest priority first)."""
    value, source = chain[-1]
    return Setting(name, value, source, tuple(chain[:-1]))


def _env_path(ctx: Context, value: str) -> Path:
    """A path named by an environment variable, as the tool's own process resolves it."""
    path = Path(value)
    return path if path.is_absolute() else ctx.cwd / path


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


def _expandvars(value: str, env: Mapping[str, str]) -> str:
    """``os.path.expandvars`` against ``env``: unknown variables stay as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("{"):
            name = name[1:-1]
        return env.get(name, match.group(0))

    return _VARIABLE.sub(replace, value)


def _expanduser(ctx: Context, value: str) -> str:
    if value == "~" or value.startswith("~/"):
        return str(ctx.home / value[2:]) if len(value) > 2 else str(ctx.home)
    return value


def _read_text(path: Path, problems: list[ConfigProblem]) -> str | None:
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


def _strtobool(value: str) -> bool | None:
    lowered = value.lower()
    if lowered in _TRUTHY:
        return True
    if lowered in _FALSY:
        return False
    return None


# ---------------------------------------------------------------------------
# pip
# ---------------------------------------------------------------------------

PIP_DEFAULT_INDEX = "https://pypi.org/simple"
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


def pip_option_name(name: str) -> str:
    """pip's ``_normalize_name``: lower case, ``_`` to ``-``, no leading ``--``."""
    name = name.lower().replace("_", "-")
    return name[2:] if name.startswith("--") else name


class PipConfigParser(configparser.RawConfigParser):
    """The parser pip builds (``configuration._RawConfigParser``): pip's key names."""

    def optionxform(self, optionstr: str) -> str:
        return pip_option_name(optionstr)


def _xdg_dirs(ctx: Context, variable: str) -> list[Path]:
    """platformdirs' reading of an ``XDG_*_DIRS`` list: stripped, absolute entries only."""
    entries = [entry.strip() for entry in ctx.env.get(variable, "").split(":")]
    return [Path(entry) for entry in entries if entry.startswith("/")]


def _xdg_config_home(ctx: Context) -> Path:
    value = ctx.env.get("XDG_CONFIG_HOME", "").strip()
    return Path(value) if value.startswith("/") else ctx.home / ".config"


def _pip_prefix(ctx: Context) -> Path:
    """``sys.prefix`` of the pip on PATH: the active venv, else conda env, else /usr."""
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        value = ctx.env.get(variable)
        if value:
            return _env_path(ctx, value)
    return ctx.path("/usr")


def pip_config_files(ctx: Context) -> list[Path]:
    """pip's files, lowest priority first (``get_configuration_files``, ``iter_config_files``)."""
    env_file = ctx.env.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    site_dirs = _xdg_dirs(ctx, "XDG_CONFIG_DIRS") or [ctx.path("/etc/xdg")]
    files = [directory / "pip" / "pip.conf" for directory in site_dirs]
    files.append(ctx.path("/etc/pip.conf"))
    env_path = _env_path(ctx, env_file) if env_file else None
    # "per-user config is not loaded when env_config_file exists"
    if env_path is None or not env_path.exists():
        files += [ctx.home / ".pip" / "pip.conf", _xdg_config_home(ctx) / "pip" / "pip.conf"]
    files.append(_pip_prefix(ctx) / "pip.conf")
    if env_path is not None:
        files.append(env_path)
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


def _parse_pip_file(
    path: Path, text: str, problems: list[ConfigProblem]
) -> list[tuple[str, str, str]]:
    """(section, normalised key, value) as pip's parser yields them.

    pip parses strictly and stops on any error; the settings keep what a lenient parse
    finds, so a user sees what the broken file was meant to do.
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
    try:
        PipConfigParser(strict=True).read_string(text, source=str(path))
    except configparser.Error as exc:
        problems.append(_configparser_problem(path, exc))
    lenient = PipConfigParser(strict=False)
    try:
        lenient.read_string(text, source=str(path))
    except configparser.ParsingError:
        pass  # the lines around the bad ones were still read
    except configparser.Error:
        return []
    return [
        (section, name, value)
        for section in lenient.sections()
        for name, value in lenient.items(section)
    ]


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
    flag = _strtobool(raw)
    if flag is None:
        problems.append(ConfigProblem(where, None, f"{name} = {raw!r} is not a boolean: pip stops"))
        return raw
    return flag


def resolve_pip(ctx: Context, command: str = "install") -> ToolConfig:
    """What ``pip <command>`` uses: index-url, extra-index-url, trusted-host, timeout, no-index.

    Files merge by section across all files: every ``[global]`` key first, then
    ``[<command>]``, then ``PIP_*`` variables, later winning; so ``[install]`` in
    ``/etc/pip.conf`` beats ``[global]`` in the user's file.  An empty value unsets the key
    in its section (pip drops empty values after merging).
    """
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    # pip keys its loaded files by name, so a file listed twice is read once, in place.
    per_file: dict[str, dict[str, _PipEntry]] = {}
    for path in pip_config_files(ctx):
        if path.is_dir():
            continue  # pip's parser skips what it cannot open
        text = _read_text(path, problems)
        if text is None:
            continue
        if str(path) not in files_read:
            files_read.append(str(path))
        entries = per_file.setdefault(str(path), {})
        for section, name, value in _parse_pip_file(path, text, problems):
            entries[f"{section}.{name}"] = _PipEntry(value, Source("file", str(path), section))
    env_entries: dict[str, _PipEntry] = {}
    for variable, value in ctx.env.items():
        if variable.startswith("PIP_") and variable[4:].lower() not in ("version", "help"):
            env_entries[f":env:.{pip_option_name(variable[4:])}"] = _PipEntry(
                value, Source("env", variable)
            )
    per_file[":env:"] = env_entries

    order = ["global", command, ":env:"]
    sections: dict[str, dict[str, list[_PipEntry]]] = {section: {} for section in order}
    for entries in per_file.values():
        for key, entry in entries.items():
            section, name = key.split(".", 1)
            if section in sections:
                sections[section].setdefault(name, []).append(entry)

    applied: dict[str, tuple[object, Source]] = {}
    seen: dict[str, list[tuple[object, Source]]] = {name: [] for name in _PIP_DEFAULTS}
    for section in order:
        for key, history in sections[section].items():
            option = _PIP_OPTIONS.get(key)
            if option is None:
                continue
            setting, kind = option
            for entry in history:
                if not entry.value:
                    continue
                # pip only ever sees the last value of a key in a section: only that one
                # can make it stop.
                final = entry is history[-1]
                converted = _pip_convert(kind, setting, entry, problems if final else [])
                item = (converted, entry.source)
                seen[setting].append(item)
                if final:
                    applied[setting] = item
    settings: dict[str, Setting] = {}
    for name, default in _PIP_DEFAULTS.items():
        effective = applied.get(name, (default, _PIP_DEFAULT))
        others = [item for item in seen[name] if item is not effective]
        if name in applied:
            others.insert(0, (default, _PIP_DEFAULT))
        settings[name] = Setting(name, effective[0], effective[1], tuple(others))
    return ToolConfig("pip", settings, _dedupe(problems), files_read)


def _dedupe(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return list(dict.fromkeys(problems))


# ---------------------------------------------------------------------------
# uv
# ---------------------------------------------------------------------------

UV_DEFAULT_INDEX = "https://pypi.org/simple"
_UV_DEFAULT = Source("default", "uv")
_UV_INDEX_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class _UvIndex:
    url: str
    default: bool
    source: Source
    name: str | None = None
    explicit: bool = False
    proxy: bool = False


@dataclass(frozen=True)
class _UvLayer:
    """One configuration file's index settings, in uv's vocabulary."""

    indexes: list[_UvIndex]
    extra: list[_UvIndex]
    index_url: _UvIndex | None
    no_index: tuple[bool, Source] | None


def _toml_load(
    path: Path, problems: list[ConfigProblem], consequence: str
) -> dict[str, object] | None:
    text = _read_text(path, problems)
    if text is None:
        return None
    try:
        document = tomlkit.parse(text.removeprefix("\ufeff"))
    except tomlkit.exceptions.ParseError as exc:
        message = str(exc).split(" at line ")[0]
        problems.append(
            ConfigProblem(str(path), exc.line, f"invalid TOML ({message}): {consequence}")
        )
        return None
    except tomlkit.exceptions.TOMLKitError as exc:
        problems.append(ConfigProblem(str(path), None, f"invalid TOML ({exc}): {consequence}"))
        return None
    return cast("dict[str, object]", document.unwrap())


def _ancestors(ctx: Context, start: Path) -> Iterator[Path]:
    """``start`` and its parents, stopping at ``ctx.root`` when ``start`` lies inside it."""
    stop = ctx.root if ctx.root != Path("/") and _is_within(start, ctx.root) else None
    yield start
    for parent in start.parents:
        if stop is not None and not _is_within(parent, stop):
            return
        yield parent


def _uv_project(
    ctx: Context, problems: list[ConfigProblem], files_read: list[str]
) -> tuple[Path, dict[str, object], str | None] | None:
    """uv's ``FilesystemOptions::find``: the nearest ``uv.toml`` or ``[tool.uv]`` table."""
    for directory in _ancestors(ctx, ctx.cwd):
        uv_toml = directory / "uv.toml"
        if uv_toml.is_file():
            data = _toml_load(uv_toml, problems, "uv refuses to run")
            files_read.append(str(uv_toml))
            pyproject = directory / "pyproject.toml"
            if pyproject.is_file():
                adjacent = _toml_load(pyproject, [], "")
                tool = adjacent.get("tool") if adjacent else None
                if isinstance(tool, dict) and "uv" in tool:
                    problems.append(
                        ConfigProblem(
                            str(pyproject),
                            None,
                            "[tool.uv] is ignored: uv reads the uv.toml next to it instead",
                        )
                    )
            return uv_toml, data or {}, None
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            data = _toml_load(pyproject, problems, "uv warns and skips this file")
            if data is None:
                continue
            tool = data.get("tool")
            options = tool.get("uv") if isinstance(tool, dict) else None
            if options is None:
                continue
            files_read.append(str(pyproject))
            if not isinstance(options, dict):
                problems.append(ConfigProblem(str(pyproject), None, "[tool.uv] is not a table"))
                return None
            return pyproject, options, "tool.uv"
    return None


def _uv_index_from_cli(value: str, default: bool, variable: str) -> _UvIndex:
    """``--index``/``--default-index`` syntax: ``name=url`` or a bare URL."""
    name: str | None = None
    head, sep, tail = value.partition("=")
    if sep and ":" not in head and _UV_INDEX_NAME.match(head):
        name, value = head, tail
    return _UvIndex(mask_url(value), default, Source("env", variable), name)


def _uv_layer(
    path: Path, data: Mapping[str, object], table: str | None, problems: list[ConfigProblem]
) -> _UvLayer:
    def source(key: str) -> Source:
        if key == "index":
            return Source("file", str(path), f"{table}.index" if table else "index")
        return Source("file", str(path), table)

    indexes: list[_UvIndex] = []
    raw_indexes = data.get("index", [])
    if not isinstance(raw_indexes, list):
        problems.append(ConfigProblem(str(path), None, "index must be an array of tables"))
        raw_indexes = []
    for entry in raw_indexes:
        url = entry.get("url") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(url, str):
            problems.append(ConfigProblem(str(path), None, "an [[index]] entry has no url"))
            continue
        name = entry.get("name")
        indexes.append(
            _UvIndex(
                mask_url(url),
                entry.get("default") is True,
                source("index"),
                name if isinstance(name, str) else None,
                entry.get("explicit") is True,
                "proxy-for" in entry,
            )
        )
    extra: list[_UvIndex] = []
    raw_extra = data.get("extra-index-url", [])
    if isinstance(raw_extra, list):
        extra = [
            _UvIndex(mask_url(url), False, source("extra-index-url"))
            for url in raw_extra
            if isinstance(url, str)
        ]
    else:
        problems.append(ConfigProblem(str(path), None, "extra-index-url must be an array"))
    raw_url = data.get("index-url")
    index_url = (
        _UvIndex(mask_url(raw_url), True, source("index-url")) if isinstance(raw_url, str) else None
    )
    raw_no_index = data.get("no-index")
    no_index = (raw_no_index, source("no-index")) if isinstance(raw_no_index, bool) else None
    return _UvLayer(indexes, extra, index_url, no_index)


def _uv_file_layers(
    ctx: Context, problems: list[ConfigProblem], files_read: list[str]
) -> list[_UvLayer]:
    """The configuration files uv reads, highest priority first."""
    if _strtobool(ctx.env.get("UV_NO_CONFIG", "")) is True:
        return []
    config_file = ctx.env.get("UV_CONFIG_FILE")
    if config_file:
        # "this file will be used in place of any discovered configuration files"
        path = _env_path(ctx, config_file)
        data = _toml_load(path, problems, "uv refuses to run")
        if data is None:
            if not path.exists():
                problems.append(ConfigProblem("$UV_CONFIG_FILE", None, f"{path} does not exist"))
            return []
        files_read.append(str(path))
        return [_uv_layer(path, data, None, problems)]
    layers: list[_UvLayer] = []
    project = _uv_project(ctx, problems, files_read)
    if project is not None:
        layers.append(_uv_layer(project[0], project[1], project[2], problems))
    user = ctx.xdg_config_home / "uv" / "uv.toml"
    if user.is_file():
        data = _toml_load(user, problems, "uv refuses to run")
        files_read.append(str(user))
        if data is not None:
            layers.append(_uv_layer(user, data, None, problems))
    system = _uv_system_file(ctx)
    if system is not None:
        data = _toml_load(system, problems, "uv refuses to run")
        files_read.append(str(system))
        if data is not None:
            layers.append(_uv_layer(system, data, None, problems))
    return layers


def _uv_system_file(ctx: Context) -> Path | None:
    """The first ``<XDG_CONFIG_DIRS entry>/uv/uv.toml``, else ``/etc/uv/uv.toml``."""
    value = ctx.env.get("XDG_CONFIG_DIRS", "")
    directories: list[Path] = []
    if value:
        for entry in value.split(":"):
            if not entry:
                break  # uv stops at the first empty entry
            directories.append(Path(entry))
    else:
        directories.append(ctx.path("/etc/xdg"))
    for directory in directories:
        candidate = directory / "uv" / "uv.toml"
        if candidate.is_file():
            return candidate
    fallback = ctx.path("/etc/uv/uv.toml")
    return fallback if fallback.exists() else None


def resolve_uv(ctx: Context) -> ToolConfig:
    """uv's index settings: ``default-index``, ``index`` (searched first) and ``no-index``.

    uv builds one index list: ``UV_DEFAULT_INDEX``, ``UV_INDEX``, ``UV_EXTRA_INDEX_URL`` and
    ``UV_INDEX_URL``; then every file's ``[[index]]`` (project, user, system), every file's
    ``extra-index-url``, and the highest file's ``index-url``.  The first entry marked
    default is the default index, so a user-level ``[[index]] default = true`` beats a
    project's legacy ``index-url``.  Settings under ``[pip]`` (read only by ``uv pip``) and
    workspace-root discovery are not modelled.
    """
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    cli: list[_UvIndex] = []
    env = ctx.env
    if env.get("UV_DEFAULT_INDEX"):
        cli.append(_uv_index_from_cli(env["UV_DEFAULT_INDEX"], True, "UV_DEFAULT_INDEX"))
    cli += [_uv_index_from_cli(url, False, "UV_INDEX") for url in env.get("UV_INDEX", "").split()]
    cli += [
        _UvIndex(mask_url(url), False, Source("env", "UV_EXTRA_INDEX_URL"))
        for url in env.get("UV_EXTRA_INDEX_URL", "").split()
    ]
    if env.get("UV_INDEX_URL"):
        cli.append(_UvIndex(mask_url(env["UV_INDEX_URL"]), True, Source("env", "UV_INDEX_URL")))

    layers = _uv_file_layers(ctx, problems, files_read)
    merged = list(cli)
    for layer in layers:
        merged += layer.indexes
    for layer in layers:
        merged += layer.extra
    index_url = next((layer.index_url for layer in layers if layer.index_url), None)
    if index_url is not None:
        merged.append(index_url)

    configured: list[_UvIndex] = []
    names: set[str] = set()
    for index in merged:
        if index.proxy:
            continue
        if index.name is not None:
            if index.name in names:
                continue  # "When ordinary index names repeat, the first definition wins."
            names.add(index.name)
        configured.append(index)

    defaults = [index for index in configured if index.default]
    pypi = (UV_DEFAULT_INDEX, _UV_DEFAULT)
    if defaults:
        winner, losers = defaults[0], defaults[1:]
        default_setting = Setting(
            "default-index",
            winner.url,
            winner.source,
            (pypi, *((index.url, index.source) for index in reversed(losers))),
        )
    else:
        default_setting = Setting("default-index", UV_DEFAULT_INDEX, _UV_DEFAULT)
    implicit = [index for index in configured if not index.default and not index.explicit]
    if implicit:
        index_setting = Setting(
            "index",
            tuple(index.url for index in implicit),
            implicit[0].source,
            tuple((index.url, index.source) for index in reversed(implicit[1:])),
        )
    else:
        index_setting = Setting("index", (), _UV_DEFAULT)

    no_index_chain: list[tuple[object, Source]] = [(False, _UV_DEFAULT)]
    file_no_index = next((layer.no_index for layer in layers if layer.no_index), None)
    if file_no_index is not None:
        no_index_chain.append(file_no_index)
    if "UV_NO_INDEX" in env:
        flag = _strtobool(env["UV_NO_INDEX"])
        if flag is None:
            problems.append(ConfigProblem("$UV_NO_INDEX", None, "is not a boolean: uv stops"))
        else:
            no_index_chain.append((flag, Source("env", "UV_NO_INDEX")))
    settings = {
        "default-index": default_setting,
        "index": index_setting,
        "no-index": _chain_setting("no-index", no_index_chain),
    }
    return ToolConfig("uv", settings, _dedupe(problems), files_read)


# ---------------------------------------------------------------------------
# conda
# ---------------------------------------------------------------------------

CONDA_DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"
CONDA_DEFAULT_CHANNELS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")
_CONDA_DEFAULT = Source("default", "conda")
# conda/base/constants.py SEARCH_PATH (Linux), lowest priority first.
_CONDA_SEARCH_PATH = (
    "/etc/conda/.condarc",
    "/etc/conda/condarc",
    "/etc/conda/condarc.d/",
    "/var/lib/conda/.condarc",
    "/var/lib/conda/condarc",
    "/var/lib/conda/condarc.d/",
    "$CONDA_ROOT/.condarc",
    "$CONDA_ROOT/condarc",
    "$CONDA_ROOT/condarc.d/",
    "$XDG_CONFIG_HOME/conda/.condarc",
    "$XDG_CONFIG_HOME/conda/condarc",
    "$XDG_CONFIG_HOME/conda/condarc.d/",
    "~/.config/conda/.condarc",
    "~/.config/conda/condarc",
    "~/.config/conda/condarc.d/",
    "~/.conda/.condarc",
    "~/.conda/condarc",
    "~/.conda/condarc.d/",
    "~/.condarc",
    "$CONDA_PREFIX/.condarc",
    "$CONDA_PREFIX/condarc",
    "$CONDA_PREFIX/condarc.d/",
    "$CONDARC",
)
_YAML_SUFFIXES = (".yml", ".yaml")
_CondaKind = Literal["seq", "map", "str", "bool"]
# name -> (aliases conda accepts, type, default, default's note)
_CONDA_PARAMETERS: dict[str, tuple[tuple[str, ...], _CondaKind, object, str]] = {
    "channels": (("channels", "channel"), "seq", (), "conda >= 25.9; earlier conda: [defaults]"),
    "default_channels": (("default_channels",), "seq", CONDA_DEFAULT_CHANNELS, "conda"),
    "custom_channels": (
        ("custom_channels",),
        "map",
        {"pkgs/pro": "https://repo.anaconda.com"},
        "conda",
    ),
    "channel_alias": (("channel_alias",), "str", CONDA_DEFAULT_CHANNEL_ALIAS, "conda"),
    "show_channel_urls": (("show_channel_urls",), "bool", None, "conda"),
}


@dataclass(frozen=True)
class _CondaMatch:
    """One source's value for a parameter, with conda's priority flags."""

    value: object
    source: Source
    final: bool = False
    item_flags: tuple[str | None, ...] = ()
    final_keys: frozenset[str] = frozenset()


def _conda_root(ctx: Context) -> str | None:
    """``CONDA_ROOT`` (conda sets it to its own ``sys.prefix``), else from ``CONDA_EXE``."""
    if ctx.env.get("CONDA_ROOT"):
        return ctx.env["CONDA_ROOT"]
    exe = ctx.env.get("CONDA_EXE")
    if exe:
        return str(Path(exe).parent.parent)
    return None


def _conda_expand(ctx: Context, template: str) -> Path | None:
    if template.startswith("/"):
        return ctx.path(template)
    if template.startswith("~/"):
        return ctx.home / template[2:]
    variable, _, rest = template[1:].partition("/")
    value = _conda_root(ctx) if variable == "CONDA_ROOT" else ctx.env.get(variable)
    if not value:
        return None  # conda leaves "$VAR" in the path, which then does not exist
    path = _env_path(ctx, _expanduser(ctx, value))
    return path / rest if rest else path


def _conda_files(ctx: Context, problems: list[ConfigProblem]) -> list[Path]:
    """conda's ``load_file_configs``: files and ``*.yml``/``*.yaml`` in directories, once each."""
    files: dict[str, Path] = {}
    for template in _CONDA_SEARCH_PATH:
        path = _conda_expand(ctx, template)
        if path is None:
            continue
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.suffix in _YAML_SUFFIXES and child.is_file():
                    files.setdefault(str(child.absolute()), child)
        elif path.is_file():
            if "condarc" in path.name or path.suffix in _YAML_SUFFIXES:
                files.setdefault(str(path.absolute()), path)
            else:
                problems.append(
                    ConfigProblem(
                        str(path),
                        None,
                        "conda reads $CONDARC only when it is named condarc or ends in .yml/.yaml",
                    )
                )
    return list(files.values())


def _comment_flag(token_list: object, index: int) -> str | None:
    """A ruamel comment token's text (``#!final`` -> ``final``), as conda reads it."""
    try:
        token = cast("list[object]", token_list)[index]
        text = str(getattr(token, "value", "")).strip()
    except (IndexError, TypeError):
        return None
    flag = text.strip("!#").strip()
    return flag if flag in ("final", "top", "bottom") else None


def _conda_load_file(path: Path, problems: list[ConfigProblem]) -> CommentedMap | None:
    text = _read_text(path, problems)
    if text is None:
        return None
    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = (exc.problem or exc.context or "invalid YAML").strip()
        problems.append(ConfigProblem(str(path), line, f"invalid YAML ({reason}): conda stops"))
        return None
    except YAMLError as exc:
        problems.append(ConfigProblem(str(path), None, f"invalid YAML ({exc}): conda stops"))
        return None
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        problems.append(
            ConfigProblem(str(path), 1, "is not a YAML mapping of settings: conda stops")
        )
        return None
    return data


def _conda_file_match(
    path: Path, data: CommentedMap, name: str, problems: list[ConfigProblem]
) -> _CondaMatch | None:
    aliases, kind, _, _ = _CONDA_PARAMETERS[name]
    present = [alias for alias in aliases if alias in data]
    if not present:
        return None
    if len(present) > 1:
        problems.append(
            ConfigProblem(str(path), None, f"both {' and '.join(present)} are set: conda stops")
        )
    key = present[0]
    raw = data[key]
    source = Source("file", str(path), key)
    final = _comment_flag(data.ca.items.get(key), 2) == "final"
    line = _yaml_line(data, key)
    if kind == "seq":
        if not isinstance(raw, list):
            problems.append(ConfigProblem(str(path), line, f"{key} must be a list: conda stops"))
            return None
        flags: tuple[str | None, ...] = ()
        if isinstance(raw, CommentedSeq):
            flags = tuple(_comment_flag(raw.ca.items.get(i), 0) for i in range(len(raw)))
        return _CondaMatch(tuple(str(item) for item in raw), source, final, flags)
    if kind == "map":
        if not isinstance(raw, dict):
            problems.append(ConfigProblem(str(path), line, f"{key} must be a mapping: conda stops"))
            return None
        final_keys: frozenset[str] = frozenset()
        if isinstance(raw, CommentedMap):
            final_keys = frozenset(
                str(k) for k in raw if _comment_flag(raw.ca.items.get(k), 2) == "final"
            )
        return _CondaMatch({str(k): str(v) for k, v in raw.items()}, source, final, (), final_keys)
    if kind == "bool":
        if raw is None or isinstance(raw, bool):
            return _CondaMatch(raw, source, final)
        flag = _strtobool(str(raw))
        if flag is None:
            problems.append(
                ConfigProblem(str(path), line, f"{key} must be true or false: conda stops")
            )
            return None
        return _CondaMatch(flag, source, final)
    if raw is None:
        return None
    return _CondaMatch(str(raw), source, final)


def _yaml_line(data: CommentedMap, key: str) -> int | None:
    try:
        return int(data.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return None


def _conda_env_match(ctx: Context, name: str, problems: list[ConfigProblem]) -> _CondaMatch | None:
    """``CONDA_<NAME>``: lists split on commas, ``!important`` marks the value final."""
    aliases, kind, _, _ = _CONDA_PARAMETERS[name]
    if kind == "map":
        return None  # conda reads only flat values from the environment
    for alias in aliases:
        variable = f"CONDA_{alias.upper()}"
        raw = ctx.env.get(variable)
        if raw is None:
            continue
        source = Source("env", variable)
        final = "!important" in raw
        if kind == "seq":
            items = tuple(item.strip() for item in raw.split(",") if item.strip())
            return _CondaMatch(items, source, final)
        text = raw.split("!important")[0].strip()
        if kind == "bool":
            lowered = text.lower()
            if lowered in ("none", "null", "~", ""):
                return _CondaMatch(None, source, final)
            flag = _strtobool(lowered)
            if flag is None:
                problems.append(
                    ConfigProblem(f"${variable}", None, "is not a boolean: conda stops")
                )
                return None
            return _CondaMatch(flag, source, final)
        return _CondaMatch(text, source, final)
    return None


def _relevant(matches: list[_CondaMatch]) -> list[_CondaMatch]:
    """Matches up to and including the first one marked final (``_first_important_matches``)."""
    for index, match in enumerate(matches):
        if match.final:
            return matches[: index + 1]
    return matches


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _conda_merge_seq(matches: list[_CondaMatch]) -> tuple[str, ...]:
    """``SequenceLoadedParameter.merge``: higher files first, ``#!top``/``#!bottom`` honoured."""

    def lines(match: _CondaMatch, flag: str) -> list[str]:
        values = cast("tuple[str, ...]", match.value)
        return [v for v, f in zip(values, match.item_flags, strict=False) if f == flag]

    top = [line for m in matches for line in lines(m, "top")]
    bottom = [line for m in reversed(matches) for line in lines(m, "bottom")]
    everything = [v for m in reversed(matches) for v in cast("tuple[str, ...]", m.value)]
    top_deduped = _unique([*top, *everything])
    bottom_deduped = _unique([*reversed(bottom), *reversed(top_deduped)])
    return tuple(reversed(bottom_deduped))


def _conda_merge_map(matches: list[_CondaMatch]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for match in matches:
        merged.update(cast("dict[str, str]", match.value))
    final: dict[str, str] = {}
    for match in reversed(matches):
        values = cast("dict[str, str]", match.value)
        final.update({k: values[k] for k in match.final_keys})
    return {**merged, **final}


def _conda_display(kind: _CondaKind, value: object, ctx: Context) -> object:
    """Expand ``$VARS`` as conda does for channel settings, then mask credentials."""
    if kind == "seq":
        return tuple(
            mask_conda_url(_expandvars(v, ctx.env)) for v in cast("tuple[str, ...]", value)
        )
    if kind == "map":
        items = cast("dict[str, str]", value).items()
        return {k: mask_conda_url(_expandvars(v, ctx.env)) for k, v in items}
    if kind == "str":
        return mask_conda_url(_expandvars(cast("str", value), ctx.env))
    return value


def resolve_conda(ctx: Context) -> ToolConfig:
    """conda's channels, default_channels, custom_channels, channel_alias, show_channel_urls.

    Files come from conda's ``SEARCH_PATH``, then ``CONDA_*`` variables.  Lists merge with
    the higher-priority source first and duplicates dropped; mappings merge key by key;
    scalars take the highest source.  A key commented ``#!final`` stops higher sources.
    """
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    loaded: list[tuple[Path, CommentedMap]] = []
    for path in _conda_files(ctx, problems):
        data = _conda_load_file(path, problems)
        files_read.append(str(path))
        if data is not None:
            loaded.append((path, data))
    settings: dict[str, Setting] = {}
    for name, (_, kind, default, note) in _CONDA_PARAMETERS.items():
        matches = [
            match
            for path, data in loaded
            if (match := _conda_file_match(path, data, name, problems)) is not None
        ]
        env_match = _conda_env_match(ctx, name, problems)
        if env_match is not None:
            matches.append(env_match)
        default_item = (default, Source("default", note))
        if not matches:
            settings[name] = Setting(name, default, default_item[1])
            continue
        relevant = _relevant(matches)
        ignored = [(_conda_display(kind, m.value, ctx), m.source) for m in matches[len(relevant) :]]
        winner, lower = relevant[-1], relevant[:-1]
        value: object = winner.value
        if kind == "seq":
            value = _conda_merge_seq(relevant)
        elif kind == "map":
            value = _conda_merge_map(relevant)
        shadowed = (
            default_item,
            *((_conda_display(kind, m.value, ctx), m.source) for m in lower),
            *ignored,
        )
        settings[name] = Setting(name, _conda_display(kind, value, ctx), winner.source, shadowed)
    return ToolConfig("conda", settings, _dedupe(problems), files_read)


def conda_base(default_channels: Sequence[str], channel_alias: str) -> str:
    """The mirror base behind ``default_channels``: its ``pkgs/main`` entry less ``/pkgs/main``.

    Names without a scheme are resolved against ``channel_alias`` as conda does.
    """
    urls = [
        channel if "://" in channel else f"{channel_alias.rstrip('/')}/{channel}"
        for channel in default_channels or CONDA_DEFAULT_CHANNELS
    ]
    for url in urls:
        stripped = url.rstrip("/")
        if stripped.endswith("/pkgs/main"):
            return normalise_endpoint(stripped[: -len("/pkgs/main")])
    for url in urls:
        base = re.sub(r"/pkgs/[^/]+/?$", "", url)
        if base != url:
            return normalise_endpoint(base)
    return normalise_endpoint(urls[0])


# ---------------------------------------------------------------------------
# Docker
# ---------------------------------------------------------------------------

_DOCKER_DEFAULT = Source("default", "dockerd")


def _docker_load(path: Path, problems: list[ConfigProblem]) -> dict[str, object] | None:
    text = _read_text(path, problems)
    if text is None:
        return None
    if text.startswith("\ufeff"):
        # Seen with Debian 12's dockerd 20.10: "invalid character 'ï' looking for
        # beginning of value".  The settings are still read, as a newer dockerd would.
        problems.append(
            ConfigProblem(
                str(path),
                1,
                "starts with a byte-order mark, which dockerd 20.10 refuses: save it without "
                "one (envdoctor apply drops it)",
            )
        )
        text = text.removeprefix("\ufeff")
    if not text.strip():  # dockerd takes an empty file as no settings
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(
            ConfigProblem(
                str(path), exc.lineno, f"invalid JSON ({exc.msg}): dockerd refuses to start"
            )
        )
        return None
    if not isinstance(data, dict):
        problems.append(
            ConfigProblem(str(path), 1, "is not a JSON object: dockerd refuses to start")
        )
        return None
    return data


def _docker_mirror_problem(mirror: str) -> str | None:
    """registry.ValidateMirror: http(s), no path, query, fragment or credentials."""
    try:
        parts = urlsplit(mirror)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must not have a path, query or fragment"
    if parts.username is not None:
        return "must not carry a username or password"
    return None


def _docker_list(
    data: Mapping[str, object], key: str, path: Path, problems: list[ConfigProblem]
) -> tuple[str, ...] | None:
    raw = data.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        problems.append(
            ConfigProblem(
                str(path), None, f"{key} must be a list of strings: dockerd refuses to start"
            )
        )
        return None
    return tuple(cast("list[str]", raw))


def resolve_docker(ctx: Context) -> ToolConfig:
    """``registry-mirrors`` and ``insecure-registries`` from ``/etc/docker/daemon.json``.

    When ``$XDG_CONFIG_HOME/docker/daemon.json`` exists (rootless Docker's file) its values
    are reported as ``rootless.registry-mirrors`` and ``rootless.insecure-registries``.
    Flags given to dockerd itself (``--registry-mirror``) are not seen here.
    """
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    settings: dict[str, Setting] = {}
    system = ctx.path("/etc/docker/daemon.json")
    rootless = ctx.xdg_config_home / "docker" / "daemon.json"
    for prefix, path in (("", system), ("rootless.", rootless)):
        data = _docker_load(path, problems)
        if data is None and prefix and not path.exists():
            continue
        if path.exists():
            files_read.append(str(path))
        for key in ("registry-mirrors", "insecure-registries"):
            values = _docker_list(data or {}, key, path, problems)
            name = prefix + key
            if values is None:
                settings[name] = Setting(name, (), _DOCKER_DEFAULT)
                continue
            if key == "registry-mirrors":
                for mirror in values:
                    reason = _docker_mirror_problem(mirror)
                    if reason:
                        problems.append(
                            ConfigProblem(
                                str(path),
                                None,
                                f"registry mirror {mask_url(mirror)!r} {reason}: "
                                "dockerd refuses to start",
                            )
                        )
            shown = tuple(mask_url(value) for value in values)
            settings[name] = Setting(
                name, shown, Source("file", str(path), key), (((), _DOCKER_DEFAULT),)
            )
    return ToolConfig("docker", settings, _dedupe(problems), files_read)


# ---------------------------------------------------------------------------
# Hugging Face hub and ModelScope (environment only)
# ---------------------------------------------------------------------------

HF_DEFAULT_ENDPOINT = "https://huggingface.co"
_HF_DEFAULT = Source("default", "huggingface_hub")
_HF_TRUE = ("1", "ON", "YES", "TRUE")


def _hf_path(ctx: Context, value: str) -> str:
    return str(_env_path(ctx, _expandvars(_expanduser(ctx, value), ctx.env)))


def _hf_flag(ctx: Context, *variables: str) -> Setting:
    """``_is_true(os.environ.get(a) or os.environ.get(b))`` with where it came from."""
    name = variables[0]
    chain: list[tuple[object, Source]] = [(False, _HF_DEFAULT)]
    for variable in variables:
        raw = ctx.env.get(variable)
        if raw:
            chain.append((raw.upper() in _HF_TRUE, Source("env", variable)))
            break
    return _chain_setting(name, chain)


def _hf_int(ctx: Context, variable: str, default: int, problems: list[ConfigProblem]) -> Setting:
    """``_as_int(os.environ.get(name)) or default``: 0 and unset both mean the default."""
    raw = ctx.env.get(variable)
    chain: list[tuple[object, Source]] = [(default, _HF_DEFAULT)]
    if raw is not None:
        try:
            number = int(raw)
        except ValueError:
            problems.append(
                ConfigProblem(
                    f"${variable}",
                    None,
                    f"{raw!r} is not a whole number: huggingface_hub fails to import",
                )
            )
        else:
            if number:
                chain.append((number, Source("env", variable)))
    return _chain_setting(variable, chain)


def resolve_hf(ctx: Context) -> ToolConfig:
    """The Hugging Face hub's endpoint, cache paths, offline and transfer switches.

    Values as ``huggingface_hub.constants`` reads them at import time; settings are named
    after their variables (``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_CACHE`` ...).
    """
    problems: list[ConfigProblem] = []
    env = ctx.env
    settings: dict[str, Setting] = {}

    endpoint_chain: list[tuple[object, Source]] = [(HF_DEFAULT_ENDPOINT, _HF_DEFAULT)]
    if "HF_ENDPOINT" in env:
        if not env["HF_ENDPOINT"].strip():
            problems.append(
                ConfigProblem("$HF_ENDPOINT", None, "is set but empty: every hub request fails")
            )
        endpoint_chain.append(
            (mask_url(env["HF_ENDPOINT"].rstrip("/")), Source("env", "HF_ENDPOINT"))
        )
    settings["HF_ENDPOINT"] = _chain_setting("HF_ENDPOINT", endpoint_chain)

    cache_base = env["XDG_CACHE_HOME"] if "XDG_CACHE_HOME" in env else str(ctx.home / ".cache")
    home_default = _hf_path(ctx, str(Path(cache_base) / "huggingface"))
    home_source = Source("env", "XDG_CACHE_HOME") if "XDG_CACHE_HOME" in env else _HF_DEFAULT
    home_chain: list[tuple[object, Source]] = [(home_default, home_source)]
    if "HF_HOME" in env:
        home_chain.append((_hf_path(ctx, env["HF_HOME"]), Source("env", "HF_HOME")))
    settings["HF_HOME"] = _chain_setting("HF_HOME", home_chain)
    hf_home = cast("str", settings["HF_HOME"].value)

    cache_chain: list[tuple[object, Source]] = [
        (str(Path(hf_home) / "hub"), settings["HF_HOME"].source)
    ]
    for variable in ("HUGGINGFACE_HUB_CACHE", "HF_HUB_CACHE"):
        if variable in env:
            cache_chain.append((_hf_path(ctx, env[variable]), Source("env", variable)))
    settings["HF_HUB_CACHE"] = _chain_setting("HF_HUB_CACHE", cache_chain)

    settings["HF_HUB_OFFLINE"] = _hf_flag(ctx, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    for variable in ("HF_HUB_DISABLE_XET", "HF_HUB_ENABLE_HF_TRANSFER", "HF_XET_HIGH_PERFORMANCE"):
        settings[variable] = _hf_flag(ctx, variable)
    settings["HF_HUB_DOWNLOAD_TIMEOUT"] = _hf_int(ctx, "HF_HUB_DOWNLOAD_TIMEOUT", 10, problems)
    settings["HF_HUB_ETAG_TIMEOUT"] = _hf_int(ctx, "HF_HUB_ETAG_TIMEOUT", 10, problems)
    return ToolConfig("hf", settings, problems, [])


MODELSCOPE_DEFAULT_DOMAIN = "www.modelscope.cn"
_MODELSCOPE_DEFAULT = Source("default", "modelscope")


def resolve_modelscope(ctx: Context) -> ToolConfig:
    """ModelScope's ``MODELSCOPE_DOMAIN`` (a bare host) and the ``endpoint`` built from it.

    The modelscope SDK uses ``"https://" + domain`` (``modelscope.hub.utils.get_endpoint``);
    a domain written with a scheme is reported as a problem.  ``MODELSCOPE_ENDPOINT``, read
    only by the newer ``modelscope_hub`` package, is reported when set.
    """
    problems: list[ConfigProblem] = []
    chain: list[tuple[object, Source]] = [(MODELSCOPE_DEFAULT_DOMAIN, _MODELSCOPE_DEFAULT)]
    raw = ctx.env.get("MODELSCOPE_DOMAIN")
    if raw:
        # Masked before anything else: "https://" + a URL with credentials would put the
        # userinfo after a "/", where mask_url no longer recognises it.
        raw = mask_url(raw)
        chain.append((raw, Source("env", "MODELSCOPE_DOMAIN")))
        if raw.startswith(("http://", "https://")):
            problems.append(
                ConfigProblem(
                    "$MODELSCOPE_DOMAIN",
                    None,
                    "is a bare host: the modelscope SDK adds https:// itself, "
                    f"so it would use https://{raw}",
                )
            )
    domain = _chain_setting("MODELSCOPE_DOMAIN", chain)
    endpoint = Setting(
        "endpoint",
        mask_url(f"https://{domain.value}"),
        domain.source,
        tuple((f"https://{value}", source) for value, source in domain.shadowed),
    )
    settings = {"MODELSCOPE_DOMAIN": domain, "endpoint": endpoint}
    if ctx.env.get("MODELSCOPE_ENDPOINT"):
        settings["MODELSCOPE_ENDPOINT"] = Setting(
            "MODELSCOPE_ENDPOINT",
            mask_url(ctx.env["MODELSCOPE_ENDPOINT"]),
            Source("env", "MODELSCOPE_ENDPOINT"),
        )
    return ToolConfig("modelscope", settings, problems, [])


# ---------------------------------------------------------------------------
# The configured mirror of every target
# ---------------------------------------------------------------------------


def resolve_all(ctx: Context) -> dict[str, ToolConfig]:
    """Every tool's effective configuration, by target name (``pip`` ... ``modelscope``)."""
    return {
        "pip": resolve_pip(ctx),
        "uv": resolve_uv(ctx),
        "conda": resolve_conda(ctx),
        "docker": resolve_docker(ctx),
        "hf": resolve_hf(ctx),
        "modelscope": resolve_modelscope(ctx),
    }


def configured_mirrors(ctx: Context) -> dict[str, list[str]]:
    """The endpoint base URL(s) each tool uses now: :func:`mirrors_of` what it resolves."""
    return mirrors_of(resolve_all(ctx))


def mirrors_of(configs: Mapping[str, ToolConfig]) -> dict[str, list[str]]:
    """The endpoint base URL(s) in resolved configs, comparable with profile endpoints.

    Every URL is masked and has its trailing ``/`` stripped (:func:`normalise_endpoint`).
    ``pip``: index-url then extra-index-urls (empty with ``no-index``); ``uv``: the default
    index (empty with ``no-index``); ``conda``: the base behind ``default_channels``;
    ``docker``: registry-mirrors, system then rootless (empty means Docker Hub directly);
    ``hf``: the endpoint; ``modelscope``: ``https://`` + domain.
    """
    pip, uv, conda, docker = configs["pip"], configs["uv"], configs["conda"], configs["docker"]
    pip_urls = [
        cast("str", pip.value("index-url")),
        *cast("tuple[str, ...]", pip.value("extra-index-url")),
    ]
    docker_urls = list(cast("tuple[str, ...]", docker.value("registry-mirrors")))
    if "rootless.registry-mirrors" in docker.settings:
        docker_urls += cast("tuple[str, ...]", docker.value("rootless.registry-mirrors"))
    mirrors = {
        "pip": [] if pip.value("no-index") is True else pip_urls,
        "uv": [] if uv.value("no-index") is True else [cast("str", uv.value("default-index"))],
        "conda": [
            conda_base(
                cast("tuple[str, ...]", conda.value("default_channels")),
                cast("str", conda.value("channel_alias")),
            )
        ],
        "docker": docker_urls,
        "hf": [cast("str", configs["hf"].value("HF_ENDPOINT"))],
        "modelscope": [cast("str", configs["modelscope"].value("endpoint"))],
    }
    normalised = {
        target: [normalise_endpoint(url) for url in urls] for target, urls in mirrors.items()
    }
    return {target: _unique(url for url in urls if url) for target, urls in normalised.items()}
