"""containerd (kubelet, nerdctl, ctr) and k3s: registry mirrors in ``hosts.toml``.

containerd reads a registry's mirrors from ``<config_path>/<registry>/hosts.toml``
(``server`` plus ``[host."<mirror>"]`` tables with ``capabilities = ["pull", "resolve"]``),
but its CRI plugin (what kubelet uses) reads that directory only when ``config_path`` is set
in ``/etc/containerd/config.toml`` (containerd 1.x to 2.1 leave it empty; 2.2 and later
read ``/etc/containerd/certs.d:/etc/docker/certs.d`` when it is unset, and the plan then
leaves config.toml alone: :data:`DEFAULT_CONFIG_PATH_SINCE`).  So a plan writes one
``hosts.toml`` per registry of the profile under ``/etc/containerd/certs.d`` (or the first
directory ``config_path`` already names) and sets ``config_path`` when it is not set, with
tomlkit so every other byte of ``config.toml`` stays (:mod:`~envdoctor.tools.containerd_files`).
When ``config.toml`` imports a file (``imports = ["/etc/containerd/conf.d/*.toml"]``) that
has the CRI plugin's section, that section replaces ``config.toml``'s whole (containerd
merges imported files over it): the check reads ``config_path`` there, and a plan sets it
there (:func:`cri_file`).
The deprecated ``registry.mirrors`` table is never written: the CRI plugin refuses to load
when it is set together with ``config_path``, so a plan stops and says how to move it.

hosts.toml is read at every pull (no restart); config.toml only when containerd starts, so a
changed config.toml needs ``systemctl restart containerd`` (running containers keep running:
their shims stay).  envdoctor never restarts containerd itself: ``--reload`` says this.
``ctr`` reads no config at all: ``ctr image pull --hosts-dir /etc/containerd/certs.d``.

k3s runs its own containerd and writes its hosts.toml files from
``/etc/rancher/k3s/registries.yaml`` at start: when k3s is installed the plan edits that file
(ruamel.yaml, comments kept), and k3s needs a restart to read it.

System scope only: containerd's files are system-wide.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import functools
import posixpath
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from envdoctor.checkup import Checkup, Row, add_problems, source_text, tool_details
from envdoctor.configfiles import (
    ConfigProblem,
    Setting,
    Source,
    ToolConfig,
    decode_utf8,
    normalise_endpoint,
    read_existing,
    read_text,
)
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.net.session import PullPath
from envdoctor.planning import ApplyOptions
from envdoctor.profile_checks import ProfileFile
from envdoctor.profiles import Profile
from envdoctor.redact import mask_url
from envdoctor.results import FileChange, TargetPlan
from envdoctor.tools import PullOptions, docker, oci_mirrors
from envdoctor.tools import containerd_files as files
from envdoctor.tools.oci_mirrors import RegistryMirrors

NAME = "containerd"
TITLE = "containerd"
TABLE_KEYS = oci_mirrors.TABLE_KEYS
REQUIRED = ("mirrors", '[containerd.mirrors] "docker.io" = ["https://..."]')

CONFIG_TOML = "/etc/containerd/config.toml"
SOCKET = "/run/containerd/containerd.sock"
K3S_REGISTRIES = "/etc/rancher/k3s/registries.yaml"
RESTART = "sudo systemctl restart containerd"
_DEFAULT = Source("default", "containerd")


# --- where containerd is --------------------------------------------------------------


DEFAULT_CONFIG_PATH_SINCE = (2, 2)
"""containerd 2.2 reads ``/etc/containerd/certs.d:/etc/docker/certs.d`` when ``config_path``
is unset or empty (``DefaultImageConfig``; a version 2 file's empty one is filled in as it
is migrated); before, an unset one means no hosts directory for the CRI plugin."""
DEFAULT_CONFIG_PATH = "/etc/containerd/certs.d:/etc/docker/certs.d"


def installed_version(ctx: Context) -> tuple[int, ...] | None:
    """The version ``containerd --version`` prints (Debian's ``1.6.20~ds1``, upstream's
    ``v2.2.0``); None when there is no containerd on ``PATH``, for an image's (not run
    here), or when it says none."""
    program = None if ctx.image else ctx.program_path("containerd")
    if program is None:
        return None
    try:
        changed = program.stat().st_mtime_ns
    except OSError:
        return None
    return _program_version(str(program), changed)


@functools.lru_cache(maxsize=8)
def _program_version(program: str, changed: int) -> tuple[int, ...] | None:
    """``program --version``'s version, asked once per run for a program as it is
    (``changed``: its modification time), within 2 s: a check and its plan ask it
    several times, and one that hangs must not cost each of them its timeout."""
    try:
        done = subprocess.run(
            [program, "--version"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(?<![\w.])v?(\d+)\.(\d+)\.(\d+)", done.stdout)
    return tuple(int(part) for part in match.groups()) if match else None


def with_default_config_path(
    ctx: Context, config: files.ContainerdConfig
) -> tuple[files.ContainerdConfig, tuple[int, ...] | None]:
    """``config`` with the ``config_path`` containerd 2.2 and later use when it is unset,
    and the version that says so (None: the file's own value stands)."""
    if config.config_path:
        return config, None
    version = installed_version(ctx)
    if version is None or version < DEFAULT_CONFIG_PATH_SINCE:
        return config, None
    return dataclasses.replace(config, config_path=DEFAULT_CONFIG_PATH), version


def installed(ctx: Context) -> bool:
    """A standalone containerd: its binary, its socket or ``/etc/containerd``."""
    return (
        ctx.on_path("containerd")
        or ctx.path(SOCKET).exists()
        or ctx.path("/etc/containerd").is_dir()
    )


def k3s_installed(ctx: Context) -> bool:
    return ctx.on_path("k3s") or ctx.path("/etc/rancher/k3s").is_dir()


# --- its profile table ----------------------------------------------------------------


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    return oci_mirrors.check_table(file, NAME, table)


# The registry table is the same for containerd and podman (envdoctor.tools.oci_mirrors).
settings = oci_mirrors.settings
settings_json = oci_mirrors.settings_json
settings_toml = oci_mirrors.settings_toml
endpoints = oci_mirrors.endpoints


# --- what it really uses --------------------------------------------------------------


def _load_config(
    ctx: Context, problems: list[ConfigProblem], files_read: list[str]
) -> tuple[files.ContainerdConfig, Path]:
    """The CRI registry settings containerd uses, and the file they come from
    (``config.toml``, or a file it imports: :func:`cri_file`)."""
    path = ctx.path(CONFIG_TOML)
    text = read_text(path, problems)
    if text is None:
        return files.ContainerdConfig(2, "io.containerd.grpc.v1.cri", "", ()), path
    files_read.append(str(path))
    try:
        doc = files.read_toml(text, CONFIG_TOML)
    except EnvdoctorError as exc:
        problems.append(ConfigProblem(str(path), None, exc.message.partition(": ")[2]))
        return files.ContainerdConfig(2, "io.containerd.grpc.v1.cri", "", ()), path
    imported = cri_file(ctx, doc, problems)
    if imported is None:
        return files.read_config(doc), path
    files_read.append(str(imported.path))
    return imported.config, imported.path


@dataclass(frozen=True)
class CriFile:
    """The file whose CRI registry section containerd uses: ``config.toml``, or the last
    file it imports that has the plugin's section.  containerd merges each imported file
    over the ones before (``config.toml`` first, then its imports, breadth first, each
    once) and replaces a plugin's whole section with the later file's, so a
    ``config_path`` left in ``config.toml`` is then not read (containerd 1.6 and 2.x:
    ``config dump``)."""

    path: Path
    config: files.ContainerdConfig


def cri_file(ctx: Context, doc: Any, problems: list[ConfigProblem] | None = None) -> CriFile | None:
    """The imported file that replaces ``config.toml``'s (parsed: ``doc``) CRI section,
    None when none does.  A file that does not parse raises (containerd refuses to start)
    unless ``problems`` collects it; one that is missing is left out."""
    config = files.read_config(doc)
    found: CriFile | None = None
    for path, imported in imported_files(ctx, doc, problems):
        own = files.read_config(imported)
        if files.defines_plugin(imported, own.plugin) or files.defines_plugin(
            imported, config.plugin
        ):
            found = CriFile(path, own)
    return found


def imported_files(
    ctx: Context, doc: Any, problems: list[ConfigProblem] | None = None
) -> Iterator[tuple[Path, Any]]:
    """Each file ``config.toml`` (parsed: ``doc``) imports, parsed, in the order containerd
    merges them: breadth first, each once (:func:`cri_file` says what fails how)."""
    pending = _imports(ctx, CONFIG_TOML, files.imports_of(doc), problems)
    loaded = {CONFIG_TOML}
    while pending:
        system, pending = pending[0], pending[1:]
        if system in loaded:
            continue
        loaded.add(system)
        path = ctx.path(system)
        text = read_text(path, problems if problems is not None else [])
        if text is None:
            if problems is not None and not path.exists():
                problems.append(
                    ConfigProblem(
                        str(path),
                        None,
                        "is imported but does not exist: containerd refuses to start",
                    )
                )
            continue
        try:
            imported = files.read_toml(text, ctx.display(path))
        except EnvdoctorError as exc:
            if problems is None:
                raise
            problems.append(ConfigProblem(str(path), None, exc.message.partition(": ")[2]))
            continue
        yield path, imported
        pending = pending + _imports(ctx, system, files.imports_of(imported), problems)


def _newest_config_file(ctx: Context) -> Path:
    """Of ``config.toml`` and the files it imports, the one changed last: a containerd
    that started before it runs with what the files said before."""
    main = ctx.path(CONFIG_TOML)
    text = read_text(main, [])
    candidates = [main]
    if text:
        with contextlib.suppress(EnvdoctorError):
            doc = files.read_toml(text, CONFIG_TOML)
            candidates += [path for path, _ in imported_files(ctx, doc, [])]

    def changed(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    return max(candidates, key=changed)


def _imports(
    ctx: Context, parent: str, items: list[str], problems: list[ConfigProblem] | None
) -> list[str]:
    """``parent``'s imports as system paths, as containerd resolves them: a relative one
    against ``parent``'s directory, a pattern expanded in name order."""
    paths: list[str] = []
    for item in items:
        path = posixpath.normpath(item)
        if not path.startswith("/"):
            if "*" in path and problems is not None:
                problems.append(
                    ConfigProblem(
                        str(ctx.path(parent)),
                        None,
                        f"imports the relative pattern {item!r}: containerd before 1.7.20 "
                        "expands it from its working directory, later ones (and envdoctor) "
                        f"from {posixpath.dirname(parent)}",
                    )
                )
            path = posixpath.join(posixpath.dirname(parent), path)
        paths += go_glob(ctx, path) if "*" in path else [path]  # containerd's test
    return paths


_GO_META = re.compile(r"[*?\[\\]")


def go_glob(ctx: Context, pattern: str) -> list[str]:
    """Go's ``filepath.Glob`` of the system path ``pattern`` under the context's root, as
    containerd expands an import: one directory at a time, each directory's names in
    byte order, ``*`` never across a ``/`` (so ``**`` is ``*``), dot files matched."""
    head, tail = posixpath.split(pattern)
    dirs = go_glob(ctx, head) if _GO_META.search(head) else [head]
    found: list[str] = []
    for directory in dirs:
        if not _GO_META.search(tail):
            candidate = posixpath.join(directory, tail)
            if ctx.path(candidate).is_symlink() or ctx.path(candidate).exists():
                found.append(candidate)
            continue
        try:
            names = sorted(entry.name for entry in ctx.path(directory).iterdir())
        except OSError:
            continue
        wanted = _fnmatch_pattern(tail)
        found += [posixpath.join(directory, n) for n in names if fnmatch.fnmatchcase(n, wanted)]
    return found


def _fnmatch_pattern(pattern: str) -> str:
    """A Go ``path.Match`` pattern of one name in ``fnmatch``'s spelling: ``[^...]`` is
    ``[!...]``, and ``\\c`` is the character c."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            out.append(f"[{escaped}]" if escaped not in "]!^" else escaped)
            index += 2
            continue
        if char == "[" and pattern[index + 1 : index + 2] == "^":
            out.append("[!")
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def hosts_dir(ctx: Context, config: files.ContainerdConfig) -> Path:
    """Where this plan writes hosts.toml: the first ``config_path`` directory, or the
    default ``/etc/containerd/certs.d``."""
    dirs = files.hosts_dirs(config)
    return ctx.path(dirs[0] if dirs else files.DEFAULT_HOSTS_DIR)


def resolve(ctx: Context) -> ToolConfig | None:
    """config.toml's ``config_path``, every ``hosts.toml`` it leads to and k3s's
    ``registries.yaml``; None when neither containerd nor k3s is on this machine."""
    if not installed(ctx) and not k3s_installed(ctx):
        return None
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    settings_: dict[str, Setting] = {}
    config, config_file = _load_config(ctx, problems, files_read)
    section = f'plugins."{config.plugin}".registry'
    config_source = Source("file", str(config_file), section)
    config, defaulted = with_default_config_path(ctx, config)
    path_source = config_source if config.config_path else _DEFAULT
    if defaulted is not None:
        path_source = Source("default", f"containerd {'.'.join(map(str, defaulted))}")
    settings_["config_path"] = Setting("config_path", config.config_path, path_source)
    settings_["legacy_mirrors"] = Setting(
        "legacy_mirrors",
        config.legacy_mirrors,
        config_source if config.legacy_mirrors else _DEFAULT,
    )
    dirs = files.hosts_dirs(config) or [files.DEFAULT_HOSTS_DIR]
    for directory in dirs:
        base = ctx.path(directory)
        try:
            registries = sorted(p for p in base.iterdir() if p.is_dir())
        except OSError:
            continue
        for registry_dir in registries:
            hosts_path = registry_dir / "hosts.toml"
            text = read_text(hosts_path, problems)
            if text is None:
                continue
            files_read.append(str(hosts_path))
            try:
                _, hosts = files.hosts_of(text)
            except Exception as exc:  # noqa: BLE001 - tomlkit raises several types
                problems.append(
                    ConfigProblem(str(hosts_path), None, f"invalid TOML ({exc}): pulls fail")
                )
                continue
            name = f"mirrors.{registry_dir.name}"
            if name in settings_:
                continue  # the first directory that has the registry wins
            urls = tuple(mask_url(h) for h, caps in hosts if "pull" in caps)
            settings_[name] = Setting(name, urls, Source("file", str(hosts_path)))
    if k3s_installed(ctx):
        path = ctx.path(K3S_REGISTRIES)
        text = read_text(path, problems)
        if text is not None:
            files_read.append(str(path))
            try:
                found = files.k3s_mirrors(text)
            except Exception as exc:  # noqa: BLE001 - ruamel raises several types
                problems.append(ConfigProblem(str(path), None, f"invalid YAML ({exc})"))
                found = {}
            for registry, endpoints_ in found.items():
                name = f"k3s.mirrors.{registry}"
                settings_[name] = Setting(
                    name,
                    tuple(mask_url(u) for u in endpoints_),
                    Source("file", str(path), "mirrors"),
                )
    return ToolConfig(NAME, settings_, problems, files_read)


def mirrors(config: ToolConfig) -> list[str]:
    """Every mirror of every registry, hosts.toml and registries.yaml alike."""
    urls: list[str] = []
    for name, setting in config.settings.items():
        if name.startswith(("mirrors.", "k3s.mirrors.")):
            urls += cast("tuple[str, ...]", setting.value)
    return urls


def canonical(url: str) -> str:
    return normalise_endpoint(url)


def effective_mirrors(config: ToolConfig, prefix: str = "mirrors.") -> dict[str, list[str]]:
    return {
        name.removeprefix(prefix): [normalise_endpoint(u) for u in cast("tuple[str, ...]", s.value)]
        for name, s in config.settings.items()
        if name.startswith(prefix)
    }


# --- its traps ------------------------------------------------------------------------


def _process_start(ctx: Context, pid: int) -> float | None:
    """When a process started (seconds since the epoch), from /proc/<pid>/stat."""
    import os

    try:
        stat = ctx.path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        boot = ctx.path("/proc/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    btime = next((line.split()[1] for line in boot.splitlines() if line.startswith("btime")), None)
    if len(fields) < 20 or btime is None:
        return None
    ticks = int(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100
    return int(btime) + int(fields[19]) / ticks


def running(ctx: Context, program: str = "containerd") -> list[int]:
    """Pids of running ``program`` processes (by their argv[0]) in ``ctx.path("/proc")``."""
    found: list[int] = []
    try:
        entries = list(ctx.path("/proc").iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if Path(argv0.decode("utf-8", "replace")).name == program:
            found.append(int(entry.name))
    return sorted(found)


def stale_daemon(ctx: Context, path: Path, program: str = "containerd") -> int | None:
    """The pid of a running ``program`` that started before ``path`` was last changed."""
    try:
        changed = path.stat().st_mtime
    except OSError:
        return None
    for pid in running(ctx, program):
        started = _process_start(ctx, pid)
        if started is not None and started < changed:
            return pid
    return None


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row | None:
    config = configs.get(NAME)
    if config is None:
        return None
    remedies = checkup.remedies
    apply = remedies.apply(NAME, system=True)
    config_path = cast("str", config.value("config_path"))
    hosts = effective_mirrors(config)
    k3s = effective_mirrors(config, "k3s.mirrors.")
    parts = [
        f"{registry} -> {', '.join(urls) or 'no mirror'} "
        f"({source_text(ctx, config.settings['mirrors.' + registry].source)})"
        for registry, urls in hosts.items()
    ]
    parts += [
        f"k3s {registry} -> {', '.join(urls) or 'no mirror'}" for registry, urls in k3s.items()
    ]
    summary = "; ".join(parts) if parts else "no registry mirror: each registry directly"
    details = tool_details(ctx, config)
    details["hosts_toml"] = hosts
    details["k3s"] = k3s
    row = Row(NAME, summary, details)
    add_problems(row, ctx, config)
    legacy = cast("tuple[str, ...]", config.value("legacy_mirrors"))
    if legacy:
        table = f"{config.settings['legacy_mirrors'].source.section}.mirrors"
        message = f"{CONFIG_TOML} sets the deprecated {table} ({', '.join(legacy)}): " + (
            "with config_path also set the CRI plugin refuses to load"
            if config_path
            else "config_path cannot be used while it is there"
        )
        remedy = (
            f"move each registry to {files.DEFAULT_HOSTS_DIR}/<registry>/hosts.toml, delete the "
            f"mirrors table, then {RESTART}"
        )
        (row.fail if config_path else row.warn)(message, remedy)
    if installed(ctx) and hosts and not config_path:
        row.warn(
            f"config_path is not set in {CONFIG_TOML}: the CRI plugin (kubelet) ignores "
            f"{files.DEFAULT_HOSTS_DIR}; only ctr --hosts-dir and nerdctl read it",
            apply or f'set config_path = "{files.DEFAULT_HOSTS_DIR}" in the registry table',
        )
    newest = _newest_config_file(ctx)
    pid = stale_daemon(ctx, newest)
    if pid is not None:
        row.warn(
            f"the running containerd (pid {pid}) started before {ctx.display(newest)} was "
            "last changed: it still uses the old settings",
            f"{RESTART} (running containers keep running)",
        )
    k3s_pid = stale_daemon(ctx, ctx.path(K3S_REGISTRIES), "k3s")
    if k3s_pid is not None:
        row.warn(
            f"k3s (pid {k3s_pid}) started before {K3S_REGISTRIES} was last changed",
            "sudo systemctl restart k3s",
        )
    profile = remedies.profile
    if profile is not None and profile.containerd is not None:
        oci_mirrors.report_drift(row, profile, profile.containerd, hosts, apply)
    return row


# --- its plan -------------------------------------------------------------------------


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    """hosts.toml per registry, config_path in config.toml, k3s's registries.yaml."""
    table = profile.containerd
    if table is None:
        return TargetPlan(NAME, skipped="the profile does not set containerd")
    standalone, k3s = installed(ctx), k3s_installed(ctx)
    if not standalone and not k3s:
        return TargetPlan(NAME, skipped="neither containerd nor k3s is installed")
    if options.scope != "system":
        return TargetPlan(
            NAME, skipped="containerd's files are system-wide: apply with --scope system as root"
        )
    changes: list[FileChange] = []
    notes: list[str] = []
    if standalone:
        changes += _containerd_changes(ctx, profile, table, notes)
    if k3s:
        path = ctx.path(K3S_REGISTRIES)
        shown = ctx.display(path)  # under --root, the image's file: never this machine's
        old = read_existing(path, shown, NAME, root=ctx.root)
        old_text = None if old is None else decode_utf8(old, shown, NAME)
        new_text = files.k3s_registries(old_text, table.registries)
        if new_text != old_text:
            new = None if new_text is None else new_text.encode()
            changes.append(FileChange(NAME, path, shown, old, new, mode=0o600))
            notes.append(f"k3s reads {K3S_REGISTRIES} when it starts: sudo systemctl restart k3s")
    return TargetPlan(NAME, changes=tuple(c for c in changes if c.changed), notes=tuple(notes))


def _containerd_changes(
    ctx: Context, profile: Profile, table: RegistryMirrors, notes: list[str]
) -> list[FileChange]:
    config_file = ctx.path(CONFIG_TOML)
    shown = ctx.display(config_file)  # under --root, the image's file: never this machine's
    old_config = read_existing(config_file, shown, NAME, root=ctx.root)
    old_text = None if old_config is None else decode_utf8(old_config, shown, NAME)
    doc = files.read_toml(old_text, shown) if old_text else None
    config = (
        files.read_config(doc)
        if doc is not None
        else files.ContainerdConfig(2, "io.containerd.grpc.v1.cri", "", ())
    )
    imported = cri_file(ctx, doc) if doc is not None else None
    if imported is not None:  # its CRI section replaces config.toml's: edit that file
        config_file, config = imported.path, imported.config
        shown = ctx.display(config_file)
        old_config = read_existing(config_file, shown, NAME, root=ctx.root)
        old_text = None if old_config is None else decode_utf8(old_config, shown, NAME)
    # containerd 2.2 reads certs.d with config_path unset: setting it would only drop
    # /etc/docker/certs.d from the directories it reads
    config, _ = with_default_config_path(ctx, config)
    if config.legacy_mirrors and table.mirrored:
        raise EnvdoctorError(
            f"containerd: {shown} has the deprecated "
            f'plugins."{config.plugin}".registry.mirrors table '
            f"({', '.join(config.legacy_mirrors)}); with config_path the CRI plugin refuses "
            "to load",
            f"Move those mirrors to {files.DEFAULT_HOSTS_DIR}/<registry>/hosts.toml and delete "
            "the table, or run apply with --skip containerd.",
        )
    changes: list[FileChange] = []
    directory = hosts_dir(ctx, config)
    for registry, urls in table.registries:
        path = directory / registry / "hosts.toml"
        display = ctx.display(path)
        old = read_existing(path, display, NAME, root=ctx.root)
        old_hosts = None if old is None else decode_utf8(old, display, NAME)
        new_hosts = files.hosts_toml(old_hosts, registry, urls, profile.name)
        if old is not None and new_hosts == old_hosts:
            continue
        if new_hosts is None and old is None:
            continue
        if old is not None and new_hosts == old_hosts and not urls:
            notes.append(f"{display} was not written by envdoctor: left as it is")
        new = None if new_hosts is None else new_hosts.encode()
        changes.append(FileChange(NAME, path, display, old, new, mode=0o644))
    if changes:
        notes.append("containerd reads hosts.toml at every pull: no restart needed for them")
    if table.mirrored and not config.config_path:
        new_text = files.with_config_path(old_text, ctx.system_path(directory), shown)
        changes.append(
            FileChange(NAME, config_file, shown, old_config, new_text.encode(), mode=0o644)
        )
        where = ctx.system_path(config_file)
        imports = f" (its CRI section replaces {CONFIG_TOML}'s)" if imported else ""
        notes.append(
            f"config_path in {where}{imports} is read when containerd starts: {RESTART} "
            "(envdoctor never restarts it; running containers keep running)"
        )
    if changes:
        notes.append(
            f"ctr reads no configuration: ctr image pull --hosts-dir {ctx.system_path(directory)}"
        )
    return changes


def reload(ctx: Context) -> str:
    """What ``--reload`` does for containerd: nothing, and why, in words."""
    newest = _newest_config_file(ctx)
    pid = stale_daemon(ctx, newest)
    if pid is not None:
        return (
            f"containerd (pid {pid}) reads {ctx.display(newest)} only when it starts: run "
            f"{RESTART} "
            "(envdoctor does not restart it); hosts.toml needs no reload"
        )
    return "containerd reads hosts.toml at every pull: nothing to reload"


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    return []


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """containerd reads its mirrors from files only."""
    return []


def pull_path(base_url: str, options: PullOptions | None = None) -> PullPath:
    """Docker's pull path (``/v2/``, alive on 401): containerd asks a mirror the same
    (without dockerd's parallel-download knob, which is not containerd's)."""
    return dataclasses.replace(docker.pull_path(base_url, options), parallel_advice=None)
