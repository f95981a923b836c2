"""Hiding credentials before anything is shown: URLs, whole lines, free text.

Every layer uses these (the HTTP client, the diffs of ``apply``, the config check, the
reports), so they live here rather than in any one of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["mask_conda_url", "mask_line", "mask_secret_value", "mask_url", "scrub"]

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`]+")
_USERINFO = re.compile(r"(?<=//)[^/\s?#@\"'<>]+@")
_CONDA_TOKEN = re.compile(r"/t/[^/]+")
_SECRET_KEY = re.compile(
    r"(?i)(?:^|[^a-z0-9])(?:_?auth(?:token)?|_password|password|token|secret|extraheader)\s*$"
)


def mask_url(url: str) -> str:
    """``url`` with its userinfo replaced: ``https://***:***@host/...``; else unchanged.

    Works on schemeless proxy values (``user:pw@proxy:3128``) and on URLs too broken for
    ``urlsplit``: the authority is everything between ``//`` (or the start) and the first
    ``/``, ``?`` or ``#``, and its userinfo everything up to its last ``@``, as clients
    parse it.
    """
    head, sep, rest = url.partition("//")
    if not sep:
        head, rest = "", url
    ends = [index for index in (rest.find(char) for char in "/?#") if index >= 0]
    end = min(ends, default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        return url
    masked = "***:***" if ":" in userinfo else "***"
    return f"{head}{sep}{masked}@{hostport}{tail}"


def mask_line(line: str, mask: Callable[[str], str] = mask_url) -> str:
    """``line`` with ``mask`` applied to every URL in it (default: credentials to ``***``)."""
    if "://" not in line or "@" not in line:
        return line
    return _URL.sub(lambda match: mask(match.group(0)), line)


def scrub(text: str) -> str:
    """``text`` with the userinfo of every ``scheme://user:pw@`` masked, even in malformed
    URLs (``https://https://user:pw@host``) that :func:`mask_url` leaves alone."""
    return _USERINFO.sub(lambda m: "***:***@" if ":" in m.group(0) else "***@", text)


def mask_conda_url(url: str) -> str:
    """A conda channel URL with credentials and any ``/t/<token>`` segment masked."""
    return _CONDA_TOKEN.sub("/t/***", mask_url(url))


def mask_secret_value(line: str) -> str:
    """``line`` with the value of a credential assignment shown as ``***``: npmrc's
    ``//host/:_authToken=...``, ``_auth``, ``_password``, a TOML ``token = "..."``, git's
    ``extraheader = ...``; any other line unchanged."""
    key, sep, value = line.partition("=")
    if not sep or not value.strip() or not _SECRET_KEY.search(key):
        return line
    if value.strip().startswith("${") and value.strip().endswith("}"):
        return line  # a variable reference, not the secret itself
    return f"{key}{sep}{' ' if value.startswith(' ') else ''}***"
