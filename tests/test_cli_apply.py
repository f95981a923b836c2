"""apply, rollback, history and env through the CLI, on an image tree under tmp_path."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from envdoctor.cli import cli

PIP_CONF = (
    b"[global]\r\n# corporate proxy settings: keep\r\n"
    b"index-url = https://deploy:s3cret@pypi.corp.example/simple\r\ntimeout = 30\r\n"
    b"\r\n[install]\r\nno-compile = true\r\n"
)


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root (journal excluded): content hash and mode."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "var/lib/envdoctor" not in str(path):
            found[str(path.relative_to(root))] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                path.stat().st_mode,
            )
    return found


@pytest.fixture
def image(tmp_path: Path) -> Path:
    root = tmp_path / "image"
    (root / "etc").mkdir(parents=True)
    (root / "home" / "u").mkdir(parents=True)
    (root / "etc" / "pip.conf").write_bytes(PIP_CONF)
    (root / "etc" / "pip.conf").chmod(0o640)
    return root


def run(image: Path, *args: str, user_profiles: Path | None = None):
    env = {"HOME": "/home/u", "NO_COLOR": "1"}
    if user_profiles is not None:
        env["XDG_CONFIG_HOME"] = str(user_profiles)
    return CliRunner().invoke(
        cli, [*args[:1], "--root", str(image), "--scope", "system", *args[1:]], env=env
    )


def test_dry_run_shows_masked_diffs_and_writes_nothing(image):
    before = snapshot(image)
    out = run(image, "apply", "--profile", "cn-tsinghua", "--dry-run")
    assert out.exit_code == 0, out.output
    assert "-index-url = https://***:***@pypi.corp.example/simple" in out.stdout
    assert "+index-url = https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple" in out.stdout
    assert "s3cret" not in out.output
    assert "Dry run:" in out.stdout
    assert snapshot(image) == before


def test_without_a_terminal_or_yes_nothing_changes_and_it_says_so(image):
    before = snapshot(image)
    out = run(image, "apply", "--profile", "cn-tsinghua")
    assert out.exit_code == 2
    assert "no terminal to ask on: nothing was changed" in out.stderr
    assert snapshot(image) == before


def test_apply_is_idempotent_and_rollback_restores_every_byte(image):
    before = snapshot(image)
    applied = run(image, "apply", "--profile", "cn-tsinghua", "--yes")
    assert applied.exit_code == 0, applied.output
    assert "Undo: envdoctor rollback --scope system --root" in applied.stdout
    pip_conf = (image / "etc" / "pip.conf").read_bytes()
    assert b"index-url = https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple\r\n" in pip_conf
    assert b"# corporate proxy settings: keep\r\n" in pip_conf
    assert b"[install]\r\nno-compile = true\r\n" in pip_conf
    assert (image / "etc" / "pip.conf").stat().st_mode & 0o777 == 0o640
    assert (image / "etc" / "profile.d" / "envdoctor.sh").exists()

    again = run(image, "apply", "--profile", "cn-tsinghua", "--yes")
    assert again.exit_code == 0
    assert "Nothing to change" in again.stdout

    listed = run(image, "history")
    assert listed.stdout.count("cn-tsinghua") == 1 and "applied" in listed.stdout

    undone = run(image, "rollback")
    assert undone.exit_code == 0, undone.output
    assert snapshot(image) == before
    assert "rolled back" in run(image, "history").stdout


def test_a_malformed_file_stops_everything_before_any_write(image, tmp_path):
    (image / "etc" / "docker").mkdir()
    (image / "etc" / "docker" / "daemon.json").write_text('{\n  "log-driver": "json-file",\n}\n')
    profiles = tmp_path / "config"
    (profiles / "envdoctor" / "profiles").mkdir(parents=True)
    (profiles / "envdoctor" / "profiles" / "mixed.toml").write_text(
        'extends = "cn-tsinghua"\ndescription = "x"\n'
        '[docker]\nregistry-mirrors = ["https://docker.1ms.run"]\n'
    )
    before = snapshot(image)
    out = run(image, "apply", "--profile", "mixed", "--yes", user_profiles=profiles)
    assert out.exit_code == 2
    assert "/etc/docker/daemon.json" in out.stderr
    assert "line 3" in out.stderr
    assert "Traceback" not in out.output
    assert snapshot(image) == before


def test_only_and_skip_choose_targets(image):
    out = run(image, "apply", "--profile", "cn-tsinghua", "--only", "pip", "--dry-run")
    assert f"pip: edit {image}/etc/pip.conf\n" in out.stdout  # the image's file, not /etc
    assert "conda:" not in out.stdout
    out = run(image, "apply", "--profile", "cn-tsinghua", "--only", "pipp")
    assert out.exit_code == 2
    assert "Did you mean 'pip'?" in out.stderr


@pytest.mark.parametrize("empty", ["", ",", " , "])
def test_an_empty_only_is_refused_not_taken_as_every_target(image, empty):
    before = snapshot(image)
    out = run(image, "apply", "--profile", "cn-tsinghua", "--only", empty, "--yes")
    assert out.exit_code == 2, out.output
    assert "--only names no target: its value is empty" in out.stderr
    assert snapshot(image) == before
    assert CliRunner().invoke(cli, ["mirrors", "--target", empty]).exit_code == 2
    assert CliRunner().invoke(cli, ["check", "--only", empty]).exit_code == 2


def test_an_absolute_link_in_the_image_is_read_inside_the_image(image):
    # /etc/pip.conf -> /etc/xdg/pip/pip.conf in the image: the plan read this machine's
    # /etc/xdg/pip/pip.conf (showing its text) and the write, which follows the link inside
    # the image, then always failed as "changed since it was read".
    linked = image / "etc" / "xdg" / "pip" / "pip.conf"
    linked.parent.mkdir(parents=True)
    linked.write_text("[global]\ntimeout = 30\n")
    (image / "etc" / "pip.conf").unlink()
    (image / "etc" / "pip.conf").symlink_to("/etc/xdg/pip/pip.conf")
    out = run(image, "apply", "--profile", "cn-tsinghua", "--only", "pip", "--yes")
    assert out.exit_code == 0, out.output
    assert " timeout = 30" in out.stdout  # the image's file, as context of the diff
    assert (image / "etc" / "pip.conf").is_symlink()
    assert "mirrors.tuna.tsinghua.edu.cn" in linked.read_text()
    assert "timeout = 30" in linked.read_text()


def test_env_prints_the_last_applied_profile_or_the_one_named(image):
    out = run(image, "env")
    assert out.exit_code == 2
    assert "no profile has been applied here yet" in out.stderr
    assert run(image, "apply", "--profile", "cn-ustc", "--only", "env", "--yes").exit_code == 0
    out = run(image, "env")
    # Issue 12: for CI jobs and Dockerfiles, the index variables the profile implies too.
    assert out.stdout.splitlines() == [
        "export PIP_INDEX_URL=https://mirrors.ustc.edu.cn/pypi/simple",
        "export UV_DEFAULT_INDEX=https://mirrors.ustc.edu.cn/pypi/simple",
        "export HF_ENDPOINT=https://hf-mirror.com",
        "export HF_HUB_DISABLE_XET=1",
        "export MODELSCOPE_DOMAIN=www.modelscope.cn",
        "export MODELSCOPE_ENDPOINT=https://www.modelscope.cn",
        "export npm_config_registry=https://registry.npmmirror.com/",
        "export GOPROXY=https://goproxy.cn,direct",
        "export GOSUMDB='sum.golang.org https://goproxy.cn/sumdb/sum.golang.org'",
        "export GIT_CONFIG_COUNT=1",
        "export GIT_CONFIG_KEY_0=url.https://hf-mirror.com/.insteadOf",
        "export GIT_CONFIG_VALUE_0=https://huggingface.co/",
    ]
    out = run(image, "env", "--profile", "global", "--shell", "dockerfile")
    assert 'ENV HF_ENDPOINT="https://huggingface.co"' in out.stdout
    assert "HF_HUB_DISABLE_XET" not in out.stdout


def test_system_scope_on_this_machine_needs_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    out = CliRunner().invoke(cli, ["apply", "--profile", "global", "--scope", "system"])
    assert out.exit_code == 2
    assert "needs root" in out.stderr


def test_unknown_profile_is_a_usage_error_with_a_suggestion(image):
    out = run(image, "apply", "--profile", "cn-tsinghau", "--dry-run")
    assert out.exit_code == 2
    assert "cn-tsinghua" in out.stderr


def test_under_sudo_user_scope_goes_to_the_invoking_users_home(tmp_path, monkeypatch):
    import pwd

    home = tmp_path / "alice"
    home.mkdir()
    alice = pwd.struct_passwd(("alice", "x", 1234, 1234, "", str(home), "/bin/bash"))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(pwd, "getpwnam", lambda name: alice)
    env = {
        "SUDO_USER": "alice",
        "HOME": "/root",
        "XDG_CONFIG_HOME": "/root/.config",  # root's own, must not redirect alice's files
    }
    out = CliRunner().invoke(
        cli,
        ["apply", "--profile", "cn-tsinghua", "--scope", "user", "--only", "pip", "--yes"],
        env=env,
    )
    assert out.exit_code == 0, out.output
    written = home / ".config" / "pip" / "pip.conf"
    assert b"mirrors.tuna.tsinghua.edu.cn" in written.read_bytes()
    if os.getuid() == 0:  # chown needs real root
        assert (written.stat().st_uid, written.stat().st_gid) == (1234, 1234)
        journal = home / ".local" / "state" / "envdoctor"
        assert journal.stat().st_uid == 1234


def run_scoped(image: Path, *args: str):
    """Like :func:`run`, without choosing a scope: as root the default is system."""
    return CliRunner().invoke(
        cli, [*args[:1], "--root", str(image), *args[1:]], env={"HOME": "/home/u", "NO_COLOR": "1"}
    )


def test_plans_and_prompts_name_the_scope(image, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    out = run_scoped(image, "apply", "--profile", "cn-ustc", "--only", "pip", "--dry-run")
    assert out.exit_code == 0, out.output
    assert "Scope: system (files under /etc; the default as root; --scope user" in out.stdout
    out = run(image, "apply", "--profile", "cn-ustc", "--only", "pip", "--dry-run")
    assert "Scope: system (files under /etc; --scope system)" in out.stdout
    asked = []
    monkeypatch.setattr("click.confirm", lambda question, default: asked.append(question))
    monkeypatch.setattr("envdoctor.cli_apply._can_ask", lambda: True)
    run_scoped(image, "apply", "--profile", "cn-ustc", "--only", "pip")
    assert asked == ["Apply cn-ustc to 1 file (system scope)?"]


def test_history_and_rollback_look_in_both_scopes(image, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    user = ["--scope", "user"]
    applied = run_scoped(image, "apply", *user, "--profile", "cn-ustc", "--only", "pip", "--yes")
    assert applied.exit_code == 0, applied.output
    out = run_scoped(image, "history")
    assert out.exit_code == 0
    assert " user    applied " in out.stdout and "cn-ustc" in out.stdout
    records = json.loads(run_scoped(image, "history", "--json").stdout)
    assert [record["scope"] for record in records] == ["user"]
    out = run_scoped(image, "rollback")
    assert out.exit_code == 2
    assert "nothing to roll back in system scope, but the user scope has" in out.stderr
    assert f"envdoctor rollback --scope user --root {image} {records[0]['id']}" in out.stderr
    assert run_scoped(image, "rollback", *user).exit_code == 0


def test_reload_says_what_containerd_needs(image):
    (image / "etc" / "containerd").mkdir()  # containerd is installed in the image
    out = run(image, "apply", "--profile", "cn-sjtu", "--only", "containerd", "--yes", "--reload")
    assert out.exit_code == 0, out.output
    assert "--reload: containerd reads hosts.toml at every pull: nothing to reload" in out.output


def _closed_stdout(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """``envdoctor ARGS | <a reader that exits at once>``: stdout's reader is gone
    before envdoctor writes."""
    read, write = os.pipe()
    os.close(read)
    try:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "NO_COLOR": "1"}
        return subprocess.run(
            [sys.executable, "-m", "envdoctor", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [["profiles"], ["check", "--only", "cpu"], ["--help"]])
def test_a_closed_output_ends_quietly_as_sigpipe_would(tmp_path, args):
    result = _closed_stdout(args, tmp_path)
    assert result.returncode == 141, result.stderr  # not 1, "a check failed"
    assert result.stderr == ""


def test_apply_whose_output_closes_before_the_plan_is_shown_changes_nothing(image):
    before = snapshot(image)
    args = ["apply", "--profile", "cn-tsinghua", "--root", str(image), "--scope", "system"]
    result = _closed_stdout([*args, "--yes"], image / "home" / "u")
    assert result.returncode == 2, result.stderr
    assert "the output was closed before the whole plan was shown: nothing was changed" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert snapshot(image) == before


def test_a_dry_run_says_apply_refuses_two_targets_that_write_one_file(image):
    # /etc/containerd/config.toml links to /etc/uv/uv.toml: apply refuses to write one
    # file for two targets, and the dry run said "would change" without a word of it.
    (image / "etc" / "uv").mkdir()
    (image / "etc" / "uv" / "uv.toml").write_text("")
    (image / "etc" / "containerd").mkdir()
    (image / "etc" / "containerd" / "config.toml").symlink_to("/etc/uv/uv.toml")
    before = snapshot(image)
    args = ("apply", "--profile", "cn-sjtu", "--only", "uv,containerd")
    shown = f"{image}/etc/containerd/config.toml and {image}/etc/uv/uv.toml are the same file"
    dry = run(image, *args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"{shown}: apply refuses to write it" in dry.stdout
    as_json = json.loads(run(image, *args, "--dry-run", "--json").stdout)
    assert as_json["refused"] == [shown]
    out = run(image, *args, "--yes")
    assert out.exit_code == 2, out.output
    assert f"{shown}; nothing was written" in out.stderr
    assert snapshot(image) == before
