"""podman, CRI-O, buildah and skopeo: registry mirrors in ``registries.conf`` (v2).

All four read registries through containers/image, which loads, per
containers-registries.conf(5):

- one main file: ``$CONTAINERS_REGISTRIES_CONF`` when set (podman reads it; skopeo does
  not, and the check says so), else
  ``~/.config/containers/registries.conf`` when it exists (it *replaces* the system file
  and the system drop-ins), else ``/etc/containers/registries.conf``;
- then the drop-ins ``*.conf`` of ``/etc/containers/registries.conf.d/`` (not when the user
  file is used) and of ``~/.config/containers/registries.conf.d/``, each directory in name
  order: a later file wins, a ``[[registry]]`` with the same ``prefix`` replaces the earlier
  one whole, ``unqualified-search-registries`` set in a later file replaces the list, and
  ``[aliases]`` merge name by name.

So a plan writes one drop-in, ``registries.conf.d/90-envdoctor.conf`` (system
``/etc/containers/``, user ``~/.config/containers/``), and never edits the distribution's
file: ``[[registry]] prefix = "<registry>"`` with a ``[[registry.mirror]]`` per mirror
(``insecure = true`` for plain http).  Keys the registry had in an earlier file
(``location``, ``insecure``, ``blocked``) are copied, since the drop-in replaces that entry.
podman, buildah and skopeo read the files at every command; CRI-O on
``systemctl reload crio``.

The traps an unqualified ``podman pull python`` falls into are diagnosed: which registry
``unqualified-search-registries`` sends it to first, short-name aliases that point a
common name elsewhere, and ``mirror-by-digest-only``, which skips mirrors for tags.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import tomlkit

from envdoctor import toml10
from envdoctor.checkup import Checkup, Row, add_problems, source_text, tool_details
from envdoctor.configfiles import (
    MAX_NESTING,
    ConfigProblem,
    Setting,
    Source,
    ToolConfig,
    decode_utf8,
    memoized,
    normalise_endpoint,
    read_existing,
    read_text,
)
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.net.session import PullPath
from envdoctor.planning import ApplyOptions, Scope
from envdoctor.profile_checks import ProfileFile
from envdoctor.profiles import Profile
from envdoctor.results import FileChange, TargetPlan
from envdoctor.tools import PullOptions, docker, docker_pull, oci_mirrors
from envdoctor.tools.oci_mirrors import RegistryMirrors

NAME = "podman"
TITLE = "podman / CRI-O / buildah / skopeo"
TABLE_KEYS = oci_mirrors.TABLE_KEYS
REQUIRED = ("mirrors", '[podman.mirrors] "docker.io" = ["https://..."]')

SYSTEM_FILE = "/etc/containers/registries.conf"
SYSTEM_DIR = "/etc/containers/registries.conf.d"
DROP_IN = "90-envdoctor.conf"
MARKER = "Managed by envdoctor"
PROGRAMS = ("podman", "crio", "buildah", "skopeo")
COMMON_SHORT_NAMES = ("python", "ubuntu", "debian", "alpine", "busybox", "nginx", "postgres")
"""Names people pull unqualified; an alias sending one elsewhere is worth a warning."""
_COPIED_KEYS = ("location", "insecure", "blocked")
_DEFAULT = Source("default", "containers/image")


# --- where it is ----------------------------------------------------------------------


def programs(ctx: Context) -> list[str]:
    """The containers/image programs installed here."""
    return [program for program in PROGRAMS if ctx.on_path(program)]


def installed(ctx: Context) -> bool:
    return bool(programs(ctx)) or ctx.path(SYSTEM_FILE).exists()


def user_dir(ctx: Context) -> Path:
    """``~/.config/containers``, whatever ``XDG_CONFIG_HOME`` says: containers/image joins
    ``.config/containers/registries.conf`` to the home directory (``$HOME``), in every
    version to date (podman 4.3 to 5.x; ``sysregistriesv2.newConfigWrapper``)."""
    return ctx.home / ".config" / "containers"


def drop_in(ctx: Context, scope: Scope) -> Path:
    """The drop-in this scope's plan writes."""
    if scope == "system":
        return ctx.path(SYSTEM_DIR) / DROP_IN
    return user_dir(ctx) / "registries.conf.d" / DROP_IN


def search_order(ctx: Context) -> list[Path]:
    """Every file containers/image reads, lowest priority first (see the module doc)."""
    user_file = user_dir(ctx) / "registries.conf"
    user_drop_ins = user_dir(ctx) / "registries.conf.d"
    override = ctx.env.get("CONTAINERS_REGISTRIES_CONF")
    dirs: list[Path]
    if override:
        main, dirs = ctx.user_path(override), [ctx.path(SYSTEM_DIR), user_drop_ins]
    elif user_file.exists():
        main, dirs = user_file, [user_drop_ins]
    else:
        main, dirs = ctx.path(SYSTEM_FILE), [ctx.path(SYSTEM_DIR), user_drop_ins]
    found = [main]
    for directory in dirs:
        try:
            found += sorted(p for p in directory.glob("*.conf") if p.is_file())
        except OSError:
            continue
    return found


# --- its profile table ----------------------------------------------------------------


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    return oci_mirrors.check_table(file, NAME, table)


# The registry table is the same for containerd and podman (envdoctor.tools.oci_mirrors).
settings = oci_mirrors.settings
settings_json = oci_mirrors.settings_json
settings_toml = oci_mirrors.settings_toml
endpoints = oci_mirrors.endpoints


# --- what it really uses --------------------------------------------------------------


@dataclass
class Registries:
    """registries.conf merged the way containers/image merges it."""

    registries: dict[str, tuple[dict[str, Any], Path]] = field(default_factory=dict)
    search: tuple[tuple[str, ...], Path] | None = None
    aliases: dict[str, tuple[str, Path]] = field(default_factory=dict)
    short_name_mode: tuple[str, Path] | None = None
    refused: list[tuple[Path, str]] = field(default_factory=list)
    """Files containers/image refuses, and why: v1 and v2 tables in one file, or a drop-in
    in the v1 format (the main file may be v1: it is converted)."""


def load(
    ctx: Context, problems: list[ConfigProblem], files_read: list[str], skip: Path | None = None
) -> Registries:
    """Every file of :func:`search_order` merged; ``skip``: a file to leave out."""
    merged = Registries()
    order = search_order(ctx)
    for path in order:
        if path == skip:
            continue
        text = read_text(path, problems)
        if text is None:
            continue
        files_read.append(str(path))
        data, error = memoized(ctx, "registries.conf", text, functools.partial(_parse, text))
        if data is None:
            refused, line, _ = toml10.position(error)
            problem = (  # what envdoctor refuses to read, not a verdict on podman's parser
                f"{refused}: envdoctor does not read it"
                if toml10.is_refusal(error)
                else f"invalid TOML: podman refuses to run ({error})"
            )
            problems.append(ConfigProblem(str(path), line, problem))
            continue
        v1 = data.get("registries")
        if isinstance(v1, dict) and v1:
            if any(key in data for key in _V2_KEYS):
                merged.refused.append((path, "mixes the v1 [registries.*] tables with v2 keys"))
                continue
            if path != order[0]:  # containers/image: "registry must be in v2 format"
                merged.refused.append((path, "is a drop-in in the v1 [registries.*] format"))
                continue
            data = _v1_as_v2(v1)
        for entry in data.get("registry", []) if isinstance(data.get("registry"), list) else []:
            if not isinstance(entry, dict):
                continue
            prefix = str(entry.get("prefix") or entry.get("location") or "")
            if prefix:  # matched as written: docker.io/... images do not match an alias
                merged.registries[oci_mirrors.registry_name(prefix)] = (entry, path)
        search = data.get("unqualified-search-registries")
        if isinstance(search, list):
            merged.search = (tuple(str(s) for s in search), path)
        aliases = data.get("aliases")
        if isinstance(aliases, dict):
            for name, target in aliases.items():
                merged.aliases[str(name)] = (str(target), path)
        mode = data.get("short-name-mode")
        if isinstance(mode, str):
            merged.short_name_mode = (mode, path)
    return merged


_V2_KEYS = ("registry", "unqualified-search-registries", "aliases", "short-name-mode")


def _v1_as_v2(v1: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 main file as containers/image converts it (``V1RegistriesConf.ConvertToV2``):
    ``[registries.search]`` is the search list, and each registry named in
    ``[registries.insecure]`` or ``[registries.block]`` a ``[[registry]]`` of its own."""

    def names(table: str) -> list[str]:
        entry = v1.get(table)
        found = entry.get("registries") if isinstance(entry, dict) else None
        return [str(name) for name in found] if isinstance(found, list) else []

    entries: dict[str, dict[str, Any]] = {}
    for table, flag in (("search", None), ("insecure", "insecure"), ("block", "blocked")):
        for name in names(table):
            entry = entries.setdefault(name, {"prefix": name, "location": name})
            if flag is not None:
                entry[flag] = True
    return {"unqualified-search-registries": names("search"), "registry": list(entries.values())}


def _parse(text: str) -> tuple[dict[str, Any] | None, str]:
    """A registries.conf read by toml10 (TOML 1.0, as containers/image's BurntSushi/toml
    reads it: tomlkit took seconds for 1 MiB), or None and why it is refused."""
    try:
        return toml10.loads(text), ""
    except toml10.TOMLDecodeError as exc:
        return None, str(exc)
    except RecursionError:
        return None, f"nests more than {MAX_NESTING} deep"
    except ValueError as exc:  # an integer past Python's 4300-digit limit
        return None, str(exc).split(";")[0]


def mirror_url(entry: Mapping[str, Any]) -> str:
    """A ``[[registry.mirror]]`` location as a URL (http when marked insecure), its path
    kept: ``harbor.example/proxy`` is a namespace that containers/image puts before the
    repository (``harbor.example/proxy/library/busybox``), as a Harbor proxy cache wants."""
    location = str(entry.get("location", "")).strip().rstrip("/")
    return f"{'http' if entry.get('insecure') else 'https'}://{location}"


def resolve(ctx: Context) -> ToolConfig | None:
    """The merged registries.conf; None when no containers/image program is here."""
    if not installed(ctx):
        return None
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    merged = load(ctx, problems, files_read)
    result: dict[str, Setting] = {}
    for prefix, (entry, path) in merged.registries.items():
        raw = entry.get("mirror", [])
        urls = (
            tuple(mirror_url(m) for m in raw if isinstance(m, dict))
            if isinstance(raw, list)
            else ()
        )
        result[f"mirrors.{prefix}"] = Setting(f"mirrors.{prefix}", urls, Source("file", str(path)))
        if entry.get("mirror-by-digest-only") and urls:
            problems.append(
                ConfigProblem(
                    str(path),
                    None,
                    f"{prefix} has mirror-by-digest-only = true: pulls by tag skip its mirrors",
                )
            )
    for prefix, (entry, path) in merged.registries.items():
        hub = oci_mirrors.canonical_registry(prefix)
        if hub != prefix and entry.get("mirror"):
            problems.append(
                ConfigProblem(
                    str(path),
                    None,
                    f'prefix "{prefix}" matches only images named with that host: '
                    f"{hub}/... images (every Docker Hub pull) skip its mirrors; write "
                    f'prefix = "{hub}"',
                )
            )
    for path, why in merged.refused:
        problems.append(
            ConfigProblem(str(path), None, f"{why}, which podman refuses: rewrite it as v2")
        )
    if merged.search is None:
        result["unqualified-search-registries"] = Setting(
            "unqualified-search-registries", (), _DEFAULT
        )
    else:
        result["unqualified-search-registries"] = Setting(
            "unqualified-search-registries", merged.search[0], Source("file", str(merged.search[1]))
        )
    for name in COMMON_SHORT_NAMES:
        if name in merged.aliases:
            target, path = merged.aliases[name]
            result[f"alias.{name}"] = Setting(f"alias.{name}", target, Source("file", str(path)))
    if merged.short_name_mode is not None:
        mode, path = merged.short_name_mode
        result["short-name-mode"] = Setting("short-name-mode", mode, Source("file", str(path)))
    return ToolConfig(NAME, result, problems, files_read)


def mirrors(config: ToolConfig) -> list[str]:
    urls: list[str] = []
    for name, setting in config.settings.items():
        if name.startswith("mirrors."):
            urls += cast("tuple[str, ...]", setting.value)
    return urls


def canonical(url: str) -> str:
    return normalise_endpoint(url)


def short_name_target(config: ToolConfig, name: str) -> tuple[str | None, str]:
    """Where an unqualified ``podman pull NAME`` goes first, and why, in words."""
    alias = config.settings.get(f"alias.{name}")
    if alias is not None:
        return str(alias.value), f"alias in {alias.source.location}"
    search = cast("tuple[str, ...]", config.value("unqualified-search-registries"))
    if not search:
        return None, "no unqualified-search-registries: short names fail"
    return f"{search[0]}/{name}", "first of unqualified-search-registries"


# --- its traps ------------------------------------------------------------------------


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row | None:
    config = configs.get(NAME)
    if config is None:
        return None
    remedies = checkup.remedies
    apply = remedies.apply(NAME, system=True)
    effective = {
        name.removeprefix("mirrors."): [
            normalise_endpoint(u) for u in cast("tuple[str, ...]", s.value)
        ]
        for name, s in config.settings.items()
        if name.startswith("mirrors.")
    }
    parts = [
        f"{registry} -> {', '.join(urls)} "
        f"({source_text(ctx, config.settings['mirrors.' + registry].source)})"
        for registry, urls in effective.items()
        if urls
    ]
    summary = "; ".join(parts) if parts else "no registry mirror: each registry directly"
    details = tool_details(ctx, config)
    details["programs"] = programs(ctx)
    details["mirrors"] = effective
    row = Row(NAME, summary, details)
    add_problems(row, ctx, config)
    search_setting = config.settings["unqualified-search-registries"]
    search = cast("tuple[str, ...]", search_setting.value)
    where = source_text(ctx, search_setting.source)
    if search and search[0] not in ("docker.io", "registry-1.docker.io"):
        row.warn(
            f"unqualified-search-registries in {where} puts {search[0]} first: "
            f"`podman pull python` asks {search[0]}/python before Docker Hub",
            f'set unqualified-search-registries = ["docker.io"] in {where}, or pull '
            "fully qualified names (docker.io/library/python)",
        )
    mode = config.settings.get("short-name-mode")
    if len(search) > 1 and (mode is None or mode.value == "enforcing"):
        row.details["short_name_prompt"] = True
    for name in COMMON_SHORT_NAMES:
        target, _ = short_name_target(config, name)
        alias = config.settings.get(f"alias.{name}")
        expected = f"docker.io/library/{name}"
        if alias is not None and target is not None and not target.startswith(expected):
            row.warn(
                f"short-name alias {name} = {target} ({source_text(ctx, alias.source)}): "
                f"`podman pull {name}` does not get {expected}",
                f"remove the alias or pull {expected} by its full name",
            )
    override = ctx.env.get("CONTAINERS_REGISTRIES_CONF")
    if override and "skopeo" in details["programs"]:
        row.warn(
            f"CONTAINERS_REGISTRIES_CONF={override} is podman's main file, but skopeo does "
            f"not read the variable (skopeo 1.9 to 1.22): it reads {SYSTEM_FILE} or the "
            "user's file instead, so its registries may differ from podman's",
            f"give skopeo the same file: skopeo --registries-conf {override} ...",
        )
    profile = remedies.profile
    if profile is not None and profile.podman is not None:
        oci_mirrors.report_drift(row, profile, profile.podman, effective, apply)
    return row


# --- its plan -------------------------------------------------------------------------


def _location(url: str) -> tuple[str, bool]:
    scheme, _, rest = url.partition("://")
    return rest.rstrip("/"), scheme == "http"


def drop_in_text(
    table: RegistryMirrors, profile: str, earlier: Mapping[str, Mapping[str, Any]]
) -> str | None:
    """The drop-in for ``table`` (None when no registry has a mirror)."""
    if not table.mirrored:
        return None
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment(f"{MARKER} (profile {profile}): mirrors tried in order, then the registry.")
    )
    doc.add(
        tomlkit.comment("podman, buildah and skopeo read it at every command; CRI-O on reload.")
    )
    entries = tomlkit.aot()
    for registry, urls in table.registries:
        if not urls:
            continue
        entry = tomlkit.table()
        entry.add("prefix", registry)
        before = earlier.get(registry, {})
        entry.add("location", str(before.get("location", registry)))
        for key in _COPIED_KEYS[1:]:
            if key in before:
                entry.add(key, before[key])
        mirror_entries = tomlkit.aot()
        for url in urls:
            location, insecure = _location(url)
            mirror = tomlkit.table()
            mirror.add("location", location)
            if insecure:
                mirror.add("insecure", True)
            mirror_entries.append(mirror)
        entry.add("mirror", mirror_entries)
        entries.append(entry)
    doc.add(tomlkit.nl())
    doc.add("registry", entries)
    return tomlkit.dumps(doc)


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    """Write (or remove) the envdoctor drop-in of this scope."""
    table = profile.podman
    if table is None:
        return TargetPlan(NAME, skipped="the profile does not set podman")
    if not installed(ctx):
        return TargetPlan(NAME, skipped="no podman, CRI-O, buildah or skopeo is installed")
    path = drop_in(ctx, options.scope)
    display = ctx.display(path)
    problems: list[ConfigProblem] = []
    merged = load(ctx, problems, [], skip=path)
    if merged.refused:
        first, why = ctx.display(merged.refused[0][0]), merged.refused[0][1]
        raise EnvdoctorError(
            f"podman: {first} {why}, which podman refuses: a drop-in would not be read",
            f"Rewrite {first} as v2 (unqualified-search-registries = [...]), or --skip podman.",
        )
    earlier = {
        prefix: entry for prefix, (entry, source) in merged.registries.items() if source != path
    }
    old = read_existing(path, display, NAME, root=ctx.root)
    if old is not None:
        decode_utf8(old, display, NAME)
    new_text = drop_in_text(table, profile.name, earlier)
    new = None if new_text is None else new_text.encode()
    notes: list[str] = []
    later = [
        ctx.display(source)
        for prefix, (_, source) in merged.registries.items()
        if source != path and prefix in table.mirrored and _after(ctx, source, path)
    ]
    if later:
        notes.append(f"{', '.join(later)} comes later and replaces these registries' entries")
    user_file = user_dir(ctx) / "registries.conf"
    if options.scope == "system" and user_file.exists():
        notes.append(
            f"{ctx.display(user_file)} replaces the system files for this user: its "
            "podman does not read the system drop-in"
        )
    if new != old:
        notes.append("podman, buildah and skopeo read it at the next command")
        if options.scope == "system" and ctx.on_path("crio"):
            notes.append("CRI-O reads it on: sudo systemctl reload crio")
    if new == old:
        return TargetPlan(NAME, notes=tuple(notes))
    owner = options.owner if options.scope == "user" else None
    return TargetPlan(
        NAME,
        changes=(FileChange(NAME, path, display, old, new, mode=0o644, owner=owner),),
        notes=tuple(notes),
    )


def _after(ctx: Context, source: Path, ours: Path) -> bool:
    """Whether containers/image reads ``source`` after the drop-in ``ours``."""
    if source.parent == ours.parent:
        return source.name > ours.name
    return (
        ours.parent == ctx.path(SYSTEM_DIR) and source.parent == user_dir(ctx) / "registries.conf.d"
    )


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    return []


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """containers/image reads mirrors from files; CONTAINERS_REGISTRIES_CONF only replaces
    the main file, so there is nothing to point at for one command."""
    return []


def pull_path(base_url: str, options: PullOptions | None = None) -> PullPath:
    """Docker's pull path (``/v2/``, alive on 401): containers/image asks the same
    (without dockerd's parallel-download knob, which is not podman's).  A mirror with a
    path (a namespace) is asked at its host's ``/v2/``, for the image under that path."""
    scheme, sep, rest = base_url.strip().rstrip("/").partition("://")
    host, slash, namespace = rest.partition("/")
    image = (options.image if options is not None else None) or docker_pull.PROBE_IMAGE
    if not slash or not namespace:
        path = docker.pull_path_for(base_url, image)
    else:
        repo, tag = docker_pull.split_image(image)
        under = docker_pull.reference(f"{namespace}/{repo}", tag)
        path = dataclasses.replace(
            docker.pull_path_for(f"{scheme}{sep}{host}", under), base_url=base_url
        )
    return dataclasses.replace(path, parallel_advice=None)
