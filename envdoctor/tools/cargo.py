"""cargo: a source replacement for crates.io in ``$CARGO_HOME/config.toml``
(``~/.cargo/config.toml``), pointing at a sparse index mirror.

Written as the mirrors document it::

    [source.crates-io]
    replace-with = "mirror"

    [source.mirror]
    registry = "sparse+https://mirrors.example.org/crates.io-index/"

through tomlkit, so comments, other tables (``[build]``, ``[net]``, ``[registries.*]``) and
key order stay.  A replacement that already names a registry source is repointed in place
under its own name; one that names a vendored directory or local registry is left alone.
Cargo reads ``.cargo/config.toml`` in the working directory and every parent before
``$CARGO_HOME/config.toml`` (nearer files win; ``config`` without an extension beats
``config.toml`` in one directory).  Source replacement cannot be set by environment
variables; the ``CARGO_REGISTRIES_*`` variables cargo does read are diagnosed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Table

from envdoctor import toml10
from envdoctor.checkup import (
    Checkup,
    Finding,
    Remedies,
    Row,
    add_problems,
    drift,
    source_text,
    tool_details,
)
from envdoctor.configfiles import (
    MAX_NESTING,
    ConfigProblem,
    Setting,
    Source,
    ToolConfig,
    chain_setting,
    decode_utf8,
    env_path,
    is_within,
    memoized,
    read_existing,
    read_text,
    restore_line_endings,
    split_lines,
)
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.net.session import PullPath
from envdoctor.planning import ApplyOptions
from envdoctor.profile_checks import ProfileFile, check_url, show, toml_table
from envdoctor.profiles import Profile
from envdoctor.redact import mask_url, unmasked
from envdoctor.results import FileChange, Status, TargetPlan
from envdoctor.toml_scan import header_starts, sparse_tables
from envdoctor.tools import PullOptions

NAME = "cargo"
TITLE = "cargo (crates.io)"
CRATES_IO_SPARSE = "sparse+https://index.crates.io/"
CRATES_IO_GIT = "https://github.com/rust-lang/crates.io-index"
MIRROR_SOURCE = "mirror"

_CARGO_DEFAULT = Source("default", "cargo")
_VENDORED = ("directory", "local-registry", "git")


def cargo_home(ctx: Context) -> Path:
    value = ctx.env.get("CARGO_HOME")
    return env_path(ctx, value) if value else ctx.home / ".cargo"


def config_files(ctx: Context) -> list[Path]:
    """The files cargo reads, highest priority first: ``.cargo/config[.toml]`` from the
    working directory up, then ``$CARGO_HOME``'s (read once when it is on that path)."""
    inside = ctx.root != Path("/") and is_within(ctx.cwd, ctx.root)
    directories = [
        directory / ".cargo"
        for directory in (ctx.cwd, *ctx.cwd.parents)
        if not inside or is_within(directory, ctx.root)  # an image's tree, not the host's
    ]
    home = cargo_home(ctx)
    if home not in directories:
        directories.append(home)
    found: list[Path] = []
    for directory in directories:
        for name in ("config", "config.toml"):
            if (directory / name).is_file():
                found.append(directory / name)
                break  # cargo uses `config` when both exist
    return found


def _load(ctx: Context, path: Path, problems: list[ConfigProblem]) -> dict[str, Any] | None:
    text = read_text(path, problems)
    if text is None:
        return None
    data, line, message = memoized(ctx, "cargo config", text, functools.partial(_parse, text))
    if message is not None:
        problems.append(ConfigProblem(str(path), line, f"invalid TOML ({message}): cargo stops"))
    return data


def _parse(text: str) -> tuple[dict[str, Any] | None, int | None, str | None]:
    """A cargo config read by tomllib (TOML 1.0, as cargo's toml crate reads it; tomlkit
    took seconds for 1 MiB), or None, the line and why it is refused."""
    try:
        return toml10.loads(text), None, None
    except toml10.TOMLDecodeError as exc:
        message, line, _ = toml10.position(str(exc))
        return None, line, message
    except RecursionError:
        return None, None, f"nests more than {MAX_NESTING} deep"
    except ValueError as exc:  # an integer past Python's 4300-digit limit
        return None, None, str(exc).split(";")[0]


def resolve_cargo(ctx: Context) -> ToolConfig:
    """What cargo downloads crates.io packages from: ``replace-with`` of
    ``[source.crates-io]``, the index of the source it names, and the
    ``CARGO_REGISTRIES_*`` variables."""
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    sources: dict[str, tuple[dict[str, Any], Path]] = {}
    replace: list[tuple[object, Source]] = [(None, _CARGO_DEFAULT)]
    protocol: tuple[str, Source] = ("sparse", _CARGO_DEFAULT)
    for path in reversed(config_files(ctx)):  # lowest priority first
        data = _load(ctx, path, problems)
        files_read.append(str(path))
        registries = data.get("registries") if data else None
        crates_io = registries.get("crates-io") if isinstance(registries, dict) else None
        if isinstance(crates_io, dict) and isinstance(crates_io.get("protocol"), str):
            where = Source("file", str(path), "registries.crates-io.protocol")
            protocol = (crates_io["protocol"], where)
        table = data.get("source") if data else None
        if not isinstance(table, dict):
            continue
        for name, entry in table.items():
            if isinstance(entry, dict):
                merged = {**sources.get(name, ({}, path))[0], **entry}
                sources[name] = (merged, path)
        crates = table.get("crates-io")
        if isinstance(crates, dict) and isinstance(crates.get("replace-with"), str):
            where = Source("file", str(path), "source.crates-io")
            replace.append((crates["replace-with"], where))
    if ctx.env.get("CARGO_REGISTRIES_CRATES_IO_PROTOCOL"):  # the variable over the files
        variable = "CARGO_REGISTRIES_CRATES_IO_PROTOCOL"
        protocol = (ctx.env[variable], Source("env", variable))
    upstream = CRATES_IO_GIT if protocol[0] == "git" else CRATES_IO_SPARSE
    index: list[tuple[object, Source]] = [(upstream, protocol[1])]
    name = replace[-1][0]
    if isinstance(name, str):
        entry, path = sources.get(name, ({}, Path()))
        kind = next((key for key in ("registry", *_VENDORED) if key in entry), None)
        if kind is None:
            problems.append(
                ConfigProblem(
                    replace[-1][1].location,
                    None,
                    f"replace-with names the source {name!r}, which no config file defines: "
                    "cargo stops",
                )
            )
        else:
            index.append((mask_url(str(entry[kind])), Source("file", str(path), f"source.{name}")))
    variables = {
        key: mask_url(value)
        for key, value in sorted(ctx.env.items())
        if key.startswith(("CARGO_REGISTRIES_", "CARGO_REGISTRY_"))
    }
    settings = {
        "replace-with": chain_setting("replace-with", replace),
        "crates-io": chain_setting("crates-io", index),
        "variables": Setting("variables", variables, Source("env", "CARGO_REGISTRIES_*")),
    }
    return ToolConfig(NAME, settings, problems, files_read)


# --- the check ------------------------------------------------------------------------


def _cargo_row(ctx: Context, config: ToolConfig, remedies: Remedies) -> Row:
    index = config.settings["crates-io"]
    source = index.source
    where = "default" if source.kind == "default" else source_text(ctx, source)
    row = Row(NAME, f"crates.io from {index.value} ({where})", tool_details(ctx, config))
    add_problems(row, ctx, config)
    variables = cast("dict[str, str]", config.value("variables"))
    replaced = config.value("replace-with") is not None
    for name, value in variables.items():
        if name == "CARGO_REGISTRIES_CRATES_IO_PROTOCOL" and value == "git" and not replaced:
            row.warn(
                "CARGO_REGISTRIES_CRATES_IO_PROTOCOL=git: cargo clones the whole crates.io "
                "index from GitHub",
                remedies.unset(name),
            )
        elif name == "CARGO_REGISTRIES_CRATES_IO_PROTOCOL":
            reason = "the replacement source is used instead" if replaced else "the default"
            row.findings.append(Finding(Status.OK, f"${name}={value} ({reason})"))
        else:
            row.findings.append(
                Finding(Status.OK, f"${name}={value}: read by cargo, not for crates.io itself")
            )
    if str(index.value).startswith(("https://", "http://")) and "github.com" in str(index.value):
        row.warn("crates.io comes from the git index on GitHub: slow", remedies.apply(NAME))
    profile = remedies.profile
    if profile is not None and profile.cargo is not None:
        drift(
            row,
            profile,
            "crates-io",
            canonical(str(index.value)),
            canonical(profile.cargo.index),
            remedies.apply(NAME),
        )
    return row


# --- the plan -------------------------------------------------------------------------


def config_path(ctx: Context) -> Path:
    """``$CARGO_HOME/config`` when it exists (cargo reads it, not ``config.toml``, when
    both do), else ``config.toml``."""
    home = cargo_home(ctx)
    return home / "config" if (home / "config").is_file() else home / "config.toml"


def edit(
    data: bytes, index: str, display: str, ctx: Context | None = None, *, sparse: bool = True
) -> tuple[bytes, list[str]]:
    """``data`` with crates.io replaced by ``index`` (or the replacement removed when
    ``index`` is crates.io itself); notes.

    tomlkit sees only the top-level keys and the ``[source.*]`` tables
    (:func:`envdoctor.toml_scan.sparse_tables`) when tomllib reads the file, and tomllib
    checks the whole result; else, or with ``sparse=False``, tomlkit edits the whole file
    (the same bytes, slower: the tests compare both).
    """
    text = decode_utf8(data, display, "cargo")
    lines = split_lines(text)
    normalised = "".join(content + "\n" for content, _ in lines)
    if sparse:
        memo = ctx if ctx is not None else Context.for_root(Path("/"))
        parsed = memoized(memo, "cargo config", text, functools.partial(_parse, text))[0]
        if parsed is not None:
            edited = _sparse_edit(normalised, parsed, index, display)
            if edited is not None:
                new_text, notes = edited
                if new_text == normalised:
                    return data, notes
                return restore_line_endings(lines, new_text).encode("utf-8"), notes
    notes, new_text = _edit_with_tomlkit(normalised, index, display)
    if new_text == normalised:
        return data, notes
    return restore_line_endings(lines, new_text).encode("utf-8"), notes


_SOURCE_HEADER = re.compile(
    r"""[ \t]*\[\[?[ \t]*(?:source|"source"|'source')[ \t]*[.\]]|[^\n]*\\"""
)


def _sparse_edit(
    normalised: str, parsed: dict[str, Any], index: str, display: str
) -> tuple[str, list[str]] | None:
    """The edit made with tomlkit shown only what it changes; None when it cannot be."""
    starts = header_starts(normalised)
    keep = [_SOURCE_HEADER.match(normalised, start) is not None for start in starts]
    shown = sparse_tables(normalised, parsed, starts, keep)
    if shown is None:
        return None
    try:
        notes, new_text = _edit_with_tomlkit(shown.text, index, display)
    except _Kept:
        raise
    except EnvdoctorError:
        return None  # the whole file is edited, and says what is wrong
    edited = shown.put_back(new_text)
    if edited is None or not _follows(parsed, edited, index):
        return None
    return edited, notes


def _follows(old: dict[str, Any], new_text: str, index: str) -> bool:
    """Whether ``new_text`` means ``old`` with the edit of :func:`_update` made."""
    new, _, problem = _parse(new_text)
    if new is None or problem is not None:
        return False
    source = old.get("source")
    if canonical(index) == canonical(CRATES_IO_SPARSE):
        crates = source.get("crates-io") if isinstance(source, dict) else None
        if isinstance(crates, dict) and "replace-with" in crates:
            crates = {key: value for key, value in crates.items() if key != "replace-with"}
            source = {**cast("dict[str, Any]", source), "crates-io": crates}
    else:
        source = dict(source) if isinstance(source, dict) else {}
        crates = dict(source.get("crates-io") or {})
        name = crates.get("replace-with")
        if not (isinstance(name, str) and isinstance(source.get(name), dict)):
            name = MIRROR_SOURCE
            crates["replace-with"] = name
        source["crates-io"] = crates
        source[name] = {**(source.get(name) or {}), "registry": index}
    rest = {key: value for key, value in old.items() if key != "source"}
    return new == ({**rest, "source": source} if source is not None else rest)


def _edit_with_tomlkit(normalised: str, index: str, display: str) -> tuple[list[str], str]:
    try:
        document = tomlkit.parse(normalised)
    except tomlkit.exceptions.ParseError as exc:
        problem = str(exc).split(" at line ")[0]
        raise EnvdoctorError(
            f"{display} line {exc.line}: invalid TOML ({problem}); cargo refuses to run with it",
            f"Fix {display}, then run apply again.",
        ) from None
    notes = _update(document, index, display)
    return notes, tomlkit.dumps(document)


def _table(parent: Any, key: str, display: str, *, super_table: bool = False) -> Table:
    found = parent.get(key)
    if found is None:
        found = tomlkit.table(is_super_table=super_table)
        parent.append(key, found)
    if not isinstance(found, Table):
        raise EnvdoctorError(
            f"{display}: {key} is not a table; cargo refuses to run with it",
            f"Fix {display}, then run apply again.",
        )
    return found


def _update(document: Any, index: str, display: str) -> list[str]:
    source = document.get("source")
    upstream = canonical(index) == canonical(CRATES_IO_SPARSE)
    if upstream:
        crates = source.get("crates-io") if isinstance(source, Table) else None
        if isinstance(crates, Table) and "replace-with" in crates:
            del crates["replace-with"]
            return [f"{display}: crates.io is no longer replaced"]
        return []
    source = _table(document, "source", display, super_table=True)
    crates = _table(source, "crates-io", display)
    name = crates.get("replace-with")
    if isinstance(name, str) and isinstance(source.get(name), Table):
        current = source[name]
        vendored = next((key for key in _VENDORED if key in current), None)
        if vendored is not None:
            raise _Kept(f"{display}: crates.io is replaced by the {vendored} source {name!r}")
    else:
        name = MIRROR_SOURCE
        crates["replace-with"] = name
    target = _table(source, str(name), display)
    if target.get("registry") != index:
        target["registry"] = index
    return []


class _Kept(Exception):
    """The replacement is a vendored source: not ours to change."""


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    if profile.cargo is None:
        return TargetPlan(NAME, skipped="the profile does not set cargo")
    if options.scope == "system":
        return TargetPlan(NAME, skipped="cargo has no system-wide file: use the user scope")
    path = config_path(ctx)
    display = ctx.display(path)
    old = read_existing(path, display, "cargo", root=ctx.root)
    try:
        new, notes = edit(old or b"", profile.cargo.index, display, ctx)
    except _Kept as kept:
        return TargetPlan(NAME, skipped=f"{kept}: left as it is")
    change = FileChange(NAME, path, display, old, new, owner=options.owner)
    config = resolve_cargo(ctx)
    replace = config.settings["replace-with"]
    if replace.source.kind == "file" and Path(replace.source.location) != path:
        notes.append(
            f"{ctx.display(Path(replace.source.location))} also replaces crates.io and is "
            f"read before {display} in this directory"
        )
    return TargetPlan(NAME, (change,), tuple(notes))


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    return []


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """Cargo reads no variable for source replacement (``[source]`` has no environment
    form), so a command gets the file's job done only through the file."""
    return []


# --- the Tool protocol ------------------------------------------------------------------

TABLE_KEYS = ("index", "allow-http")
REQUIRED = ("index", 'index = "sparse+https://index.crates.io/"')


@dataclass(frozen=True)
class CargoSettings:
    index: str
    """A sparse index URL, ``sparse+https://.../``, always with its trailing ``/``."""
    allow_http: bool = False


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    for key in table:
        if key not in TABLE_KEYS:
            file.unknown_key((NAME, key), TABLE_KEYS, "key in [cargo]")
    allow_http = table.get("allow-http", False)
    if not isinstance(allow_http, bool):
        file.fail((NAME, "allow-http"), "expected true or false")
    checked: dict[str, Any] = {}
    if "allow-http" in table:
        checked["allow-http"] = allow_http
    if "index" in table:
        value = table["index"]
        if not isinstance(value, str) or not value.startswith("sparse+"):
            file.fail(
                (NAME, "index"),
                f"expected a sparse index URL (sparse+https://...), got {show(str(value))}",
                "Mirrors publish a sparse index: sparse+https://<host>/crates.io-index/.",
            )
        url = check_url(file, (NAME, "index"), value.removeprefix("sparse+"), allow_http)
        checked["index"] = "sparse+" + url.rstrip("/") + "/"
    return checked


def settings(table: Mapping[str, Any]) -> CargoSettings:
    return CargoSettings(table["index"], allow_http=table["index"].startswith("sparse+http://"))


def settings_json(value: CargoSettings) -> dict[str, Any]:
    return {"index": value.index, "allow_http": value.allow_http}


def settings_toml(value: CargoSettings) -> Any:
    table = toml_table({"index": value.index})
    if value.allow_http:
        table.add("allow-http", True)
    return table


def endpoints(value: CargoSettings) -> list[str]:
    return [canonical(value.index)]


def settings_from_url(url: str) -> CargoSettings:
    return CargoSettings("sparse+" + url.rstrip("/") + "/", allow_http=url.startswith("http://"))


def resolve(ctx: Context) -> ToolConfig:
    return resolve_cargo(ctx)


def mirrors(config: ToolConfig) -> list[str]:
    """The index crates.io packages come from, as an https URL (measurable)."""
    url = unmasked(config.value("crates-io"))  # the credentials are for the requests
    return [url] if url.removeprefix("sparse+").startswith(("http://", "https://")) else []


def canonical(url: str) -> str:
    """The https URL of a sparse index, without ``sparse+`` and the trailing ``/``."""
    return mask_url(url.strip()).removeprefix("sparse+").rstrip("/")


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row:
    return _cargo_row(ctx, configs[NAME], checkup.remedies)


PROBE_CRATE = "se/rd/serde"
LARGE_INDEX_FILE = "sy/n/syn"


def pull_path(base_url: str, options: PullOptions | None = None) -> PullPath:
    """A sparse index's first request, ``config.json``, and a large index file (``syn``'s,
    a few hundred KiB) to time."""
    base = canonical(base_url)
    if base == canonical(CRATES_IO_GIT):
        base = canonical(CRATES_IO_SPARSE)
    return PullPath(base_url, NAME, f"{base}/config.json", f"{base}/{LARGE_INDEX_FILE}")
