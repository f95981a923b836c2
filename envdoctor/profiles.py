"""Mirror profiles: TOML data validated into frozen dataclasses.

A profile names the endpoints each target should use: the pip and uv index, the conda
mirror, Docker Hub mirrors, the Hugging Face endpoint, the ModelScope domain and a few
network sysctls.  Profiles are data, never code.  The shipped ones live in ``profiles/``
(packaged as ``envdoctor.shipped_profiles``); files in
``$XDG_CONFIG_HOME/envdoctor/profiles/*.toml`` override them by name or add new ones.
The format is documented in ``profiles/README.md``.

Every file is checked on its own first (types, URLs, names; an error names the file, the
key and the line), then merged with the profile it ``extends``.  Each tool module checks
and builds its own table (:mod:`envdoctor.tools`); the generic checks they share are in
:mod:`envdoctor.profile_checks`.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import tomlkit

from envdoctor import toml10, tools
from envdoctor.profile_checks import (
    KeyLines,
    ProfileError,
    ProfileFile,
    check_characters,
    escape_invisible,
    optional,
    printable,
    show,
    type_name,
)
from envdoctor.tools import TOOL_NAMES, ToolName

if TYPE_CHECKING:
    from envdoctor.context import Context
    from envdoctor.tools.apt import AptSettings
    from envdoctor.tools.cargo import CargoSettings
    from envdoctor.tools.conda import CondaSettings
    from envdoctor.tools.docker import DockerSettings
    from envdoctor.tools.git import GitSettings
    from envdoctor.tools.go import GoSettings
    from envdoctor.tools.hf import HfSettings
    from envdoctor.tools.modelscope import ModelscopeSettings
    from envdoctor.tools.npm import NpmSettings
    from envdoctor.tools.oci_mirrors import RegistryMirrors
    from envdoctor.tools.pip import PipSettings
    from envdoctor.tools.sysctl import SysctlSettings
    from envdoctor.tools.uv import UvSettings

TargetName = ToolName
Origin = Literal["shipped", "user"]

TARGETS: tuple[TargetName, ...] = TOOL_NAMES
"""Every target a profile may configure, in the order they are shown."""

MAX_FILE_BYTES = 256 * 1024
"""Profiles are a few lines; anything bigger is a mistake, not a profile."""

_META_KEYS = ("name", "description", "extends", "without", "opt-in", "abstract")
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}\Z")


# --- the public data ------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """A resolved profile: ``extends`` already merged in."""

    name: str
    description: str
    source: Path
    origin: Origin
    extends: str | None = None
    opt_in: bool = False
    """Never chosen automatically (``--profile auto``); only when named."""
    abstract: bool = False
    """A base for other profiles to extend; cannot be applied itself."""
    pip: PipSettings | None = None
    uv: UvSettings | None = None
    conda: CondaSettings | None = None
    docker: DockerSettings | None = None
    containerd: RegistryMirrors | None = None
    podman: RegistryMirrors | None = None
    hf: HfSettings | None = None
    modelscope: ModelscopeSettings | None = None
    sysctl: SysctlSettings | None = None
    apt: AptSettings | None = None
    npm: NpmSettings | None = None
    go: GoSettings | None = None
    cargo: CargoSettings | None = None
    git: GitSettings | None = None

    @property
    def targets(self) -> tuple[TargetName, ...]:
        """The targets this profile configures; the others it leaves alone."""
        return tuple(t for t in TARGETS if getattr(self, t) is not None)


@dataclass(frozen=True)
class Endpoint:
    """One URL a profile points a target at, for the network probes to measure."""

    target: TargetName
    url: str
    profile: str


@dataclass(frozen=True)
class ProfileScan:
    """Every profile found, and every file that could not be used (listing shows both)."""

    profiles: Mapping[str, Profile]
    """Valid profiles by name, abstract ones included, sorted by name."""
    errors: tuple[ProfileError, ...]
    user_dir: Path
    shadowed: frozenset[str]
    """Names of shipped profiles that a user file replaces."""


# --- public functions -----------------------------------------------------------------


def is_profile_name(name: str) -> bool:
    """Whether ``name`` is a valid profile name: lowercase letters, digits and dashes."""
    return _NAME_RE.match(name) is not None


def user_profile_dir(ctx: Context) -> Path:
    """Where user profiles live: ``$XDG_CONFIG_HOME/envdoctor/profiles``."""
    return ctx.xdg_config_home / "envdoctor" / "profiles"


def scan_profiles(ctx: Context) -> ProfileScan:
    """Read shipped and user profiles, collecting errors instead of stopping at the first."""
    errors: list[ProfileError] = []
    shipped = _read_all(_shipped_sources(), "shipped", errors)
    user_dir = user_profile_dir(ctx)
    user = _read_all(_user_sources(user_dir, errors), "user", errors)
    broken: set[str] = {e.profile for e in errors if e.profile is not None}
    # A broken user file hides the shipped profile of that name rather than falling back.
    effective = {n: r for n, r in shipped.items() if n not in broken} | user
    resolver = _Resolver(shipped, effective, broken)
    profiles: dict[str, Profile] = {}
    for name in sorted(effective):
        try:
            profiles[name] = resolver.profile(effective[name])
        except ProfileError as error:
            errors.append(error)
    return ProfileScan(
        profiles=MappingProxyType(profiles),
        errors=tuple(errors),
        user_dir=user_dir,
        shadowed=frozenset(user) & frozenset(shipped),
    )


def load_profiles(ctx: Context) -> dict[str, Profile]:
    """All profiles that can be applied, by name; raises the first :class:`ProfileError`.

    Abstract bases are left out; opt-in profiles are included (check ``opt_in``).
    """
    scan = scan_profiles(ctx)
    if scan.errors:
        raise scan.errors[0]
    return {name: p for name, p in scan.profiles.items() if not p.abstract}


def get_profile(ctx: Context, name: str) -> Profile:
    """The profile called ``name``; a broken file elsewhere does not matter."""
    return profile_in(scan_profiles(ctx), name)


def get_profiles(ctx: Context, names: Iterable[str]) -> list[Profile]:
    """The profiles called ``names``, in order, from one scan of the profile files
    (``--profile a,b,c`` must not rescan every file once per name)."""
    scan = scan_profiles(ctx)
    return [profile_in(scan, name) for name in names]


def profile_in(scan: ProfileScan, name: str) -> Profile:
    """The profile called ``name`` in ``scan``; a broken file elsewhere does not matter."""
    for error in scan.errors:
        if error.profile == name:
            raise error
    profile = scan.profiles.get(name)
    if profile is not None and not profile.abstract:
        return profile
    if profile is not None:
        raise ProfileError(
            f"profile {name!r} is an abstract base: it can only be extended",
            f'Write a profile with extends = "{name}", or pick one of: {_names(scan)}.',
            path=profile.source,
            profile=name,
        )
    usable = [n for n, p in scan.profiles.items() if not p.abstract]
    close = difflib.get_close_matches(name, usable, n=1)
    did_you_mean = f"Did you mean {close[0]!r}? " if close else ""
    raise ProfileError(
        f"no profile named {show(name)}",
        f"{did_you_mean}Profiles: {_names(scan)}. Own profiles go in {scan.user_dir}.",
        profile=name,
    )


def endpoints(profile: Profile) -> list[Endpoint]:
    """The URLs this profile points at, one per target and mirror, for measuring."""
    found: list[Endpoint] = []

    for target in profile.targets:
        urls = tools.load(target).endpoints(getattr(profile, target))
        found.extend(Endpoint(target=target, url=url, profile=profile.name) for url in urls)
    return found


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """The resolved profile as JSON-ready data, derived values included."""
    targets: dict[str, Any] = dict.fromkeys(TARGETS)
    for target in profile.targets:
        targets[target] = tools.load(target).settings_json(getattr(profile, target))
    return {
        "name": profile.name,
        "description": profile.description,
        "origin": profile.origin,
        "source": str(profile.source),
        "extends": profile.extends,
        "opt_in": profile.opt_in,
        "abstract": profile.abstract,
        "targets": targets,
    }


def profile_to_toml(profile: Profile) -> str:
    """The resolved profile in its own file format, derived values as comments.

    The text is a valid profile with nothing left to extend: save it as a user profile to
    start from it.
    """
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment(
            f"{profile.name}: {profile.origin} profile from {printable(profile.source)}"
        )
    )
    if profile.extends:
        doc.add(tomlkit.comment(f'resolved: what it extends ("{profile.extends}") is merged in'))
    doc.add("name", profile.name)
    doc.add("description", profile.description)
    if profile.opt_in:
        doc.add("opt-in", True)
    if profile.abstract:
        doc.add("abstract", True)
    for target in profile.targets:
        doc.add(target, tools.load(target).settings_toml(getattr(profile, target)))
    return tomlkit.dumps(doc)


# --- reading files --------------------------------------------------------------------


def _shipped_sources() -> list[tuple[Path, bytes]]:
    """The shipped profile files: from the installed package, else the source tree."""
    found: list[tuple[Path, bytes]] = []
    try:
        package = resources.files("envdoctor.shipped_profiles")
        entries = sorted(package.iterdir(), key=lambda entry: entry.name)
    except (ModuleNotFoundError, NotADirectoryError, FileNotFoundError, TypeError):
        # An editable install or a bare checkout: setuptools' editable finder cannot map a
        # package without __init__.py, so read the directory next to the package instead.
        here = Path(__file__).resolve().parent
        for directory in (here / "shipped_profiles", here.parent / "profiles"):
            if directory.is_dir():
                return [(p, p.read_bytes()) for p in sorted(directory.glob("*.toml"))]
        raise ProfileError(
            "the shipped profiles are missing from this installation",
            "Reinstall envdoctor.",
        ) from None
    for entry in entries:
        if entry.name.endswith(".toml") and entry.is_file():
            found.append((Path(str(entry)), entry.read_bytes()))
    return found


def _user_sources(directory: Path, errors: list[ProfileError]) -> list[tuple[Path, bytes]]:
    try:
        paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
    except OSError as error:
        errors.append(
            ProfileError(
                f"{printable(directory)}: cannot list user profiles: {error.strerror}",
                "Check the directory's permissions.",
                path=directory,
            )
        )
        return []
    found: list[tuple[Path, bytes]] = []
    for path in paths:
        if path.name.startswith("."):  # editor lock and backup files
            continue
        try:
            if not path.is_file():
                raise IsADirectoryError(0, "not a regular file")
            with path.open("rb") as stream:  # never read more than a profile can be
                found.append((path, stream.read(MAX_FILE_BYTES + 1)))
        except OSError as error:
            errors.append(
                ProfileError(
                    f"{printable(path)}: cannot read: {error.strerror}",
                    "Check the file's permissions, or remove it.",
                    path=path,
                    profile=path.stem,
                )
            )
    return found


def _read_all(
    sources: Sequence[tuple[Path, bytes]], origin: Origin, errors: list[ProfileError]
) -> dict[str, _Raw]:
    raws: dict[str, _Raw] = {}
    for path, data in sources:
        try:
            raws[path.stem] = _parse_bytes(data, path, origin)
        except ProfileError as error:
            errors.append(error)
    return raws


@functools.lru_cache(maxsize=64)
def _parse_bytes(data: bytes, source: Path, origin: Origin) -> _Raw:
    """One file's bytes checked; memoised by content, as listing and lookups reread them."""
    if len(data) > MAX_FILE_BYTES:
        raise ProfileError(
            f"{printable(source)}: larger than {MAX_FILE_BYTES // 1024} KiB: not a profile",
            "A profile is a few lines of TOML; see profiles/README.md.",
            path=source,
            profile=source.stem,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ProfileError(
            f"{printable(source)}:{line}: not UTF-8 text",
            "Save the file as UTF-8.",
            path=source,
            line=line,
            profile=source.stem,
        ) from None
    return _parse(text, source, origin)


# --- checking one file ----------------------------------------------------------------


@dataclass(frozen=True)
class _Raw:
    """One file checked on its own, not yet merged with what it extends."""

    name: str
    source: Path
    origin: Origin
    lines: KeyLines
    description: str | None
    extends: str | None
    without: tuple[TargetName, ...]
    opt_in: bool | None
    abstract: bool
    tables: Mapping[TargetName, Mapping[str, Any]]


def _parse(text: str, source: Path, origin: Origin) -> _Raw:
    """Check one profile file's text; raise :class:`ProfileError` on the first problem."""
    name = source.stem
    if not _NAME_RE.match(name):
        raise ProfileError(
            f"{printable(source)}: the file name {show(name)} is not a profile name",
            "Name it with lowercase letters, digits and dashes, e.g. my-mirror.toml.",
            path=source,
            profile=name,
        )
    try:
        data: dict[str, Any] = toml10.loads(text)  # TOML 1.0, compiled: 12 files each run
    except toml10.TOMLDecodeError as error:
        message, line, column = toml10.position(str(error))
        problem = escape_invisible(message)
        raise ProfileError(
            f"{printable(source)}:{line}: TOML syntax error (column {column}): {problem}"
            if line is not None
            else f"{printable(source)}: TOML syntax error: {problem}",
            "Fix the TOML syntax; see profiles/README.md for the format.",
            path=source,
            line=line,
            profile=name,
        ) from None
    except RecursionError:
        raise ProfileError(
            f"{printable(source)}: TOML nested too deeply",
            "This is not a profile.",
            path=source,
            profile=name,
        ) from None
    except ValueError as error:  # an integer of over 4,300 digits
        raise ProfileError(
            f"{printable(source)}: TOML error: {escape_invisible(str(error).split(';')[0])}",
            "Fix the TOML; see profiles/README.md for the format.",
            path=source,
            profile=name,
        ) from None
    file = ProfileFile(source, KeyLines(text))
    check_characters(file, (), data)

    for key in data:
        if key not in _META_KEYS and key not in TARGETS:
            file.unknown_key((key,), (*_META_KEYS, *TARGETS), "key")
    declared = data.get("name", name)
    if not isinstance(declared, str):
        file.fail(("name",), f"expected a string, got {type_name(declared)}")
    if declared != name:
        file.fail(
            ("name",),
            f"{show(declared)} does not match the file name {source.name}",
            f'Write name = "{name}", or rename the file to match.',
        )
    description = optional(file, data, "description", str)
    if description is not None and len(description) > 200:
        file.fail(("description",), "longer than 200 characters", "Keep it to one short line.")
    extends = optional(file, data, "extends", str)
    if extends is not None and not _NAME_RE.match(extends):
        file.fail(("extends",), f"{show(extends)} is not a profile name")
    opt_in = optional(file, data, "opt-in", bool)
    abstract = optional(file, data, "abstract", bool) or False
    without = _check_without(file, data, extends)

    tables: dict[TargetName, Mapping[str, Any]] = {}
    for target in TARGETS:
        if target not in data:
            continue
        table = data[target]
        if not isinstance(table, dict):
            file.fail(
                (target,),
                f"expected a table, got {type_name(table)}",
                f"Write [{target}] on a line of its own and its keys below it.",
            )
        tables[target] = tools.load(target).check_table(file, table)
    return _Raw(
        name=name,
        source=source,
        origin=origin,
        lines=file.lines,
        description=description,
        extends=extends,
        without=without,
        opt_in=opt_in,
        abstract=abstract,
        tables=MappingProxyType(tables),
    )


def _check_without(
    file: ProfileFile, data: Mapping[str, Any], extends: str | None
) -> tuple[TargetName, ...]:
    if "without" not in data:
        return ()
    value = data["without"]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        file.fail(("without",), f"expected a list of target names, got {type_name(value)}")
    if extends is None:
        file.fail(
            ("without",),
            "only makes sense with extends",
            "Name the profile to extend, or leave the target out instead.",
        )
    targets: list[TargetName] = []
    for item in value:
        target = next((t for t in TARGETS if t == item), None)
        if target is None:
            close = difflib.get_close_matches(item, TARGETS, n=1)
            did_you_mean = f"Did you mean {close[0]!r}? " if close else ""
            file.fail(
                ("without",),
                f"{show(item)} is not a target",
                f"{did_you_mean}Targets: {', '.join(TARGETS)}.",
                item=item,
            )
        if target in data:
            file.fail(
                ("without",),
                f"removes {target}, which this file also sets",
                f"Either drop {target!r} from without or the [{target}] table.",
            )
        targets.append(target)
    return tuple(targets)


# --- extends: merging and building -----------------------------------------------------


class _Resolver:
    """Merges each profile with what it extends; detects cycles and broken parents."""

    def __init__(
        self, shipped: Mapping[str, _Raw], effective: Mapping[str, _Raw], broken: set[str]
    ) -> None:
        self.shipped = shipped
        self.effective = effective
        self.broken = broken
        self.merged: dict[tuple[Origin, str], _Merged] = {}

    def profile(self, raw: _Raw) -> Profile:
        try:
            return _build(raw, self._merge(raw, ()))
        except ProfileError as error:
            if error.profile == raw.name and error.path == raw.source:
                raise
            # The problem is in a profile this one extends: say so from this file.
            ProfileFile(raw.source, raw.lines).fail(
                ("extends",),
                f"profile {raw.extends!r} cannot be used: {error.message}",
                error.hint,
            )

    def _parent(self, raw: _Raw) -> _Raw:
        assert raw.extends is not None
        file = ProfileFile(raw.source, raw.lines)
        if raw.extends == raw.name:
            # A user profile extending its own name builds on the shipped one it replaces.
            parent = self.shipped.get(raw.name) if raw.origin == "user" else None
            if parent is None:
                file.fail(("extends",), f"profile {raw.name!r} extends itself")
            return parent
        if raw.extends in self.broken and raw.extends not in self.effective:
            file.fail(
                ("extends",),
                f"profile {raw.extends!r} has an error of its own",
                "Fix that profile first (envdoctor profiles lists it).",
            )
        parent = self.effective.get(raw.extends)
        if parent is None:
            close = difflib.get_close_matches(raw.extends, list(self.effective), n=1)
            did_you_mean = f"Did you mean {close[0]!r}? " if close else ""
            file.fail(
                ("extends",),
                f"no profile named {raw.extends!r}",
                f"{did_you_mean}Profiles: {', '.join(sorted(self.effective))}.",
            )
        return parent

    def _merge(self, raw: _Raw, chain: tuple[_Raw, ...]) -> _Merged:
        key = (raw.origin, raw.name)
        if key in self.merged:
            return self.merged[key]
        if any(r.origin == raw.origin and r.name == raw.name for r in chain):
            names = " -> ".join(r.name for r in (*chain, raw))
            first = chain[0]
            ProfileFile(first.source, first.lines).fail(
                ("extends",),
                f"extends cycle: {names}",
                "Make one of these profiles stop extending the next.",
            )
        if raw.extends is None:
            merged = _Merged(
                description=raw.description or "",
                opt_in=bool(raw.opt_in),
                tables={t: (dict(v), raw) for t, v in raw.tables.items()},
            )
        else:
            base = self._merge(self._parent(raw), (*chain, raw))
            tables = {t: v for t, v in base.tables.items() if t not in raw.without}
            for target, table in raw.tables.items():
                inherited = tables.get(target, ({}, raw))[0]
                tables[target] = (_merge_table(inherited, table), raw)
            merged = _Merged(
                description=raw.description if raw.description is not None else base.description,
                opt_in=raw.opt_in if raw.opt_in is not None else base.opt_in,
                tables=tables,
            )
        self.merged[key] = merged
        return merged


@dataclass(frozen=True)
class _Merged:
    description: str
    opt_in: bool
    tables: Mapping[TargetName, tuple[dict[str, Any], _Raw]]
    """Each target's merged table, with the file that set it last (for error lines)."""


def _merge_table(inherited: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """Key by key; a sub-table (hf.env) merges variable by variable; lists are replaced."""
    merged = dict(inherited)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _build(raw: _Raw, merged: _Merged) -> Profile:
    settings: dict[str, Any] = {}
    for target, (table, definer) in merged.tables.items():
        tool = tools.load(target)
        if tool.REQUIRED is not None:
            key, example = tool.REQUIRED
            if key not in table:
                ProfileFile(definer.source, definer.lines).fail(
                    (target,), f"[{target}] has no {key}", f"Add {example}."
                )
        settings[target] = tool.settings(table)
    if not settings and not raw.abstract:
        raise ProfileError(
            f"{printable(raw.source)}: profile {raw.name!r} configures no target",
            f"Add at least one table: {', '.join(f'[{t}]' for t in TARGETS)}.",
            path=raw.source,
            profile=raw.name,
        )
    return Profile(
        name=raw.name,
        description=merged.description,
        source=raw.source,
        origin=raw.origin,
        extends=raw.extends,
        opt_in=merged.opt_in,
        abstract=raw.abstract,
        **settings,
    )


# --- where keys are: line numbers for tomlkit documents --------------------------------


# --- small helpers ----------------------------------------------------------------------


def _names(scan: ProfileScan) -> str:
    return ", ".join(n for n, p in scan.profiles.items() if not p.abstract)
