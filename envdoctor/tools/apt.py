"""apt (Debian and Ubuntu): the URIs of the distribution's own entries in
``/etc/apt/sources.list``, ``sources.list.d/*.list`` and deb822 ``*.sources``.

Only the URI of an entry the distribution itself publishes changes
(:mod:`envdoctor.tools.apt_sources` says which those are); ``Signed-By``, suites,
components, options, comments, third-party repositories (NVIDIA's CUDA repository,
Docker's) and every other byte stay.  Security suites follow the profile: ``debian-security``
and ``ubuntu-security`` move only when the profile names a mirror that carries them,
otherwise they stay where they are and the plan says so.

apt's sources are system-wide, so the target writes only in system scope.  The check shows
each suite's URIs with their file, and the ``Date:`` and ``Valid-Until:`` of the
``InRelease`` apt last fetched from each mirror (``/var/lib/apt/lists``); an expired one is a
warning.  :func:`release_lag_s` compares a mirror's ``Date:`` with the upstream's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast
from urllib.parse import urlsplit

from envdoctor.checkup import Checkup, Finding, Remedies, Row, add_problems, drift, tool_details
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
from envdoctor.net.pull import Answer, Fetch, LargeFile, detached
from envdoctor.net.pull import Freshness as PullFreshness
from envdoctor.net.results import ProbeFailure
from envdoctor.net.session import PullPath
from envdoctor.net.shared import age, once_per_run
from envdoctor.planning import ApplyOptions
from envdoctor.profile_checks import (
    ProfileFile,
    add_allow_http,
    any_http,
    check_url_table,
    toml_table,
)
from envdoctor.profiles import Profile
from envdoctor.redact import mask_url
from envdoctor.results import FileChange, Status, TargetPlan
from envdoctor.tools.apt_sources import (
    ARCHIVES,
    Entry,
    edit_deb822,
    edit_one_line,
    inrelease_date,
    inrelease_valid_until,
    lists_file_name,
    read_deb822,
    read_one_line,
    source_file_names,
)

NAME = "apt"
TITLE = "apt (Debian, Ubuntu)"

SOURCES_LIST = "/etc/apt/sources.list"
SOURCES_DIR = "/etc/apt/sources.list.d"
LISTS_DIR = "/var/lib/apt/lists"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

_SUMMARY_SETTINGS = ("archives", "by-archive")

_SUITE_FOR_PROBE = {
    "debian": "stable",
    "debian-security": "stable-security",
    "ubuntu": "noble",
    "ubuntu-ports": "noble",
}


# --- reading what apt reads ------------------------------------------------------------


def source_files(ctx: Context) -> list[Path]:
    """The files apt reads its sources from, in its order."""
    files = [ctx.path(SOURCES_LIST)]
    directory = ctx.path(SOURCES_DIR)
    try:
        names = [entry.name for entry in directory.iterdir() if entry.is_file()]
    except OSError:
        names = []
    files += [directory / name for name in source_file_names(names)]
    return [path for path in files if path.is_file()]


def read_entries(path: Path, text: str) -> tuple[list[Entry], list[tuple[int, str]]]:
    if path.name.endswith(".sources"):
        return read_deb822(text, str(path))
    return read_one_line(text, str(path))


def resolve_apt(ctx: Context) -> ToolConfig | None:
    """Each suite's URIs (distribution entries of type ``deb`` that are enabled), with the
    file and line; ``archives`` lists the distinct base URIs.  None without ``/etc/apt``."""
    if not ctx.path("/etc/apt").is_dir():
        return None
    problems: list[ConfigProblem] = []
    files_read: list[str] = []
    suites: dict[str, list[tuple[str, Source]]] = {}
    archives: list[str] = []
    by_archive: dict[str, list[str]] = {}
    for path in source_files(ctx):
        text = read_text(path, problems)
        if text is None:
            continue
        files_read.append(str(path))
        entries, found = read_entries(path, text)
        problems += [ConfigProblem(str(path), line, message) for line, message in found]
        for entry in entries:
            if entry.archive is None or not entry.enabled or "deb" not in entry.types:
                continue
            uri = mask_url(entry.uri)
            archives.append(normalise_endpoint(uri))
            by_archive.setdefault(entry.archive, []).append(normalise_endpoint(uri))
            for suite in entry.suites:
                suites.setdefault(suite, []).append(
                    (uri, Source("file", str(path), f"line {entry.line}"))
                )
    settings: dict[str, Setting] = {}
    for suite, found_uris in suites.items():
        uris = tuple(dict.fromkeys(uri for uri, _ in found_uris))
        settings[suite] = Setting(suite, uris, found_uris[0][1])
    settings["archives"] = Setting(
        "archives", tuple(dict.fromkeys(archives)), Source("default", "apt")
    )
    settings["by-archive"] = Setting(
        "by-archive",
        {key: list(dict.fromkeys(uris)) for key, uris in by_archive.items()},
        Source("default", "apt"),
    )
    https = [uri for uri in archives if uri.startswith("https://")]
    if https and not ctx.path(CA_BUNDLE).is_file():
        problems.append(
            ConfigProblem(
                CA_BUNDLE,
                None,
                f"is missing, so apt fails to verify {https[0]}: every update there fails",
            )
        )
    return ToolConfig(NAME, settings, problems, files_read)


@dataclass(frozen=True)
class Freshness:
    """How current one suite of one mirror was when apt last downloaded its InRelease: its
    ``Date:`` (when the mirror's copy was published upstream) and ``Valid-Until:``."""

    uri: str
    suite: str
    date: datetime
    valid_until: datetime | None

    def age_s(self, now: datetime) -> float:
        return (now - self.date).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "suite": self.suite,
            "date": self.date.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }


def freshness(ctx: Context, config: ToolConfig) -> list[Freshness]:
    """The ``Date:`` and ``Valid-Until:`` of each suite's ``InRelease`` as apt stored it in
    ``/var/lib/apt/lists`` (the file's modification time is the server's Last-Modified,
    not when apt fetched it, so it says nothing more)."""
    found: list[Freshness] = []
    lists = ctx.path(LISTS_DIR)
    for suite, setting in config.settings.items():
        if suite in _SUMMARY_SETTINGS:
            continue
        for uri in cast("tuple[str, ...]", setting.value):
            path = lists / lists_file_name(uri, suite)
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            date = inrelease_date(text)
            if date is not None:
                found.append(Freshness(uri, suite, date, inrelease_valid_until(text)))
    return found


def release_lag_s(mirror_inrelease: str, upstream_inrelease: str) -> float | None:
    """How far a mirror's ``InRelease`` is behind the upstream's of the same suite, from
    their ``Date:`` fields (what reflector and apt-smart rank on); None without both."""
    mirror, upstream = inrelease_date(mirror_inrelease), inrelease_date(upstream_inrelease)
    if mirror is None or upstream is None:
        return None
    return max(0.0, (upstream - mirror).total_seconds())


# --- the check ------------------------------------------------------------------------


def _apt_row(ctx: Context, config: ToolConfig, remedies: Remedies) -> Row:
    per_uri: dict[str, list[str]] = {}
    for suite, setting in config.settings.items():
        if suite in _SUMMARY_SETTINGS:
            continue
        for uri in cast("tuple[str, ...]", setting.value):
            where = ctx.display(Path(setting.source.location))
            per_uri.setdefault(f"{uri} ({where})", []).append(suite)
    summary = "; ".join(f"{' '.join(s)} from {uri}" for uri, s in per_uri.items())
    row = Row(NAME, summary or "no Debian or Ubuntu entries", tool_details(ctx, config))
    add_problems(row, ctx, config)
    fresh = freshness(ctx, config)
    row.details["freshness"] = [item.to_json() for item in fresh]
    now = datetime.now(timezone.utc)
    for item in fresh:
        what = f"{item.uri} {item.suite}: InRelease dated {item.date:%Y-%m-%d %H:%M} UTC"
        if item.valid_until is not None and item.valid_until < now:
            row.warn(
                f"{what} expired on {item.valid_until:%Y-%m-%d}: apt refuses it unless the "
                "next update finds a newer one",
                "run apt-get update; if it stays expired, the mirror no longer syncs: "
                "envdoctor mirrors --target apt",
            )
        else:
            days = item.age_s(now) / 86400
            row.findings.append(Finding(Status.OK, f"{what} ({days:.1f} days ago)"))
    profile = remedies.profile
    if profile is not None and profile.apt is not None:
        have = cast("dict[str, list[str]]", config.value("by-archive"))
        for archive, want in profile.apt.archives.items():
            mine = have.get(archive, [])
            if mine:
                drift(row, profile, archive, mine[0], want, remedies.apply(NAME, system=True))
    return row


def _archive_of_base(uri: str) -> str | None:
    tail = urlsplit(uri).path.rstrip("/").rpartition("/")[2]
    return tail if tail in ARCHIVES else None


# --- the plan -------------------------------------------------------------------------


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    """Point the distribution's entries at the profile's archives, file by file."""
    if profile.apt is None:
        return TargetPlan(NAME, skipped="the profile does not set apt")
    settings = profile.apt
    if options.scope != "system":
        return TargetPlan(
            NAME, skipped="apt's sources are system-wide: run apply --scope system as root"
        )
    targets = dict(settings.archives)
    changes: list[FileChange] = []
    notes: list[str] = []
    seen: set[str] = set()
    third_party = 0
    for path in source_files(ctx):
        display = ctx.display(path)
        old = read_existing(path, display, "apt", root=ctx.root)
        if old is None:
            continue
        text = decode_utf8(old, display, "apt")
        entries, _ = read_entries(path, text)
        third_party += sum(1 for entry in entries if entry.archive is None)
        seen.update(entry.archive for entry in entries if entry.archive is not None)
        edit = edit_deb822 if path.name.endswith(".sources") else edit_one_line
        new = edit(text, targets).encode("utf-8")
        if new != old:
            changes.append(FileChange(NAME, path, display, old, new))
    if not seen:
        return TargetPlan(NAME, skipped="no Debian or Ubuntu archive in apt's sources")
    for archive in sorted(seen - set(targets)):
        notes.append(
            f"{archive} entries stay as they are: the profile names no mirror for {archive}"
        )
    if third_party:
        notes.append(f"{third_party} entries of other repositories are left alone")
    https = [url for url in targets.values() if url.startswith("https://")]
    if https and not ctx.path(CA_BUNDLE).is_file():
        notes.append(
            f"{CA_BUNDLE} is missing: apt cannot verify {https[0]}; install ca-certificates "
            "first (apt-get install ca-certificates), or the next update fails"
        )
    if changes:
        notes.append("run `apt-get update` to fetch the indexes from the new mirror")
    return TargetPlan(NAME, tuple(changes), tuple(notes))


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    return []


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """apt reads no variable naming its mirrors."""
    return []


# --- the Tool protocol ------------------------------------------------------------------

TABLE_KEYS = (*ARCHIVES, "allow-http")
REQUIRED: tuple[str, str] | None = None


@dataclass(frozen=True)
class AptSettings:
    archives: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Archive key (``debian``, ``debian-security``, ``ubuntu``, ``ubuntu-security``,
    ``ubuntu-ports``) to the mirror's base URL of that archive."""
    allow_http: bool = False


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    checked = check_url_table(file, NAME, table, TABLE_KEYS, ARCHIVES)
    for key in ARCHIVES:
        if key in checked:
            checked[key] = checked[key].rstrip("/")
    if not any(key in checked for key in ARCHIVES):
        file.fail(
            (NAME,),
            "[apt] names no archive",
            f"Add at least one of {', '.join(ARCHIVES)}, e.g. "
            'debian = "https://mirrors.example.org/debian".',
        )
    return checked


def settings(table: Mapping[str, Any]) -> AptSettings:
    archives = {key: table[key] for key in ARCHIVES if key in table}
    return AptSettings(MappingProxyType(archives), allow_http=any_http(list(archives.values())))


def settings_json(value: AptSettings) -> dict[str, Any]:
    return {**dict(value.archives), "allow_http": value.allow_http}


def settings_toml(value: AptSettings) -> Any:
    table = toml_table(dict(value.archives))
    add_allow_http(table, value.allow_http)
    return table


def endpoints(value: AptSettings) -> list[str]:
    return list(value.archives.values())


def settings_from_url(url: str) -> AptSettings | None:
    """Settings for a measured mirror known only by its URL: the archive its path names;
    security suites are left where they are."""
    archive = _archive_of_base(url)
    if archive is None:
        return None
    return AptSettings(MappingProxyType({archive: url}), allow_http=url.startswith("http://"))


def resolve(ctx: Context) -> ToolConfig | None:
    return resolve_apt(ctx)


def mirrors(config: ToolConfig) -> list[str]:
    return list(cast("tuple[str, ...]", config.value("archives")))


def canonical(url: str) -> str:
    return normalise_endpoint(url)


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row | None:
    config = configs.get(NAME)
    return None if config is None else _apt_row(ctx, config, checkup.remedies)


def pull_path(base_url: str, options: object | None = None) -> PullPath:
    """apt's pull path for ``base_url``, compared with the archive's own host
    (:func:`pull_path_against`); ``options`` (a :class:`~envdoctor.tools.PullOptions`)
    offer apt nothing to choose."""
    return pull_path_against(base_url, None)


def pull_path_against(base_url: str, upstream: str | None) -> PullPath:
    """apt's first request to an archive, ``dists/<suite>/InRelease`` (of the current
    stable release, or Ubuntu's current LTS), and the ``main`` ``Packages.xz`` to time.

    Its pull step fetches the mirror's ``InRelease`` and the upstream's (``upstream``, an
    archive base URL; default the archive's own, :data:`UPSTREAMS`) and compares their
    ``Date:`` fields (:func:`release_lag_s`); the upstream's is fetched once per run."""
    base = base_url.strip().rstrip("/")
    archive = _archive_of_base(base) or "debian"
    suite = _SUITE_FOR_PROBE.get(archive, "noble" if archive.startswith("ubuntu") else "stable")
    if archive == "ubuntu-security":
        suite = "noble-security"
    arch = "arm64" if archive == "ubuntu-ports" else "amd64"
    release = f"{base}/dists/{suite}/InRelease"
    packages = f"{base}/dists/{suite}/main/binary-{arch}/Packages.xz"
    origin = (upstream or UPSTREAMS.get(archive) or "").strip().rstrip("/")
    upstream_release = f"{origin}/dists/{suite}/InRelease"

    def steps(fetch: Fetch) -> LargeFile:
        what = f"main Packages.xz of {suite}"
        if not origin:
            return LargeFile(packages, what)
        if canonical(origin) == canonical(base):
            return LargeFile(packages, what, freshness=PullFreshness("the upstream itself", 0.0))
        return LargeFile(
            packages, what, freshness=_release_freshness(fetch, release, upstream_release)
        )

    return PullPath(base_url, NAME, release, packages, large_file=steps)


UPSTREAMS: dict[str, str] = {
    "debian": "https://deb.debian.org/debian",
    "debian-security": "https://deb.debian.org/debian-security",
    "ubuntu": "http://archive.ubuntu.com/ubuntu",
    "ubuntu-security": "http://security.ubuntu.com/ubuntu",
    "ubuntu-ports": "http://ports.ubuntu.com/ubuntu-ports",
}
"""Each archive's own host, whose ``InRelease`` a mirror's is compared with (the
Debian CDN serves ``debian-security`` too; Ubuntu's archive answers over plain http).
An archive missing here is compared with nothing (the test suite empties it, so that no
test reaches a public host)."""

UPSTREAM_WAIT_S = 2.0
"""How long a mirror's measurement waits for the upstream's ``InRelease``, fetched once
per run for every mirror that needs it (:func:`~envdoctor.net.shared.once_per_run`): an
upstream that does not answer (an offline machine, a blackholed route) costs each apt
mirror that long, never its measurement."""


def _upstream_release(url: str, fetch: Fetch) -> Answer | str:
    """The upstream's ``InRelease`` answer, or why there is none, in words."""

    def ask() -> Answer | str:
        try:
            return detached(fetch)(url, (), None)
        except ProbeFailure as failure:
            return failure.reason

    answer = once_per_run(f"apt-inrelease {url}", ask, wait_s=UPSTREAM_WAIT_S)
    return f"no answer within {UPSTREAM_WAIT_S:g} s" if answer is None else answer


def _release_freshness(fetch: Fetch, release: str, upstream_release: str) -> PullFreshness:
    upstream_host = urlsplit(upstream_release).hostname or upstream_release
    try:
        mine = fetch(release, (), None)
    except ProbeFailure as failure:
        return PullFreshness(f"Release date unknown: {failure.reason}")
    if not 200 <= mine.status < 300:
        return PullFreshness(f"Release date unknown: HTTP {mine.status} for its InRelease")
    theirs = _upstream_release(upstream_release, fetch)
    if isinstance(theirs, str):
        return PullFreshness(f"Release date not compared: {upstream_host}: {theirs}")
    if not 200 <= theirs.status < 300:
        return PullFreshness(
            f"Release date not compared: {upstream_host} answered HTTP {theirs.status}"
        )
    mirror_text = mine.body.decode("utf-8", "replace")
    lag = release_lag_s(mirror_text, theirs.body.decode("utf-8", "replace"))
    if lag is None:
        if inrelease_date(mirror_text) is None:
            return PullFreshness("Release date unknown: its InRelease has no Date")
        return PullFreshness(f"Release date not compared: {upstream_host}'s InRelease has no Date")
    if lag < 60:
        return PullFreshness(f"Release as recent as {upstream_host}'s", lag)
    return PullFreshness(f"Release {age(lag)} older than {upstream_host}'s", lag)
