"""Ask the running Docker daemon which registry mirrors it really uses.

``daemon.json`` says what dockerd will use the next time it reads the file; the daemon's
own ``GET /info`` says what it uses now.  The two differ after an edit without
``systemctl reload docker`` (``registry-mirrors`` reload live on SIGHUP).  This module
speaks HTTP over the daemon's unix socket with the standard library only, like
``docker info`` does, and never raises for a daemon that is absent or unreachable: the
answer then has ``mirrors=None`` and a reason.

Also here: the ``--registry-mirror`` flags in systemd units and option files that
override ``daemon.json``, and the dockerd processes running now.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envdoctor.context import Context
from envdoctor.planning import Scope

SYSTEM_SOCKET = "/var/run/docker.sock"
_UNIX = "unix://"


@dataclass(frozen=True)
class DaemonInfo:
    """What the daemon on ``socket`` said: its mirrors, or None and why there is no answer."""

    mirrors: list[str] | None
    """``RegistryConfig.Mirrors`` without trailing slashes; None when no daemon answered."""
    reason: str
    """One line: where the answer came from, or why there is none."""
    socket: str
    """The socket path asked (as this process sees it)."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    """``HTTPConnection`` whose transport is a unix socket (the Docker API's usual one)."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("docker", timeout=timeout)
        self._socket_path = socket_path
        self._unix_timeout = timeout

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._unix_timeout)
            sock.connect(self._socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def docker_socket(ctx: Context) -> str:
    """The socket the ``docker`` CLI would use: ``$DOCKER_HOST`` (unix), system, rootless.

    ``DOCKER_HOST=unix:///path`` wins; otherwise ``/var/run/docker.sock``, unless it does
    not exist and rootless Docker's ``$XDG_RUNTIME_DIR/docker.sock`` does.  A tcp or ssh
    ``DOCKER_HOST`` is not followed: the local daemon is the one that reads the local
    ``daemon.json``.  Paths from variables are used as given (like :meth:`Context.user_path`).
    """
    host = ctx.env.get("DOCKER_HOST", "")
    if host.startswith(_UNIX) and host[len(_UNIX) :].startswith("/"):
        return host[len(_UNIX) :]
    system = ctx.path(SYSTEM_SOCKET)
    runtime = ctx.env.get("XDG_RUNTIME_DIR", "")
    if runtime.startswith("/") and not _exists(system):
        rootless = Path(runtime) / "docker.sock"
        if _exists(rootless):
            return str(rootless)
    return str(system)


def daemon_info(ctx: Context, *, timeout: float = 2.0) -> DaemonInfo:
    """``GET /info`` on the daemon's socket; mirrors None (and why) when nobody answers."""
    path = docker_socket(ctx)
    try:
        info = _get_info(path, timeout)
    except _NoAnswer as reason:
        return DaemonInfo(None, str(reason), path)
    registry = info.get("RegistryConfig")
    raw = registry.get("Mirrors") if isinstance(registry, dict) else None
    if raw is None:  # dockerd sends null (or omits it) for "no mirrors"
        raw = []
    if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
        return DaemonInfo(None, f"dockerd on {path} sent RegistryConfig.Mirrors={raw!r}", path)
    version = info.get("ServerVersion")
    who = f"dockerd {version}" if isinstance(version, str) and version else "dockerd"
    return DaemonInfo([normalise_mirror(m) for m in raw], f"{who} answered on {path}", path)


def daemon_mirrors(ctx: Context, *, timeout: float = 2.0) -> list[str] | None:
    """The registry mirrors the running daemon uses, or None when no daemon answers."""
    return daemon_info(ctx, timeout=timeout).mirrors


def normalise_mirror(url: str) -> str:
    """A mirror as compared here: no surrounding space, no trailing slash (dockerd adds one)."""
    return url.strip().rstrip("/")


def configured_vs_running(configured: Sequence[str], running: Sequence[str]) -> bool:
    """True when the file's mirrors and the daemon's differ (edited but not reloaded).

    Order matters: dockerd tries mirrors in order, so a reordered list is a difference.
    """
    return [normalise_mirror(m) for m in configured] != [normalise_mirror(m) for m in running]


def mismatch_message(configured: Sequence[str], running: Sequence[str], source: str) -> str | None:
    """One line saying how the daemon differs from ``source`` (its daemon.json), or None."""
    if not configured_vs_running(configured, running):
        return None
    file_side = ", ".join(normalise_mirror(m) for m in configured) or "no mirror"
    daemon_side = ", ".join(normalise_mirror(m) for m in running) or "no mirror"
    return (
        f"dockerd uses {daemon_side} but {source} says {file_side}: "
        "the file was edited without a reload"
    )


class _NoAnswer(Exception):
    """Why no daemon answered; the message is one line for people."""


def _get_info(path: str, timeout: float) -> dict[str, Any]:
    connection = _UnixHTTPConnection(path, timeout)
    try:
        connection.request("GET", "/info", headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
    except FileNotFoundError:
        raise _NoAnswer(f"no Docker socket at {path}: dockerd is not running") from None
    except ConnectionRefusedError:
        raise _NoAnswer(f"{path} refused the connection: dockerd is not running") from None
    except PermissionError:
        raise _NoAnswer(
            f"permission denied on {path}: join the docker group or run envdoctor with sudo"
        ) from None
    except TimeoutError:
        raise _NoAnswer(f"dockerd on {path} did not answer within {timeout:g} s") from None
    except http.client.HTTPException as error:
        raise _NoAnswer(f"{path} did not answer HTTP: {type(error).__name__}") from None
    except OSError as error:
        raise _NoAnswer(f"cannot reach dockerd on {path}: {error.strerror or error}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise _NoAnswer(f"dockerd on {path} answered GET /info with HTTP {response.status}")
    try:
        info = json.loads(body)
    except ValueError:
        raise _NoAnswer(f"dockerd on {path} answered GET /info with no JSON") from None
    if not isinstance(info, dict):
        raise _NoAnswer(f"dockerd on {path} answered GET /info with no JSON object")
    return info


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


_FLAG = re.compile(r"--registry-mirror(?![\w-])")


# Unit files in systemd's order of precedence: the first one found is the unit.
_SYSTEM_UNITS = (
    "/etc/systemd/system/docker.service",
    "/run/systemd/system/docker.service",
    "/lib/systemd/system/docker.service",
    "/usr/lib/systemd/system/docker.service",
)


# Files sourced for dockerd's options by distribution units, with the variable they set.
_OPTION_FILES = (("/etc/default/docker", "DOCKER_OPTS"), ("/etc/sysconfig/docker", "OPTIONS"))


@dataclass(frozen=True)
class FlagLocation:
    """Where ``--registry-mirror`` is given to dockerd: a file and line, or a process."""

    where: str
    line: int | None = None

    def __str__(self) -> str:
        return self.where if self.line is None else f"{self.where} line {self.line}"


def find_mirror_flags(ctx: Context, scope: Scope = "system") -> list[FlagLocation]:
    """Every place ``--registry-mirror`` is given to the daemon of ``scope``.

    The systemd unit's effective ``ExecStart`` (the unit, then its drop-ins in name order,
    an empty ``ExecStart=`` clearing the earlier ones), ``DOCKER_OPTS`` in
    ``/etc/default/docker``, ``OPTIONS`` in ``/etc/sysconfig/docker``, and the command line
    of a running dockerd (root's for system scope, another user's for rootless).
    """
    found: list[FlagLocation] = []
    if scope == "system":
        found += _unit_flags(ctx, [ctx.path(unit) for unit in _SYSTEM_UNITS])
        for name, variable in _OPTION_FILES:
            found += _option_file_flags(ctx.path(name), name, variable)
    else:
        user_units = ctx.xdg_config_home / "systemd" / "user" / "docker.service"
        found += _unit_flags(ctx, [user_units])
    for pid, argv, uid in dockerd_processes(ctx):
        if (uid == 0) != (scope == "system") and uid is not None:
            continue
        if any(_FLAG.match(arg) for arg in argv[1:]):
            found.append(FlagLocation(f"the running dockerd (pid {pid})"))
    return found


def _logical_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """systemd's lines: a trailing backslash continues; (first line number, physical lines)."""
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        pending.append(line)
        if line.rstrip().endswith("\\"):
            continue
        yield start, pending
        pending = []
    if pending:
        yield start, pending


def _unit_flags(ctx: Context, units: list[Path]) -> list[FlagLocation]:
    unit = next((path for path in units if path.is_file()), None)
    if unit is None:
        return []
    files = [unit, *_drop_ins(ctx, unit.name, units)]
    execs: list[FlagLocation] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for start, lines in _logical_lines(text):
            stripped = lines[0].strip()
            if not stripped.startswith("ExecStart") or stripped.startswith(("#", ";")):
                continue
            key, sep, value = " ".join(lines).partition("=")
            if not sep or key.strip() != "ExecStart":
                continue
            if not value.strip():
                execs = []  # "ExecStart=" resets the list
                continue
            for offset, line in enumerate(lines):
                if _FLAG.search(line):
                    execs.append(FlagLocation(ctx.display(path), start + offset))
                    break
    return execs


def _drop_ins(ctx: Context, unit_name: str, units: list[Path]) -> list[Path]:
    """``<unit>.d/*.conf`` in every unit directory; by name, the first directory wins."""
    by_name: dict[str, Path] = {}
    for unit in units:
        directory = unit.parent / f"{unit_name}.d"
        if not directory.is_dir():
            continue
        for conf in sorted(directory.glob("*.conf")):
            by_name.setdefault(conf.name, conf)
    return [by_name[name] for name in sorted(by_name)]


def _option_file_flags(path: Path, name: str, variable: str) -> list[FlagLocation]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found: list[FlagLocation] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().removeprefix("export ").strip()
        if stripped.startswith("#") or not stripped.startswith(f"{variable}="):
            continue
        if _FLAG.search(stripped):
            found.append(FlagLocation(name, number))
    return found


def dockerd_processes(ctx: Context) -> list[tuple[int, list[str], int | None]]:
    """Running dockerd processes seen in ``ctx.path("/proc")``: (pid, argv, uid or None)."""
    proc = ctx.path("/proc")
    found: list[tuple[int, list[str], int | None]] = []
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        argv = [arg.decode("utf-8", "replace") for arg in raw.split(b"\0") if arg]
        if not argv or Path(argv[0]).name != "dockerd":
            continue
        found.append((int(entry.name), argv, _uid(entry)))
    return sorted(found)


def _uid(proc_entry: Path) -> int | None:
    try:
        status = (proc_entry / "status").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("Uid:"):
            fields = line.split()
            if len(fields) > 1 and fields[1].isdigit():
                return int(fields[1])
    return None
