"""Configuration: what pip, uv, conda, Docker, the HF hub, ModelScope and proxies really use.

One row per tool.  The effective values and where they come from are resolved by
:mod:`envdoctor.effective` the way each tool resolves them; this probe turns them into
findings: a value overridden by a source the user probably did not expect, a setting that
turns off a safety check or makes downloads bypass a mirror, a file the tool would refuse,
and, with ``check --profile NAME``, every difference from that profile (drift).

Every finding carries a remedy that works: ``envdoctor apply --profile NAME --only TARGET``
when a profile is known (``--profile``, else the profile of the last apply), otherwise
the variable to unset and the start-up file that sets it, or the line to edit.  Mirror
liveness is the network probe's job; nothing here touches the network.  Every URL shown
has its credentials masked.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from envdoctor import dockerd, effective, transaction
from envdoctor.context import Context
from envdoctor.effective import ConfigProblem, Setting, Source, ToolConfig, normalise_endpoint
from envdoctor.errors import EnvdoctorError
from envdoctor.netprobe import bypasses_proxy
from envdoctor.profiles import Profile, get_profile, load_profiles
from envdoctor.redact import mask_url, scrub
from envdoctor.requirements import CheckOptions
from envdoctor.results import CheckResult, Status
from envdoctor.targets import docker as docker_target
from envdoctor.targets import env as env_target

NAME = "config"
TITLE = "Configuration"
DEFAULT_TIMEOUT = 5.0

NETWORK_HINT = "liveness: see `envdoctor check --only network`"
UPSTREAM_CONDA_BASE = "https://repo.anaconda.com"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

# Start-up files searched for the line that sets a variable (to say where to unset it).
_USER_STARTUP = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".profile",
    ".zshenv",
    ".zprofile",
    ".zshrc",
)
_SYSTEM_STARTUP = ("/etc/environment", "/etc/profile", "/etc/bash.bashrc", "/etc/zsh/zshenv")


# --- findings and rows --------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing wrong (or worth knowing) about a tool's configuration."""

    status: Status
    message: str
    remedy: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "message": self.message, "remedy": self.remedy}


@dataclass
class _Row:
    tool: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)

    def warn(self, message: str, remedy: str | None) -> None:
        self.findings.append(Finding(Status.WARN, message, remedy))

    def fail(self, message: str, remedy: str | None) -> None:
        self.findings.append(Finding(Status.FAIL, message, remedy))

    def result(self, drift_checked: bool) -> CheckResult:
        status = Status.worst(finding.status for finding in self.findings)
        summary = self.summary
        problems = [f for f in self.findings if f.status is not Status.OK]
        if problems:
            worst = max(problems, key=lambda f: f.status.severity)
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            summary = f"{summary}; {worst.message}{more}"
        remedies = list(dict.fromkeys(f.remedy for f in problems if f.remedy))
        details = dict(self.details)
        details["findings"] = [finding.to_json() for finding in self.findings]
        if drift_checked:
            details["drift"] = self.drift
        # A last net under the masking done at each value: no credential leaves this probe.
        return CheckResult(
            NAME,
            f"config {self.tool}",
            status,
            scrub(summary),
            _jsonable(details),
            scrub("; ".join(remedies)) or None,
        )


def _jsonable(value: object) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Source):
        return str(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def _chain(ctx: Context, setting: Setting) -> dict[str, Any]:
    """A setting's whole chain: value, source, and the values it shadowed with theirs."""
    return {
        "value": _jsonable(setting.value),
        "source": _source_text(ctx, setting.source),
        "shadowed": [
            [_jsonable(value), _source_text(ctx, source)] for value, source in setting.shadowed
        ],
    }


def _tool_details(ctx: Context, config: ToolConfig) -> dict[str, Any]:
    return {
        "settings": {name: _chain(ctx, setting) for name, setting in config.settings.items()},
        "files_read": [_shown(ctx, path) for path in config.files_read],
        "problems": [_problem_json(ctx, problem) for problem in config.problems],
    }


def _problem_json(ctx: Context, problem: ConfigProblem) -> dict[str, Any]:
    path = _shown(ctx, problem.path) if problem.path.startswith("/") else problem.path
    return {"path": path, "line": problem.line, "message": problem.message}


# --- remedies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Remedies:
    """Builds remedies: apply commands when a profile is known, words otherwise."""

    ctx: Context
    profile: Profile | None
    """The profile to drift-check against (``--profile``), or None."""
    remedy_profile: str | None
    """The profile named in apply commands: ``--profile``, else the last apply's."""

    def apply(self, target: str, *, system: bool = False, reload: bool = False) -> str | None:
        if self.remedy_profile is None:
            return None
        command = f"envdoctor apply --profile {shlex.quote(self.remedy_profile)} --only {target}"
        if system:
            command = f"sudo {command} --scope system"
        if reload:
            command += " --reload"
        return command

    def unset(self, variable: str) -> str:
        places = where_set(self.ctx, variable)
        if places:
            return f"unset {variable} and remove it from {', '.join(places)}"
        return (
            f"unset {variable} (no shell start-up file sets it: it comes from the parent process)"
        )


def _known_profile(
    ctx: Context, options: CheckOptions
) -> tuple[Profile | None, str | None, str | None]:
    """(profile to check against, profile for remedies, why --profile could not be loaded)."""
    if options.profile:
        try:
            profile = get_profile(ctx, options.profile)
        except EnvdoctorError as exc:
            return None, None, exc.message
        return profile, profile.name, None
    return None, _last_applied(ctx), None


def _last_applied(ctx: Context) -> str | None:
    """The profile of the newest successful apply, when it still exists."""
    try:
        records = [
            record
            for scope in ("user", "system")
            for record in transaction.history(transaction.journal_dir(ctx, scope))
            if record.status == transaction.APPLIED
        ]
        if not records:
            return None
        newest = max(records, key=lambda record: record.time)
        return newest.profile if newest.profile in load_profiles(ctx) else None
    except (EnvdoctorError, OSError, ValueError, KeyError, TypeError):
        return None


_ASSIGNMENT = r"^\s*(?:export\s+)?{name}\s*="


def where_set(ctx: Context, variable: str) -> list[str]:
    """Start-up files (with line) that assign ``variable``: shell rc files, /etc/environment,
    /etc/profile.d and envdoctor's own env files."""
    pattern = re.compile(_ASSIGNMENT.format(name=re.escape(variable)))
    candidates: list[tuple[Path, str]] = [(ctx.home / n, f"~/{n}") for n in _USER_STARTUP]
    candidates += [(ctx.path(n), n) for n in _SYSTEM_STARTUP]
    profile_d = ctx.path("/etc/profile.d")
    if profile_d.is_dir():
        candidates += [
            (path, f"/etc/profile.d/{path.name}") for path in sorted(profile_d.glob("*.sh"))
        ]
    env_sh = env_target.env_dir(ctx) / "env.sh"
    candidates.append((env_sh, ctx.display(env_sh)))
    found: list[str] = []
    for path, display in candidates:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if pattern.match(line):
                found.append(f"{display} line {number}")
    return found


def _shown(ctx: Context, location: str) -> str:
    """A file location from a Source as the user knows it (no test root, ``~``)."""
    return ctx.display(Path(location))


def _source_text(ctx: Context, source: Source) -> str:
    if source.kind == "file":
        shown = _shown(ctx, source.location)
        return f"{shown} [{source.section}]" if source.section else shown
    return str(source)


# --- the managed env files ---------------------------------------------------------------


def parse_exports(text: str) -> dict[str, str]:
    """``export NAME=value`` lines as a POSIX shell reads them, without running anything.

    Lines that are not a single plain export (comments, conditionals) are skipped.
    """
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("export "):
            continue
        try:
            words = shlex.split(stripped, comments=True, posix=True)
        except ValueError:
            continue
        if len(words) != 2 or words[0] != "export":
            continue
        name, sep, value = words[1].partition("=")
        if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            values[name] = value
    return values


@dataclass(frozen=True)
class _LoginEnv:
    """What a new login shell gets from envdoctor's files: values and the file of each."""

    values: dict[str, tuple[str, str]]
    files_read: list[str]

    def source_command(self, variable: str) -> str | None:
        origin = self.values.get(variable)
        if origin is None:
            return None
        return f". {origin[1]}"


def _login_env(ctx: Context) -> _LoginEnv:
    # /etc/profile reads /etc/profile.d first; the user's rc block sources env.sh later.
    values: dict[str, tuple[str, str]] = {}
    files_read: list[str] = []
    for path, display in (
        (ctx.path(env_target.SYSTEM_FILE), env_target.SYSTEM_FILE),
        (env_target.env_dir(ctx) / "env.sh", ctx.display(env_target.env_dir(ctx) / "env.sh")),
    ):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        files_read.append(display)
        for name, value in parse_exports(text).items():
            values[name] = (value, display)
    return _LoginEnv(values, files_read)


def _compare_login(row: _Row, ctx: Context, login: _LoginEnv, prefixes: tuple[str, ...]) -> None:
    """Warn where this process and a new login shell disagree on a managed variable."""
    compared: dict[str, Any] = {}
    for name, (value, display) in sorted(login.values.items()):
        if not name.startswith(prefixes):
            continue
        here = ctx.env.get(name)
        compared[name] = {
            "this_shell": _mask(here),
            "login_shell": mask_url(value),
            "file": display,
        }
        if here != value:
            shell = "unset" if here is None else _mask(here)
            row.warn(
                f"this shell has {name}={shell}, a new login shell gets {mask_url(value)} "
                f"(from {display})",
                f"{login.source_command(name)} or open a new shell",
            )
    row.details["login_shell"] = {"files_read": login.files_read, "variables": compared}


def _mask(value: str | None) -> str | None:
    return None if value is None else mask_url(value)


# --- pip --------------------------------------------------------------------------------------


def _host(url: str) -> tuple[str, str, str]:
    """(scheme, hostname, hostname[:port]) of a URL; empty strings when unreadable."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "", "", ""
    return parts.scheme, hostname, f"{hostname}:{port}" if port else hostname


def _other_values(setting: Setting) -> list[tuple[object, Source]]:
    """Values the effective one beat that say something else (built-in defaults excluded)."""
    return [
        (value, source)
        for value, source in setting.shadowed
        if source.kind != "default" and value != setting.value
    ]


def _pip_row(ctx: Context, config: ToolConfig, remedies: _Remedies) -> _Row:
    index = config.settings["index-url"]
    extras = cast("tuple[str, ...]", config.value("extra-index-url"))
    summary = f"index-url {index.value} from {_source_text(ctx, index.source)}"
    if extras:
        summary += f" (+{len(extras)} extra-index-url)"
    if config.value("no-index") is True:
        summary = f"no-index from {_source_text(ctx, config.settings['no-index'].source)}"
    row = _Row("pip", summary, _tool_details(ctx, config))
    _problems(row, ctx, config)
    _pip_security(row, ctx, config, remedies)
    _pip_overrides(row, ctx, config, remedies)
    profile = remedies.profile
    if profile is not None and profile.pip is not None:
        _drift(
            row,
            profile,
            "index-url",
            normalise_endpoint(str(index.value)),
            normalise_endpoint(profile.pip.index_url),
            remedies.apply("pip"),
        )
        have = [normalise_endpoint(url) for url in extras]
        want = [normalise_endpoint(url) for url in profile.pip.extra_index_urls]
        _drift(row, profile, "extra-index-url", have, want, remedies.apply("pip"))
    return row


def _pip_security(row: _Row, ctx: Context, config: ToolConfig, remedies: _Remedies) -> None:
    index = str(config.value("index-url"))
    urls = [index, *cast("tuple[str, ...]", config.value("extra-index-url"))]
    trusted_setting = config.settings["trusted-host"]
    trusted = cast("tuple[str, ...]", trusted_setting.value)
    trusted_where = _source_text(ctx, trusted_setting.source)
    parsed = [_host(url) for url in urls]
    for host in trusted:
        https = [
            url
            for url, (scheme, name, hostport) in zip(urls, parsed, strict=True)
            if scheme == "https" and host in (name, hostport)
        ]
        http = [
            1 for scheme, name, hostport in parsed if scheme == "http" and host in (name, hostport)
        ]
        if https and not http:
            remedy = (
                remedies.unset(trusted_setting.source.location)
                if trusted_setting.source.kind == "env"
                else f"remove {host} from trusted-host in {trusted_where}"
            )
            row.warn(
                f"trusted-host {host} (from {trusted_where}) turns off certificate checks "
                f"for the https index {https[0]}",
                remedy,
            )
    for url, (scheme, name, hostport) in zip(urls, parsed, strict=True):
        if scheme == "http" and name and name not in trusted and hostport not in trusted:
            row.warn(
                f"pip ignores the plain-http index {url}: {name} is not a trusted-host",
                remedies.apply("pip")
                or f"use the https URL, or add trusted-host = {name} to [global] in "
                "~/.config/pip/pip.conf",
            )


def _pip_overrides(row: _Row, ctx: Context, config: ToolConfig, remedies: _Remedies) -> None:
    prefix_var = next((v for v in ("VIRTUAL_ENV", "CONDA_PREFIX") if ctx.env.get(v)), None)
    site_file = (
        str(ctx.user_path(ctx.env[prefix_var]) / "pip.conf") if prefix_var is not None else None
    )
    for name in ("index-url", "extra-index-url", "trusted-host", "timeout"):
        setting = config.settings[name]
        others = _other_values(setting)
        if not others:
            continue
        lower_value, lower_source = others[-1]
        lower = f"{_jsonable(lower_value)} from {_source_text(ctx, lower_source)}"
        source = setting.source
        if source.kind == "env":
            row.warn(
                f"${source.location} overrides {name} {lower}",
                remedies.unset(source.location),
            )
        elif (
            source.kind == "file"
            and source.section not in (None, "global")
            and any(s.kind == "file" and s.section == "global" for _, s in others)
        ):
            row.warn(
                f"[{source.section}] {name} in {_shown(ctx, source.location)} beats [global] "
                f"{name} {lower}",
                f"remove {name} from [{source.section}] in {_shown(ctx, source.location)}",
            )
        elif source.kind == "file" and source.location == site_file:
            row.warn(
                f"the environment's own {_shown(ctx, source.location)} (${prefix_var}) "
                f"overrides {name} {lower}",
                f"remove {name} from {_shown(ctx, source.location)}",
            )
    config_file = ctx.env.get("PIP_CONFIG_FILE")
    if config_file and config_file != os.devnull and ctx.user_path(config_file).exists():
        hidden = [
            ctx.display(path)
            for path in (ctx.home / ".pip" / "pip.conf", ctx.xdg_config_home / "pip" / "pip.conf")
            if path.is_file()
        ]
        if hidden:
            row.warn(
                f"$PIP_CONFIG_FILE ({config_file}) makes pip skip {', '.join(hidden)}",
                remedies.unset("PIP_CONFIG_FILE"),
            )


def _problems(row: _Row, ctx: Context, config: ToolConfig) -> None:
    fatal = ("refuses", "stops", "fails")
    for problem in config.problems:
        where = _shown(ctx, problem.path) if problem.path.startswith("/") else problem.path
        if problem.line is not None:
            where += f" line {problem.line}"
        message = f"{where}: {problem.message}"
        remedy = f"fix {where}" if problem.path.startswith("/") else None
        if problem.path.startswith("$"):
            remedy = f"correct or unset {problem.path[1:]}"
        if any(word in problem.message for word in fatal):
            row.fail(message, remedy)
        else:
            row.warn(message, remedy)


# --- uv ---------------------------------------------------------------------------------------


def _uv_row(ctx: Context, config: ToolConfig, remedies: _Remedies, pip_index: str) -> _Row:
    default = config.settings["default-index"]
    row = _Row(
        "uv",
        f"default index {default.value} from {_source_text(ctx, default.source)}",
        _tool_details(ctx, config),
    )
    _problems(row, ctx, config)
    if default.source.kind == "env":
        others = _other_values(default)
        if others:
            row.warn(
                f"${default.source.location} overrides the default index {others[-1][0]} "
                f"from {_source_text(ctx, others[-1][1])}",
                remedies.unset(default.source.location),
            )
    uv_index = normalise_endpoint(str(default.value))
    pip_norm = normalise_endpoint(pip_index)
    upstream = normalise_endpoint(effective.UV_DEFAULT_INDEX)
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
        _drift(
            row,
            profile,
            "default-index",
            uv_index,
            normalise_endpoint(profile.uv.default_index),
            remedies.apply("uv"),
        )
    return row


# --- conda ------------------------------------------------------------------------------------


def _conda_row(ctx: Context, config: ToolConfig, remedies: _Remedies) -> _Row:
    channels = cast("tuple[str, ...]", config.value("channels"))
    default_setting = config.settings["default_channels"]
    default_channels = cast("tuple[str, ...]", default_setting.value)
    custom = cast("dict[str, str]", config.value("custom_channels"))
    alias = str(config.value("channel_alias"))
    base = effective.conda_base(default_channels, alias)
    summary = (
        f"channels {', '.join(channels) or '(none)'}; defaults from {base} "
        f"({_source_text(ctx, default_setting.source)})"
    )
    row = _Row("conda", summary, _tool_details(ctx, config))
    row.details["defaults_base"] = base
    _problems(row, ctx, config)
    for name in ("channels", "default_channels"):
        setting = config.settings[name]
        values = cast("tuple[str, ...]", setting.value)
        free = [value for value in values if "pkgs/free" in value]
        if free:
            row.warn(
                f"{name} has {free[0]} (from {_source_text(ctx, setting.source)}): pkgs/free "
                "was removed in conda 4.7",
                (remedies.apply("conda") if name == "default_channels" else None)
                or f"remove {free[0]} from {name} in {_source_text(ctx, setting.source)}",
            )
    profile = remedies.profile
    mirror_profile = (
        profile is not None
        and profile.conda is not None
        and normalise_endpoint(profile.conda.base_url) != UPSTREAM_CONDA_BASE
    )
    if mirror_profile and "defaults" in channels and default_setting.source.kind == "default":
        row.warn(
            "channels has defaults but default_channels is not set: defaults go to "
            f"{UPSTREAM_CONDA_BASE}, not the mirror",
            remedies.apply("conda"),
        )
    alias_upstream = normalise_endpoint(alias) == effective.CONDA_DEFAULT_CHANNEL_ALIAS
    if base != UPSTREAM_CONDA_BASE and alias_upstream:
        for channel in channels:
            if channel == "defaults" or "://" in channel or channel in custom:
                continue
            suggestion = (
                remedies.apply("conda")
                if profile is not None
                and profile.conda is not None
                and channel in profile.conda.custom_channels
                else None
            )
            row.warn(
                f"channel {channel} is not in custom_channels: it comes from "
                f"{effective.CONDA_DEFAULT_CHANNEL_ALIAS} (channel_alias) while defaults "
                f"use {base}",
                suggestion or f"add {channel}: {base}/cloud under custom_channels in ~/.condarc",
            )
    if profile is not None and profile.conda is not None:
        have = [normalise_endpoint(c) for c in default_channels]
        want = [normalise_endpoint(c) for c in profile.conda.default_channels]
        _drift(row, profile, "default_channels", have, want, remedies.apply("conda"))
        for name, url in profile.conda.custom_channel_urls.items():
            current = custom.get(name)
            _drift(
                row,
                profile,
                f"custom_channels.{name}",
                None if current is None else normalise_endpoint(current),
                normalise_endpoint(url),
                remedies.apply("conda"),
            )
    return row


# --- docker -----------------------------------------------------------------------------------


def _docker_row(ctx: Context, config: ToolConfig, remedies: _Remedies) -> _Row:
    mirrors_setting = config.settings["registry-mirrors"]
    mirrors = cast("tuple[str, ...]", mirrors_setting.value)
    flags = docker_target.find_mirror_flags(ctx, "system")
    if mirrors:
        summary = (
            f"registry-mirrors {', '.join(mirrors)} from "
            f"{_source_text(ctx, mirrors_setting.source)}"
        )
    elif flags:
        summary = f"registry mirror given as --registry-mirror in {flags[0]}"
    else:
        summary = "no registry mirror: Docker Hub directly"
    details = _tool_details(ctx, config)
    details["mirror_flags"] = [str(flag) for flag in flags]
    details["liveness"] = NETWORK_HINT
    row = _Row("docker", summary, details)
    for problem in config.problems:
        where = f"{_shown(ctx, problem.path)}" + (
            f" line {problem.line}" if problem.line is not None else ""
        )
        status_fail = "refuses to start" in problem.message
        message = f"{where}: {problem.message}"
        remedy = f"fix {where}, then check with: sudo dockerd --validate"
        if status_fail:
            row.fail(message, remedy)
        else:
            row.warn(message, remedy)
    if flags and mirrors:
        row.fail(
            f"--registry-mirror in {flags[0]} and registry-mirrors in "
            f"{_source_text(ctx, mirrors_setting.source)}: dockerd refuses to start",
            "remove --registry-mirror from " + ", ".join(str(flag) for flag in flags),
        )
    _docker_daemon(row, ctx, remedies, list(mirrors), bool(flags))
    profile = remedies.profile
    if profile is not None and profile.docker is not None:
        _drift(
            row,
            profile,
            "registry-mirrors",
            [normalise_endpoint(m) for m in mirrors],
            [normalise_endpoint(m) for m in profile.docker.registry_mirrors],
            remedies.apply("docker", system=True, reload=True),
        )
    return row


def _docker_daemon(
    row: _Row, ctx: Context, remedies: _Remedies, configured: list[str], flagged: bool
) -> None:
    timeout = min(2.0, ctx.timeout or DEFAULT_TIMEOUT)
    info = dockerd.daemon_info(ctx, timeout=timeout)
    row.details["daemon"] = info.reason
    running = info.mirrors
    if running is None:
        row.details["daemon_mirrors"] = None
        return
    running_norm = [normalise_endpoint(m) for m in running]
    row.details["daemon_mirrors"] = running_norm
    file_norm = [normalise_endpoint(m) for m in configured]
    if not flagged and running_norm != file_norm:
        command = docker_target.reload_command(ctx, "system")
        fallback = shlex.join(["sudo", *command]) if command else "sudo systemctl reload docker"
        row.warn(
            f"the running dockerd uses {', '.join(running_norm) or 'no mirror'} but "
            f"daemon.json says {', '.join(file_norm) or 'no mirror'}: edited but not reloaded",
            remedies.apply("docker", system=True, reload=True) or fallback,
        )


# --- Hugging Face and ModelScope --------------------------------------------------------------


def _free_bytes(ctx: Context, path_text: str) -> int | None:
    path = Path(path_text)
    if ctx.root != Path("/") and not _inside(path, ctx.root):
        path = ctx.path(path.as_posix()) if path.is_absolute() else path
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _hf_row(ctx: Context, config: ToolConfig, remedies: _Remedies, login: _LoginEnv) -> _Row:
    endpoint = config.settings["HF_ENDPOINT"]
    cache = str(config.value("HF_HUB_CACHE"))
    free = _free_bytes(ctx, cache)
    summary = f"HF_ENDPOINT {endpoint.value} from {_source_text(ctx, endpoint.source)}"
    if config.value("HF_HUB_OFFLINE") is True:
        summary += " (offline: HF_HUB_OFFLINE)"
    details = _tool_details(ctx, config)
    details["cache"] = ctx.display(Path(cache))
    details["cache_free_bytes"] = free
    row = _Row("hf", summary, details)
    _problems(row, ctx, config)
    if config.value("HF_HUB_ENABLE_HF_TRANSFER") is True:
        row.warn(
            "HF_HUB_ENABLE_HF_TRANSFER is deprecated (huggingface_hub 1.0): the fast path is "
            "hf-xet with HF_XET_HIGH_PERFORMANCE=1",
            remedies.unset("HF_HUB_ENABLE_HF_TRANSFER") + "; export HF_XET_HIGH_PERFORMANCE=1",
        )
    mirror = normalise_endpoint(str(endpoint.value)) != effective.HF_DEFAULT_ENDPOINT
    if mirror and config.value("HF_HUB_DISABLE_XET") is not True:
        row.warn(
            f"Xet is on with the mirror {endpoint.value}: Xet downloads can bypass the mirror",
            # Not an apply: a profile without HF_HUB_DISABLE_XET would also reset the endpoint.
            "export HF_HUB_DISABLE_XET=1 (and add it where HF_ENDPOINT is set)",
        )
    _compare_login(row, ctx, login, ("HF_", "HUGGINGFACE_"))
    profile = remedies.profile
    if profile is not None and profile.hf is not None:
        _drift(
            row,
            profile,
            "HF_ENDPOINT",
            normalise_endpoint(str(endpoint.value)),
            normalise_endpoint(profile.hf.endpoint),
            remedies.apply("env"),
        )
        for name, value in sorted(profile.hf.env.items()):
            _drift(
                row, profile, name, _mask(ctx.env.get(name)), mask_url(value), remedies.apply("env")
            )
    return row


def _modelscope_row(
    ctx: Context, config: ToolConfig, remedies: _Remedies, login: _LoginEnv
) -> _Row:
    domain = config.settings["MODELSCOPE_DOMAIN"]
    row = _Row(
        "modelscope",
        f"MODELSCOPE_DOMAIN {mask_url(str(domain.value))} from {_source_text(ctx, domain.source)}",
        _tool_details(ctx, config),
    )
    raw = ctx.env.get("MODELSCOPE_DOMAIN", "")
    if raw.startswith(("http://", "https://")):
        host = _host(raw)[2]
        row.warn(
            f"MODELSCOPE_DOMAIN is a URL ({mask_url(raw)}): the SDK adds https:// itself and "
            f"would use https://{mask_url(raw)}",
            f"export MODELSCOPE_DOMAIN={shlex.quote(host)}" + _fix_in(ctx, "MODELSCOPE_DOMAIN"),
        )
    _compare_login(row, ctx, login, ("MODELSCOPE_",))
    profile = remedies.profile
    if profile is not None and profile.modelscope is not None:
        _drift(
            row,
            profile,
            "MODELSCOPE_DOMAIN",
            mask_url(str(domain.value)),
            profile.modelscope.domain,
            remedies.apply("env"),
        )
    return row


# --- proxies ----------------------------------------------------------------------------------


def _fix_in(ctx: Context, variable: str) -> str:
    places = where_set(ctx, variable)
    return f" and fix it in {', '.join(places)}" if places else ""


def _split_hosts(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\s]+", value) if part.strip()]


def _proxy_row(ctx: Context, configs: Mapping[str, ToolConfig]) -> _Row:
    env = ctx.env
    variables: dict[str, Any] = {}
    for lower in PROXY_VARIABLES:
        for name in (lower, lower.upper()):
            if name in env:
                variables[name] = {"value": mask_url(env[name]), "set_in": where_set(ctx, name)}
    proxies = [
        (name, env[name])
        for lower in PROXY_VARIABLES[:3]
        for name in (lower, lower.upper())
        if env.get(name)
    ]
    if not proxies:
        return _Row("proxy", "no proxy", {"variables": variables})
    first = proxies[0]
    summary = f"{first[0]} {mask_url(first[1])}"
    if len(proxies) > 1:
        summary += f" (+{len(proxies) - 1} more)"
    row = _Row("proxy", summary, {"variables": variables})
    for lower in PROXY_VARIABLES:
        upper = lower.upper()
        low_value, up_value = env.get(lower), env.get(upper)
        if low_value == up_value or (not low_value and not up_value):
            continue
        if low_value and up_value:
            row.warn(
                f"{lower} ({mask_url(low_value)}) and {upper} ({mask_url(up_value)}) differ: "
                "curl and Python use the lowercase one, Go programs such as docker the "
                "uppercase one",
                f'export {upper}="${lower}"',
            )
        else:
            present, absent = (lower, upper) if low_value else (upper, lower)
            row.warn(
                f"only {present} is set: programs that read {absent} "
                f"({'Go programs such as docker' if absent == upper else 'curl and Python'}) "
                "do not see it",
                f'export {absent}="${present}"',
            )
    no_proxy_value = env.get("no_proxy") or env.get("NO_PROXY") or ""
    entries = _split_hosts(no_proxy_value)
    missing = [host for host in LOCAL_HOSTS if host not in entries]
    row.details["no_proxy"] = entries
    if missing and "*" not in entries:
        wanted = ",".join([*entries, *missing])
        row.warn(
            f"a proxy is set but no_proxy lacks {', '.join(missing)}: local services "
            "(a model server on localhost) are sent through the proxy",
            f"export no_proxy={shlex.quote(wanted)} NO_PROXY={shlex.quote(wanted)}",
        )
    via_proxy = _mirrors_via_proxy(configs, no_proxy_value)
    row.details["mirrors_via_proxy"] = via_proxy
    if via_proxy:
        # Not a warning: whether a mirror is reachable without the proxy is the network
        # check's to measure; people behind a proxy still want to know which way it goes.
        row.summary += f"; mirrors through it: {', '.join(via_proxy)}"
    return row


def _mirrors_via_proxy(configs: Mapping[str, ToolConfig], no_proxy: str) -> list[str]:
    """``host[:port]`` of the configured mirrors that no_proxy does not send direct."""
    hosts: dict[str, None] = {}
    for urls in effective.mirrors_of(configs).values():
        for url in urls:
            parts = urlsplit(url if "://" in url else f"https://{url}")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                continue
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                continue
            if not bypasses_proxy(parts.hostname, port, no_proxy):
                hosts[parts.netloc.rpartition("@")[2]] = None
    return list(hosts)


# --- drift ------------------------------------------------------------------------------------


def _drift(
    row: _Row, profile: Profile, setting: str, have: object, want: object, remedy: str | None
) -> None:
    if have == want:
        return
    shown_have = _jsonable(have)
    shown_want = _jsonable(want)
    row.drift.append({"setting": setting, "value": shown_have, "profile": shown_want})
    row.warn(
        f"drift from {profile.name}: {setting} is {_words(shown_have)}, the profile says "
        f"{_words(shown_want)}",
        remedy,
    )


def _words(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


# --- the probe --------------------------------------------------------------------------------


def run(ctx: Context, options: CheckOptions) -> list[CheckResult]:
    """One row per tool: its effective settings, their sources, and what to fix."""
    profile, remedy_profile, profile_error = _known_profile(ctx, options)
    remedies = _Remedies(ctx, profile, remedy_profile)
    login = _login_env(ctx)
    configs = effective.resolve_all(ctx)  # read once; every row and the proxy row share it
    rows: list[_Row] = []
    pip = _pip_row(ctx, configs["pip"], remedies)
    rows.append(pip)
    pip_index = str(pip.details["settings"]["index-url"]["value"])
    rows.append(_uv_row(ctx, configs["uv"], remedies, pip_index))
    builders: Iterable[Callable[[], _Row]] = (
        lambda: _conda_row(ctx, configs["conda"], remedies),
        lambda: _docker_row(ctx, configs["docker"], remedies),
        lambda: _hf_row(ctx, configs["hf"], remedies, login),
        lambda: _modelscope_row(ctx, configs["modelscope"], remedies, login),
        lambda: _proxy_row(ctx, configs),
    )
    for build in builders:
        if ctx.cancel.is_set():
            break
        rows.append(build())
    drift_checked = profile is not None
    results = []
    for row in rows:
        if profile_error is not None:
            row.details["drift_error"] = profile_error
        if remedy_profile is not None:
            row.details["remedy_profile"] = remedy_profile
        results.append(row.result(drift_checked))
    return results
