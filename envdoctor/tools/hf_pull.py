"""Where a model hub's large file really comes from: the Hugging Face hub's ``resolve``
and ModelScope's file endpoint, redirects followed hop by hop.

huggingface_hub (``file_download.get_hf_file_metadata``) sends ``HEAD
<endpoint>/<repo>/resolve/<revision>/<file>`` with its ``User-Agent`` and
``Accept-Encoding: identity``, stops at a redirect to another host (a CDN's signed URL)
and then GETs that location without the token.  The bytes come from the last hop, not
from ``HF_ENDPOINT``: a mirror that answers the API and redirects ``resolve`` to the
upstream's CDN is a mirror the 15 GB pull never touches.  This module asks the same
question with a ``GET`` and ``Range: bytes=0-0`` (the same redirects, one byte of body)
and names the host at the end.
"""

from __future__ import annotations

import dataclasses
import platform
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from envdoctor.net.pull import Answer, Fetch, LargeFile, PullRefused
from envdoctor.net.results import ProbeFailure, content_range, count_of, host_port
from envdoctor.redact import mask_url
from envdoctor.units import format_bytes

HF_HUB_VERSION = "2.4.0"
"""The huggingface_hub version whose headers :func:`hf_headers` copies; its
``User-Agent`` names the installed version instead, when there is one."""


def hf_headers() -> tuple[tuple[str, str], ...]:
    """What ``build_hf_headers`` sends without a token or library name
    (``unknown/None; hf_hub/<version>; python/<version>``), plus the
    ``Accept-Encoding: identity`` that ``get_hf_file_metadata`` adds."""
    import importlib.metadata  # 25 ms to import: only when a hub is measured

    try:
        version = importlib.metadata.version("huggingface_hub")
    except importlib.metadata.PackageNotFoundError:
        version = HF_HUB_VERSION
    agent = f"unknown/None; hf_hub/{version}; python/{platform.python_version()}"
    return (("User-Agent", agent), ("Accept-Encoding", "identity"))


MODELSCOPE_HUB_VERSION = "0.5.1"
"""The modelscope_hub library whose file download :func:`modelscope_headers` copies:
the ``modelscope`` SDK (1.40) delegates its downloads to it."""


def modelscope_headers() -> tuple[tuple[str, str], ...]:
    """``_build_download_headers`` of modelscope_hub 0.5.1: its ``build_user_agent``
    (its version, Python, a session id, the platform, ``env/custom``, ``user/unknown``),
    a fresh ``snapshot-identifier`` and ``Accept-Encoding: identity``.  It adds
    ``x-aliyun-region-id`` only inside Alibaba Cloud (a detected region), which can make
    the mirror redirect to an internal OSS host instead; that is not asked here."""
    agent = "; ".join(
        (
            f"modelscope_hub/{MODELSCOPE_HUB_VERSION}",
            f"python/{platform.python_version()}",
            f"session_id/{uuid.uuid4().hex}",
            f"platform/{platform.platform()}",
            f"processor/{platform.processor()}",
            "env/custom",
            "user/unknown",
        )
    )
    return (
        ("User-Agent", agent),
        ("snapshot-identifier", uuid.uuid4().hex),
        ("Accept-Encoding", "identity"),
    )


HF_REMEDY = (
    "this is huggingface_hub's plain HTTP download (HF_HUB_DISABLE_XET=1, or hf_xet not "
    "installed; with hf_xet a Xet-backed file comes from the Xet storage the hub names "
    "instead). HF_ENDPOINT picks only the first host, and HF_HUB_DISABLE_XET=1 does not "
    "change where the mirror redirects: to download from one host, pick a mirror whose "
    "resolve does not redirect elsewhere"
)
MODELSCOPE_REMEDY = (
    "MODELSCOPE_DOMAIN picks only the first host; where the file then comes from is the "
    "mirror's redirect: to download from one host, pick a mirror whose file endpoint "
    "does not redirect elsewhere"
)


def find_hf_file(base_url: str, repo: str, revision: str, filename: str, fetch: Fetch) -> LargeFile:
    """huggingface_hub's ``resolve`` of ``repo``'s ``filename`` on ``base_url`` (an
    ``HF_ENDPOINT``): the file at the end of the redirects, or :class:`PullRefused`;
    the finding says where the bytes come from, Xet included (:func:`xet_metadata`)."""
    base = base_url.strip().rstrip("/")
    url = f"{base}/{repo}/resolve/{revision}/{filename}"
    headers = hf_headers()
    # the download GET (``http_get``) sends the User-Agent, not ``identity``
    download = tuple(item for item in headers if item[0] != "Accept-Encoding")
    return find_file(url, f"{repo}/{filename}", headers, HF_REMEDY, fetch, download, xet=True)


HUB_HOSTS = frozenset({"huggingface.co", "hf.co", "hub-ci.huggingface.co"})
"""Hosts whose redirects huggingface_hub follows while it looks for a file's metadata
(``utils/_http.py``: ``_HUB_ORIGINS``, besides the ``HF_ENDPOINT`` itself)."""


@dataclass(frozen=True)
class XetMetadata:
    """What a hub's ``resolve`` answer says of a Xet-backed file."""

    file_hash: str
    """``X-Xet-Hash``."""
    token_host: str
    """Where hf_xet asks for its access token: the ``xet-auth`` link, else
    ``X-Xet-Refresh-Route``, with ``https://huggingface.co`` replaced by the endpoint as
    huggingface_hub does (``host[:port]``)."""
    storage_host: str | None = None
    """The Xet storage host: the ``xet-reconstruction-info`` link of the Hub's ``Link``
    header when the answer names it, else what the token route answers
    (``X-Xet-Cas-Url``, :func:`xet_storage`), as hf_xet learns it."""
    token_url: str = ""
    """The token route itself (``token_host`` is its host)."""


_LINK = re.compile(r"<([^>]*)>([^,]*)")
_REL = re.compile(r"""rel\s*=\s*"?([^";]+)"?""")


def links(value: str) -> dict[str, str]:
    """An HTTP ``Link`` header as ``rel -> URL`` (as httpx's ``Response.links`` keys it)."""
    found: dict[str, str] = {}
    for match in _LINK.finditer(value):
        rel = _REL.search(match[2])
        if rel is not None:
            found.setdefault(rel[1].strip(), match[1].strip())
    return found


def xet_metadata(url: str, answer: Answer) -> XetMetadata | None:
    """The Xet metadata huggingface_hub reads for ``url``, or None.

    huggingface_hub 2.4.0 (installed here; ``file_download.get_hf_file_metadata``) sends
    ``HEAD`` to ``resolve`` and follows only redirects that stay on the endpoint's host or
    a Hub host (``_httpx2_follow_hub_redirects_with_backoff``); the answer it stops at,
    a redirect to a CDN or the final answer, carries the metadata, and
    ``utils/_xet.py: parse_xet_file_data_from_response`` reads::

        file_hash = response.headers[constants.HUGGINGFACE_HEADER_X_XET_HASH]
        if constants.HUGGINGFACE_HEADER_LINK_XET_AUTH_KEY in response.links:
            refresh_route = response.links[constants.HUGGINGFACE_HEADER_LINK_XET_AUTH_KEY]["url"]
        else:
            refresh_route = response.headers[constants.HUGGINGFACE_HEADER_X_XET_REFRESH_ROUTE]

    (``X-Xet-Hash``, ``Link: <...>; rel="xet-auth"``, ``X-Xet-Refresh-Route``; either
    missing: no Xet).  ``answer`` is the same walk with ``GET``: its redirects' headers
    are looked at in the same order."""
    current = host_port(url)
    chosen: Mapping[str, str] = answer.headers
    for index, target in enumerate(answer.redirects):
        hostname = urlsplit(f"//{target}").hostname or target
        if target != current and hostname not in HUB_HOSTS:
            if index < len(answer.redirect_headers):
                chosen = answer.redirect_headers[index]
            break
        current = target
    file_hash = chosen.get("x-xet-hash")
    link = links(chosen.get("link", ""))
    route = link.get("xet-auth") or chosen.get("x-xet-refresh-route")
    if not file_hash or not route:
        return None
    if route.startswith("https://huggingface.co/"):
        base = urlsplit(url)
        route = f"{base.scheme}://{base.netloc}/" + route.removeprefix("https://huggingface.co/")
    token_host = host_port(route) or host_port(url)
    storage = link.get("xet-reconstruction-info")
    storage_host = (host_port(storage) or None) if storage else None
    return XetMetadata(file_hash, token_host, storage_host, route)


def xet_storage(
    xet: XetMetadata, headers: tuple[tuple[str, str], ...], fetch: Fetch
) -> XetMetadata:
    """``xet`` with its storage host from the token route when the answer did not name
    it: huggingface_hub 2.4.0 (``utils/_xet.py: _fetch_xet_connection_info_with_url``)
    GETs the route and reads ``X-Xet-Cas-Url``, with ``X-Xet-Access-Token`` and an integer
    ``X-Xet-Token-Expiration`` beside it (any missing: no connection info).  An answer
    without them (a mirror that passes the Hub's headers but not its token route, a gated
    repository's 401) leaves the storage host unknown: hf_xet fails there too."""
    if xet.storage_host is not None or not xet.token_url:
        return xet
    try:
        answer = fetch(xet.token_url, headers, None)
    except ProbeFailure:
        return xet
    found = answer.headers
    cas = found.get("x-xet-cas-url", "")
    if not (200 <= answer.status < 300 and cas and found.get("x-xet-access-token")):
        return xet
    if count_of(found.get("x-xet-token-expiration", "").strip()) is None:
        return xet
    return dataclasses.replace(xet, storage_host=host_port(cas) or None)


def xet_words(xet: XetMetadata, mirror: str, final: str) -> str:
    """The finding for a Xet-backed file, true to huggingface_hub 2.4.0's code:
    ``file_download._download_to_tmp_and_move`` calls ``xet_get`` when
    ``xet_file_data is not None and is_xet_available()``, else ``http_get`` of the
    resolve URL, redirects followed; ``utils/_runtime.is_xet_available`` is::

        if constants.HF_HUB_DISABLE_XET:
            return False
        return is_package_available("hf_xet")

    with ``HF_HUB_DISABLE_XET`` read once, when huggingface_hub is imported
    (``constants.py``).  So the variable chooses between Xet storage and the redirects
    measured here; it never makes the mirror itself serve a file it redirects."""
    where = f"a token from {xet.token_host}"
    if xet.storage_host is not None:
        where += f", the file's data from {xet.storage_host}"
    plain = "from this mirror" if final == mirror else f"from {final}, where the mirror redirects"
    return (
        f"this mirror sends Xet metadata (X-Xet-Hash): with hf_xet installed, "
        f"huggingface_hub downloads large files from Xet storage ({where}), not by the "
        f"path measured here; HF_HUB_DISABLE_XET=1 (or hf_xet not installed) makes it use "
        f"the plain download, {plain}"
    )


def find_modelscope_file(base_url: str, model: str, filename: str, fetch: Fetch) -> LargeFile:
    """The ModelScope SDK's file endpoint
    (``/api/v1/models/<model>/repo?Revision=master&FilePath=<file>``) on ``base_url``:
    the file at the end of the redirects, or :class:`PullRefused`."""
    base = base_url.strip().rstrip("/")
    url = f"{base}/api/v1/models/{model}/repo?Revision=master&FilePath={filename}"
    return find_file(url, f"{model}/{filename}", modelscope_headers(), MODELSCOPE_REMEDY, fetch)


def find_file(
    url: str,
    shown: str,
    headers: tuple[tuple[str, str], ...],
    remedy: str,
    fetch: Fetch,
    download: tuple[tuple[str, str], ...] | None = None,
    *,
    xet: bool = False,
) -> LargeFile:
    """GET ``url`` with ``headers`` and ``Range: bytes=0-0``, redirects followed: a
    :class:`LargeFile` at the final URL (so throughput times the host the bytes come
    from, asked with ``download`` or else ``headers``), its hops, and the finding when
    that host is not the mirror's; with ``xet``, also when the answer announces a
    Xet-backed file (:func:`xet_metadata`)."""
    answer = fetch(url, (*headers, ("Range", "bytes=0-0")), None)
    if not 200 <= answer.status < 300 or answer.is_html:
        raise PullRefused(_refusal(answer, shown), answer.status)
    mirror, final = host_port(url), host_port(answer.url)
    findings = []
    announced = xet_metadata(url, answer) if xet else None
    if announced is not None:
        announced = xet_storage(announced, headers, fetch)
        findings.append(xet_words(announced, mirror, final))
    if final != mirror:
        chain = " -> ".join((mirror, *answer.redirects))
        findings.append(f"large files from this mirror come from {final} ({chain}); {remedy}")
    finding = "; ".join(findings) or None
    return LargeFile(
        url=answer.url,
        what=_what(shown, answer),
        headers=headers if download is None else download,
        hops=answer.redirects,
        finding=finding,
    )


def _what(shown: str, answer: Answer) -> str:
    parsed = content_range(answer.headers.get("content-range", ""))
    if parsed is not None and parsed[2] is not None:
        return f"{shown} ({format_bytes(parsed[2])})"
    return shown


def _refusal(answer: Answer, shown: str) -> str:
    where = mask_url(answer.url)
    if answer.is_html:
        return f"answers the API but serves an HTML page for {shown} ({where})"
    words = f"HTTP {answer.status} {answer.reason}".rstrip()
    return f"answers the API but refuses the file {shown}: {words} ({where})"
