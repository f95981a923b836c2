"""Hiding credentials before anything is shown: URLs, whole lines, free text.

Every layer uses these (the HTTP client, the diffs of ``apply``, the config check, the
reports), so they live here rather than in any one of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "Masked",
    "broken_authority",
    "mask_conda_url",
    "mask_line",
    "mask_secret_value",
    "mask_url",
    "scrub",
    "scrub_credentials",
    "scrub_userinfo",
    "unmasked",
    "with_userinfo",
]

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`]+")
_USERINFO = re.compile(r"(?<=//)[^/\s?#@\"'<>]+@")
_SIGNED_QUERY = re.compile(
    r"(?i)(?<=[?&])(x-amz-(?:signature|credential|security-token)|x-goog-(?:signature|credential)"
    r"|signature|sig|policy|key-pair-id|token|access_token|auth|api[-_]?key|password|secret)"
    r"=[^&#]*"
)
"""Query parameters that carry a credential: S3, GCS and CloudFront signatures, Azure's
``sig``, tokens and keys."""
_BROKEN_USERINFO = re.compile(r"(?<=//)([^/\s?#@\"'<>]*)[/?#][^\s\"'<>]*@")
"""An authority ended early by a password's ``/``, ``?`` or ``#``, up to the last ``@``."""
_AUTH_VALUE = re.compile(r"(?i)\b(bearer|basic|token)(\s+|\s*[=:]\s*)([A-Za-z0-9._~+/=-]{6,})")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_CONDA_TOKEN = re.compile(r"/t/[^/?#]+")
_MASKED_TOKEN = re.compile(r"/t/\*\*\*(?=[/?#]|$)")
_SECRET_KEY = re.compile(
    r"(?i)(?:(?:^|[^a-z0-9])(?:_?auth(?:token)?|_password|password|token|tokens|secret|"
    r"extraheader|key|pat|pwd|passwd)\s*$|secret|passw|credential)"
)
"""The name of a setting or variable whose value is a credential: ``_authToken``,
``HF_TOKEN``, ``OPENAI_API_KEY``, ``AWS_SECRET_ACCESS_KEY``, ``GITHUB_PAT``..."""
_LINE_USERINFO = re.compile(r"(?<=//)[^/\s?#@\"<>`*]+@")
_BARE_USERINFO = re.compile(r"(?<![\w/:.@*-])[A-Za-z0-9._~%!$&'()+,;-]+:[^\s@/\"`*]+@(?=[\w\[])")


class Masked(str):
    """A masked text (what :func:`mask_url` returns when it hides something) that still
    holds what it hides, as :attr:`raw`: the requests to a mirror need the credentials it
    is configured with.  It is shown, compared and hashed as the masked text; only
    :func:`unmasked` gives :attr:`raw` (:func:`envdoctor.tools.mirrors_of` asks it), and
    nothing ever shows it."""

    raw: str

    def __new__(cls, shown: str, raw: str) -> Masked:
        masked = super().__new__(cls, shown)
        masked.raw = raw
        return masked


def unmasked(value: object) -> str:
    """What a :class:`Masked` value hides (for the requests, never to show), else the
    value as text."""
    return value.raw if isinstance(value, Masked) else str(value)


def mask_url(url: str) -> str:
    """``url`` with its userinfo replaced: ``https://***:***@host/...``, and signed query
    values as ``***``; else unchanged.  A conda ``/t/<token>`` is conda's to mask
    (:func:`mask_conda_url`): elsewhere ``/t/`` is a path like any other.

    Works on schemeless proxy values (``user:pw@proxy:3128``) and on URLs too broken for
    ``urlsplit``: the authority is everything between ``//`` (or the start) and the first
    ``/``, ``?`` or ``#``, and its userinfo everything up to its last ``@``, as clients
    parse it.  A password with a ``/``, ``?`` or ``#`` not percent-encoded ends that
    authority early, at a "port" that is not a number (``http://user:pa/ss@proxy``):
    everything up to the last ``@`` is then masked, as a client cannot use that URL
    anyway and its error would show the password.
    """
    head, authority, tail = _split_authority(url)
    userinfo, at, hostport = authority.rpartition("@")
    raw = unmasked(url)
    if "?" in tail:  # a signed URL's signature and credential (a CDN redirect's)
        tail = _SIGNED_QUERY.sub(r"\1=***", tail)
    if not at:
        if "@" in tail and broken_authority(authority):
            return Masked(f"{head}***:***@{tail.rpartition('@')[2]}", raw)
        shown = f"{head}{authority}{tail}"
        return url if shown == url else Masked(shown, raw)
    masked = "***:***" if ":" in userinfo else "***"
    shown = f"{head}{masked}@{hostport}{tail}"
    return shown if shown == url else Masked(shown, raw)


def _split_authority(url: str) -> tuple[str, str, str]:
    """``url`` as what comes before its authority (``scheme://``, or nothing), the
    authority, and what follows (path, query and fragment): the authority runs from
    ``//`` (or the start) to the first ``/``, ``?`` or ``#``, as clients parse it."""
    head, sep, rest = url.partition("//")
    if not sep:
        head, rest = "", url
    ends = [index for index in (rest.find(char) for char in "/?#") if index >= 0]
    end = min(ends, default=len(rest))
    return head + sep, rest[:end], rest[end:]


def broken_authority(hostport: str) -> bool:
    """Whether ``host:port`` (no userinfo) has a port that is not a number: the sign of
    a password whose ``/``, ``?`` or ``#`` was not percent-encoded."""
    if hostport.startswith("["):
        after = hostport.partition("]")[2]
        return bool(after) and not (after.startswith(":") and after[1:].isdigit())
    _, colon, port = hostport.rpartition(":")
    return bool(colon) and bool(port) and not port.isdigit()


def with_userinfo(masked: str, raw: str) -> str:
    """``masked``, a form of ``raw`` whose userinfo (and signed query values, and a
    conda ``/t/<token>`` segment) :func:`mask_url` or :func:`mask_conda_url` hid, with
    ``raw``'s back: the URL to make requests with, never to show."""
    if "/t/***" in masked:  # each token of the path after the authority, in order
        tokens = iter(_CONDA_TOKEN.findall(_split_authority(raw)[2]))
        masked = _MASKED_TOKEN.sub(lambda hidden: next(tokens, hidden.group(0)), masked)
    if "=***" in masked and "?" in raw and "?" in masked:  # the query as configured
        query = raw.partition("?")[2].partition("#")[0]
        head, _, rest = masked.partition("?")
        fragment = rest.partition("#")[1] + rest.partition("#")[2]
        masked = f"{head}?{query}{fragment}"
    userinfo, at, _ = _split_authority(raw)[1].rpartition("@")
    if not at:
        return masked
    for hidden in ("***:***@", "***@"):
        before, found, after = masked.partition(hidden)
        if found and (not before or before.endswith("//")):
            return f"{before}{userinfo}@{after}"
    return masked


def mask_line(line: str, mask: Callable[[str], str] = mask_url) -> str:
    """``line`` with ``mask`` applied to every URL in it (default: credentials to ``***``),
    then :func:`scrub_userinfo`."""
    if "@" not in line:
        return line
    if "://" in line:
        line = _URL.sub(lambda match: mask(match.group(0)), line)
    return scrub_userinfo(line)


def scrub_userinfo(line: str) -> str:
    """``line`` with the userinfo that URL matching misses masked: a password with a
    ``'`` in it (RFC 3986 allows one), and a proxy value without a scheme
    (``proxy = user:pw@proxy:3128``, ``ALL_PROXY=user:pw@host:1080``)."""
    if "@" not in line:
        return line
    line = _LINE_USERINFO.sub(lambda m: "***:***@" if ":" in m.group(0) else "***@", line)
    return _BARE_USERINFO.sub("***:***@", line)


def scrub(text: str) -> str:
    """``text`` with the userinfo of every ``scheme://user:pw@`` masked, even in malformed
    URLs (``https://https://user:pw@host``) that :func:`mask_url` leaves alone, and in
    those whose password has a ``/``, ``?`` or ``#`` not percent-encoded
    (:func:`mask_url`)."""
    text = _USERINFO.sub(lambda m: "***:***@" if ":" in m.group(0) else "***@", text)
    return _BROKEN_USERINFO.sub(
        lambda m: "***:***@" if broken_authority(m.group(1)) else m.group(0), text
    )


def scrub_credentials(text: str) -> str:
    """A server's free text (an error message) with what looks like a credential masked:
    the value after ``Bearer``, ``Basic`` or ``token``, and JSON Web Tokens.  A registry
    that echoes the request's ``Authorization`` header in its error would otherwise have
    envdoctor print the token it was given."""
    text = _AUTH_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return scrub(_JWT.sub("***", text))


def mask_conda_url(url: str) -> str:
    """A conda channel URL with credentials and any ``/t/<token>`` segment masked; a
    :class:`Masked` that keeps what it hides when it hides something."""
    head, authority, tail = _split_authority(mask_url(url))
    shown = head + authority + _CONDA_TOKEN.sub("/t/***", tail)
    return url if shown == url else Masked(shown, unmasked(url))


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
