from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envdoctor import shellenv as env
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile, get_profile
from envdoctor.results import TargetPlan
from envdoctor.tools.hf import HfSettings
from envdoctor.tools.modelscope import ModelscopeSettings
from envdoctor.transaction import apply_changes

USER = ApplyOptions(scope="user")
SYSTEM = ApplyOptions(scope="system")

BLOCK = (
    "# >>> envdoctor >>>\n"
    "# !! Contents within this block are managed by envdoctor !!\n"
    'if [ -f "$HOME/.config/envdoctor/env.sh" ]; then . "$HOME/.config/envdoctor/env.sh"; fi\n'
    "# <<< envdoctor <<<\n"
)
TSINGHUA_SH = (
    "# Managed by envdoctor (profile cn-tsinghua): the whole file is rewritten by\n"
    "# `envdoctor apply`; change the profile, not this file.\n"
    "export HF_ENDPOINT=https://hf-mirror.com\n"
    "export HF_HUB_DISABLE_XET=1\n"
    "export MODELSCOPE_DOMAIN=www.modelscope.cn\n"
    "export MODELSCOPE_ENDPOINT=https://www.modelscope.cn\n"
)

# Everything a value may hold: printable text, quotes, $, backticks, backslashes, spaces,
# tabs, other controls and any Unicode; never NUL or line breaks (one line per variable).
values = st.text(
    st.characters(codec="utf-8", blacklist_characters="\x00\n\r"),
    max_size=40,
)
tricky = st.sampled_from(["'", '"', "$HOME", "`id`", "\\", "$(id)", " ", "\t", "'\\''", "!", "*"])
shell_values = st.lists(st.one_of(values, tricky), min_size=1, max_size=6)


def make_profile(name: str = "test", **extra: str) -> Profile:
    return Profile(
        name=name,
        description="",
        source=Path(f"{name}.toml"),
        origin="user",
        hf=HfSettings("https://hf.example.org", MappingProxyType(dict(extra))),
        modelscope=ModelscopeSettings("www.modelscope.cn"),
    )


def write(plan: TargetPlan) -> None:
    for change in plan.changes:
        if change.new is None:
            change.path.unlink(missing_ok=True)
        else:
            change.path.parent.mkdir(parents=True, exist_ok=True)
            change.path.write_bytes(change.new)


def by_display(plan: TargetPlan) -> dict[str, bytes | None]:
    return {change.display: change.new for change in plan.changes}


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A child environment with none of this machine's HF or ModelScope settings."""
    path = os.environ.get("PATH", "/usr/bin:/bin")
    return {"HOME": str(home), "PATH": path, "LC_ALL": "C.UTF-8", **extra}


def new_shell(
    shell: list[str], command: str, home: Path, timeout: float = 30, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``command`` run by a new ``shell`` (``["bash", "-l", "-c"]``) in ``home``, with the
    clean environment and no terminal: what a user's next shell does."""
    return subprocess.run(
        [*shell, command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(home, **extra),
        stdin=subprocess.DEVNULL,
    )


def read_back(shell: list[str], script: Path, names: list[str]) -> list[str]:
    """Source ``script`` in a real shell and print each variable NUL-terminated."""
    printer = "printf '%s\\0'" + "".join(f' "${n}"' for n in names)
    result = subprocess.run(
        [*shell, f". {script}; {printer}"],
        capture_output=True,
        timeout=10,
        env=clean_env(script.parent),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().split("\0")[:-1]


# --- what the profile sets ---------------------------------------------------------------


def test_exports_of_shipped_profiles(ctx: Context) -> None:
    assert env.exports(get_profile(ctx, "cn-tsinghua")) == [
        ("HF_ENDPOINT", "https://hf-mirror.com"),
        ("HF_HUB_DISABLE_XET", "1"),
        ("MODELSCOPE_DOMAIN", "www.modelscope.cn"),
        ("MODELSCOPE_ENDPOINT", "https://www.modelscope.cn"),
    ]
    assert env.exports(get_profile(ctx, "global")) == [
        ("HF_ENDPOINT", "https://huggingface.co"),
        ("MODELSCOPE_DOMAIN", "www.modelscope.cn"),
        ("MODELSCOPE_ENDPOINT", "https://www.modelscope.cn"),
    ]


@pytest.mark.parametrize(
    "extra",
    [{"HF_X": "a\nexport EVIL=1"}, {"HF_X": "a\x00b"}, {"HF_X": "a\rb"}, {"HF-X": "1"}],
)
def test_unwritable_names_and_values_are_refused(extra: dict[str, str]) -> None:
    with pytest.raises(EnvdoctorError):
        env.exports(make_profile(**extra))


def test_renderers_exact() -> None:
    pairs = [("HF_ENDPOINT", "https://hf-mirror.com"), ("HF_X", 'it\'s $HOME \\ "q" `x`')]

    assert env.render_sh(pairs) == (
        "export HF_ENDPOINT=https://hf-mirror.com\nexport HF_X='it'\"'\"'s $HOME \\ \"q\" `x`'\n"
    )
    assert env.render_fish(pairs) == (
        "set -gx HF_ENDPOINT 'https://hf-mirror.com'\nset -gx HF_X 'it\\'s $HOME \\\\ \"q\" `x`'\n"
    )
    assert env.render_dockerfile(pairs) == (
        'ENV HF_ENDPOINT="https://hf-mirror.com"\nENV HF_X="it\'s \\$HOME \\\\ \\"q\\" `x`"\n'
    )


# --- quoting, checked by real shells -------------------------------------------------------


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(shell_values)
def test_sh_quoting_round_trips_through_bash_and_dash(tmp_path: Path, chosen: list[str]) -> None:
    pairs = [(f"HF_V{i}", value) for i, value in enumerate(chosen)]
    script = tmp_path / "env.sh"
    script.write_text(env.render_sh(pairs), encoding="utf-8")
    names = [name for name, _ in pairs]

    assert read_back(["bash", "-c"], script, names) == chosen
    if shutil.which("dash"):
        assert read_back(["dash", "-c"], script, names) == chosen


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(shell_values)
def test_fish_quoting_round_trips_through_fish(tmp_path: Path, chosen: list[str]) -> None:
    pairs = [(f"HF_V{i}", value) for i, value in enumerate(chosen)]
    script = tmp_path / "env.fish"
    script.write_text(env.render_fish(pairs), encoding="utf-8")
    names = [name for name, _ in pairs]
    printer = "printf '%s\\0'" + "".join(f" ${n}" for n in names)
    result = subprocess.run(
        ["fish", "--no-config", "-c", f"source {script}; {printer}"],
        capture_output=True,
        timeout=10,
        env=clean_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().split("\0")[:-1] == chosen


def buildkit_double_quoted(word: str) -> str:
    """BuildKit's processDoubleQuote (frontend/dockerfile/shell/lex.go), with no variables.

    Fails on an unescaped ``$`` (it would expand) or an unterminated string.
    """
    assert word.startswith('"')
    out: list[str] = []
    i = 1
    while i < len(word):
        char = word[i]
        if char == '"':
            assert i == len(word) - 1, "text after the closing quote"
            return "".join(out)
        assert char != "$", "an unescaped $ would be expanded"
        if char == "\\" and i + 1 < len(word) and word[i + 1] in '"$\\':
            i += 1
            char = word[i]
        out.append(char)
        i += 1
    raise AssertionError("unterminated double quote")


@given(st.lists(st.one_of(values, tricky), min_size=1, max_size=6))
def test_dockerfile_quoting_round_trips_through_buildkit_rules(chosen: list[str]) -> None:
    pairs = [(f"HF_V{i}", value) for i, value in enumerate(chosen)]
    lines = env.render_dockerfile(pairs).split("\n")
    assert lines.pop() == ""

    assert len(lines) == len(chosen)
    for (name, value), line in zip(pairs, lines, strict=True):
        prefix = f"ENV {name}="
        assert line.startswith(prefix)
        assert buildkit_double_quoted(line[len(prefix) :]) == value
        assert not line.endswith("\\")  # a trailing backslash would continue the line


# --- the rc block ------------------------------------------------------------------------------


BLOCK_LINES = BLOCK.splitlines()


def test_block_in_a_new_file() -> None:
    assert env.with_block(None, BLOCK_LINES, "~/.profile") == BLOCK.encode()


def test_block_appended_after_the_users_lines() -> None:
    old = b"# my bashrc\nalias ll='ls -l'\n"
    new = env.with_block(old, BLOCK_LINES, "~/.bashrc")
    assert new == old + b"\n" + BLOCK.encode()
    assert env.with_block(new, BLOCK_LINES, "~/.bashrc") == new


def test_block_keeps_bom_crlf_and_missing_final_newline() -> None:
    old = b"\xef\xbb\xbfexport A=1\r\nexport B=2"
    new = env.with_block(old, BLOCK_LINES, "~/.profile")

    assert new == old + b"\r\n\r\n" + BLOCK.replace("\n", "\r\n").encode()
    assert env.with_block(new, BLOCK_LINES, "~/.profile") == new


def test_block_replaced_in_place_other_bytes_identical() -> None:
    before = b"\xef\xbb\xbf# top\r\nexport PATH=$HOME/bin:$PATH\r\n"
    stale = b"# >>> envdoctor >>>\r\n. /old/path/env.sh\r\n  # <<< envdoctor <<<  \r\n"
    after = b"alias x=y\r\n# no newline at the end"
    new = env.with_block(before + stale + after, BLOCK_LINES, "~/.bashrc")

    assert new == before + BLOCK.replace("\n", "\r\n").encode() + after


def test_block_at_the_end_without_newline_stays_without() -> None:
    old = b"export A=1\n# >>> envdoctor >>>\nold\n# <<< envdoctor <<<"
    new = env.with_block(old, BLOCK_LINES, "~/.bashrc")
    assert new == b"export A=1\n" + BLOCK.encode()[:-1]
    assert env.with_block(new, BLOCK_LINES, "~/.bashrc") == new


def test_duplicate_blocks_are_collapsed_to_the_first() -> None:
    old = (
        b"a\n# >>> envdoctor >>>\nx\n# <<< envdoctor <<<\n"
        b"b\n# >>> envdoctor >>>\ny\n# <<< envdoctor <<<\nc\n"
    )
    assert env.with_block(old, BLOCK_LINES, "~/.bashrc") == b"a\n" + BLOCK.encode() + b"b\nc\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (b"a\n# >>> envdoctor >>>\nb\n", 2),
        (b"a\nb\n# <<< envdoctor <<<\n", 3),
        (b"# >>> envdoctor >>>\n# >>> envdoctor >>>\n# <<< envdoctor <<<\n", 1),
    ],
)
def test_broken_block_stops_naming_file_and_line(text: bytes, line: int) -> None:
    with pytest.raises(EnvdoctorError, match=rf"^~/\.bashrc line {line}: "):
        env.with_block(text, BLOCK_LINES, "~/.bashrc")


user_lines = st.lists(
    st.binary(max_size=30).filter(lambda b: b"envdoctor" not in b),
    max_size=8,
)


@given(user_lines, st.sampled_from([b"\n", b"\r\n"]), st.booleans(), st.booleans())
def test_block_property_idempotent_and_user_bytes_kept(
    chunks: list[bytes], newline: bytes, bom: bool, final_newline: bool
) -> None:
    body = newline.join(chunk.replace(b"\n", b"") for chunk in chunks)
    if final_newline and body:
        body += newline
    old = (b"\xef\xbb\xbf" if bom else b"") + body

    new = env.with_block(old, BLOCK_LINES, "~/.bashrc")

    assert new.startswith(old)
    assert new.count(b"# >>> envdoctor >>>") == 1
    assert env.with_block(new, BLOCK_LINES, "~/.bashrc") == new


# --- planning ----------------------------------------------------------------------------------


def test_user_plan_writes_owned_files_and_blocks_in_existing_rc_files(ctx: Context) -> None:
    bashrc, profile_rc = ctx.home / ".bashrc", ctx.home / ".profile"
    bashrc.write_bytes(b"# bashrc\n")
    profile_rc.write_bytes(b"# profile\n")

    plan = env.plan(ctx, get_profile(ctx, "cn-tsinghua"), ApplyOptions(owner=(1234, 1234)))

    assert plan.skipped is None
    assert by_display(plan) == {
        "~/.config/envdoctor/env.sh": TSINGHUA_SH.encode(),
        "~/.config/envdoctor/env.fish": (
            b"# Managed by envdoctor (profile cn-tsinghua): the whole file is rewritten by\n"
            b"# `envdoctor apply`; change the profile, not this file.\n"
            b"set -gx HF_ENDPOINT 'https://hf-mirror.com'\n"
            b"set -gx HF_HUB_DISABLE_XET '1'\n"
            b"set -gx MODELSCOPE_DOMAIN 'www.modelscope.cn'\n"
            b"set -gx MODELSCOPE_ENDPOINT 'https://www.modelscope.cn'\n"
        ),
        "~/.bashrc": b"# bashrc\n\n" + BLOCK.encode(),
        "~/.profile": b"# profile\n\n" + BLOCK.encode(),
    }
    assert {change.owner for change in plan.changes} == {(1234, 1234)}
    assert plan.changes[0].path == ctx.home / ".config/envdoctor/env.sh"


def test_second_plan_changes_nothing(ctx: Context) -> None:
    (ctx.home / ".bashrc").write_bytes(b"x=1\r\n")
    (ctx.xdg_config_home / "fish").mkdir(parents=True)
    profile = get_profile(ctx, "cn-tsinghua")
    write(env.plan(ctx, profile, USER))

    again = env.plan(ctx, profile, USER)

    assert len(again.changes) == 4  # env.sh, env.fish, conf.d/envdoctor.fish, ~/.bashrc
    assert not again.changed
    assert not any(note.startswith("new shells") for note in again.notes)


def test_switching_profile_drops_variables_it_no_longer_sets(ctx: Context) -> None:
    (ctx.home / ".profile").write_bytes(b"")
    write(env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER))

    plan = env.plan(ctx, get_profile(ctx, "global"), USER)

    sh = by_display(plan)["~/.config/envdoctor/env.sh"]
    assert sh is not None
    assert b"HF_HUB_DISABLE_XET" not in sh
    assert b"export HF_ENDPOINT=https://huggingface.co\n" in sh
    assert not [c for c in plan.changes if c.display == "~/.profile" and c.changed]


def test_rc_files_only_as_they_exist(ctx: Context) -> None:
    (ctx.home / ".bashrc").write_text("")
    (ctx.home / ".zshenv").write_text("")
    plan = env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER)
    rc = [c.display for c in plan.changes if not c.display.startswith("~/.config")]
    assert rc == ["~/.bashrc", "~/.zshenv"]


def test_no_rc_file_at_all_creates_profile(ctx: Context) -> None:
    plan = env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER)
    created = {c.display: c.new for c in plan.changes if c.old is None}
    assert created["~/.profile"] == BLOCK.encode()
    assert "~/.bashrc" not in created and "~/.zshenv" not in created


def test_zsh_user_gets_a_zshenv(ctx: Context) -> None:
    (ctx.home / ".zshrc").write_text("autoload -U compinit\n")
    plan = env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER)
    assert by_display(plan)["~/.zshenv"] == BLOCK.encode()
    assert "~/.profile" not in by_display(plan)
    assert (ctx.home / ".zshrc").read_text() == "autoload -U compinit\n"


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (Debian's zsh)")
@pytest.mark.parametrize("where", ["environment", "zshenv"])
def test_a_zsh_with_zdotdir_reads_the_block_in_a_new_login_shell(ctx: Context, where: str) -> None:
    # ZDOTDIR=~/.config/zsh, the user's files there.  Set before zsh starts (pam,
    # /etc/zshenv), zsh reads $ZDOTDIR/.zshenv and never ~/.zshenv or ~/.profile, where
    # the block went; set by ~/.zshenv (the common way), ~/.zshenv is the one to edit.
    zdotdir = ctx.home / ".config" / "zsh"
    zdotdir.mkdir(parents=True)
    (zdotdir / ".zshrc").write_text("autoload -U compinit\n")
    starts_with = {"ZDOTDIR": str(zdotdir)} if where == "environment" else {}
    if where == "zshenv":
        (ctx.home / ".zshenv").write_text('export ZDOTDIR="$HOME/.config/zsh"\n')
    ctx = Context.for_root(
        ctx.root, home=ctx.home, env={**ctx.env, "ZDOTDIR": str(zdotdir)}, cwd=ctx.cwd
    )
    plan = env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER)
    edited = "~/.config/zsh/.zshenv" if where == "environment" else "~/.zshenv"
    assert edited in by_display(plan) and "~/.profile" not in by_display(plan)
    write(plan)
    result = new_shell(["zsh", "-l", "-c"], 'printf "%s" "$HF_ENDPOINT"', ctx.home, **starts_with)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "https://hf-mirror.com"


def test_fish_under_a_relative_xdg_config_home_is_told_it_will_not_load_the_file(
    ctx: Context,
) -> None:
    # fish 3.6 takes XDG_CONFIG_HOME=rel as rel/fish under the directory it starts in.
    (ctx.home / ".config" / "fish").mkdir(parents=True)
    relative = Context.for_root(
        ctx.root, home=ctx.home, env={**ctx.env, "XDG_CONFIG_HOME": "rel"}, cwd=ctx.cwd
    )
    plan = env.plan(relative, get_profile(ctx, "cn-tsinghua"), USER)
    (note,) = [note for note in plan.notes if note.startswith("fish reads")]
    assert "rel/fish in the directory it starts in" in note and "~/.config/fish" in note
    if shutil.which("fish") is not None:
        where = subprocess.run(
            ["fish", "-c", "echo $__fish_config_dir"],
            env=clean_env(ctx.home, XDG_CONFIG_HOME="rel"),
            cwd=ctx.home,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert where.stdout.strip() in ("rel/fish", f"{ctx.home}/rel/fish"), where
    plan = env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER)
    assert not any(note.startswith("fish reads") for note in plan.notes)


def test_a_relative_or_an_image_s_zdotdir_never_moves_the_block_out_of_home(
    ctx: Context, tmp_path: Path
) -> None:
    # A relative ZDOTDIR is read from the directory zsh starts in: said, not followed.
    # Under --root, this shell's ZDOTDIR is no path of the image: the block stayed in
    # the image's ~/.zshenv, not /somewhere/.zshenv on this machine.
    (ctx.home / ".zshrc").write_text("")
    relative = Context.for_root(ctx.root, home=ctx.home, env={**ctx.env, "ZDOTDIR": "zd"})
    plan = env.plan(relative, get_profile(ctx, "cn-tsinghua"), USER)
    assert "~/.zshenv" in by_display(plan)
    assert any(n.startswith("zsh reads zd/.zshenv from the directory") for n in plan.notes)
    outside = tmp_path / "host-zdotdir"
    image = Context.for_root(ctx.root, home=ctx.home, env={**ctx.env, "ZDOTDIR": str(outside)})
    image = dataclasses.replace(image, image=True)
    plan = env.plan(image, get_profile(ctx, "cn-tsinghua"), USER)
    assert all(not str(change.path).startswith(str(outside)) for change in plan.changes)
    assert ctx.home / ".zshenv" in [change.path for change in plan.changes]


def test_bash_profile_linked_to_bashrc_gets_one_block_and_applies(ctx: Context) -> None:
    (ctx.home / ".bashrc").write_text("export EDITOR=vi\n")
    (ctx.home / ".bash_profile").symlink_to(".bashrc")
    (ctx.home / ".zshenv").symlink_to(ctx.home / ".bashrc")  # absolute link, same file

    plan = env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER)

    rc = [c.display for c in plan.changes if not c.display.startswith("~/.config")]
    assert rc == ["~/.bashrc"]  # the name that is not a link
    apply_changes(ctx, plan.changes, journal=ctx.home / "journal", description="d", profile="p")
    assert (ctx.home / ".bash_profile").is_symlink()
    assert (ctx.home / ".bashrc").read_text().count("# >>> envdoctor >>>") == 1
    again = env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER)
    assert not again.changed
    if shutil.which("bash") is not None:
        command = 'printf "%s|%s" "$HF_ENDPOINT" "$EDITOR"'
        result = new_shell(["bash", "-l", "-c"], command, ctx.home, timeout=20)
        assert result.stdout == "https://hf-mirror.com|vi", result.stderr


def test_fish_loader_only_for_fish_users(ctx: Context) -> None:
    (ctx.home / ".profile").write_text("")
    assert "~/.config/fish/conf.d/envdoctor.fish" not in by_display(
        env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER)
    )
    (ctx.xdg_config_home / "fish").mkdir(parents=True)
    loader = by_display(env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER))[
        "~/.config/fish/conf.d/envdoctor.fish"
    ]
    assert loader == (
        b"# Managed by envdoctor: loads the variables `envdoctor apply` wrote.\n"
        b'if test -f "$HOME/.config/envdoctor/env.fish"\n'
        b'    source "$HOME/.config/envdoctor/env.fish"\n'
        b"end\n"
    )


def test_config_home_with_spaces_is_quoted(tmp_path: Path) -> None:
    home = tmp_path / "home" / "user"
    home.mkdir(parents=True)
    ctx = Context.for_root(tmp_path, home=home, env={"XDG_CONFIG_HOME": str(home / "my conf")})
    plan = env.plan(ctx, make_profile(), USER)
    block = by_display(plan)["~/.profile"]
    assert block is not None
    assert b"if [ -f \"$HOME\"/'my conf/envdoctor/env.sh' ]; then" in block


def test_system_scope_writes_only_profile_d(ctx: Context) -> None:
    (ctx.home / ".bashrc").write_text("")
    plan = env.plan(ctx, get_profile(ctx, "cn-tsinghua"), SYSTEM)
    assert by_display(plan) == {"/etc/profile.d/envdoctor.sh": TSINGHUA_SH.encode()}
    assert plan.changes[0].path == ctx.path("/etc/profile.d/envdoctor.sh")
    assert plan.changes[0].owner is None


def test_profile_without_variables_is_skipped(ctx: Context) -> None:
    profile = Profile(name="x", description="", source=Path("x.toml"), origin="user")
    plan = env.plan(ctx, profile, USER)
    assert plan.skipped is not None and plan.changes == ()


def test_notes_for_lines_after_the_block_and_the_current_environment(tmp_path: Path) -> None:
    home = tmp_path / "home" / "user"
    home.mkdir(parents=True)
    ctx = Context.for_root(tmp_path, home=home, env={"HF_ENDPOINT": "https://u:pw@old.example"})
    (home / ".bashrc").write_text(
        "export HF_ENDPOINT=https://before.example\n"
        "# >>> envdoctor >>>\nx\n# <<< envdoctor <<<\n"
        "export HF_ENDPOINT=https://after.example\n"
        "unset MODELSCOPE_DOMAIN OTHER\n"
    )

    notes = env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER).notes

    wins = "after the envdoctor block, so it wins: remove that line"
    assert f"~/.bashrc line 6 sets HF_ENDPOINT {wins}" in notes  # in the new file
    assert f"~/.bashrc line 7 sets MODELSCOPE_DOMAIN {wins}" in notes
    assert not any("line 1" in note for note in notes)
    current = [note for note in notes if "in this environment" in note]
    assert len(current) == 1 and "pw" not in current[0] and "***" in current[0]


# --- real shells and huggingface_hub after apply ---------------------------------------------


def applied_home(ctx: Context, rc: str) -> Path:
    (ctx.home / rc).write_text("# the user's own\nexport EDITOR=vi\n")
    write(env.plan(ctx, get_profile(ctx, "cn-tsinghua"), USER))
    return ctx.home


@pytest.mark.parametrize(
    ("shell", "rc"),
    [
        (["bash", "-l", "-c"], ".profile"),
        (["bash", "-i", "-c"], ".bashrc"),
        (["dash", "-l", "-c"], ".profile"),
    ],
)
def test_new_shell_sees_the_variables(ctx: Context, shell: list[str], rc: str) -> None:
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{shell[0]} is not installed")
    home = applied_home(ctx, rc)
    command = (
        'printf "%s|%s|%s|%s" "$HF_ENDPOINT" "$HF_HUB_DISABLE_XET" "$MODELSCOPE_DOMAIN" "$EDITOR"'
    )
    result = new_shell(shell, command, home, timeout=20)
    assert result.stdout == "https://hf-mirror.com|1|www.modelscope.cn|vi", result.stderr


def test_huggingface_hub_reads_the_endpoint_in_a_new_login_shell(ctx: Context) -> None:
    if importlib.util.find_spec("huggingface_hub") is None:
        pytest.skip("huggingface_hub is not installed (pip install huggingface_hub)")
    home = applied_home(ctx, ".profile")
    code = "import huggingface_hub.constants as c; print(c.ENDPOINT, c.HF_HUB_DISABLE_XET)"
    result = new_shell(
        ["bash", "-l", "-c"],
        f'"$PY" -c "{code}"',
        home,
        timeout=60,
        PY=sys.executable,
        HF_HOME=str(home / "hf"),
        HF_HUB_OFFLINE="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["https://hf-mirror.com", "True"]


def test_block_is_harmless_before_env_sh_exists(ctx: Context) -> None:
    # `set -e` scripts that source ~/.profile must not stop on a missing env.sh.
    (ctx.home / ".profile").write_bytes(env.with_block(None, BLOCK_LINES, "~/.profile"))
    result = subprocess.run(
        ["sh", "-e", "-c", '. "$HOME/.profile"; echo sourced'],
        capture_output=True,
        text=True,
        timeout=10,
        env=clean_env(ctx.home),
    )
    assert (result.returncode, result.stdout) == (0, "sourced\n"), result.stderr
