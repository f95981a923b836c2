from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile, get_profile
from envdoctor.tools import conda
from envdoctor.tools.conda import CondaSettings

DATA = Path(__file__).parent / "data" / "conda"
TUNA = "https://mirrors.tuna.tsinghua.edu.cn/anaconda"
USER = ApplyOptions(scope="user")
BOM = b"\xef\xbb\xbf"


def _profile(
    base: str = TUNA,
    channels: tuple[str, ...] = ("conda-forge", "pytorch"),
    channels_url: str | None = None,
) -> Profile:
    return Profile(
        name="test",
        description="test",
        source=Path("test.toml"),
        origin="user",
        conda=CondaSettings(
            base_url=base, channels_url=channels_url or f"{base}/cloud", custom_channels=channels
        ),
    )


def _load(data: bytes) -> dict[str, Any]:
    loaded = YAML(typ="safe", pure=True).load(data.decode("utf-8").removeprefix("\ufeff"))
    return dict(loaded or {})


def _without(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


def _apply(ctx: Context, profile: Profile, options: ApplyOptions = USER) -> bytes:
    """Plan, write the new content as the engine would, return it."""
    result = conda.plan(ctx, profile, options)
    (change,) = result.changes
    assert change.new is not None
    change.path.parent.mkdir(parents=True, exist_ok=True)
    change.path.write_bytes(change.new)
    return change.new


def _variant(raw: bytes, encoding: str) -> bytes:
    if "crlf" in encoding:
        raw = raw.replace(b"\n", b"\r\n")
    if "bom" in encoding:
        raw = BOM + raw
    return raw


def test_new_file_has_exactly_the_mirror_settings(ctx: Context) -> None:
    result = conda.plan(ctx, _profile(), USER)
    (change,) = result.changes
    assert change.old is None
    assert change.path == ctx.home / ".condarc"
    assert change.display == "~/.condarc"
    assert change.new is not None
    assert _load(change.new) == {
        "channels": ["defaults"],
        "default_channels": [f"{TUNA}/pkgs/main", f"{TUNA}/pkgs/r", f"{TUNA}/pkgs/msys2"],
        "custom_channels": {"conda-forge": f"{TUNA}/cloud", "pytorch": f"{TUNA}/cloud"},
        "show_channel_urls": True,
    }
    # conda config's own layout: sequences indented under their key
    assert change.new.decode().startswith("channels:\n  - defaults\n")
    assert conda.CLEAN_NOTE in result.notes
    assert conda.PYTORCH_NOTE in result.notes


def test_system_scope_writes_etc_conda(ctx: Context) -> None:
    result = conda.plan(ctx, _profile(), ApplyOptions(scope="system", owner=(1000, 1000)))
    (change,) = result.changes
    assert change.path == ctx.path("/etc/conda/.condarc")
    assert change.display == "/etc/conda/.condarc"
    assert change.owner is None  # system files belong to root, not the sudo user


def test_user_scope_new_file_gets_the_invoking_users_owner(ctx: Context) -> None:
    (change,) = conda.plan(ctx, _profile(), ApplyOptions(scope="user", owner=(1000, 1000))).changes
    assert change.owner == (1000, 1000)


def test_profile_without_conda_is_skipped(ctx: Context) -> None:
    profile = Profile(name="x", description="x", source=Path("x.toml"), origin="user")
    result = conda.plan(ctx, profile, USER)
    assert result.skipped == "the profile does not set conda"
    assert result.changes == ()


@pytest.mark.parametrize("name", ["commented.condarc", "flow-style.condarc", "zero-offset.condarc"])
@pytest.mark.parametrize("encoding", ["utf8", "bom", "crlf", "bom+crlf"])
def test_only_the_intended_keys_change(ctx: Context, name: str, encoding: str) -> None:
    old = _variant((DATA / name).read_bytes(), encoding)
    path = ctx.home / ".condarc"
    path.write_bytes(old)
    (change,) = conda.plan(ctx, _profile(), USER).changes
    assert change.old == old  # what a rollback restores, byte for byte
    assert change.new is not None and change.changed
    before, after = _load(old), _load(change.new)
    assert _without(after, conda.KEYS) == _without(before, conda.KEYS)
    assert list(_without(after, conda.KEYS)) == list(_without(before, conda.KEYS))  # order
    assert after["default_channels"] == [
        f"{TUNA}/pkgs/main",
        f"{TUNA}/pkgs/r",
        f"{TUNA}/pkgs/msys2",
    ]
    assert after["show_channel_urls"] is True
    old_channels = before.get("channels", [])
    assert after["channels"][: len(old_channels)] == old_channels  # the user's order stays
    assert "defaults" in after["channels"]
    for key, value in (before.get("custom_channels") or {}).items():
        if key not in ("conda-forge", "pytorch"):
            assert after["custom_channels"][key] == value
    assert after["custom_channels"]["conda-forge"] == f"{TUNA}/cloud"
    # comments survive, and the encoding details too
    text = change.new.decode("utf-8")
    for line in old.decode("utf-8").splitlines():
        if line.lstrip().startswith("#"):
            assert line.strip() in text
    assert change.new.startswith(BOM) == ("bom" in encoding)
    if "crlf" in encoding:
        assert change.new.count(b"\n") == change.new.count(b"\r\n")
    else:
        assert b"\r" not in change.new
    # idempotent: planning again on the result changes nothing
    path.write_bytes(change.new)
    (again,) = conda.plan(ctx, _profile(), USER).changes
    assert again.new == again.old == change.new


def test_comments_stay_next_to_their_keys(ctx: Context) -> None:
    (ctx.home / ".condarc").write_bytes((DATA / "commented.condarc").read_bytes())
    text = _apply(ctx, _profile()).decode()
    assert "channel_priority: strict   # do not mix builds\n" in text
    assert "  - bioconda     # for samtools\n" in text
    assert "pkgs/free" not in text  # gone from defaults since conda 4.7
    assert "\"weird key: with colon\": 'single quoted'" in text  # quoting kept
    assert 'ssl_verify: "/etc/ssl/certs/corp.pem"' in text


def test_channels_gain_defaults_after_the_users_own(ctx: Context) -> None:
    (ctx.home / ".condarc").write_text("channels:\n  - conda-forge\n  - nvidia\n")
    after = _load(_apply(ctx, _profile()))
    assert after["channels"] == ["conda-forge", "nvidia", "defaults"]


def test_channel_alias_key_is_edited_not_duplicated(ctx: Context) -> None:
    (ctx.home / ".condarc").write_text("channel:\n  - conda-forge\n")
    after = _load(_apply(ctx, _profile()))
    assert after["channel"] == ["conda-forge", "defaults"]
    assert "channels" not in after  # conda stops when both are set


def test_already_configured_file_is_returned_byte_for_byte(ctx: Context) -> None:
    first = _apply(ctx, _profile())
    odd = first.decode().replace("show_channel_urls: true", "show_channel_urls: true  # mine")
    (ctx.home / ".condarc").write_text(odd)
    (change,) = conda.plan(ctx, _profile(), USER).changes
    assert not change.changed
    assert change.new == odd.encode()


def test_switching_profiles_drops_the_old_mirrors_channel_entries(ctx: Context) -> None:
    (ctx.home / ".condarc").write_text(
        "custom_channels:\n  mine: https://conda.example.org/cloud\n"
    )
    _apply(ctx, get_profile(ctx, "cn-tsinghua"))
    after = _load(_apply(ctx, get_profile(ctx, "global")))
    assert after["default_channels"] == [
        "https://repo.anaconda.com/pkgs/main",
        "https://repo.anaconda.com/pkgs/r",
        "https://repo.anaconda.com/pkgs/msys2",
    ]
    # conda-forge and pytorch would otherwise still come from TUNA
    assert after["custom_channels"] == {"mine": "https://conda.example.org/cloud"}
    after = _load(_apply(ctx, get_profile(ctx, "cn-bfsu")))
    assert after["custom_channels"]["conda-forge"] == "https://mirrors.bfsu.edu.cn/anaconda/cloud"


def test_global_profile_removes_an_emptied_custom_channels(ctx: Context) -> None:
    _apply(ctx, get_profile(ctx, "cn-tsinghua"))
    after = _load(_apply(ctx, get_profile(ctx, "global")))
    assert "custom_channels" not in after
    (again,) = conda.plan(ctx, get_profile(ctx, "global"), USER).changes
    assert not again.changed


def test_no_pytorch_note_without_pytorch(ctx: Context) -> None:
    result = conda.plan(ctx, _profile(channels=("conda-forge",)), USER)
    assert conda.PYTORCH_NOTE not in result.notes
    assert conda.CLEAN_NOTE in result.notes


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("channels:\n  - defaults\n bad indent: [\n", 3),
        ("show_channel_urls: true\nchannels: [a, b\nother: 1\n", 3),
        ("a: 1\na: 2\n", 2),  # duplicate keys: conda's ruamel refuses them too
    ],
)
def test_malformed_yaml_names_file_and_line(ctx: Context, text: str, line: int) -> None:
    (ctx.home / ".condarc").write_text(text)
    with pytest.raises(EnvdoctorError) as info:
        conda.plan(ctx, _profile(), USER)
    assert info.value.message.startswith(f"conda: ~/.condarc line {line}: invalid YAML")
    assert info.value.hint is not None and "~/.condarc" in info.value.hint


def test_yaml_errors_never_show_credentials(ctx: Context) -> None:
    url = "https://user:hunter2@conda.corp.example/t/tok-999/main"
    (ctx.home / ".condarc").write_text(f"default_channels: {url}\ndefault_channels: {url}\n")
    with pytest.raises(EnvdoctorError) as info:
        conda.plan(ctx, _profile(), USER)
    assert "hunter2" not in str(info.value)
    assert "tok-999" not in str(info.value)
    assert "line 2" in info.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# a list, not settings\n- defaults\n", "line 1: not a mapping"),
        ("ssl_verify: true\nchannels: conda-forge\n", "line 2: channels must be a list"),
        ("custom_channels: [a]\n", "line 1: custom_channels must be a mapping"),
    ],
)
def test_wrong_shapes_are_refused(ctx: Context, text: str, message: str) -> None:
    (ctx.home / ".condarc").write_text(text)
    with pytest.raises(EnvdoctorError, match=message):
        conda.plan(ctx, _profile(), USER)


@pytest.mark.parametrize(
    "text", ["channels: ~\ncustom_channels: ~\n", "channels:\ncustom_channels:\n"]
)
def test_empty_channels_and_custom_channels_are_filled(ctx: Context, text: str) -> None:
    """conda drops an empty list or mapping setting, so apply fills it in, not refuses."""
    (ctx.home / ".condarc").write_text(text)
    written = _load(_apply(ctx, _profile()))
    assert written["channels"] == ["defaults"]
    assert written["custom_channels"] == {
        "conda-forge": f"{TUNA}/cloud",
        "pytorch": f"{TUNA}/cloud",
    }


def test_invalid_utf8_names_the_line(ctx: Context) -> None:
    (ctx.home / ".condarc").write_bytes(b"channels:\n  - d\xffefaults\n")
    with pytest.raises(EnvdoctorError, match=r"~/.condarc line 2: not valid UTF-8"):
        conda.plan(ctx, _profile(), USER)


def test_empty_file_is_filled(ctx: Context) -> None:
    (ctx.home / ".condarc").write_text("")
    (change,) = conda.plan(ctx, _profile(), USER).changes
    assert change.old == b"" and change.new is not None
    assert _load(change.new)["show_channel_urls"] is True


def test_warns_about_env_vars_and_higher_files(ctx: Context, tmp_path: Path) -> None:
    override = tmp_path / "team.condarc"
    override.write_text("default_channels:\n  - https://conda.team.example/pkgs/main\n")
    env = dict(ctx.env, CONDARC=str(override), CONDA_SHOW_CHANNEL_URLS="false")
    ctx = Context.for_root(ctx.root, home=ctx.home, env=env)
    notes = conda.plan(ctx, _profile(), USER).notes
    assert "default_channels in /team.condarc are listed before those of ~/.condarc" in notes
    assert any("$CONDA_SHOW_CHANNEL_URLS" in note for note in notes)


def test_lower_files_do_not_warn(ctx: Context) -> None:
    system = ctx.path("/etc/conda/.condarc")
    system.parent.mkdir(parents=True)
    system.write_text("default_channels:\n  - https://conda.site.example/pkgs/main\n")
    notes = conda.plan(ctx, _profile(), USER).notes
    assert notes == (conda.CLEAN_NOTE, conda.PYTORCH_NOTE)


def test_system_scope_warns_about_the_users_file(ctx: Context) -> None:
    (ctx.home / ".condarc").write_text("show_channel_urls: false\n")
    notes = conda.plan(ctx, _profile(), ApplyOptions(scope="system")).notes
    assert "show_channel_urls in ~/.condarc overrides /etc/conda/.condarc" in notes


def test_problem_notes_are_masked(ctx: Context) -> None:
    higher = ctx.home / ".conda" / ".condarc"
    higher.parent.mkdir()
    higher.write_text("channels: [a\n")
    # ~/.conda/.condarc is below ~/.condarc but conda stops on it: say so
    notes = conda.plan(ctx, _profile(), USER).notes
    assert any(note.startswith("conda: ~/.conda/.condarc line") for note in notes)


_keys = st.text(
    alphabet=st.characters(min_codepoint=48, max_codepoint=122, categories=["L", "N"]),
    min_size=1,
    max_size=12,
).filter(lambda key: key not in (*conda.KEYS, "channel"))
_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.text(max_size=20).filter(lambda s: s.strip() == s and "\x85" not in s),
    st.none(),
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=4), st.dictionaries(_keys, _scalars))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    other=st.dictionaries(_keys, _values, max_size=6),
    channels=st.lists(st.sampled_from(["conda-forge", "bioconda", "nvidia", "defaults"])),
    custom=st.dictionaries(
        st.sampled_from(["mine", "pytorch", "conda-forge"]), st.just("https://x.example/c")
    ),
)
def test_random_condarc_keeps_its_other_keys(
    ctx: Context, other: dict[str, Any], channels: list[str], custom: dict[str, str]
) -> None:
    data: dict[str, Any] = dict(other)
    if channels:
        data["channels"] = channels
    if custom:
        data["custom_channels"] = custom
    stream = io.StringIO()
    YAML(typ="rt").dump(data, stream)
    old = stream.getvalue().encode()
    (ctx.home / ".condarc").write_bytes(old)
    (change,) = conda.plan(ctx, _profile(), USER).changes
    assert change.new is not None
    after = _load(change.new)
    assert _without(after, conda.KEYS) == other
    assert after["custom_channels"].get("mine", None) == custom.get("mine")
    (ctx.home / ".condarc").write_bytes(change.new)
    (again,) = conda.plan(ctx, _profile(), USER).changes
    assert again.new == change.new


@pytest.mark.skipif(shutil.which("conda") is None, reason="conda is not installed")
def test_conda_itself_reads_the_written_file(ctx: Context) -> None:
    _apply(ctx, _profile())
    conda_exe = shutil.which("conda")
    assert conda_exe is not None
    env = {"HOME": str(ctx.home), "PATH": "/usr/bin:/bin", "CONDA_PKGS_DIRS": str(ctx.root / "p")}
    shown = subprocess.run(
        [conda_exe, "config", "--show", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    config = json.loads(shown.stdout)
    assert config["default_channels"][0] == f"{TUNA}/pkgs/main"
    assert config["show_channel_urls"] is True
    assert config["custom_channels"]["conda-forge"].rstrip("/") == f"{TUNA}/cloud"
