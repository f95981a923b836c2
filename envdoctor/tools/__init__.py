"""The tool registry: one module per tool the user configures, each meeting :class:`Tool`.

A tool module holds everything envdoctor knows about one tool, in this order of use:

- **its profile table**: ``check_table`` validates ``[NAME]`` in one profile file,
  ``settings`` builds the merged table into a frozen settings object, ``settings_json``
  and ``settings_toml`` show it, ``endpoints`` lists the mirror URLs it points at;
- **what it really uses**: ``resolve`` reads the files and variables the tool reads, in the
  tool's own order (a :class:`~envdoctor.configfiles.ToolConfig` with sources and
  shadowed values), ``mirrors`` lists the mirrors in use, ``canonical`` spells a mirror
  URL so two spellings compare equal;
- **its traps**: ``diagnose`` turns the resolved configuration into one config-check row
  with findings and remedies (:mod:`envdoctor.checkup`);
- **its plan**: ``plan`` computes new file contents from old ones for a profile (pure:
  :mod:`envdoctor.transaction` writes), ``env_variables`` the shell variables it needs
  (written by :mod:`envdoctor.shellenv`), ``command_variables`` those that do a file's
  job for one command (``envdoctor env``);
- **its pull path**: ``pull_path`` the request its client makes first and a large body
  worth timing (:class:`~envdoctor.net.session.PullPath`), measured by :mod:`envdoctor.net`.

Where a part does not apply (the kernel has no mirror; the hub reads only variables) the
function returns ``None`` or an empty list.  Modules are imported only when used, so
``envdoctor --help`` stays light; the ``TYPE_CHECKING`` block below lets mypy verify every
module against the Protocol.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, get_args

from envdoctor.redact import unmasked, with_userinfo

if TYPE_CHECKING:
    from envdoctor.checkup import Checkup, Row
    from envdoctor.configfiles import ToolConfig
    from envdoctor.context import Context
    from envdoctor.net.results import Measurement
    from envdoctor.net.session import PullPath
    from envdoctor.planning import ApplyOptions
    from envdoctor.profile_checks import ProfileFile
    from envdoctor.profiles import Profile
    from envdoctor.results import TargetPlan

ToolName = Literal[
    "pip",
    "uv",
    "conda",
    "docker",
    "containerd",
    "podman",
    "hf",
    "modelscope",
    "sysctl",
    "apt",
    "npm",
    "go",
    "cargo",
    "git",
]
TOOL_NAMES: tuple[ToolName, ...] = get_args(ToolName)
"""Every tool, in the order they are shown (and a profile's tables are listed)."""

VARIABLES_ONLY: frozenset[ToolName] = frozenset({"hf", "modelscope"})
"""Tools that read only variables: their ``plan`` is None, and ``apply`` writes their
variables in its ``env`` target (``tests/test_layout.py`` checks each module agrees)."""
WITHOUT_MIRRORS: frozenset[ToolName] = frozenset({"sysctl"})
"""Tools with nothing to download: their ``pull_path`` is None."""
FILE_TOOLS: tuple[ToolName, ...] = tuple(n for n in TOOL_NAMES if n not in VARIABLES_ONLY)
"""The tools ``apply`` writes files of, in :data:`TOOL_NAMES` order."""
MIRROR_TOOLS: tuple[ToolName, ...] = tuple(n for n in TOOL_NAMES if n not in WITHOUT_MIRRORS)
"""The tools whose mirrors are measured, in :data:`TOOL_NAMES` order."""


@dataclass(frozen=True)
class PullOptions:
    """What the user asked a pull path to fetch, where a tool lets them choose."""

    image: str | None = None
    """The image Docker's pull path (and containerd's, podman's) asks a registry mirror
    for: ``--image``, else a profile's ``probe-image``; None: the default
    (:data:`envdoctor.tools.docker_pull.PROBE_IMAGE`).  Already checked
    (:func:`envdoctor.tools.docker_pull.image_problem`)."""


class Tool(Protocol):
    """What every tool module provides; see the module docstring for the parts."""

    NAME: str
    """Registry name: the profile table, ``--only`` name and config row name."""
    TITLE: str
    """Human name for displays."""
    REQUIRED: tuple[str, str] | None
    """The key a profile's table must have, with an example line; None: no required key."""

    def check_table(self, file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
        """The table ``[NAME]`` of one profile file, checked; raises ProfileError."""
        ...

    def settings(self, table: Mapping[str, Any]) -> Any:
        """The merged, checked table as this tool's frozen settings."""
        ...

    def settings_json(self, value: Any) -> dict[str, Any]:
        """The settings as JSON-ready data, derived values included."""
        ...

    def settings_toml(self, value: Any) -> Any:
        """The settings as a tomlkit table in the profile format."""
        ...

    def endpoints(self, value: Any) -> list[str]:
        """The mirror URLs these settings point the tool at (for measuring)."""
        ...

    def resolve(self, ctx: Context) -> ToolConfig | None:
        """What the tool really uses, read as the tool reads it; never raises for a
        broken file (that is a problem in the result)."""
        ...

    def mirrors(self, config: ToolConfig) -> list[str]:
        """The mirror URLs in a resolved configuration."""
        ...

    def canonical(self, url: str) -> str:
        """The spelling two forms of one mirror URL share (credentials masked)."""
        ...

    def diagnose(
        self, ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup
    ) -> Row | None:
        """The config-check row of this tool, from every tool's resolved configuration."""
        ...

    def plan(self, ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan | None:
        """The file changes that make the tool follow ``profile``; writes nothing.

        A malformed existing file raises :class:`envdoctor.errors.EnvdoctorError` naming
        the file, the line and the problem, so the whole apply stops before any write.
        None when the tool has no file of its own (its variables are in ``env_variables``).
        """
        ...

    def env_variables(self, profile: Profile) -> list[tuple[str, str]]:
        """Shell variables the tool needs for ``profile``, in a stable order."""
        ...

    def command_variables(self, ctx: Context, profile: Profile) -> list[tuple[str, str]]:
        """Variables that point the tool at ``profile``'s mirrors for one command (CI jobs,
        Dockerfiles: ``envdoctor env``), as the installed client reads them; never written
        to the shell start-up files (the tool's own file does that job there)."""
        ...

    def pull_path(self, base_url: str, options: PullOptions | None = None) -> PullPath | None:
        """What the tool's client asks a mirror first, and a large body to time;
        ``options`` is what the user chose to fetch (tools with no choice ignore it)."""
        ...


_MODULES: dict[ToolName, str] = {name: f"envdoctor.tools.{name}" for name in TOOL_NAMES}


def load(name: str) -> Tool:
    """The tool module registered as ``name`` (a KeyError for unknown names)."""
    return cast("Tool", importlib.import_module(_MODULES[cast("ToolName", name)]))


def shown_measurement(kind: str, measurement: Measurement) -> Measurement:
    """``measurement`` of a ``kind`` tool's mirror as that tool shows it: every URL and
    word in it through the tool's own ``mask_text`` when it has one (conda's, which hides
    a channel's ``/t/<token>``, a path segment only conda knows is a credential)."""
    mask = getattr(load(kind), "mask_text", None) if kind in _MODULES else None
    if mask is None:
        return measurement
    changed: dict[str, Any] = {}
    for item in dataclasses.fields(measurement):
        value = getattr(measurement, item.name)
        if isinstance(value, str):
            shown: Any = mask(value)
        elif isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
            shown = tuple(mask(v) for v in value)
        else:
            continue
        if shown != value:
            changed[item.name] = shown
    return dataclasses.replace(measurement, **changed) if changed else measurement


def all_tools() -> list[Tool]:
    """Every tool module, in :data:`TOOL_NAMES` order."""
    return [load(name) for name in TOOL_NAMES]


def resolve_all(ctx: Context) -> dict[str, ToolConfig]:
    """Every tool's effective configuration by name, for the tools that have one."""
    configs: dict[str, ToolConfig] = {}
    for tool in all_tools():
        config = tool.resolve(ctx)
        if config is not None:
            configs[tool.NAME] = config
    return configs


def mirrors_of(configs: Mapping[str, ToolConfig]) -> dict[str, list[str]]:
    """The mirror URLs in resolved configs by tool, in each tool's :meth:`Tool.canonical`
    spelling but with the credentials they are configured with (the requests need them:
    :func:`envdoctor.mirrors.gather` masks them for showing), duplicates and empty values
    dropped.  Never show these as they are."""
    found: dict[str, list[str]] = {}
    for name, config in configs.items():
        tool = load(name)
        urls = [
            with_userinfo(tool.canonical(url), unmasked(url).strip())
            for url in tool.mirrors(config)
        ]
        found[name] = list(dict.fromkeys(url for url in urls if url))
    return found


def configured_mirrors(ctx: Context) -> dict[str, list[str]]:
    """The mirror URLs each tool uses now: :func:`mirrors_of` what it resolves."""
    return mirrors_of(resolve_all(ctx))


def pull_path(base_url: str, name: str, options: PullOptions | None = None) -> PullPath:
    """The pull path of tool ``name`` for ``base_url`` (a ValueError for a tool without
    a mirror), fetching what ``options`` name."""
    path = load(name).pull_path(base_url, options)
    if path is None:
        raise ValueError(f"{name} has no mirror to measure")
    return path


if TYPE_CHECKING:
    from envdoctor.tools import apt as apt
    from envdoctor.tools import cargo as cargo
    from envdoctor.tools import conda as conda
    from envdoctor.tools import containerd as containerd
    from envdoctor.tools import docker as docker
    from envdoctor.tools import git as git
    from envdoctor.tools import go as go
    from envdoctor.tools import hf as hf
    from envdoctor.tools import modelscope as modelscope
    from envdoctor.tools import npm as npm
    from envdoctor.tools import pip as pip
    from envdoctor.tools import podman as podman
    from envdoctor.tools import sysctl as sysctl
    from envdoctor.tools import uv as uv

    _VERIFIED: dict[ToolName, Tool] = {
        "pip": pip,
        "uv": uv,
        "conda": conda,
        "docker": docker,
        "containerd": containerd,
        "podman": podman,
        "hf": hf,
        "modelscope": modelscope,
        "sysctl": sysctl,
        "apt": apt,
        "npm": npm,
        "go": go,
        "cargo": cargo,
        "git": git,
    }
