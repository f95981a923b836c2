"""A real ``docker pull`` judges envdoctor's Docker pull path.

dockerd (Debian's docker.io) runs in its own user and mount namespaces, on the host's
network so that it reaches the loopback mirrors, with its own data-root, exec-root,
pidfile and socket, vfs storage and no bridge, iptables or IP forwarding.  Its
``registry-mirrors`` are, in order, a lab proxy that refuses busybox (403 DENIED, an
allowlist), a lab proxy that rate-limits manifests (429), and Debian's real
``docker-registry`` serving an image pushed into it by skopeo from an OCI layout built
here.  What envdoctor says of each mirror is checked against what dockerd does with it:
it skips the two envdoctor names as refusing, logging the same registry error, and pulls
through the one envdoctor rates healthy, the same layer envdoctor timed.  Docker Hub, the
fallback after every mirror, is behind a refused proxy: nothing reaches a public host.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from envdoctor.net.measure import measure_all
from envdoctor.tools import docker
from tests.mirrorlab import MirrorLab, Registry

PROGRAMS = ("dockerd", "docker", "skopeo", "docker-registry", "unshare")


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


_missing = [name for name in PROGRAMS if shutil.which(name) is None]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(_missing),
        reason=f"needs {', '.join(_missing)} (Debian: docker.io, skopeo, docker-registry)",
    ),
    pytest.mark.skipif(
        not _missing and not _namespaces_work(),
        reason="needs unshare -Urm (unprivileged user and mount namespaces) to run dockerd",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _blob(root: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    directory = root / "blobs" / "sha256"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def _oci_layout(root: Path) -> str:
    """A one-layer linux/amd64 image as an OCI layout tagged ``latest``; its layer digest."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        payload = b"envdoctor judge image\n"
        entry = tarfile.TarInfo("hello.txt")
        entry.size, entry.mode = len(payload), 0o644
        tar.addfile(entry, io.BytesIO(payload))
    diff = raw.getvalue()
    layer, layer_size = _blob(root, gzip.compress(diff, mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(diff).hexdigest()}"]},
    }
    config_digest, config_size = _blob(root, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer,
                "size": layer_size,
            }
        ],
    }
    manifest_digest, manifest_size = _blob(root, json.dumps(manifest).encode())
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return layer


def _quiet_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {**env, **extra}


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """Unix socket paths are limited to 108 bytes: pytest's tmp_path can be longer."""
    directory = Path(tempfile.mkdtemp(prefix="envdoctor-judge-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def real_registry(run_dir: Path) -> Iterator[tuple[str, str]]:
    """Debian's docker-registry on loopback with ``library/busybox:latest`` pushed into it
    by skopeo: ``(base URL, layer digest)``."""
    port = _free_port()
    config = run_dir / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {run_dir / 'registry'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (run_dir / "registry.log").open("w")
    server = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v2/", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, (run_dir / "registry.log").read_text()
                assert time.monotonic() < deadline, "docker-registry did not answer"
                time.sleep(0.1)
        layer = _oci_layout(run_dir / "image")
        policy = run_dir / "policy.json"
        policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
        pushed = subprocess.run(
            [
                "skopeo", "--policy", str(policy), "copy", "--dest-tls-verify=false",
                f"oci:{run_dir / 'image'}:latest",
                f"docker://127.0.0.1:{port}/library/busybox:latest",
            ],
            capture_output=True, text=True, timeout=60, env=_quiet_env(), check=False,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
        yield base, layer
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _docker(sock: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "-H", f"unix://{sock}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_quiet_env(DOCKER_CONFIG=str(config)),
        check=False,
    )


def _mirrors_now(sock: Path, config: Path) -> list[str]:
    done = _docker(sock, config, "info", "--format", "{{json .RegistryConfig.Mirrors}}")
    if done.returncode != 0 or not done.stdout.strip():
        return []  # not answering yet
    return [m.rstrip("/") for m in json.loads(done.stdout) or []]


def test_docker_pull_goes_where_envdoctor_says(
    mirror_lab: MirrorLab, run_dir: Path, real_registry: tuple[str, str]
) -> None:
    real, layer = real_registry
    allowlist = Registry(repos=("library/busybox", "library/python"), allow=("library/python",))
    denied = mirror_lab.add("allowlist", tls=False, registry=allowlist)
    limited = mirror_lab.add("limited", tls=False, registry=Registry(manifest_status=429))

    # what envdoctor says of each mirror
    words = measure_all(
        [docker.pull_path(url) for url in (denied, limited, real)], env=mirror_lab.env, samples=1
    )
    assert [m.status_code for m in words[:2]] == [403, 429]
    assert "(DENIED: not in allowlist)" in words[0].reason, words[0].reason
    assert "(TOOMANYREQUESTS: slow down)" in words[1].reason, words[1].reason
    assert words[2].healthy, words[2].reason
    assert words[2].pull_file is not None
    assert words[2].pull_file.startswith(f"layer {layer[:19]} of library/busybox:latest")

    # what dockerd does with them: Docker Hub, tried after every mirror, sits behind a
    # proxy that refuses connections, so nothing here reaches a public host
    daemon_json = run_dir / "daemon.json"
    daemon_json.write_text(json.dumps({"registry-mirrors": [denied, limited]}))
    sock, client = run_dir / "docker.sock", run_dir / "client"
    refused_proxy = mirror_lab.refused_url()
    log = (run_dir / "dockerd.log").open("w")
    daemon = subprocess.Popen(
        [
            "unshare", "-Urm", "dockerd",
            "--config-file", str(daemon_json),
            "--data-root", str(run_dir / "data"),
            "--exec-root", str(run_dir / "exec"),
            "--pidfile", str(run_dir / "dockerd.pid"),
            "-H", f"unix://{sock}",
            "--group", "root",
            "--storage-driver=vfs",
            "--bridge=none", "--iptables=false", "--ip6tables=false",
            "--ip-forward=false", "--ip-masq=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_quiet_env(
            HTTPS_PROXY=refused_proxy, HTTP_PROXY=refused_proxy, NO_PROXY="127.0.0.1,localhost"
        ),
    )  # fmt: skip

    def daemon_log() -> str:
        log.flush()
        return (run_dir / "dockerd.log").read_text()

    try:
        deadline = time.monotonic() + 30
        while _mirrors_now(sock, client) != [denied, limited]:
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"dockerd cannot start here: {daemon_log()[-1500:]}")
            time.sleep(0.2)

        # the two mirrors envdoctor names as refusing: dockerd skips both, then fails
        refused = _docker(sock, client, "pull", "busybox")
        assert refused.returncode != 0, refused.stdout
        text = daemon_log()
        assert "Attempting next endpoint for pull after error: denied: not in allowlist" in text
        assert "Attempting next endpoint for pull after error: toomanyrequests: slow down" in text
        # the registry's own error, which envdoctor quotes as code: message
        for measured, said in ((words[0], "denied: not in allowlist"), (words[1], "slow down")):
            assert said in measured.reason.lower(), measured.reason

        # with the mirror envdoctor rates healthy last, the pull goes through it
        daemon_json.write_text(json.dumps({"registry-mirrors": [denied, limited, real]}))
        daemon.send_signal(1)  # SIGHUP: dockerd reloads registry-mirrors
        deadline = time.monotonic() + 20
        while _mirrors_now(sock, client) != [denied, limited, real]:
            assert time.monotonic() < deadline, daemon_log()[-1500:]
            time.sleep(0.1)
        pulled = _docker(sock, client, "pull", "busybox")
        assert pulled.returncode == 0, (pulled.stderr, daemon_log()[-1500:])
        assert "Downloaded newer image for busybox:latest" in pulled.stdout
        # the layer dockerd downloaded is the one envdoctor timed
        assert f"{layer.removeprefix('sha256:')[:12]}: Pull complete" in pulled.stdout
    finally:
        if daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        log.close()
