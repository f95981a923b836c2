"""containerd's files, read and edited as text: ``config.toml``, ``hosts.toml`` and k3s's
``registries.yaml``.  Pure functions (old text -> new text) for :mod:`envdoctor.tools.containerd`.

``config.toml`` is edited with tomlkit so every byte but ``config_path`` stays: the CRI
plugin's registry table is ``plugins."io.containerd.grpc.v1.cri".registry`` in a
``version = 2`` file (containerd 1.x), ``plugins."io.containerd.cri.v1.images".registry``
in a ``version = 3`` file (containerd 2.x), ``plugins.cri.registry`` in a version 1 file.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table

from envdoctor import toml10
from envdoctor.configfiles import MAX_NESTING
from envdoctor.errors import EnvdoctorError
from envdoctor.toml_scan import header_line, header_starts, sparse_tables
from envdoctor.tools.oci_mirrors import upstream_url

DEFAULT_HOSTS_DIR = "/etc/containerd/certs.d"
MARKER = "Managed by envdoctor"
"""The first comment of a hosts.toml envdoctor wrote: such a file is regenerated whole."""

_PLUGIN_BY_VERSION = {
    1: "cri",
    2: "io.containerd.grpc.v1.cri",
    3: "io.containerd.cri.v1.images",
}


@dataclass(frozen=True)
class ContainerdConfig:
    """What config.toml says about registries."""

    version: int
    plugin: str
    """The plugin whose ``registry`` table the CRI reads."""
    config_path: str
    """``registry.config_path``; empty when unset."""
    legacy_mirrors: tuple[str, ...]
    """Registries in the deprecated ``registry.mirrors`` table."""


def parse_toml(text: str, display: str) -> Any:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        line = getattr(exc, "line", None)
        where = f" line {line}" if line else ""
        raise EnvdoctorError(
            f"containerd: {display}{where}: invalid TOML ({exc}); containerd refuses to start",
            f"Fix {display}, then run apply again.",
        ) from exc


@functools.lru_cache(maxsize=4)
def read_toml(text: str, display: str) -> dict[str, Any]:
    """``text`` as containerd's TOML parser (go-toml, TOML 1.0) reads it, by toml10: a
    1 MiB config.toml takes tomlkit seconds.  Kept for the next call with the same text
    (a plan reads config.toml three times): the result is shared, never change it."""
    try:
        return toml10.loads(text)
    except (toml10.TOMLDecodeError, RecursionError, ValueError) as exc:
        if isinstance(exc, RecursionError):
            problem = f"nests more than {MAX_NESTING} deep"
        else:
            problem = str(exc).split(";")[0]
        problem, number, _ = toml10.position(problem)
        line = f" line {number}" if number is not None else ""
        verdict = (  # what envdoctor refuses to read, not a verdict on containerd's parser
            f"{problem}: envdoctor does not read it"
            if toml10.is_refusal(problem)
            else f"invalid TOML ({problem}); containerd refuses to start"
        )
        raise EnvdoctorError(
            f"containerd: {display}{line}: {verdict}",
            f"Fix {display}, then run apply again.",
        ) from None


def read_config(doc: Any) -> ContainerdConfig:
    """The registry settings of a parsed config.toml (an empty doc is containerd's default)."""
    raw_version = doc.get("version", 1)
    version = raw_version if isinstance(raw_version, int) and raw_version in (1, 2, 3) else 1
    plugin = _PLUGIN_BY_VERSION[version]
    registry = _table_at(doc, ("plugins", plugin, "registry"))
    config_path = ""
    legacy: tuple[str, ...] = ()
    if registry is not None:
        value = registry.get("config_path", "")
        config_path = str(value) if isinstance(value, str) else ""
        mirrors = registry.get("mirrors")
        if isinstance(mirrors, dict):
            legacy = tuple(str(name) for name in mirrors)
    return ContainerdConfig(version, plugin, config_path, legacy)


def imports_of(doc: Any) -> list[str]:
    """A parsed config's top-level ``imports`` (its strings)."""
    value = doc.get("imports")
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def defines_plugin(doc: Any, plugin: str) -> bool:
    """Whether a parsed config has a ``[plugins."<plugin>"]`` section (of any depth)."""
    return _table_at(doc, ("plugins", plugin)) is not None


def hosts_dirs(config: ContainerdConfig) -> list[str]:
    """The directories ``config_path`` names (containerd splits it on ``:``)."""
    return [part for part in config.config_path.split(":") if part]


def _table_at(doc: Any, keys: Sequence[str]) -> Any:
    node = doc
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, dict) else None


def with_config_path(old: str | None, hosts_dir: str, display: str) -> str:
    """``old`` config.toml with the CRI registry's ``config_path`` set to ``hosts_dir``.

    A file that does not exist becomes a ``version = 2`` file with only that setting
    (containerd merges it over its defaults; 2.x migrates version 2 files itself).
    An existing registry table gets the key in place; otherwise the table is appended.
    """
    if old is None or not old.strip():
        prefix = "" if old is None else old
        return (
            f"{prefix}version = 2\n\n"
            f'[plugins."io.containerd.grpc.v1.cri".registry]\n'
            f"  config_path = {_toml_string(hosts_dir)}\n"
        )
    data = read_toml(old, display)
    config = read_config(data)
    if config.config_path == hosts_dir:
        return old
    new = None
    registry: Any = _table_at(data, ("plugins", config.plugin, "registry"))
    if registry is not None:  # edited in place (no table: tomlkit would find none either)
        new = _sparse_config_path(old, data, config.plugin, hosts_dir, display)
        if new is None:
            doc = parse_toml(old, display)
            registry = _table_at(doc, ("plugins", config.plugin, "registry"))
            if isinstance(registry, Table):
                registry["config_path"] = hosts_dir
                new = tomlkit.dumps(doc)
    if new is None:
        separator = "" if old.endswith("\n") else "\n"
        key = _toml_key(config.plugin)
        new = (
            f"{old}{separator}\n[plugins.{key}.registry]\n"
            f"  config_path = {_toml_string(hosts_dir)}\n"
        )
    if read_config(read_toml(new, display)).config_path != hosts_dir:
        raise EnvdoctorError(
            f"containerd: {display}: could not place config_path in the "
            f"plugins.{_toml_key(config.plugin)}.registry table (it is written in a form "
            "envdoctor does not edit)",
            f'Set config_path = "{hosts_dir}" there by hand, or run apply with --skip containerd.',
        )
    return new


def _sparse_config_path(
    old: str, data: dict[str, Any], plugin: str, hosts_dir: str, display: str
) -> str | None:
    """``old`` with ``config_path`` set by tomlkit shown only the ``plugins`` tables that
    may hold the registry table (:func:`envdoctor.toml_scan.sparse_tables`), checked by
    tomllib; None when it cannot be done so (tomlkit then edits the whole file)."""
    if "\r" in old:
        return None
    text = old if old.endswith("\n") else old + "\n"
    starts = header_starts(text)
    keep = []
    for start in starts:
        header = header_line(text, start)
        keep.append(plugin in header or "\\" in header or header.strip() == "[plugins]")
    shown = sparse_tables(text, data, starts, keep)
    if shown is None:
        return None
    try:
        doc = tomlkit.parse(shown.text)
    except TOMLKitError:
        return None
    registry = _table_at(doc, ("plugins", plugin, "registry"))
    if not isinstance(registry, Table):
        return None
    registry["config_path"] = hosts_dir
    new = shown.put_back(tomlkit.dumps(doc))
    if new is None:
        return None
    if not old.endswith("\n"):
        if not new.endswith("\n"):
            return None
        new = new[:-1]
    try:
        written = read_toml(new, display)  # kept for with_config_path's own check
    except EnvdoctorError:
        return None
    path = ("plugins", plugin, "registry")
    return new if written == _with_key(data, path, "config_path", hosts_dir) else None


def _with_key(data: dict[str, Any], path: Sequence[str], key: str, value: object) -> dict[str, Any]:
    if not path:
        return {**data, key: value}
    return {**data, path[0]: _with_key(data[path[0]], path[1:], key, value)}


def _toml_key(plugin: str) -> str:
    return plugin if plugin.isidentifier() else f'"{plugin}"'


def _toml_string(value: str) -> str:
    return tomlkit.string(value).as_string()


# --- hosts.toml -----------------------------------------------------------------------


def hosts_toml(
    old: str | None, registry: str, mirrors: Sequence[str], profile: str, *, sparse: bool = True
) -> str | None:
    """The new ``hosts.toml`` of ``registry`` (None: remove the file).

    A file envdoctor wrote (its first comment is :data:`MARKER`) is regenerated whole.  A
    file of the user's own keeps everything: the profile's mirrors come first with
    ``capabilities = ["pull", "resolve"]`` (keeping a mirror's other keys, such as ``ca``),
    then the hosts already there.  No mirrors: envdoctor's own file is removed, a user's
    file is left as it is.  tomlkit sees only the tables it moves or changes
    (``sparse=False``: the whole file, the same bytes, slower; the tests compare both).
    """
    ours = old is None or old.lstrip().startswith(f"# {MARKER}")
    if not mirrors:
        return None if ours else old
    header = (
        f"# {MARKER} (profile {profile}): containerd tries these mirrors in order, "
        "then the server.\n# Read at every pull: no restart needed.\n"
    )
    if ours:
        lines = [header, f"server = {_toml_string(upstream_url(registry))}\n"]
        for mirror in mirrors:
            lines.append(f"\n[host.{_toml_string(mirror)}]\n")
            lines.append('  capabilities = ["pull", "resolve"]\n')
        return "".join(lines)
    assert old is not None
    display = f"{DEFAULT_HOSTS_DIR}/{registry}/hosts.toml"
    # Whether it already follows, by tomllib (tomlkit takes seconds for a big file).
    hosts: Any = read_toml(old, display).get("host")
    existing: dict[str, Any] = dict(hosts.items()) if isinstance(hosts, dict) else {}
    if list(existing)[: len(mirrors)] == list(mirrors) and all(
        isinstance(existing[mirror], dict) and _pulls(existing[mirror]) for mirror in mirrors
    ):
        return old
    if sparse:
        edited = _sparse_hosts(old, read_toml(old, display), registry, mirrors, display)
        if edited is not None:
            return edited
    return _hosts_with_tomlkit(parse_toml(old, display), registry, mirrors)


# A host table as tomlkit writes the header of one it moves: others are shown to it.
_HOST_TABLE = re.compile(r'\[host\."[ !#-\[\]-~]*"\]')  # printable ASCII but " and \


def _sparse_hosts(
    old: str, data: dict[str, Any], registry: str, mirrors: Sequence[str], display: str
) -> str | None:
    """The new hosts.toml with tomlkit shown only the tables it moves or changes (the
    mirrors' and every table that is not a host's), checked by tomllib; None when it
    cannot be done so."""
    if "\r" in old or not old.endswith("\n"):
        return None
    starts = header_starts(old)
    bounds = [*starts, len(old)]
    keep = []
    for number, start in enumerate(starts):
        header = header_line(old, start)
        other = not header.lstrip(" \t").startswith("[host.")
        if not other and not _HOST_TABLE.fullmatch(header):
            return None  # a sub-table ([host."x".header]) or a header tomlkit respells
        kept = other or "\\" in header or any(mirror in header for mirror in mirrors)
        if not kept and not old.endswith("\n\n", start, bounds[number + 1]):
            return None  # tomlkit puts a blank line after each table it moves: show them all
        keep.append(kept)
    shown = sparse_tables(old, data, starts, keep, blank_line=True)
    if shown is None:
        return None
    try:
        edited = _hosts_with_tomlkit(tomlkit.parse(shown.text), registry, mirrors)
    except TOMLKitError:
        return None
    new = shown.put_back(edited)
    if new is None:
        return None
    try:
        written = read_toml(new, display)
    except EnvdoctorError:
        return None
    hosts = data.get("host")
    existing: dict[str, Any] = dict(hosts) if isinstance(hosts, dict) else {}
    expected_hosts = {}
    for mirror in mirrors:
        table = existing.get(mirror)
        table = dict(table) if isinstance(table, dict) else {}
        caps = list(table.get("capabilities", []))
        expected_hosts[mirror] = {
            **table,
            "capabilities": list(dict.fromkeys(["pull", "resolve", *caps])),
        }
    expected_hosts.update(
        (name, table) for name, table in existing.items() if name not in expected_hosts
    )
    expected = {key: value for key, value in data.items() if key != "host"}
    expected.setdefault("server", upstream_url(registry))
    expected["host"] = expected_hosts
    host_order = list(written.get("host", {}))
    return new if written == expected and host_order == list(expected_hosts) else None


def _hosts_with_tomlkit(doc: Any, registry: str, mirrors: Sequence[str]) -> str:
    hosts = doc.get("host")
    existing = dict(hosts.items()) if isinstance(hosts, dict) else {}
    wanted = {mirror: existing.get(mirror) for mirror in mirrors}
    new_doc = tomlkit.document()
    for key, value in doc.body:
        if key is None:
            new_doc.add(value)
        elif key.key != "host":
            new_doc.add(key.key, value)
    if "server" not in doc:
        new_doc.add("server", upstream_url(registry))
    host_table = tomlkit.table(is_super_table=True)
    for mirror, table in wanted.items():
        if not isinstance(table, dict):
            table = tomlkit.table()
        caps = list(table.get("capabilities", []))
        table["capabilities"] = list(dict.fromkeys(["pull", "resolve", *caps]))
        host_table.add(mirror, table)
    for name, table in existing.items():
        if name not in wanted:
            host_table.add(name, table)
    new_doc.add("host", host_table)
    return tomlkit.dumps(new_doc)


def _pulls(table: Any) -> bool:
    caps = table.get("capabilities", ["pull", "resolve", "push"])
    return isinstance(caps, list) and "pull" in caps and "resolve" in caps


def hosts_of(text: str) -> tuple[str | None, list[tuple[str, list[str]]]]:
    """(server, [(host, capabilities)]) of a hosts.toml; containerd's default capabilities
    for a host are pull, resolve and push."""
    doc = tomlkit.parse(text)
    server = doc.get("server")
    hosts = doc.get("host")
    found: list[tuple[str, list[str]]] = []
    if isinstance(hosts, dict):
        for name, table in hosts.items():
            caps = table.get("capabilities", ["pull", "resolve", "push"])
            found.append((str(name), [str(c) for c in caps] if isinstance(caps, list) else []))
    return (str(server) if isinstance(server, str) else None), found


# --- k3s registries.yaml ------------------------------------------------------------------


def k3s_registries(old: str | None, mirrors: Sequence[tuple[str, Sequence[str]]]) -> str | None:
    """``registries.yaml`` with ``mirrors.<registry>.endpoint`` set per registry (an empty
    list removes that registry's entry); comments and other keys kept (ruamel.yaml)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    try:
        data = yaml.load(old) if old else None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise EnvdoctorError(
            f"containerd: /etc/rancher/k3s/registries.yaml{where}: invalid YAML; k3s "
            "refuses to start with it",
            "Fix the file, then run apply again.",
        ) from exc
    if data is None:
        data = yaml.load("{}")
    if not isinstance(data, dict):
        raise EnvdoctorError(
            "containerd: /etc/rancher/k3s/registries.yaml is not a mapping",
            "Fix the file, then run apply again.",
        )
    table = data.get("mirrors")
    changed = False
    for registry, urls in mirrors:
        current = table.get(registry) if isinstance(table, dict) else None
        endpoints = list(current.get("endpoint", [])) if isinstance(current, dict) else []
        if list(urls) == endpoints:
            continue
        if not urls:
            if isinstance(table, dict) and registry in table:
                del table[registry]
                changed = True
            continue
        if not isinstance(table, dict):
            data["mirrors"] = {}
            table = data["mirrors"]
        if isinstance(current, dict):
            current["endpoint"] = list(urls)
        else:
            table[registry] = {"endpoint": list(urls)}
        changed = True
    if not changed:
        return old
    if isinstance(table, dict) and not table:
        del data["mirrors"]
    if not data:
        return None if old is None else ""
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def k3s_mirrors(text: str) -> dict[str, list[str]]:
    """``mirrors`` of a registries.yaml: registry -> endpoints."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(text) or {}
    found: dict[str, list[str]] = {}
    table = data.get("mirrors") if isinstance(data, dict) else None
    if isinstance(table, dict):
        for name, entry in table.items():
            endpoints = entry.get("endpoint", []) if isinstance(entry, dict) else []
            found[str(name)] = [str(e) for e in endpoints] if isinstance(endpoints, list) else []
    return found
