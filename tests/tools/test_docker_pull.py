"""docker pull's real path against the lab registry: token, manifest, layer; refusals
after /v2/ are named failures, and Docker rows get throughput from the layer blob."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from envdoctor.net.measure import measure_all
from envdoctor.net.results import Outcome
from envdoctor.tools import docker
from envdoctor.tools.docker_pull import MANIFEST_ACCEPT, split_image
from tests.mirrorlab import MirrorLab, Registry

pytest_plugins = ["tests.mirrorlab"]


def test_the_pull_walks_token_manifest_and_layer_and_times_the_blob(
    mirror_lab: MirrorLab,
) -> None:
    base = mirror_lab.add("registry", rate_bps=2_000_000)
    (result,) = measure_all(
        [docker.pull_path(base)],
        env=mirror_lab.env,
        samples=1,
        throughput=True,
        throughput_seconds=0.5,
    )
    assert result.healthy, result.reason
    assert result.pull_file is not None
    assert result.pull_file.startswith("layer sha256:")
    assert result.pull_file.endswith("of library/busybox:latest (4.2 MB)")
    rate = result.throughput_bytes_per_s
    assert rate is not None and abs(rate - 2_000_000) < 500_000, result.throughput_reason
    server = mirror_lab.server("registry")
    server.wait_idle()
    records = {urlsplit(r.target).path: r for r in server.records}
    token = next(r for r in server.records if r.target.startswith("/token"))
    query = parse_qs(urlsplit(token.target).query)
    assert query == {"service": ["lab-registry"], "scope": ["repository:library/busybox:pull"]}
    manifest = records["/v2/library/busybox/manifests/latest"]
    assert manifest.headers["accept"] == MANIFEST_ACCEPT
    assert manifest.headers["authorization"] == "Bearer lab-token"
    blobs = [r for r in server.records if "/blobs/" in r.target]
    # the pull's probe and the timed download; then the Range check and parallel ranges
    assert [r.headers.get("range") for r in blobs][:2] == ["bytes=0-0", None]
    assert result.range_support is True
    assert all(r.headers["authorization"] == "Bearer lab-token" for r in blobs)


def test_an_allowlist_refusal_is_a_named_failure(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add(
        "allowlist", registry=Registry(repos=("library/nginx",), allow=("library/nginx",))
    )
    (refused, allowed) = measure_all(
        [docker.pull_path(base), docker.pull_path_for(base, "nginx")], env=mirror_lab.env, samples=1
    )
    assert refused.outcome is Outcome.HTTP_ERROR and refused.status_code == 403
    assert refused.reason == (
        "answers /v2/ but refuses the manifest of library/busybox:latest: HTTP 403 refused: "
        "an allowlist or a policy (DENIED: not in allowlist)"
    )
    assert allowed.healthy and allowed.pull_file is not None
    assert "library/nginx:latest" in allowed.pull_file


def test_rate_limited_and_html_manifests_are_named(mirror_lab: MirrorLab) -> None:
    limited = mirror_lab.add("limited", registry=Registry(manifest_status=429))
    page = mirror_lab.add("page", registry=Registry(html=True))
    results = measure_all(
        [docker.pull_path(limited), docker.pull_path(page)], env=mirror_lab.env, samples=1
    )
    assert [r.outcome for r in results] == [Outcome.HTTP_ERROR, Outcome.HTTP_ERROR]
    assert "HTTP 429 rate-limited (Too Many Requests)" in results[0].reason
    assert results[1].reason == (
        "answers the manifest of library/busybox:latest with an HTML page, not a manifest"
    )


def test_a_registry_without_a_bearer_challenge_refuses_anonymous_pulls(
    mirror_lab: MirrorLab,
) -> None:
    base = mirror_lab.add("private", status=401)
    (result,) = measure_all([docker.pull_path(base)], env=mirror_lab.env, samples=1)
    assert result.outcome is Outcome.HTTP_ERROR
    assert result.reason == "/v2/ wants credentials (no challenge): anonymous pulls are refused"


def test_image_names_are_split_as_docker_does() -> None:
    assert split_image("busybox") == ("library/busybox", "latest")
    assert split_image("ns/app:1.2") == ("ns/app", "1.2")
    assert split_image("library/busybox:latest") == ("library/busybox", "latest")
