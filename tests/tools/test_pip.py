"""envdoctor.tools.pip: minimal, reversible edits of pip.conf, checked by pip itself.

Fixture files in ``data/pip`` are the kind people really have: comments, ``[install]``,
``[freeze]`` and ``[list]`` sections, underscore spellings, credentials in URLs, a
byte-order mark, CRLF and mixed line endings.  The real pip then reads what was written:
``pip config debug``/``list``, and ``pip install`` from a loopback simple index that only
the written file names.
"""

from __future__ import annotations

import configparser
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.planning import ApplyOptions
from envdoctor.planning import plan as plan_target
from envdoctor.profiles import Profile
from envdoctor.results import TargetPlan
from envdoctor.tools import pip as pip_target
from envdoctor.tools.pip import PipSettings
from envdoctor.tools.pip_config import PipConfigParser, pip_option_name
from tests.wheelindex import WheelIndex, build_wheel

DATA = Path(__file__).parent / "data" / "pip"
MIRROR = "https://mirrors.example.edu.cn/pypi/web/simple"
EXTRAS = ("https://download.example.org/whl/cu124", "https://extra.example.org/simple")
USER = ApplyOptions(scope="user")
SYSTEM = ApplyOptions(scope="system")


def profile(index_url: str = MIRROR, extras: tuple[str, ...] = ()) -> Profile:
    urls = (index_url, *extras)
    return Profile(
        name="test",
        description="",
        source=Path("test.toml"),
        origin="user",
        pip=PipSettings(index_url, extras, allow_http=any(u.startswith("http:") for u in urls)),
    )


def make_ctx(root: Path, env: dict[str, str] | None = None) -> Context:
    home = root / "home" / "user"
    home.mkdir(parents=True, exist_ok=True)
    environ = {"XDG_CONFIG_HOME": str(home / ".config")}
    environ.update(env or {})
    return Context.for_root(root, env=environ, home=home)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def user_conf(ctx: Context) -> Path:
    return ctx.home / ".config" / "pip" / "pip.conf"


def apply(plan: TargetPlan) -> None:
    """What the engine does, minus the journal: write every change's new bytes."""
    for change in plan.changes:
        assert change.new is not None
        write(change.path, change.new)


def parse(data: bytes) -> dict[str, dict[str, str]]:
    """The file as pip reads it: sections of normalised keys, values split like pip's."""
    parser = PipConfigParser()
    parser.read_string(data.decode("utf-8").removeprefix("\ufeff"))
    return {s: {k: " ".join(v.split()) for k, v in parser.items(s)} for s in parser.sections()}


BOM = b"\xef\xbb\xbf"
EDITED = {"index-url", "extra-index-url", "trusted-host"}


def edited_line(line: bytes) -> bool:
    """A line that belongs to one of the keys the target edits (or a [global] it adds)."""
    text = line.decode().removeprefix("\ufeff").strip()
    if not text or text == "[global]":
        return True
    if line[:1] in (b" ", b"\t"):
        return True  # a continuation line of a multi-line value
    key = text.split("=", 1)[0].strip()
    return pip_option_name(key) in EDITED


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.conf")))
@pytest.mark.parametrize("extras", [(), EXTRAS], ids=["index", "extras"])
def test_real_world_files_change_only_the_profile_keys(
    tmp_path: Path, name: str, extras: tuple[str, ...]
) -> None:
    original = (DATA / name).read_bytes()
    ctx = make_ctx(tmp_path)
    path = write(user_conf(ctx), original)

    plan = plan_target(ctx, "pip", profile(extras=extras), USER)
    [change] = plan.changes
    assert change.path == path and change.display == "~/.config/pip/pip.conf"
    assert change.old == original and change.changed
    apply(plan)
    new = path.read_bytes()

    before, after = parse(original), parse(new)
    expected = {section: dict(keys) for section, keys in before.items()}
    glob = expected.setdefault("global", {})
    for alias in [k for k in glob if k in ("index-url", "pypi-url")]:
        del glob[alias]
    glob["index-url"] = MIRROR
    if extras:
        glob["extra-index-url"] = " ".join(extras)
    assert after == expected
    assert list(after) == list(before) + ([] if "global" in before else ["global"])

    # Line by line: whatever left or arrived belongs to an edited key.
    old_lines = Counter(original.splitlines(keepends=True))
    new_lines = Counter(new.splitlines(keepends=True))
    gone, came = old_lines - new_lines, new_lines - old_lines
    # The BOM goes (pip refuses it) and a last line without a newline may gain one.
    for line in list(gone):
        for replacement in (line.removeprefix(BOM), line + b"\n", line + b"\r\n"):
            if replacement != line and came[replacement]:
                del gone[line]
                came[replacement] -= 1
                break
    came = +came
    assert all(edited_line(line) for line in gone), gone
    assert all(edited_line(line) for line in came), came
    assert not any(b"s3cr3t" in line for line in came)

    # Line endings: CRLF stays CRLF, and each kept line keeps its own.
    if b"\r\n" in original and b"\n" not in original.replace(b"\r\n", b""):
        assert b"\n" not in new.replace(b"\r\n", b"")

    # Rollback is writing old back: byte for byte.
    write(path, change.old)
    assert path.read_bytes() == original

    # Idempotent: planning against the result changes nothing.
    write(path, new)
    again = plan_target(ctx, "pip", profile(extras=extras), USER)
    assert not again.changed and again.changes[0].new == new


def test_fixture_files_still_have_their_odd_bytes() -> None:
    """Guard against a checkout that normalised the fixtures (then tests above prove less)."""
    assert (DATA / "bom_crlf.conf").read_bytes().startswith(b"\xef\xbb\xbf#")
    assert b"\r\n" in (DATA / "bom_crlf.conf").read_bytes()
    assert b"\r\n" in (DATA / "mixed_endings.conf").read_bytes()
    assert not (DATA / "no_global_no_eol.conf").read_bytes().endswith(b"\n")


def test_bom_is_removed_with_a_note_and_crlf_kept(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(user_conf(ctx), (DATA / "bom_crlf.conf").read_bytes())
    plan = pip_target.plan(ctx, profile(), USER)
    new = plan.changes[0].new
    assert new is not None
    assert new.startswith(b"# saved by Notepad")
    assert b"cert = C:\\certs\\ca.pem\r\n" in new
    assert b"index-url = " + MIRROR.encode() + b"\r\n" in new
    assert any("byte-order mark" in note for note in plan.notes)


def test_underscore_spellings_are_edited_in_place(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(user_conf(ctx), (DATA / "legacy_spelling.conf").read_bytes())
    plan = pip_target.plan(ctx, profile(extras=EXTRAS), USER)
    text = (plan.changes[0].new or b"").decode()
    keys = [line.split("=")[0].strip() for line in text.splitlines() if "=" in line]
    assert keys.count("index_url") == 1 and "index-url" not in keys
    assert keys.count("extra_index_url") == 1 and "extra-index-url" not in keys
    assert "trusted_host = pypi.old-mirror.example\n" in text  # https profile: untouched
    assert "tok@" not in text


def test_old_value_continued_past_a_comment_is_replaced_whole() -> None:
    # pip's parser skips the comment and keeps reading the indented line as part of the
    # value; leaving it would make pip's index-url "MIRROR\n\nhttps://cont.example/simple".
    old = b"[global]\nindex-url=\n# note\n\n    https://cont.example/simple\ntimeout = 3\n"
    settings = profile().pip
    assert settings is not None
    new, _ = pip_target.edit(old, settings, "pip.conf")
    assert parse(new)["global"] == {"index-url": MIRROR, "timeout": "3"}
    assert b"# note\n" in new
    assert pip_target.edit(new, settings, "pip.conf")[0] == new


def test_new_file_and_http_index_trusts_only_the_http_host(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    prof = profile("http://10.0.0.5:8080/simple", extras=("https://secure.example/simple",))
    plan = pip_target.plan(ctx, prof, ApplyOptions(scope="user", owner=(1000, 1000)))
    [change] = plan.changes
    assert change.old is None and change.owner == (1000, 1000)
    assert parse(change.new or b"") == {
        "global": {
            "index-url": "http://10.0.0.5:8080/simple",
            "extra-index-url": "https://secure.example/simple",
            "trusted-host": "10.0.0.5:8080",
        }
    }
    assert plan.notes == ()


def test_existing_trusted_hosts_are_kept_and_pypi_url_alias_removed(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(
        user_conf(ctx),
        "[global]\ntrusted-host = old.example\npypi-url = https://a/simple\n"
        "index-url = https://b/simple\n",
    )
    plan = pip_target.plan(ctx, profile("http://127.0.0.1:9/simple"), USER)
    parsed = parse(plan.changes[0].new or b"")["global"]
    assert parsed == {
        "trusted-host": "old.example 127.0.0.1:9",
        "index-url": "http://127.0.0.1:9/simple",
    }


def test_system_scope_writes_etc_pip_conf(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    plan = pip_target.plan(ctx, profile(), ApplyOptions(scope="system", owner=(5, 5)))
    [change] = plan.changes
    assert change.path == tmp_path / "etc" / "pip.conf"
    assert change.display == "/etc/pip.conf" and change.owner is None


def test_profile_without_pip_is_skipped(tmp_path: Path) -> None:
    prof = Profile(name="x", description="", source=Path("x.toml"), origin="user")
    plan = pip_target.plan(make_ctx(tmp_path), prof, USER)
    assert plan.skipped == "the profile does not set pip" and plan.changes == ()


# --------------------------------------------------------------------------- broken files


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        (b"[global]\nindex-url = a\nindex_url = b\n", 3, "set twice"),
        (b"[global]\ntimeout = 1\n\n[global]\n", 4, "appears twice"),
        (b"# hi\nindex-url = https://x/simple\n", 2, "before the first [section]"),
        (b"[global]\ntimeout = 1\n[broken\n", 3, "neither"),
        (b"[global]\n# caf\xe9\n", 2, "not valid UTF-8"),
    ],
)
def test_malformed_file_names_file_and_line(
    tmp_path: Path, content: bytes, line: int, problem: str
) -> None:
    ctx = make_ctx(tmp_path)
    write(user_conf(ctx), content)
    with pytest.raises(EnvdoctorError) as caught:
        pip_target.plan(ctx, profile(), USER)
    assert f"~/.config/pip/pip.conf line {line}:" in caught.value.message
    assert problem in caught.value.message
    assert caught.value.hint


def test_directory_in_the_way_is_an_error(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    user_conf(ctx).mkdir(parents=True)
    with pytest.raises(EnvdoctorError, match="is a directory"):
        pip_target.plan(ctx, profile(), USER)


# --------------------------------------------------------------------------- overrides


def notes_for(ctx: Context, options: ApplyOptions = USER, prof: Profile | None = None) -> str:
    return "\n".join(pip_target.plan(ctx, prof or profile(), options).notes)


def test_no_notes_when_nothing_overrides(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(ctx.path("/etc/pip.conf"), "[global]\nindex-url = https://site.example/simple\n")
    assert notes_for(ctx) == ""


def test_install_section_anywhere_is_reported(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(ctx.path("/etc/pip.conf"), "[install]\nindex-url = https://u:pw@corp.example/simple\n")
    notes = notes_for(ctx)
    assert str(tmp_path / "etc" / "pip.conf") + " [install]" in notes
    assert "pw@" not in notes and "***" in notes


def test_environment_variables_are_reported(tmp_path: Path) -> None:
    ctx = make_ctx(
        tmp_path,
        {"PIP_INDEX_URL": "https://env.example/simple", "PIP_EXTRA_INDEX_URL": "https://e/s"},
    )
    notes = notes_for(ctx, prof=profile(extras=EXTRAS))
    assert "$PIP_INDEX_URL=https://env.example/simple" in notes
    assert "unset PIP_EXTRA_INDEX_URL" in notes


def test_higher_files_are_reported_for_each_scope(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    ctx = make_ctx(tmp_path, {"VIRTUAL_ENV": str(venv)})
    write(venv / "pip.conf", "[global]\nindex-url = https://venv.example/simple\n")
    assert f"{venv / 'pip.conf'} [global]" in notes_for(ctx)

    (venv / "pip.conf").unlink()
    write(user_conf(ctx), "[global]\nindex-url = https://user.example/simple\n")
    assert notes_for(ctx) == ""  # our own file: replaced, not an override
    assert f"{user_conf(ctx)} [global]" in notes_for(ctx, SYSTEM)


def test_pip_config_file_hiding_the_user_file_is_reported(tmp_path: Path) -> None:
    other = write(tmp_path / "elsewhere.conf", "[global]\ntimeout = 5\n")
    ctx = make_ctx(tmp_path, {"PIP_CONFIG_FILE": str(other)})
    assert "pip does not read ~/.config/pip/pip.conf" in notes_for(ctx)


def test_no_index_and_broken_other_files_are_reported(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(ctx.path("/etc/pip.conf"), "[global]\nno-index = true\n")
    write(ctx.path("/etc/xdg/pip/pip.conf"), "[global]\nx = 1\nx = 2\n")
    notes = notes_for(ctx)
    assert "no-index" in notes
    assert str(ctx.path("/etc/xdg/pip/pip.conf")) + " line 3" in notes


# --------------------------------------------------------------------------- property

KEY = st.sampled_from(
    ["index-url", "index_url", "extra-index-url", "trusted-host", "timeout", "cert", "user",
     "Index-URL", "pypi-url", "no-cache-dir", "format"]
)  # fmt: skip
VALUE = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789:/._-@ ", min_size=0, max_size=30
).map(str.strip)
LINE = st.one_of(
    st.tuples(KEY, st.sampled_from(["=", " = ", ":"]), VALUE).map("".join),
    st.text(alphabet="abc xyz#;=", max_size=20).map(lambda t: "# " + t),
    st.just(""),
    st.sampled_from(["    https://cont.example/simple", "\tcont"]),
)
SECTION = st.tuples(
    st.sampled_from(["global", "install", "freeze", "list", "download", "DEFAULT", "Global"]),
    st.lists(LINE, max_size=6),
)
CONF = st.tuples(
    st.lists(st.sampled_from(["", "# header", "; note"]), max_size=2),
    st.lists(SECTION, max_size=5),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conf=CONF, extras=st.sampled_from([(), EXTRAS]), http=st.booleans())
def test_any_file_gives_a_parsable_result_or_envdoctor_error(
    conf: tuple[list[str], list[tuple[str, list[str]]], str, bool, bool],
    extras: tuple[str, ...],
    http: bool,
) -> None:
    preamble, sections, eol, bom, final_eol = conf
    lines = list(preamble)
    for name, body in sections:
        lines += [f"[{name}]", *body]
    text = eol.join(lines) + (eol if final_eol and lines else "")
    data = ("\ufeff" if bom else "").encode() + text.encode()
    index = "http://127.0.0.1:3141/simple" if http else MIRROR
    settings_ = profile(index, extras).pip
    assert settings_ is not None
    try:
        new, _ = pip_target.edit(data, settings_, "pip.conf")
    except EnvdoctorError as error:
        assert "pip.conf" in error.message
        return
    parser = configparser.RawConfigParser()
    parser.read_string(new.decode())  # plain configparser reads it too
    assert index in dict(parser.items("global")).values()
    written = parse(new)["global"]
    # pip reads pypi-url as index-url; a file that only has the alias is edited in place.
    # Of two spellings the later one pip meets wins ([DEFAULT] keys come first), as pip's
    # own option parser shows for `[global] pypi-url = X` beside `[DEFAULT] index-url =`;
    # pip skips an empty value ("Ignoring configuration key ... as it's value is empty").
    spellings = [
        value for key, value in written.items() if key in ("index-url", "pypi-url") and value
    ]
    assert spellings[-1] == index
    if http:
        assert "127.0.0.1:3141" in parse(new)["global"]["trusted-host"].split()
    assert pip_target.edit(new, settings_, "pip.conf")[0] == new
    if b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b""):
        assert b"\n" not in new.replace(b"\r\n", b"")


# --------------------------------------------------------------------------- real pip


def real_etc_pip_sets_index() -> bool:
    """This machine's /etc/pip.conf cannot be redirected: skip if it sets an index."""
    parser = configparser.RawConfigParser()
    try:
        parser.read("/etc/pip.conf", encoding="utf-8")
    except configparser.Error:
        return True
    return any(
        pip_option_name(key) in ("index-url", "pypi-url", "no-index")
        for section in parser.sections()
        if section != "global"
        for key in parser.options(section)
    )


def pip_env(ctx: Context, root: Path) -> dict[str, str]:
    """HOME and XDG in the test tree; no PIP_* variable of this machine leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(ctx.home),
        "XDG_CONFIG_HOME": str(ctx.xdg_config_home),
        "XDG_CONFIG_DIRS": str(root / "etc" / "xdg"),
        "LANG": "C.UTF-8",
    }


def run_pip(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_bare_cr_pip_conf_is_read_as_pip_reads_it(tmp_path: Path) -> None:
    """pip opens its files in text mode: a bare CR ends a line.  resolve once read such a
    file as one long line (no section at all); now it sees what pip sees."""
    from envdoctor.tools.pip_config import resolve_pip

    ctx = make_ctx(tmp_path)
    write(user_conf(ctx), "[global]\rindex-url = https://cr.example/simple\rtimeout = 7\r")
    config = resolve_pip(ctx)
    assert config.settings["index-url"].value == "https://cr.example/simple"
    assert config.settings["timeout"].value == 7.0
    listed = run_pip(pip_env(ctx, tmp_path), "config", "list")
    assert listed.returncode == 0, listed.stderr
    assert "global.index-url='https://cr.example/simple'" in listed.stdout
    assert "global.timeout='7'" in listed.stdout


_PIP_INDEX = (
    "from pip._internal.commands.install import InstallCommand\n"
    "options, _ = InstallCommand('install', '').parse_args([])\n"
    "print(options.index_url)\n"
)


def test_an_index_spelling_only_default_has_is_set_in_global_too(tmp_path: Path) -> None:
    """configparser puts [DEFAULT]'s keys first in [global], and pip takes the last
    spelling it meets: a [DEFAULT] pypi-url after index-url would still be pip's index
    if only [global] index-url were set.  Judged by pip's own option parser."""
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[DEFAULT]\nindex-url = https://a.example/simple\npypi-url = https://b.example/simple\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path)}

    def pip_index() -> str:
        out = subprocess.run(
            [sys.executable, "-c", _PIP_INDEX], env=env, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    assert pip_index() == "https://pypi.org/simple"  # no section: pip reads no key yet
    settings_ = profile(MIRROR, ()).pip
    assert settings_ is not None
    new, _ = pip_target.edit(conf.read_bytes(), settings_, "pip.conf")
    conf.write_bytes(new)
    assert pip_index() == MIRROR
    assert new.startswith(b"[DEFAULT]\nindex-url = https://a.example/simple\n")  # untouched
    assert pip_target.edit(new, settings_, "pip.conf")[0] == new


def test_pip_config_debug_and_list_read_the_written_file(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(user_conf(ctx), (DATA / "commented.conf").read_bytes())
    apply(pip_target.plan(ctx, profile(extras=EXTRAS), USER))
    env = pip_env(ctx, tmp_path)

    debug = run_pip(env, "config", "debug")
    assert debug.returncode == 0, debug.stderr
    assert f"{user_conf(ctx)}, exists: True" in debug.stdout
    assert f"global.index-url: {MIRROR}" in debug.stdout

    listed = run_pip(env, "config", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"global.index-url='{MIRROR}'" in listed.stdout
    assert "install.only-binary=':all:'" in listed.stdout  # the rest still read
    assert "list.format='columns'" in listed.stdout


class LoopbackIndex:
    """A PEP 503 simple index on 127.0.0.1 serving one wheel; logs the paths asked for."""

    def __init__(self, root: Path, wheel: Path) -> None:
        project = wheel.name.split("-")[0]
        normal = project.replace("_", "-")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        write(root / "simple" / "index.html", f'<a href="{normal}/">{normal}</a>\n')
        write(
            root / "simple" / normal / "index.html",
            f'<a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a>\n',
        )
        write(root / "files" / wheel.name, wheel.read_bytes())
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

            def log_message(self, format: str, *args: object) -> None:
                requests.append(self.path)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        self.project = normal
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackIndex:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback_index(tmp_path: Path) -> Iterator[LoopbackIndex]:
    wheel = build_wheel(tmp_path / "build")
    with LoopbackIndex(tmp_path / "www", wheel) as index:
        yield index


def test_pip_install_resolves_from_the_index_only_the_written_file_names(
    tmp_path: Path, loopback_index: LoopbackIndex
) -> None:
    if real_etc_pip_sets_index():
        pytest.skip("this machine's /etc/pip.conf sets an index for a command; cannot redirect")
    ctx = make_ctx(tmp_path)
    write(user_conf(ctx), (DATA / "commented.conf").read_bytes())
    apply(pip_target.plan(ctx, profile(loopback_index.url), USER))
    # commented.conf's [install] only-binary stays: a wheel satisfies it.
    target = tmp_path / "site"
    result = run_pip(
        pip_env(ctx, tmp_path),
        "install", "--no-deps", "--no-cache-dir", "--target", str(target), loopback_index.project,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / "envdoctor_probe_pkg" / "__init__.py").read_text() == "VALUE = 42\n"
    assert f"/simple/{loopback_index.project}/" in loopback_index.requests


def test_alias_in_global_beside_an_empty_default_index_is_what_pip_uses(tmp_path: Path) -> None:
    """Found by the fuzz test: ``[global] pypi-url=`` and ``[DEFAULT] index-url=``."""
    old = b"[global]\npypi-url=\n[DEFAULT]\nindex-url=\n"
    settings_ = PipSettings(MIRROR)
    new, _ = pip_target.edit(old, settings_, "pip.conf")
    conf = tmp_path / "pip.conf"
    conf.write_bytes(new)
    code = (
        "from pip._internal.commands import create_command\n"
        "options, _ = create_command('install').parse_args([])\n"
        "print(options.index_url)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "HOME": str(tmp_path),
        "PIP_CONFIG_FILE": str(conf),
    }
    real = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert real.stdout.strip() == MIRROR


def test_pip_downloads_one_file_at_a_time_as_its_advice_says(tmp_path: Path) -> None:
    """PARALLEL_ADVICE: pip fetches each file in turn, each over one connection."""
    assert pip_target.PARALLEL_ADVICE.startswith("pip downloads one file at a time")
    with WheelIndex(tmp_path / "wheels", count=4, delay_s=0.5) as index:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
             "--disable-pip-version-check", "-d", str(tmp_path / "out"),
             "--index-url", index.url, *index.names],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-1500:]
        assert len(index.wheel_gets) == 4
        assert index.most_in_flight == 1
        assert not [get for get in index.wheel_gets if "range" in get]


def test_a_relative_xdg_config_home_skips_the_user_plan_and_says_why(tmp_path: Path) -> None:
    # XDG_CONFIG_HOME=rel: pip before 26.3 reads rel/pip/pip.conf from the directory it
    # runs in (pip config debug); the plan wrote ~/.config/pip/pip.conf, which pip then
    # does not read, and blamed PIP_CONFIG_FILE.
    ctx = make_ctx(tmp_path, {"XDG_CONFIG_HOME": "rel", "VIRTUAL_ENV": sys.prefix})
    env = {**pip_env(ctx, tmp_path), "XDG_CONFIG_HOME": "rel"}
    debug = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "config", "debug"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "rel/pip/pip.conf, exists: False" in debug.stdout  # this venv's pip
    plan = pip_target.plan(ctx, profile(), USER)
    assert plan.changes == ()
    assert plan.skipped is not None
    assert plan.skipped.startswith("XDG_CONFIG_HOME=rel is relative")
    assert "rel/pip/pip.conf from the directory it runs in" in plan.skipped
    absolute = make_ctx(tmp_path, {"VIRTUAL_ENV": sys.prefix})
    assert pip_target.plan(absolute, profile(), USER).changes  # an absolute one: planned
