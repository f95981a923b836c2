from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile, get_profile
from envdoctor.results import TargetPlan
from envdoctor.tools import sysctl
from envdoctor.tools.sysctl import SysctlSettings

SYSTEM = ApplyOptions(scope="system")
ROOT = Path(__file__).resolve().parents[2]

EXPECTED_CONF = (
    b"# Managed by envdoctor (profile cn-tsinghua): the whole file is\n"
    b"# rewritten by `envdoctor apply`; change the profile, not this file.\n"
    b"net.core.default_qdisc = fq\n"
    b"net.ipv4.tcp_congestion_control = bbr\n"
)
EXPECTED_MODULES = (
    b"# Managed by envdoctor (profile cn-tsinghua): load tcp_bbr at boot\n"
    b"# so net.ipv4.tcp_congestion_control can be set early.\n"
    b"tcp_bbr\n"
)


def make_profile(values: dict[str, str], name: str = "test") -> Profile:
    return Profile(
        name=name,
        description="",
        source=Path(f"{name}.toml"),
        origin="user",
        sysctl=SysctlSettings(values),
    )


def fake_kernel(ctx: Context, available: str = "reno cubic bbr") -> None:
    """A /proc/sys under the test root with the congestion controls the kernel offers."""
    ipv4 = ctx.path("/proc/sys/net/ipv4")
    ipv4.mkdir(parents=True, exist_ok=True)
    (ipv4 / "tcp_available_congestion_control").write_text(available + "\n")
    (ipv4 / "tcp_congestion_control").write_text("cubic\n")
    core = ctx.path("/proc/sys/net/core")
    core.mkdir(parents=True, exist_ok=True)
    (core / "default_qdisc").write_text("fq_codel\n")


def write(plan: TargetPlan) -> None:
    """What the engine does with a plan, minus backups: enough for these tests."""
    for change in plan.changes:
        if change.new is None:
            change.path.unlink(missing_ok=True)
        else:
            change.path.parent.mkdir(parents=True, exist_ok=True)
            change.path.write_bytes(change.new)


def by_display(plan: TargetPlan) -> dict[str, bytes | None]:
    return {change.display: change.new for change in plan.changes}


# --- content ---------------------------------------------------------------------------


def test_files_are_exact_for_a_shipped_profile(ctx: Context) -> None:
    fake_kernel(ctx)
    plan = sysctl.plan(ctx, get_profile(ctx, "cn-tsinghua"), SYSTEM)

    assert plan.skipped is None
    assert by_display(plan) == {
        "/etc/sysctl.d/99-envdoctor.conf": EXPECTED_CONF,
        "/etc/modules-load.d/envdoctor.conf": EXPECTED_MODULES,
    }
    assert all(change.old is None and change.mode == 0o644 for change in plan.changes)
    assert plan.changes[0].path == ctx.path("/etc/sysctl.d/99-envdoctor.conf")
    assert any("sysctl --system" in note for note in plan.notes)


def test_second_plan_changes_nothing(ctx: Context) -> None:
    fake_kernel(ctx)
    profile = get_profile(ctx, "cn-tsinghua")
    write(sysctl.plan(ctx, profile, SYSTEM))

    again = sysctl.plan(ctx, profile, SYSTEM)

    assert not again.changed
    assert [c.old for c in again.changes] == [EXPECTED_CONF, EXPECTED_MODULES]
    assert not any("sysctl --system" in note for note in again.notes)


def test_whole_file_is_rewritten_and_module_file_removed(ctx: Context) -> None:
    fake_kernel(ctx)
    conf = ctx.path("/etc/sysctl.d/99-envdoctor.conf")
    conf.parent.mkdir(parents=True)
    conf.write_bytes(b"# hand edit\nnet.core.somaxconn = 1\n")
    modules = ctx.path("/etc/modules-load.d/envdoctor.conf")
    modules.parent.mkdir(parents=True)
    modules.write_bytes(b"tcp_bbr\n")

    plan = sysctl.plan(ctx, make_profile({"net.ipv4.tcp_congestion_control": "reno"}), SYSTEM)

    assert by_display(plan) == {
        "/etc/sysctl.d/99-envdoctor.conf": (
            b"# Managed by envdoctor (profile test): the whole file is\n"
            b"# rewritten by `envdoctor apply`; change the profile, not this file.\n"
            b"net.ipv4.tcp_congestion_control = reno\n"
        ),
        "/etc/modules-load.d/envdoctor.conf": None,  # reno is built in: nothing to load
    }


def test_no_module_file_without_congestion_control(ctx: Context) -> None:
    plan = sysctl.plan(ctx, make_profile({"net.core.somaxconn": "4096"}), SYSTEM)

    assert [c.display for c in plan.changes] == ["/etc/sysctl.d/99-envdoctor.conf"]
    assert plan.changes[0].new is not None
    assert plan.changes[0].new.endswith(b"\nnet.core.somaxconn = 4096\n")


def test_profile_without_sysctl_is_skipped(ctx: Context) -> None:
    profile = Profile(name="x", description="", source=Path("x.toml"), origin="user")
    plan = sysctl.plan(ctx, profile, SYSTEM)
    assert plan.skipped == "the profile does not set sysctl"
    assert plan.changes == ()


@pytest.mark.parametrize(
    "values",
    [
        {"net.core.somaxconn": "1\nkernel.panic = 1"},
        {"net.core.somaxconn": "  "},
        {"net.core.somaxconn = 1 #": "1"},
    ],
)
def test_values_that_would_break_the_file_are_refused(ctx: Context, values: dict[str, str]) -> None:
    with pytest.raises(EnvdoctorError, match=r"99-envdoctor\.conf"):
        sysctl.plan(ctx, make_profile(values), SYSTEM)


# --- skips -----------------------------------------------------------------------------


def test_user_scope_is_skipped_with_a_command_that_writes_the_same_files(
    ctx: Context, tmp_path: Path
) -> None:
    fake_kernel(ctx)
    profile = get_profile(ctx, "cn-tsinghua")

    plan = sysctl.plan(ctx, profile, ApplyOptions(scope="user"))

    assert plan.changes == ()
    assert plan.skipped is not None and "--scope system" in plan.skipped
    (note,) = plan.notes
    command = note.removeprefix("a host administrator can run: ")
    assert command == sysctl.host_command(profile)
    # Run it with tee pointed into the test tree and no sysctl: the files must match.
    out = tmp_path / "out"
    out.mkdir()
    runnable = (
        command.replace("sudo tee /etc/sysctl.d/99-envdoctor.conf", f"tee {out}/conf")
        .replace("sudo tee /etc/modules-load.d/envdoctor.conf", f"tee {out}/modules")
        .replace("sudo sysctl --system", "true")
    )
    assert "sudo" not in runnable
    subprocess.run(["sh", "-c", runnable], check=True, timeout=10)
    assert (out / "conf").read_bytes() == EXPECTED_CONF
    assert (out / "modules").read_bytes() == EXPECTED_MODULES


def test_container_is_skipped(ctx: Context) -> None:
    fake_kernel(ctx)
    ctx.path("/.dockerenv").touch()

    plan = sysctl.plan(ctx, get_profile(ctx, "cn-tsinghua"), SYSTEM)

    assert plan.changes == ()
    assert plan.skipped is not None and "container (docker)" in plan.skipped
    assert "sudo sysctl --system" in plan.notes[0]


def test_read_only_proc_sys_is_skipped(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_kernel(ctx)
    proc_sys = ctx.path("/proc/sys")
    real_statvfs = os.statvfs

    def statvfs(path: str | os.PathLike[str]) -> object:
        if Path(path) == proc_sys:
            return SimpleNamespace(f_flag=os.ST_RDONLY | os.ST_NOSUID)
        return real_statvfs(path)

    monkeypatch.setattr(os, "statvfs", statvfs)

    plan = sysctl.plan(ctx, get_profile(ctx, "cn-tsinghua"), SYSTEM)

    assert plan.skipped is not None and "read-only" in plan.skipped
    assert plan.changes == ()


def test_without_root_on_the_real_root_is_skipped(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing on the real machine is read: these three checks come first and are faked.
    monkeypatch.setattr(sysctl, "detect_container", lambda _ctx: None)
    monkeypatch.setattr(sysctl, "proc_sys_writable", lambda _ctx: True)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    real_root = Context(root=Path("/"), home=ctx.home, env=ctx.env, cwd=ctx.cwd)

    plan = sysctl.plan(real_root, make_profile({"net.core.somaxconn": "4096"}), SYSTEM)

    assert plan.skipped is not None and "needs root" in plan.skipped
    assert plan.changes == ()
    assert "net.core.somaxconn = 4096" in plan.notes[0]


def test_bbr_unavailable_is_skipped(ctx: Context) -> None:
    fake_kernel(ctx, available="reno cubic")

    plan = sysctl.plan(ctx, get_profile(ctx, "cn-tsinghua"), SYSTEM)

    assert plan.changes == ()
    assert plan.skipped == (
        "the kernel has no bbr congestion control (available: reno cubic; no tcp_bbr module found)"
    )


@pytest.mark.parametrize("kind", ["module", "builtin"])
def test_bbr_module_not_loaded_yet_counts_as_available(ctx: Context, kind: str) -> None:
    fake_kernel(ctx, available="reno cubic")
    kernel = ctx.path("/lib/modules/6.8.0-40-generic")
    if kind == "module":
        (kernel / "kernel/net/ipv4").mkdir(parents=True)
        (kernel / "kernel/net/ipv4/tcp_bbr.ko.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    else:
        kernel.mkdir(parents=True)
        (kernel / "modules.builtin").write_text(
            "kernel/net/ipv4/tcp_cubic.ko\nkernel/net/ipv4/tcp_bbr.ko\n"
        )

    plan = sysctl.plan(ctx, get_profile(ctx, "cn-tsinghua"), SYSTEM)

    assert plan.skipped is None
    assert by_display(plan)["/etc/modules-load.d/envdoctor.conf"] == EXPECTED_MODULES


# --- what overrides the file -------------------------------------------------------------


def test_overrides_follow_the_sysctl_d_order(ctx: Context) -> None:
    fake_kernel(ctx)
    etc, usr = ctx.path("/etc/sysctl.d"), ctx.path("/usr/lib/sysctl.d")
    etc.mkdir(parents=True)
    usr.mkdir(parents=True)
    # Earlier name: ours wins over systemd's fq_codel.
    (usr / "50-default.conf").write_text("net.core.default_qdisc = fq_codel\n")
    # Later name, slash syntax, different value: wins over ours.
    (usr / "zz-net.conf").write_text("# tuned\n-net/core/default_qdisc=pfifo_fast\n")
    # Later name but shadowed by /etc's file of the same name, which does not set it.
    (usr / "zz-shadowed.conf").write_text("net.ipv4.tcp_congestion_control = cubic\n")
    (etc / "zz-shadowed.conf").write_text("kernel.sysrq = 1\n")
    # Later name, same value: harmless.
    (etc / "zz-same.conf").write_text("net.ipv4.tcp_congestion_control=bbr\n")
    # Debian's link to /etc/sysctl.conf, which procps also applies last: one note only.
    ctx.path("/etc/sysctl.conf").write_text(
        "; comment\n\nnet.ipv4.tcp_congestion_control = cubic\n"
    )
    (etc / "99-sysctl.conf").symlink_to("../sysctl.conf")

    plan = sysctl.plan(ctx, get_profile(ctx, "cn-tsinghua"), SYSTEM)

    overrides = [note for note in plan.notes if "wins" in note]
    assert overrides == [
        "/etc/sysctl.d/99-sysctl.conf (a link to /etc/sysctl.conf) line 3 sets "
        "net.ipv4.tcp_congestion_control = cubic and wins (it is read after ours): "
        "remove that line to keep bbr",
        "/usr/lib/sysctl.d/zz-net.conf line 2 sets net.core.default_qdisc = pfifo_fast and "
        "wins (it is read after ours): remove that line to keep fq",
    ]


def test_sysctl_conf_alone_is_reported(ctx: Context) -> None:
    fake_kernel(ctx)
    ctx.path("/etc").mkdir(exist_ok=True)
    ctx.path("/etc/sysctl.conf").write_text("net.core.default_qdisc=fq_codel\n")

    plan = sysctl.plan(ctx, get_profile(ctx, "cn-tsinghua"), SYSTEM)

    assert [n for n in plan.notes if "wins" in n] == [
        "/etc/sysctl.conf line 1 sets net.core.default_qdisc = fq_codel and wins "
        "(procps applies it last): remove that line to keep fq"
    ]


def test_a_glob_key_still_wins_among_many_plain_ones(ctx: Context) -> None:
    """Plain keys are compared as they are (fnmatch compiled one pattern per line of a
    1 MiB file); a key with a glob is still matched as systemd-sysctl matches it."""
    fake_kernel(ctx)
    ctx.path("/etc").mkdir(exist_ok=True)
    lines = [f"net.ipv4.conf.eth{i}.rp_filter = 1\n" for i in range(5000)]
    lines += ["net.core.default_qdisc = fq_codel\n", "net.ipv4.tcp_congestion_*=cubic\n"]
    ctx.path("/etc/sysctl.conf").write_text("".join(lines))

    plan = sysctl.plan(ctx, get_profile(ctx, "cn-tsinghua"), SYSTEM)

    assert [n.split(" and wins")[0] for n in plan.notes if "wins" in n] == [
        "/etc/sysctl.conf line 5001 sets net.core.default_qdisc = fq_codel",
        "/etc/sysctl.conf line 5002 sets net.ipv4.tcp_congestion_control = cubic",
    ]


# --- --now ---------------------------------------------------------------------------------


def test_apply_now_writes_proc_sys_and_reports_failures(ctx: Context) -> None:
    fake_kernel(ctx)

    done = sysctl.apply_now(
        ctx,
        {
            "net.ipv4.tcp_congestion_control": "bbr",
            "net.core.default_qdisc": "fq",
            "net.ipv4.tcp_rmem": "4096 131072 6291456",
            "net.ipv4.tcp_nonexistent": "1",
        },
    )

    assert ctx.path("/proc/sys/net/ipv4/tcp_congestion_control").read_text() == "bbr\n"
    assert ctx.path("/proc/sys/net/core/default_qdisc").read_text() == "fq\n"
    assert done[:2] == [
        "set net.core.default_qdisc = fq",
        "set net.ipv4.tcp_congestion_control = bbr",
    ]
    assert done[2].startswith("could not set net.ipv4.tcp_nonexistent = 1: ")
    assert done[3].startswith("could not set net.ipv4.tcp_rmem = 4096 131072 6291456: ")


# --- the real kernel, in a private network namespace ----------------------------------------


def _unshare_prefix() -> list[str]:
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    for prefix in (["unshare", "-n"], ["unshare", "-r", "-n"]):
        try:
            ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return prefix
    pytest.skip("creating a network namespace is not permitted here (unshare -n, unshare -rn)")


def _congestion_to_test() -> str:
    try:
        available = Path("/proc/sys/net/ipv4/tcp_available_congestion_control").read_text().split()
    except OSError:
        pytest.skip("this kernel exposes no tcp_available_congestion_control")
    # bbr when the kernel has it; otherwise cubic still proves that the file applies.
    for name in ("bbr", "cubic"):
        if name in available:
            return name
    pytest.skip(f"neither bbr nor cubic is available (available: {' '.join(available)})")


def test_written_file_applies_with_sysctl_p_in_a_private_network_namespace(ctx: Context) -> None:
    prefix = _unshare_prefix()
    sysctl_bin = shutil.which("sysctl") or next(
        (p for p in ("/usr/sbin/sysctl", "/sbin/sysctl") if Path(p).exists()), None
    )
    if sysctl_bin is None:
        pytest.skip("sysctl(8) (procps) is not installed")
    congestion = _congestion_to_test()
    fake_kernel(ctx)
    # Only per-namespace keys: default_qdisc would belong to the host's namespace.
    profile = make_profile({"net.ipv4.tcp_congestion_control": congestion})
    plan = sysctl.plan(ctx, profile, SYSTEM)
    write(plan)
    conf = ctx.path("/etc/sysctl.d/99-envdoctor.conf")

    # Start the namespace on reno so the file must be what changes it.
    script = (
        "echo reno > /proc/sys/net/ipv4/tcp_congestion_control && "
        f'{sysctl_bin} -p "$1" && cat /proc/sys/net/ipv4/tcp_congestion_control'
    )
    result = subprocess.run(
        [*prefix, "sh", "-c", script, "sh", str(conf)],
        capture_output=True,
        text=True,
        timeout=20,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"net.ipv4.tcp_congestion_control = {congestion}",
        congestion,
    ]


def test_apply_now_sets_the_real_kernel_in_a_private_network_namespace(tmp_path: Path) -> None:
    prefix = _unshare_prefix()
    congestion = _congestion_to_test()
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from envdoctor.context import Context\n"
        "from envdoctor.tools.sysctl import apply_now\n"
        "Path('/proc/sys/net/ipv4/tcp_congestion_control').write_text('reno')\n"
        "ctx = Context.for_root(Path('/'), home=Path(sys.argv[1]))\n"
        "for line in apply_now(ctx, {'net.ipv4.tcp_congestion_control': sys.argv[2]}):\n"
        "    print(line)\n"
        "print(Path('/proc/sys/net/ipv4/tcp_congestion_control').read_text().strip())\n"
    )
    result = subprocess.run(
        [*prefix, sys.executable, "-c", code, str(tmp_path), congestion],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"set net.ipv4.tcp_congestion_control = {congestion}",
        congestion,
    ]


@pytest.mark.parametrize(
    ("proc_sys_options", "writable"),
    [("rw,nosuid", True), ("ro,nosuid", False)],
)
def test_plan_and_kernel_check_agree_on_proc_sys(
    ctx: Context, proc_sys_options: str, writable: bool
) -> None:
    """Issue 12: in a container whose /proc/sys is writable the plan said "read-only"."""
    from envdoctor.probes import kernel
    from envdoctor.requirements import CheckOptions

    fake_kernel(ctx)
    ctx.path("/.dockerenv").touch()
    ctx.path("/proc/self").mkdir(parents=True)
    ctx.path("/proc/self/mountinfo").write_text(
        "600 590 0:60 / /proc rw,nosuid - proc proc rw\n"
        f"610 600 0:60 /sys /proc/sys {proc_sys_options} - proc proc rw\n"
    )
    plan = sysctl.plan(ctx, get_profile(ctx, "cn-tsinghua"), SYSTEM)
    shown = kernel.run(ctx, CheckOptions())[0].details["proc_sys_writable"]
    assert shown is writable
    assert plan.skipped is not None and "container (docker)" in plan.skipped
    assert ("read-only" in plan.skipped) is (not writable)
