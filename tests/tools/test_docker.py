from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile, get_profile
from envdoctor.tools import docker, docker_daemon
from envdoctor.tools.docker import DockerSettings

DATA = Path(__file__).parent / "data" / "docker"
SYSTEM = ApplyOptions(scope="system")
MIRRORS = ("https://docker.1ms.run", "https://docker.m.daocloud.io")
BOM = b"\xef\xbb\xbf"


def _profile(*mirrors: str) -> Profile:
    return Profile(
        name="test",
        description="test",
        source=Path("test.toml"),
        origin="user",
        docker=DockerSettings(registry_mirrors=mirrors),
    )


def _daemon_json(ctx: Context) -> Path:
    path = ctx.path("/etc/docker/daemon.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _put(ctx: Context, system_path: str, content: str | bytes) -> Path:
    path = ctx.path(system_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def _fake_process(ctx: Context, pid: int, argv: list[str], uid: int = 0) -> None:
    _put(ctx, f"/proc/{pid}/cmdline", b"\0".join(a.encode() for a in argv) + b"\0")
    _put(ctx, f"/proc/{pid}/status", f"Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")


def test_new_file(ctx: Context) -> None:
    result = docker.plan(ctx, _profile(*MIRRORS), SYSTEM)
    (change,) = result.changes
    assert change.path == ctx.path("/etc/docker/daemon.json")
    assert change.display == "/etc/docker/daemon.json"
    assert change.old is None
    assert change.new == (
        b'{\n  "registry-mirrors": [\n    "https://docker.1ms.run",\n'
        b'    "https://docker.m.daocloud.io"\n  ]\n}\n'
    )
    assert "no dockerd is running: it reads the mirrors when it starts" in result.notes


def test_user_scope_is_rootless_dockers_file(ctx: Context) -> None:
    result = docker.plan(ctx, _profile(*MIRRORS), ApplyOptions(scope="user", owner=(7, 7)))
    (change,) = result.changes
    assert change.path == ctx.home / ".config" / "docker" / "daemon.json"
    assert change.display == "~/.config/docker/daemon.json"
    assert change.owner == (7, 7)
    assert any("rootless" in note and "--scope system" in note for note in result.notes)


def test_profile_without_docker_is_skipped(ctx: Context) -> None:
    profile = Profile(name="x", description="x", source=Path("x.toml"), origin="user")
    assert docker.plan(ctx, profile, SYSTEM).skipped == "the profile does not set docker"


@pytest.mark.parametrize("encoding", ["utf8", "bom", "crlf", "bom+crlf"])
def test_merge_keeps_every_other_key_and_its_place(ctx: Context, encoding: str) -> None:
    old = (DATA / "daemon.json").read_bytes()
    if "crlf" in encoding:
        old = old.replace(b"\n", b"\r\n")
    if "bom" in encoding:
        old = BOM + old
    path = _daemon_json(ctx)
    path.write_bytes(old)
    result = docker.plan(ctx, _profile(*MIRRORS), SYSTEM)
    (change,) = result.changes
    assert change.old == old  # what a rollback restores, byte for byte
    assert change.new is not None
    before = json.loads(old.decode("utf-8-sig"))
    after = json.loads(change.new.decode("utf-8-sig"))
    assert after["registry-mirrors"] == list(MIRRORS)
    rest = {k: v for k, v in after.items() if k != "registry-mirrors"}
    assert rest == {k: v for k, v in before.items() if k != "registry-mirrors"}
    assert list(after) == list(before)  # the key keeps its place
    text = change.new.decode("utf-8-sig")
    newline = "\r\n" if "crlf" in encoding else "\n"
    assert text.startswith("{" + newline + '  "data-root": "/srv/docker",' + newline)
    assert text.endswith("}" + newline)
    assert '"zone=上海"' in text  # kept readable, not \u-escaped
    # Debian's dockerd 20.10 refuses a BOM (test_dockerd_runs_with_the_written_file...)
    assert not change.new.startswith(BOM)
    bom_note = any("byte-order mark" in note for note in result.notes)
    assert bom_note == ("bom" in encoding)
    if "crlf" not in encoding:
        assert b"\r" not in change.new
    path.write_bytes(change.new)
    (again,) = docker.plan(ctx, _profile(*MIRRORS), SYSTEM).changes
    assert not again.changed


def test_empty_mirror_list_removes_the_key(ctx: Context) -> None:
    path = _daemon_json(ctx)
    path.write_text('{\n  "debug": true,\n  "registry-mirrors": ["https://old.example"]\n}\n')
    (change,) = docker.plan(ctx, get_profile(ctx, "global"), SYSTEM).changes
    assert change.new == b'{\n  "debug": true\n}\n'
    path.write_bytes(change.new)
    (again,) = docker.plan(ctx, _profile(), SYSTEM).changes
    assert not again.changed


def test_empty_list_already_means_docker_hub(ctx: Context) -> None:
    _daemon_json(ctx).write_text('{"registry-mirrors": [], "debug": true}')
    (change,) = docker.plan(ctx, _profile(), SYSTEM).changes
    assert not change.changed


def test_no_file_and_no_mirrors_plans_nothing(ctx: Context) -> None:
    result = docker.plan(ctx, _profile(), SYSTEM)
    assert result.changes == () and not result.changed


def test_empty_file_is_an_empty_config(ctx: Context) -> None:
    _daemon_json(ctx).write_text("  \n")
    (change,) = docker.plan(ctx, _profile(MIRRORS[0]), SYSTEM).changes
    assert change.new == b'{\n  "registry-mirrors": [\n    "https://docker.1ms.run"\n  ]\n}\n'


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{\n  "debug": true,\n  "registry-mirrors": [\n}\n', "line 4 column 1"),
        ('{\n  "debug": true,\n}\n', "line 3 column 1"),
        ('{"a": 1}\n{"b": 2}\n', "line 2 column 1"),
    ],
)
def test_malformed_json_names_line_and_column(ctx: Context, text: str, where: str) -> None:
    _daemon_json(ctx).write_text(text)
    with pytest.raises(EnvdoctorError) as info:
        docker.plan(ctx, _profile(*MIRRORS), SYSTEM)
    assert info.value.message.startswith(f"docker: /etc/docker/daemon.json {where}: invalid JSON")


def test_not_an_object_is_refused(ctx: Context) -> None:
    _daemon_json(ctx).write_text('["https://docker.1ms.run"]\n')
    with pytest.raises(EnvdoctorError, match="line 1: not a JSON object"):
        docker.plan(ctx, _profile(*MIRRORS), SYSTEM)


@pytest.mark.parametrize(
    ("mirror", "reason"),
    [
        ("https://user:hunter2@mirror.example", "username or password"),
        ("https://mirror.example/v2/", "path, query or fragment"),
        ("https://mirror.example?x=1", "path, query or fragment"),
        ("https://mirror.example/#top", "path, query or fragment"),
        ("mirror.example", "http:// or https://"),
        ("ftp://mirror.example", "http:// or https://"),
        ("https://mirror.example:99999", "not a valid URL"),
    ],
)
def test_mirrors_dockerd_rejects_are_refused(ctx: Context, mirror: str, reason: str) -> None:
    with pytest.raises(EnvdoctorError, match=reason) as info:
        docker.plan(ctx, _profile(mirror), SYSTEM)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("mirror", ["https://mirror.example", "http://10.0.0.5:5000/"])
def test_plain_mirrors_are_accepted(mirror: str) -> None:
    assert docker.mirror_problem(mirror) is None


def test_flag_in_a_drop_in_is_refused_with_file_and_line(ctx: Context) -> None:
    _put(ctx, "/lib/systemd/system/docker.service", (DATA / "docker.service").read_text())
    _put(
        ctx,
        "/etc/systemd/system/docker.service.d/10-mirror.conf",
        (DATA / "mirror-dropin.conf").read_text(),
    )
    with pytest.raises(EnvdoctorError) as info:
        docker.plan(ctx, _profile(*MIRRORS), SYSTEM)
    # the flag is on the continuation line 5 of the drop-in
    where = "/etc/systemd/system/docker.service.d/10-mirror.conf line 5"
    assert where in info.value.message
    assert "refuse to start" in info.value.message
    assert info.value.hint is not None and where in info.value.hint


def test_flag_in_etc_default_docker_is_refused(ctx: Context) -> None:
    _put(ctx, "/lib/systemd/system/docker.service", (DATA / "docker.service").read_text())
    _put(ctx, "/etc/default/docker", (DATA / "default-docker").read_text())
    with pytest.raises(EnvdoctorError, match=r"/etc/default/docker line 8\b"):
        docker.plan(ctx, _profile(*MIRRORS), SYSTEM)


def test_flag_in_sysconfig_is_refused(ctx: Context) -> None:
    _put(ctx, "/etc/sysconfig/docker", "OPTIONS='--selinux-enabled --registry-mirror https://m'\n")
    with pytest.raises(EnvdoctorError, match=r"/etc/sysconfig/docker line 1\b"):
        docker.plan(ctx, _profile(*MIRRORS), SYSTEM)


def test_commented_and_reset_flags_do_not_count(ctx: Context) -> None:
    # the /etc unit replaces the packaged one, whose flag therefore does not apply
    _put(ctx, "/lib/systemd/system/docker.service", "[Service]\nExecStart=/usr/bin/dockerd "
         "--registry-mirror=https://a\n")  # fmt: skip
    _put(ctx, "/etc/systemd/system/docker.service", (DATA / "docker.service").read_text())
    # a later drop-in resets ExecStart, so the earlier drop-in's flag is gone too
    _put(
        ctx,
        "/etc/systemd/system/docker.service.d/10-mirror.conf",
        (DATA / "mirror-dropin.conf").read_text(),
    )
    _put(
        ctx,
        "/etc/systemd/system/docker.service.d/20-plain.conf",
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd://\n",
    )
    _put(ctx, "/etc/default/docker", '#DOCKER_OPTS="--registry-mirror=https://a"\n')
    assert docker_daemon.find_mirror_flags(ctx) == []
    assert docker.plan(ctx, _profile(*MIRRORS), SYSTEM).changed


def test_running_dockerd_with_the_flag_is_refused(ctx: Context) -> None:
    _fake_process(ctx, 4242, ["/usr/bin/dockerd", "-H", "fd://", "--registry-mirror", "https://m"])
    _fake_process(ctx, 4243, ["/usr/bin/containerd", "--registry-mirror"])  # not dockerd
    with pytest.raises(EnvdoctorError, match=r"the running dockerd \(pid 4242\)"):
        docker.plan(ctx, _profile(*MIRRORS), SYSTEM)
    # a rootless user's daemon is not the system one
    assert docker_daemon.find_mirror_flags(ctx, "user") == []


def test_removing_mirrors_with_a_flag_only_warns(ctx: Context) -> None:
    _put(ctx, "/etc/default/docker", 'DOCKER_OPTS="--registry-mirror=https://m"\n')
    _daemon_json(ctx).write_text('{"registry-mirrors": ["https://m"]}')
    result = docker.plan(ctx, _profile(), SYSTEM)
    (change,) = result.changes
    assert change.new == b"{}\n"
    assert any("/etc/default/docker line 1" in note for note in result.notes)


def test_config_file_elsewhere_is_noted(ctx: Context) -> None:
    _fake_process(ctx, 77, ["dockerd", "--config-file=/srv/docker.json"])
    notes = docker.plan(ctx, _profile(*MIRRORS), SYSTEM).notes
    assert "the running dockerd (pid 77) reads /srv/docker.json (--config-file), not " \
        "/etc/docker/daemon.json" in notes  # fmt: skip
    assert "registry-mirrors reload live: kill -HUP 77 (never a restart)" in notes


def test_a_relative_config_file_is_read_from_the_daemons_directory(ctx: Context) -> None:
    # It crashed every plan with [docker] (exit 3): ctx.path() of a relative path.
    _fake_process(ctx, 78, ["dockerd", "--config-file", "dd/ins.json"])
    notes = docker.plan(ctx, _profile(*MIRRORS), SYSTEM).notes
    assert any("pid 78) reads dd/ins.json (--config-file, relative to" in n for n in notes)
    ctx.path("/proc/78/cwd").symlink_to("/srv")
    notes = docker.plan(ctx, _profile(*MIRRORS), SYSTEM).notes
    assert "the running dockerd (pid 78) reads /srv/dd/ins.json (--config-file), not " \
        "/etc/docker/daemon.json" in notes  # fmt: skip
    _fake_process(ctx, 79, ["dockerd", "--config-file=./daemon.json"])
    ctx.path("/proc/79/cwd").symlink_to("/etc/docker")
    notes = docker.plan(ctx, _profile(*MIRRORS), SYSTEM).notes
    assert not any("pid 79) reads" in note for note in notes)  # the file envdoctor writes


def test_reload_command(ctx: Context) -> None:
    assert docker.reload_command(ctx) is None
    _fake_process(ctx, 1000, ["/usr/bin/dockerd", "-H", "unix:///run/user/1000/docker.sock"], 1000)
    assert docker.reload_command(ctx) is None  # only a rootless daemon runs
    assert docker.reload_command(ctx, "user") == ["kill", "-HUP", "1000"]
    _fake_process(ctx, 321, ["/usr/sbin/dockerd", "-H", "fd://"])
    assert docker.reload_command(ctx) == ["kill", "-HUP", "321"]
    ctx.path("/run/systemd/system").mkdir(parents=True)
    assert docker.reload_command(ctx) == ["systemctl", "reload", "docker"]
    assert docker.reload_command(ctx, "user") == ["systemctl", "--user", "reload", "docker"]


def test_reload_without_a_daemon_says_so(ctx: Context) -> None:
    with pytest.raises(EnvdoctorError, match="no running dockerd"):
        docker.reload(ctx)


def test_reload_never_uses_systemd_for_another_tree(ctx: Context) -> None:
    ctx.path("/run/systemd/system").mkdir(parents=True)
    with pytest.raises(EnvdoctorError, match="not reloading through systemd"):
        docker.reload(ctx)


_SIGHUP_CHILD = """
import signal, sys, time
def hup(signum, frame):
    open(sys.argv[1], "w").write("reloaded")
    sys.exit(0)
signal.signal(signal.SIGHUP, hup)
print("ready", flush=True)
time.sleep(30)
"""


def test_reload_sends_sighup_to_the_daemon(ctx: Context, tmp_path: Path) -> None:
    marker = tmp_path / "hup"
    child = subprocess.Popen(
        [sys.executable, "-c", _SIGHUP_CHILD, str(marker)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        _fake_process(ctx, child.pid, ["/usr/bin/dockerd", "-H", "fd://"])
        assert docker.reload(ctx) == f"sent SIGHUP to dockerd (pid {child.pid})"
        assert child.wait(timeout=10) == 0
        assert marker.read_text() == "reloaded"
    finally:
        child.kill()
        child.wait()


# --- the real dockerd --------------------------------------------------------------------


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-Urnm", "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


needs_dockerd = pytest.mark.skipif(
    shutil.which("dockerd") is None or not _namespaces_work(),
    reason="needs dockerd (Debian: apt-get install docker.io) and unshare -Urnm "
    "(unprivileged user namespaces)",
)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.socket_path)


def _info(socket_path: str) -> dict[str, Any]:
    connection = _UnixConnection(socket_path)
    try:
        connection.request("GET", "/info")
        response = connection.getresponse()
        assert response.status == 200
        info: dict[str, Any] = json.loads(response.read())
        return info
    finally:
        connection.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to 108 bytes: pytest's tmp_path can be longer."""
    directory = Path(tempfile.mkdtemp(prefix="envdoctor-dockerd-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _start_dockerd(config: Path, run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    """dockerd in its own user, network and mount namespaces: nothing of the host changes."""
    return subprocess.Popen(
        [
            "unshare", "-Urnm", "dockerd",
            "--config-file", str(config),
            "--data-root", str(run_dir / "data"),
            "--exec-root", str(run_dir / "exec"),
            "--pidfile", str(run_dir / "dockerd.pid"),
            "-H", f"unix://{run_dir / 'docker.sock'}",
            "--group", "root",
            "--iptables=false", "--ip-masq=false", "--bridge=none",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def _wait_for(process: subprocess.Popen[str], socket_path: Path, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if socket_path.exists():
            try:
                _info(str(socket_path))
            except OSError:
                pass
            else:
                return True
        time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    output, _ = process.communicate()
    return output


@pytest.mark.slow
@needs_dockerd
def test_dockerd_runs_with_the_written_file_and_reloads_it(ctx: Context, short_dir: Path) -> None:
    path = _daemon_json(ctx)
    # the real-world file less the keys that clash with our flags or need the host
    original = json.loads((DATA / "daemon.json").read_text())
    for key in ("data-root", "default-runtime", "runtimes", "default-address-pools"):
        del original[key]
    path.write_bytes(BOM + json.dumps(original, indent=4).encode())  # 20.10 refuses this
    refused = _start_dockerd(path, short_dir / "bom")
    assert refused.wait(timeout=60) != 0
    assert "invalid character" in _stop(refused)
    # An empty file: the check says dockerd 20.10 refuses it, and this one does.
    path.write_text("  \n")
    (problem,) = docker.resolve(ctx).problems
    assert "dockerd 20.10 refuses" in problem.message
    version = subprocess.run(["dockerd", "--version"], capture_output=True, text=True).stdout
    if version.startswith("Docker version 20."):
        empty = _start_dockerd(path, short_dir / "empty")
        assert empty.wait(timeout=60) != 0
        assert "EOF" in _stop(empty)
    (change,) = docker.plan(ctx, _profile(*MIRRORS), SYSTEM).changes
    assert change.new is not None
    path.write_bytes(change.new)
    process = _start_dockerd(path, short_dir)
    try:
        assert _wait_for(process, short_dir / "docker.sock"), _stop(process)
        info = _info(str(short_dir / "docker.sock"))
        assert [m.rstrip("/") for m in info["RegistryConfig"]["Mirrors"]] == list(MIRRORS)
        # a new plan, then a live reload: SIGHUP to the dockerd we started
        (change,) = docker.plan(ctx, _profile("https://dockerproxy.net"), SYSTEM).changes
        assert change.new is not None
        path.write_bytes(change.new)
        proc_entry = ctx.path(f"/proc/{process.pid}")
        proc_entry.mkdir(parents=True)
        (proc_entry / "cmdline").write_bytes(b"dockerd\0--config-file\0" + bytes(path) + b"\0")
        assert docker.reload(ctx) == f"sent SIGHUP to dockerd (pid {process.pid})"
        deadline = time.monotonic() + 10
        mirrors: list[str] = []
        while time.monotonic() < deadline:
            mirrors = _info(str(short_dir / "docker.sock"))["RegistryConfig"]["Mirrors"]
            if mirrors == ["https://dockerproxy.net/"]:
                break
            time.sleep(0.1)
        assert mirrors == ["https://dockerproxy.net/"]
    finally:
        _stop(process)


@pytest.mark.slow
@needs_dockerd
@pytest.mark.parametrize(
    ("mirror", "message"),
    [
        ("https://user:pw@docker.example", "invalid mirror"),
        ("https://docker.example/v2", "invalid mirror"),
    ],
)
def test_dockerd_refuses_the_mirrors_we_refuse(short_dir: Path, mirror: str, message: str) -> None:
    assert docker.mirror_problem(mirror) is not None
    config = short_dir / "daemon.json"
    config.write_text(json.dumps({"registry-mirrors": [mirror]}))
    process = _start_dockerd(config, short_dir)
    try:
        assert process.wait(timeout=60) != 0
    finally:
        output = _stop(process)
    assert message in output


@pytest.mark.slow
@needs_dockerd
def test_dockerd_refuses_a_flag_next_to_the_file(ctx: Context, short_dir: Path) -> None:
    (change,) = docker.plan(ctx, _profile(*MIRRORS), SYSTEM).changes
    assert change.new is not None
    config = short_dir / "daemon.json"
    config.write_bytes(change.new)
    process = _start_dockerd(config, short_dir, "--registry-mirror", "https://flag.example")
    try:
        assert process.wait(timeout=60) != 0
    finally:
        output = _stop(process)
    assert "specified both as a flag and in the configuration file" in output


@pytest.mark.slow
@needs_dockerd
@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ('{"registry_mirrors": ["https://m.example"]}', "don't match any configuration option"),
        ('{"Registry-Mirrors": ["https://m.example"]}', "don't match any configuration option"),
        ('{"insecure-registries": ["harbor.local:5000/"]}', "harbor.local:5000/"),
        ('{"insecure-registries": ["http://10.0.0.1:5000/path"]}', "10.0.0.1:5000/path"),
    ],
)
def test_what_dockerd_refuses_to_start_with_is_a_problem(
    ctx: Context, short_dir: Path, text: str, refusal: str
) -> None:
    # The check called these files fine; the real dockerd does not start with them.
    path = _daemon_json(ctx)
    path.write_text(text)
    (problem,) = docker.resolve(ctx).problems
    assert "dockerd refuses to start" in problem.message
    process = _start_dockerd(path, short_dir)
    assert process.wait(timeout=60) != 0
    assert refusal in _stop(process)


@pytest.mark.slow
@needs_dockerd
def test_what_dockerd_takes_is_not_a_problem(ctx: Context, short_dir: Path) -> None:
    path = _daemon_json(ctx)
    path.write_text(
        '{"registry-mirrors": ["https://m.example"], "insecure-registries": '
        '["harbor.local:5000", "10.0.0.0/8", "http://h.example:80", "[::1]:5000"], '
        '"max-concurrent-downloads": 8, "features": {"buildkit": true}}'
    )
    assert docker.resolve(ctx).problems == []
    process = _start_dockerd(path, short_dir)
    try:
        assert _wait_for(process, short_dir / "docker.sock"), _stop(process)
    finally:
        _stop(process)
