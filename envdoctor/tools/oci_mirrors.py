"""The registry-to-mirrors table that containerd and podman profiles share.

``[containerd]`` and ``[podman]`` have one format (documented in ``profiles/README.md``)::

    [containerd]
    allow-http = false                      # optional, as in every table
    [containerd.mirrors]
    "docker.io" = ["https://docker.1ms.run"]
    "ghcr.io" = ["https://ghcr.m.daocloud.io"]
    "nvcr.io" = []                          # no mirror: the registry itself

Each key is a registry host as image names spell it (``docker.io``, ``registry.k8s.io``,
``host:port``); each value the mirrors to try in order before the registry itself, as
``scheme://host[:port]`` only.  A path is refused: containerd appends ``/v2`` to a host's
path while podman treats a path as a repository namespace, so one URL with a path would
mean two different things.  An empty list means "no mirror": applying it removes what
envdoctor wrote for that registry.  ``extends`` merges ``mirrors`` registry by registry.

Both tools measure these mirrors with Docker's pull path (``/v2/``, alive on 401), the
request every OCI client makes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import tomlkit

from envdoctor.checkup import Row, drift
from envdoctor.configfiles import normalise_endpoint
from envdoctor.profile_checks import (
    ProfileFile,
    add_allow_http,
    check_url,
    optional,
    show,
    type_name,
    valid_host_port,
)
from envdoctor.tools import docker_pull

if TYPE_CHECKING:
    from envdoctor.profiles import Profile

TABLE_KEYS = ("mirrors", "probe-image", "allow-http")
REQUIRED_KEY = "mirrors"

DOCKER_HUB = "docker.io"
UPSTREAM = {DOCKER_HUB: "https://registry-1.docker.io"}
"""Where a registry name really points when it is not ``https://<name>``."""

WELL_KNOWN = ("docker.io", "ghcr.io", "registry.k8s.io", "quay.io", "nvcr.io", "gcr.io")
"""Registries GPU clusters pull from, in the order they are shown."""

_ALIASES = {"index.docker.io": DOCKER_HUB, "registry-1.docker.io": DOCKER_HUB}


@dataclass(frozen=True)
class RegistryMirrors:
    """Mirrors per registry, in the profile's order; an empty tuple means none."""

    registries: tuple[tuple[str, tuple[str, ...]], ...]
    allow_http: bool = False
    probe_image: str | None = None
    """The image measuring asks these mirrors for (``probe-image``); None: the profile's
    ``[docker] probe-image``, else the default
    (:data:`~envdoctor.tools.docker_pull.PROBE_IMAGE`)."""

    def mirrors_of(self, registry: str) -> tuple[str, ...]:
        return dict(self.registries).get(registry, ())

    @property
    def mirrored(self) -> list[str]:
        """The registries that have at least one mirror."""
        return [name for name, urls in self.registries if urls]


def registry_name(name: str) -> str:
    """A registry (or a ``[[registry]]`` prefix) as written, in one spelling: lower case,
    no blanks or trailing ``/``.  containers/image matches prefixes so."""
    return name.strip().lower().rstrip("/")


def canonical_registry(name: str) -> str:
    """``index.docker.io`` and ``registry-1.docker.io`` are Docker Hub, ``docker.io``."""
    lowered = registry_name(name)
    return _ALIASES.get(lowered, lowered)


def upstream_url(registry: str) -> str:
    """The URL a client pulls ``registry`` from when no mirror answers."""
    return UPSTREAM.get(registry, f"https://{registry}")


def mirror_problem(url: str) -> str | None:
    """Why ``url`` cannot be a registry mirror of both runtimes, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be http:// or https:// and a host"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be scheme://host[:port] only, without a path"
    return None


def check_table(file: ProfileFile, target: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """``[target]`` checked: ``mirrors`` a table of registry -> list of mirror URLs, and
    ``probe-image`` an image name as ``docker pull`` takes it, as ``[docker]``'s is."""
    for key in table:
        if key not in TABLE_KEYS:
            file.unknown_key((target, key), TABLE_KEYS, f"key in [{target}]")
    allow_http = optional(file, table, "allow-http", bool, prefix=(target,)) or False
    checked: dict[str, Any] = {}
    if "allow-http" in table:
        checked["allow-http"] = allow_http
    image = docker_pull.checked_probe_image(file, target, table)
    if image is not None:
        checked["probe-image"] = image
    if "mirrors" not in table:
        return checked
    raw = table["mirrors"]
    if not isinstance(raw, Mapping):
        file.fail(
            (target, "mirrors"),
            f"expected a table of registry = [mirror URLs], got {type_name(raw)}",
            f'Write [{target}.mirrors] with lines such as "docker.io" = ["https://..."].',
        )
    mirrors: dict[str, tuple[str, ...]] = {}
    for registry, urls in raw.items():
        path = (target, "mirrors", registry)
        if not valid_host_port(registry) or registry != registry.lower():
            file.fail(
                path,
                f"{show(registry)} is not a registry host (lowercase host or host:port)",
                "Use the name images carry: docker.io, ghcr.io, registry.k8s.io, nvcr.io...",
            )
        if canonical_registry(registry) != registry:
            file.fail(path, f"{show(registry)} is Docker Hub: write it as docker.io")
        if not isinstance(urls, list):
            file.fail(path, f"expected a list of mirror URLs, got {type_name(urls)}")
        checked_urls: list[str] = []
        for url in urls:
            check_url(file, path, url, allow_http, in_list=True)
            problem = mirror_problem(url)
            if problem:
                file.fail(path, f"{show(url)} {problem}", item=url)
            checked_urls.append(url.rstrip("/"))
        mirrors[registry] = tuple(dict.fromkeys(checked_urls))
    checked["mirrors"] = mirrors
    return checked


def settings(table: Mapping[str, Any]) -> RegistryMirrors:
    raw: Mapping[str, tuple[str, ...]] = table["mirrors"]
    registries = tuple((name, tuple(urls)) for name, urls in raw.items())
    urls = [url for _, mirrors in registries for url in mirrors]
    return RegistryMirrors(
        registries,
        allow_http=any(u.startswith("http://") for u in urls),
        probe_image=table.get("probe-image"),
    )


def settings_json(value: RegistryMirrors) -> dict[str, Any]:
    return {
        "mirrors": {name: list(urls) for name, urls in value.registries},
        "allow_http": value.allow_http,
        "probe_image": value.probe_image,
    }


def settings_toml(value: RegistryMirrors) -> Any:
    table = tomlkit.table()
    if value.probe_image is not None:
        table.add("probe-image", value.probe_image)
    add_allow_http(table, value.allow_http)
    mirrors = tomlkit.table()
    for name, urls in value.registries:
        mirrors.add(name, list(urls))
    table.add("mirrors", mirrors)
    return table


def endpoints(value: RegistryMirrors) -> list[str]:
    return list(dict.fromkeys(url for _, urls in value.registries for url in urls))


def unmirrored_for_dockerd(profiles_tables: list[RegistryMirrors | None]) -> list[str]:
    """Registries other than Docker Hub that these tables mirror (dockerd cannot)."""
    found: list[str] = []
    for table in profiles_tables:
        if table is None:
            continue
        found += [name for name in table.mirrored if name != DOCKER_HUB]
    return list(dict.fromkeys(found))


def report_drift(
    row: Row,
    profile: Profile,
    table: RegistryMirrors,
    have: Mapping[str, list[str]],
    remedy: str | None,
) -> None:
    """A drift finding for each registry whose mirrors differ from the profile's table."""
    for registry, urls in table.registries:
        drift(
            row,
            profile,
            f"mirrors of {registry}",
            have.get(registry, []),
            [normalise_endpoint(u) for u in urls],
            remedy,
        )
