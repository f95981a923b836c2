"""npm (and pnpm and yarn 1, which read the same ``.npmrc``): ``registry`` in the user's
``~/.npmrc`` or the global npmrc.

The edit changes the top-level ``registry`` lines only: scoped registries
(``@scope:registry``), auth tokens (``//host/:_authToken``), comments and every other line
stay byte for byte, and no value of a credential is ever shown (diffs mask them, the check
never reads them).  npm's own precedence is followed (``@npmcli/config``): built-in npmrc,
global (``$PREFIX/etc/npmrc``), user (``~/.npmrc`` or ``npm_config_userconfig``), project
(the ``.npmrc`` of the nearest directory above the working directory with a
``package.json`` or ``node_modules``), then ``npm_config_*`` variables (any case; empty
values ignored).
"""

from __future__ import annotations

import re
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
    expanduser,
    normalise_endpoint,
    read_existing,
    read_text,
    split_lines,
)
from envdoctor.context import Context
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
from envdoctor.results import FileChange, TargetPlan
from envdoctor.safewrite import resolve_target
from envdoctor.tools import PullOptions

NAME = "npm"
TITLE = "npm"
NPM_DEFAULT_REGISTRY = "https://registry.npmjs.org/"

_NPM_DEFAULT = Source("default", "npm")
_SECTION = re.compile(r"^\s*\[.*\]\s*$")
_ENV_REF = re.compile(r"(?<!\\)\$\{([^${}]+)\}")


# --- where npm reads its configuration --------------------------------------------------


def npm_env(ctx: Context, key: str) -> list[tuple[str, str]]:
    """``npm_config_<key>`` variables in any case, as npm matches them; empty ones skipped."""
    wanted = key.replace("-", "_").lower()
    return [
        (name, value)
        for name, value in sorted(ctx.env.items())
        if name.lower() == f"npm_config_{wanted}" and value != ""
    ]


def _program_prefix(ctx: Context, program: str) -> Path | None:
    """Where ``program`` on PATH really is, its links followed (inside an image under
    ``--root``)."""
    found = ctx.program_path(program)
    return resolve_target(found, ctx.root) if found is not None else None


def builtin_config(ctx: Context) -> Path | None:
    """``<npm's own directory>/npmrc``: npm-cli.js lives in ``<dir>/bin``."""
    cli = _program_prefix(ctx, "npm")
    return cli.parent.parent / "npmrc" if cli is not None else None


@dataclass(frozen=True)
class NpmFiles:
    """The npmrc files npm reads, in its order (builtin, global, user, project)."""

    builtin: Path | None
    global_: Path
    user: Path
    project: Path


def config_files(ctx: Context) -> NpmFiles:
    """Where npm's files are, each file read once.  npm reads the project file, then the
    user one (``userconfig`` in the project or builtin file moves it), then the global one
    (``globalconfig``, else the ``etc/npmrc`` of the ``prefix``, in the project, user or
    builtin file, then ``$PREFIX``, else of the prefix above the ``node`` binary:
    ``/usr/bin/node`` -> ``/usr/etc/npmrc``).  A variable (``npm_config_<key>``) beats
    every file."""
    texts: dict[Path, str | None] = {}

    def setting(key: str, *files: Path | None) -> str | None:
        named = npm_env(ctx, key)
        if named:
            return named[-1][1]
        for path in files:
            if path is None:
                continue
            if path not in texts:
                texts[path] = read_text(path, [])
            text = texts[path]
            value = read_key(text.removeprefix("\ufeff"), key, ctx.env)[0] if text else None
            if value:
                return value
        return None

    def as_path(value: str) -> Path:
        return env_path(ctx, expanduser(ctx, value))

    builtin, project = builtin_config(ctx), project_config(ctx)
    named = setting("userconfig", project, builtin)
    user = as_path(named) if named is not None else ctx.home / ".npmrc"
    named = setting("globalconfig", project, user, builtin)
    if named is not None:
        return NpmFiles(builtin, as_path(named), user, project)
    prefix = setting("prefix", project, user, builtin) or ctx.env.get("PREFIX") or None
    if prefix is None:
        node = _program_prefix(ctx, "node")
        base = node.parent.parent if node is not None else Path("/usr/local")
    else:
        base = Path(expanduser(ctx, prefix))
        if not base.is_absolute():  # npm resolves it against the working directory
            return NpmFiles(builtin, ctx.cwd / base / "etc" / "npmrc", user, project)
    return NpmFiles(builtin, ctx.path(str(base / "etc" / "npmrc")), user, project)


def global_config(ctx: Context) -> Path:
    """The global npmrc (:func:`config_files`)."""
    return config_files(ctx).global_


def user_config(ctx: Context) -> Path:
    """The user npmrc (:func:`config_files`)."""
    return config_files(ctx).user


def project_config(ctx: Context) -> Path:
    """The ``.npmrc`` of npm's local prefix: the nearest directory from the working directory
    up with a ``package.json`` or ``node_modules``, else the working directory."""
    for directory in (ctx.cwd, *ctx.cwd.parents):
        if (directory / "package.json").exists() or (directory / "node_modules").exists():
            return directory / ".npmrc"
        if directory == ctx.root:
            break
    return ctx.cwd / ".npmrc"


def read_registry(text: str, env: Mapping[str, str]) -> tuple[str | None, int | None]:
    """The top-level ``registry`` value of an npmrc and its line (:func:`read_key`)."""
    return read_key(text, "registry", env)


def read_key(text: str, wanted: str, env: Mapping[str, str]) -> tuple[str | None, int | None]:
    """The top-level ``wanted`` value of an npmrc (the last one wins, as in npm's ini
    parser), ``${VAR}`` expanded, quotes removed; and its 1-based line."""
    value: str | None = None
    found: int | None = None
    for number, (line, _) in enumerate(split_lines(text), 1):
        if _SECTION.match(line):
            break
        key, sep, raw = line.partition("=")
        if sep and key.strip() == wanted and not line.lstrip().startswith(("#", ";")):
            raw = raw.strip()
            if len(raw) > 1 and raw[0] == raw[-1] and raw[0] in "\"'":
                raw = raw[1:-1]
            value = _ENV_REF.sub(lambda m: env.get(m.group(1), m.group(0)), raw)
            found = number
    return value, found


def resolve_npm(ctx: Context, files: NpmFiles | None = None) -> ToolConfig:
    """npm's ``registry``, with every file and variable that set it (``files``: where
    :func:`config_files` found them, when the caller has asked already)."""
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    chain: list[tuple[object, Source]] = [(NPM_DEFAULT_REGISTRY, _NPM_DEFAULT)]
    files = files or config_files(ctx)
    user, project = files.user, files.project
    layers = [
        ("builtin", files.builtin),
        ("global", files.global_),
        ("user", user),
        ("project", None if project == user else project),
    ]
    for _, path in layers:
        if path is None:
            continue
        text = read_text(path, problems)
        if text is None:
            continue
        files_read.append(str(path))
        value, line = read_registry(text.removeprefix("\ufeff"), ctx.env)
        if value is not None:
            if not value.startswith(("http://", "https://")):
                problems.append(
                    ConfigProblem(str(path), line, f"registry {value!r} is not an http(s) URL")
                )
            chain.append((mask_url(value), Source("file", str(path), f"line {line}")))
    variables = npm_env(ctx, "registry")
    if len({value for _, value in variables}) > 1:
        problems.append(
            ConfigProblem(
                f"${variables[0][0]}",
                None,
                "is set in two spellings with different values: which one npm uses depends "
                "on the order of the environment",
            )
        )
    for name, value in variables:
        chain.append((mask_url(value), Source("env", name)))
    return ToolConfig(NAME, {"registry": chain_setting("registry", chain)}, problems, files_read)


# --- the check ------------------------------------------------------------------------


def _npm_row(ctx: Context, config: ToolConfig, remedies: Remedies) -> Row:
    setting = config.settings["registry"]
    row = Row(
        NAME,
        f"registry {setting.value} from {source_text(ctx, setting.source)}",
        tool_details(ctx, config),
    )
    add_problems(row, ctx, config)
    files = [s for _, s in setting.shadowed if s.kind == "file"]
    if setting.source.kind == "env" and files:
        row.warn(
            f"${setting.source.location} overrides the registry in {source_text(ctx, files[-1])}",
            remedies.unset(setting.source.location),
        )
    if setting.source.kind == "file" and Path(setting.source.location) == project_config(ctx):
        row.warn(
            f"the project's {source_text(ctx, setting.source)} sets the registry: it beats "
            "~/.npmrc in this directory",
            f"remove registry from {ctx.display(Path(setting.source.location))}",
        )
    profile = remedies.profile
    if profile is not None and profile.npm is not None:
        drift(
            row,
            profile,
            "registry",
            canonical(str(setting.value)),
            canonical(profile.npm.registry),
            remedies.apply(NAME),
        )
    return row


# --- the plan -------------------------------------------------------------------------


def config_path(ctx: Context, scope: Scope, files: NpmFiles | None = None) -> Path:
    """The npmrc this target writes for ``scope`` (``files``: :func:`config_files`'s)."""
    files = files or config_files(ctx)
    return files.global_ if scope == "system" else files.user


def edit(data: bytes, registry: str, display: str) -> bytes:
    """``data`` (an npmrc's bytes) with every top-level ``registry`` line set to
    ``registry``, or one added before the first section; every other line kept."""
    text = decode_utf8(data, display, "npm")
    lines = split_lines(text)
    usual = next((ending for _, ending in lines if ending), "\n")
    wanted = f"registry={registry}"
    out: list[str] = []
    done = False
    in_top = True
    for content, ending in lines:
        if _SECTION.match(content):
            if in_top and not done:
                out.append(wanted + usual)
                done = True
            in_top = False
        key, sep, value = content.partition("=")
        bare = key.strip().removeprefix("\ufeff")
        if in_top and sep and bare == "registry" and not content.lstrip().startswith(("#", ";")):
            current = value.strip().strip("\"'")
            bom = "\ufeff" if key.startswith("\ufeff") else ""
            out.append((content if current == registry else bom + wanted) + (ending or ""))
            done = True
            continue
        out.append(content + ending)
    if not done:
        if out and not out[-1].endswith(("\n", "\r")):
            out[-1] += usual
        out.append(wanted + usual)
    new = "".join(out).encode("utf-8")
    return data if new == data else new


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    if profile.npm is None:
        return TargetPlan(NAME, skipped="the profile does not set npm")
    registry = profile.npm.registry
    files = config_files(ctx)  # read once for the path, the resolve and the notes
    path = config_path(ctx, options.scope, files)
    display = ctx.display(path)
    old = read_existing(path, display, "npm", root=ctx.root)
    new = edit(old or b"", registry, display)
    owner = options.owner if options.scope == "user" else None
    change = FileChange(NAME, path, display, old, new, mode=0o600, owner=owner)
    notes: list[str] = []
    config = resolve_npm(ctx, files)
    setting = config.settings["registry"]
    for value, source in (*setting.shadowed, (setting.value, setting.source)):
        if source.kind == "env":
            notes.append(f"${source.location}={value} overrides {display}: unset it")
        elif source.kind == "file" and Path(source.location) == files.project:
            if Path(source.location) != path:
                notes.append(f"{source} sets registry={value}, which beats {display} there")
        elif (
            options.scope == "system"
            and source.kind == "file"
            and Path(source.location) == files.user
        ):
            notes.append(f"{source} sets registry={value}, which beats {display}")
    if old and b"_authToken" in old:
        notes.append(f"{display}: auth tokens are kept; each is sent only to its own registry host")
    return TargetPlan(NAME, (change,), tuple(dict.fromkeys(notes)))


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    return []


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """``npm_config_registry``, which npm, pnpm and yarn 1 all read."""
    return [] if profile.npm is None else [("npm_config_registry", profile.npm.registry)]


# --- the Tool protocol ------------------------------------------------------------------

TABLE_KEYS = ("registry", "allow-http")
REQUIRED = ("registry", 'registry = "https://registry.npmjs.org/"')


@dataclass(frozen=True)
class NpmSettings:
    registry: str
    """Always with the trailing ``/`` npm gives it."""
    allow_http: bool = False


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    checked = check_url_table(file, NAME, table, TABLE_KEYS, ("registry",))
    if "registry" in checked:
        checked["registry"] = checked["registry"].rstrip("/") + "/"
    return checked


def settings(table: Mapping[str, Any]) -> NpmSettings:
    return NpmSettings(table["registry"], allow_http=any_http([table["registry"]]))


def settings_json(value: NpmSettings) -> dict[str, Any]:
    return {"registry": value.registry, "allow_http": value.allow_http}


def settings_toml(value: NpmSettings) -> Any:
    table = toml_table({"registry": value.registry})
    add_allow_http(table, value.allow_http)
    return table


def endpoints(value: NpmSettings) -> list[str]:
    return [value.registry]


def settings_from_url(url: str) -> NpmSettings:
    return NpmSettings(url.rstrip("/") + "/", allow_http=url.startswith("http://"))


def resolve(ctx: Context) -> ToolConfig:
    return resolve_npm(ctx)


def mirrors(config: ToolConfig) -> list[str]:
    registry = config.value("registry")  # a Masked one keeps its credentials
    return [registry if isinstance(registry, str) else str(registry)]


def canonical(url: str) -> str:
    return normalise_endpoint(url)


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row:
    return _npm_row(ctx, configs[NAME], checkup.remedies)


PROBE_PACKAGE = "lodash"
LARGE_TARBALL = "typescript/-/typescript-5.6.3.tgz"


def pull_path(base_url: str, options: PullOptions | None = None) -> PullPath:
    """npm's first request, the package document (``<registry>/<name>``), and a large
    tarball (TypeScript, about 4 MiB) to time."""
    base = base_url.strip().rstrip("/")
    return PullPath(base_url, NAME, f"{base}/{PROBE_PACKAGE}", f"{base}/{LARGE_TARBALL}")
