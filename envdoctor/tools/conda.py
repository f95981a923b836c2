"""conda: ``channels``, ``default_channels``, ``custom_channels`` and ``show_channel_urls``.

User scope edits ``~/.condarc``, system scope ``/etc/conda/.condarc``.  The file goes
through ruamel.yaml's round-trip mode, as conda's own ``conda config`` does, so comments,
key order, quoting and every other key survive; the indentation of block sequences is
taken from the file.  A byte-order mark and CRLF line ends are kept.  A file of the
common shape is edited as text instead, only the lines that change replaced, and the
result judged by libyaml (:mod:`envdoctor.tools.condarc_text`): ruamel.yaml's pure-Python
round trip takes seconds for a file of 1 MiB.

* ``channels`` gains ``defaults`` when it lacks it (conda >= 25.9 no longer adds it); the
  user's other channels stay, in their order.
* ``default_channels`` becomes the profile's ``<base>/pkgs/{main,r,msys2}`` as a whole, so
  a stale ``pkgs/free`` (gone since conda 4.7) goes too.
* ``custom_channels``: the profile's channels point at ``<base>/cloud``; other entries stay,
  except entries pointing at another known profile's channel host for a channel this
  profile does not mirror (left over from an earlier profile, they would keep it in use).
* ``show_channel_urls: true``.

A file that already says all this is returned byte for byte, so a second apply plans no
change.

Where conda reads its configuration (:func:`resolve_conda`), its traps, its edit, its
pull path and its profile table.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import tomlkit
import tomlkit.exceptions

from envdoctor.checkup import Checkup, Remedies, Row, add_problems, drift, source_text, tool_details
from envdoctor.configfiles import (
    ToolConfig,
    decode_utf8,
    normalise_endpoint,
    read_existing,
)
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.net.session import PullPath
from envdoctor.planning import ApplyOptions, Scope
from envdoctor.profile_checks import (
    ProfileError,
    ProfileFile,
    add_allow_http,
    any_http,
    check_url_table,
    show,
    toml_table,
    type_name,
)
from envdoctor.profiles import Profile, scan_profiles
from envdoctor.redact import Masked, mask_conda_url, mask_url, unmasked
from envdoctor.results import FileChange, TargetPlan
from envdoctor.tools import conda_pull, condarc_text
from envdoctor.tools.condarc import (
    CONDA_DEFAULT_CHANNEL_ALIAS,
    CONDA_FILE_KEYS,
    CONDA_SEARCH_PATH,
    conda_base,
    conda_base_as_written,
    conda_expand,
    load_yaml,
    resolve_conda,
    ruamel_refusal,
)

if TYPE_CHECKING:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

NAME = "conda"

USER_FILE = "~/.condarc"
SYSTEM_FILE = "/etc/conda/.condarc"
KEYS = ("channels", "default_channels", "custom_channels", "show_channel_urls")
"""The keys this target sets; every other key of the file is left as it is."""

CLEAN_NOTE = "run `conda clean -i` so conda drops the channel indexes cached from the old URLs"
PYTORCH_NOTE = (
    "the pytorch channel is frozen at PyTorch 2.5 (no newer builds are published there): "
    "install newer PyTorch with pip"
)

_BOM = "\ufeff"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
_CONDA_TOKEN = re.compile(r"/t/[^/\s\"']+")


def condarc(ctx: Context, scope: Scope) -> tuple[Path, str]:
    """The ``.condarc`` of ``scope`` and how it is shown to people."""
    path = ctx.path(SYSTEM_FILE) if scope == "system" else ctx.home / ".condarc"
    return path, ctx.display(path)  # SYSTEM_FILE or USER_FILE, or where it is in an image


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    """Point conda's channels at the profile's mirror; comments and other keys stay."""
    settings = profile.conda
    if settings is None:
        return TargetPlan(NAME, skipped="the profile does not set conda")
    path, display = condarc(ctx, options.scope)
    old = read_existing(path, display, "conda", root=ctx.root)
    edited = new_content(old, settings, display, _stale_channel_hosts(ctx, settings))
    notes = [CLEAN_NOTE]
    if "pytorch" in settings.custom_channels:
        notes.append(PYTORCH_NOTE)
    # what conda uses now: the file as the edit read it, not a second parse
    parsed = {path: edited.read} if edited.read is not None and old is not None else None
    notes.extend(override_notes(ctx, path, display, parsed))
    owner = options.owner if options.scope == "user" else None
    change = FileChange(NAME, path, display, old, edited.new, mode=0o644, owner=owner)
    return TargetPlan(NAME, changes=(change,), notes=tuple(notes))


# --- reading and writing ---------------------------------------------------------------


def mask_text(text: str) -> str:
    """``text`` with credentials in URLs and conda ``/t/<token>`` segments masked."""
    return _CONDA_TOKEN.sub("/t/***", _URL.sub(lambda m: mask_url(m.group(0)), text))


def _yaml() -> YAML:
    from ruamel.yaml import YAML  # 25 ms to import: only for a file the text path doubts

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long URL onto two lines
    # conda's own round-trip dumper (conda.common.serialize): "channels:\n  - defaults"
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _load(text: str, display: str) -> tuple[CommentedMap, YAML]:
    from ruamel.yaml.comments import CommentedMap

    yaml = _yaml()
    data, line, reason = load_yaml(yaml, text)
    if reason is not None:
        where = f" line {line}" if line is not None else ""
        problem = (
            f"{reason}: envdoctor does not edit it"
            if reason.startswith("refused")
            else f"invalid YAML ({mask_text(reason)}); conda cannot read it either"
        )
        raise EnvdoctorError(
            f"conda: {display}{where}: {problem}", f"Fix or move {display}, then run apply again."
        )
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise EnvdoctorError(
            f"conda: {display} line 1: not a mapping of settings; conda cannot read it",
            f"Fix or move {display}, then run apply again.",
        )
    offset = _sequence_offset(text)
    if offset is not None:
        yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return data, yaml


def _sequence_offset(text: str) -> int | None:
    """How far the file indents ``-`` under its key (``channels:\n  - x`` is 2), if it does."""
    key_indent: int | None = None
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if key_indent is not None and (stripped == "-" or stripped.startswith("- ")):
            return max(indent - key_indent, 0)
        code = stripped.split(" #", 1)[0].rstrip()
        key_indent = indent if code.endswith(":") and not code.startswith("-") else None
    return None


def _line(data: Mapping[str, Any], key: str) -> int:
    if isinstance(data, condarc_text.TextData):
        return data.line(key)
    try:
        return int(cast("CommentedMap", data).lc.key(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return 1


@dataclass(frozen=True)
class Edited:
    """The new content of a ``.condarc``, and the old one as read when read as text."""

    new: bytes
    read: condarc_text.CondarcText | None
    """None: the file went through ruamel.yaml."""


def new_content(
    old: bytes | None,
    settings: CondaSettings,
    display: str,
    stale_hosts: frozenset[str],
    *,
    as_text: bool = True,
) -> Edited:
    """``old`` edited to follow ``settings``: as text where :mod:`condarc_text` is sure of
    the file (``as_text``) and libyaml agrees, else through ruamel.yaml."""
    bom = crlf = False
    text = ""
    if old is not None:
        text = decode_utf8(old, display, "conda")
        bom = text.startswith(_BOM)
        text = text.removeprefix(_BOM)
        crlf = "\r\n" in text
        text = text.replace("\r\n", "\n")
    read: condarc_text.CondarcText | None = None
    out: str | None = None
    try:
        if not as_text:
            raise condarc_text.Doubt("asked for ruamel.yaml")
        offset = _sequence_offset(text)
        outcome = condarc_text.edit(
            text,
            CONDA_FILE_KEYS,
            functools.partial(_edit, settings=settings, display=display, stale_hosts=stale_hosts),
            2 if offset is None else offset,
        )
        read, out = outcome.read, outcome.text
    except condarc_text.Doubt as doubt:
        refusal = ruamel_refusal(text, doubt)
        if refusal is not None:
            line = f" line {refusal[0]}" if refusal[0] is not None else ""
            remedy = (
                f"Keep only the settings conda needs in {display} (conda reads it on every "
                "command), or edit it by hand, then run apply again."
                if isinstance(doubt, condarc_text.TooMany)
                else f"Write {display} in plain block style (one `key: value` or `  - item` a "
                "line: no anchors, no [...] or {...}, no | or > blocks) or edit it by hand, "
                "then run apply again."
            )
            raise EnvdoctorError(f"conda: {display}{line}: {refusal[1]}", remedy) from None
        data, yaml = _load(text, display)
        if _edit(data, settings, display, stale_hosts) or old is None:
            stream = io.StringIO()
            yaml.dump(data, stream)
            out = stream.getvalue()
    if out is None:
        return Edited(old or b"", read)
    if crlf:
        out = out.replace("\n", "\r\n")
    return Edited(((_BOM if bom else "") + out).encode("utf-8"), read)


def _edit(
    data: MutableMapping[str, Any],
    settings: CondaSettings,
    display: str,
    stale_hosts: frozenset[str],
) -> bool:
    """Change ``data`` in place to follow ``settings``; whether anything changed."""
    changed = False

    # channels (conda also accepts the alias "channel"): add defaults, keep the rest.
    key = "channel" if "channel" in data and "channels" not in data else "channels"
    channels = data.get(key)
    if channels is None:
        data[key] = _seq(["defaults"])
        changed = True
    elif not isinstance(channels, list):
        raise _type_error(display, data, key, "a list")
    elif "defaults" not in [str(item) for item in channels]:
        channels.append("defaults")
        changed = True

    # default_channels: the profile's list as a whole.
    wanted = list(settings.default_channels)
    current = data.get("default_channels")
    if not isinstance(current, list) or [str(item) for item in current] != wanted:
        data["default_channels"] = _seq(wanted)
        changed = True

    # custom_channels: merge.
    custom = data.get("custom_channels")
    if custom is not None and not isinstance(custom, dict):
        raise _type_error(display, data, "custom_channels", "a mapping")
    wanted_custom = settings.custom_channel_urls
    if custom is None and wanted_custom:
        from ruamel.yaml.comments import CommentedMap

        data["custom_channels"] = custom = CommentedMap()
        changed = True
    if custom is not None:
        for name in list(custom):
            value = str(custom[name]).rstrip("/")
            if str(name) not in wanted_custom and value in stale_hosts:
                del custom[name]
                changed = True
        for name, url in wanted_custom.items():
            if str(custom.get(name, "")).rstrip("/") != url.rstrip("/"):
                custom[name] = url
                changed = True
        if not custom and "custom_channels" in data:
            del data["custom_channels"]  # conda's default (pkgs/pro) applies again
            changed = True

    if data.get("show_channel_urls") is not True:
        data["show_channel_urls"] = True
        changed = True
    return changed


def _seq(items: list[str]) -> CommentedSeq:
    from ruamel.yaml.comments import CommentedSeq

    return CommentedSeq(items)


def _type_error(display: str, data: Mapping[str, Any], key: str, kind: str) -> EnvdoctorError:
    return EnvdoctorError(
        f"conda: {display} line {_line(data, key)}: {key} must be {kind}; conda stops on it",
        f"Fix {key} in {display}, then run apply again.",
    )


def _stale_channel_hosts(ctx: Context, settings: CondaSettings) -> frozenset[str]:
    """Channel hosts of the other profiles: custom_channels entries left by them."""
    try:
        profiles = scan_profiles(ctx).profiles.values()
    except ProfileError:
        return frozenset()
    hosts = {
        other.conda.channels_url.rstrip("/")
        for other in profiles
        if other.conda is not None and other.conda.custom_channels
    }
    hosts.discard(settings.channels_url.rstrip("/"))
    return frozenset(hosts)


# --- what would override the file --------------------------------------------------------


def _rank(ctx: Context, path: Path) -> int:
    """The file's place in conda's search path (higher wins); -1 when not on it."""
    absolute = str(path.absolute())
    rank = -1
    for index, template in enumerate(CONDA_SEARCH_PATH):
        candidate = conda_expand(ctx, template)
        if candidate is None:
            continue
        if str(candidate.absolute()) == absolute or (
            template.endswith("/") and path.parent.absolute() == candidate.absolute()
        ):
            return index  # conda reads a file once, at its first place
    return rank


def override_notes(
    ctx: Context,
    path: Path,
    display: str,
    parsed: Mapping[Path, condarc_text.CondarcText] | None = None,
) -> list[str]:
    """Warnings for each setting a ``CONDA_*`` variable or a higher file would override;
    ``parsed``: files already read (see :func:`~envdoctor.tools.condarc.resolve_conda`)."""
    config = resolve_conda(ctx, parsed)
    ours = _rank(ctx, path)
    notes: list[str] = []
    seen: set[tuple[str, str]] = set()
    for name in KEYS:
        setting = config.settings.get(name)
        if setting is None:
            continue
        sources = [setting.source, *(source for _, source in setting.shadowed)]
        for source in sources:
            if source.kind == "env":
                verb = "comes first in" if name == "channels" else "overrides"
                message = f"${source.location} {verb} {name} from {display}"
            elif source.kind == "file" and Path(source.location) != path:
                rank = _rank(ctx, Path(source.location))
                if rank <= ours:
                    continue
                verb = "are listed before those of" if name.endswith("channels") else "overrides"
                if name == "custom_channels":
                    verb = "may override entries of"
                message = f"{name} in {_show(ctx, source.location)} {verb} {display}"
            else:
                continue
            if (name, message) not in seen:
                seen.add((name, message))
                notes.append(message)
    for problem in config.problems:
        where = f" line {problem.line}" if problem.line else ""
        notes.append(f"conda: {_show(ctx, problem.path)}{where}: {mask_text(problem.message)}")
    return notes


def _show(ctx: Context, location: str) -> str:
    path = Path(location)
    for base, prefix in ((ctx.home, "~/"), (ctx.root, "/")):
        try:
            return prefix + str(path.relative_to(base))
        except ValueError:
            continue
    return location


def _conda_row(ctx: Context, config: ToolConfig, remedies: Remedies) -> Row:
    channels = cast("tuple[str, ...]", config.value("channels"))
    default_setting = config.settings["default_channels"]
    default_channels = cast("tuple[str, ...]", default_setting.value)
    custom = cast("dict[str, str]", config.value("custom_channels"))
    alias = str(config.value("channel_alias"))
    base = conda_base(default_channels, alias)
    summary = (
        f"channels {', '.join(channels) or '(none)'}; defaults from {base} "
        f"({source_text(ctx, default_setting.source)})"
    )
    row = Row("conda", summary, tool_details(ctx, config))
    row.details["defaults_base"] = base
    add_problems(row, ctx, config)
    for name in ("channels", "default_channels"):
        setting = config.settings[name]
        values = cast("tuple[str, ...]", setting.value)
        free = [value for value in values if "pkgs/free" in value]
        if free:
            row.warn(
                f"{name} has {free[0]} (from {source_text(ctx, setting.source)}): pkgs/free "
                "was removed in conda 4.7",
                (remedies.apply("conda") if name == "default_channels" else None)
                or f"remove {free[0]} from {name} in {source_text(ctx, setting.source)}",
            )
    profile = remedies.profile
    mirror_profile = (
        profile is not None
        and profile.conda is not None
        and normalise_endpoint(profile.conda.base_url) != UPSTREAM_CONDA_BASE
    )
    if mirror_profile and "defaults" in channels and default_setting.source.kind == "default":
        row.warn(
            "channels has defaults but default_channels is not set: defaults go to "
            f"{UPSTREAM_CONDA_BASE}, not the mirror",
            remedies.apply("conda"),
        )
    alias_upstream = normalise_endpoint(alias) == CONDA_DEFAULT_CHANNEL_ALIAS
    if base != UPSTREAM_CONDA_BASE and alias_upstream:
        for channel in channels:
            if channel == "defaults" or "://" in channel or channel in custom:
                continue
            suggestion = (
                remedies.apply("conda")
                if profile is not None
                and profile.conda is not None
                and channel in profile.conda.custom_channels
                else None
            )
            row.warn(
                f"channel {channel} is not in custom_channels: it comes from "
                f"{CONDA_DEFAULT_CHANNEL_ALIAS} (channel_alias) while defaults "
                f"use {base}",
                suggestion or f"add {channel}: {base}/cloud under custom_channels in ~/.condarc",
            )
    if profile is not None and profile.conda is not None:
        have = [normalise_endpoint(c) for c in default_channels]
        want = [normalise_endpoint(c) for c in profile.conda.default_channels]
        drift(row, profile, "default_channels", have, want, remedies.apply("conda"))
        for name, url in profile.conda.custom_channel_urls.items():
            current = custom.get(name)
            drift(
                row,
                profile,
                f"custom_channels.{name}",
                None if current is None else normalise_endpoint(current),
                normalise_endpoint(url),
                remedies.apply("conda"),
            )
    return row


def _check_conda(file: ProfileFile, table: Mapping[str, Any], checked: dict[str, Any]) -> None:
    base = checked.get("base-url")
    if isinstance(base, str) and re.search(r"/(pkgs|cloud)(/|$)", urlsplit(base).path):
        file.fail(
            ("conda", "base-url"),
            f"{show(base)} points inside the mirror, not at its base",
            "Give the directory above pkgs/ and cloud/, e.g. "
            "https://mirrors.tuna.tsinghua.edu.cn/anaconda.",
        )
    if "custom-channels" in table:
        channels = table["custom-channels"]
        if not isinstance(channels, list):
            file.fail(
                ("conda", "custom-channels"),
                f"expected a list of channel names, got {type_name(channels)}",
            )
        for channel in channels:
            if not isinstance(channel, str):
                file.fail(
                    ("conda", "custom-channels"),
                    f"expected channel names (strings), got {type_name(channel)}",
                )
            if not _CHANNEL_RE.match(channel) or channel in ("defaults", "free"):
                file.fail(
                    ("conda", "custom-channels"),
                    f"{show(channel)} is not a channel name",
                    "List channel names such as conda-forge or pytorch; their URL is "
                    "channels-url (default: <base-url>/cloud).",
                    item=channel,
                )
        if len(set(channels)) != len(channels):
            file.fail(("conda", "custom-channels"), "lists a channel twice")
        checked["custom-channels"] = tuple(channels)


# --- the Tool protocol ------------------------------------------------------------------

TITLE = "conda"
TABLE_KEYS = ("base-url", "channels-url", "custom-channels", "allow-http")
URL_KEYS = ("base-url", "channels-url")
REQUIRED = ("base-url", 'base-url = "https://mirrors.example.edu.cn/anaconda"')
UPSTREAM_CONDA_BASE = "https://repo.anaconda.com"
_DEFAULT_CHANNEL_PATHS = ("pkgs/main", "pkgs/r", "pkgs/msys2")
_CHANNEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


@dataclass(frozen=True)
class CondaSettings:
    base_url: str
    """Above ``pkgs/``: ``default_channels`` derive from it (never ``pkgs/free``)."""
    channels_url: str
    """Where named channels live: ``<base_url>/cloud`` on a mirror."""
    custom_channels: tuple[str, ...] = ()
    allow_http: bool = False

    @property
    def default_channels(self) -> tuple[str, ...]:
        return tuple(f"{self.base_url}/{path}" for path in _DEFAULT_CHANNEL_PATHS)

    @property
    def custom_channel_urls(self) -> dict[str, str]:
        """``custom_channels`` for .condarc: each channel name mapped to the channels URL."""
        return {name: self.channels_url for name in self.custom_channels}


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    checked = check_url_table(file, NAME, table, TABLE_KEYS, URL_KEYS)
    _check_conda(file, table, checked)
    return checked


def settings(table: Mapping[str, Any]) -> CondaSettings:
    base: str = table["base-url"]
    channels_url: str = table.get("channels-url", f"{base}/cloud")
    return CondaSettings(
        base_url=base,
        channels_url=channels_url,
        custom_channels=table.get("custom-channels", ()),
        allow_http=any_http([base, channels_url]),
    )


def settings_json(value: CondaSettings) -> dict[str, Any]:
    return {
        "base_url": value.base_url,
        "channels_url": value.channels_url,
        "custom_channels": list(value.custom_channels),
        "default_channels": list(value.default_channels),
        "custom_channel_urls": value.custom_channel_urls,
        "allow_http": value.allow_http,
    }


def settings_toml(value: CondaSettings) -> Any:
    table = toml_table({"base-url": value.base_url})
    if value.channels_url != f"{value.base_url}/cloud":
        table.add("channels-url", value.channels_url)
    table.add("custom-channels", list(value.custom_channels))
    add_allow_http(table, value.allow_http)
    table.add(tomlkit.comment(f"default_channels: {', '.join(value.default_channels)}"))
    for name, url in value.custom_channel_urls.items():
        table.add(tomlkit.comment(f"custom_channels: {name}: {url}"))
    return table


def endpoints(value: CondaSettings) -> list[str]:
    return [value.default_channels[0]]


def resolve(ctx: Context) -> ToolConfig:
    return resolve_conda(ctx)


def mirrors(config: ToolConfig) -> list[str]:
    """The base behind ``default_channels``: masked, keeping the credentials and channel
    token it is configured with (:class:`~envdoctor.redact.Masked`) for the requests."""
    channels = cast("tuple[str, ...]", config.value("default_channels"))
    alias = cast("str", config.value("channel_alias"))
    shown = conda_base(channels, alias)
    raw = conda_base_as_written([unmasked(channel) for channel in channels], unmasked(alias))
    return [shown if raw == shown else Masked(mask_conda_url(shown), raw)]


def canonical(url: str) -> str:
    """The Anaconda base rather than its ``/pkgs/main`` channel, credentials and channel
    token masked."""
    url = mask_conda_url(normalise_endpoint(url))
    return url[: -len("/pkgs/main")] if url.endswith("/pkgs/main") else url


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row:
    return _conda_row(ctx, configs[NAME], checkup.remedies)


def pull_path(base_url: str, options: object | None = None) -> PullPath:
    """conda's pull path for ``base_url``, compared with Anaconda's own channel
    (:func:`pull_path_against`); ``options`` offer conda nothing to choose."""
    return pull_path_against(base_url, None)


def pull_path_against(base_url: str, upstream: str | None) -> PullPath:
    """``base_url`` is an Anaconda mirror base (``<b>`` with ``<b>/pkgs/main``), a
    ``<b>/cloud`` base (conda-forge) or a channel under ``/pkgs/`` or ``/cloud/``: the
    channel's ``noarch/repodata.json``, which conda downloads first.  Fetched with GET, not
    HEAD: some mirrors and CDNs answer HEAD differently (405, another redirect), and the
    latency sample hangs up after a small read anyway.  Then a package file that
    repodata names (:func:`envdoctor.tools.conda_pull.find_package`), which throughput
    times; ``upstream`` is the channel its ``Last-Modified`` is compared with (None:
    :func:`~envdoctor.tools.conda_pull.upstream_channel`), asked once per run."""
    channel = _conda_channel(base_url.strip().rstrip("/"))
    url = f"{channel}/noarch/repodata.json"
    steps = functools.partial(conda_pull.find_package, channel, upstream=upstream)
    return PullPath(base_url, NAME, url, url, large_file=steps)


def _conda_channel(base: str) -> str:
    segments = urlsplit(base).path.rstrip("/").split("/")
    if len(segments) >= 2 and segments[-2] in ("pkgs", "cloud"):
        return base
    if segments[-1] == "cloud":
        return f"{base}/conda-forge"
    return f"{base}/pkgs/main"


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    return []


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """``CONDA_DEFAULT_CHANNELS``: conda reads a sequence parameter from ``CONDA_<NAME>``,
    split on commas (``EnvRawParameter``).  ``custom_channels`` is a map, which conda does
    not read from the environment: named channels keep coming from .condarc."""
    if profile.conda is None:
        return []
    return [("CONDA_DEFAULT_CHANNELS", ",".join(profile.conda.default_channels))]
