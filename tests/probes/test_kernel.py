from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envdoctor.context import Context
from envdoctor.mounts import unescape
from envdoctor.probes import kernel
from envdoctor.requirements import CheckOptions
from envdoctor.results import CheckResult, Status

HOST_MOUNTINFO = "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
DOCKER_MOUNTINFO = (
    "600 590 0:60 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
    "610 600 0:60 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw\n"
)


def _put(ctx: Context, system_path: str, text: str) -> Path:
    path = ctx.path(system_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _kernel(
    ctx: Context,
    *,
    congestion: str = "bbr",
    available: str = "reno cubic bbr",
    qdisc: str | None = "fq",
    rmem: str = "4096\t131072\t33554432",
    wmem: str = "4096\t16384\t33554432",
    mountinfo: str = HOST_MOUNTINFO,
) -> None:
    """A fake /proc/sys as the kernel writes it (values end in a newline, triples use tabs)."""
    _put(ctx, "/proc/sys/net/ipv4/tcp_congestion_control", congestion + "\n")
    _put(ctx, "/proc/sys/net/ipv4/tcp_available_congestion_control", available + "\n")
    _put(ctx, "/proc/sys/net/ipv4/tcp_rmem", rmem + "\n")
    _put(ctx, "/proc/sys/net/ipv4/tcp_wmem", wmem + "\n")
    _put(ctx, "/proc/sys/net/core/rmem_max", "212992\n")
    _put(ctx, "/proc/sys/net/core/wmem_max", "212992\n")
    if qdisc is not None:
        _put(ctx, "/proc/sys/net/core/default_qdisc", qdisc + "\n")
    _put(ctx, "/proc/self/mountinfo", mountinfo)


def _run(ctx: Context) -> CheckResult:
    (result,) = kernel.run(ctx, CheckOptions())
    assert result.probe == result.name == "kernel"
    json.dumps(result.to_json())  # details are JSON-ready
    return result


def test_bbr_active_is_ok(ctx: Context) -> None:
    _kernel(ctx)
    result = _run(ctx)
    assert result.status is Status.OK
    assert result.summary == "bbr, qdisc fq"
    assert result.remedy is None
    details = result.details
    assert details["available_congestion_control"] == ["reno", "cubic", "bbr"]
    assert details["bbr_available"] is True
    assert details["tcp_rmem"] == [4096, 131072, 33554432]
    assert details["tcp_wmem_max_bytes"] == 33554432
    assert details["rmem_max_bytes"] == details["wmem_max_bytes"] == 212992  # not graded
    assert details["proc_sys_writable"] is True
    assert details["container"] is None
    assert details["boot"]["net.ipv4.tcp_congestion_control"] == {
        "chain": [],
        "winner": None,
        "differs_from_current": False,
    }


def test_cubic_with_bbr_available_warns_with_the_apply_command(ctx: Context) -> None:
    _kernel(ctx, congestion="cubic")
    result = _run(ctx)
    assert result.status is Status.WARN
    assert result.summary == "congestion control cubic, not bbr (available in this kernel)"
    assert result.remedy == "sudo envdoctor apply --profile global --only sysctl --now"


def test_cubic_with_a_bbr_module_to_load_warns(ctx: Context) -> None:
    _kernel(ctx, congestion="cubic", available="reno cubic")
    module = ctx.path("/lib/modules/6.1.0-test/kernel/net/ipv4/tcp_bbr.ko.xz")
    module.parent.mkdir(parents=True)
    module.touch()
    result = _run(ctx)
    assert result.status is Status.WARN
    assert result.details["bbr_loadable"] is True
    assert result.remedy == kernel.APPLY_COMMAND


def test_no_bbr_at_all_is_ok_with_a_note(ctx: Context) -> None:
    _kernel(ctx, congestion="cubic", available="reno cubic")
    result = _run(ctx)
    assert result.status is Status.OK
    assert result.summary == "cubic, qdisc fq; bbr is not available in this kernel"
    assert result.details["bbr_available"] is False


def test_apply_command_parses_and_its_profile_sets_bbr(ctx: Context) -> None:
    import click

    from envdoctor.cli import cli
    from envdoctor.profiles import get_profile

    words = kernel.APPLY_COMMAND.split()
    assert words[:3] == ["sudo", "envdoctor", "apply"]
    with click.Context(cli) as group:
        apply = cli.get_command(group, "apply")
        assert apply is not None
        parsed = apply.make_context("apply", words[3:], parent=group)
    assert parsed.params["profile_name"] == "global"
    assert parsed.params["only"] == ("sysctl",)
    assert parsed.params["now"] is True
    profile = get_profile(ctx, "global")
    assert profile.sysctl is not None
    assert dict(profile.sysctl.values)[kernel.CONGESTION] == "bbr"


def test_boot_override_later_name_wins_and_sysctl_conf_is_last(ctx: Context) -> None:
    _kernel(ctx)
    _put(ctx, "/usr/lib/sysctl.d/50-default.conf", "net.core.default_qdisc = fq_codel\n")
    _put(ctx, "/etc/sysctl.d/60-bbr.conf", "# ours\nnet.core.default_qdisc=fq\n"
         "net.ipv4.tcp_congestion_control = bbr\n")  # fmt: skip
    # same name in /usr/lib is hidden by /etc's
    _put(ctx, "/usr/lib/sysctl.d/60-bbr.conf", "net.ipv4.tcp_congestion_control = reno\n")
    _put(ctx, "/run/sysctl.d/70-net.conf", "net/ipv4/tcp_congestion_control = cubic\n")
    _put(ctx, "/etc/sysctl.conf", "net.core.default_qdisc = fq\n")
    result = _run(ctx)
    boot = result.details["boot"]
    assert boot["net.ipv4.tcp_congestion_control"]["chain"] == [
        {"file": "/etc/sysctl.d/60-bbr.conf", "line": 3, "value": "bbr"},
        {"file": "/run/sysctl.d/70-net.conf", "line": 1, "value": "cubic"},
    ]
    assert boot["net.ipv4.tcp_congestion_control"]["differs_from_current"] is True
    assert [a["file"] for a in boot["net.core.default_qdisc"]["chain"]] == [
        "/usr/lib/sysctl.d/50-default.conf",
        "/etc/sysctl.d/60-bbr.conf",
        "/etc/sysctl.conf",
    ]
    assert boot["net.core.default_qdisc"]["winner"]["file"] == "/etc/sysctl.conf"
    assert boot["net.core.default_qdisc"]["differs_from_current"] is False
    assert result.status is Status.WARN
    assert result.summary == (
        "net.ipv4.tcp_congestion_control is bbr now but /run/sysctl.d/70-net.conf "
        "line 1 sets cubic at next boot"
    )
    assert result.remedy is not None and "/run/sysctl.d/70-net.conf line 1" in result.remedy


def test_sysctl_conf_beats_a_later_name_and_its_link_counts_once(ctx: Context) -> None:
    _kernel(ctx, rmem="4096 131072 33554432")
    _put(ctx, "/etc/sysctl.conf", "net.ipv4.tcp_rmem = 4096 131072 6291456\n")
    _put(ctx, "/etc/sysctl.d/99-zzz.conf", "net.ipv4.tcp_rmem = 4096 131072 33554432\n")
    ctx.path("/etc/sysctl.d/99-sysctl.conf").symlink_to("/etc/sysctl.conf")  # Debian's link
    files = [display for display, _ in kernel.boot_files(ctx)]
    assert files == ["/etc/sysctl.d/99-zzz.conf", "/etc/sysctl.conf"]
    result = _run(ctx)
    rmem = result.details["boot"]["net.ipv4.tcp_rmem"]
    assert rmem["winner"] == {"file": "/etc/sysctl.conf", "line": 1, "value": "4096 131072 6291456"}
    assert rmem["differs_from_current"] is True  # tabs vs spaces do not count, the number does
    assert result.status is Status.WARN


def test_glob_keys_apply(ctx: Context) -> None:
    _put(ctx, "/etc/sysctl.d/10-x.conf", "-net.core.*mem_max = 16777216\n")
    chain = kernel.boot_chain(ctx, [kernel.RMEM_MAX, kernel.TCP_RMEM])
    assert chain[kernel.RMEM_MAX] == [
        kernel.BootAssignment("/etc/sysctl.d/10-x.conf", 1, "16777216")
    ]
    assert chain[kernel.TCP_RMEM] == []


def test_small_tcp_buffers_warn(ctx: Context) -> None:
    _kernel(ctx, rmem="4096 131072 2097152")
    result = _run(ctx)
    assert result.status is Status.WARN
    assert result.summary.startswith("net.ipv4.tcp_rmem max 2")
    assert "long fat links" in result.summary
    assert result.remedy is not None
    assert result.remedy.startswith("sudo sysctl -w net.ipv4.tcp_rmem='4096 131072 16777216'")


def test_default_qdisc_missing_in_another_netns(ctx: Context) -> None:
    _kernel(ctx, qdisc=None)
    result = _run(ctx)
    assert result.status is Status.OK
    assert result.summary == "bbr, qdisc unknown"
    assert result.details["default_qdisc"] is None
    reason = result.details["default_qdisc_reason"]
    assert "exists only in the initial network namespace" in reason


def test_read_only_container(ctx: Context) -> None:
    _kernel(ctx, congestion="cubic", qdisc=None, mountinfo=DOCKER_MOUNTINFO)
    _put(ctx, "/.dockerenv", "")
    result = _run(ctx)
    assert result.details["proc_sys_writable"] is False
    assert result.details["container"] == "docker"
    assert result.status is Status.OK
    assert result.summary == (
        "cubic, qdisc unknown; inside a container (docker) /proc/sys is read-only: "
        "set these on the host"
    )


def test_writable_sysctl_in_a_privileged_container_is_graded(ctx: Context) -> None:
    _kernel(ctx, congestion="cubic")
    _put(ctx, "/.dockerenv", "")
    assert _run(ctx).status is Status.WARN


def test_mountinfo_escapes() -> None:
    assert unescape(r"/mnt/a\040b") == "/mnt/a b"


def test_no_proc_is_skipped(ctx: Context) -> None:
    result = _run(ctx)
    assert result.status is Status.SKIP
    assert result.details["proc_sys_writable"] is None


# --- the real kernel, in a fresh network namespace ---------------------------------------


def _unshare_net_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    for command in (["unshare", "-n", "true"], ["unshare", "-Urn", "true"]):
        if subprocess.run(command, capture_output=True, timeout=10).returncode == 0:
            return True
    return False


_SCRIPT = """
import json, sys
from envdoctor.context import Context
from envdoctor.probes import kernel
from envdoctor.requirements import CheckOptions
(result,) = kernel.run(Context.from_environ(), CheckOptions())
with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
    seen = f.read().strip()
print(json.dumps({"result": result.to_json(), "cat": seen}))
"""


@pytest.mark.skipif(not _unshare_net_works(), reason="needs unshare -n (or -Urn) permitted")
def test_real_kernel_in_a_fresh_netns() -> None:
    prefix = ["unshare", "-n"]
    if subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode != 0:
        prefix = ["unshare", "-Urn"]
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run(
        [*prefix, sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    result = answer["result"]
    details = result["details"]
    assert result["probe"] == result["name"] == "kernel"
    assert result["status"] in {"ok", "warn"}
    assert details["congestion_control"] == answer["cat"]
    assert details["congestion_control"] in details["available_congestion_control"]
    # net.core.default_qdisc exists only in the initial network namespace
    assert details["default_qdisc"] is None
    assert "initial network namespace" in details["default_qdisc_reason"]
    assert len(details["tcp_rmem"]) == len(details["tcp_wmem"]) == 3
    assert isinstance(details["rmem_max_bytes"], int)
    assert set(details["boot"]) == set(kernel.BOOT_KEYS)
