"""What the config check shares across tools: rows, findings, remedies, login shells.

Each tool module's ``diagnose`` builds one :class:`Row` from its resolved configuration
with these helpers; :mod:`envdoctor.probes.config` turns the rows into results.  Every
finding carries a remedy that works: ``envdoctor apply --profile NAME --only TARGET`` when
a profile is known (``--profile``, else the profile of the last apply), otherwise the
variable to unset and the start-up file that sets it, or the line to edit.  Every URL
shown has its credentials masked.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from envdoctor import shellenv, transaction
from envdoctor.configfiles import ConfigProblem, Setting, Source, ToolConfig, is_within
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.profiles import Profile, get_profile, load_profiles
from envdoctor.redact import mask_url, scrub
from envdoctor.requirements import CheckOptions
from envdoctor.results import CheckResult, Status

CHECK_NAME = "config"
"""The check these rows belong to."""
NETWORK_HINT = "see `envdoctor check --only network`"


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


@dataclass(frozen=True)
class Finding:
    """One thing wrong (or worth knowing) about a tool's configuration."""

    status: Status
    message: str
    remedy: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "message": self.message, "remedy": self.remedy}


@dataclass
class Row:
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
            CHECK_NAME,
            f"config {self.tool}",
            status,
            scrub(summary),
            jsonable(details),
            scrub("; ".join(remedies)) or None,
        )


def jsonable(value: object) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Source):
        return str(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def _chain(ctx: Context, setting: Setting) -> dict[str, Any]:
    """A setting's whole chain: value, source, and the values it shadowed with theirs."""
    return {
        "value": jsonable(setting.value),
        "source": source_text(ctx, setting.source),
        "shadowed": [
            [jsonable(value), source_text(ctx, source)] for value, source in setting.shadowed
        ],
    }


def tool_details(ctx: Context, config: ToolConfig) -> dict[str, Any]:
    return {
        "settings": {name: _chain(ctx, setting) for name, setting in config.settings.items()},
        "files_read": [shown(ctx, path) for path in config.files_read],
        "problems": [_problem_json(ctx, problem) for problem in config.problems],
    }


def _problem_json(ctx: Context, problem: ConfigProblem) -> dict[str, Any]:
    path = shown(ctx, problem.path) if problem.path.startswith("/") else problem.path
    return {"path": path, "line": problem.line, "message": problem.message}


@dataclass(frozen=True)
class Remedies:
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


def known_profile(
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
    env_sh = shellenv.env_dir(ctx) / "env.sh"
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


def shown(ctx: Context, location: str) -> str:
    """A file location from a Source as the user knows it (no test root, ``~``)."""
    return ctx.display(Path(location))


def source_text(ctx: Context, source: Source) -> str:
    if source.kind == "file":
        where = shown(ctx, source.location)
        return f"{where} [{source.section}]" if source.section else where
    return str(source)


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
class LoginEnv:
    """What a new login shell gets from envdoctor's files: values and the file of each."""

    values: dict[str, tuple[str, str]]
    files_read: list[str]

    def source_command(self, variable: str) -> str | None:
        origin = self.values.get(variable)
        if origin is None:
            return None
        return f". {origin[1]}"


def login_env(ctx: Context) -> LoginEnv:
    # /etc/profile reads /etc/profile.d first; the user's rc block sources env.sh later.
    values: dict[str, tuple[str, str]] = {}
    files_read: list[str] = []
    for path, display in (
        (ctx.path(shellenv.SYSTEM_FILE), shellenv.SYSTEM_FILE),
        (shellenv.env_dir(ctx) / "env.sh", ctx.display(shellenv.env_dir(ctx) / "env.sh")),
    ):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        files_read.append(display)
        for name, value in parse_exports(text).items():
            values[name] = (value, display)
    return LoginEnv(values, files_read)


def compare_login(row: Row, ctx: Context, login: LoginEnv, prefixes: tuple[str, ...]) -> None:
    """Warn where this process and a new login shell disagree on a managed variable."""
    compared: dict[str, Any] = {}
    for name, (value, display) in sorted(login.values.items()):
        if not name.startswith(prefixes):
            continue
        here = ctx.env.get(name)
        compared[name] = {
            "this_shell": mask_value(here),
            "login_shell": mask_url(value),
            "file": display,
        }
        if here != value:
            shell = "unset" if here is None else mask_value(here)
            row.warn(
                f"this shell has {name}={shell}, a new login shell gets {mask_url(value)} "
                f"(from {display})",
                f"{login.source_command(name)} or open a new shell",
            )
    row.details["login_shell"] = {"files_read": login.files_read, "variables": compared}


def mask_value(value: str | None) -> str | None:
    return None if value is None else mask_url(value)


def url_parts(url: str) -> tuple[str, str, str]:
    """(scheme, hostname, hostname[:port]) of a URL; empty strings when unreadable."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "", "", ""
    return parts.scheme, hostname, f"{hostname}:{port}" if port else hostname


def other_values(setting: Setting) -> list[tuple[object, Source]]:
    """Values the effective one beat that say something else (built-in defaults excluded)."""
    return [
        (value, source)
        for value, source in setting.shadowed
        if source.kind != "default" and value != setting.value
    ]


def add_problems(row: Row, ctx: Context, config: ToolConfig) -> None:
    fatal = ("refuses", "stops", "fails")
    for problem in config.problems:
        where = shown(ctx, problem.path) if problem.path.startswith("/") else problem.path
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


def drift(
    row: Row, profile: Profile, setting: str, have: object, want: object, remedy: str | None
) -> None:
    if have == want:
        return
    shown_have = jsonable(have)
    shown_want = jsonable(want)
    row.drift.append({"setting": setting, "value": shown_have, "profile": shown_want})
    row.warn(
        f"drift from {profile.name}: {setting} is {as_words(shown_have)}, the profile says "
        f"{as_words(shown_want)}",
        remedy,
    )


def as_words(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def fix_in(ctx: Context, variable: str) -> str:
    places = where_set(ctx, variable)
    return f" and fix it in {', '.join(places)}" if places else ""


def free_bytes(ctx: Context, path_text: str) -> int | None:
    path = Path(path_text)
    if ctx.root != Path("/") and not is_within(path, ctx.root):
        path = ctx.path(path.as_posix()) if path.is_absolute() else path
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


@dataclass(frozen=True)
class Checkup:
    """What every tool's ``diagnose`` gets besides its own configuration."""

    remedies: Remedies
    login: LoginEnv
