"""apt's source files, read and edited as apt reads them: deb822 ``.sources`` stanzas and
one-line ``.list`` entries, which of them are the distribution's own archives, and the
``Date:`` of an ``InRelease`` file.

Helpers of :mod:`envdoctor.tools.apt`; pure text in, text out.

An entry is the distribution's own when its URI's last path segment names a Debian or
Ubuntu archive (``debian``, ``debian-security``, ``ubuntu``, ``ubuntu-ports``), every
component is one of that distribution's (Debian: ``main contrib non-free
non-free-firmware``; Ubuntu: ``main restricted universe multiverse``) and every suite is a
code name with one of its pocket suffixes.  Third-party repositories fail that test:
Docker's ``https://download.docker.com/linux/ubuntu`` has the component ``stable``,
NVIDIA's CUDA repository the suite ``/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit

ARCHIVES = ("debian", "debian-security", "ubuntu", "ubuntu-security", "ubuntu-ports")
"""The archives a profile's ``[apt]`` table names, by the key it uses."""

_COMPONENTS = {
    "debian": frozenset({"main", "contrib", "non-free", "non-free-firmware"}),
    "ubuntu": frozenset({"main", "restricted", "universe", "multiverse"}),
}
_SUITES = {
    "debian": re.compile(
        r"[a-z]+(-(updates|security|backports|backports-sloppy|proposed-updates))?|[a-z]+/updates"
    ),
    "ubuntu": re.compile(r"[a-z]+(-(updates|security|backports|proposed))?"),
}
_DISTRIBUTION = {
    "debian": "debian",
    "debian-security": "debian",
    "ubuntu": "ubuntu",
    "ubuntu-ports": "ubuntu",
}
_VALID_NAME = re.compile(r"[A-Za-z0-9_.\-]+\Z")


@dataclass(frozen=True)
class Entry:
    """One URI of one source entry, as apt uses it."""

    file: str
    line: int
    """1-based line of the URI (the ``URIs:`` field of a stanza)."""
    types: tuple[str, ...]
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    enabled: bool
    archive: str | None
    """The archive key (:data:`ARCHIVES`) when this is the distribution's own entry."""


def archive_of(uri: str, suites: Sequence[str], components: Sequence[str]) -> str | None:
    """The :data:`ARCHIVES` key of a distribution entry, or None for any other repository."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not suites:
        return None
    tail = unquote(parts.path).rstrip("/").rpartition("/")[2]
    distribution = _DISTRIBUTION.get(tail)
    if distribution is None:
        return None
    if not set(components) <= _COMPONENTS[distribution]:
        return None
    if not all(_SUITES[distribution].fullmatch(suite) for suite in suites):
        return None
    if tail == "ubuntu" and all(suite.endswith("-security") for suite in suites):
        return "ubuntu-security"
    return tail


def source_file_names(names: Sequence[str]) -> list[str]:
    """The names apt reads in ``sources.list.d``, in its order (sorted; valid characters;
    ``.list`` or ``.sources``)."""
    return sorted(
        name for name in names if _VALID_NAME.match(name) and name.endswith((".list", ".sources"))
    )


# --- reading ----------------------------------------------------------------------------


@dataclass
class _Field:
    name: str
    value: str
    first: int  # 0-based index of the first line
    last: int  # 0-based index of the last line (continuations)


def _stanzas(lines: Sequence[str]) -> Iterator[list[_Field]]:
    """deb822 stanzas: fields with their line ranges; comment lines are skipped (apt ignores
    them anywhere), blank lines end a stanza."""
    fields: list[_Field] = []
    for index, line in enumerate(lines):
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                yield fields
            fields = []
            continue
        if line[:1] in (" ", "\t") and fields:
            fields[-1].value += "\n" + line.strip()
            fields[-1].last = index
            continue
        name, sep, value = line.partition(":")
        if sep:
            fields.append(_Field(name.strip().lower(), value.strip(), index, index))
    if fields:
        yield fields


def read_deb822(text: str, file: str) -> tuple[list[Entry], list[tuple[int, str]]]:
    """Entries of a ``.sources`` file, and (line, problem) for stanzas apt would refuse."""
    entries: list[Entry] = []
    problems: list[tuple[int, str]] = []
    for fields in _stanzas(text.splitlines()):
        by_name = {field.name: field for field in fields}
        uris = by_name.get("uris")
        if uris is None or "types" not in by_name or "suites" not in by_name:
            missing = [n for n in ("types", "uris", "suites") if n not in by_name]
            problems.append(
                (fields[0].first + 1, f"a stanza has no {', '.join(missing)}: apt refuses it")
            )
            continue
        enabled = by_name.get("enabled")
        is_enabled = enabled is None or enabled.value.lower() not in ("no", "false", "0")
        types = tuple(by_name["types"].value.split())
        suites = tuple(by_name["suites"].value.split())
        components = tuple(by_name["components"].value.split()) if "components" in by_name else ()
        for uri in uris.value.split():
            entries.append(
                Entry(
                    file,
                    uris.first + 1,
                    types,
                    uri,
                    suites,
                    components,
                    is_enabled,
                    archive_of(uri, suites, components),
                )
            )
    return entries, problems


_ONE_LINE = re.compile(
    r"^(?P<lead>\s*)(?P<type>deb|deb-src)(?P<options>\s+\[[^\]]*\])?(?P<gap>\s+)"
    r"(?P<uri>\S+)(?P<rest>\s+\S.*)?$"
)


def read_one_line(text: str, file: str) -> tuple[list[Entry], list[tuple[int, str]]]:
    """Entries of a one-line ``sources.list`` file (comments and blank lines skipped)."""
    entries: list[Entry] = []
    problems: list[tuple[int, str]] = []
    for index, raw in enumerate(text.splitlines()):
        line = raw.split("#", 1)[0]
        if not line.strip():
            continue
        match = _ONE_LINE.match(line)
        if match is None or not match.group("rest"):
            problems.append((index + 1, "not a deb or deb-src line: apt refuses this file"))
            continue
        words = match.group("rest").split()
        suite, components = words[0], tuple(words[1:])
        uri = match.group("uri")
        entries.append(
            Entry(
                file,
                index + 1,
                (match.group("type"),),
                uri,
                (suite,),
                components,
                True,
                archive_of(uri, (suite,), components),
            )
        )
    return entries, problems


# --- editing ----------------------------------------------------------------------------


def _retarget(uri: str, archive: str | None, targets: dict[str, str]) -> str:
    if archive is None or archive not in targets:
        return uri
    new = targets[archive].rstrip("/")
    return new + "/" if uri.endswith("/") else new


def _uri_rewriter(
    suites: Sequence[str], components: Sequence[str], targets: dict[str, str], seen: set[str]
) -> Callable[[re.Match[str]], str]:
    """Rewrites one URI token; a URI the field already holds becomes empty (two mirrors
    of one archive would otherwise become one URI twice, which apt warns about)."""

    def rewrite(match: re.Match[str]) -> str:
        uri = match.group(0)
        new = _retarget(uri, archive_of(uri, suites, components), targets)
        if new != uri and new in seen:
            return ""
        seen.add(new)
        return new

    return rewrite


def edit_deb822(text: str, targets: dict[str, str]) -> str:
    """``text`` with the URIs of the distribution's own entries pointed at ``targets``
    (archive key -> base URL); every other byte kept."""
    lines: list[str | None] = list(text.splitlines(keepends=True))
    bare = [(line or "").rstrip("\r\n") for line in lines]
    for fields in _stanzas(bare):
        by_name = {field.name: field for field in fields}
        uris = by_name.get("uris")
        if uris is None or "suites" not in by_name:
            continue
        suites = by_name["suites"].value.split()
        components = by_name["components"].value.split() if "components" in by_name else []
        rewriter = _uri_rewriter(suites, components, targets, set())
        for index in range(uris.first, uris.last + 1):
            content = bare[index]
            if content.startswith("#"):
                continue  # a comment inside the field: apt skips it, so do we
            prefix = ""
            if index == uris.first:
                head, _, content = content.partition(":")
                prefix = head + ":"
            rewritten = re.sub(r"\S+", rewriter, content)
            if prefix + rewritten == bare[index]:
                continue
            if index != uris.first and not rewritten.strip():
                lines[index] = None  # a blank continuation line would end the stanza
                continue
            rewritten = re.sub(r"(\S)\s+$", r"\1", rewritten)
            ending = (lines[index] or "")[len(bare[index]) :]
            lines[index] = prefix + rewritten + ending
    return "".join(line for line in lines if line is not None)


def edit_one_line(text: str, targets: dict[str, str]) -> str:
    """``text`` with the URI of each distribution ``deb``/``deb-src`` line pointed at
    ``targets``; comments, options and every other line kept."""
    lines = text.splitlines(keepends=True)
    for index, raw in enumerate(lines):
        content = raw.rstrip("\r\n")
        code, hash_, comment = content.partition("#")
        match = _ONE_LINE.match(code)
        if match is None or not match.group("rest"):
            continue
        words = match.group("rest").split()
        uri = match.group("uri")
        new_uri = _retarget(uri, archive_of(uri, words[:1], words[1:]), targets)
        if new_uri == uri:
            continue
        start, end = match.span("uri")
        lines[index] = code[:start] + new_uri + code[end:] + hash_ + comment + raw[len(content) :]
    return "".join(lines)


# --- freshness --------------------------------------------------------------------------


def inrelease_date(text: str) -> datetime | None:
    """The ``Date:`` field of a ``Release``/``InRelease`` file (RFC 2822, UTC), or None."""
    return _release_time(text, "date")


def inrelease_valid_until(text: str) -> datetime | None:
    """The ``Valid-Until:`` field, or None when the file has none."""
    return _release_time(text, "valid-until")


def _release_time(text: str, field: str) -> datetime | None:
    for line in text.splitlines():
        if line.startswith("-----BEGIN PGP SIGNATURE"):
            break
        name, sep, value = line.partition(":")
        if sep and not line[:1].isspace() and name.strip().lower() == field:
            try:
                when = parsedate_to_datetime(value.strip())
            except (TypeError, ValueError):
                return None
            return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return None


_QUOTED = set('\\|{}[]<>"^~_=!@#$%^&*')


def lists_file_name(uri: str, suite: str) -> str:
    """The name apt gives the ``InRelease`` of ``uri`` and ``suite`` in
    ``/var/lib/apt/lists`` (``URItoFileName``: scheme and credentials dropped, a few
    characters quoted as ``%xx``, ``/`` turned into ``_``)."""
    parts = urlsplit(uri.rstrip("/") + f"/dists/{suite}/InRelease")
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    path = host + parts.path
    quoted = "".join(
        f"%{ord(char):02x}" if char in _QUOTED or ord(char) <= 0x20 or ord(char) >= 0x7F else char
        for char in path
    )
    return quoted.replace("/", "_")
