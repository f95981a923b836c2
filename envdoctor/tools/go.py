"""Go modules: ``GOPROXY`` (and ``GOSUMDB`` where the mirror proxies the checksum database)
in the file ``go env GOENV`` names, written the way ``go env -w`` writes it.

The file is ``$GOENV``, else ``$XDG_CONFIG_HOME/go/env`` (``~/.config/go/env``); one
``KEY=VALUE`` per line, unquoted, comments and other keys kept (``go env -w`` replaces the
line of its key and appends new keys at the end).  Go reads, lowest first: its built-in
defaults, ``$GOROOT/go.env`` (Go 1.21 and later), this file, then the environment, so a
``GOPROXY`` variable beats the file (``go env -w`` itself only warns about that).

``GOSUMDB`` is written only when the profile names a mirror of ``sum.golang.org``
(``sumdb``): the value ``sum.golang.org <mirror URL>`` keeps the database's built-in public
key, so every checksum is still verified.  Without one the default stays: go then asks
``<proxy>/sumdb/sum.golang.org/supported`` first and uses the proxy for the database when
it says yes.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envdoctor.checkup import Checkup, Remedies, Row, add_problems, drift, source_text, tool_details
from envdoctor.configfiles import (
    ConfigProblem,
    Source,
    ToolConfig,
    chain_setting,
    decode_utf8,
    env_path,
    normalise_endpoint,
    read_existing,
    read_text,
    split_lines,
)
from envdoctor.context import Context
from envdoctor.net.session import PullPath
from envdoctor.planning import ApplyOptions
from envdoctor.profile_checks import (
    ProfileFile,
    add_allow_http,
    any_http,
    check_url_table,
    toml_table,
)
from envdoctor.profiles import Profile
from envdoctor.redact import Masked, mask_url, unmasked
from envdoctor.results import FileChange, TargetPlan
from envdoctor.tools import PullOptions

NAME = "go"
TITLE = "Go modules"
GO_DEFAULT_PROXY = "https://proxy.golang.org,direct"
GO_DEFAULT_SUMDB = "sum.golang.org"
KEYS = ("GOPROXY", "GOSUMDB")

_GO_DEFAULT = Source("default", "go")


def env_file(ctx: Context) -> Path | None:
    """What ``go env GOENV`` prints: ``$GOENV`` (``off``: none), else
    ``os.UserConfigDir()/go/env``; None when Go reads no such file."""
    named = ctx.env.get("GOENV")
    if named is not None and named != "":
        return None if named == "off" else env_path(ctx, named)
    config = ctx.env.get("XDG_CONFIG_HOME", "")
    if config:
        return Path(config) / "go" / "env" if config.startswith("/") else None
    return ctx.home / ".config" / "go" / "env"


def goroot_env(ctx: Context) -> Path | None:
    """``$GOROOT/go.env`` of the ``go`` on PATH (Go 1.21 and later ship one)."""
    root = ctx.env.get("GOROOT")
    if not root:
        found = shutil.which("go", path=ctx.env.get("PATH"))
        if found is None:
            return None
        root = str(Path(os.path.realpath(found)).parent.parent)
    path = Path(root) / "go.env"
    return path if path.is_file() else None


def read_env_file(text: str) -> dict[str, tuple[str, int]]:
    """``KEY -> (value, line)`` as Go reads its env files (first ``=`` splits; ``#`` lines
    and lines without ``=`` skipped; a later line of a key wins)."""
    values: dict[str, tuple[str, int]] = {}
    for number, (line, _) in enumerate(split_lines(text), 1):
        key, sep, value = line.partition("=")
        if not line or line.startswith("#") or not sep:
            continue
        values[key] = (value, number)
    return values


def resolve_go(ctx: Context) -> ToolConfig:
    """``GOPROXY`` and ``GOSUMDB`` with their chain: default, go.env, GOENV file, variable."""
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    chains: dict[str, list[tuple[object, Source]]] = {
        "GOPROXY": [(GO_DEFAULT_PROXY, _GO_DEFAULT)],
        "GOSUMDB": [(GO_DEFAULT_SUMDB, _GO_DEFAULT)],
    }
    for path in (goroot_env(ctx), env_file(ctx)):
        if path is None:
            continue
        text = read_text(path, problems)
        if text is None:
            continue
        files_read.append(str(path))
        for key, (value, line) in read_env_file(text).items():
            if key in chains:
                chains[key].append((mask_list(value), Source("file", str(path), f"line {line}")))
    for key in KEYS:
        if ctx.env.get(key):
            chains[key].append((mask_list(ctx.env[key]), Source("env", key)))
    settings = {key: chain_setting(key, chain) for key, chain in chains.items()}
    return ToolConfig(NAME, settings, problems, files_read)


def mask_list(value: str) -> str:
    """A ``GOPROXY`` list with the credentials of each of its URLs masked (a
    :class:`~envdoctor.redact.Masked` that keeps them for the requests)."""
    shown = _LIST_ITEM.sub(lambda item: mask_url(item.group(0)), value)
    return value if shown == value else Masked(shown, value)


_LIST_ITEM = re.compile(r"[^,|]+")


def proxies(value: str) -> list[str]:
    """The proxy URLs of a ``GOPROXY`` list (``,`` and ``|`` separate; ``direct`` and
    ``off`` are not proxies)."""
    urls = [part.strip() for part in value.replace("|", ",").split(",")]
    return [url for url in urls if url and url not in ("direct", "off")]


# --- the check ------------------------------------------------------------------------


def _go_row(ctx: Context, config: ToolConfig, remedies: Remedies) -> Row:
    proxy = config.settings["GOPROXY"]
    sumdb = config.settings["GOSUMDB"]
    row = Row(
        NAME,
        f"GOPROXY {proxy.value} from {source_text(ctx, proxy.source)}; GOSUMDB {sumdb.value}",
        tool_details(ctx, config),
    )
    add_problems(row, ctx, config)
    for setting in (proxy, sumdb):
        files = [s for _, s in setting.shadowed if s.kind == "file"]
        if setting.source.kind == "env" and files:
            row.warn(
                f"${setting.name} overrides {setting.name} in {source_text(ctx, files[-1])}",
                remedies.unset(setting.name),
            )
    if str(proxy.value).strip() in ("off", "direct", ""):
        row.warn(
            f"GOPROXY is {proxy.value!r}: every module is fetched from its own host",
            remedies.apply(NAME) or f"go env -w GOPROXY={GO_DEFAULT_PROXY}",
        )
    if str(sumdb.value).strip() == "off":
        row.warn(
            "GOSUMDB is off: downloaded modules are not checked against the checksum database",
            "go env -u GOSUMDB",
        )
    profile = remedies.profile
    if profile is not None and profile.go is not None:
        drift(row, profile, "GOPROXY", proxy.value, goproxy(profile.go), remedies.apply(NAME))
    return row


# --- the plan -------------------------------------------------------------------------


def goproxy(value: GoSettings) -> str:
    return f"{value.proxy},direct"


def gosumdb(value: GoSettings) -> str | None:
    return None if value.sumdb is None else f"{GO_DEFAULT_SUMDB} {value.sumdb}"


def _line_key(line: str) -> str:
    """Go's ``lineToKey``: the text before the first ``=``, unless it holds a ``#``."""
    key, sep, _ = line.partition("=")
    return "" if not sep or "#" in key else key


def edit(data: bytes, values: Mapping[str, str | None], display: str) -> bytes:
    """``data`` as ``go env -w`` (a value) and ``go env -u`` (None) leave it, following
    ``updateEnvFile``: every duplicate key but its last line dropped, a key's line replaced
    or appended, then each run of ``KEY=VALUE`` lines (between comments, blank or other
    lines) sorted by key."""
    text = decode_utf8(data, display, "go")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    last: dict[str, int] = {}
    for index, line in enumerate(lines):
        key = _line_key(line)
        if key:
            if key in last:
                lines[last[key]] = ""
            last[key] = index
    for key, wanted in values.items():
        if key in last:
            lines[last[key]] = "" if wanted is None else f"{key}={wanted}\n"
        elif wanted is not None:
            lines.append(f"{key}={wanted}\n")
    start = 0
    for index in range(len(lines) + 1):
        if index == len(lines) or not _line_key(lines[index]):
            lines[start:index] = sorted(lines[start:index], key=_line_key)
            start = index + 1
    new = "".join(lines).encode("utf-8")
    return data if new == data else new


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    if profile.go is None:
        return TargetPlan(NAME, skipped="the profile does not set go")
    if options.scope == "system":
        return TargetPlan(
            NAME, skipped="Go has no system-wide file of its own: use the user scope or env"
        )
    path = env_file(ctx)
    if path is None:
        return TargetPlan(
            NAME, skipped="GOENV=off (or a relative XDG_CONFIG_HOME): go reads no file"
        )
    display = ctx.display(path)
    old = read_existing(path, display, "go", root=ctx.root)
    notes: list[str] = []
    values: dict[str, str | None] = {"GOPROXY": goproxy(profile.go)}
    sumdb = gosumdb(profile.go)
    current = read_env_file(decode_utf8(old or b"", display, "go")).get("GOSUMDB")
    if sumdb is not None:
        values["GOSUMDB"] = sumdb
    elif current is not None and current[0].startswith(f"{GO_DEFAULT_SUMDB} "):
        values["GOSUMDB"] = None  # a mirror of the database another profile wrote
        notes.append(
            f"{display}: GOSUMDB back to the default: the profile names no mirror of the "
            "checksum database (go asks the proxy's /sumdb/ first)"
        )
    else:
        notes.append(
            "GOSUMDB stays as it is: the profile names no mirror of the checksum database "
            "(go asks the proxy's /sumdb/ first)"
        )
    new = edit(old or b"", values, display)
    owner = options.owner
    change = FileChange(NAME, path, display, old, new, owner=owner)
    for key in KEYS:
        if ctx.env.get(key) and (key == "GOPROXY" or sumdb is not None):
            notes.append(f"${key}={mask_list(ctx.env[key])} overrides {display}: unset it")
    return TargetPlan(NAME, (change,), tuple(notes))


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    return []


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """``GOPROXY`` (and ``GOSUMDB`` with a mirror of the database) for one command."""
    if profile.go is None:
        return []
    found = [("GOPROXY", goproxy(profile.go))]
    sumdb = gosumdb(profile.go)
    return found + ([("GOSUMDB", sumdb)] if sumdb else [])


# --- the Tool protocol ------------------------------------------------------------------

TABLE_KEYS = ("proxy", "sumdb", "allow-http")
REQUIRED = ("proxy", 'proxy = "https://proxy.golang.org"')


@dataclass(frozen=True)
class GoSettings:
    proxy: str
    """One module proxy; written as ``GOPROXY=<proxy>,direct``."""
    sumdb: str | None = None
    """A mirror of ``sum.golang.org`` (``<proxy>/sumdb/sum.golang.org``), or None."""
    allow_http: bool = False


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    checked = check_url_table(file, NAME, table, TABLE_KEYS, ("proxy", "sumdb"))
    for key in ("proxy", "sumdb"):
        if key in checked:
            checked[key] = checked[key].rstrip("/")
    return checked


def settings(table: Mapping[str, Any]) -> GoSettings:
    urls = [table["proxy"], *([table["sumdb"]] if "sumdb" in table else [])]
    return GoSettings(table["proxy"], table.get("sumdb"), allow_http=any_http(urls))


def settings_json(value: GoSettings) -> dict[str, Any]:
    return {
        "proxy": value.proxy,
        "sumdb": value.sumdb,
        "GOPROXY": goproxy(value),
        "GOSUMDB": gosumdb(value) or GO_DEFAULT_SUMDB,
        "allow_http": value.allow_http,
    }


def settings_toml(value: GoSettings) -> Any:
    table = toml_table({"proxy": value.proxy})
    if value.sumdb:
        table.add("sumdb", value.sumdb)
    add_allow_http(table, value.allow_http)
    return table


def endpoints(value: GoSettings) -> list[str]:
    return [value.proxy]


def settings_from_url(url: str) -> GoSettings:
    return GoSettings(url.rstrip("/"), allow_http=url.startswith("http://"))


def resolve(ctx: Context) -> ToolConfig:
    return resolve_go(ctx)


def mirrors(config: ToolConfig) -> list[str]:
    return proxies(unmasked(config.value("GOPROXY")))  # the credentials are for the requests


def canonical(url: str) -> str:
    return normalise_endpoint(url)


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row:
    return _go_row(ctx, configs[NAME], checkup.remedies)


PROBE_MODULE = "golang.org/x/text"
LARGE_ZIP = "golang.org/x/text/@v/v0.21.0.zip"


def pull_path(base_url: str, options: PullOptions | None = None) -> PullPath:
    """The go command's first request for a module, ``<proxy>/<module>/@v/list``, and a
    module zip (golang.org/x/text, about 9 MiB) to time."""
    base = base_url.strip().rstrip("/")
    return PullPath(base_url, NAME, f"{base}/{PROBE_MODULE}/@v/list", f"{base}/{LARGE_ZIP}")
