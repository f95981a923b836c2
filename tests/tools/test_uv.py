"""envdoctor.tools.uv: one default [[index]] in uv.toml, checked by the real uv.

Fixture files in ``data/uv`` carry comments, a legacy ``index-url`` with credentials,
named and explicit indexes, a ``[pip]`` table, inline arrays, a byte-order mark and CRLF.
The real ``uv`` (installed beside the test interpreter, or on PATH) then parses every
result and resolves a package from a loopback index that only the written file names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.planning import ApplyOptions
from envdoctor.planning import plan as plan_target
from envdoctor.profiles import Profile
from envdoctor.tools import uv as uv_target
from envdoctor.tools.uv import UvSettings
from tests.tools.test_pip import LoopbackIndex, apply, build_wheel, write
from tests.wheelindex import WheelIndex

DATA = Path(__file__).parent / "data" / "uv"
MIRROR = "https://mirrors.example.edu.cn/pypi/web/simple"
USER = ApplyOptions(scope="user")
SYSTEM = ApplyOptions(scope="system")


def profile(url: str = MIRROR) -> Profile:
    return Profile(
        name="test",
        description="",
        source=Path("test.toml"),
        origin="user",
        uv=UvSettings(url, allow_http=url.startswith("http:")),
    )


def make_ctx(root: Path, env: dict[str, str] | None = None) -> Context:
    home = root / "home" / "user"
    home.mkdir(parents=True, exist_ok=True)
    project = root / "proj"
    project.mkdir(exist_ok=True)
    environ = {"XDG_CONFIG_HOME": str(home / ".config"), "XDG_CONFIG_DIRS": str(root / "xdg")}
    environ.update(env or {})
    return Context.for_root(root, env=environ, home=home, cwd=project)


def user_toml(ctx: Context) -> Path:
    return ctx.home / ".config" / "uv" / "uv.toml"


def load_toml(data: bytes) -> dict[str, Any]:
    return tomlkit.parse(data.decode().removeprefix("\ufeff")).unwrap()


def expected_after(before: dict[str, Any], url: str) -> dict[str, Any]:
    """What the file should mean afterwards: one default index at ``url``, no index-url."""
    after = dict(before)
    after.pop("index-url", None)
    indexes = [dict(entry) for entry in after.get("index", [])]
    defaults = [entry for entry in indexes if entry.get("default") is True]
    if defaults:
        defaults[0]["url"] = url
        indexes = [e for e in indexes if e.get("default") is not True or e is defaults[0]]
    else:
        indexes.append({"url": url, "default": True})
    after["index"] = indexes
    return after


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.toml")))
def test_real_world_files_change_only_the_default_index(tmp_path: Path, name: str) -> None:
    original = (DATA / name).read_bytes()
    ctx = make_ctx(tmp_path)
    path = write(user_toml(ctx), original)

    plan = plan_target(ctx, "uv", profile(), USER)
    [change] = plan.changes
    assert change.display == "~/.config/uv/uv.toml" and change.old == original
    assert change.changed
    apply(plan)
    new = path.read_bytes()

    before, after = load_toml(original), load_toml(new)
    assert after == expected_after(before, MIRROR)
    kept = [key for key in before if key != "index-url"]
    assert list(after) == kept + ([] if "index" in before else ["index"])
    # Every comment survives; credentials of the replaced URL do not.
    comments = [line.strip() for line in original.decode().splitlines() if "#" in line]
    for comment in comments:
        if "index-url" not in comment:
            assert comment.split("#", 1)[1] in new.decode()
    assert b"t0ken" not in new
    # BOM and CRLF stay: uv reads both.
    assert new.startswith(b"\xef\xbb\xbf") == original.startswith(b"\xef\xbb\xbf")
    if b"\r\n" in original:
        assert b"\n" not in new.replace(b"\r\n", b"")

    write(path, change.old)  # rollback: byte for byte
    assert path.read_bytes() == original
    write(path, new)
    assert not plan_target(ctx, "uv", profile(), USER).changed


def test_fixture_files_still_have_their_odd_bytes() -> None:
    data = (DATA / "bom_crlf.toml").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf#") and b"\r\n" in data
    assert not (DATA / "inline_no_eol.toml").read_bytes().endswith(b"\n")


def test_named_default_keeps_its_name_and_place(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(user_toml(ctx), (DATA / "named_default.toml").read_bytes())
    plan = uv_target.plan(ctx, profile(), USER)
    text = (plan.changes[0].new or b"").decode()
    assert text == (DATA / "named_default.toml").read_text().replace(
        "https://pypi.campus.example/simple", MIRROR
    )
    assert plan.notes == ()


def test_legacy_index_url_is_replaced_with_a_note(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(user_toml(ctx), (DATA / "legacy.toml").read_bytes())
    notes = uv_target.plan(ctx, profile(), USER).notes
    assert notes == (
        "~/.config/uv/uv.toml: replaced the legacy index-url "
        "(https://***:***@pypi.corp.example/simple) with [[index]] default = true",
    )


def test_second_default_index_is_removed(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(
        user_toml(ctx),
        '[[index]]\nurl = "https://one/simple"\ndefault = true\n\n'
        '[[index]]\nurl = "https://u:p@two/simple"\ndefault = true\n',
    )
    plan = uv_target.plan(ctx, profile(), USER)
    assert load_toml(plan.changes[0].new or b"") == {"index": [{"url": MIRROR, "default": True}]}
    assert "removed a second default [[index]] (https://***:***@two/simple)" in plan.notes[0]


def test_new_file_user_and_system_scope(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    user = uv_target.plan(ctx, profile(), ApplyOptions(scope="user", owner=(7, 7)))
    assert user.changes[0].new == f'[[index]]\nurl = "{MIRROR}"\ndefault = true\n'.encode()
    assert user.changes[0].owner == (7, 7) and user.changes[0].old is None
    system = uv_target.plan(ctx, profile(), ApplyOptions(scope="system", owner=(7, 7)))
    assert system.changes[0].path == tmp_path / "etc" / "uv" / "uv.toml"
    assert system.changes[0].display == "/etc/uv/uv.toml" and system.changes[0].owner is None


def test_profile_without_uv_is_skipped(tmp_path: Path) -> None:
    prof = Profile(name="x", description="", source=Path("x.toml"), origin="user")
    assert uv_target.plan(make_ctx(tmp_path), prof, USER).skipped == "the profile does not set uv"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'native-tls = true\nindex-url = "https://x\n', "line 2: invalid TOML"),
        (b"a = 1\na = 2\n", "invalid TOML"),
        (b"index = 3\n", "index must be a list"),
        (b'index = ["https://x"]\n', "index must be a list"),
        (b"# caf\xe9\n", "line 1: not valid UTF-8"),
    ],
)
def test_malformed_file_names_file_and_line(tmp_path: Path, content: bytes, message: str) -> None:
    ctx = make_ctx(tmp_path)
    write(user_toml(ctx), content)
    with pytest.raises(EnvdoctorError) as caught:
        uv_target.plan(ctx, profile(), USER)
    assert caught.value.message.startswith("~/.config/uv/uv.toml")
    assert message in caught.value.message and caught.value.hint


# --------------------------------------------------------------------------- overrides


def notes(ctx: Context, options: ApplyOptions = USER) -> str:
    return "\n".join(uv_target.plan(ctx, profile(), options).notes)


def test_environment_overrides_are_reported(tmp_path: Path) -> None:
    ctx = make_ctx(
        tmp_path,
        {"UV_DEFAULT_INDEX": "https://a:b@env.example/simple", "UV_INDEX_URL": "https://l/simple"},
    )
    text = notes(ctx)
    assert "$UV_DEFAULT_INDEX=https://***:***@env.example/simple" in text
    assert "unset UV_INDEX_URL" in text


def test_project_and_user_files_beat_lower_scopes(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    assert notes(ctx) == ""
    write(ctx.cwd / "uv.toml", '[[index]]\nurl = "https://proj.example/simple"\ndefault = true\n')
    assert f"{ctx.cwd / 'uv.toml'} [index] sets a default index" in notes(ctx)
    (ctx.cwd / "uv.toml").unlink()
    # A project's legacy index-url loses to a user [[index]] default: nothing to say.
    write(ctx.cwd / "uv.toml", 'index-url = "https://proj.example/simple"\n')
    assert notes(ctx) == ""
    write(user_toml(ctx), '[[index]]\nurl = "https://user.example/simple"\ndefault = true\n')
    assert notes(ctx) == ""  # our own file
    assert f"{user_toml(ctx)} [index] sets a default index" in notes(ctx, SYSTEM)


def test_config_file_variables_are_reported(tmp_path: Path) -> None:
    assert "UV_NO_CONFIG" in notes(make_ctx(tmp_path, {"UV_NO_CONFIG": "1"}))
    other = write(tmp_path / "other.toml", "")
    assert "UV_CONFIG_FILE" in notes(make_ctx(tmp_path, {"UV_CONFIG_FILE": str(other)}))


# --------------------------------------------------------------------------- real uv


def uv_binary() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        pytest.skip("uv is not installed (pip install uv to run this check)")
    if Path("/etc/uv/uv.toml").exists():
        pytest.skip("this machine has /etc/uv/uv.toml, which uv reads and tests cannot redirect")
    return found


def uv_with_config(path: Path) -> subprocess.CompletedProcess[str]:
    """The real uv started with ``--config-file path`` (``uv version``): it fails, saying
    why on stderr, where it refuses the file."""
    return subprocess.run(
        [uv_binary(), "--config-file", str(path), "--no-cache", "version", "--short"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(path.parent)},
    )


def run_uv(ctx: Context, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(ctx.home),
        "XDG_CONFIG_HOME": str(ctx.xdg_config_home),
        "XDG_CONFIG_DIRS": ctx.env["XDG_CONFIG_DIRS"],
        "XDG_CACHE_HOME": str(ctx.home / ".cache"),
    }
    return subprocess.run(
        [uv_binary(), "pip", "compile", "--no-cache", "--python", sys.executable, *args, "-"],
        input="envdoctor-probe-pkg\n",
        env=env,
        cwd=ctx.cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.toml")))
def test_real_uv_accepts_every_written_file(tmp_path: Path, name: str) -> None:
    uv_binary()
    ctx = make_ctx(tmp_path)
    write(user_toml(ctx), (DATA / name).read_bytes())
    apply(uv_target.plan(ctx, profile(), USER))
    # --offline: uv parses the settings, then stops before any request.
    result = run_uv(ctx, "--offline")
    assert result.returncode != 0
    assert "network was disabled" in result.stderr, result.stderr


def test_real_uv_rejects_a_broken_file_the_same_way(tmp_path: Path) -> None:
    """The --offline check above can fail: uv refuses an unknown key."""
    uv_binary()
    ctx = make_ctx(tmp_path)
    write(user_toml(ctx), 'not-a-uv-setting = 1\n[[index]]\nurl = "https://x"\ndefault = true\n')
    result = run_uv(ctx, "--offline")
    assert "network was disabled" not in result.stderr
    assert "unknown field `not-a-uv-setting`" in result.stderr, result.stderr


def test_real_uv_resolves_from_the_index_only_the_written_file_names(tmp_path: Path) -> None:
    uv_binary()
    wheel = build_wheel(tmp_path / "build")
    with LoopbackIndex(tmp_path / "www", wheel) as index:
        ctx = make_ctx(tmp_path)
        write(user_toml(ctx), (DATA / "bom_crlf.toml").read_bytes())
        apply(uv_target.plan(ctx, profile(index.url), USER))
        result = run_uv(ctx)
    assert result.returncode == 0, result.stderr
    assert "envdoctor-probe-pkg==0.1" in result.stdout
    assert f"/simple/{index.project}/" in index.requests


@pytest.mark.parametrize("member_is_excluded", [False, True])
def test_a_workspace_members_settings_come_from_the_root_as_uv_reads_them(
    tmp_path: Path, member_is_excluded: bool
) -> None:
    # uv discovers the workspace first and reads its root's [tool.uv]: in a member, the
    # check named the member's index, and uv asked the root's.
    uv_binary()
    wheel = build_wheel(tmp_path / "build")
    with (
        LoopbackIndex(tmp_path / "root-index", wheel) as root_index,
        LoopbackIndex(tmp_path / "member-index", wheel) as member_index,
    ):
        ctx = make_ctx(tmp_path)
        exclude = '\nexclude = ["packages/m"]' if member_is_excluded else ""
        write(
            ctx.cwd / "pyproject.toml",
            '[project]\nname = "root"\nversion = "0"\n'
            f'[tool.uv.workspace]\nmembers = ["packages/*"]{exclude}\n'
            f'[tool.uv]\nindex-url = "{root_index.url}"\n',
        )
        member = ctx.cwd / "packages" / "m"
        write(
            member / "pyproject.toml",
            f'[project]\nname = "m"\nversion = "0"\n[tool.uv]\nindex-url = "{member_index.url}"\n',
        )
        in_member = Context.for_root(tmp_path, env=ctx.env, home=ctx.home, cwd=member)
        result = run_uv(in_member)
        used = member_index if member_is_excluded else root_index
        unused = root_index if member_is_excluded else member_index
        assert result.returncode == 0, result.stderr
        assert f"/simple/{used.project}/" in used.requests
        assert not unused.requests
        config = uv_target.resolve(in_member)
        assert config.value("default-index") == used.url
        source = config.settings["default-index"].source
        assert source.location == str(
            (member if member_is_excluded else ctx.cwd) / "pyproject.toml"
        )


# --- what PARALLEL_ADVICE says of uv, judged by uv ----------------------------------------


def _uv_install(index: WheelIndex, tmp_path: Path, *args: str, **env: str) -> None:
    index.reset()
    out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
    done = subprocess.run(
        [uv_binary(), *args, "pip", "install", "--no-cache", "--no-deps", "--target", str(out),
         "--python", sys.executable, "--index-url", index.url, *index.names],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "UV_PYTHON_DOWNLOADS": "never",
             **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-1500:]
    assert len(index.wheel_gets) == len(index.names)


def test_uv_downloads_as_many_files_at_once_as_its_advice_says(tmp_path: Path) -> None:
    """PARALLEL_ADVICE: up to UV_CONCURRENT_DOWNLOADS files at once (default 50; or
    concurrent-downloads in uv.toml), each over one connection, never split in ranges."""
    assert "UV_CONCURRENT_DOWNLOADS" in uv_target.PARALLEL_ADVICE
    assert "concurrent-downloads in uv.toml" in uv_target.PARALLEL_ADVICE
    with WheelIndex(tmp_path / "wheels", count=5, delay_s=0.6) as index:
        for limit in (1, 3):
            _uv_install(index, tmp_path, "--no-config", UV_CONCURRENT_DOWNLOADS=str(limit))
            assert index.most_in_flight == limit
        _uv_install(index, tmp_path, "--no-config")  # the default, 50: all five at once
        assert index.most_in_flight == 5
        config = tmp_path / "uv.toml"
        config.write_text("concurrent-downloads = 2\n")
        _uv_install(index, tmp_path, "--config-file", str(config))
        assert index.most_in_flight == 2
        assert not [get for get in index.wheel_gets if "range" in get]  # whole files
