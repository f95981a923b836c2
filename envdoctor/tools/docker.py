"""Docker: ``registry-mirrors`` in dockerd's ``daemon.json``.

System scope edits ``/etc/docker/daemon.json``; user scope edits rootless Docker's
``$XDG_CONFIG_HOME/docker/daemon.json``.  Only ``registry-mirrors`` changes: every other key
keeps its value and its place, written back with a 2-space indent and a trailing newline (a
CRLF line ends are kept; a byte-order mark is dropped: Debian's dockerd 20.10 refuses a file
that starts with one).  An empty mirror list removes the key, which
is dockerd's own default (Docker Hub itself).

dockerd refuses to start when an option is given both as a flag and in the file, so a plan
is refused while ``--registry-mirror`` is on dockerd's command line: in its systemd unit or
a drop-in, in ``/etc/default/docker`` or ``/etc/sysconfig/docker``, or on the running
daemon.  Mirrors with a path, query, fragment or credentials are refused too: dockerd's
``ValidateMirror`` rejects them and the daemon does not start.

``registry-mirrors`` reloads live on SIGHUP (:func:`reload`); dockerd is never restarted,
which would stop its containers.

Where dockerd reads its configuration (:func:`resolve_docker`), its traps, its edit of
daemon.json, its pull path and its profile table.  What the running daemon really uses,
and the command-line flags that override daemon.json, are in
:mod:`envdoctor.tools.docker_daemon`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import ipaddress
import json
import os
import posixpath
import shlex
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from envdoctor.checkup import (
    NETWORK_HINT,
    Checkup,
    Remedies,
    Row,
    drift,
    shown,
    source_text,
    tool_details,
)
from envdoctor.configfiles import (
    ConfigProblem,
    Setting,
    Source,
    ToolConfig,
    decode_utf8,
    dedupe,
    json_refusal,
    normalise_endpoint,
    read_existing,
    read_text,
    structure_problem,
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
from envdoctor.results import FileChange, TargetPlan
from envdoctor.tools import PullOptions, docker_daemon, docker_pull

_DOCKER_DEFAULT = Source("default", "dockerd")


def _docker_load(path: Path, problems: list[ConfigProblem]) -> dict[str, object] | None:
    text = read_text(path, problems)
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
    if not text.strip():
        # dockerd 20.10 (Debian 12's) reads it with a JSON decoder: "unable to configure
        # the Docker daemon with file ...: EOF".  Later ones trim it and take no settings.
        problems.append(
            ConfigProblem(
                str(path),
                None,
                "is empty, which dockerd 20.10 refuses (EOF: it does not start); later "
                "versions take it as no settings: write {} in it",
            )
        )
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
    except (RecursionError, ValueError) as exc:
        problems.append(ConfigProblem(str(path), None, f"{json_refusal(exc)}: not read"))
        return None
    problem = structure_problem(data)
    if problem is not None:
        problems.append(ConfigProblem(str(path), None, f"refused: {problem}: not read"))
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


DAEMON_KEYS = frozenset(
    """registry-mirrors insecure-registries max-concurrent-downloads max-concurrent-uploads
    max-download-attempts data-root exec-root log-driver log-opts log-level storage-driver
    storage-opts exec-opts default-address-pools dns dns-opts dns-search live-restore
    features proxies bip mtu debug experimental runtimes default-runtime ipv6 fixed-cidr
    fixed-cidr-v6 iptables ip6tables ip-forward ip-masq icc ip userland-proxy hosts labels
    cgroup-parent default-ulimits no-new-privileges seccomp-profile selinux-enabled
    shutdown-timeout tls tlsverify tlscacert tlscert tlskey userns-remap default-shm-size
    builder metrics-addr default-gateway group pidfile containerd init oom-score-adjust
    raw-logs default-cgroupns-mode default-ipc-mode""".split()  # noqa: SIM905
)
"""daemon.json keys from dockerd's documentation: a key that is one of these but for its
case or ``_`` (``registry_mirrors``) is one dockerd refuses to start with."""


def _key_problems(data: Mapping[str, object]) -> list[str]:
    """dockerd refuses a file with a key that matches no option ("the following
    directives don't match any configuration option"): the misspellings of known keys."""
    found = []
    for key in data:
        spelled = key.lower().replace("_", "-")
        if spelled != key and spelled in DAEMON_KEYS:
            found.append(
                f'"{key}" is not a daemon.json key ("{spelled}" is): dockerd refuses to start '
                "(the directive matches no configuration option)"
            )
    return found


def _insecure_problem(entry: str) -> str | None:
    """registry.loadInsecureRegistries: a CIDR, or ``host[:port]`` with a number for a
    port (an ``http://`` or ``https://`` is dropped, any other scheme refused)."""
    scheme, sep, rest = entry.partition("://")
    if sep and scheme.lower() not in ("http", "https"):
        return "must not have a scheme other than http:// or https://"
    host = rest if sep else entry
    with contextlib.suppress(ValueError):
        ipaddress.ip_network(host, strict=False)
        return None
    port = host.rpartition("]")[2] if host.startswith("[") else host
    port = port.rpartition(":")[2] if ":" in port else ""
    if port and not (port.isdigit() and int(port) <= 65535):
        return f"has a port that is not a number ({port!r}): write host:port, no path"
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
        for words in _key_problems(data or {}):
            problems.append(ConfigProblem(str(path), None, words))
        for key in ("registry-mirrors", "insecure-registries"):
            values = _docker_list(data or {}, key, path, problems)
            name = prefix + key
            if values is None:
                settings[name] = Setting(name, (), _DOCKER_DEFAULT)
                continue
            for entry in values if key == "insecure-registries" else ():
                reason = _insecure_problem(entry)
                if reason:
                    problems.append(
                        ConfigProblem(
                            str(path),
                            None,
                            f"insecure registry {mask_url(entry)!r} {reason}: dockerd "
                            "refuses to start",
                        )
                    )
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
    return ToolConfig("docker", settings, dedupe(problems), files_read)


NAME = "docker"

KEY = "registry-mirrors"
DOWNLOADS_KEY = "max-concurrent-downloads"
"""Layers dockerd pulls at once (default 3); reloaded on SIGHUP like ``registry-mirrors``."""
PARALLEL_DOWNLOADS = 8
"""What ``--profile auto`` sets :data:`DOWNLOADS_KEY` to where more connections were
measured to help (8, as measured)."""
SYSTEM_FILE = "/etc/docker/daemon.json"

_BOM = "\ufeff"
_BOM_BYTES = _BOM.encode()


def daemon_json(ctx: Context, scope: Scope) -> Path:
    """The ``daemon.json`` the daemon of ``scope`` reads (system or rootless)."""
    if scope == "system":
        return ctx.path(SYSTEM_FILE)
    return ctx.xdg_config_home / "docker" / "daemon.json"


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    """Set ``registry-mirrors`` to the profile's list; refuse when dockerd would not start."""
    if profile.docker is None:
        return TargetPlan(NAME, skipped="the profile does not set docker")
    mirrors = list(profile.docker.registry_mirrors)
    for mirror in mirrors:
        problem = mirror_problem(mirror)
        if problem:
            raise EnvdoctorError(
                f"docker: registry mirror {mask_url(mirror)!r} in profile "
                f"{profile.name!r} {problem}: dockerd would refuse to start",
                "Give mirrors as scheme://host[:port] only, e.g. https://docker.example.com.",
            )
    path = daemon_json(ctx, options.scope)
    display = ctx.display(path)
    old = read_existing(path, display, "docker", root=ctx.root)
    flags = docker_daemon.find_mirror_flags(ctx, options.scope)
    if mirrors and flags:
        raise EnvdoctorError(
            f"docker: dockerd is already given --registry-mirror ({flags[0]}); with "
            f"registry-mirrors in {display} too it would refuse to start",
            "Remove --registry-mirror from "
            + ", ".join(str(flag) for flag in flags)
            + ", or leave the mirrors there and run apply with --skip docker.",
        )
    new = _new_content(old, mirrors, display, profile.docker.max_concurrent_downloads)
    notes: list[str] = []
    if not mirrors and flags:
        notes.append(
            f"dockerd still gets --registry-mirror from {flags[0]}: remove it there "
            "to use Docker Hub directly"
        )
    if new is not None and new != old and old is not None and old.startswith(_BOM_BYTES):
        notes.append(
            f"{display} loses its byte-order mark: dockerd before 23.0 cannot read a file "
            "that starts with one"
        )
    notes.extend(_config_file_notes(ctx, options.scope, path))
    notes.extend(_unmirrored_notes(ctx, profile))
    if options.scope == "user":
        notes.append(
            f"{display} is rootless Docker's file; the system daemon reads {SYSTEM_FILE} "
            "(apply with --scope system as root)"
        )
    if new != old:
        command = reload_command(ctx, options.scope)
        if command is None:
            notes.append("no dockerd is running: it reads the mirrors when it starts")
        else:
            notes.append(f"registry-mirrors reload live: {shlex.join(command)} (never a restart)")
    changes: tuple[FileChange, ...] = ()
    if old is not None or new is not None:
        changes = (FileChange(NAME, path, display, old, new, mode=0o644, owner=_owner(options)),)
    return TargetPlan(NAME, changes=changes, notes=tuple(notes))


def _unmirrored_notes(ctx: Context, profile: Profile) -> list[str]:
    """Registries the profile mirrors for containerd/podman that dockerd cannot use."""
    from envdoctor.tools import containerd, oci_mirrors, podman

    if containerd.installed(ctx) or containerd.k3s_installed(ctx) or podman.installed(ctx):
        return []
    others = oci_mirrors.unmirrored_for_dockerd([profile.containerd, profile.podman])
    if not others:
        return []
    return [
        f"{', '.join(others)} stay unmirrored for dockerd: registry-mirrors covers Docker Hub "
        "only (containerd or podman, not installed here, would use the profile's mirrors)"
    ]


def mirror_problem(mirror: str) -> str | None:
    """Why dockerd's ``ValidateMirror`` rejects ``mirror``, or None when it accepts it."""
    try:
        parts = urlsplit(mirror)
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be http:// or https:// and a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a username or password"
    if parts.path not in ("", "/") or parts.query or parts.fragment or mirror.endswith(("?", "#")):
        return "must not have a path, query or fragment"
    return None


# --- daemon.json ----------------------------------------------------------------------


def _owner(options: ApplyOptions) -> tuple[int, int] | None:
    return options.owner if options.scope == "user" else None


def _parse(old: bytes, display: str) -> tuple[dict[str, Any], bool]:
    """The file's object, and whether it used CRLF line ends."""
    text = decode_utf8(old, display, "docker")
    text = text.removeprefix(_BOM)
    crlf = "\r\n" in text
    if not text.strip():
        return {}, crlf  # dockerd takes an empty file as no settings
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EnvdoctorError(
            f"docker: {display} line {exc.lineno} column {exc.colno}: invalid JSON "
            f"({exc.msg}); dockerd refuses to start with it",
            f"Fix or move {display}, then run apply again.",
        ) from exc
    except (RecursionError, ValueError) as exc:
        raise EnvdoctorError(
            f"docker: {display}: {json_refusal(exc)}; envdoctor does not edit it",
            f"Fix or move {display}, then run apply again.",
        ) from None
    problem = structure_problem(data)
    if problem is not None:
        raise EnvdoctorError(
            f"docker: {display}: refused: {problem}; envdoctor does not edit it",
            f"Fix or move {display}, then run apply again.",
        )
    if not isinstance(data, dict):
        raise EnvdoctorError(
            f"docker: {display} line 1: not a JSON object; dockerd refuses to start with it",
            f"Fix or move {display}, then run apply again.",
        )
    return data, crlf


def _new_content(
    old: bytes | None, mirrors: list[str], display: str, downloads: int | None = None
) -> bytes | None:
    """``old`` with ``registry-mirrors`` set to ``mirrors`` (removed when empty) and, when
    given, ``max-concurrent-downloads`` set to ``downloads`` (else left as it is)."""
    if old is None:
        if not mirrors and downloads is None:
            return None
        data: dict[str, Any] = {}
        crlf = False
    else:
        data, crlf = _parse(old, display)
    current = data.get(KEY)
    changed = False
    if mirrors:
        if current != mirrors:
            data[KEY] = mirrors  # an existing key keeps its place
            changed = True
    elif KEY in data and current not in (None, []):
        del data[KEY]
        changed = True
    if downloads is not None and data.get(DOWNLOADS_KEY) != downloads:
        data[DOWNLOADS_KEY] = downloads
        changed = True
    if not changed:
        return old
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode("utf-8")


# --- flags given to dockerd ----------------------------------------------------------


# --- the running daemon --------------------------------------------------------------


def _config_file_notes(ctx: Context, scope: Scope, path: Path) -> list[str]:
    """A running dockerd given ``--config-file`` elsewhere does not read our file."""
    notes: list[str] = []
    for pid, argv, uid in docker_daemon.dockerd_processes(ctx):
        if uid is not None and (uid == 0) != (scope == "system"):
            continue
        for index, arg in enumerate(argv):
            value: str | None = None
            if arg.startswith("--config-file="):
                value = arg.partition("=")[2]
            elif arg == "--config-file" and index + 1 < len(argv):
                value = argv[index + 1]
            if value is None:
                continue
            if not value.startswith("/"):  # relative to the daemon's working directory
                try:
                    value = posixpath.join(str(ctx.path(f"/proc/{pid}/cwd").readlink()), value)
                except OSError:
                    notes.append(
                        f"the running dockerd (pid {pid}) reads {value} (--config-file, "
                        f"relative to its working directory), not {ctx.display(path)}"
                    )
                    continue
            if ctx.path(posixpath.normpath(value)) != path:
                notes.append(
                    f"the running dockerd (pid {pid}) reads {value} (--config-file), "
                    f"not {ctx.display(path)}"
                )
    return notes


def _systemd_runs(ctx: Context) -> bool:
    return ctx.path("/run/systemd/system").is_dir()


def reload_command(ctx: Context, scope: Scope = "system") -> list[str] | None:
    """The command that makes the running dockerd reread ``daemon.json``, or None.

    ``systemctl reload docker`` (``--user`` for rootless) where systemd runs (the unit's
    ``ExecReload`` sends SIGHUP), else ``kill -HUP <pid>`` for the running dockerd found
    in ``/proc``; None when neither applies.  dockerd reloads ``registry-mirrors`` on
    SIGHUP without stopping containers; a file with errors is ignored and the old
    settings stay.  Never a restart.
    """
    if _systemd_runs(ctx):
        if scope == "user":
            return ["systemctl", "--user", "reload", "docker"]
        return ["systemctl", "reload", "docker"]
    pid = _daemon_pid(ctx, scope)
    return None if pid is None else ["kill", "-HUP", str(pid)]


def _daemon_pid(ctx: Context, scope: Scope) -> int | None:
    for pid, _, uid in docker_daemon.dockerd_processes(ctx):
        if uid is None or (uid == 0) == (scope == "system"):
            return pid
    return None


def reload(ctx: Context, scope: Scope = "system") -> str:
    """Make the running dockerd reread its ``daemon.json``; what was done, in words.

    Runs :func:`reload_command`: ``systemctl reload`` (only on this machine's own root,
    never an image tree) or SIGHUP to the dockerd pid found in ``ctx.path("/proc")``.
    Raises :class:`EnvdoctorError` when no daemon is running or the reload fails.
    """
    command = reload_command(ctx, scope)
    if command is None:
        raise EnvdoctorError(
            "docker: no running dockerd to reload",
            "Start Docker (systemctl start docker); it reads the new daemon.json on start.",
        )
    if command[0] == "systemctl":
        if ctx.root != Path("/"):
            raise EnvdoctorError(
                f"docker: not reloading through systemd for the tree at {ctx.root}",
                "Run the reload on the machine that boots that tree.",
            )
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)
        except FileNotFoundError as exc:
            raise EnvdoctorError("docker: systemctl is not installed", None) from exc
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or "").strip().splitlines()
            raise EnvdoctorError(
                f"docker: {shlex.join(command)} failed: {detail[-1] if detail else exc}",
                "See journalctl -u docker; the daemon keeps its previous settings.",
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise EnvdoctorError(f"docker: {shlex.join(command)} timed out", None) from exc
        return shlex.join(command)
    pid = int(command[-1])
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError as exc:
        raise EnvdoctorError(f"docker: dockerd (pid {pid}) is gone", None) from exc
    except PermissionError as exc:
        raise EnvdoctorError(
            f"docker: not allowed to signal dockerd (pid {pid})", "Run as root (sudo)."
        ) from exc
    return f"sent SIGHUP to dockerd (pid {pid})"


def _docker_row(ctx: Context, config: ToolConfig, remedies: Remedies) -> Row:
    mirrors_setting = config.settings["registry-mirrors"]
    mirrors = cast("tuple[str, ...]", mirrors_setting.value)
    flags = docker_daemon.find_mirror_flags(ctx, "system")
    if mirrors:
        summary = (
            f"registry-mirrors {', '.join(mirrors)} from {source_text(ctx, mirrors_setting.source)}"
        )
    elif flags:
        summary = f"registry mirror given as --registry-mirror in {flags[0]}"
    else:
        summary = "no registry mirror: Docker Hub directly"
    details = tool_details(ctx, config)
    details["mirror_flags"] = [str(flag) for flag in flags]
    details["liveness"] = NETWORK_HINT
    row = Row("docker", summary, details)
    for problem in config.problems:
        where = f"{shown(ctx, problem.path)}" + (
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
            f"{source_text(ctx, mirrors_setting.source)}: dockerd refuses to start",
            "remove --registry-mirror from " + ", ".join(str(flag) for flag in flags),
        )
    _docker_daemon(row, ctx, remedies, list(mirrors), bool(flags))
    profile = remedies.profile
    if profile is not None and profile.docker is not None:
        drift(
            row,
            profile,
            "registry-mirrors",
            [normalise_endpoint(m) for m in mirrors],
            [normalise_endpoint(m) for m in profile.docker.registry_mirrors],
            remedies.apply("docker", system=True, reload=True),
        )
    return row


def _docker_daemon(
    row: Row, ctx: Context, remedies: Remedies, configured: list[str], flagged: bool
) -> None:
    timeout = min(2.0, ctx.timeout or 2.0)
    info = docker_daemon.daemon_info(ctx, timeout=timeout)
    row.details["daemon"] = info.reason
    running = info.mirrors
    if running is None:
        row.details["daemon_mirrors"] = None
        return
    running_norm = [normalise_endpoint(m) for m in running]
    row.details["daemon_mirrors"] = running_norm
    file_norm = [normalise_endpoint(m) for m in configured]
    if not flagged and running_norm != file_norm:
        command = reload_command(ctx, "system")
        fallback = shlex.join(["sudo", *command]) if command else "sudo systemctl reload docker"
        row.warn(
            f"the running dockerd uses {', '.join(running_norm) or 'no mirror'} but "
            f"daemon.json says {', '.join(file_norm) or 'no mirror'}: edited but not reloaded",
            remedies.apply("docker", system=True, reload=True) or fallback,
        )


# --- the Tool protocol ------------------------------------------------------------------

TITLE = "Docker"
TABLE_KEYS = ("registry-mirrors", "probe-image", "max-concurrent-downloads", "allow-http")
URL_KEYS = ("registry-mirrors",)
REQUIRED = ("registry-mirrors", "registry-mirrors = [] (empty: Docker Hub itself)")
DOCKER_HUB = "https://registry-1.docker.io"
"""What Docker pulls from when no registry mirror is configured."""
ALIVE_STATUSES = frozenset({401})
"""A live registry answers an anonymous ``/v2/`` with 401 and a token challenge."""


@dataclass(frozen=True)
class DockerSettings:
    registry_mirrors: tuple[str, ...]
    """Empty: no mirror, Docker Hub itself."""
    allow_http: bool = False
    probe_image: str | None = None
    """The image measuring asks these mirrors for (``probe-image``); None: the default
    :data:`~envdoctor.tools.docker_pull.PROBE_IMAGE`.  Proxies that serve only an
    allowlist refuse most images: name one they serve."""
    max_concurrent_downloads: int | None = None
    """``max-concurrent-downloads`` for ``daemon.json``: layers pulled at once; None: the
    file's own value (or dockerd's default, 3) stays."""


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    """``registry-mirrors`` URLs, ``allow-http``, and ``probe-image`` an image name as
    ``docker pull`` takes it, without a registry host (:func:`docker_pull.image_problem`)."""
    checked = check_url_table(file, NAME, table, TABLE_KEYS, URL_KEYS)
    image = docker_pull.checked_probe_image(file, NAME, table)
    if image is not None:
        checked["probe-image"] = image
    downloads = table.get(DOWNLOADS_KEY)
    if downloads is not None:
        if isinstance(downloads, bool) or not isinstance(downloads, int) or downloads < 1:
            file.fail(
                (NAME, DOWNLOADS_KEY),
                f"expected a whole number of at least 1, got {downloads!r}",
                "Write max-concurrent-downloads = 8 (dockerd's default is 3).",
            )
        checked[DOWNLOADS_KEY] = downloads
    return checked


def settings(table: Mapping[str, Any]) -> DockerSettings:
    mirrors: tuple[str, ...] = table["registry-mirrors"]
    return DockerSettings(
        mirrors,
        allow_http=any_http(mirrors),
        probe_image=table.get("probe-image"),
        max_concurrent_downloads=table.get(DOWNLOADS_KEY),
    )


def settings_json(value: DockerSettings) -> dict[str, Any]:
    return {
        "registry_mirrors": list(value.registry_mirrors),
        "allow_http": value.allow_http,
        "probe_image": value.probe_image,
        "max_concurrent_downloads": value.max_concurrent_downloads,
    }


def settings_toml(value: DockerSettings) -> Any:
    table = toml_table({"registry-mirrors": list(value.registry_mirrors)})
    if value.probe_image is not None:
        table.add("probe-image", value.probe_image)
    if value.max_concurrent_downloads is not None:
        table.add(DOWNLOADS_KEY, value.max_concurrent_downloads)
    add_allow_http(table, value.allow_http)
    return table


def parallel_settings(value: DockerSettings) -> DockerSettings:
    """``value`` with more layers pulled at once: what ``--profile auto`` chooses where
    more connections were measured to help (each layer is still one connection)."""
    return dataclasses.replace(value, max_concurrent_downloads=PARALLEL_DOWNLOADS)


def endpoints(value: DockerSettings) -> list[str]:
    """The registry mirrors; none means Docker Hub itself (:data:`DOCKER_HUB`)."""
    return list(value.registry_mirrors)


def resolve(ctx: Context) -> ToolConfig:
    return resolve_docker(ctx)


def mirrors(config: ToolConfig) -> list[str]:
    """registry-mirrors, system then rootless; none configured means Docker Hub."""
    urls = list(cast("tuple[str, ...]", config.value("registry-mirrors")))
    if "rootless.registry-mirrors" in config.settings:
        urls += cast("tuple[str, ...]", config.value("rootless.registry-mirrors"))
    return urls


def canonical(url: str) -> str:
    return normalise_endpoint(url)


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row:
    return _docker_row(ctx, configs[NAME], checkup.remedies)


PARALLEL_ADVICE = (
    'dockerd fetches up to "max-concurrent-downloads" layers at once (daemon.json, '
    "default 3), each layer over one connection: raising it speeds up images with many "
    "layers, not one large layer; for a single large blob, aria2c -x 8 -s 8 splits it"
)
"""Checked against dockerd's documented daemon.json keys (``max-concurrent-downloads``)."""


def pull_path(base_url: str, options: PullOptions | None = None) -> PullPath:
    """``/v2/``, the version check ``docker pull`` starts with (200, or 401 with a token
    challenge, on a live registry), then the rest of ``docker pull`` for the image
    ``options`` name, else :data:`~envdoctor.tools.docker_pull.PROBE_IMAGE`
    (:mod:`envdoctor.tools.docker_pull`): token, manifest, and the layer blob to time."""
    image = options.image if options is not None else None
    return pull_path_for(base_url, image or docker_pull.PROBE_IMAGE)


def pull_path_for(base_url: str, image: str) -> PullPath:
    """:func:`pull_path` for another image (an allowlisted proxy serves only some)."""
    base = base_url.strip().rstrip("/")
    return PullPath(
        base_url,
        NAME,
        f"{base}/v2/",
        None,
        ALIVE_STATUSES,
        large_file=functools.partial(docker_pull.find_layer, base, image),
        proxy_rules="go",  # dockerd's Go net/http; the proxy is in dockerd's environment
        parallel_advice=PARALLEL_ADVICE,
    )


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    return []


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """dockerd reads its mirrors from daemon.json only, never from the environment."""
    return []
