"""The files envdoctor writes for containerd and podman, read by the real clients.

Debian's docker-registry serves an image this test builds (an OCI layout copied in with
skopeo) on 127.0.0.1 inside a network namespace of its own, where Docker Hub cannot be
reached.  A pull of ``docker.io/library/envtest:1`` must then succeed through the mirror
envdoctor wrote (``ctr --hosts-dir``, ``podman pull``, ``skopeo inspect``) and fail
without envdoctor's file.  A containerd started with the written config.toml loads its
CRI plugin; the same file with the deprecated ``registry.mirrors`` table does not, which
is why the plan refuses it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from envdoctor import transaction
from envdoctor.context import Context
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile
from envdoctor.tools import containerd, podman
from envdoctor.tools.oci_mirrors import RegistryMirrors

DATA = Path(__file__).parent / "data" / "containerd"
IMAGE = "docker.io/library/envtest:1"
PROGRAMS = ("unshare", "nsenter", "ip", "docker-registry", "skopeo")


def _missing(*names: str) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


pytestmark = pytest.mark.skipif(
    bool(_missing(*PROGRAMS)),
    reason=f"needs {', '.join(_missing(*PROGRAMS))} (Debian: apt-get install docker-registry "
    "skopeo util-linux iproute2)",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _oci_layout(directory: Path) -> None:
    """A one-layer image with a few files, as an OCI layout skopeo can copy."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}", len(data)

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in (("hello.txt", b"hello from envdoctor\n"), ("etc/os-release", b"ID=t\n")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    layer = raw.getvalue()
    layer_digest, layer_size = blob(gzip.compress(layer, mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
        "config": {},
    }
    config_digest, config_size = blob(json.dumps(config).encode())
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
                "digest": layer_digest,
                "size": layer_size,
            }
        ],
    }
    manifest_digest, manifest_size = blob(json.dumps(manifest).encode())
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": manifest["mediaType"],
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "1"},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))


class Lab:
    """A network namespace with loopback only, and a registry serving the test image."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.holder = subprocess.Popen(["unshare", "-n", "sleep", "120"])
        self.processes: list[subprocess.Popen[bytes]] = [self.holder]
        time.sleep(0.1)
        self.run("ip", "link", "set", "lo", "up")
        self.port = _free_port()
        config = tmp / "registry.yml"
        config.write_text(
            "version: 0.1\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {tmp / 'store'}\nhttp:\n  addr: 127.0.0.1:{self.port}\n"
        )
        self.start("docker-registry", "serve", str(config), log=tmp / "registry.log")
        self.mirror = f"http://127.0.0.1:{self.port}"
        _oci_layout(tmp / "oci")
        for _ in range(50):
            copied = self.run(
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                f"oci:{tmp / 'oci'}:1",
                f"docker://127.0.0.1:{self.port}/library/envtest:1",
                check=False,
            )
            if copied.returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"cannot push the test image: {copied.stderr}")

    def _ns(self) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-n"]

    def run(
        self, *argv: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        prefix = ["env", *(f"{k}={v}" for k, v in (env or {}).items())]
        result = subprocess.run(
            [*self._ns(), *prefix, *argv], capture_output=True, text=True, timeout=60
        )
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed: {result.stderr}")
        return result

    def start(self, *argv: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen([*self._ns(), *argv], stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def close(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip(f"unshare -n is not permitted here: {probe.stderr.decode().strip()}")
    lab = Lab(tmp_path_factory.mktemp("ocilab"))
    try:
        yield lab
    finally:
        lab.close()


def _profile(mirror: str) -> Profile:
    table = RegistryMirrors((("docker.io", (mirror,)),), allow_http=True)
    return Profile("lab", "lab", Path("lab.toml"), "user", containerd=table, podman=table)


def _apply(ctx: Context, plan: object, scope: str) -> None:
    changes = [c for c in plan.changes if c.changed]  # type: ignore[attr-defined]
    assert changes
    transaction.apply_changes(
        ctx,
        changes,
        journal=transaction.journal_dir(ctx, scope),  # type: ignore[arg-type]
        description="test",
        profile="lab",
    )


@pytest.mark.skipif(bool(_missing("containerd", "ctr")), reason="needs containerd and ctr")
def test_ctr_pulls_through_the_hosts_toml_envdoctor_wrote(lab: Lab, ctx: Context) -> None:
    config = ctx.path(containerd.CONFIG_TOML)
    config.parent.mkdir(parents=True)
    shutil.copy(DATA / "config-nvidia-ctk.toml", config)  # a GPU node's file
    _apply(ctx, containerd.plan(ctx, _profile(lab.mirror), ApplyOptions(scope="system")), "system")
    written = config.read_text()
    assert 'config_path = "/etc/containerd/certs.d"' in written
    state = lab.tmp / f"ctd-{ctx.root.name}"
    address = str(state / "c.sock")
    daemon = lab.start(
        "containerd",
        "--config",
        str(config),
        "--address",
        address,
        "--root",
        str(state / "root"),
        "--state",
        str(state / "state"),
        log=lab.tmp / "containerd.log",
    )
    for _ in range(100):
        if Path(address).exists():
            break
        time.sleep(0.05)
    plugins = lab.run("ctr", "--address", address, "plugins", "ls").stdout
    cri = [
        line for line in plugins.splitlines() if "io.containerd.grpc.v1" in line and " cri " in line
    ]
    assert cri and cri[0].split()[-1] == "ok", plugins  # the written config.toml loads
    hosts_dir = str(ctx.path("/etc/containerd/certs.d"))
    pulled = lab.run("ctr", "--address", address, "image", "pull", "--hosts-dir", hosts_dir, IMAGE)
    assert "done" in pulled.stdout
    lab.run("ctr", "--address", address, "image", "rm", IMAGE)
    without = lab.run("ctr", "--address", address, "image", "pull", IMAGE, check=False)
    assert without.returncode != 0 and "registry-1.docker.io" in without.stderr
    daemon.terminate()
    daemon.wait(10)


@pytest.mark.skipif(bool(_missing("containerd", "ctr")), reason="needs containerd and ctr")
def test_containerd_refuses_legacy_mirrors_with_config_path(lab: Lab, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        (DATA / "config-legacy-mirrors.toml").read_text()
        + '\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/nonexistent"\n'
    )
    address = str(tmp_path / "c.sock")
    daemon = lab.start(
        "containerd",
        "--config",
        str(config),
        "--address",
        address,
        "--root",
        str(tmp_path / "root"),
        "--state",
        str(tmp_path / "state"),
        log=tmp_path / "containerd.log",
    )
    for _ in range(100):
        if Path(address).exists():
            break
        time.sleep(0.05)
    plugins = lab.run("ctr", "--address", address, "plugins", "ls").stdout
    daemon.terminate()
    daemon.wait(10)
    cri = [line for line in plugins.splitlines() if " cri " in line and "grpc.v1" in line]
    assert cri and cri[0].split()[-1] == "error", plugins
    assert "mirrors" in (tmp_path / "containerd.log").read_text()


def _podman_env(ctx: Context) -> dict[str, str]:
    return {
        "HOME": str(ctx.home),
        "XDG_CONFIG_HOME": str(ctx.xdg_config_home),
        "CONTAINERS_REGISTRIES_CONF": str(ctx.path(podman.SYSTEM_FILE)),
    }


def test_podman_and_skopeo_pull_through_the_drop_in(lab: Lab, tmp_path: Path) -> None:
    # XDG_CONFIG_HOME elsewhere: containers/image reads ~/.config/containers all the same.
    home = tmp_path / "home" / "user"
    home.mkdir(parents=True)
    xdg = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    ctx = Context.for_root(tmp_path, home=home, env=xdg)
    main = ctx.path(podman.SYSTEM_FILE)
    main.parent.mkdir(parents=True)
    main.write_text('unqualified-search-registries = ["docker.io"]\n')
    _apply(ctx, podman.plan(ctx, _profile(lab.mirror), ApplyOptions(scope="user")), "user")
    drop_in = home / ".config" / "containers" / "registries.conf.d" / podman.DROP_IN
    assert drop_in.exists()
    env = _podman_env(ctx)
    inspect = ["skopeo", "inspect", "--no-tags", "--format", "{{.Name}}", f"docker://{IMAGE}"]
    assert lab.run(*inspect, env=env).stdout.strip() == "docker.io/library/envtest"
    storage = Path(tempfile.mkdtemp(prefix="edp"))  # podman wants a runroot under 50 chars
    pull = [
        "podman",
        "--root",
        str(storage / "root"),
        "--runroot",
        str(storage / "run"),
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "none",
        "pull",
        "-q",
        IMAGE,
    ]
    if shutil.which("podman") is not None:
        assert lab.run(*pull, env=env).stdout.strip().isalnum()
    drop_in.unlink()
    failed = lab.run(*inspect, env=env, check=False)
    assert failed.returncode != 0 and "registry-1.docker.io" in failed.stderr
    if shutil.which("podman") is not None:
        pull[pull.index("--root") + 1] = str(storage / "root2")
        failed = lab.run(*pull, env=env, check=False)
        assert failed.returncode != 0 and "registry-1.docker.io" in failed.stderr
    shutil.rmtree(storage, ignore_errors=True)
