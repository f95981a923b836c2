"""Facts about the machine a report was made on: the header of every check."""

from __future__ import annotations

import os
import platform
import shlex
import socket
from typing import Any

from envdoctor import __version__
from envdoctor.context import Context


def machine_facts(ctx: Context) -> dict[str, Any]:
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "os": _os_name(ctx),
        "kernel": uname.release,
        "arch": uname.machine,
        "python": platform.python_version(),
        "envdoctor": __version__,
        "container": detect_container(ctx),
        "user": _user(ctx),
        "root": str(ctx.root),
    }


def _os_name(ctx: Context) -> str | None:
    for candidate in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = ctx.path(candidate).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        fields = dict(_os_release_pairs(text))
        return fields.get("PRETTY_NAME") or fields.get("NAME")
    return None


def _os_release_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or key.strip().startswith("#"):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        pairs.append((key.strip(), " ".join(words)))
    return pairs


def detect_container(ctx: Context) -> str | None:
    """The container runtime this process runs under, or None on a host or VM."""
    if ctx.path("/.dockerenv").exists():
        return "docker"
    if ctx.path("/run/.containerenv").exists():
        return "podman"
    runtime = ctx.env.get("container")  # set by systemd-nspawn, podman, lxc
    if runtime:
        return runtime
    if "KUBERNETES_SERVICE_HOST" in ctx.env:
        return "kubernetes"
    try:
        cgroups = ctx.path("/proc/1/cgroup").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for marker in ("kubepods", "docker", "containerd", "libpod", "lxc"):
        if marker in cgroups:
            return marker
    return None


def _user(ctx: Context) -> dict[str, Any]:
    return {
        "uid": os.geteuid(),
        "name": ctx.env.get("USER") or ctx.env.get("LOGNAME") or _login_name(),
        "sudo_user": ctx.env.get("SUDO_USER"),
    }


def _login_name() -> str | None:
    """The effective user's name from the password database, as ``id -un`` finds it."""
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid with no entry (containers run as arbitrary uids)
        return None
