"""pip: ``index-url`` (and the profile's extra indexes) in ``[global]`` of pip.conf.

User scope writes ``$XDG_CONFIG_HOME/pip/pip.conf``, system scope ``/etc/pip.conf``.
Only the keys the profile sets change; every other line (comments, sections, keys,
blank lines, their order and line endings) is kept byte for byte.  The edit goes through
configupdater, a round-trip INI editor, never through configparser's rewrite (which is
what ``pip config set`` does, dropping comments).

The file is first read the way pip reads it (``RawConfigParser``, strict, keys normalised
like pip's ``_normalize_name``) so that a file pip itself refuses stops the apply, naming
the line.  Settings that would still beat what was written (``[install]`` sections,
higher-precedence files, ``PIP_*`` variables) are found with
:func:`envdoctor.resolve_pip` and reported as notes.

Where pip reads its configuration (:func:`resolve_pip`), the traps the config check
reports, the edit for a profile, the request that exercises an index, and the ``[pip]``
table of a profile: everything envdoctor knows about pip.
"""

from __future__ import annotations

import configparser
import functools
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import tomlkit
import tomlkit.exceptions

from envdoctor.checkup import (
    Checkup,
    Remedies,
    Row,
    add_problems,
    drift,
    jsonable,
    other_values,
    shown,
    source_text,
    tool_details,
    url_parts,
)
from envdoctor.configfiles import (
    ConfigProblem,
    Source,
    ToolConfig,
    decode_utf8,
    normalise_endpoint,
    read_existing,
    restore_line_endings,
    split_lines,
)
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.net.session import PullPath
from envdoctor.planning import ApplyOptions, Scope
from envdoctor.profile_checks import (
    ProfileFile,
    add_allow_http,
    any_http,
    check_url_table,
    http_hosts,
    toml_table,
)
from envdoctor.profiles import Profile
from envdoctor.redact import mask_url
from envdoctor.results import FileChange, TargetPlan
from envdoctor.tools import pip_pull
from envdoctor.tools.pip_config import (
    PipConfigParser,
    pip_config_files,
    pip_option_name,
    relative_user_dir,
    resolve_pip,
    strict_parse,
    universal_newlines,
)
from envdoctor.tools.pip_sections import sparse_for

if TYPE_CHECKING:
    from configupdater import ConfigUpdater
    from configupdater.option import Option
    from configupdater.section import Section

NAME = "pip"

_SECTION = "global"
_BOM = "\ufeff"
_EOL = re.compile(r"\r\n|\r|\n")
# Keys pip reads as --index-url: the option also answers to --pypi-url.
_INDEX_KEYS = frozenset({"index-url", "pypi-url"})
# Commands whose own section beats [global] for the index settings.
_COMMANDS = ("install", "download", "wheel", "lock", "index")


def config_path(ctx: Context, scope: Scope) -> Path:
    """The pip.conf this target writes for ``scope``."""
    if scope == "system":
        return ctx.path("/etc/pip.conf")
    return ctx.xdg_config_home / "pip" / "pip.conf"


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    """Set ``[global] index-url`` (and extras, trusted hosts) to the profile's."""
    settings = profile.pip
    if settings is None:
        return TargetPlan(NAME, skipped="the profile does not set pip")
    relative = relative_user_dir(ctx) if options.scope == "user" else None
    if relative is not None:
        return TargetPlan(
            NAME,
            skipped=f"XDG_CONFIG_HOME={relative} is relative, and this pip then reads its user "
            f"file {relative}/pip/pip.conf from the directory it runs in (a different file "
            "in each): set XDG_CONFIG_HOME to an absolute path, or unset it, and apply again",
        )
    path = config_path(ctx, options.scope)
    display = ctx.display(path)
    old = read_existing(path, display, "pip", root=ctx.root)
    new, notes = edit(old or b"", settings, display, ctx)
    owner = options.owner if options.scope == "user" else None
    change = FileChange(NAME, path, display, old, new, owner=owner)
    notes += _override_notes(ctx, path, display, settings)
    return TargetPlan(NAME, (change,), tuple(dict.fromkeys(notes)))


def edit(
    data: bytes,
    settings: PipSettings,
    display: str,
    ctx: Context | None = None,
    *,
    sparse: bool = True,
) -> tuple[bytes, list[str]]:
    """``data`` (a pip.conf's bytes) with the profile's keys set; notes for people.

    Raises :class:`EnvdoctorError` naming ``display`` and the line when pip would refuse
    the file.  With ``ctx``, pip's parse of the file is the one this run's resolve made.
    configupdater sees only ``[global]`` (:func:`envdoctor.tools.pip_sections.sparse_for`),
    the other sections being put back as they were; ``sparse=False`` shows it the whole
    file (the same bytes, slower: the tests compare both).
    """
    notes: list[str] = []
    text = decode_utf8(data, display, "pip")
    if text.startswith(_BOM):
        # pip decodes with the locale's codec, so the mark becomes part of the first line
        # and pip stops with "File contains no section headers": drop it.
        text = text[1:]
        notes.append(
            f"{display}: removed the UTF-8 byte-order mark at the start; pip refuses to "
            "load a file that starts with one"
        )
    lines = split_lines(text)
    universal = universal_newlines(text)  # what pip reads, and this run's resolve parsed
    normalised = universal + "\n" if universal and not universal.endswith("\n") else universal
    parsed = _check_like_pip(universal, display, ctx)
    # [DEFAULT]'s keys come first in every section pip reads, in their order there: an index
    # spelling only [DEFAULT] has would be met after [global]'s and win (see _update).
    inherited = tuple(key for key in parsed.defaults() if pip_option_name(key) in _INDEX_KEYS)
    if not parsed.has_section(_SECTION):
        # A new [global] goes last, after a blank line when the file has text.
        if normalised.strip() and not normalised.endswith("\n\n"):
            normalised += "\n"
        normalised += f"[{_SECTION}]\n"
    edited = None
    if sparse:
        shown = sparse_for(normalised, _SECTION)
        edited = shown.put_back(_edit_with_configupdater(shown.text, settings, display, inherited))
    if edited is None:  # a stand-in did not come back as it went: edit the whole file
        edited = _edit_with_configupdater(normalised, settings, display, inherited)
    return restore_line_endings(lines, edited).encode("utf-8"), notes


def _edit_with_configupdater(
    text: str, settings: PipSettings, display: str, inherited: Sequence[str] = ()
) -> str:
    from configupdater import ConfigUpdater  # imported when an edit needs it (_block_types)

    updater = ConfigUpdater(strict=False)
    try:
        updater.read_string(text)
    except configparser.Error as exc:  # pip accepted it, configupdater did not
        raise _parse_error(display, exc) from exc
    _update(updater, settings, inherited)
    return str(updater)


# --- reading ---------------------------------------------------------------------------


def _check_like_pip(text: str, display: str, ctx: Context | None) -> PipConfigParser:
    if ctx is not None:
        parser, error = strict_parse(ctx, text)
        if error is not None:
            raise _parse_error(display, error) from error
        return parser
    parser = PipConfigParser()
    try:
        parser.read_string(text, source=display)
    except configparser.Error as exc:
        raise _parse_error(display, exc) from exc
    return parser


def _parse_error(display: str, exc: configparser.Error) -> EnvdoctorError:
    line: int | None = None
    if isinstance(exc, configparser.MissingSectionHeaderError):
        line, problem = exc.lineno, "a setting before the first [section] header"
    elif isinstance(exc, configparser.DuplicateSectionError):
        line, problem = exc.lineno, f"section [{exc.section}] appears twice"
    elif isinstance(exc, configparser.DuplicateOptionError):
        line, problem = exc.lineno, f"{exc.option} is set twice in [{exc.section}]"
    elif isinstance(exc, configparser.ParsingError):
        line = exc.errors[0][0] if exc.errors else None
        problem = "a line that is neither a [section], a key = value nor a comment"
    else:
        problem = str(exc).splitlines()[0]
    where = f"{display} line {line}" if line is not None else display
    return EnvdoctorError(
        f"{where}: {problem}; pip refuses to load this file",
        f"Fix {display} (pip config debug shows what pip reads), then run apply again.",
    )


# --- editing ---------------------------------------------------------------------------


def _block_types() -> tuple[type[Option], type[Section], type[Any]]:
    """configupdater's option, section and space blocks, imported when an edit needs them:
    its import (importlib.metadata, for its version) would cost every command 35 ms."""
    from configupdater.block import Space
    from configupdater.option import Option
    from configupdater.section import Section

    return Option, Section, Space


def _options(section: Section, names: frozenset[str]) -> list[Option]:
    option_type = _block_types()[0]
    return [
        block
        for block in section.iter_blocks()
        if isinstance(block, option_type) and pip_option_name(block.raw_key) in names
    ]


def _values(option: Option) -> list[str]:
    return (option.value or "").split()


def _set(
    section: Section, existing: list[Option], key: str, values: Sequence[str], after: Option | None
) -> Option:
    """Make ``key`` hold ``values``: the first existing spelling edited in place, others gone.

    A new key goes right after ``after``, else after the section's last key, else right
    under the header (comments before the next header stay with that header).
    """
    if existing:
        option = existing[0]
        for duplicate in existing[1:]:
            duplicate.detach()
        _drop_stray_continuation(option)
        if _values(option) != list(values):
            _assign(option, values)
        return option
    if after is None:
        options = _options_in(section)
        after = options[-1] if options else None
    position = 0 if after is None else after.container_idx + 1
    section.insert_at(position).option(key, values[0])
    block = list(section.iter_blocks())[position]
    assert isinstance(block, _block_types()[0])
    option = block
    if len(values) > 1:
        _assign(option, values)
    return option


def _drop_stray_continuation(option: Option) -> None:
    """Remove indented value lines that follow ``option`` across comments or blank lines.

    pip's parser skips full-line comments and keeps blank lines inside a value, so such
    lines still continue the value; configupdater files them as loose space instead, and
    editing the option would leave them appended to the new value for pip.
    """
    option_type, section_type, space_type = _block_types()
    block = option.next_block
    while block is not None and not isinstance(block, (option_type, section_type)):
        if isinstance(block, space_type):
            kept = [line for line in block.lines if not line.strip()]
            if len(kept) != len(block.lines):
                block.lines[:] = kept
        block = block.next_block


def _options_in(section: Section) -> list[Option]:
    option_type = _block_types()[0]
    return [block for block in section.iter_blocks() if isinstance(block, option_type)]


def _assign(option: Option, values: Sequence[str]) -> None:
    if len(values) == 1:
        option.value = values[0]
    else:
        option.set_values(values)


def _update(updater: ConfigUpdater, settings: PipSettings, inherited: Sequence[str] = ()) -> None:
    """Set the profile's keys in ``[global]``.  ``inherited``: the index spellings
    ``[DEFAULT]`` has (raw keys, in its order).  configparser puts ``[DEFAULT]``'s keys
    first in every section, each holding the section's value when the section has that
    key; pip takes the last spelling it meets.  So each inherited spelling is set in
    ``[global]`` too: a ``[DEFAULT] pypi-url =`` after ``index-url`` would otherwise
    still be the index pip uses."""
    section = updater[_SECTION]
    # --pypi-url is an old alias: keep the index-url spelling when both are there.
    spellings = sorted(
        _options(section, _INDEX_KEYS),
        key=lambda option: pip_option_name(option.raw_key) != "index-url",
    )
    index = _set(section, spellings, "index-url", [settings.index_url], after=None)
    last = index
    chosen = index.raw_key.lower()
    for key in inherited:
        if key.lower() == chosen:
            continue
        same = [option for option in _options_in(section) if option.raw_key.lower() == key.lower()]
        last = _set(section, same, key, [settings.index_url], after=last)
    if settings.extra_index_urls:
        last = _set(
            section,
            _options(section, frozenset({"extra-index-url"})),
            "extra-index-url",
            settings.extra_index_urls,
            after=last,
        )
    hosts = settings.trusted_hosts
    if hosts:
        existing = _options(section, frozenset({"trusted-host"}))
        current = _values(existing[0]) if existing else []
        wanted = current + [host for host in hosts if host not in current]
        _set(section, existing, "trusted-host", wanted, after=last)


# --- what would still win --------------------------------------------------------------


def _override_notes(ctx: Context, path: Path, display: str, settings: PipSettings) -> list[str]:
    files = pip_config_files(ctx)
    if path not in files:
        variable = ctx.env.get("PIP_CONFIG_FILE", "")
        return [
            f"pip does not read {display} while PIP_CONFIG_FILE={variable} is set "
            "(that file replaces the user files): unset PIP_CONFIG_FILE, or apply the "
            "settings to that file"
        ]
    later = {str(file) for file in files[files.index(path) + 1 :]}
    notes: list[str] = []
    watched = ["index-url"] + (["extra-index-url"] if settings.extra_index_urls else [])
    for command in _COMMANDS:
        config = resolve_pip(ctx, command)
        for name in watched:
            setting = config.settings[name]
            for value, source in (*setting.shadowed, (setting.value, setting.source)):
                note = _beats(source, value, name, display, later, str(path))
                if note is not None:
                    notes.append(note)
        no_index = config.settings["no-index"]
        if no_index.value is True:
            notes.append(
                f"{no_index.source} sets no-index = true: pip ignores every index, "
                "the one written included; remove that setting"
            )
        notes += [
            _problem_note(problem) for problem in config.problems if problem.path != str(path)
        ]
    return notes


def _beats(
    source: Source, value: object, name: str, display: str, later: set[str], ours: str
) -> str | None:
    shown = " ".join(value) if isinstance(value, tuple) else str(value)
    if source.kind == "env":
        return (
            f"${source.location}={mask_url(shown)} overrides {name} in {display}: "
            f"unset {source.location}"
        )
    if source.kind != "file" or (source.location == ours and source.section == _SECTION):
        return None
    if source.section != _SECTION:
        return (
            f"{source} sets {name} = {shown}, which beats [global] for pip "
            f"{source.section}: remove it there, or set it to the profile's value"
        )
    if source.location in later:
        return (
            f"{source} sets {name} = {shown} and is read after {display}, so it wins: "
            "remove it there"
        )
    return None


def _problem_note(problem: ConfigProblem) -> str:
    where = f"{problem.path} line {problem.line}" if problem.line else problem.path
    return f"{where}: {problem.message}"


def _pip_row(ctx: Context, config: ToolConfig, remedies: Remedies) -> Row:
    index = config.settings["index-url"]
    extras = cast("tuple[str, ...]", config.value("extra-index-url"))
    summary = f"index-url {index.value} from {source_text(ctx, index.source)}"
    if extras:
        summary += f" (+{len(extras)} extra-index-url)"
    if config.value("no-index") is True:
        summary = f"no-index from {source_text(ctx, config.settings['no-index'].source)}"
    row = Row("pip", summary, tool_details(ctx, config))
    row.details["rules"] = config.client  # which pip's rules the answer follows
    add_problems(row, ctx, config)
    _pip_security(row, ctx, config, remedies)
    _pip_overrides(row, ctx, config, remedies)
    profile = remedies.profile
    if profile is not None and profile.pip is not None:
        drift(
            row,
            profile,
            "index-url",
            normalise_endpoint(str(index.value)),
            normalise_endpoint(profile.pip.index_url),
            remedies.apply("pip"),
        )
        have = [normalise_endpoint(url) for url in extras]
        want = [normalise_endpoint(url) for url in profile.pip.extra_index_urls]
        drift(row, profile, "extra-index-url", have, want, remedies.apply("pip"))
    return row


def _pip_security(row: Row, ctx: Context, config: ToolConfig, remedies: Remedies) -> None:
    index = str(config.value("index-url"))
    urls = [index, *cast("tuple[str, ...]", config.value("extra-index-url"))]
    trusted_setting = config.settings["trusted-host"]
    trusted = cast("tuple[str, ...]", trusted_setting.value)
    trusted_where = source_text(ctx, trusted_setting.source)
    parsed = [url_parts(url) for url in urls]
    for host in trusted:
        https = [
            url
            for url, (scheme, name, hostport) in zip(urls, parsed, strict=True)
            if scheme == "https" and host in (name, hostport)
        ]
        http = [
            1 for scheme, name, hostport in parsed if scheme == "http" and host in (name, hostport)
        ]
        if https and not http:
            remedy = (
                remedies.unset(trusted_setting.source.location)
                if trusted_setting.source.kind == "env"
                else f"remove {host} from trusted-host in {trusted_where}"
            )
            row.warn(
                f"trusted-host {host} (from {trusted_where}) turns off certificate checks "
                f"for the https index {https[0]}",
                remedy,
            )
    for url, (scheme, name, hostport) in zip(urls, parsed, strict=True):
        if scheme != "http" or not name or name in trusted or hostport in trusted:
            continue
        if _local_origin(name):  # pip's SECURE_ORIGINS: localhost, 127.0.0.0/8, ::1
            continue
        row.warn(
            f"pip ignores the plain-http index {url}: {name} is not a trusted-host",
            remedies.apply("pip")
            or f"use the https URL, or add trusted-host = {name} to [global] in "
            "~/.config/pip/pip.conf",
        )


def _local_origin(host: str) -> bool:
    """Whether pip takes plain http from ``host`` without a trusted-host
    (``PackageFinder``'s ``SECURE_ORIGINS``: ``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address in ipaddress.ip_network("127.0.0.0/8") or address == ipaddress.ip_address("::1")


def _pip_overrides(row: Row, ctx: Context, config: ToolConfig, remedies: Remedies) -> None:
    prefix_var = next((v for v in ("VIRTUAL_ENV", "CONDA_PREFIX") if ctx.env.get(v)), None)
    site_file = (
        str(ctx.user_path(ctx.env[prefix_var]) / "pip.conf") if prefix_var is not None else None
    )
    for name in ("index-url", "extra-index-url", "trusted-host", "timeout"):
        setting = config.settings[name]
        others = other_values(setting)
        if not others:
            continue
        lower_value, lower_source = others[-1]
        lower = f"{jsonable(lower_value)} from {source_text(ctx, lower_source)}"
        source = setting.source
        if source.kind == "env":
            row.warn(
                f"${source.location} overrides {name} {lower}",
                remedies.unset(source.location),
            )
        elif (
            source.kind == "file"
            and source.section not in (None, "global")
            and any(s.kind == "file" and s.section == "global" for _, s in others)
        ):
            row.warn(
                f"[{source.section}] {name} in {shown(ctx, source.location)} beats [global] "
                f"{name} {lower}",
                f"remove {name} from [{source.section}] in {shown(ctx, source.location)}",
            )
        elif source.kind == "file" and source.location == site_file:
            row.warn(
                f"the environment's own {shown(ctx, source.location)} (${prefix_var}) "
                f"overrides {name} {lower}",
                f"remove {name} from {shown(ctx, source.location)}",
            )
    config_file = ctx.env.get("PIP_CONFIG_FILE")
    if config_file and config_file != os.devnull and ctx.user_path(config_file).exists():
        hidden = [
            ctx.display(path)
            for path in (ctx.home / ".pip" / "pip.conf", ctx.xdg_config_home / "pip" / "pip.conf")
            if path.is_file()
        ]
        if hidden:
            row.warn(
                f"$PIP_CONFIG_FILE ({config_file}) makes pip skip {', '.join(hidden)}",
                remedies.unset("PIP_CONFIG_FILE"),
            )


# --- the Tool protocol ------------------------------------------------------------------

TITLE = "pip"
TABLE_KEYS = ("index-url", "extra-index-urls", "allow-http")
URL_KEYS = ("index-url", "extra-index-urls")
REQUIRED = ("index-url", 'index-url = "https://pypi.org/simple"')
ALIVE_STATUSES: frozenset[int] = frozenset()

PYPI_PROBE_PROJECT = "six"
"""A tiny, dependency-free project that has been on PyPI since 2010, is among the most
downloaded, and so is present on every full mirror and warm in every caching one."""
PYPI_LARGE_PROJECT = "numpy"
"""A project whose simple page is large (thousands of files): a real index download."""


@dataclass(frozen=True)
class PipSettings:
    index_url: str
    extra_index_urls: tuple[str, ...] = ()
    allow_http: bool = False
    """True when an index is reached over plain http (the profile said ``allow-http``)."""

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        """Hosts pip must be told to trust: only plain-http ones; https needs none."""
        return http_hosts((self.index_url, *self.extra_index_urls))


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[pip]`` table of one profile file, checked."""
    return check_url_table(file, NAME, table, TABLE_KEYS, URL_KEYS)


def settings(table: Mapping[str, Any]) -> PipSettings:
    """The merged ``[pip]`` table as settings."""
    extra: tuple[str, ...] = table.get("extra-index-urls", ())
    urls = (table["index-url"], *extra)
    return PipSettings(table["index-url"], extra, allow_http=any_http(urls))


def settings_json(value: PipSettings) -> dict[str, Any]:
    return {
        "index_url": value.index_url,
        "extra_index_urls": list(value.extra_index_urls),
        "trusted_hosts": list(value.trusted_hosts),
        "allow_http": value.allow_http,
    }


def settings_toml(value: PipSettings) -> Any:
    table = toml_table({"index-url": value.index_url})
    if value.extra_index_urls:
        table.add("extra-index-urls", list(value.extra_index_urls))
    add_allow_http(table, value.allow_http)
    if value.trusted_hosts:
        table.add(tomlkit.comment(f"trusted-host: {' '.join(value.trusted_hosts)}"))
    return table


def endpoints(value: PipSettings) -> list[str]:
    """The mirror URLs these settings point pip at, for measuring."""
    return [value.index_url, *value.extra_index_urls]


def resolve(ctx: Context) -> ToolConfig:
    return resolve_pip(ctx)


def mirrors(config: ToolConfig) -> list[str]:
    """index-url then extra-index-urls (none with ``no-index``)."""
    if config.value("no-index") is True:
        return []
    return [
        cast("str", config.value("index-url")),
        *cast("tuple[str, ...]", config.value("extra-index-url")),
    ]


def canonical(url: str) -> str:
    return normalise_endpoint(url)


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row:
    return _pip_row(ctx, configs[NAME], checkup.remedies)


PARALLEL_ADVICE = (
    "pip downloads one file at a time, each over one connection: for installs of many "
    "files, uv pip install downloads them concurrently (UV_CONCURRENT_DOWNLOADS, default "
    "50) and gains what more connections gained here; a single large wheel comes over "
    "one connection with either"
)
"""pip fetches each file in turn (``BatchDownloader`` loops over the links; parallel
downloads are still an open request, pypa/pip#825 and #13721 of 2025-12); uv's limit is
``UV_CONCURRENT_DOWNLOADS`` (uv's environment-variable reference;
``Concurrency::DEFAULT_DOWNLOADS`` is 50 in uv-configuration), and uv does not split a
file into ranges."""


def pull_path(base_url: str, options: object | None = None) -> PullPath:
    """pip's pull path for ``base_url``, compared with PyPI (:func:`pull_path_against`);
    ``options`` (a :class:`~envdoctor.tools.PullOptions`) offer pip nothing to choose."""
    return pull_path_against(base_url, None)


def pull_path_against(base_url: str, upstream: str | None) -> PullPath:
    """``base_url`` is an index URL (ending in ``/simple``): the simple page of
    :data:`PYPI_PROBE_PROJECT`, the first thing ``pip install`` fetches; then pip's next
    steps (:func:`envdoctor.tools.pip_pull.find_wheel`): :data:`PYPI_LARGE_PROJECT`'s page
    with pip's ``Accept``, and the wheel it lists, which throughput times.  ``upstream``
    is the index its serial is compared with (None: PyPI,
    :data:`~envdoctor.tools.pip_pull.UPSTREAM_INDEX`), asked once per run."""
    base = base_url.strip().rstrip("/")
    return PullPath(
        base_url,
        NAME,
        f"{base}/{PYPI_PROBE_PROJECT}/",
        f"{base}/{PYPI_LARGE_PROJECT}/",
        large_file=functools.partial(
            pip_pull.find_wheel, base, PYPI_LARGE_PROJECT, upstream=upstream
        ),
        parallel_advice=PARALLEL_ADVICE,
    )


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    """pip's settings go to pip.conf, not to the shell."""
    return []


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL`` and ``PIP_TRUSTED_HOST`` (pip splits the
    last two on white space), as pip's option parser reads ``PIP_<OPTION>``."""
    if profile.pip is None:
        return []
    pairs = [("PIP_INDEX_URL", profile.pip.index_url)]
    if profile.pip.extra_index_urls:
        pairs.append(("PIP_EXTRA_INDEX_URL", " ".join(profile.pip.extra_index_urls)))
    if profile.pip.trusted_hosts:
        pairs.append(("PIP_TRUSTED_HOST", " ".join(profile.pip.trusted_hosts)))
    return pairs
