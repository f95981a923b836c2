"""envdoctor.tools.go: GOPROXY and GOSUMDB in the file ``go env GOENV`` names, checked by
the real ``go env`` and compared byte for byte with what ``go env -w`` writes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from envdoctor import transaction
from envdoctor.context import Context
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile
from envdoctor.tools import go
from envdoctor.tools.go import GoSettings

PROXY = "https://goproxy.example.cn"
SUMDB = "https://goproxy.example.cn/sumdb/sum.golang.org"
USER = ApplyOptions(scope="user")
# A file `go env -w` wrote before, with a comment and other keys.
EXISTING = (
    b"# my settings\nGOPRIVATE=git.mycorp.example\nGOPROXY=https://old.example\nGOFLAGS=-mod=mod\n"
)


def profile(sumdb: str | None = SUMDB) -> Profile:
    return Profile(
        name="t", description="", source=Path("t.toml"), origin="user", go=GoSettings(PROXY, sumdb)
    )


def make_ctx(tmp_path: Path, name: str = "home", **env: str) -> Context:
    home = tmp_path / name
    home.mkdir(parents=True, exist_ok=True)
    return Context.for_root(tmp_path, env=env, home=home, cwd=home)


def go_env(ctx: Context, *args: str) -> list[str]:
    program = shutil.which("go")
    if program is None:
        pytest.skip("go is not installed (Debian's golang-go)")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(ctx.home)}
    env.update({k: v for k, v in ctx.env.items() if k.startswith(("GO", "XDG_"))})
    env["GOCACHE"] = str(ctx.home / ".cache" / "go-build")
    result = subprocess.run(
        [program, "env", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ctx.cwd,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def apply_plan(ctx: Context, wanted: Profile) -> str:
    plan = go.plan(ctx, wanted, USER)
    record = transaction.apply_changes(
        ctx,
        [change for change in plan.changes if change.changed],
        journal=transaction.journal_dir(ctx, "user"),
        description="test",
        profile="test",
    )
    return record.id


def test_go_reads_what_was_written_as_go_env_w_writes_it(tmp_path: Path) -> None:
    ours, theirs = make_ctx(tmp_path, "ours"), make_ctx(tmp_path, "theirs")
    path = ours.home / ".config" / "go" / "env"
    assert [str(path)] == go_env(ours, "GOENV")
    for ctx in (ours, theirs):
        target = ctx.home / ".config" / "go" / "env"
        target.parent.mkdir(parents=True)
        target.write_bytes(EXISTING)
    apply_id = apply_plan(ours, profile())
    go_env(theirs, "-w", f"GOPROXY={PROXY},direct", f"GOSUMDB=sum.golang.org {SUMDB}")
    assert path.read_bytes() == (theirs.home / ".config" / "go" / "env").read_bytes()
    assert go_env(ours, "GOPROXY", "GOSUMDB", "GOPRIVATE") == [
        f"{PROXY},direct",
        f"sum.golang.org {SUMDB}",
        "git.mycorp.example",
    ]
    config = go.resolve(ours)
    assert config.value("GOPROXY") == f"{PROXY},direct"
    assert go.mirrors(config) == [PROXY]
    assert go.plan(ours, profile(), USER).changes[0].changed is False  # idempotent
    transaction.rollback(ours, transaction.journal_dir(ours, "user"), apply_id)
    assert path.read_bytes() == EXISTING


def test_without_a_checksum_mirror_gosumdb_goes_back_to_the_default(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    apply_plan(ctx, profile())
    plan = go.plan(ctx, profile(sumdb=None), USER)
    assert any("GOSUMDB back to the default" in note for note in plan.notes)
    apply_plan(ctx, profile(sumdb=None))
    assert go_env(ctx, "GOPROXY", "GOSUMDB") == [f"{PROXY},direct", "sum.golang.org"]


def test_goenv_and_the_environment_override(tmp_path: Path) -> None:
    elsewhere = tmp_path / "custom-goenv"
    ctx = make_ctx(tmp_path, GOENV=str(elsewhere))
    assert go_env(ctx, "GOENV") == [str(elsewhere)]
    apply_plan(ctx, profile())
    assert go_env(ctx, "GOPROXY") == [f"{PROXY},direct"]
    overridden = make_ctx(tmp_path, GOENV=str(elsewhere), GOPROXY="https://env.example")
    assert go_env(overridden, "GOPROXY") == ["https://env.example"]
    assert go.resolve(overridden).value("GOPROXY") == "https://env.example"
    plan = go.plan(overridden, profile(), USER)
    assert any("$GOPROXY=https://env.example overrides" in note for note in plan.notes)


def test_every_proxy_of_the_list_is_masked_and_keeps_its_credentials(tmp_path: Path) -> None:
    value = "https://a.example/x,https://u:SECRET@b.example|direct"
    ctx = Context.for_root(tmp_path, env={"GOPROXY": value})
    config = go.resolve(ctx)
    shown = str(config.value("GOPROXY"))
    assert shown == "https://a.example/x,https://***:***@b.example|direct"
    assert go.mirrors(config) == ["https://a.example/x", "https://u:SECRET@b.example"]
