"""envdoctor.tools.npm: ``registry`` in ~/.npmrc, checked by the real ``npm config get``.

The fixture ``.npmrc`` carries auth tokens, a scoped registry and comments: only the
``registry`` line changes, tokens stay byte for byte and never appear in a diff or in the
check.  Where npm looks (project, user, global files, ``npm_config_*``) is compared with
what npm itself answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from envdoctor import transaction
from envdoctor.checkup import Checkup, LoginEnv, Remedies
from envdoctor.context import Context
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile
from envdoctor.tools import npm
from envdoctor.tools.npm import NpmSettings

DATA = Path(__file__).parent / "data" / "npm"
MIRROR = "https://registry.npmmirror.example/"
TOKEN = "npm_0123456789abcdefSECRETtoken"
USER = ApplyOptions(scope="user")


def profile(url: str = MIRROR) -> Profile:
    return Profile(
        name="test", description="", source=Path("t.toml"), origin="user", npm=NpmSettings(url)
    )


def make_ctx(tmp_path: Path, **env: str) -> Context:
    home = tmp_path / "home" / "user"
    home.mkdir(parents=True, exist_ok=True)
    project = tmp_path / "work"
    project.mkdir(exist_ok=True)
    return Context.for_root(tmp_path, env=env, home=home, cwd=project)


def npm_get(ctx: Context, key: str = "registry") -> str:
    program = shutil.which("npm")
    if program is None:
        pytest.skip("npm is not installed (Debian's npm)")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(ctx.home)}
    env.update({k: v for k, v in ctx.env.items() if k.lower().startswith("npm_config_")})
    result = subprocess.run(
        [program, "config", "get", key],
        capture_output=True,
        text=True,
        env=env,
        cwd=ctx.cwd,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def apply_plan(ctx: Context, options: ApplyOptions = USER) -> str:
    plan = npm.plan(ctx, profile(), options)
    record = transaction.apply_changes(
        ctx,
        [change for change in plan.changes if change.changed],
        journal=transaction.journal_dir(ctx, options.scope),
        description="test",
        profile="test",
    )
    return record.id


def test_npmrc_with_tokens_changes_one_line_and_npm_reads_it(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    original = (DATA / "npmrc-with-token").read_bytes()
    path = ctx.home / ".npmrc"
    path.write_bytes(original)
    plan = npm.plan(ctx, profile(), USER)
    change = plan.changes[0]
    new = change.new or b""
    old_lines, new_lines = original.splitlines(), new.splitlines()
    assert [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b] == [4]
    assert new_lines[4] == f"registry={MIRROR}".encode()
    diff = transaction.unified_diff(change)
    assert TOKEN not in diff and "_authToken=***" in diff  # context lines are masked too
    assert any("auth tokens are kept" in note for note in plan.notes)
    apply_id = apply_plan(ctx)
    assert npm_get(ctx) == MIRROR
    assert TOKEN.encode() in path.read_bytes()
    assert npm.plan(ctx, profile(), USER).changes[0].changed is False  # idempotent
    transaction.rollback(ctx, transaction.journal_dir(ctx, "user"), apply_id)
    assert path.read_bytes() == original


def test_a_new_npmrc_and_one_with_sections_and_crlf(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    apply_plan(ctx)
    assert (ctx.home / ".npmrc").read_bytes() == f"registry={MIRROR}\n".encode()
    assert npm_get(ctx) == MIRROR
    original = (DATA / "npmrc-with-section-crlf").read_bytes()
    (ctx.home / ".npmrc").write_bytes(original)
    apply_plan(ctx)
    new = (ctx.home / ".npmrc").read_bytes()
    # added before the first section (a line inside [section] is not the registry)
    assert new == original.replace(b"[section]", f"registry={MIRROR}\r\n[section]".encode())
    assert npm_get(ctx) == MIRROR


def test_the_check_follows_npm_precedence_and_never_shows_tokens(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    (ctx.home / ".npmrc").write_bytes((DATA / "npmrc-with-token").read_bytes())
    config = npm.resolve(ctx)
    assert config.value("registry") == npm_get(ctx) == "https://registry.npmjs.org/"
    # a project .npmrc beats the user's
    (ctx.cwd / "package.json").write_text("{}")
    (ctx.cwd / ".npmrc").write_text("registry=https://project.example/\n")
    config = npm.resolve(ctx)
    assert config.value("registry") == npm_get(ctx) == "https://project.example/"
    # npm_config_* (any case) beats every file
    env_ctx = make_ctx(tmp_path, NPM_CONFIG_REGISTRY="https://env.example/")
    assert npm.resolve(env_ctx).value("registry") == npm_get(env_ctx) == "https://env.example/"
    checkup = Checkup(Remedies(env_ctx, None, None), LoginEnv({}, []))
    row = npm.diagnose(env_ctx, {"npm": npm.resolve(env_ctx)}, checkup).result(False)
    assert row.status.value == "warn" and "$NPM_CONFIG_REGISTRY overrides" in row.summary
    assert TOKEN not in repr(row.to_json())


def test_global_config_is_where_npm_looks(tmp_path: Path) -> None:
    ctx = Context.for_root(Path("/"), home=tmp_path, cwd=tmp_path)
    assert str(npm.global_config(ctx)) == npm_get(ctx, "globalconfig")
    assert str(npm.user_config(ctx)) == npm_get(ctx, "userconfig")


@pytest.mark.parametrize("where", ["variable", "user file"])
def test_a_relative_prefix_is_read_from_the_working_directory(tmp_path: Path, where: str) -> None:
    # NPM_CONFIG_PREFIX=rel (or prefix=rel in ~/.npmrc): npm reads <cwd>/rel/etc/npmrc;
    # the plan crashed ("internal error: ... not in the subpath of '/'").
    env = {"NPM_CONFIG_PREFIX": "rel"} if where == "variable" else {}
    ctx = Context.for_root(Path("/"), home=tmp_path / "home", cwd=tmp_path / "work", env=env)
    ctx.cwd.mkdir()
    ctx.home.mkdir()
    if where == "user file":
        (ctx.home / ".npmrc").write_text("prefix=rel\n")
    (ctx.cwd / "rel" / "etc").mkdir(parents=True)
    (ctx.cwd / "rel" / "etc" / "npmrc").write_text("registry=http://127.0.0.1:9/rel/\n")
    assert npm.global_config(ctx) == ctx.cwd / "rel" / "etc" / "npmrc"
    assert str(npm.global_config(ctx)) == npm_get(ctx, "globalconfig")
    assert npm_get(ctx) == "http://127.0.0.1:9/rel/"
    assert npm.resolve(ctx).value("registry") == "http://127.0.0.1:9/rel/"
    plan = npm.plan(ctx, profile(), ApplyOptions(scope="system"))
    assert [change.path for change in plan.changes] == [ctx.cwd / "rel" / "etc" / "npmrc"]


def test_prefix_in_the_user_file_and_userconfig_in_the_project_move_npms_files(
    tmp_path: Path,
) -> None:
    # npm reads the project file, then the user file (which --userconfig a project file
    # may move), then the global one (which a prefix= in those moves): the check read
    # only where the environment pointed.
    ctx = Context.for_root(Path("/"), home=tmp_path / "home", cwd=tmp_path / "work")
    ctx.cwd.mkdir()
    prefix = tmp_path / "gp"
    (prefix / "etc").mkdir(parents=True)
    (prefix / "etc" / "npmrc").write_text("registry=http://127.0.0.1:9/gp/\n")
    ctx.home.mkdir()
    (ctx.home / ".npmrc").write_text(f"prefix={prefix}\n")
    assert npm.global_config(ctx) == prefix / "etc" / "npmrc"
    assert str(npm.global_config(ctx)) == npm_get(ctx, "globalconfig")
    assert npm_get(ctx) == "http://127.0.0.1:9/gp/"
    assert npm.resolve(ctx).value("registry") == "http://127.0.0.1:9/gp/"

    alternative = tmp_path / "alt" / "npmrc"
    alternative.parent.mkdir()
    alternative.write_text("registry=http://127.0.0.1:9/alt/\n")
    (ctx.cwd / "package.json").write_text("{}\n")
    (ctx.cwd / ".npmrc").write_text(f"userconfig={alternative}\n")
    assert str(npm.user_config(ctx)) == npm_get(ctx, "userconfig") == str(alternative)
    assert npm_get(ctx) == "http://127.0.0.1:9/alt/"
    assert npm.resolve(ctx).value("registry") == "http://127.0.0.1:9/alt/"
