"""What ``docker pull`` asks a registry (or a registry mirror), step by step.

``GET /v2/``; on a ``401`` with a ``Bearer`` challenge, an anonymous token from the realm
it names (``?service=<service>&scope=repository:<repo>:pull``); then
``GET /v2/<repo>/manifests/<tag>`` with the ``Accept`` list dockerd sends (OCI index,
Docker manifest list, OCI and Docker v2 manifests); from an index, the ``linux/amd64``
manifest; then its largest layer blob, first with ``Range: bytes=0-0`` to see that the
mirror serves it.  Any refusal on the way (401 without a usable challenge, 403 as an
allowlist answers, 404, 429, an HTML page instead of JSON) is a named failure: a mirror
that answers ``/v2/`` and nothing else is not a mirror ``docker pull`` can use.

The image is :data:`PROBE_IMAGE` unless a profile's ``probe-image`` or
``--image`` names another (:class:`envdoctor.tools.PullOptions`).  dockerd, the judge in
``tests/tools/test_docker_pull_judge.py``, treats a mirror that refuses the manifest
(403, 429) as a failure too: it logs the registry's error (``denied: not in
allowlist``, ``toomanyrequests: ...``), which the reason here quotes, and tries the next
mirror, then Docker Hub itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from envdoctor.net.pull import Answer, Fetch, LargeFile, PullRefused
from envdoctor.profile_checks import ProfileFile, optional, show
from envdoctor.redact import mask_url, scrub_credentials
from envdoctor.units import format_bytes

PROBE_IMAGE = "library/busybox:latest"
"""A small (about 2 MB), long-lived official image every Docker Hub mirror should serve."""

OTHER_IMAGE_HINT = (
    "a proxy that serves only some images may still serve yours: name one with --image or "
    "a profile's probe-image"
)
"""Added when the default probe image is refused (403 allowlist, 404)."""

MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
"""The manifest types dockerd 25+ asks for (its ``distribution`` client)."""

_INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)

_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"(?P<name>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}))?"
)
"""An image reference without a registry host, as distribution's ``reference`` package
spells it: lowercase path components, an optional ``:tag``, an optional ``@digest``."""

_HUB_PREFIXES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


def image_problem(image: object) -> str | None:
    """Why ``image`` cannot be the probe image of a registry mirror, or None.

    A mirror is asked ``/v2/<repository>/manifests/<tag>``: the reference names a
    repository as Docker Hub spells it (``python:3.12-slim``, ``library/python``,
    ``ns/app@sha256:...``), never another registry's host (``ghcr.io/...``), which a
    mirror of Docker Hub does not serve under that name."""
    if not isinstance(image, str) or not image.strip():
        return "is not an image name"
    text = image.strip()
    for prefix in _HUB_PREFIXES:
        text = text.removeprefix(prefix)
    first = text.split("/", 1)[0]
    if "/" in text and ("." in first or ":" in first or first == "localhost"):
        return f"names the registry {first}: name the image as on Docker Hub, without a host"
    if len(text.partition(":")[0].partition("@")[0]) > 255:
        return "is longer than the 255 characters of an image name"
    if _REFERENCE.fullmatch(text) is None:
        return (
            "is not an image name (lowercase name[/name...], then :tag or @sha256:digest, "
            "e.g. library/python:3.12-slim)"
        )
    return None


def checked_probe_image(file: ProfileFile, target: str, table: Mapping[str, Any]) -> str | None:
    """The ``probe-image`` of the profile table ``[target]``, stripped, or None; a value
    that is not an image name (:func:`image_problem`) fails ``file`` with a remedy."""
    image: str | None = optional(file, table, "probe-image", str, prefix=(target,))
    if image is None:
        return None
    problem = image_problem(image)
    if problem is not None:
        file.fail(
            (target, "probe-image"),
            f"{show(image)} {problem}",
            "Name an image every mirror should serve, "
            'e.g. probe-image = "library/python:3.12-slim".',
        )
    return image.strip()


def split_image(image: str) -> tuple[str, str]:
    """``busybox`` -> ``("library/busybox", "latest")``; ``ns/app:1.2`` keeps both; a
    digest (``app@sha256:...``) is the reference asked for, as ``docker pull`` asks it.
    Raises ValueError for what :func:`image_problem` refuses."""
    problem = image_problem(image)
    if problem is not None:
        raise ValueError(f"{image!r} {problem}")
    text = image.strip()
    for prefix in _HUB_PREFIXES:
        text = text.removeprefix(prefix)
    match = _REFERENCE.fullmatch(text)
    assert match is not None  # image_problem checked it
    name = match["name"] if "/" in match["name"] else f"library/{match['name']}"
    return name, match["digest"] or match["tag"] or "latest"


def reference(repo: str, tag: str) -> str:
    """``repo:tag``, or ``repo@sha256:...`` for a digest (what :func:`split_image` gave)."""
    return f"{repo}@{tag}" if ":" in tag else f"{repo}:{tag}"


def find_layer(base_url: str, image: str, fetch: Fetch) -> LargeFile:
    """Walk ``docker pull``'s steps on ``base_url`` for ``image``: the layer it would
    download, or :class:`PullRefused` naming the step that refused."""
    base = base_url.strip().rstrip("/")
    repo, tag = split_image(image)
    shown = reference(repo, tag)
    first = fetch(f"{base}/v2/", (), None)
    authorization = None
    if first.status == 401:
        authorization = _token(first, repo, fetch)
    elif not 200 <= first.status < 300:
        raise _refusal(first, "/v2/", shown)
    manifest = fetch(
        f"{base}/v2/{repo}/manifests/{tag}", (("Accept", MANIFEST_ACCEPT),), authorization
    )
    try:
        document = _manifest(manifest, shown)
    except PullRefused as refused:
        if manifest.status in (403, 404) and split_image(PROBE_IMAGE) == (repo, tag):
            refused = PullRefused(f"{refused.reason}; {OTHER_IMAGE_HINT}", refused.status)
        raise refused from None
    if _media_type(manifest, document) in _INDEX_TYPES:
        digest = _platform_digest(document, shown)
        manifest = fetch(
            f"{base}/v2/{repo}/manifests/{digest}", (("Accept", MANIFEST_ACCEPT),), authorization
        )
        document = _manifest(manifest, shown)
    layers = document.get("layers")
    if not isinstance(layers, list) or not layers:
        raise PullRefused(f"the manifest of {shown} lists no layers", manifest.status)
    sized = [
        item for item in layers if isinstance(item, dict) and isinstance(item.get("digest"), str)
    ]
    if not sized:
        raise PullRefused(f"the manifest of {shown} lists no layer digests", manifest.status)
    layer = max(sized, key=_layer_size)
    digest = str(layer["digest"])
    url = f"{base}/v2/{repo}/blobs/{digest}"
    probe = fetch(url, (("Range", "bytes=0-0"),), authorization)
    if not 200 <= probe.status < 300 or probe.is_html:
        raise _refusal(probe, f"layer {digest[:19]}", shown)
    size = _layer_size(layer)
    what = f"layer {digest[:19]} of {shown}" + (f" ({format_bytes(size)})" if size else "")
    return LargeFile(url=url, what=what, authorization=authorization)


def _layer_size(layer: dict[str, object]) -> int:
    """A layer's ``size`` when it is a whole number of bytes, else 0 (``"12"``, ``1e400``,
    ``[1]`` and ``true`` are not)."""
    size = layer.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0


def _token(answer: Answer, repo: str, fetch: Fetch) -> str:
    challenge = answer.headers.get("www-authenticate", "")
    scheme, _, params = challenge.strip().partition(" ")
    if scheme.lower() != "bearer":
        how = f"{scheme} authentication" if scheme else "no challenge"
        raise PullRefused(
            f"/v2/ wants credentials ({how}): anonymous pulls are refused", answer.status
        )
    fields = dict(_CHALLENGE.findall(params))
    realm = fields.get("realm", "")
    try:
        parts = urlsplit(realm)
        host = parts.hostname if parts.scheme in ("http", "https") else None
    except ValueError:  # "https://[x/token"
        host = None
    if not host:
        shown = mask_url(realm)
        raise PullRefused(f"/v2/ names no usable token realm ({shown!r})", answer.status)
    query = {"scope": f"repository:{repo}:pull"}
    if fields.get("service"):
        query = {"service": fields["service"], **query}
    token_answer = fetch(f"{realm}?{urlencode(query)}", (), None)
    if not 200 <= token_answer.status < 300:
        raise PullRefused(
            f"the token realm {host} refused an anonymous token: HTTP {token_answer.status}",
            token_answer.status,
        )
    document = token_answer.json()
    token = None
    if isinstance(document, dict):
        token = document.get("token") or document.get("access_token")
    if not isinstance(token, str) or not token:
        raise PullRefused(f"the token realm {host} answered without a token", 200)
    return f"Bearer {token}"


def _manifest(answer: Answer, shown: str) -> dict[str, object]:
    if not 200 <= answer.status < 300:
        raise _refusal(answer, "the manifest", shown)
    if answer.is_html:
        raise PullRefused(
            f"answers the manifest of {shown} with an HTML page, not a manifest", answer.status
        )
    document = answer.json()
    if not isinstance(document, dict):
        raise PullRefused(f"the manifest of {shown} is not JSON", answer.status)
    return document


def _media_type(answer: Answer, document: dict[str, object]) -> str:
    declared = document.get("mediaType")
    if isinstance(declared, str):
        return declared
    return answer.headers.get("content-type", "").split(";")[0].strip()


def _platform_digest(document: dict[str, object], shown: str) -> str:
    entries = document.get("manifests")
    if not isinstance(entries, list) or not entries:
        raise PullRefused(f"the index of {shown} lists no manifests", 200)
    for entry in entries:
        platform = entry.get("platform") if isinstance(entry, dict) else None
        if isinstance(platform, dict) and (platform.get("os"), platform.get("architecture")) == (
            "linux",
            "amd64",
        ):
            return str(entry["digest"])
    first = entries[0]
    if not isinstance(first, dict) or "digest" not in first:
        raise PullRefused(f"the index of {shown} lists no manifest digests", 200)
    return str(first["digest"])


def _refusal(answer: Answer, step: str, shown: str) -> PullRefused:
    """``refuses the manifest of library/busybox:latest: HTTP 403 (DENIED: not in allowlist)``."""
    status = answer.status
    detail = _registry_error(answer)
    if answer.is_html:
        detail = "an HTML page"
    what = {
        401: "the token does not allow pulling it",
        403: "refused: an allowlist or a policy",
        404: "not found",
        429: "rate-limited (Too Many Requests)",
    }.get(status, answer.reason)
    words = f"HTTP {status}" + (f" {what}" if what else "")
    if detail:
        words += f" ({detail})"
    if step == "/v2/":
        return PullRefused(f"/v2/ answered {words}", status)
    return PullRefused(f"answers /v2/ but refuses {step} of {shown}: {words}", status)


def _registry_error(answer: Answer) -> str:
    document = answer.json()
    if not isinstance(document, dict):
        return ""
    errors = document.get("errors")
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return ""
    code, message = errors[0].get("code", ""), errors[0].get("message", "")
    return scrub_credentials(": ".join(str(part) for part in (code, message) if part))[:120]
