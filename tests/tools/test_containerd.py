"""containerd and podman plans on real-world files: minimal edits, idempotence, rollback,
and the traps the check reports."""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from envdoctor import transaction
from envdoctor.checkup import Checkup, LoginEnv, Remedies
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.net.measure import measure_all
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile, get_profile
from envdoctor.results import TargetPlan
from envdoctor.tools import containerd, docker, podman
from envdoctor.tools.oci_mirrors import RegistryMirrors
from tests.mirrorlab import MirrorLab, Registry

pytest_plugins = ["tests.mirrorlab"]

DATA = Path(__file__).parent / "data" / "containerd"
SYSTEM = ApplyOptions(scope="system")
HUB = "https://docker.1ms.run"
GHCR = "https://ghcr.m.daocloud.io"


def _profile(**registries: list[str]) -> Profile:
    table = RegistryMirrors(tuple((k.replace("_", "."), tuple(v)) for k, v in registries.items()))
    return Profile("test", "test", Path("test.toml"), "user", containerd=table, podman=table)


def _put(ctx: Context, system_path: str, content: str) -> Path:
    path = ctx.path(system_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def _apply(ctx: Context, plan: TargetPlan) -> str:
    changes = [c for c in plan.changes if c.changed]
    record = transaction.apply_changes(
        ctx,
        changes,
        journal=transaction.journal_dir(ctx, "system"),
        description="test",
        profile="test",
    )
    return record.id


def _changed_lines(old: str, new: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "config-default-1.6.toml",
            ['-      config_path = ""', '+      config_path = "/etc/containerd/certs.d"'],
        ),
        (
            "config-nvidia-ctk.toml",
            [
                "+",
                '+[plugins."io.containerd.grpc.v1.cri".registry]',
                '+  config_path = "/etc/containerd/certs.d"',
            ],
        ),
        (
            "config-2x-excerpt.toml",
            ["-      config_path = ''", '+      config_path = "/etc/containerd/certs.d"'],
        ),
    ],
)
def test_config_toml_changes_only_config_path_and_rolls_back(
    ctx: Context, fixture: str, expected: list[str]
) -> None:
    original = (DATA / fixture).read_text(encoding="utf-8")
    config = _put(ctx, containerd.CONFIG_TOML, original)
    plan = containerd.plan(ctx, _profile(docker_io=[HUB], ghcr_io=[GHCR]), SYSTEM)
    by_display = {c.display: c for c in plan.changes}
    change = by_display[containerd.CONFIG_TOML]
    assert change.new is not None
    assert _changed_lines(original, change.new.decode()) == expected
    hub = by_display["/etc/containerd/certs.d/docker.io/hosts.toml"].new
    assert hub is not None and b'[host."https://docker.1ms.run"]' in hub
    assert b'server = "https://registry-1.docker.io"' in hub
    ghcr = by_display["/etc/containerd/certs.d/ghcr.io/hosts.toml"].new
    assert ghcr is not None and b'server = "https://ghcr.io"' in ghcr
    assert any("systemctl restart containerd" in note for note in plan.notes)
    assert any("no restart needed" in note for note in plan.notes)
    apply_id = _apply(ctx, plan)
    again = containerd.plan(ctx, _profile(docker_io=[HUB], ghcr_io=[GHCR]), SYSTEM)
    assert again.changes == ()  # idempotent
    resolved = containerd.resolve(ctx)
    assert resolved is not None
    assert containerd.effective_mirrors(resolved) == {"docker.io": [HUB], "ghcr.io": [GHCR]}
    transaction.rollback(ctx, transaction.journal_dir(ctx, "system"), apply_id)
    assert config.read_text(encoding="utf-8") == original
    assert not ctx.path("/etc/containerd/certs.d/docker.io/hosts.toml").exists()


def test_no_config_toml_gets_a_version_2_file(ctx: Context) -> None:
    ctx.path("/etc/containerd").mkdir(parents=True)
    plan = containerd.plan(ctx, _profile(docker_io=[HUB]), SYSTEM)
    change = next(c for c in plan.changes if c.display == containerd.CONFIG_TOML)
    assert change.old is None and change.new == (
        b'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n'
        b'  config_path = "/etc/containerd/certs.d"\n'
    )


def test_in_an_image_every_file_is_named_where_it_is(ctx: Context) -> None:
    # --root: the plan, history and rollback name <root>/etc/..., never this machine's /etc.
    image = dataclasses.replace(ctx, image=True)
    image.path("/etc/containerd").mkdir(parents=True)
    _put(image, containerd.K3S_REGISTRIES, "mirrors: {}\n")
    plan = containerd.plan(image, _profile(docker_io=[HUB]), SYSTEM)
    shown = {change.display for change in plan.changes}
    assert f"{image.root}/etc/containerd/config.toml" in shown
    assert f"{image.root}/etc/rancher/k3s/registries.yaml" in shown
    assert all(name.startswith(str(image.root)) for name in shown), shown


def test_legacy_mirrors_stop_the_plan_and_are_reported(ctx: Context) -> None:
    _put(ctx, containerd.CONFIG_TOML, (DATA / "config-legacy-mirrors.toml").read_text())
    with pytest.raises(EnvdoctorError, match=r"deprecated .*registry\.mirrors.*docker\.io"):
        containerd.plan(ctx, _profile(docker_io=[HUB]), SYSTEM)
    config = containerd.resolve(ctx)
    assert config is not None
    checkup = Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    row = containerd.diagnose(ctx, {"containerd": config}, checkup)
    assert row is not None
    (finding,) = row.findings
    assert "deprecated" in finding.message and "registry.mirrors" in finding.message
    assert finding.remedy and "hosts.toml" in finding.remedy


def test_check_warns_when_the_cri_plugin_ignores_certs_d(ctx: Context) -> None:
    _put(ctx, containerd.CONFIG_TOML, (DATA / "config-default-1.6.toml").read_text())
    _put(
        ctx,
        "/etc/containerd/certs.d/docker.io/hosts.toml",
        f'server = "https://registry-1.docker.io"\n[host."{HUB}"]\n  capabilities = ["pull"]\n',
    )
    config = containerd.resolve(ctx)
    assert config is not None
    row = containerd.diagnose(
        ctx, {"containerd": config}, Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    )
    assert row is not None
    assert "docker.io -> https://docker.1ms.run" in row.summary
    assert any("config_path is not set" in f.message for f in row.findings)


def test_a_users_hosts_toml_keeps_its_hosts_after_the_mirrors(ctx: Context) -> None:
    ctx.path("/etc/containerd").mkdir(parents=True)
    own = (
        "# our registry cache\n"
        'server = "https://registry-1.docker.io"\n\n'
        '[host."https://cache.lab.example"]\n'
        '  capabilities = ["pull", "resolve"]\n'
        '  ca = "/etc/ssl/lab.pem"\n'
    )
    _put(ctx, "/etc/containerd/certs.d/docker.io/hosts.toml", own)
    plan = containerd.plan(ctx, _profile(docker_io=[HUB]), SYSTEM)
    change = next(c for c in plan.changes if c.display.endswith("hosts.toml"))
    assert change.new is not None
    text = change.new.decode()
    assert text.startswith("# our registry cache\n")
    assert text.index(HUB) < text.index("cache.lab.example") and 'ca = "/etc/ssl/lab.pem"' in text


def test_k3s_registries_yaml_keeps_comments(ctx: Context) -> None:
    _put(
        ctx,
        containerd.K3S_REGISTRIES,
        "# site registries\nmirrors:\n  # our own\n  lab.example:\n    endpoint:\n"
        '      - "https://lab.example"\nconfigs: {}\n',
    )
    plan = containerd.plan(ctx, _profile(docker_io=[HUB]), SYSTEM)
    (change,) = plan.changes
    assert change.new is not None
    text = change.new.decode()
    assert "# site registries" in text and "# our own" in text and "lab.example" in text
    assert f"docker.io:\n    endpoint:\n      - {HUB}" in text
    assert any("restart k3s" in note for note in plan.notes)


def test_global_removes_only_envdoctors_hosts_toml(ctx: Context) -> None:
    ctx.path("/etc/containerd").mkdir(parents=True)
    _apply(ctx, containerd.plan(ctx, _profile(docker_io=[HUB], ghcr_io=[GHCR]), SYSTEM))
    plan = containerd.plan(ctx, get_profile(ctx, "global"), SYSTEM)
    removed = sorted(c.display for c in plan.changes if c.new is None)
    assert removed == [
        "/etc/containerd/certs.d/docker.io/hosts.toml",
        "/etc/containerd/certs.d/ghcr.io/hosts.toml",
    ]


def test_dockerd_alone_is_told_which_registries_stay_unmirrored(ctx: Context) -> None:
    profile = get_profile(ctx, "cn-docker-proxies")
    plan = docker.plan(ctx, profile, SYSTEM)
    (note,) = [n for n in plan.notes if "unmirrored" in n]
    assert "ghcr.io, registry.k8s.io, quay.io, nvcr.io, gcr.io" in note
    assert "Docker Hub only" in note
    assert containerd.plan(ctx, profile, SYSTEM).skipped


# --- podman ------------------------------------------------------------------------


def test_podman_drop_in_copies_earlier_keys_and_rolls_back(ctx: Context) -> None:
    main = (
        "# Debian's file, trimmed\n"
        'unqualified-search-registries = ["quay.io", "docker.io"]\n\n'
        '[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\nblocked = false\n'
    )
    _put(ctx, podman.SYSTEM_FILE, main)
    plan = podman.plan(ctx, _profile(docker_io=[HUB, "http://10.0.0.1:5000"]), SYSTEM)
    (change,) = plan.changes
    assert change.display == "/etc/containers/registries.conf.d/90-envdoctor.conf"
    assert change.new is not None
    text = change.new.decode()
    assert 'prefix = "docker.io"' in text and "blocked = false" in text
    assert 'location = "docker.1ms.run"' in text
    assert 'location = "10.0.0.1:5000"\ninsecure = true' in text
    apply_id = _apply(ctx, plan)
    assert podman.plan(ctx, _profile(docker_io=[HUB, "http://10.0.0.1:5000"]), SYSTEM).changes == ()
    config = podman.resolve(ctx)
    assert config is not None
    assert podman.mirrors(config) == [HUB, "http://10.0.0.1:5000"]
    row = podman.diagnose(
        ctx, {"podman": config}, Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    )
    assert row is not None
    assert any("puts quay.io first" in f.message for f in row.findings)
    transaction.rollback(ctx, transaction.journal_dir(ctx, "system"), apply_id)
    assert not ctx.path("/etc/containers/registries.conf.d/90-envdoctor.conf").exists()
    assert ctx.path(podman.SYSTEM_FILE).read_text() == main


def test_podman_user_file_replaces_the_system_files(ctx: Context) -> None:
    _put(
        ctx,
        podman.SYSTEM_FILE,
        '[[registry]]\nprefix = "docker.io"\n[[registry.mirror]]\nlocation = "sys.example"\n',
    )
    _put(ctx, podman.SYSTEM_DIR + "/50-site.conf", '[aliases]\npython = "quay.io/evil/python"\n')
    config = podman.resolve(ctx)
    assert config is not None and podman.mirrors(config) == ["https://sys.example"]
    row = podman.diagnose(
        ctx, {"podman": config}, Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    )
    assert row is not None and any(
        "alias python = quay.io/evil/python" in f.message for f in row.findings
    )
    user = ctx.xdg_config_home / "containers" / "registries.conf"
    user.parent.mkdir(parents=True)
    user.write_text('unqualified-search-registries = ["docker.io"]\n')
    config = podman.resolve(ctx)
    assert config is not None and podman.mirrors(config) == []  # system file and drop-ins unread
    plan = podman.plan(ctx, _profile(docker_io=[HUB]), SYSTEM)
    assert any("replaces the system files" in note for note in plan.notes)


def test_podman_names_the_line_of_a_registries_conf_toml_refuses(ctx: Context) -> None:
    """registries.conf is read by tomllib (TOML 1.0, as containers/image's BurntSushi/toml):
    a duplicate key, which tomlkit let through, is a problem naming its line."""
    _put(ctx, podman.SYSTEM_FILE, '[[registry]]\nprefix = "a.example"\nprefix = "b.example"\n')
    config = podman.resolve(ctx)
    assert config is not None
    [problem] = [p for p in config.problems if "invalid TOML" in p.message]
    assert problem.line == 3 and "podman refuses to run" in problem.message
    assert podman.mirrors(config) == []
    import shutil
    import subprocess

    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed: the real parser's verdict is not checked")
    refused = subprocess.run(  # fails on the file, before any network
        ["skopeo", "--registries-conf", str(ctx.path(podman.SYSTEM_FILE)), "inspect",
         "--retry-times", "0", "docker://a.example/x"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "toml: line 3" in refused.stderr, refused.stderr


V1_MAIN = (
    '[registries.search]\nregistries = ["127.0.0.1:5000", "docker.io"]\n'
    '[registries.insecure]\nregistries = ["127.0.0.1:5000"]\n'
)


def test_podman_reads_a_v1_main_file_and_refuses_only_a_v1_drop_in(ctx: Context) -> None:
    # containers/image converts a v1 main file; only a drop-in must be v2 ("registry must
    # be in v2 format but is in v1"), and one file must not mix the two.
    _put(ctx, podman.SYSTEM_FILE, V1_MAIN)
    config = podman.resolve(ctx)
    assert config is not None and config.problems == []
    assert config.value("unqualified-search-registries") == ("127.0.0.1:5000", "docker.io")
    plan = podman.plan(ctx, _profile(docker_io=[HUB]), SYSTEM)
    assert [change.display for change in plan.changes] == [
        f"/etc/containers/registries.conf.d/{podman.DROP_IN}"
    ]
    _put(ctx, "/etc/containers/registries.conf.d/50-old.conf", V1_MAIN)
    with pytest.raises(EnvdoctorError, match="is a drop-in in the v1"):
        podman.plan(ctx, _profile(docker_io=[HUB]), SYSTEM)
    _put(ctx, "/etc/containers/registries.conf.d/50-old.conf", f"{V1_MAIN}[[registry]]\n")
    config = podman.resolve(ctx)
    assert config is not None
    assert any("mixes the v1" in problem.message for problem in config.problems)


def test_podman_itself_takes_a_v1_main_file_beside_the_drop_in(ctx: Context) -> None:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: its verdict on the files is not checked")
    main = _put(ctx, podman.SYSTEM_FILE, V1_MAIN)  # podman is pointed at it below
    plan = podman.plan(ctx, _profile(docker_io=[HUB]), ApplyOptions(scope="user"))
    assert plan.changed
    _apply(ctx, plan)
    storage = Path(tempfile.mkdtemp(prefix="edp"))  # podman wants a runroot under 50 chars
    try:
        info = subprocess.run(
            ["podman", "--root", str(storage / "r"), "--runroot", str(storage / "rr"),
             "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend",
             "none", "info", "--format", "{{json .Registries}}"],
            capture_output=True, text=True, timeout=60, check=False,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(ctx.home),
                 "XDG_CONFIG_HOME": str(ctx.xdg_config_home),
                 "CONTAINERS_REGISTRIES_CONF": str(main)},
        )  # fmt: skip
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    assert info.returncode == 0, info.stderr
    registries = json.loads(info.stdout)
    assert registries["search"] == ["127.0.0.1:5000", "docker.io"]
    assert [m["Location"] for m in registries["docker.io"]["Mirrors"]] == ["docker.1ms.run"]
    config = podman.resolve(
        dataclasses.replace(ctx, env={**ctx.env, "CONTAINERS_REGISTRIES_CONF": str(main)})
    )
    assert config is not None
    assert config.value("unqualified-search-registries") == tuple(registries["search"])


def _fake_containerd_process(ctx: Context, started_at: float, pid: int = 4242) -> None:
    """A /proc under the test root with one containerd that started at ``started_at``."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    boot = int(started_at) - 1000
    _put(ctx, "/proc/stat", f"cpu  1 2 3 4\nbtime {boot}\n")
    start_ticks = int((started_at - boot) * ticks)
    fields = ["S", *["0"] * 18, str(start_ticks), "0"]  # field 22 of stat is the start time
    _put(ctx, f"/proc/{pid}/stat", f"{pid} (containerd) {' '.join(fields)}\n")
    ctx.path(f"/proc/{pid}/cmdline").write_bytes(b"/usr/bin/containerd\0--config\0x\0")


@pytest.mark.parametrize("edited_after_start", [True, False])
def test_a_containerd_started_before_the_config_edit_needs_a_restart(
    ctx: Context, edited_after_start: bool
) -> None:
    import os

    toml = _put(ctx, containerd.CONFIG_TOML, (DATA / "config-default-1.6.toml").read_text())
    changed = toml.stat().st_mtime
    _fake_containerd_process(ctx, changed - 60 if edited_after_start else changed + 60)
    os.utime(toml, (changed, changed))
    config = containerd.resolve(ctx)
    assert config is not None
    row = containerd.diagnose(
        ctx, {"containerd": config}, Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    )
    assert row is not None
    stale = [f.message for f in row.findings if "pid 4242" in f.message]
    words = containerd.reload(ctx)
    if edited_after_start:
        assert stale, [f.message for f in row.findings]
        assert words.startswith(
            "containerd (pid 4242) reads /etc/containerd/config.toml only when it starts"
        )
        assert containerd.RESTART in words
    else:
        assert stale == []
        assert words == "containerd reads hosts.toml at every pull: nothing to reload"


def test_podman_mirror_with_a_path_is_a_namespace_before_the_repository(
    ctx: Context, mirror_lab: MirrorLab
) -> None:
    # podman 4.3 with location = "127.0.0.1:5000/sub" asks for
    # 127.0.0.1:5000/sub/library/busybox:latest (its --log-level=debug says so): a Harbor
    # proxy-cache project.  envdoctor kept only the host and measured the wrong repository.
    base = mirror_lab.add("harbor", registry=Registry(repos=("proxy/library/busybox",)))
    hostport = base.removeprefix("https://")
    _put(
        ctx,
        "/etc/containers/registries.conf",
        f'[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n'
        f'[[registry.mirror]]\nlocation = "{hostport}/proxy/"\n',
    )
    config = podman.resolve(ctx)
    assert config is not None
    assert podman.mirrors(config) == [f"{base}/proxy"]
    path = podman.pull_path(f"{base}/proxy")
    assert path.probe_url == f"{base}/v2/" and path.base_url == f"{base}/proxy"
    (namespaced, hosted) = measure_all(
        [path, podman.pull_path(base)], env=mirror_lab.env, samples=1
    )
    assert namespaced.healthy, namespaced.reason
    assert "proxy/library/busybox:latest" in (namespaced.pull_file or "")
    assert not hosted.healthy and hosted.status_code == 404


def test_podman_prefix_of_a_docker_hub_alias_is_not_docker_io(ctx: Context) -> None:
    # podman pulls docker.io/library/busybox from Docker Hub itself when the mirror's
    # [[registry]] says prefix = "registry-1.docker.io" (its --log-level=debug shows
    # no mirror tried): containers/image matches prefixes as written.
    _put(
        ctx,
        podman.SYSTEM_FILE,
        '[[registry]]\nprefix = "registry-1.docker.io"\nlocation = "registry-1.docker.io"\n'
        '[[registry.mirror]]\nlocation = "docker.1ms.run"\n',
    )
    config = podman.resolve(ctx)
    assert config is not None
    assert "mirrors.docker.io" not in config.settings
    assert config.value("mirrors.registry-1.docker.io") == ("https://docker.1ms.run",)
    (problem,) = config.problems
    assert 'write prefix = "docker.io"' in problem.message


def _containerd_config_path(config: Path) -> str | None:
    """The CRI ``config_path`` the real containerd takes from ``config`` and its imports
    (``containerd config dump``); None when containerd is not installed."""
    program = shutil.which("containerd")
    if program is None:
        return None
    dump = subprocess.run(
        [program, "-c", str(config), "config", "dump"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=config.parent,
    ).stdout
    return next(
        line.split("=", 1)[1].strip().strip('"')
        for line in dump.splitlines()
        if line.strip().startswith("config_path")
    )


@pytest.mark.parametrize("imports", ['["conf.d/10-cri.toml"]', '["/etc/containerd/conf.d/*"]'])
def test_an_imported_cri_section_is_the_one_that_gets_config_path(
    ctx: Context, imports: str
) -> None:
    # config.toml imports a file with its own CRI section (an nvidia-ctk or cloud image
    # drop-in): containerd replaces config.toml's whole section with it, so a config_path
    # set in config.toml is never read and the hosts.toml files were ignored.
    main_text = (
        f"version = 2\nimports = {imports}\n\n"
        '[plugins."io.containerd.grpc.v1.cri".registry]\n'
        '  config_path = "/etc/containerd/certs.d"\n'
    )
    main = _put(ctx, containerd.CONFIG_TOML, main_text)
    dropin = _put(
        ctx,
        "/etc/containerd/conf.d/10-cri.toml",
        'version = 2\n\n[plugins."io.containerd.grpc.v1.cri"]\n  enable_cdi = true\n',
    )
    _put(
        ctx,
        "/etc/containerd/certs.d/ghcr.io/hosts.toml",
        f'server = "https://ghcr.io"\n[host."{GHCR}"]\n  capabilities = ["pull"]\n',
    )
    judged = imports.startswith('["conf.d')  # the host's /etc is not the test's
    if judged:
        assert _containerd_config_path(main) in (None, "")
    resolved = containerd.resolve(ctx)
    assert resolved is not None
    assert resolved.value("config_path") == ""
    assert str(dropin) in resolved.files_read
    row = containerd.diagnose(
        ctx, {"containerd": resolved}, Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    )
    assert row is not None and any("config_path is not set" in f.message for f in row.findings)

    plan = containerd.plan(ctx, _profile(docker_io=[HUB]), SYSTEM)
    by_display = {c.display: c for c in plan.changes}
    assert containerd.CONFIG_TOML not in by_display
    edit = by_display["/etc/containerd/conf.d/10-cri.toml"]
    assert edit.new is not None and b'config_path = "/etc/containerd/certs.d"' in edit.new
    assert "/etc/containerd/certs.d/docker.io/hosts.toml" in by_display
    assert any("replaces /etc/containerd/config.toml's" in note for note in plan.notes)
    _apply(ctx, plan)
    assert main.read_text() == main_text
    if judged:
        assert _containerd_config_path(main) in (None, "/etc/containerd/certs.d")
    assert containerd.plan(ctx, _profile(docker_io=[HUB]), SYSTEM).changes == ()
    resolved = containerd.resolve(ctx)
    assert resolved is not None
    assert resolved.settings["config_path"].source.location == str(dropin)
    assert containerd.effective_mirrors(resolved) == {"docker.io": [HUB], "ghcr.io": [GHCR]}


def test_skopeo_is_said_to_ignore_containers_registries_conf(ctx: Context) -> None:
    # skopeo 1.9.3 here loads /etc/containers/registries.conf with the variable set
    # (`skopeo --debug inspect`); podman reads the file it names.
    named = _put(ctx, "/srv/registries.conf", 'unqualified-search-registries = ["docker.io"]\n')
    env = {**ctx.env, "CONTAINERS_REGISTRIES_CONF": str(named), "PATH": "/usr/bin"}
    ctx = dataclasses.replace(ctx, env=env)
    _put(ctx, podman.SYSTEM_FILE, 'unqualified-search-registries = ["docker.io"]\n')

    def findings() -> list[str]:
        config = podman.resolve(ctx)
        assert config is not None
        checkup = Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
        row = podman.diagnose(ctx, {"podman": config}, checkup)
        assert row is not None
        return [f"{f.message} / {f.remedy}" for f in row.findings]

    assert not any("skopeo" in text for text in findings())  # podman alone: nothing to say
    _put(ctx, "/usr/bin/skopeo", "#!/bin/sh\n").chmod(0o755)
    (text,) = [text for text in findings() if "skopeo" in text]
    assert f"CONTAINERS_REGISTRIES_CONF={named} is podman's main file" in text
    assert f"skopeo --registries-conf {named}" in text


def _containerd_program(ctx: Context, script: str) -> Context:
    """``ctx`` with a ``containerd`` on its PATH that runs the shell ``script``."""
    _put(ctx, "/usr/bin/containerd", f"#!/bin/sh\n{script}\n").chmod(0o755)
    return dataclasses.replace(ctx, env={**ctx.env, "PATH": "/usr/bin"})


@pytest.mark.parametrize(("version", "edits_config"), [("v2.1.4", True), ("v2.2.0", False)])
def test_containerd_2_2_reads_certs_d_with_config_path_unset(
    ctx: Context, version: str, edits_config: bool
) -> None:
    # containerd 2.2 defaults config_path to /etc/containerd/certs.d:/etc/docker/certs.d
    # (DefaultImageConfig): there the check warned of a setting that is not missing, and
    # the plan set config_path, dropping /etc/docker/certs.d.
    ctx = _containerd_program(
        ctx, f"echo 'containerd github.com/containerd/containerd/v2 {version} 1c4457e'"
    )
    _put(ctx, containerd.CONFIG_TOML, "version = 3\n")
    _put(
        ctx,
        "/etc/containerd/certs.d/ghcr.io/hosts.toml",
        f'server = "https://ghcr.io"\n[host."{GHCR}"]\n  capabilities = ["pull"]\n',
    )
    assert containerd.installed_version(ctx) == tuple(int(p) for p in version[1:].split("."))
    resolved = containerd.resolve(ctx)
    assert resolved is not None
    row = containerd.diagnose(
        ctx, {"containerd": resolved}, Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    )
    assert row is not None
    warned = any("config_path is not set" in f.message for f in row.findings)
    plan = containerd.plan(ctx, _profile(docker_io=[HUB]), SYSTEM)
    shown = {change.display for change in plan.changes}
    assert "/etc/containerd/certs.d/docker.io/hosts.toml" in shown
    assert (containerd.CONFIG_TOML in shown) is edits_config
    assert warned is edits_config
    if not edits_config:
        setting = resolved.settings["config_path"]
        assert setting.value == "/etc/containerd/certs.d:/etc/docker/certs.d"
        assert setting.source.location == "containerd 2.2.0"


def test_a_missing_import_is_a_problem_as_containerd_refuses_to_start(ctx: Context) -> None:
    # containerd 1.6.20: "failed to load TOML: ...: no such file or directory".
    _put(ctx, containerd.CONFIG_TOML, 'version = 2\nimports = ["/etc/containerd/gone.toml"]\n')
    resolved = containerd.resolve(ctx)
    assert resolved is not None
    (problem,) = [p for p in resolved.problems if "gone.toml" in p.path]
    assert "imported but does not exist: containerd refuses to start" in problem.message


def test_an_imported_file_changed_after_containerd_started_needs_a_restart(ctx: Context) -> None:
    import os

    main = _put(ctx, containerd.CONFIG_TOML, 'version = 2\nimports = ["conf.d/*.toml"]\n')
    dropin = _put(ctx, "/etc/containerd/conf.d/10-cri.toml", "version = 2\n")
    started = main.stat().st_mtime
    _fake_containerd_process(ctx, started + 30)
    os.utime(main, (started, started))
    os.utime(dropin, (started + 60, started + 60))  # apply edited it after the start
    config = containerd.resolve(ctx)
    assert config is not None
    row = containerd.diagnose(
        ctx, {"containerd": config}, Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    )
    assert row is not None
    assert any(
        "started before /etc/containerd/conf.d/10-cri.toml was last changed" in f.message
        for f in row.findings
    )
    assert containerd.reload(ctx).startswith(
        "containerd (pid 4242) reads /etc/containerd/conf.d/10-cri.toml only when it starts"
    )


def test_an_import_without_a_cri_section_leaves_config_toml_s_config_path(ctx: Context) -> None:
    main = _put(
        ctx,
        containerd.CONFIG_TOML,
        'version = 2\nimports = ["conf.d/10-gc.toml"]\n\n'
        '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/srv/certs"\n',
    )
    _put(
        ctx,
        "/etc/containerd/conf.d/10-gc.toml",
        'version = 2\n\n[plugins."io.containerd.gc.v1.scheduler"]\n  pause_threshold = 0.03\n',
    )
    assert _containerd_config_path(main) in (None, "/srv/certs")
    resolved = containerd.resolve(ctx)
    assert resolved is not None and resolved.value("config_path") == "/srv/certs"
    plan = containerd.plan(ctx, _profile(docker_io=[HUB]), SYSTEM)
    assert {c.display for c in plan.changes} == {"/srv/certs/docker.io/hosts.toml"}


def test_import_patterns_expand_as_go_s_glob_does(ctx: Context) -> None:
    # Go's filepath.Glob: "**" is "*" (Python's glob refused it: an internal error), and
    # names are ordered one directory at a time (a/ before a.b/; whole paths sort a.b/
    # first). containerd 1.6.20's config dump takes the last one's CRI section: a.b's.
    for name in ("a", "a.b"):
        _put(
            ctx,
            f"/etc/containerd/conf.d/{name}/c.toml",
            f'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n'
            f'  config_path = "/from/{name}"\n',
        )
    _put(ctx, "/etc/containerd/conf.d/.hidden.toml", "version = 2\n")
    assert containerd.go_glob(ctx, "/etc/containerd/conf.d/*/c.toml") == [
        "/etc/containerd/conf.d/a/c.toml",
        "/etc/containerd/conf.d/a.b/c.toml",
    ]
    assert containerd.go_glob(ctx, "/etc/containerd/conf.d/**.toml") == [
        "/etc/containerd/conf.d/.hidden.toml"
    ]
    assert containerd.go_glob(ctx, "/etc/containerd/conf.d/[^.]*") == [
        "/etc/containerd/conf.d/a",
        "/etc/containerd/conf.d/a.b",
    ]
    main = _put(ctx, containerd.CONFIG_TOML, 'version = 2\nimports = ["conf.d/*/c.toml"]\n')
    assert _containerd_config_path(main) in (None, "/from/a.b")
    resolved = containerd.resolve(ctx)
    assert resolved is not None and resolved.value("config_path") == "/from/a.b"


def test_containerd_version_is_asked_once_per_program(ctx: Context) -> None:
    # A check and its plan ask it several times; one that hangs cost each its timeout.
    calls = ctx.path("/calls")
    ctx = _containerd_program(
        ctx, f"echo x >> {calls}\necho 'containerd containerd.io 1.7.27 05044ec'"
    )
    assert containerd.installed_version(ctx) == (1, 7, 27)
    assert containerd.installed_version(ctx) == (1, 7, 27)
    assert calls.read_text() == "x\n"
