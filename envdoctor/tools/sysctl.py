"""The sysctl target: network settings in ``/etc/sysctl.d/99-envdoctor.conf``.

envdoctor owns the whole file (and ``/etc/modules-load.d/envdoctor.conf``, which loads the
congestion control module at boot), so each apply rewrites it from the profile.  Kernel
settings are system-wide: in user scope, inside a container (``/proc/sys`` read-only, and
``net.core.default_qdisc`` exists only in the host's network namespace) or without root
the target is skipped and says what a host administrator would run instead.

Both systemd-sysctl and procps ``sysctl --system`` read ``*.conf`` from the sysctl.d
directories sorted by file name across directories, a later name winning; procps applies
``/etc/sysctl.conf`` after all of them and systemd reads it through the
``/etc/sysctl.d/99-sysctl.conf`` link most distributions ship.  Files that would override
what envdoctor writes are reported as notes.

The profile's ``[sysctl]`` table (only well-known network settings, each with the values
it accepts) is validated here too.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from envdoctor.checkup import Checkup
from envdoctor.configfiles import ToolConfig
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.facts import detect_container
from envdoctor.mounts import find_mount, parse_mountinfo
from envdoctor.planning import ApplyOptions
from envdoctor.profile_checks import ProfileFile, show, toml_table, type_name
from envdoctor.profiles import Profile
from envdoctor.results import FileChange, TargetPlan
from envdoctor.tools import PullOptions

# sysctl: only well-known network settings, each with the values it accepts.
_CONGESTION_CONTROLS = (
    "bbr", "bic", "cdg", "cubic", "dctcp", "highspeed", "htcp", "hybla", "illinois",
    "lp", "nv", "reno", "scalable", "vegas", "veno", "westwood", "yeah",
)  # fmt: skip


_QDISCS = ("cake", "codel", "fq", "fq_codel", "fq_pie", "pfifo_fast", "pie", "sfq")


_INT_MAX = 2**31 - 1


_SysctlRule = tuple[str, int, int, int]  # kind, count, minimum, maximum


_SYSCTL_RULES: Mapping[str, _SysctlRule] = {
    "net.ipv4.tcp_congestion_control": ("congestion", 1, 0, 0),
    "net.core.default_qdisc": ("qdisc", 1, 0, 0),
    "net.core.rmem_max": ("int", 1, 4096, _INT_MAX),
    "net.core.wmem_max": ("int", 1, 4096, _INT_MAX),
    "net.core.rmem_default": ("int", 1, 4096, _INT_MAX),
    "net.core.wmem_default": ("int", 1, 4096, _INT_MAX),
    "net.ipv4.tcp_rmem": ("int", 3, 1, _INT_MAX),
    "net.ipv4.tcp_wmem": ("int", 3, 1, _INT_MAX),
    "net.ipv4.tcp_fastopen": ("int", 1, 0, 0xFFF),
    "net.ipv4.tcp_mtu_probing": ("int", 1, 0, 2),
    "net.ipv4.tcp_slow_start_after_idle": ("int", 1, 0, 1),
    "net.ipv4.tcp_notsent_lowat": ("int", 1, 1, 2**32 - 1),
    "net.ipv4.tcp_window_scaling": ("int", 1, 0, 1),
    "net.ipv4.tcp_sack": ("int", 1, 0, 1),
    "net.ipv4.tcp_timestamps": ("int", 1, 0, 2),
    "net.ipv4.tcp_ecn": ("int", 1, 0, 2),
    "net.ipv4.tcp_tw_reuse": ("int", 1, 0, 2),
    "net.ipv4.tcp_max_syn_backlog": ("int", 1, 1, _INT_MAX),
    "net.core.netdev_max_backlog": ("int", 1, 1, _INT_MAX),
    "net.core.somaxconn": ("int", 1, 1, _INT_MAX),
}


SYSCTL_KEYS: tuple[str, ...] = tuple(_SYSCTL_RULES)
"""The sysctl keys a profile may set."""


def _check_sysctl(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for path, name, value in _flatten(("sysctl",), table):
        if name not in _SYSCTL_RULES:
            suggestion = name.replace("/", ".")
            if suggestion in _SYSCTL_RULES:
                file.fail(path, "not a known sysctl key", f"Write it with dots: {suggestion}.")
            file.unknown_key(
                path,
                SYSCTL_KEYS,
                "sysctl key (envdoctor only sets well-known network settings)",
                word=name,
            )
        if name in checked:
            file.fail(path, "set twice (once quoted, once as dotted keys)")
        checked[name] = _check_sysctl_value(file, path, name, value)
    return checked


def _check_sysctl_value(file: ProfileFile, path: Sequence[str], name: str, value: object) -> str:
    kind, count, low, high = _SYSCTL_RULES[name]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        file.fail(path, f"expected a string or an integer, got {type_name(value)}")
    text = str(value)
    if kind in ("congestion", "qdisc"):
        names = _CONGESTION_CONTROLS if kind == "congestion" else _QDISCS
        if text not in names:
            close = difflib.get_close_matches(text, names, n=1)
            did_you_mean = f"Did you mean {close[0]!r}? " if close else ""
            what = "TCP congestion control" if kind == "congestion" else "queueing discipline"
            file.fail(
                path,
                f"{show(text)} is not a known {what}",
                f"{did_you_mean}Known: {', '.join(names)}.",
            )
        return text
    numbers = text.split()
    expected = "an integer" if count == 1 else f"{count} integers separated by spaces"
    expected += f" ({low} to {high})"
    if len(numbers) != count or not all(n.isascii() and n.isdigit() for n in numbers):
        file.fail(path, f"expected {expected}, got {show(text)}")
    values = [int(n) for n in numbers]
    if not all(low <= v <= high for v in values):
        file.fail(path, f"expected {expected}, got {show(text)}")
    if values != sorted(values):
        file.fail(path, "expected minimum, default and maximum in that order")
    return " ".join(str(v) for v in values)


def _flatten(
    prefix: tuple[str, ...], table: Mapping[str, Any], dotted: str = ""
) -> Iterator[tuple[tuple[str, ...], str, object]]:
    """sysctl keys written quoted ("net.core.somaxconn") or as dotted TOML keys, alike."""
    for key, value in table.items():
        name = f"{dotted}.{key}" if dotted else key
        if isinstance(value, dict):
            yield from _flatten((*prefix, key), value, name)
        else:
            yield (*prefix, key), name, value


NAME = "sysctl"

SYSCTL_FILE = "/etc/sysctl.d/99-envdoctor.conf"
MODULES_FILE = "/etc/modules-load.d/envdoctor.conf"
CONGESTION_KEY = "net.ipv4.tcp_congestion_control"

SYSCTL_DIRS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
"""Directories both systemd-sysctl and ``sysctl --system`` read, highest precedence first:
a file name found in an earlier directory hides the same name in later ones."""
SYSCTL_CONF = "/etc/sysctl.conf"

_AVAILABLE = "/proc/sys/net/ipv4/tcp_available_congestion_control"
_BUILTIN_CONGESTION = frozenset({"reno"})
"""Always in the kernel, never a module: nothing to load at boot."""


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    """The sysctl.d file (and modules-load.d file) that make the kernel follow ``profile``."""
    if profile.sysctl is None:
        return TargetPlan(NAME, skipped="the profile does not set sysctl")
    values = dict(profile.sysctl.values)
    _check_values(values)
    if not values:
        return TargetPlan(NAME, skipped="the profile's [sysctl] table is empty")
    reason = _why_not(ctx, options)
    if reason is not None:
        command = f"a host administrator can run: {host_command(profile)}"
        return TargetPlan(NAME, notes=(command,), skipped=reason)
    unavailable = _congestion_unavailable(ctx, values.get(CONGESTION_KEY))
    if unavailable is not None:
        return TargetPlan(NAME, skipped=unavailable)
    changes = (
        _change(ctx, SYSCTL_FILE, render(profile)),
        _change(ctx, MODULES_FILE, render_modules(profile)),
    )
    notes = [*overrides(ctx, values)]
    if any(change.changed for change in changes):
        notes.append(
            "the values take effect at the next boot; `sudo sysctl --system` "
            "(or envdoctor apply --now) applies them now"
        )
    kept = tuple(c for c in changes if c.old is not None or c.new is not None)
    return TargetPlan(NAME, changes=kept, notes=tuple(notes))


def render(profile: Profile) -> bytes:
    """The whole of ``99-envdoctor.conf``: a header and one ``key = value`` per line."""
    values = _values(profile)
    lines = [
        f"# Managed by envdoctor (profile {_one_line(profile.name)}): the whole file is",
        "# rewritten by `envdoctor apply`; change the profile, not this file.",
        *(f"{key} = {values[key]}" for key in sorted(values)),
    ]
    return ("\n".join(lines) + "\n").encode()


def render_modules(profile: Profile) -> bytes | None:
    """The modules-load.d file loading the congestion control module, or None for none."""
    module = _module(_values(profile).get(CONGESTION_KEY))
    if module is None:
        return None
    return (
        f"# Managed by envdoctor (profile {_one_line(profile.name)}): load {module} at boot\n"
        f"# so {CONGESTION_KEY} can be set early.\n"
        f"{module}\n"
    ).encode()


def host_command(profile: Profile) -> str:
    """One shell line writing the files and applying them, for an administrator to run."""
    steps = [_tee(render(profile), SYSCTL_FILE)]
    modules = render_modules(profile)
    if modules is not None:
        steps.append(_tee(modules, MODULES_FILE))
    steps.append("sudo sysctl --system")
    return " && ".join(steps)


def sysctl_d_files(ctx: Context) -> list[str]:
    """The sysctl.d ``*.conf`` files in the order they are applied, as system paths.

    Sorted by file name across the directories; a name in an earlier directory of
    :data:`SYSCTL_DIRS` hides the same name in later ones (``sysctl.d(5)``).
    """
    chosen: dict[str, str] = {}  # file name -> the system path that wins for it
    for directory in SYSCTL_DIRS:
        try:
            names = sorted(p.name for p in ctx.path(directory).iterdir())
        except OSError:
            continue
        for name in names:
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = f"{directory}/{name}"
    return [chosen[name] for name in sorted(chosen)]


def overrides(ctx: Context, values: Mapping[str, str]) -> list[str]:
    """Notes for each file read after ``99-envdoctor.conf`` that sets one of ``values``."""
    ours = Path(SYSCTL_FILE).name
    later = [display for display in sysctl_d_files(ctx) if Path(display).name > ours]
    notes: list[str] = []
    seen: set[Path] = set()
    for display in [*later, SYSCTL_CONF]:
        path = follow(ctx, ctx.path(display))
        if path != ctx.path(display):
            display = f"{display} (a link to {ctx.system_path(path)})"
        try:
            real = path.resolve()
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        if real in seen:  # 99-sysctl.conf is usually a link to /etc/sysctl.conf
            continue
        seen.add(real)
        when = (
            "procps applies it last" if path == ctx.path(SYSCTL_CONF) else "it is read after ours"
        )
        for line_no, key, value in assignments(text):
            # A key with no glob matches only itself: fnmatch would compile a pattern
            # for each line of a 1 MiB sysctl.conf.
            glob = any(char in key for char in "*?[")
            for wanted in sorted(values):
                matches = fnmatch.fnmatchcase(wanted, key) if glob else wanted == key
                if matches and value.split() != values[wanted].split():
                    notes.append(
                        f"{display} line {line_no} sets {wanted} = {value} and wins ({when}): "
                        f"remove that line to keep {values[wanted]}"
                    )
    return notes


def apply_now(ctx: Context, values: Mapping[str, str]) -> list[str]:
    """Write ``values`` to ``/proc/sys`` now (``--now``); one line per key saying what happened.

    A key the kernel refuses (not root, a container, a key outside this network namespace)
    is reported, not raised: the persistent file is what matters, this is a convenience.
    """
    _check_values(values)
    done: list[str] = []
    for key in sorted(values):
        path = ctx.path("/proc/sys/" + key.replace(".", "/"))
        try:
            # No O_CREAT: a key this kernel (or namespace) lacks is an error, not a new file.
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, (values[key] + "\n").encode("ascii"))
            finally:
                os.close(fd)
            now = " ".join(path.read_text(encoding="ascii").split())
        except OSError as error:
            done.append(f"could not set {key} = {values[key]}: {error.strerror or error}")
            continue
        done.append(f"set {key} = {now}")
    return done


# --- why the target may not apply ---------------------------------------------------------


def _why_not(ctx: Context, options: ApplyOptions) -> str | None:
    if options.scope != "system":
        return "kernel settings are system-wide: use --scope system (as root)"
    container = detect_container(ctx)
    writable = proc_sys_writable(ctx)
    if container is not None:
        read_only = " and its /proc/sys is read-only" if writable is False else ""
        return (
            f"running inside a container ({container}){read_only}: kernel settings such as "
            "net.core.default_qdisc belong to the host"
        )
    if writable is False:
        return "/proc/sys is mounted read-only (a container or a locked-down system)"
    if ctx.root == Path("/") and os.geteuid() != 0:
        return "changing kernel settings needs root: run envdoctor with sudo"
    return None


def proc_sys_writable(ctx: Context) -> bool | None:
    """Whether the mount holding ``/proc/sys`` is read-write; None when unknown.

    Read from ``/proc/self/mountinfo`` (the most specific mount point wins: Docker mounts
    ``/proc/sys`` read-only over a read-write ``/proc``); without it, ``statvfs`` says.
    The one answer the kernel check shows and the sysctl plan acts on.
    """
    options = _mount_options(ctx, "/proc/sys")
    if options is not None:
        return "ro" not in options
    try:
        return not os.statvfs(ctx.path("/proc/sys")).f_flag & os.ST_RDONLY
    except OSError:
        return None  # no /proc (an image tree): nothing to say


def _mount_options(ctx: Context, target: str) -> list[str] | None:
    try:
        text = ctx.path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    mount = find_mount(parse_mountinfo(text), target)
    return list(mount.options) if mount else None


def _congestion_unavailable(ctx: Context, congestion: str | None) -> str | None:
    if congestion is None or congestion in _BUILTIN_CONGESTION:
        return None
    try:
        available = ctx.path(_AVAILABLE).read_text(encoding="ascii", errors="replace").split()
    except OSError:
        available = None
    if available is not None and congestion in available:
        return None
    module = f"tcp_{congestion}"
    if module_exists(ctx, module):
        return None  # not loaded yet: setting it loads the module
    listed = " ".join(available) if available is not None else "unknown"
    return (
        f"the kernel has no {congestion} congestion control (available: {listed}; "
        f"no {module} module found)"
    )


def _kernel_dirs(ctx: Context) -> list[Path]:
    dirs: list[Path] = []
    for base in ("/lib/modules", "/usr/lib/modules"):
        if ctx.root == Path("/"):
            dirs.append(ctx.path(base) / os.uname().release)
            continue
        try:  # an image tree: its own kernels, not the one running here
            dirs.extend(sorted(p for p in ctx.path(base).iterdir() if p.is_dir()))
        except OSError:
            continue
    return dirs


def module_exists(ctx: Context, module: str) -> bool:
    for kernel in _kernel_dirs(ctx):
        if any((kernel / "kernel/net/ipv4").glob(f"{module}.ko*")):
            return True
        try:
            builtin = (kernel / "modules.builtin").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if any(Path(line.strip()).name.startswith(f"{module}.ko") for line in builtin.splitlines()):
            return True
    return False


# --- small helpers -----------------------------------------------------------------------


def _values(profile: Profile) -> dict[str, str]:
    return dict(profile.sysctl.values) if profile.sysctl is not None else {}


def _module(congestion: str | None) -> str | None:
    if congestion is None or congestion in _BUILTIN_CONGESTION:
        return None
    return f"tcp_{congestion}"


def _check_values(values: Mapping[str, str]) -> None:
    """Profiles validate keys and values; a file owned whole still refuses what would break it."""
    for key, value in values.items():
        bad = not key or any(c.isspace() or c in "=#;/" for c in key) or key.startswith("-")
        if bad or "\x00" in value or "\n" in value or "\r" in value or not value.strip():
            raise EnvdoctorError(
                f"sysctl {key!r} = {value!r} cannot be written to {SYSCTL_FILE}",
                "Fix the profile's [sysctl] table (envdoctor profiles shows it).",
            )


def assignments(text: str) -> list[tuple[int, str, str]]:
    """``(line, key, value)`` per assignment; keys normalised to dots as sysctl reads them."""
    found: list[tuple[int, str, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().lstrip("-")  # "-key" means: ignore failures
        found.append((number, _normalise(key), value.strip()))
    return found


def _normalise(key: str) -> str:
    """sysctl.d(5): with a slash first, slashes separate; with a dot first, dots do."""
    slash, dot = key.find("/"), key.find(".")
    if slash >= 0 and (dot < 0 or slash < dot):
        return key.replace(".", "\x00").replace("/", ".").replace("\x00", "/")
    return key


def follow(ctx: Context, path: Path) -> Path:
    """One symlink hop, kept inside ``ctx.root`` (an image's absolute links point into it)."""
    try:
        target = path.readlink()
    except OSError:
        return path
    return ctx.path(str(target)) if target.is_absolute() else path.parent / target


def _change(ctx: Context, system_path: str, new: bytes | None) -> FileChange:
    path = ctx.path(system_path)
    try:
        old: bytes | None = path.read_bytes()
    except FileNotFoundError:
        old = None
    except OSError as error:
        raise EnvdoctorError(
            f"cannot read {ctx.display(path)}: {error.strerror or error}",
            "Check its permissions, or run envdoctor as root.",
        ) from error
    return FileChange(NAME, path, ctx.display(path), old, new, mode=0o644)


def _tee(content: bytes, system_path: str) -> str:
    lines = content.decode().splitlines()
    printf = "printf '%s\\n' " + " ".join(shlex.quote(line) for line in lines)
    return f"{printf} | sudo tee {system_path} >/dev/null"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- the Tool protocol ------------------------------------------------------------------

TITLE = "kernel TCP settings"
REQUIRED = None


@dataclass(frozen=True)
class SysctlSettings:
    values: Mapping[str, str]


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    return _check_sysctl(file, table)


def settings(table: Mapping[str, Any]) -> SysctlSettings:
    return SysctlSettings(MappingProxyType(dict(table)))


def settings_json(value: SysctlSettings) -> dict[str, Any]:
    return dict(value.values)


def settings_toml(value: SysctlSettings) -> Any:
    return toml_table(dict(value.values))


def endpoints(value: SysctlSettings) -> list[str]:
    """No mirror: the kernel's settings are not downloaded from anywhere."""
    return []


def resolve(ctx: Context) -> None:
    """The kernel check (:mod:`envdoctor.probes.kernel`) reads the live values and the
    sysctl.d chain with :func:`sysctl_d_files` and :func:`overrides`."""
    return None


def mirrors(config: ToolConfig) -> list[str]:
    return []


def canonical(url: str) -> str:
    return url


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> None:
    """Reported by the kernel check, not the config check."""
    return None


def pull_path(base_url: str, options: PullOptions | None = None) -> None:
    return None


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    return []


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """Kernel settings are not per command."""
    return []
