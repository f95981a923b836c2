"""docker pull's real path against the lab registry: token, manifest, layer; refusals
after /v2/ are named failures, and Docker rows get throughput from the layer blob."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
import tomlkit
from click.testing import CliRunner

import envdoctor.profiles
from envdoctor import tools
from envdoctor.cli import cli
from envdoctor.context import Context
from envdoctor.net.measure import measure_all
from envdoctor.net.results import Outcome
from envdoctor.probes import network
from envdoctor.profile_checks import ProfileError
from envdoctor.profiles import get_profile
from envdoctor.requirements import CheckOptions
from envdoctor.results import Status
from envdoctor.tools import PullOptions, docker
from envdoctor.tools.docker_pull import (
    MANIFEST_ACCEPT,
    OTHER_IMAGE_HINT,
    image_problem,
    split_image,
)
from tests.mirrorlab import MirrorLab, Registry
from tests.test_mirrors import lab_context

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
    assert result.pull_file.endswith("of library/busybox:latest (4.0 MiB)")
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
        f"an allowlist or a policy (DENIED: not in allowlist); {OTHER_IMAGE_HINT}"
    )
    assert allowed.healthy and allowed.pull_file is not None
    assert "library/nginx:latest" in allowed.pull_file


def test_a_refusal_that_echoes_the_token_does_not_show_it(mirror_lab: MirrorLab) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsYWIifQ.c2VjcmV0LXNpZ25hdHVyZQ"
    base = mirror_lab.add(
        "echo",
        registry=Registry(allow=("library/nginx",), token=token, echo_authorization=True),
    )
    (refused,) = measure_all([docker.pull_path(base)], env=mirror_lab.env, samples=1)
    assert refused.outcome is Outcome.HTTP_ERROR and refused.status_code == 403
    assert "DENIED: not in allowlist for Bearer ***" in refused.reason
    assert token not in json.dumps(refused.to_json()) and "c2VjcmV0" not in refused.reason


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


# --- the probe image: a profile's probe-image, --image ----------------------------------

_PYTHON = "library/python:3.12-slim"


def _allowlist(lab: MirrorLab, name: str = "allowlist") -> str:
    """A proxy serving only library/python (as 3.12-slim): busybox gets 403 DENIED."""
    registry = Registry(
        repos=("library/busybox", "library/python"),
        allow=("library/python",),
        tags=("latest", "3.12-slim"),
    )
    return lab.add(name, registry=registry, rate_bps=4_000_000)


def test_a_named_image_is_what_the_pull_asks_for(mirror_lab: MirrorLab) -> None:
    base = _allowlist(mirror_lab)
    (refused, served) = measure_all(
        [docker.pull_path(base), docker.pull_path(base, PullOptions(image=_PYTHON))],
        env=mirror_lab.env,
        samples=1,
        throughput=True,
        throughput_seconds=0.5,
    )
    assert refused.status_code == 403 and not refused.healthy
    assert refused.reason == (
        "answers /v2/ but refuses the manifest of library/busybox:latest: HTTP 403 refused: "
        f"an allowlist or a policy (DENIED: not in allowlist); {OTHER_IMAGE_HINT}"
    )
    assert served.healthy, served.reason
    assert served.pull_file is not None and served.pull_file.endswith(f"of {_PYTHON} (4.0 MiB)")
    assert served.throughput_bytes_per_s is not None, served.throughput_reason
    paths = [urlsplit(r.target).path for r in mirror_lab.server("allowlist").records]
    assert "/v2/library/python/manifests/3.12-slim" in paths


def test_a_refusal_of_a_named_image_has_no_hint_to_name_one(mirror_lab: MirrorLab) -> None:
    base = _allowlist(mirror_lab)
    (result,) = measure_all(
        [docker.pull_path(base, PullOptions(image="nginx"))], env=mirror_lab.env, samples=1
    )
    assert result.status_code == 403
    assert result.reason.endswith("(DENIED: not in allowlist)"), result.reason


def test_a_digest_reference_is_asked_by_digest() -> None:
    digest = "sha256:" + "ab" * 32
    assert split_image(f"ns/app@{digest}") == ("ns/app", digest)
    assert split_image("docker.io/python:3.12") == ("library/python", "3.12")
    assert image_problem("ghcr.io/org/app") == (
        "names the registry ghcr.io: name the image as on Docker Hub, without a host"
    )
    assert image_problem("Python") is not None and image_problem("app:") is not None
    with pytest.raises(ValueError, match="is not an image name"):
        split_image("a b")


def _profile(ctx: Context, name: str, text: str) -> Path:
    directory = ctx.xdg_config_home / "envdoctor" / "profiles"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def test_probe_image_in_a_profile_is_checked(ctx: Context) -> None:
    _profile(ctx, "proxy", f'[docker]\nregistry-mirrors = []\nprobe-image = "{_PYTHON}"\n')
    profile = get_profile(ctx, "proxy")
    assert profile.docker is not None and profile.docker.probe_image == _PYTHON
    assert docker.settings_json(profile.docker)["probe_image"] == _PYTHON
    assert 'probe-image = "library/python:3.12-slim"' in tomlkit.dumps(
        docker.settings_toml(profile.docker)
    )
    _profile(
        ctx, "child", 'extends = "proxy"\n[docker]\nregistry-mirrors = ["https://r.example"]\n'
    )
    child = get_profile(ctx, "child")
    assert child.docker is not None and child.docker.probe_image == _PYTHON  # inherited
    path = _profile(ctx, "bad", '[docker]\nregistry-mirrors = []\nprobe-image = "ghcr.io/x/y"\n')
    with pytest.raises(ProfileError) as caught:
        get_profile(ctx, "bad")
    assert caught.value.message == (
        f'{path}:3: docker.probe-image: "ghcr.io/x/y" names the registry ghcr.io: name the '
        "image as on Docker Hub, without a host"
    )
    _profile(ctx, "typo", '[docker]\nregistry-mirrors = []\nprobe_image = "busybox"\n')
    with pytest.raises(ProfileError) as caught:
        get_profile(ctx, "typo")
    assert caught.value.hint is not None
    assert caught.value.hint.startswith("Did you mean 'probe-image'?")
    _profile(ctx, "number", "[docker]\nregistry-mirrors = []\nprobe-image = 3\n")
    with pytest.raises(ProfileError, match="expected a string"):
        get_profile(ctx, "number")


def _proxied_lab(tmp_path: Path, lab: MirrorLab) -> tuple[Context, str]:
    """A lab machine whose Docker mirror is the allowlist proxy (:func:`_allowlist`), and
    its profile ``plain`` naming that proxy alone; returns the context and the proxy."""
    proxy = _allowlist(lab)
    urls = {name: lab.add(name) for name in ("pip", "uv", "conda", "hf", "modelscope")}
    ctx = lab_context(tmp_path, lab, {**urls, "docker": proxy})
    _profile(ctx, "plain", f'[docker]\nregistry-mirrors = ["{proxy}"]\n')
    return ctx, proxy


def _docker_row(stdout: str, url: str) -> dict[str, Any]:
    targets = json.loads(stdout)["targets"]
    (target,) = [t for t in targets if t["target"] == "docker"]
    (mirror,) = [m for m in target["mirrors"] if m["url"] == url]
    return cast("dict[str, Any]", mirror["measurement"])


def test_mirrors_and_check_probe_the_image_named(
    tmp_path: Path, mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, proxy = _proxied_lab(tmp_path, mirror_lab)
    _profile(ctx, "named", f'[docker]\nregistry-mirrors = ["{proxy}"]\nprobe-image = "{_PYTHON}"\n')
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    base = ["mirrors", "--target", "docker", "--json", "--timeout", "20"]
    plain = CliRunner().invoke(cli, [*base, "--profile", "plain", "--no-throughput"])
    refused = _docker_row(plain.stdout, proxy)
    assert refused["outcome"] != "ok" and refused["status_code"] == 403, refused
    assert "refuses the manifest of library/busybox:latest" in refused["reason"]
    assert OTHER_IMAGE_HINT in refused["reason"]
    for extra in (["--profile", "named"], ["--profile", "plain", "--image", _PYTHON]):
        done = CliRunner().invoke(cli, [*base, *extra, "--throughput"])
        served = _docker_row(done.stdout, proxy)
        assert served["outcome"] == "ok", (extra, served["reason"])
        assert served["pull_file"].endswith(f"of {_PYTHON} (4.0 MiB)")
        assert served["throughput_bytes_per_s"], served
    bad = CliRunner().invoke(cli, [*base, "--image", "ghcr.io/x/y"])
    assert bad.exit_code == 2 and "--image ghcr.io/x/y: names the registry ghcr.io" in bad.output
    rows = network.run(ctx, CheckOptions(profile="plain", image=_PYTHON))
    (row,) = [r for r in rows if r.details.get("target") == "docker"]
    assert row.status is Status.OK, row.summary
    assert _PYTHON in json.dumps(row.details), row.details


def _report_docker_row(stdout: str) -> dict[str, Any]:
    results = json.loads(stdout)["results"]
    (row,) = [r for r in results if r["details"].get("target") == "docker"]
    return cast("dict[str, Any]", row)


def test_report_probes_the_image_named(
    tmp_path: Path, mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, proxy = _proxied_lab(tmp_path, mirror_lab)
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    base = ["report", "--profile", "plain", "--format", "json"]
    plain = CliRunner().invoke(cli, base)
    refused = _report_docker_row(plain.stdout)
    assert refused["status"] != "ok", refused["summary"]
    (mirror,) = [m for m in refused["details"]["mirrors"] if m["url"] == proxy]
    assert mirror["measurement"]["status_code"] == 403, mirror
    assert "refuses the manifest of library/busybox:latest" in refused["summary"]
    named = CliRunner().invoke(cli, [*base, "--image", _PYTHON])
    served = _report_docker_row(named.stdout)
    assert served["status"] == "ok", served["summary"]
    (mirror,) = [m for m in served["details"]["mirrors"] if m["url"] == proxy]
    assert mirror["measurement"]["pull_file"].endswith(f"of {_PYTHON} (4.0 MiB)")
    paths = [urlsplit(r.target).path for r in mirror_lab.server("allowlist").records]
    assert "/v2/library/python/manifests/3.12-slim" in paths
    bad = CliRunner().invoke(cli, [*base, "--image", "ghcr.io/x/y"])
    assert bad.exit_code == 2 and "--image ghcr.io/x/y: names the registry ghcr.io" in bad.output
    document = tmp_path / "host.json"
    document.write_text(named.stdout)
    merged = CliRunner().invoke(cli, ["report", "--merge", str(document), "--image", _PYTHON])
    assert merged.exit_code == 2
    assert "--image and --throughput are for a report of this machine" in merged.output


def test_report_auto_measures_the_image_named(
    tmp_path: Path, mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, proxy = _proxied_lab(tmp_path, mirror_lab)
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    real_load = envdoctor.profiles.load_profiles  # candidates: the lab profile alone
    monkeypatch.setattr(
        envdoctor.profiles, "load_profiles", lambda c: {"plain": real_load(c)["plain"]}
    )
    choices = {}
    for extra in ([], ["--image", _PYTHON]):
        done = CliRunner().invoke(cli, ["report", "--format", "json", *extra])
        (docker_plan,) = [
            t for t in json.loads(done.stdout)["plan"]["targets"] if t["target"] == "docker"
        ]
        choices[bool(extra)] = docker_plan["choice"]
    assert choices[False].startswith("no candidate answered"), choices
    assert proxy in choices[True] and not choices[True].startswith("no candidate"), choices


def test_a_saved_pick_keeps_the_image_it_was_measured_with(
    tmp_path: Path, mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, proxy = _proxied_lab(tmp_path, mirror_lab)
    hub = mirror_lab.add("registry")  # serves the default image
    _profile(ctx, "named", f'[docker]\nregistry-mirrors = ["{proxy}"]\nprobe-image = "{_PYTHON}"\n')
    _profile(ctx, "hub", f'[docker]\nregistry-mirrors = ["{hub}"]\n')
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    base = ["mirrors", "--target", "docker", "--no-throughput", "--timeout", "20", "--pick"]
    cases = {
        "from-profile": (["--profile", "named"], _PYTHON),
        "from-option": (["--profile", "plain", "--image", _PYTHON], _PYTHON),
        "default": (["--profile", "hub"], None),
    }
    for name, (extra, image) in cases.items():
        done = CliRunner().invoke(cli, [*base, *extra, "--save", name])
        assert done.exit_code == 0, (name, done.output)
        saved = get_profile(ctx, name)
        assert saved.docker is not None, (name, done.output)
        assert saved.docker.probe_image == image, name
        text = saved.source.read_text()
        assert ("probe-image" in text) == (image is not None), (name, text)
    again = CliRunner().invoke(
        cli, ["check", "--only", "network", "--json", "--profile", "from-option"]
    )
    assert _report_docker_row(again.stdout)["status"] == "ok", again.stdout
    paths = [urlsplit(r.target).path for r in mirror_lab.server("allowlist").records]
    assert paths.count("/v2/library/python/manifests/3.12-slim") >= 3  # two picks, one check


def test_a_registry_answering_json_chunked_is_walked(mirror_lab: MirrorLab) -> None:
    base = mirror_lab.add("registry")
    mirror_lab.server("registry").chunked = True  # token and manifests: chunked, as nginx
    (result,) = measure_all([docker.pull_path(base)], env=mirror_lab.env, samples=1)
    assert result.healthy, result.reason
    assert result.pull_file is not None
    assert result.pull_file.endswith("of library/busybox:latest (4.0 MiB)"), result.pull_file
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.skip("skopeo is not installed (Debian: skopeo): no Go client to judge")
    image = f"docker://{urlsplit(base).netloc}/library/busybox:latest"
    done = subprocess.run(  # a Go client walks the same chunked token, index and manifest
        [skopeo, "inspect", "--no-tags", "--tls-verify=false", "--override-arch", "amd64", image],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (layer,) = json.loads(done.stdout)["Layers"]
    assert result.pull_url is not None and result.pull_url.endswith(f"/blobs/{layer}")


# --- containerd's and podman's own probe-image ------------------------------------------


def _row(stdout: str, target: str, url: str) -> dict[str, Any]:
    targets = json.loads(stdout)["targets"]
    (found,) = [t for t in targets if t["target"] == target]
    (mirror,) = [m for m in found["mirrors"] if m["url"] == url]
    return cast("dict[str, Any]", mirror["measurement"])


@pytest.mark.parametrize("target", ["containerd", "podman"])
def test_containerd_and_podman_tables_take_a_probe_image(ctx: Context, target: str) -> None:
    table = f'[{target}]\nprobe-image = "{_PYTHON}"\n[{target}.mirrors]\n"docker.io" = ["https://m.example"]\n'
    _profile(ctx, "own", table)
    profile = get_profile(ctx, "own")
    settings = getattr(profile, target)
    assert settings.probe_image == _PYTHON
    module = tools.load(target)
    assert module.settings_json(settings)["probe_image"] == _PYTHON
    assert f'probe-image = "{_PYTHON}"' in tomlkit.dumps(module.settings_toml(settings))
    path = _profile(ctx, "bad", table.replace(_PYTHON, "ghcr.io/x/y"))
    with pytest.raises(ProfileError) as caught:
        get_profile(ctx, "bad")
    assert caught.value.message.startswith(
        f'{path}:2: {target}.probe-image: "ghcr.io/x/y" names the registry ghcr.io'
    )


def test_containerd_mirrors_are_asked_for_their_tables_image_else_dockers(
    tmp_path: Path, mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, proxy = _proxied_lab(tmp_path, mirror_lab)  # the proxy serves python, not busybox
    mirrors = f'[containerd.mirrors]\n"docker.io" = ["{proxy}"]\n'
    _profile(ctx, "own", f'[containerd]\nprobe-image = "{_PYTHON}"\n{mirrors}')
    _profile(
        ctx, "docker-s", f'[docker]\nregistry-mirrors = []\nprobe-image = "{_PYTHON}"\n{mirrors}'
    )
    _profile(  # its own image wins over [docker]'s
        ctx,
        "mine-first",
        f'[docker]\nregistry-mirrors = []\nprobe-image = "{_PYTHON}"\n'
        f'[containerd]\nprobe-image = "library/busybox:latest"\n{mirrors}',
    )
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    base = ["mirrors", "--target", "containerd", "--json", "--timeout", "20", "--no-throughput"]
    for name, served in (("own", True), ("docker-s", True), ("mine-first", False)):
        done = CliRunner().invoke(cli, [*base, "--profile", name])
        row = _row(done.stdout, "containerd", proxy)
        if served:
            assert row["outcome"] == "ok", (name, row["reason"])
            assert row["pull_file"].endswith(f"of {_PYTHON} (4.0 MiB)"), name
        else:
            assert row["status_code"] == 403, (name, row)
            assert "refuses the manifest of library/busybox:latest" in row["reason"]
    saved = CliRunner().invoke(cli, [*base, "--profile", "own", "--pick", "--save", "kept"])
    assert saved.exit_code == 0, saved.output
    kept = get_profile(ctx, "kept")
    assert kept.containerd is not None and kept.containerd.probe_image == _PYTHON
