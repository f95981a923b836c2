"""What ``pip install`` (and uv) ask an index after the first simple page, step by step,
and how current the index is.

pip (``index/collector.py``) GETs ``<index>/<project>/`` with ``Accept:
application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1,
text/html; q=0.01`` and ``Cache-Control: max-age=0``; it reads a PEP 691 JSON page or a
PEP 503 HTML page, resolves each file's ``href`` against the page's URL (or its
``<base href>``) with ``urljoin``, and downloads the chosen file with
``Accept-Encoding: identity``.  uv sends the same page request with ``q=0.2`` for the
HTML type (and its own compression, which :data:`~envdoctor.net.pull.Fetch` does not
decode, so it is not copied).  Unlike both, the page is asked for its last
:data:`PAGE_TAIL_BYTES` only (``Range``), where the newest files are.
:func:`find_wheel` does these steps for :data:`~envdoctor.tools.pip.PYPI_LARGE_PROJECT`
and returns the wheel the throughput phase downloads.

Freshness comes from what the page carries: the project's serial in the
``X-PyPI-Last-Serial`` header, in a ``<!--SERIAL n-->`` comment (bandersnatch) or in
PEP 691's ``meta._last-serial``, compared with the upstream's page for the same project,
fetched once per run (:func:`~envdoctor.net.shared.once_per_run`) whatever the number
of mirrors.  Where the upstream's page gives PEP 700 ``upload-time`` and the mirror's
page was read whole, the oldest upstream file the mirror lacks bounds its lag from
below: it has been missing that long.
"""

from __future__ import annotations

import datetime
import functools
import html
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from envdoctor.net.pull import (
    ANSWER_BODY_BYTES,
    Answer,
    Fetch,
    Freshness,
    LargeFile,
    PullRefused,
    detached,
)
from envdoctor.net.results import content_range, count_of, host_port
from envdoctor.net.shared import age, once_per_run
from envdoctor.redact import mask_url
from envdoctor.units import format_bytes

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
"""pip's ``_get_simple_response`` (pip 22.2 and later)."""
UV_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
"""uv's simple-page request (seen from uv 0.13 against the lab)."""
JSON_TYPE = "application/vnd.pypi.simple.v1+json"

DOWNLOAD_HEADERS = (("Accept-Encoding", "identity"),)
"""pip's file download (``network/utils.HEADERS``): the bytes as stored."""

UPSTREAM_INDEX: str | None = "https://pypi.org/simple"
"""The index a mirror's serial is compared with; None: compare with nothing (the test
suite sets this, so that no test reaches a public host)."""

_SERIAL_COMMENT = re.compile(rb"<!--\s*SERIAL\s+(\d{1,18})\s*-->")
_JSON_SERIAL = re.compile(rb'"_last-serial"\s*:\s*"?(\d{1,18})(?!\d)')
"""PEP 691 leaves its type open: PyPI's JSON has been seen with a number and a string."""
_JSON_FILES = re.compile(rb'"files"\s*:\s*\[')
_PREFERRED_WHEEL = re.compile(r"-(?:py3-none-any|[^-]+-[^-]+-manylinux[^-]*x86_64[^-]*)\.whl$")


@dataclass(frozen=True)
class IndexFile:
    """One file a simple page lists."""

    filename: str
    href: str
    """As written on the page (HTML entities decoded), fragment included."""
    base: str
    """What :attr:`href` is relative to: the page's URL, or its ``<base href>``."""
    yanked: bool = False
    upload_time: float | None = None
    """PEP 700 ``upload-time`` as a POSIX time, when the page gives it."""
    size: int | None = None

    @property
    def url(self) -> str:
        """Absolute, resolved as pip resolves it (``urljoin``), without the
        ``#sha256=`` fragment.  Resolved only for the file chosen: thousands of
        ``urljoin`` calls per page would cost more than the page's download."""
        return urldefrag(urljoin(self.base, self.href)).url


@dataclass(frozen=True)
class SimplePage:
    """What a simple page says, as far as it was read.  An HTML page's anchors are kept
    unparsed until :attr:`files` is asked for (once)."""

    serial: int | None
    complete: bool
    """The whole body was read: a file missing from :attr:`files` is not on the page."""
    is_json: bool
    entries: tuple[IndexFile, ...] = ()
    """A JSON page's files."""
    anchors: tuple[bytes, ...] = ()
    """An HTML page's ``<a>`` attributes, as read."""
    base: str = ""
    """What an HTML page's hrefs are relative to."""

    @functools.cached_property
    def files(self) -> tuple[IndexFile, ...]:
        """Every file listed, in page order."""
        if self.is_json:
            return self.entries
        return tuple(item for item in map(self._anchor, self.anchors) if item is not None)

    def _anchor(self, attributes: bytes) -> IndexFile | None:
        href = _href(attributes)
        if not href:
            return None
        yanked = _YANKED.search(attributes) is not None
        return IndexFile(_filename(href), href, self.base, yanked=yanked)


def _whole_range(value: str) -> bool:
    """``bytes 0-99/100``: the range is the whole body."""
    parsed = content_range(value)
    return parsed is not None and parsed[0] == 0 and parsed[1] + 1 == parsed[2]


def page_headers(accept: str = PIP_ACCEPT) -> tuple[tuple[str, str], ...]:
    """The simple-page request pip sends (``accept``: uv's list for uv)."""
    return (("Accept", accept), ("Cache-Control", "max-age=0"))


def parse_page(answer: Answer) -> SimplePage:
    """The files and serial of a simple page (PEP 691 JSON or PEP 503 HTML), tolerating a
    body cut at :data:`~envdoctor.net.pull.ANSWER_BODY_BYTES`."""
    length = answer.headers.get("content-length", "")
    complete = len(answer.body) < ANSWER_BODY_BYTES or count_of(length) == len(answer.body)
    if answer.status == 206 and not _whole_range(answer.headers.get("content-range", "")):
        complete = False
    header = answer.headers.get("x-pypi-last-serial", "").strip()
    serial = count_of(header)
    kind = answer.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == JSON_TYPE or (kind.endswith("json") and answer.body.lstrip().startswith(b"{")):
        files, body_serial = _json_files(answer, complete)
        found = serial if serial is not None else body_serial
        return SimplePage(found, complete, True, entries=files)
    body = answer.body
    base = answer.url
    tag = _BASE.search(body)
    if tag is not None and _href(tag.group(1)):
        try:
            base = urljoin(answer.url, _href(tag.group(1)))
        except ValueError:  # "https://[x/": the chosen file's URL will not parse either
            base = _href(tag.group(1))
    serials = _SERIAL_COMMENT.findall(body)
    if serial is None and serials:
        serial = int(serials[-1])
    return SimplePage(serial, complete, False, anchors=tuple(_ANCHOR.findall(body)), base=base)


# Regular expressions over the bytes, not an HTML parser: html.parser takes half a second
# on a 1 MiB page, in the thread of a mirror whose neighbours' latency samples share the
# GIL.  A tag cut off by the end of the body has no ">" and is not taken.
_ANCHOR = re.compile(rb"<a\s([^>]*)>", re.IGNORECASE)
_BASE = re.compile(rb"<base\s([^>]*)>", re.IGNORECASE)
_HREF = re.compile(rb"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_YANKED = re.compile(rb"\bdata-yanked\b", re.IGNORECASE)


def _raw_href(attributes: bytes) -> bytes | None:
    """The ``href`` value of an anchor's attributes as written (entities not decoded),
    None without one.  pypi.org and the mirrors that copy it write ``href="`` first: that
    case is cut out without the regular expression, and gives what it would."""
    if attributes.startswith(b'href="'):
        end = attributes.find(b'"', 6)
        if end >= 0:
            return attributes[6:end]
    found = _HREF.search(attributes)
    if found is None:
        return None
    return found.group(found.lastindex or 0)  # the one alternative that matched


def _href(attributes: bytes) -> str:
    raw = _raw_href(attributes)
    if not raw:
        return ""
    text = raw.decode("utf-8", "replace")
    return html.unescape(text) if "&" in text else text


def _filename(href: str) -> str:
    path = href.partition("#")[0].partition("?")[0]
    return unquote(path.rstrip("/").rsplit("/", 1)[-1])


def _json_files(answer: Answer, complete: bool) -> tuple[tuple[IndexFile, ...], int | None]:
    """PEP 691 ``files``: every whole object, one at a time, so that a cut body still
    gives the files before the cut."""
    body = answer.body
    match = _JSON_SERIAL.search(body)
    serial = int(match.group(1)) if match else None
    start = _JSON_FILES.search(body)
    if start is None:
        return _json_tail(answer.url, body), serial
    text = body[start.end() :].decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    files: list[IndexFile] = []
    position = 0
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] != "{":
            break
        try:
            item, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            break  # cut by the byte cap, or nested past the parser's depth
        entry = _json_file(answer.url, item)
        if entry is not None:
            files.append(entry)
    return tuple(files), serial


_BETWEEN_FILES = re.compile(rb"\}\s*,\s*\{")


def _json_tail(page_url: str, body: bytes) -> tuple[IndexFile, ...]:
    """The whole file objects of the end of a PEP 691 page (a ``Range: bytes=-N``
    answer, which starts inside one): the text between ``}, {`` separators, which occur
    only between the ``files`` array's objects, each parsed on its own; the cut first
    one, and anything else that does not parse, is left out."""
    files: list[IndexFile] = []
    pieces = _BETWEEN_FILES.split(body)
    for index, piece in enumerate(pieces):
        if index == len(pieces) - 1:
            end = piece.find(b"}]")  # the array's last object: what follows is not a file
            piece = piece[:end] if end >= 0 else piece
        try:
            item = json.loads(b"{" + piece + b"}")
        except (ValueError, RecursionError):
            continue
        entry = _json_file(page_url, item)
        if entry is not None:
            files.append(entry)
    return tuple(files)


def _json_file(page_url: str, item: object) -> IndexFile | None:
    if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not item["url"]:
        return None
    href = item["url"]
    name = item.get("filename")
    size = item.get("size")
    return IndexFile(
        name if isinstance(name, str) and name else _filename(href),
        href,
        page_url,
        yanked=bool(item.get("yanked")),
        upload_time=_timestamp(item.get("upload-time")),
        size=size if isinstance(size, int) and size > 0 else None,
    )


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def choose_file(page: SimplePage) -> IndexFile | None:
    """A file a pip on Linux x86_64 downloads: a ``py3-none-any`` or ``manylinux*x86_64``
    wheel, else any wheel, else a source archive; of those, the newest version (a final
    release before a pre-release, as pip without ``--pre``); never a yanked one.  Which
    wheel pip itself takes depends on its interpreter's tags, which a mirror's speed does
    not.  Versions are compared, not page positions: PyPI lists files by name, where
    ``1.10`` comes before ``1.9`` and ``2.0rc1`` after ``2.0``."""
    if not page.is_json:
        preferred = _preferred_html(page)
        if preferred is not None:
            return preferred
    return _choose_from_files(page)


def _choose_from_files(page: SimplePage) -> IndexFile | None:
    """:func:`choose_file` over every file of the page."""
    # The tier of every file first, then versions only within the best tier: a page
    # lists some 1,500 files, and a version key costs more than a tier.
    tiers: list[tuple[int, int, IndexFile]] = []
    for position, item in enumerate(page.files):
        if item.yanked:
            continue
        name = item.filename
        if name.endswith(".whl"):
            tier = 2 if _PREFERRED_WHEEL.search(name) else 1
        elif name.endswith((".tar.gz", ".zip")):
            tier = 0
        else:
            continue
        tiers.append((tier, position, item))
    if not tiers:
        return None
    top = max(tier for tier, _, _ in tiers)
    return _newest((position, item) for tier, position, item in tiers if tier == top)


def _preferred_html(page: SimplePage) -> IndexFile | None:
    """:func:`choose_file`'s answer for an HTML page that has a preferred wheel (None
    when it has none), without making a file of every link.  A link whose raw href has
    neither ``x86_64`` nor ``py3-none-any`` cannot name one, unless a ``%`` or ``&``
    decodes into one: only those are parsed exactly.  The rest are checked by the name
    their href gives, and the one file made is the winner's.  Anchor positions keep the
    page order that breaks ties, as the files' positions do.  A page's link costs about
    15 µs to make a file of, and a run of many pip mirrors pays it holding the GIL."""
    best: tuple[bool, tuple[int, ...], int] | None = None
    winner = b""
    versions: dict[str, tuple[bool, tuple[int, ...]]] = {}  # a version's 30-odd wheels
    for position, attributes in enumerate(page.anchors):
        raw = _raw_href(attributes)
        if raw is None:
            continue
        if b"%" in raw or b"&" in raw:  # decoding may make a preferred wheel of it
            item = page._anchor(attributes)
            if item is None or item.yanked:
                continue
            name = item.filename
        else:
            # The literals first: a substring test costs a tenth of the expression.
            if b"x86_64" not in raw and b"py3-none-any" not in raw:
                continue
            # What _anchor would make: with no "%", unquoting changes nothing, and an
            # ASCII "/" is never part of a UTF-8 sequence, so cut first, then decode.
            path = raw.partition(b"#")[0].partition(b"?")[0].rstrip(b"/")
            name = path[path.rfind(b"/") + 1 :].decode("utf-8", "replace")
            if b"yanked" in attributes.lower() and _YANKED.search(attributes) is not None:
                continue
        if not name.endswith(".whl") or _PREFERRED_WHEEL.search(name) is None:
            continue
        version = name.split("-", 2)[1]  # what _version_key reads of a wheel's name
        release = versions.get(version)
        if release is None:
            release = versions[version] = _version_key(name)
        key = (*release, position)
        if best is None or key > best:
            best, winner = key, attributes
    return page._anchor(winner) if best is not None else None


def _newest(files: Iterable[tuple[int, IndexFile]]) -> IndexFile | None:
    """Of ``(page position, file)`` pairs, the file of the newest version (a final
    release before a pre-release), the later on the page on a tie; None if none."""
    best = max(files, key=lambda pair: _newest_key(pair[1].filename, pair[0]), default=None)
    return best[1] if best is not None else None


def _newest_key(filename: str, position: int) -> tuple[bool, tuple[int, ...], int]:
    """What :func:`_newest` and :func:`_preferred_html` choose the greatest of: a final
    release before a pre-release, then the version, then the later on the page."""
    return (*_version_key(filename), position)


_RELEASE = re.compile(r"(\d+(?:\.\d+)*)(.*)")
_PRE = re.compile(r"(?:a|b|c|rc|alpha|beta|pre|preview|dev)\d*", re.IGNORECASE)


def _version_key(filename: str) -> tuple[bool, tuple[int, ...]]:
    """``(is a final release, release numbers)`` of a wheel's or sdist's version."""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        version = parts[1] if len(parts) > 1 else ""
    else:
        stem = filename.removesuffix(".tar.gz").removesuffix(".zip")
        version = stem.rsplit("-", 1)[-1]
    match = _RELEASE.match(version)
    if match is None:
        return False, ()
    parts = match.group(1).split(".")
    if any(len(part) > 18 for part in parts):  # int() refuses over 4300 digits
        return False, ()
    release = tuple(int(part) for part in parts)
    return _PRE.search(match.group(2)) is None, release


def find_wheel(
    base_url: str,
    project: str,
    fetch: Fetch,
    *,
    accept: str = PIP_ACCEPT,
    upstream: str | None = None,
) -> LargeFile:
    """pip's steps after the first page: ``project``'s simple page on ``base_url`` (an
    index URL), the file pip would download from it, and how current the page is
    compared with ``upstream`` (an index URL; default :data:`UPSTREAM_INDEX`).  A missing
    project, an error page or a page without files is :class:`PullRefused`."""
    base = base_url.strip().rstrip("/")
    url = f"{base}/{project}/"
    answer = fetch(url, (*page_headers(accept), ("Range", f"bytes=-{PAGE_TAIL_BYTES}")), None)
    if answer.status == 416:  # a server that refuses a suffix range: ask as pip does
        answer = fetch(url, page_headers(accept), None)
    if answer.status == 404:
        raise PullRefused(f"the index has no project {project} (HTTP 404)", 404)
    if not 200 <= answer.status < 300:
        words = f"HTTP {answer.status} {answer.reason}".rstrip()
        raise PullRefused(
            f"answers the first page but refuses {project}'s page: {words}", answer.status
        )
    page = parse_page(answer)
    chosen = choose_file(page)
    if chosen is None:
        what = "an HTML page without file links" if answer.is_html else "a page without files"
        if page.files:
            unyanked = any(not item.yanked for item in page.files)
            what = "no wheel or source archive" if unyanked else "only yanked files"
        raise PullRefused(f"the index has no files for {project} ({what})", answer.status)
    try:
        chosen_url = chosen.url
    except ValueError:  # urljoin: "https://[x/..." and the like
        raise PullRefused(
            f"the index links {chosen.filename} with a URL that does not parse: "
            f"{mask_url(chosen.href)}",
            answer.status,
        ) from None
    mirror, host = host_port(answer.url), host_port(chosen_url)
    finding = None
    hops: tuple[str, ...] = ()
    if host != mirror:
        hops = (host,)
        finding = (  # what was measured: one project's page, one file
            f"wheels from this mirror come from {host}: its {project} page links "
            f"{chosen.filename} there, so pip and uv download it from that host whatever "
            "index-url says"
        )
    size = f" ({format_bytes(chosen.size)})" if chosen.size else ""
    kind = "wheel" if chosen.filename.endswith(".whl") else "file"
    return LargeFile(
        url=chosen_url,
        what=f"{kind} {chosen.filename}{size}",
        headers=DOWNLOAD_HEADERS,
        hops=hops,
        finding=finding,
        freshness=freshness(base, project, page, fetch, upstream),
    )


def freshness(
    base_url: str, project: str, page: SimplePage, fetch: Fetch, upstream: str | None = None
) -> Freshness | None:
    """How ``page`` (``project`` on the index ``base_url``) compares with the upstream's
    page for ``project``: serials, and a lag bound from PEP 700 upload times.  None when
    there is nothing to say (no upstream, or the mirror is the upstream and has no
    serial)."""
    upstream = (UPSTREAM_INDEX if upstream is None else upstream) or None
    if upstream is None:
        if page.serial is None:
            return None
        return Freshness(f"freshness unknown: no upstream asked ({project} serial {page.serial})")
    upstream = upstream.rstrip("/")
    host = urlsplit(upstream).hostname or upstream
    if host_port(upstream) == host_port(base_url):
        return None  # the mirror is the upstream
    theirs = _upstream_page(f"{upstream}/{project}/", fetch)
    mine = page.serial
    if theirs is None:
        if mine is None:
            return Freshness(
                f"freshness unknown: no serial on its {project} page, and {host} did not answer"
            )
        return Freshness(f"freshness unknown: {host} did not answer ({project} serial {mine} here)")
    behind: int | None = None
    if mine is not None and theirs.serial is not None:
        behind = max(0, theirs.serial - mine)
        words = (
            f"behind {host} by {behind} serials ({project})"
            if behind
            else f"current with {host} ({project} serial {mine})"
        )
    elif mine is None:
        words = f"freshness unknown: no serial on its {project} page"
    else:
        words = f"freshness unknown: {host} gave no serial ({project} serial {mine} here)"
    if behind == 0:
        # a file it lacks is one it leaves out (a filtered mirror), not one it is late for
        return Freshness(words, 0.0, 0)
    lag = _lag(page, theirs)
    if lag is not None:
        count, lag_s = lag
        words += f"; lacks {count} of {host}'s files, the oldest uploaded {age(lag_s)} ago"
        return Freshness(words, lag_s, behind)
    return Freshness(words, None, behind)


def _lag(mine: SimplePage, theirs: SimplePage) -> tuple[int, float] | None:
    """How many upstream files (with an upload time) the mirror lacks, and the age of the
    oldest.  Of a mirror's page read only in part (its tail: numpy's runs past 1 MiB),
    only the upstream's files listed from the first one the mirror's part also shows
    count (both pages list files in the same order): an earlier one may just lie before
    the part read."""
    have = {item.filename for item in mine.files}
    candidates = theirs.files
    if not mine.complete:
        start = next((i for i, item in enumerate(theirs.files) if item.filename in have), None)
        if start is None:
            return None  # the two parts read share no file: nothing to compare
        candidates = theirs.files[start:]
    missing = [
        item.upload_time
        for item in candidates
        if item.filename not in have and item.upload_time is not None
    ]
    if not missing:
        return None
    return len(missing), max(0.0, time.time() - min(missing))


UPSTREAM_TAIL_BYTES = 256 * 1024
"""How much of the end of the upstream's page is asked for: its serial is a header, and
the newest files (the ones a late mirror lacks) are at the end; a server that ignores
``Range`` sends the beginning instead, read up to the usual cap."""
PAGE_TAIL_BYTES = 256 * 1024
"""How much of the end of the mirror's page is asked for (``Range: bytes=-N``, which pip
does not send): the newest files, the ones pip chooses, and bandersnatch's
``<!--SERIAL n-->``, are at the end of a page that runs past 1 MiB for numpy; and 256 KiB
of it, not 1 MiB, is what a slow mirror must deliver within the latency deadline, where
this step runs.  A server that ignores ``Range`` sends the page's beginning."""


def _upstream_page(url: str, fetch: Fetch) -> SimplePage | None:
    """The end of the upstream's page at ``url``, asked once for every mirror of the
    run and waited for :data:`~envdoctor.net.shared.WAIT_S` at most (None: it did not
    answer with a page by then)."""

    def ask() -> SimplePage | None:
        headers = (
            ("Accept", JSON_TYPE),
            ("Cache-Control", "max-age=0"),
            ("Range", f"bytes=-{UPSTREAM_TAIL_BYTES}"),
        )
        answer = detached(fetch)(url, headers, None)
        return parse_page(answer) if 200 <= answer.status < 300 else None

    return once_per_run(url, ask)
