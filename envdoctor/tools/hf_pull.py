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

import importlib.metadata
import platform
import uuid

from envdoctor.net.pull import Answer, Fetch, LargeFile, PullRefused
from envdoctor.net.results import host_port
from envdoctor.redact import mask_url

HF_HUB_VERSION = "2.4.0"
"""The huggingface_hub version whose headers :func:`hf_headers` copies; its
``User-Agent`` names the installed version instead, when there is one."""


def hf_headers() -> tuple[tuple[str, str], ...]:
    """What ``build_hf_headers`` sends without a token or library name
    (``unknown/None; hf_hub/<version>; python/<version>``), plus the
    ``Accept-Encoding: identity`` that ``get_hf_file_metadata`` adds."""
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
    ``HF_ENDPOINT``): the file at the end of the redirects, or :class:`PullRefused`."""
    base = base_url.strip().rstrip("/")
    url = f"{base}/{repo}/resolve/{revision}/{filename}"
    headers = hf_headers()
    # the download GET (``http_get``) sends the User-Agent, not ``identity``
    download = tuple(item for item in headers if item[0] != "Accept-Encoding")
    return find_file(url, f"{repo}/{filename}", headers, HF_REMEDY, fetch, download)


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
) -> LargeFile:
    """GET ``url`` with ``headers`` and ``Range: bytes=0-0``, redirects followed: a
    :class:`LargeFile` at the final URL (so throughput times the host the bytes come
    from, asked with ``download`` or else ``headers``), its hops, and the finding when
    that host is not the mirror's."""
    answer = fetch(url, (*headers, ("Range", "bytes=0-0")), None)
    if not 200 <= answer.status < 300 or answer.is_html:
        raise PullRefused(_refusal(answer, shown), answer.status)
    mirror, final = host_port(url), host_port(answer.url)
    finding = None
    if final != mirror:
        chain = " -> ".join((mirror, *answer.redirects))
        finding = f"large files from this mirror come from {final} ({chain}); {remedy}"
    return LargeFile(
        url=answer.url,
        what=_what(shown, answer),
        headers=headers if download is None else download,
        hops=answer.redirects,
        finding=finding,
    )


def _what(shown: str, answer: Answer) -> str:
    total = answer.headers.get("content-range", "").rpartition("/")[2]
    if total.isdigit():
        return f"{shown} ({int(total) / 1e6:.1f} MB)"
    return shown


def _refusal(answer: Answer, shown: str) -> str:
    where = mask_url(answer.url)
    if answer.is_html:
        return f"answers the API but serves an HTML page for {shown} ({where})"
    words = f"HTTP {answer.status} {answer.reason}".rstrip()
    return f"answers the API but refuses the file {shown}: {words} ({where})"
