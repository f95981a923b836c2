"""uv: one ``[[index]]`` with ``default = true`` in uv.toml, pointing at the profile's index.

User scope writes ``$XDG_CONFIG_HOME/uv/uv.toml``, system scope ``/etc/uv/uv.toml``.  The
edit goes through tomlkit, so comments, other tables and other ``[[index]]`` entries stay
as they were.  uv refuses unknown keys, so only keys uv documents are written: ``url`` and
``default`` in an ``[[index]]`` table.  The legacy top-level ``index-url`` (which uv still
reads, after every ``[[index]]``) is removed when present, so the file says one thing.

A byte-order mark and CRLF line endings are kept (uv reads both).  Settings that would
still beat what was written (``UV_DEFAULT_INDEX``, ``UV_INDEX_URL``, a project's
``uv.toml`` or ``[tool.uv]``, ``UV_CONFIG_FILE``) are found with
:func:`envdoctor.resolve_uv` and reported as notes.

Where uv reads its configuration (:func:`resolve_uv`), its traps, its edit, its pull
path and its profile table.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Array, InlineTable, Table
from tomlkit.toml_document import TOMLDocument

from envdoctor import toml10
from envdoctor.checkup import (
    Checkup,
    Finding,
    Remedies,
    Row,
    add_problems,
    drift,
    jsonable,
    other_values,
    source_text,
    tool_details,
)
from envdoctor.configfiles import (
    MAX_NESTING,
    TRUTHY,
    ConfigProblem,
    Setting,
    Source,
    ToolConfig,
    chain_setting,
    decode_utf8,
    dedupe,
    env_path,
    is_within,
    memoized,
    normalise_endpoint,
    read_existing,
    read_text,
    restore_line_endings,
    split_lines,
    strtobool,
)
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.net.session import PullPath
from envdoctor.planning import ApplyOptions, Scope
from envdoctor.profile_checks import (
    ProfileFile,
    add_allow_http,
    any_http,
    check_url_table,
    toml_table,
)
from envdoctor.profiles import Profile
from envdoctor.redact import mask_url
from envdoctor.results import FileChange, Status, TargetPlan
from envdoctor.tools import pip, pip_pull, uv_workspace
from envdoctor.tools.uv_sparse import follows, sparse_for

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
    ctx: Context, path: Path, problems: list[ConfigProblem], consequence: str
) -> dict[str, object] | None:
    text = read_text(path, problems)
    if text is None:
        return None
    data, line, problem = parse_toml(ctx, text)
    if problem is not None:
        problems.append(ConfigProblem(str(path), line, f"{problem}: {consequence}"))
        return None
    return data


_AT_END = " (at end of document)"


def parse_toml(ctx: Context, text: str) -> tuple[dict[str, object] | None, int | None, str | None]:
    """A uv.toml's data as uv's TOML parser reads it, or the line and why it refuses it.

    tomllib follows TOML 1.0, as uv's parser (the ``toml`` crate) does: a bare ``\\r``
    line ending, a duplicate key or a lone surrogate escape stops both.  A byte-order mark
    is skipped, as uv skips it.  Parsed once per run and text.
    """

    def parse() -> tuple[dict[str, object] | None, int | None, str | None]:
        try:
            data = toml10.loads(text.removeprefix(_BOM))
        except toml10.TOMLDecodeError as exc:
            message, line, _ = toml10.position(str(exc))
            if message.endswith(_AT_END):  # the last line, when the document ends too early
                message, line = message.removesuffix(_AT_END), len(text.splitlines()) or 1
            return None, line, f"invalid TOML ({message})"
        except RecursionError:
            return None, None, f"invalid TOML (nests more than {MAX_NESTING} deep)"
        except ValueError as exc:  # an integer past Python's 4300-digit limit
            return None, None, f"refused ({str(exc).split(';')[0]})"
        problem = toml10.nesting_problem(data)
        if problem is not None:
            return None, None, f"invalid TOML ({problem})"
        return data, None, None

    return memoized(ctx, "uv.toml", text, parse)


def _ancestors(ctx: Context, start: Path) -> Iterator[Path]:
    """``start`` and its parents, stopping at ``ctx.root`` when ``start`` lies inside it."""
    stop = ctx.root if ctx.root != Path("/") and is_within(start, ctx.root) else None
    yield start
    for parent in start.parents:
        if stop is not None and not is_within(parent, stop):
            return
        yield parent


def _uv_project(
    ctx: Context, problems: list[ConfigProblem], files_read: list[str]
) -> tuple[Path, dict[str, object], str | None] | None:
    """uv's ``FilesystemOptions::find``: the nearest ``uv.toml`` or ``[tool.uv]`` table,
    from the root of the working directory's workspace (:mod:`~.uv_workspace`)."""
    start = uv_workspace.settings_start(
        ctx.cwd,
        lambda directory: _ancestors(ctx, directory),
        lambda path: _toml_load(ctx, path, [], ""),
    )
    for directory in _ancestors(ctx, start):
        uv_toml = directory / "uv.toml"
        if uv_toml.is_file():
            data = _toml_load(ctx, uv_toml, problems, "uv refuses to run")
            files_read.append(str(uv_toml))
            pyproject = directory / "pyproject.toml"
            if pyproject.is_file():
                adjacent = _toml_load(ctx, pyproject, [], "")
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
            data = _toml_load(ctx, pyproject, problems, "uv warns and skips this file")
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
    if strtobool(ctx.env.get("UV_NO_CONFIG", "")) is True:
        return []
    config_file = ctx.env.get("UV_CONFIG_FILE")
    if config_file:
        # "this file will be used in place of any discovered configuration files"
        path = env_path(ctx, config_file)
        data = _toml_load(ctx, path, problems, "uv refuses to run")
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
        data = _toml_load(ctx, user, problems, "uv refuses to run")
        files_read.append(str(user))
        if data is not None:
            layers.append(_uv_layer(user, data, None, problems))
    system = _uv_system_file(ctx)
    if system is not None:
        data = _toml_load(ctx, system, problems, "uv refuses to run")
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
        flag = strtobool(env["UV_NO_INDEX"])
        if flag is None:
            problems.append(ConfigProblem("$UV_NO_INDEX", None, "is not a boolean: uv stops"))
        else:
            no_index_chain.append((flag, Source("env", "UV_NO_INDEX")))
    settings = {
        "default-index": default_setting,
        "index": index_setting,
        "no-index": chain_setting("no-index", no_index_chain),
    }
    return ToolConfig("uv", settings, dedupe(problems), files_read)


NAME = "uv"

_BOM = "\ufeff"


def config_path(ctx: Context, scope: Scope) -> Path:
    """The uv.toml this target writes for ``scope``."""
    if scope == "system":
        return ctx.path("/etc/uv/uv.toml")
    return ctx.xdg_config_home / "uv" / "uv.toml"


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    """Make the file's default ``[[index]]`` the profile's ``default_index``."""
    settings = profile.uv
    if settings is None:
        return TargetPlan(NAME, skipped="the profile does not set uv")
    path = config_path(ctx, options.scope)
    display = ctx.display(path)
    old = read_existing(path, display, "uv", root=ctx.root)
    new, notes = edit(old or b"", settings.default_index, display, ctx)
    owner = options.owner if options.scope == "user" else None
    change = FileChange(NAME, path, display, old, new, owner=owner)
    notes += _override_notes(ctx, path, display, options.scope)
    return TargetPlan(NAME, (change,), tuple(dict.fromkeys(notes)))


def edit(
    data: bytes, url: str, display: str, ctx: Context | None = None, *, sparse: bool = True
) -> tuple[bytes, list[str]]:
    """``data`` (a uv.toml's bytes) with exactly one default index, at ``url``; notes.

    Raises :class:`EnvdoctorError` naming ``display`` and the line when the file is not
    valid TOML by uv's rules (:func:`parse_toml`, before tomlkit, which is laxer, edits
    it) or its ``index`` is not a list of tables.  With ``ctx``, the check reuses this
    run's parse of the file.  tomlkit sees only the tables the edit touches
    (:func:`envdoctor.tools.uv_sparse.sparse_for`) and tomllib checks the whole result
    (:func:`~envdoctor.tools.uv_sparse.follows`), else tomlkit edits the whole file;
    ``sparse=False`` always does (the same bytes, slower: the tests compare both).
    """
    text = decode_utf8(data, display, "uv")
    parsed, line, problem = parse_toml(ctx or Context.for_root(Path("/")), text)
    if problem is not None:
        where = f"{display} line {line}" if line is not None else display
        raise EnvdoctorError(
            f"{where}: {problem}; uv refuses to run with it",
            f"Fix {display}, then run apply again.",
        )
    if parsed is not None and _follows(parsed, url):
        return data, []  # what the edit below would find: skip tomlkit's slow parse
    bom = _BOM if text.startswith(_BOM) else ""
    lines = split_lines(text[len(bom) :])
    normalised = "".join(content + "\n" for content, _ in lines)
    if sparse and parsed is not None:
        shown = sparse_for(normalised, parsed)
        if shown is not None:
            try:
                notes, new_text = _edit_with_tomlkit(shown.text, url, display)
            except EnvdoctorError:
                pass  # tomlkit reads the whole file below, and says what it refuses
            else:
                edited = shown.put_back(new_text)
                if edited == normalised:
                    return data, notes
                if edited is not None:
                    restored = restore_line_endings(lines, edited)
                    if follows(parsed, restored, url):
                        return (bom + restored).encode("utf-8"), notes
    notes, new_text = _edit_with_tomlkit(normalised, url, display)
    if new_text == normalised:
        return data, notes
    return (bom + restore_line_endings(lines, new_text)).encode("utf-8"), notes


def _edit_with_tomlkit(normalised: str, url: str, display: str) -> tuple[list[str], str]:
    try:
        document = tomlkit.parse(normalised)
    except tomlkit.exceptions.ParseError as exc:
        problem = str(exc).split(" at line ")[0]
        raise EnvdoctorError(
            f"{display} line {exc.line}: invalid TOML ({problem}); uv refuses to run with it",
            f"Fix {display}, then run apply again.",
        ) from None
    except tomlkit.exceptions.TOMLKitError as exc:
        raise EnvdoctorError(
            f"{display}: invalid TOML ({exc}); uv refuses to run with it",
            f"Fix {display}, then run apply again.",
        ) from None
    notes = _update(document, url, display)
    return notes, tomlkit.dumps(document)


# --- reading ---------------------------------------------------------------------------


# --- editing ---------------------------------------------------------------------------


def _follows(data: Mapping[str, object], url: str) -> bool:
    """True when ``data`` already has one default index, at ``url``, and no index-url."""
    indexes = data.get("index", [])
    if "index-url" in data or not isinstance(indexes, list):
        return False
    if not all(isinstance(entry, dict) for entry in indexes):
        return False
    defaults = [entry for entry in indexes if entry.get("default") is True]
    return len(defaults) == 1 and defaults[0].get("url") == url


def _update(document: TOMLDocument, url: str, display: str) -> list[str]:
    notes: list[str] = []
    indexes = document.get("index")
    if indexes is None:
        indexes = tomlkit.aot()
        document.append("index", indexes)
    if not isinstance(indexes, AoT | Array) or not all(
        isinstance(entry, Table | InlineTable) for entry in indexes
    ):
        raise EnvdoctorError(
            f"{display}: index must be a list of [[index]] tables; uv refuses to run with it",
            f"Fix {display}, then run apply again.",
        )
    defaults = [entry for entry in indexes if entry.get("default") is True]
    if defaults:
        keep = defaults[0]
        if keep.get("url") != url:
            keep["url"] = url
        for extra in defaults[1:]:
            # uv only ever uses the first default index: the others are dead settings.
            notes.append(
                f"{display}: removed a second default [[index]] "
                f"({mask_url(str(extra.get('url', '')))}); uv uses only the first"
            )
            _remove(indexes, extra)
    else:
        entry: Any = tomlkit.table() if isinstance(indexes, AoT) else tomlkit.inline_table()
        entry["url"] = url
        entry["default"] = True
        if isinstance(indexes, AoT) and list(document)[-1] != "index":
            entry.add(tomlkit.nl())  # keep a blank line before the table that follows
        indexes.append(entry)
    legacy = document.get("index-url")
    if legacy is not None:
        # uv reads index-url after every [[index]]: the default index above wins anyway,
        # so the legacy key only misleads people reading the file.
        del document["index-url"]
        notes.append(
            f"{display}: replaced the legacy index-url ({mask_url(str(legacy))}) with "
            "[[index]] default = true"
        )
    return notes


def _remove(indexes: AoT | Array, entry: Table | InlineTable) -> None:
    for position, candidate in enumerate(indexes):
        if candidate is entry:
            del indexes[position]
            return


# --- what would still win --------------------------------------------------------------


def _override_notes(ctx: Context, path: Path, display: str, scope: Scope) -> list[str]:
    env = ctx.env
    if env.get("UV_NO_CONFIG", "").lower() in TRUTHY:
        return [f"UV_NO_CONFIG is set: uv reads no configuration file, {display} included"]
    if env.get("UV_CONFIG_FILE"):
        return [
            f"UV_CONFIG_FILE={env['UV_CONFIG_FILE']} is set: uv reads that file instead of "
            f"{display}; unset it, or put the index there"
        ]
    notes: list[str] = []
    config = resolve_uv(ctx)
    setting = config.settings["default-index"]
    for value, source in (*setting.shadowed, (setting.value, setting.source)):
        shown = mask_url(str(value))
        if source.kind == "env":
            notes.append(
                f"${source.location}={shown} overrides the default index in {display}: "
                f"unset {source.location}"
            )
        elif source.kind == "file" and source.location != str(path):
            is_index_table = (source.section or "").endswith("index")
            is_higher = scope == "system" or not _is_system_file(ctx, source.location)
            if is_index_table and is_higher:
                notes.append(
                    f"{source} sets a default index ({shown}) that uv uses before "
                    f"{display}: remove it there"
                )
    no_index = config.settings["no-index"]
    if no_index.value is True:
        notes.append(
            f"{no_index.source} sets no-index: uv ignores every index, the one written included"
        )
    return notes


def _is_system_file(ctx: Context, location: str) -> bool:
    candidate = Path(location)
    system_dirs = [ctx.path("/etc/uv"), ctx.path("/etc/xdg/uv")]
    system_dirs += [Path(entry) / "uv" for entry in ctx.env.get("XDG_CONFIG_DIRS", "").split(":")]
    return candidate.name == "uv.toml" and candidate.parent in system_dirs


def _uv_row(ctx: Context, config: ToolConfig, remedies: Remedies, pip_index: str) -> Row:
    default = config.settings["default-index"]
    row = Row(
        "uv",
        f"default index {default.value} from {source_text(ctx, default.source)}",
        tool_details(ctx, config),
    )
    add_problems(row, ctx, config)
    if default.source.kind == "env":
        others = other_values(default)
        if others:
            row.warn(
                f"${default.source.location} overrides the default index {others[-1][0]} "
                f"from {source_text(ctx, others[-1][1])}",
                remedies.unset(default.source.location),
            )
    uv_index = normalise_endpoint(str(default.value))
    pip_norm = normalise_endpoint(pip_index)
    upstream = normalise_endpoint(UV_DEFAULT_INDEX)
    row.details["pip_index"] = pip_norm
    if config.value("no-index") is not True and uv_index != pip_norm:
        if upstream in (uv_index, pip_norm):
            # Only one of the two was switched: the user most likely expects both on the mirror.
            missing = "uv" if uv_index == upstream else "pip"
            row.warn(
                f"uv uses {uv_index} but pip uses {pip_norm}: {missing} still goes to PyPI",
                remedies.apply(missing)
                or (
                    f'add [[index]] url = "{pip_norm}" default = true to ~/.config/uv/uv.toml'
                    if missing == "uv"
                    else f"set index-url = {uv_index} in [global] of ~/.config/pip/pip.conf"
                ),
            )
        else:
            row.findings.append(
                Finding(Status.OK, f"uv and pip use different indexes ({uv_index}, {pip_norm})")
            )
    profile = remedies.profile
    if profile is not None and profile.uv is not None:
        drift(
            row,
            profile,
            "default-index",
            uv_index,
            normalise_endpoint(profile.uv.default_index),
            remedies.apply("uv"),
        )
    return row


# --- the Tool protocol ------------------------------------------------------------------

TITLE = "uv"
TABLE_KEYS = ("default-index", "allow-http")
URL_KEYS = ("default-index",)
REQUIRED = ("default-index", 'default-index = "https://pypi.org/simple"')


@dataclass(frozen=True)
class UvSettings:
    default_index: str
    allow_http: bool = False


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    return check_url_table(file, NAME, table, TABLE_KEYS, URL_KEYS)


def settings(table: Mapping[str, Any]) -> UvSettings:
    return UvSettings(table["default-index"], allow_http=any_http([table["default-index"]]))


def settings_json(value: UvSettings) -> dict[str, Any]:
    return {"default_index": value.default_index, "allow_http": value.allow_http}


def settings_toml(value: UvSettings) -> Any:
    table = toml_table({"default-index": value.default_index})
    add_allow_http(table, value.allow_http)
    return table


def endpoints(value: UvSettings) -> list[str]:
    return [value.default_index]


def resolve(ctx: Context) -> ToolConfig:
    return resolve_uv(ctx)


def mirrors(config: ToolConfig) -> list[str]:
    """The default index (none with ``no-index``)."""
    if config.value("no-index") is True:
        return []
    return [cast("str", config.value("default-index"))]


def canonical(url: str) -> str:
    return normalise_endpoint(url)


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row:
    pip_index = str(jsonable(configs["pip"].value("index-url")))
    return _uv_row(ctx, configs[NAME], checkup.remedies, pip_index)


PARALLEL_ADVICE = (
    "uv downloads up to UV_CONCURRENT_DOWNLOADS files at once (default 50; "
    "concurrent-downloads in uv.toml), each over one connection: keep it well above 1 "
    "for installs of many files; a single large wheel is not split, so it comes at one "
    "connection's rate"
)
"""Checked against uv's environment-variable reference and ``uv.toml`` settings
(``concurrent-downloads``); the default is ``Concurrency::DEFAULT_DOWNLOADS`` (50)."""


def pull_path(base_url: str, options: object | None = None) -> PullPath:
    """uv's pull path for ``base_url``, compared with PyPI (:func:`pull_path_against`)."""
    return pull_path_against(base_url, None)


def pull_path_against(base_url: str, upstream: str | None) -> PullPath:
    """uv asks an index what pip asks: the same simple pages (with uv's ``Accept``) and
    the same wheel, with its own (reqwest's) proxy rules; ``upstream`` as for pip
    (:func:`envdoctor.tools.pip.pull_path_against`)."""
    path = pip.pull_path_against(base_url, upstream)
    steps = functools.partial(
        pip_pull.find_wheel,
        base_url.strip().rstrip("/"),
        pip.PYPI_LARGE_PROJECT,
        accept=pip_pull.UV_ACCEPT,
        upstream=upstream,
    )
    return replace(
        path, kind="pip", proxy_rules="uv", large_file=steps, parallel_advice=PARALLEL_ADVICE
    )


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    return []


UV_DEFAULT_INDEX_SINCE = (0, 4, 23)
"""The first uv that reads ``UV_DEFAULT_INDEX``; older ones read only ``UV_INDEX_URL``."""


def installed_version(ctx: Context) -> tuple[int, ...] | None:
    """The version of the ``uv`` on ``ctx``'s PATH, or None when there is none."""
    program = shutil.which("uv", path=ctx.env.get("PATH"))
    if program is None:
        return None
    try:
        out = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(part) for part in match.groups()) if match else None


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """``UV_DEFAULT_INDEX`` for uv 0.4.23 and later (also when no uv is installed yet: a new
    install is newer), ``UV_INDEX_URL`` for an older installed uv."""
    if profile.uv is None:
        return []
    version = installed_version(ctx)
    name = (
        "UV_INDEX_URL"
        if version is not None and version < UV_DEFAULT_INDEX_SINCE
        else ("UV_DEFAULT_INDEX")
    )
    return [(name, profile.uv.default_index)]
