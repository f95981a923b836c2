"""envdoctor.tools.git: ``url.<mirror>/.insteadOf https://huggingface.co/`` written by git
itself; a real ``git ls-remote https://huggingface.co/<repo>`` then reaches a loopback git
server (``git http-backend`` behind a small HTTP server) that only the rewrite names."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from envdoctor import transaction
from envdoctor.checkup import Checkup, LoginEnv, Remedies
from envdoctor.configfiles import Setting, Source, ToolConfig
from envdoctor.context import Context
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile
from envdoctor.tools import git
from envdoctor.tools.git import GitSettings

DATA = Path(__file__).parent / "data" / "git"
MIRROR = "https://hf-mirror.example"
USER = ApplyOptions(scope="user")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def profile(url: str = MIRROR) -> Profile:
    return Profile(
        name="t", description="", source=Path("t.toml"), origin="user", git=GitSettings(url)
    )


def make_ctx(tmp_path: Path) -> Context:
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    return Context.for_root(tmp_path, home=home, cwd=home)


def apply_plan(ctx: Context, wanted: Profile) -> str:
    plan = git.plan(ctx, wanted, USER)
    record = transaction.apply_changes(
        ctx,
        [change for change in plan.changes if change.changed],
        journal=transaction.journal_dir(ctx, "user"),
        description="test",
        profile="test",
    )
    return record.id


def test_a_real_gitconfig_gets_one_rewrite_and_rolls_back(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    original = (DATA / "gitconfig").read_bytes()
    path = ctx.home / ".gitconfig"
    path.write_bytes(original)
    plan = git.plan(ctx, profile(), USER)
    diff = transaction.unified_diff(plan.changes[0])
    assert "s3cr3t-header-token" not in diff and "extraHeader = ***" in diff
    apply_id = apply_plan(ctx, plan_profile := profile())
    text = path.read_text()
    assert f'[url "{MIRROR}/"]\n\tinsteadOf = https://huggingface.co/\n' in text
    assert "old-mirror.example" not in text  # git would pick the longest match, not ours
    for kept in ("name = A. Developer", 'url "git@github.com:"', "extraHeader", "# ~/"):
        assert kept in text
    config = git.resolve(ctx)
    assert config is not None
    assert config.value("huggingface.co") == f"{MIRROR}/"
    assert git.plan(ctx, plan_profile, USER).changes[0].changed is False  # idempotent
    upstream_id = apply_plan(ctx, profile("https://huggingface.co"))
    assert "huggingface.co" not in path.read_text()
    transaction.rollback(ctx, transaction.journal_dir(ctx, "user"), upstream_id)
    transaction.rollback(ctx, transaction.journal_dir(ctx, "user"), apply_id)
    assert path.read_bytes() == original


class _GitBackend(http.server.BaseHTTPRequestHandler):
    """Smart HTTP through ``git http-backend`` (CGI), as a git host serves it."""

    root: str
    seen: list[str]

    def _cgi(self) -> None:
        self.seen.append(self.path)
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": "127.0.0.1",
        }
        result = subprocess.run(
            ["git", "http-backend"],
            input=self.rfile.read(length),
            capture_output=True,
            env=env,
            timeout=20,
            check=False,
        )
        head, _, body = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(": ")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _cgi
    do_POST = _cgi

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[tuple[str, list[str], str]]:
    root = tmp_path / "srv"
    work = tmp_path / "model"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example",
    }
    subprocess.run(["git", "init", "-q", str(work)], env=env, check=True)
    (work / "config.json").write_text("{}")
    subprocess.run(["git", "-C", str(work), "add", "."], env=env, check=True)
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "model"], env=env, check=True)
    head = subprocess.run(
        ["git", "-C", str(work), "rev-parse", "HEAD"], env=env, capture_output=True, text=True
    ).stdout.strip()
    bare = root / "openai-community" / "gpt2"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], env=env, check=True)
    seen: list[str] = []
    handler = type("Handler", (_GitBackend,), {"root": str(root), "seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.block_on_close = False  # a handler stuck on a dead client must not hang teardown
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen, head
    finally:
        server.shutdown()
        server.server_close()


def test_git_ls_remote_of_a_hub_url_reaches_the_mirror(
    tmp_path: Path, git_server: tuple[str, list[str], str]
) -> None:
    base, seen, head = git_server
    ctx = make_ctx(tmp_path)
    apply_plan(ctx, profile(base))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(ctx.home),
        "GIT_CONFIG_GLOBAL": str(ctx.home / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        # Without the rewrite git would go to huggingface.co: send that to a dead proxy so
        # the test fails at once and never reaches a public host; loopback goes direct.
        "https_proxy": "http://127.0.0.1:9",
        "no_proxy": "127.0.0.1",
    }
    result = subprocess.run(
        ["git", "ls-remote", "https://huggingface.co/openai-community/gpt2", "HEAD"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ctx.home,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [head, "HEAD"]
    assert any(path.startswith("/openai-community/gpt2/info/refs") for path in seen)
    config = git.resolve(ctx)
    assert config is not None
    row = git.diagnose(
        ctx,
        {"git": config, "hf": _hf(base)},
        Checkup(Remedies(ctx, None, None), LoginEnv({}, [])),
    )
    assert row is not None
    assert row.result(False).status.value == "ok", row.summary
    assert row.summary.startswith(f"https://huggingface.co/ -> {base}/")


def _hf(endpoint: str) -> ToolConfig:
    setting = Setting("HF_ENDPOINT", endpoint, Source("env", "HF_ENDPOINT"))
    return ToolConfig("hf", {"HF_ENDPOINT": setting}, [], [])


def test_a_hub_mirror_that_git_clones_bypass_is_a_warning(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    config = git.resolve(ctx)
    assert config is not None
    row = git.diagnose(
        ctx,
        {"git": config, "hf": _hf("https://hf-mirror.com")},
        Checkup(Remedies(ctx, None, None), LoginEnv({}, [])),
    )
    assert row is not None
    assert row.result(False).status.value == "warn"
    assert any(
        "git clones of https://huggingface.co/ go to https://huggingface.co" in finding.message
        for finding in row.findings
    )


def test_a_rewrite_in_the_repository_envdoctor_runs_in_is_not_a_clones(tmp_path: Path) -> None:
    # git clone reads system and global settings, never the .git/config of the directory
    # it is started in: a rewrite there does not send clones of the hub anywhere.
    ctx = make_ctx(tmp_path)
    subprocess.run(["git", "init", "-q", str(ctx.cwd)], check=True, env=git.git_env(ctx))
    local = ["git", "-C", str(ctx.cwd), "config", f"url.{MIRROR}/.insteadOf"]
    subprocess.run([*local, "https://huggingface.co/"], check=True, env=git.git_env(ctx))
    config = git.resolve(ctx)
    assert config is not None
    assert config.value("huggingface.co") == "https://huggingface.co/"
    (ctx.home / ".gitconfig").write_text(
        f'[url "{MIRROR}/"]\n\tinsteadOf = https://huggingface.co/\n'
    )
    config = git.resolve(ctx)
    assert config is not None and config.value("huggingface.co") == f"{MIRROR}/"


def test_a_relative_xdg_config_home_gets_the_rewrite_in_the_gitconfig_every_git_reads(
    tmp_path: Path,
) -> None:
    # XDG_CONFIG_HOME=rel: git reads rel/git/config from the directory it runs in, not
    # ~/.config/git/config, which the plan edited when it existed without ~/.gitconfig.
    ctx = make_ctx(tmp_path)
    ctx = Context.for_root(tmp_path, home=ctx.home, cwd=ctx.home, env={"XDG_CONFIG_HOME": "rel"})
    xdg = ctx.home / ".config" / "git" / "config"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("[user]\n\tname = A. Developer\n")
    plan = git.plan(ctx, profile(), USER)
    assert [change.path for change in plan.changes] == [ctx.home / ".gitconfig"]
    apply_plan(ctx, profile())
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    env = {**git.git_env(ctx), "GIT_DIR": git.NO_REPOSITORY}
    read = subprocess.run(
        ["git", "config", "--get-regexp", r"^url\..*\.insteadof$"],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert read.stdout.split() == [f"url.{MIRROR}/.insteadof", "https://huggingface.co/"]


def test_an_empty_git_config_global_skips_the_plan_as_git_reads_no_global_file(
    tmp_path: Path,
) -> None:
    # GIT_CONFIG_GLOBAL= : git reads no global file and `git config --global` fails
    # (git 2.39); the plan wrote ~/.gitconfig, which no clone then read.
    ctx = make_ctx(tmp_path)
    ctx = Context.for_root(tmp_path, home=ctx.home, cwd=ctx.home, env={"GIT_CONFIG_GLOBAL": ""})
    (ctx.home / ".gitconfig").write_text(
        f'[url "{MIRROR}/"]\n\tinsteadOf = https://huggingface.co/\n'
    )
    env = {**git.git_env(ctx), "GIT_DIR": git.NO_REPOSITORY}
    read = subprocess.run(
        ["git", "config", "--get-regexp", "insteadof"], env=env, capture_output=True, timeout=30
    )
    assert read.returncode == 1 and read.stdout == b""  # not read
    plan = git.plan(ctx, profile(), USER)
    assert plan.changes == () and plan.skipped is not None
    assert plan.skipped.startswith("GIT_CONFIG_GLOBAL is set and empty: git reads no global file")
