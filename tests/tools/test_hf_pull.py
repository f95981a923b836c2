"""The hub's pull path: resolve followed to the host the bytes come from, judged by
huggingface_hub's own hf_hub_download against the lab hub."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from envdoctor.cli import cli
from envdoctor.context import Context
from envdoctor.net.measure import measure_all
from envdoctor.net.pull import Answer
from envdoctor.probes.network import timing
from envdoctor.tools import hf, hf_pull, modelscope
from tests.mirrorlab import MirrorLab, XetFile
from tests.test_mirrors import lab_context, user_profile


def test_hub_redirecting_resolve_names_the_cdn_and_times_it(mirror_lab: MirrorLab) -> None:
    cdn = mirror_lab.add("cdn", body_bytes=2**40, rate_bps=8e6)
    hub = mirror_lab.add("hub", resolve_to="cdn")
    result = measure_all([hf.pull_path(hub)], env=mirror_lab.env, samples=1, throughput=True)[0]
    cdn_host = cdn.removeprefix("https://")
    assert result.healthy, result.reason
    assert result.pull_hops == (cdn_host,)
    assert result.pull_url is not None and result.pull_url.startswith(f"{cdn}/openai-community/")
    assert result.pull_finding is not None
    assert f"large files from this mirror come from {cdn_host}" in result.pull_finding
    assert "HF_HUB_DISABLE_XET=1 does not change where the mirror redirects" in result.pull_finding
    assert result.pull_finding in timing(result)
    assert result.to_json()["pull_hops"] == [cdn_host]
    # throughput timed the CDN: its GET without Range is the download
    cdn_gets = [r for r in mirror_lab.server("cdn").records if "range" not in r.headers]
    assert cdn_gets, result.throughput_reason
    assert result.throughput_bytes_per_s is not None, result.throughput_reason


def test_hub_serving_its_own_files_has_no_finding(mirror_lab: MirrorLab) -> None:
    hub = mirror_lab.add("hub")
    result = measure_all([hf.pull_path(hub)], env=mirror_lab.env, samples=1)[0]
    assert result.healthy, result.reason
    assert result.pull_finding is None and result.pull_hops == ()
    assert result.pull_url == f"{hub}/openai-community/gpt2/resolve/main/model.safetensors"


def test_modelscope_redirect_is_named(mirror_lab: MirrorLab) -> None:
    cdn = mirror_lab.add("oss")
    hub = mirror_lab.add("ms", resolve_to="oss")
    result = measure_all([modelscope.pull_path(hub)], env=mirror_lab.env, samples=1)[0]
    assert result.healthy, result.reason
    assert result.pull_finding is not None
    assert f"come from {cdn.removeprefix('https://')}" in result.pull_finding
    assert "MODELSCOPE_DOMAIN picks only the first host" in result.pull_finding
    (asked,) = [
        r for r in mirror_lab.server("ms").records if r.target.endswith("model.safetensors")
    ]
    assert asked.headers["user-agent"].startswith("modelscope_hub/")  # the SDK's, not ours
    assert "snapshot-identifier" in asked.headers


def test_hub_refusing_the_file_is_a_named_failure(mirror_lab: MirrorLab) -> None:
    cdn = mirror_lab.add("cdn", status=403)
    hub = mirror_lab.add("hub", resolve_to="cdn", body_bytes=300_000)
    result = measure_all([hf.pull_path(hub)], env=mirror_lab.env, samples=1)[0]
    assert not result.healthy
    assert "refuses the file openai-community/gpt2/model.safetensors: HTTP 403" in result.reason
    assert cdn in result.reason


_CLIENT = """
import sys
from huggingface_hub import hf_hub_download
print(hf_hub_download("openai-community/gpt2", "model.safetensors", cache_dir=sys.argv[1]))
"""


def test_hf_hub_download_lands_where_envdoctor_says(mirror_lab: MirrorLab, tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed")
    cdn = mirror_lab.add("cdn", body_bytes=300_000)
    hub = mirror_lab.add("hub", resolve_to="cdn", body_bytes=300_000)
    env = {
        **{k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")},
        **mirror_lab.env,
        "REQUESTS_CA_BUNDLE": mirror_lab.env["SSL_CERT_FILE"],
        "HF_ENDPOINT": hub,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(tmp_path / "home"),
        "NO_PROXY": "*",
    }
    done = subprocess.run(
        [sys.executable, "-c", _CLIENT, str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(done.stdout.strip().splitlines()[-1]).stat().st_size == 300_000
    hub_seen = [(r.method, r.target) for r in mirror_lab.server("hub").records]
    cdn_seen = [(r.method, r.target) for r in mirror_lab.server("cdn").records]
    resolve = "/openai-community/gpt2/resolve/main/model.safetensors"
    # the client asked the hub only for metadata, and took the bytes from the CDN
    assert ("HEAD", resolve) in hub_seen and ("GET", resolve) not in hub_seen, hub_seen
    assert ("GET", resolve) in cdn_seen, cdn_seen
    head = next(r for r in mirror_lab.server("hub").records if r.method == "HEAD")
    client_ua, client_encoding = head.headers["user-agent"], head.headers["accept-encoding"]
    sent = dict(hf_pull.hf_headers())
    assert client_ua.startswith(sent["User-Agent"]), client_ua
    result = measure_all([hf.pull_path(hub)], env=mirror_lab.env, samples=1)[0]
    assert result.pull_finding is not None
    assert result.pull_hops[-1] == cdn.removeprefix("https://")
    assert f"come from {cdn.removeprefix('https://')}" in result.pull_finding
    ours = [r for r in mirror_lab.server("hub").records if r.target == resolve][-1]
    assert ours.headers["accept-encoding"] == client_encoding == "identity"


def test_mirrors_command_shows_where_large_files_come_from(
    tmp_path: Path, mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    cdn = mirror_lab.add("cdn")
    hub = mirror_lab.add("hub", resolve_to="cdn")
    urls = {name: mirror_lab.add(name) for name in ("pip", "uv", "conda", "docker", "modelscope")}
    ctx = lab_context(tmp_path, mirror_lab, {**urls, "hf": hub})
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    # Only the lab: without --profile, mirrors would also measure every shipped profile.
    user_profile(ctx, "lab", f'[pip]\nindex-url = "{urls["pip"]}/simple"\n')
    found = f"large files from this mirror come from {cdn.removeprefix('https://')}"
    args = ["mirrors", "--target", "hf", "--profile", "lab", "--no-throughput", "--timeout", "20"]
    plain = CliRunner().invoke(cli, args)
    assert found in plain.stdout.splitlines()[0], plain.output
    data = CliRunner().invoke(cli, [*args, "--json"])
    (target,) = json.loads(data.stdout)["targets"]
    (mirror,) = [m for m in target["mirrors"] if m["url"] == hub]
    assert found in json.dumps(mirror)


# --- Xet: the resolve answer's X-Xet-Hash, judged by huggingface_hub itself ------------


def _host(url: str) -> str:
    return url.removeprefix("https://")


def test_a_hub_announcing_xet_is_named_with_its_token_and_storage_hosts(
    mirror_lab: MirrorLab,
) -> None:
    cdn = mirror_lab.add("cdn")
    cas = mirror_lab.add("cas")
    hub = mirror_lab.add("hub", resolve_to="cdn")
    mirror_lab.server("hub").xet = XetFile(storage=cas)
    result = measure_all([hf.pull_path(hub)], env=mirror_lab.env, samples=1)[0]
    assert result.healthy, result.reason
    finding = result.pull_finding
    assert finding is not None
    assert finding.startswith(
        "this mirror sends Xet metadata (X-Xet-Hash): with hf_xet installed, huggingface_hub "
        f"downloads large files from Xet storage (a token from {_host(hub)}, the file's data "
        f"from {_host(cas)}), not by the path measured here; HF_HUB_DISABLE_XET=1 (or hf_xet "
        f"not installed) makes it use the plain download, from {_host(cdn)}, where the "
        "mirror redirects; "
    )
    assert f"large files from this mirror come from {_host(cdn)}" in finding
    assert "keeps" not in finding  # no claim that a variable keeps the bytes on the mirror


_CONNECTION = """
import os
from huggingface_hub.utils._xet import XetFileData, refresh_xet_connection_info
data = XetFileData(os.environ["LAB_XET_HASH"], os.environ["LAB_XET_ROUTE"])
print(refresh_xet_connection_info(file_data=data, headers={}).endpoint)
"""


def test_the_xet_storage_host_comes_from_the_token_route_as_hf_xet_learns_it(
    mirror_lab: MirrorLab, tmp_path: Path
) -> None:
    # The hub names no reconstruction link: hf_xet asks the token route, whose answer
    # names the storage (X-Xet-Cas-Url).  envdoctor asks it too, and names the same host
    # huggingface_hub's own code reads from it.
    cas = mirror_lab.add("cas")
    hub = mirror_lab.add("hub")
    mirror_lab.server("hub").xet = XetFile(cas=cas)
    result = measure_all([hf.pull_path(hub)], env=mirror_lab.env, samples=1)[0]
    assert result.healthy, result.reason
    assert f"(a token from {_host(hub)}, the file's data from {_host(cas)})" in (
        result.pull_finding or ""
    ), result.pull_finding
    routes = [r.target for r in mirror_lab.server("hub").records if "/xet-read-token/" in r.target]
    assert len(routes) == 1, routes
    pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed")
    route = f"{hub}{routes[0]}"
    done = _client(
        _CONNECTION,
        mirror_lab,
        hub,
        tmp_path,
        LAB_XET_HASH=XetFile().file_hash,
        LAB_XET_ROUTE=route,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert urlsplit(done.stdout.strip().splitlines()[-1]).netloc == _host(cas)


def test_a_token_route_without_xet_headers_leaves_the_storage_unknown(
    mirror_lab: MirrorLab,
) -> None:
    hub = mirror_lab.add("hub")
    mirror_lab.server("hub").xet = XetFile()  # its token route answers plain JSON
    result = measure_all([hf.pull_path(hub)], env=mirror_lab.env, samples=1)[0]
    assert result.healthy, result.reason
    assert f"(a token from {_host(hub)})" in (result.pull_finding or ""), result.pull_finding


def test_xet_on_a_hub_serving_its_own_files(mirror_lab: MirrorLab) -> None:
    hub = mirror_lab.add("hub")
    mirror_lab.server("hub").xet = XetFile(link=False, upstream_route=True)
    result = measure_all([hf.pull_path(hub)], env=mirror_lab.env, samples=1)[0]
    assert result.healthy, result.reason
    assert result.pull_finding is not None
    # the Hub's own route is rewritten to the endpoint, as huggingface_hub does
    assert f"(a token from {_host(hub)})" in result.pull_finding
    assert result.pull_finding.endswith("makes it use the plain download, from this mirror")


def test_xet_headers_on_the_cdn_are_not_the_hubs() -> None:
    """huggingface_hub stops at the redirect off the hub: the CDN's answer is not read."""
    answer = Answer(
        url="https://cdn.example/f",
        status=206,
        reason="Partial Content",
        headers={"x-xet-hash": "ab" * 32, "x-xet-refresh-route": "https://cdn.example/t"},
        body=b"x",
        redirects=("cdn.example",),
        redirect_headers=({"location": "https://cdn.example/f"},),
    )
    assert hf_pull.xet_metadata("https://hub.example/r/resolve/main/f", answer) is None
    assert hf_pull.links('<https://a/t>; rel="xet-auth", <https://c/r>; rel=other') == {
        "xet-auth": "https://a/t",
        "other": "https://c/r",
    }


_METADATA = """
import json, sys
from huggingface_hub import get_hf_file_metadata, hf_hub_url
meta = get_hf_file_metadata(hf_hub_url("openai-community/gpt2", "model.safetensors"))
xet = meta.xet_file_data
print(json.dumps(None if xet is None else [xet.file_hash, xet.refresh_route]))
"""


def _client(
    script: str, mirror_lab: MirrorLab, hub: str, tmp_path: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.lower().endswith("_proxy") and k != "HF_HUB_DISABLE_XET"
        },
        **mirror_lab.env,
        "REQUESTS_CA_BUNDLE": mirror_lab.env["SSL_CERT_FILE"],
        "HF_ENDPOINT": hub,
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(tmp_path / "home"),
        "HF_XET_CACHE": str(tmp_path / "xet"),
        "NO_PROXY": "*",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_huggingface_hub_sees_xet_where_envdoctor_does(
    mirror_lab: MirrorLab, tmp_path: Path
) -> None:
    pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed")
    mirror_lab.add("cdn", body_bytes=300_000)
    hub = mirror_lab.add("hub", resolve_to="cdn", body_bytes=300_000)
    plain_hub = mirror_lab.add("plain", resolve_to="cdn", body_bytes=300_000)
    mirror_lab.server("hub").xet = XetFile()
    for base, announced in ((hub, True), (plain_hub, False)):
        done = _client(_METADATA, mirror_lab, base, tmp_path / _host(base).replace(":", "_"))
        assert done.returncode == 0, done.stderr[-2000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        result = measure_all([hf.pull_path(base)], env=mirror_lab.env, samples=1)[0]
        ours = result.pull_finding or ""
        assert ("sends Xet metadata" in ours) is announced, ours
        assert (seen is not None) is announced, seen
        if seen is not None:
            assert seen[0] == XetFile().file_hash
            assert f"a token from {urlsplit(seen[1]).netloc}" in ours


_DOWNLOAD = """
import sys
from huggingface_hub import hf_hub_download
print(hf_hub_download("openai-community/gpt2", "model.safetensors", cache_dir=sys.argv[1]))
"""


def test_hf_hub_disable_xet_takes_the_plain_download_and_hf_xet_goes_to_xet(
    mirror_lab: MirrorLab, tmp_path: Path
) -> None:
    pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed")
    cdn = mirror_lab.add("cdn", body_bytes=300_000)
    hub = mirror_lab.add("hub", resolve_to="cdn", body_bytes=300_000)
    mirror_lab.server("hub").xet = XetFile()
    resolve = "/openai-community/gpt2/resolve/main/model.safetensors"
    done = _client(_DOWNLOAD, mirror_lab, hub, tmp_path / "plain", HF_HUB_DISABLE_XET="1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(done.stdout.strip().splitlines()[-1]).stat().st_size == 300_000
    cdn_gets = [r for r in mirror_lab.server("cdn").records if r.method == "GET"]
    assert [r.target for r in cdn_gets] == [resolve], cdn_gets
    result = measure_all([hf.pull_path(hub)], env=mirror_lab.env, samples=1)[0]
    assert result.pull_finding is not None
    assert f"plain download, from {_host(cdn)}" in result.pull_finding
    if importlib.util.find_spec("hf_xet") is None:
        return  # without hf_xet the client always takes the plain download
    before = len([r for r in mirror_lab.server("cdn").records if r.method == "GET"])
    done = _client(_DOWNLOAD, mirror_lab, hub, tmp_path / "xet")
    token = urlsplit(XetFile().headers(hub, resolve)["X-Xet-Refresh-Route"]).path
    hub_seen = [r.target for r in mirror_lab.server("hub").records]
    # hf_xet asked the token route (the lab has no Xet storage to give), never the CDN
    assert token in hub_seen, (hub_seen, done.stderr[-2000:])
    after = [r for r in mirror_lab.server("cdn").records if r.method == "GET"]
    assert len(after) == before, after
