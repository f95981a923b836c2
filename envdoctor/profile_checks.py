"""Validating profile data: the error type, the per-file reporter and the checks every
tool's profile table uses (URLs, hosts, types), so each tool module validates its own
table with the same words and line numbers."""

from __future__ import annotations

import bisect
import difflib
import ipaddress
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import tomlkit
from tomlkit.exceptions import TOMLKitError

from envdoctor.errors import EnvdoctorError
from envdoctor.redact import scrub

_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+\Z")


# Characters that must never reach a config file or a terminal from profile data.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


_LINE_BREAKS = frozenset("\u2028\u2029\x85")


def check_characters(file: ProfileFile, path: tuple[str, ...], value: object) -> None:
    """No control, bidi or line-break characters in any key or string."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(file, (*path, key), key, "key")
            check_characters(file, (*path, key), item)
    elif isinstance(value, list):
        for item in value:
            check_characters(file, path, item)
    elif isinstance(value, str):
        _check_text(file, path, value, "value")


def _check_text(file: ProfileFile, path: tuple[str, ...], text: str, what: str) -> None:
    for position, char in enumerate(text):
        if unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS or char in _LINE_BREAKS:
            kind = (
                "a line break" if char in "\n\r" or char in _LINE_BREAKS else "a control character"
            )
            file.fail(
                path,
                f"the {what} contains {kind} (U+{ord(char):04X}) at position {position + 1}",
                "Profiles hold plain one-line text only.",
            )


class ProfileError(EnvdoctorError):
    """A profile file that cannot be used: the message names the file, the key and the line."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        path: Path | None = None,
        key: str | None = None,
        line: int | None = None,
        profile: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.path = path
        self.key = key
        self.line = line
        self.profile = profile


ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*\Z")


_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


_URL_LIST_KEYS = frozenset({"extra-index-urls", "registry-mirrors"})


_URL_BASE_KEYS = frozenset({"base-url", "channels-url", "endpoint"})


class ProfileFile:
    """Error reporting for one file: every problem names the file, the key and the line."""

    def __init__(self, source: Path, lines: KeyLines) -> None:
        self.source = source
        self.lines = lines

    def fail(
        self, path: Sequence[str], problem: str, hint: str | None = None, *, item: str | None = None
    ) -> NoReturn:
        """Raise for ``path``; ``item``, a string in the list at ``path``, refines the line."""
        key = display_key(path)
        line = self.lines.line_of(path) if item is None else self.lines.line_of_item(path, item)
        where = printable(self.source) + (f":{line}" if line is not None else "")
        raise ProfileError(
            f"{where}: {key}: {problem}" if key else f"{where}: {problem}",
            hint,
            path=self.source,
            key=key or None,
            line=line,
            profile=self.source.stem,
        )

    def unknown_key(
        self, path: Sequence[str], allowed: Sequence[str], what: str, word: str | None = None
    ) -> NoReturn:
        """An unknown key, with the allowed key closest to ``word`` (default: the key)."""
        close = difflib.get_close_matches(word or path[-1], allowed, n=1, cutoff=0.6)
        did_you_mean = f"Did you mean {close[0]!r}? " if close else ""
        self.fail(path, f"unknown {what}", f"{did_you_mean}Allowed: {', '.join(allowed)}.")


def check_url(
    file: ProfileFile,
    path: Sequence[str],
    value: object,
    allow_http: bool,
    *,
    in_list: bool = False,
) -> str:
    """A URL pointing at a mirror: https (http only with allow-http), no credentials."""
    if not isinstance(value, str):
        file.fail(path, f"expected a URL string, got {type_name(value)}")
    item = value if in_list else None
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        file.fail(path, f"{show(value)} is not a valid URL", item=item)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        file.fail(
            path,
            f"credentials in URLs are not allowed: {show(value)}",
            "Profiles are shared data: keep passwords in the tool's own credential store "
            "(pip: keyring or ~/.netrc; docker: docker login).",
            item=item,
        )
    if any(c.isspace() for c in value):
        file.fail(
            path, f"{show(value)} contains white space", "pip splits values on spaces.", item=item
        )
    if parts.scheme == "http" and not allow_http:
        file.fail(
            path,
            f"plain http is not allowed: {show(value)}",
            "Use https://, or if this mirror really has no TLS, add allow-http = true "
            f"to [{path[0]}] (pip then marks its host as trusted).",
            item=item,
        )
    if parts.scheme not in ("https", "http"):
        file.fail(path, f"expected an https:// URL, got {show(value)}", item=item)
    if not parts.hostname or not port_ok or not valid_host(parts.hostname):
        file.fail(path, f"{show(value)} has no valid host name", item=item)
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        file.fail(
            path, f"{show(value)} has a ?query or #fragment", "Give the plain base URL.", item=item
        )
    if re.search(r"/pkgs/free(/|$)", parts.path):
        file.fail(
            path,
            "pkgs/free was removed from conda's defaults in conda 4.7",
            "Never add it; base-url is enough.",
            item=item,
        )
    return value


def optional(
    file: ProfileFile,
    table: Mapping[str, Any],
    key: str,
    kind: type[Any],
    *,
    prefix: tuple[str, ...] = (),
) -> Any:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        expected = {bool: "true or false", str: "a string"}.get(kind, kind.__name__)
        file.fail((*prefix, key), f"expected {expected}, got {type_name(value)}")
    return value


class KeyLines:
    """Line numbers of keys and table headers, found by scanning the TOML source.

    tomlkit keeps no positions, so this walks the text of an already parsed document:
    headers, keys (bare, quoted, dotted) and values, skipping strings, arrays, inline
    tables and comments.  A key inside an inline table or an array maps to the line of
    the nearest key that contains it.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]
        self._lines: dict[tuple[str, ...], int] = {}
        self._explicit: set[tuple[str, ...]] = set()
        self._spans: dict[tuple[str, ...], tuple[int, int]] = {}
        self._scan()

    def line_of(self, path: Sequence[str]) -> int | None:
        """The line of ``path``, or of its nearest enclosing key or table."""
        key = tuple(path)
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return None

    def line_of_item(self, path: Sequence[str], item: str) -> int | None:
        """The line where the string ``item`` is written inside the value of ``path``."""
        span = self._spans.get(tuple(path))
        if span is not None:
            for literal in (_quote(item), f"'{item}'"):
                found = self._text.find(literal, *span)
                if found >= 0:
                    return self._line(found)
        return self.line_of(path)

    def _line(self, offset: int) -> int:
        return bisect.bisect_left(self._newlines, offset) + 1

    def _record(self, path: tuple[str, ...], offset: int) -> None:
        line = self._line(offset)
        for size in range(1, len(path)):
            self._lines.setdefault(path[:size], line)
        if path not in self._explicit:
            self._lines[path] = line
            self._explicit.add(path)

    def _scan(self) -> None:
        text, i, n = self._text, 0, len(self._text)
        table: tuple[str, ...] = ()
        while i < n:
            char = text[i]
            if char in " \t\r\n":
                i += 1
            elif char == "#":
                i = _line_end(text, i)
            elif char == "[":
                start = i
                i += 2 if text.startswith("[[", i) else 1
                keys, i = _read_key(text, i)
                if not keys:
                    return
                table = tuple(keys)
                self._record(table, start)
                i = _line_end(text, i)
            else:
                start = i
                keys, i = _read_key(text, i)
                if not keys or i >= n or text[i] != "=":
                    return  # not where a key should be: stop rather than guess
                path = (*table, *keys)
                self._record(path, start)
                end = _skip_value(text, i + 1)
                self._spans.setdefault(path, (i + 1, end))
                i = end


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end


def _read_key(text: str, i: int) -> tuple[list[str], int]:
    """A bare, quoted or dotted key starting at ``i``; the position after it."""
    keys: list[str] = []
    n = len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return keys, i
        if text[i] in "\"'":
            end = _string_end(text, i)
            keys.append(_unquote(text[i:end]))
            i = end
        else:
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_-"):
                i += 1
            if i == start:
                return keys, i
            keys.append(text[start:i])
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != ".":
            return keys, i
        i += 1


def _unquote(quoted: str) -> str:
    if quoted.startswith("'"):
        return quoted[1:-1]
    try:  # basic strings have escapes: let tomlkit decode them exactly as it did the key
        return next(iter(tomlkit.parse(f"{quoted} = 0")))
    except (TOMLKitError, StopIteration):
        return quoted[1:-1]


def _string_end(text: str, i: int) -> int:
    """The position just after the string literal starting at ``i``."""
    quote = text[i]
    n = len(text)
    if text.startswith(quote * 3, i):
        i += 3
        while i < n:
            if quote == '"' and text[i] == "\\":
                i += 2
            elif text.startswith(quote * 3, i):
                i += 3
                for _ in range(2):  # up to two more quotes belong to the content
                    if i < n and text[i] == quote:
                        i += 1
                return i
            else:
                i += 1
        return n
    i += 1
    while i < n and text[i] != "\n":
        if quote == '"' and text[i] == "\\":
            i += 2
        elif text[i] == quote:
            return i + 1
        else:
            i += 1
    return i


def _skip_value(text: str, i: int) -> int:
    """The end of the value starting at ``i``: arrays may span lines, strings too."""
    depth = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\n" and depth == 0:
            return i
        if char == "#":
            i = _line_end(text, i)
            continue
        if char in "\"'":
            i = _string_end(text, i)
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return i


def display_key(path: Sequence[str]) -> str:
    """A key path as TOML would write it: pip.index-url, sysctl."net.core.somaxconn"."""
    return ".".join(part if _BARE_KEY_RE.match(part) else _quote(part) for part in path)


def _quote(text: str) -> str:
    """A TOML basic string: quotes and backslashes escaped, invisible characters too."""
    return '"' + escape_invisible(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def escape_invisible(text: str) -> str:
    """Control, format and line-break characters as \\uXXXX: nothing reaches a terminal raw."""
    return "".join(
        c if c.isprintable() and c not in _BIDI_CONTROLS else _escape_char(c) for c in text
    )


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def printable(path: Path) -> str:
    return escape_invisible(str(path))


def _mask(text: str) -> str:
    """Hide credentials and query strings in a URL before showing it."""
    text = re.sub(r"(^|://)[^/?#@\s]*@", r"\1***@", text)
    text = scrub(text)  # a password whose "/", "?" or "#" ends the authority early
    if "://" in text:
        text = re.sub(r"\?[^#\s]*", "?***", text)
    return text


def show(value: str) -> str:
    """A value for an error message: credentials masked, escapes visible, length capped."""
    shown = _quote(_mask(value))
    return shown if len(shown) <= 100 else shown[:96] + '..."'


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.rstrip(".").split(".")
        return len(host) <= 253 and all(_LABEL_RE.match(label) for label in labels)
    return True


def valid_host_port(value: str) -> bool:
    host, colon, port = value.partition(":")
    if colon and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return False
    return valid_host(host)


def http_hosts(urls: Sequence[str]) -> tuple[str, ...]:
    hosts: list[str] = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme == "http" and parts.netloc not in hosts:
            hosts.append(parts.netloc)
    return tuple(hosts)


def any_http(urls: Sequence[str]) -> bool:
    return any(url.startswith("http://") for url in urls)


def toml_table(values: Mapping[str, Any]) -> Any:
    table = tomlkit.table()
    for key, value in values.items():
        table.add(key, value)
    return table


def add_allow_http(table: Any, allow_http: bool) -> None:
    if allow_http:
        table.add("allow-http", True)


def check_url_table(
    file: ProfileFile,
    target: str,
    table: Mapping[str, Any],
    allowed: Sequence[str],
    url_keys: Sequence[str],
) -> dict[str, Any]:
    """The keys of ``[target]`` checked: only ``allowed`` keys, ``allow-http`` a boolean,
    every key in ``url_keys`` a mirror URL (or a list of them)."""
    for key in table:
        if key not in allowed:
            file.unknown_key((target, key), allowed, f"key in [{target}]")
    allow_http = optional(file, table, "allow-http", bool, prefix=(target,)) or False
    checked: dict[str, Any] = {}
    if "allow-http" in table:
        checked["allow-http"] = allow_http
    for key in url_keys:
        if key not in table:
            continue
        value = table[key]
        if key in _URL_LIST_KEYS:
            if not isinstance(value, list):
                file.fail((target, key), f"expected a list of URLs, got {type_name(value)}")
            checked[key] = tuple(
                check_url(file, (target, key), item, allow_http, in_list=True) for item in value
            )
        elif key in _URL_BASE_KEYS:  # other paths are appended to these: no trailing slash
            checked[key] = check_url(file, (target, key), value, allow_http).rstrip("/")
        else:
            checked[key] = check_url(file, (target, key), value, allow_http)
    return checked
