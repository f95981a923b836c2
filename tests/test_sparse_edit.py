"""The sparse edits of pip.conf, uv.toml and cargo's config give the whole-file edits' bytes.

configupdater (pip.conf) and tomlkit (uv.toml) now see only the sections an edit touches
(:mod:`envdoctor.sparse_edit`); the rest goes behind stand-ins and is put back.  Each
test compares the sparse edit with the whole-file one (``sparse=False``, the code as it
was) on tricky inputs and on derandomized hypothesis ones, and checks the finders of
section and table headers against the parsers they imitate (configparser, tomllib).
The timings are in ``benchmarks/apply_large_inputs.py``, not here.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envdoctor import sparse_edit
from envdoctor.errors import EnvdoctorError
from envdoctor.toml_scan import header_starts, sparse_tables
from envdoctor.tools import cargo, pip, uv
from envdoctor.tools.pip_config import PipConfigParser
from envdoctor.tools.pip_sections import section_starts, sparse_for
from envdoctor.tools.uv_sparse import sparse_for as uv_sparse_for

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

MIRROR = "https://mirror.example/simple"
PIP = pip.PipSettings(MIRROR)
PIP_HTTP = pip.PipSettings(
    "http://plain.example/simple", ("http://extra.example/simple", MIRROR), allow_http=True
)

HYPOTHESIS = settings(
    max_examples=int(os.environ.get("SPARSE_EXAMPLES", "200")),
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def outcome(function, *args, **kwargs):
    """What an edit returns, or the error it raises, as something to compare."""
    try:
        return function(*args, **kwargs)
    except EnvdoctorError as error:
        return ("error", error.message, error.hint)


# --- the stand-ins themselves ------------------------------------------------------------


def test_a_stand_in_that_does_not_come_back_unchanged_is_refused():
    text = "top\n[a]\nx\n[b]\ny\n[c]\nz\n"
    shown = sparse_edit.reduce(text, [4, 10, 16], [0, 0, 0, 0], [True, False, False, True])
    assert len(shown.runs) == 1 and shown.runs[0] == "[a]\nx\n[b]\ny\n"
    assert shown.text.startswith("top\n[a]\n# envdoctor-sparse-") and shown.text.endswith(
        "[c]\nz\n"
    )
    assert shown.put_back(shown.text) == text
    assert shown.put_back(shown.text.replace("[a]", "[A]")) is None  # its header changed
    assert shown.put_back(shown.text.replace("# envdoctor", "#envdoctor")) is None  # lost
    doubled = shown.text + shown.text[4:]
    assert shown.put_back(doubled) is None


def test_runs_of_different_kinds_get_one_stand_in_each():
    text = "\n[[i]]\n[[i]]\n[o]\n[[i]]\n[o]\n"
    starts = header_starts(text)
    assert starts == [1, 7, 13, 17, 23]
    shown = sparse_edit.reduce(text, starts, ["t", "i", "i", "o", "i", "o"], [True] + [False] * 5)
    assert shown.runs == ("[[i]]\n[[i]]\n", "[o]\n", "[[i]]\n", "[o]\n")


# --- pip.conf: configparser's sections, configupdater's bytes ------------------------

TRICKY_PIP = {
    "continuation lines": "[global]\nindex-url = https://old.example/simple\n"
    "extra-index-url = https://a.example/simple\n    https://b.example/simple\n\n"
    "[install]\ntrusted-host = a.example\n  [not-a-section]\n",
    "stray continuation after a comment": "[global]\nindex-url = https://old.example/simple\n"
    "# a comment\n    https://stray.example/simple\n[other]\nk = v\n",
    "keys in other case and ':'": "[other]\nk: v\n[global]\nIndex_URL : https://old/simple\n"
    "PYPI-URL = https://older/simple\nTrusted-Host: x.example\n[after]\nk = v\n",
    "comments and blank lines everywhere": "# head\n; also\n\n[a]\n# c\nk = v\n\n\n"
    "[global]\n\n; comment\ntimeout = 5\n\n# tail of global\n[b]\n  ; indented comment\nk=v\n",
    "indented headers": "[a]\nk = v\n  [b]\nj = w\n[global]\ntimeout = 1\n   [c]\nx = y\n",
    "header-like values": "[a]\nk = [x]\n  [y]\n[global]\nv = [global]\n[z]\nk=v\n",
    "no global section": "[a]\nk = v\n[b]\nk = v\n",
    "no global section, no trailing newline": "[a]\nk = v",
    "other case of global": "[GLOBAL]\nindex-url = x\n[ global ]\nk = v\n",
    "empty": "",
    "only comments": "# nothing\n",
    "crlf": "[a]\r\nk = v\r\n[global]\r\nindex-url = old\r\n[b]\r\nk = v\r\n",
    "bare cr": "[a]\rk = v\r[global]\rindex-url = old\r[b]\rk = v\r",
    "bom": "\ufeff[a]\nk = v\n[global]\ntimeout = 3\n",
    "duplicate section": "[global]\nk = v\n[a]\n[global]\nj = w\n",
    "duplicate key": "[global]\nindex-url = a\nINDEX_URL = b\n",
    "setting before a header": "k = v\n[global]\n",
    "many sections": "".join(f"[s{i}]\nk{i} = v\n  more\n; c\n\n" for i in range(300))
    + "[global]\nindex-url = old\n"
    + "".join(f"[t{i}]\nk = v\n" for i in range(300)),
}


@pytest.mark.parametrize("name", sorted(TRICKY_PIP))
@pytest.mark.parametrize("settings_", [PIP, PIP_HTTP], ids=["https", "http-extras"])
def test_pip_sparse_edit_gives_the_whole_file_edit_bytes(name, settings_):
    data = TRICKY_PIP[name].encode()
    sparse = outcome(pip.edit, data, settings_, "pip.conf")
    assert sparse == outcome(pip.edit, data, settings_, "pip.conf", sparse=False)
    if not isinstance(sparse[0], bytes):
        return
    parser = PipConfigParser(strict=True)  # what pip reads in the result
    parser.read_string(sparse[0].decode().replace("\r\n", "\n").replace("\r", "\n"))
    assert parser.get("global", "index-url") == settings_.index_url


def test_pip_sparse_edit_hides_the_other_sections():
    text = TRICKY_PIP["many sections"]
    shown = sparse_for(text, "global")
    assert len(shown.runs) == 2 and len(shown.text) < 300
    assert "[global]\nindex-url = old\n" in shown.text


def configparser_sections(text: str) -> list[str]:
    parser = configparser.RawConfigParser(strict=False)
    parser.read_string(text)
    return parser.sections()


def test_section_starts_finds_what_configparser_finds():
    for name, text in TRICKY_PIP.items():
        normalised = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        try:
            expected = configparser_sections(normalised)
        except configparser.Error:
            continue
        found = section_starts(normalised)
        assert list(dict.fromkeys(header for _, header in found)) == expected, name
        assert all(offset == 0 or normalised[offset - 1] == "\n" for offset, _ in found)


def test_the_one_expression_reading_of_unindented_headers_is_the_line_loops():
    """section_starts' fast path (no line starts with blanks and "[") finds what the
    loop that follows configparser finds."""
    import random

    from envdoctor.tools import pip_sections

    pieces = ["[a]", "[b] x", "[e]]", "[]", "[ f ]", "key = v", "  cont", "\tcont", "# c",
              "; c", "", "  ", "[g]  ", "[i]\r", "k: [x]", "[j] ; c", "[k]]x]"]  # fmt: skip
    rng = random.Random(11)
    for _ in range(3000):
        text = "\n".join(rng.choice(pieces) for _ in range(rng.randrange(0, 14)))
        assert pip_sections.section_starts(text) == pip_sections._section_starts(text), text


_PIP_LINES = st.sampled_from(
    [
        "[global]", "[install]", "[s1]", "[s2]", "[ global ]", "[GLOBAL]", "  [s3]", "[DEFAULT]",
        "index-url = https://old.example/simple", "Index_URL: https://x.example/simple",
        "pypi-url = https://p.example/simple", "extra-index-url = https://e.example/simple",
        "trusted-host = t.example", "TRUSTED_HOST=u.example", "timeout = 5", "k = v",
        "  continued", "\tcontinued with a tab", "    [looks-like-a-section]", "# comment",
        "; comment", "   # indented comment", "", "   ", "key with spaces = v", "junk line",
    ]
)  # fmt: skip


@st.composite
def pip_files(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(_PIP_LINES, max_size=30))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = ending.join(lines) + draw(st.sampled_from(["", ending]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text.encode()


@HYPOTHESIS
@given(pip_files(), st.sampled_from([PIP, PIP_HTTP]))
def test_pip_sparse_edit_matches_on_generated_files(data, settings_):
    assert outcome(pip.edit, data, settings_, "p") == outcome(
        pip.edit, data, settings_, "p", sparse=False
    )
    text = data.decode().lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    try:
        expected = configparser_sections(text)
    except configparser.Error:
        return
    found = [header for _, header in section_starts(text) if header != "DEFAULT"]
    assert list(dict.fromkeys(found)) == expected  # [DEFAULT] is no section to configparser


def test_real_pip_reads_a_sparse_edit_of_a_big_file(tmp_path: Path):
    text = "".join(f"[s{i}]\nk = v\n  more\n" for i in range(3000)) + "[global]\ntimeout = 9\n"
    new, _ = pip.edit(text.encode(), PIP, "pip.conf")
    path = tmp_path / "pip.conf"
    path.write_bytes(new)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PIP_CONFIG_FILE": str(path)}
    env["HOME"] = str(tmp_path)
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "config", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert f"global.index-url='{MIRROR}'" in listed.stdout
    assert "global.timeout='9'" in listed.stdout
    assert "s2999.k='v\\nmore'" in listed.stdout


# --- uv.toml: tomllib's tables, tomlkit's bytes ----------------------------------------

TRICKY_UV = {
    "index tables and others": '[[index]]\nname = "a"\nurl = "https://a.example/simple"\n\n'
    '[pip]\nindex-url = "https://p.example/simple"\n\n[[index]]\nname = "b"\n'
    'url = "https://b.example/simple"\n\n[tool]\nx = 1\n',
    "a default in the middle": '[[index]]\nurl = "https://a/simple"\n[[index]]\n'
    'url = "https://old/simple"\ndefault = true\n[[index]]\nurl = "https://c/simple"\n[x]\n',
    "two defaults": '[[index]]\nurl = "https://a/simple"\ndefault = true\n[y]\nk = 1\n'
    '[[index]]\nurl = "https://b/simple"\n"default" = true\n[z]\n',
    "a legacy index-url": 'index-url = "https://legacy/simple"\nnative-tls = true\n\n'
    '[[index]]\nurl = "https://a/simple"\n[pip]\nk = 1\n',
    "multi-line strings holding headers": 'note = """\n[[index]]\ndefault = true\n"""\n'
    "lit = '''\n[pip]\n'''\n[[index]]\nurl = \"https://a/simple\"\n"
    'doc = """tricky \\""" still inside\n[x]\n"""\n[a]\nq = """a"""""\n[b]\nr = 1\n',
    "arrays over lines": 'xs = [\n  [1, 2],\n  [3],\n]\n[[index]]\nurl = "https://a/simple"\n'
    'tags = [\n["x"],\n]\n[other]\nys = [ # comment [\n  "]",\n]\n[last]\n',
    "comments and brackets in strings": '# [[index]] in a comment\n[a]\ns = "[x] # not a comment"\n'
    "t = '[y]'\n[[index]]\nurl = \"https://a/simple\" # [z]\n[b]\n",
    "inline index array": 'index = [{ url = "https://a/simple", default = true }]\n[pip]\nk = 1\n',
    "sub-table of an index": '[[index]]\nurl = "https://a/simple"\n[index.extra]\nk = 1\n'
    '[[index]]\nurl = "https://b/simple"\n[o]\n',
    "quoted and spaced headers": "[[ 'index' ]]\nurl = \"https://a/simple\"\n[ a . b ]\nk = 1\n"
    '[["index"]]\nurl = "https://b/simple"\n',
    # tomlkit moves the second [[arr]] up to the first when it edits: the file is edited
    # whole, as before, since what it does to tables it does not see cannot be known
    "a split array of other tables": '[[arr]]\n[z]\nk = 1\n[[arr]]\nk = 1\n[[index]]\nurl = "x"\n',
    "no tables": "native-tls = true\n# only a comment\n",
    "empty": "",
    "already follows": f'[[index]]\nurl = "{MIRROR}"\ndefault = true\n[x]\n',
    "crlf": '[[index]]\r\nurl = "https://a/simple"\r\n[pip]\r\nk = 1\r\n[[index]]\r\n'
    'url = "https://b/simple"\r\n',
    "bom": '\ufeff[a]\nk = 1\n[[index]]\nurl = "https://a/simple"\n[b]\n',
    "no trailing newline": '[a]\nk = 1\n[[index]]\nurl = "https://a/simple"\n[b]\nk = 2',
    "index not a table list": "index = 3\n[a]\nk = 1\n[b]\n",
    "bare cr": "[a]\rk = 1\r",
    "duplicate key": "[a]\nk = 1\nk = 2\n[b]\n",
    "many tables": "".join(
        f'[[index]]\nname = "i{i}"\nurl = "https://e{i}.example/simple"\n\n' for i in range(200)
    )
    + '[pip]\nk = """\n[[index]]\n"""\n'
    + "".join(f"[t{i}]\nk = {i}\n" for i in range(200)),
}


@pytest.mark.parametrize("name", sorted(TRICKY_UV))
def test_uv_sparse_edit_gives_the_whole_file_edit_bytes(name):
    data = TRICKY_UV[name].encode()
    sparse = outcome(uv.edit, data, MIRROR, "uv.toml")
    assert sparse == outcome(uv.edit, data, MIRROR, "uv.toml", sparse=False)
    if isinstance(sparse[0], bytes):
        written = tomllib.loads(sparse[0].decode().lstrip("\ufeff"))
        defaults = [entry for entry in written["index"] if entry.get("default") is True]
        assert [entry["url"] for entry in defaults] == [MIRROR]


def test_uv_sparse_edit_hides_the_tables_it_does_not_touch():
    text = TRICKY_UV["many tables"]
    shown = uv_sparse_for(text, tomllib.loads(text))
    assert shown is not None
    assert len(shown.runs) == 2 and len(shown.text) < 400


def test_header_starts_skips_what_is_inside_strings_and_arrays():
    text = TRICKY_UV["multi-line strings holding headers"]
    headers = [text[offset : text.index("\n", offset)] for offset in header_starts(text)]
    assert headers == ["[[index]]", "[a]", "[b]"]
    text = TRICKY_UV["arrays over lines"]
    headers = [text[offset : text.index("\n", offset)] for offset in header_starts(text)]
    assert headers == ["[[index]]", "[other]", "[last]"]


_UV_HEADERS = st.sampled_from(
    [
        "[[index]]", "[[ index ]]", '[["index"]]', "[[index]] # c", "[pip]", "[tool.x]",
        "[a]", "[b.c]", "[ a . d ]", "[index.sub]", "[[arr]]", "[z]",
    ]
)  # fmt: skip
_UV_LINES = st.sampled_from(
    [
        'url = "https://a.example/simple"', f'url = "{MIRROR}"', "default = true",
        "default = false", "'default' = true", "explicit = true", "# [[index]] comment",
        'name = "[[index]]"', "k = 1", "", 'doc = """\n[[index]]\ndefault = true\n"""',
        "lit = '''\n[pip]\n'''", 'esc = """a \\""" b\n[c]\n"""',
        "arr = [\n  [1],\n  # [x]\n]",
    ]
)  # fmt: skip
_UV_TOP = st.sampled_from(
    [
        'index-url = "https://legacy.example/simple"', "native-tls = true", "q.r = 1",
        'index = [{ url = "https://i.example/simple" }]', "# [[index]] comment", "",
    ]
)  # fmt: skip


def _first_key(header: str) -> str:
    return header.strip("[] ").split("]")[0].strip("[] ").split(".")[0].strip(" \"'")


@st.composite
def uv_files(draw: st.DrawFn) -> bytes:
    """Top-level keys, then tables; mostly with each key's tables together (tomlkit
    reorders split ones, so such files are edited whole and this tests that too)."""
    lines = draw(st.lists(_UV_TOP, max_size=3, unique=True))
    tables = draw(
        st.lists(st.tuples(_UV_HEADERS, st.lists(_UV_LINES, max_size=4, unique=True)), max_size=20)
    )
    if draw(st.integers(0, 3)):
        first: dict[str, int] = {}
        for header, _ in tables:
            first.setdefault(_first_key(header), len(first))
        tables.sort(key=lambda table: first[_first_key(table[0])])
    for header, body in tables:
        lines += [header, *body]
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n"]))
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text.encode()


@HYPOTHESIS
@given(uv_files())
def test_uv_sparse_edit_matches_on_generated_files(data):
    assert outcome(uv.edit, data, MIRROR, "u") == outcome(uv.edit, data, MIRROR, "u", sparse=False)


def test_real_uv_reads_a_sparse_edit_of_a_big_file(tmp_path: Path):
    from tests.tools.test_uv import uv_binary

    binary = uv_binary()
    text = "# [[index]] in a comment\n" + "".join(
        f'[[index]] # n{i}\nname = "i{i}"\nurl = "https://e{i}.example/simple"\n\n'
        for i in range(300)
    )
    text += '[pip]\nindex-url = "https://p.example/simple"\n'
    new, _ = uv.edit(text.encode(), MIRROR, "uv.toml")
    assert new == uv.edit(text.encode(), MIRROR, "uv.toml", sparse=False)[0]
    path = tmp_path / "uv.toml"
    path.write_bytes(new)
    done = subprocess.run(  # uv parses its settings (and checks every key) first
        [binary, "--config-file", str(path), "--no-cache", "cache", "dir"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    path.write_bytes(new.replace(b"[pip]", b"[pip]\nindex-url = 1"))  # uv does refuse
    refused = subprocess.run(
        [binary, "--config-file", str(path), "--no-cache", "cache", "dir"],
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0


# --- cargo's config.toml: the [source.*] tables ----------------------------------------

CRATES_MIRROR = "sparse+https://crates.mirror.example/index/"
TRICKY_CARGO = {
    "no source yet": '[build]\njobs = 4\n\n[registries.a]\nindex = "sparse+https://a/"\n',
    "a replacement to follow": '[net]\nretry = 3\n[source.crates-io]\nreplace-with = "old"\n\n'
    '[source.old]\nregistry = "sparse+https://old/"\n\n[http]\ntimeout = 5\n',
    "a replacement to remove": '[source.crates-io]\nreplace-with = "m"\n[source.m]\n'
    'registry = "sparse+https://m/"\n[term]\nverbose = true\n',
    "dotted keys on top": 'source.crates-io.replace-with = "x"\nsource.x.registry = "https://x/"\n'
    "[build]\njobs = 1\n",
    "source last": '[build]\njobs = 2\n[source.crates-io]\nreplace-with = "y"\n',
    "a vendored source": '[source.crates-io]\nreplace-with = "v"\n[source.v]\n'
    'directory = "vendor"\n[x]\n',
    "strings holding headers": 'a = """\n[source.crates-io]\n"""\n[b]\n'
    'c = """\n[source]\n"""\n[d]\n',
    "split tables": '[a]\n[source.crates-io]\nreplace-with = "q"\n[b]\n[source.q]\n'
    'registry = "r"\n',
    "crlf": "[build]\r\njobs = 4\r\n[net]\r\nretry = 1\r\n",
    "many tables": "".join(
        f'[registries.r{i}]\nindex = "sparse+https://r{i}/"\n\n' for i in range(300)
    )
    + '[source.crates-io]\nreplace-with = "z"\n[source.z]\nregistry = "https://z/"\n'
    + "".join(f"[profile.p{i}]\nopt-level = 1\n" for i in range(300)),
}


@pytest.mark.parametrize("name", sorted(TRICKY_CARGO))
@pytest.mark.parametrize("index", [CRATES_MIRROR, cargo.CRATES_IO_SPARSE])
def test_cargo_sparse_edit_gives_the_whole_file_edit_bytes(name, index):
    data = TRICKY_CARGO[name].encode()

    def edit(**kwargs):
        try:
            return outcome(cargo.edit, data, index, "config.toml", **kwargs)
        except Exception as kept:  # the vendored source: not edited, either way
            return ("kept", str(kept))

    sparse = edit()
    assert sparse == edit(sparse=False)
    if isinstance(sparse[0], bytes) and index == CRATES_MIRROR:
        written = tomllib.loads(sparse[0].decode())
        name_ = written["source"]["crates-io"]["replace-with"]
        assert written["source"][name_]["registry"] == CRATES_MIRROR


def test_cargo_sparse_edit_hides_the_other_tables():
    text = TRICKY_CARGO["many tables"]
    starts = header_starts(text)
    keep = [text[start:].startswith("[source") for start in starts]
    shown = sparse_tables(text, tomllib.loads(text), starts, keep)
    assert shown is not None and len(shown.runs) == 2 and len(shown.text) < 400


# --- containerd's config.toml: config_path in the CRI registry table -------------------

CONTAINERD_DATA = Path(__file__).parent / "tools" / "data" / "containerd"
CRI = '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""\n'
TRICKY_CONTAINERD = {
    "many plugins": "version = 2\n"
    + "".join(f'[plugins."io.containerd.p{i}"]\n  k = {i}\n\n' for i in range(300))
    + CRI
    + "".join(f'[plugins."io.containerd.q{i}"]\n  k = {i}\n' for i in range(300)),
    "registry first, no trailing newline": f'version = 2\n{CRI}[plugins."x"]\n  k = 1',
    "registry with mirrors below": f'version = 2\n{CRI}  [plugins."io.containerd.grpc.v1.cri"'
    '.registry.configs]\n[plugins."y"]\n',
    "crlf": f"version = 2\n{CRI}[plugins.z]\nk = 1\n".replace("\n", "\r\n"),
    "strings holding headers": f'version = 2\na = """\n{CRI}"""\n[b]\n{CRI}[c]\n',
}
for fixture in sorted(CONTAINERD_DATA.glob("config-*.toml")):
    if ".registry]" in fixture.read_text(encoding="utf-8"):  # the table edited in place
        TRICKY_CONTAINERD[fixture.name] = fixture.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(TRICKY_CONTAINERD))
def test_containerd_config_path_edit_gives_tomlkit_s_bytes(name):
    import tomlkit

    from envdoctor.tools import containerd_files

    old = TRICKY_CONTAINERD[name]
    config = containerd_files.read_config(tomllib.loads(old))
    new = containerd_files.with_config_path(old, "/etc/containerd/certs.d", "config.toml")
    document = tomlkit.parse(old)  # the whole-file edit, as before
    registry = document["plugins"][config.plugin]["registry"]
    registry["config_path"] = "/etc/containerd/certs.d"
    assert new == tomlkit.dumps(document)


# --- containerd's hosts.toml of a user's own: the mirrors moved first --------------------

HUB_MIRRORS = ("https://m1.example", "https://m2.example")
TRICKY_HOSTS = {
    "many hosts": 'server = "https://registry-1.docker.io"\n\n'
    + "".join(f'[host."https://h{i}.example"]\n  capabilities = ["pull"]\n\n' for i in range(200))
    + '[host."https://m2.example"]\n  ca = "/etc/ca.pem"\n\n'
    + "".join(f'[host."https://k{i}.example"]\n  skip_verify = true\n' for i in range(200)),
    "many hosts, each after a blank line": 'server = "https://registry-1.docker.io"\n\n'
    + "".join(f'[host."https://h{i}.example"]\n  capabilities = ["pull"]\n\n' for i in range(200))
    + '[host."https://m2.example"]\n  ca = "/etc/ca.pem"\n\n'
    + "".join(f'[host."https://k{i}.example"]\n  skip_verify = true\n\n' for i in range(200)),
    "no server, a sub-table": '[host."https://a.example"]\n  capabilities = ["pull"]\n'
    '  [host."https://a.example".header]\n    x = ["y"]\n[host."https://b.example"]\n',
    "a comment between": '# mine\nserver = "https://r.example"\n[host."https://a"]\n# c\n'
    '[host."https://b"]\n  capabilities = ["resolve"]\n',
    "another table after": '[host."https://a"]\n[other]\nk = 1\n[host."https://b"]\n',
    "mirrors already there, out of order": '[host."https://m2.example"]\n[host."https://x"]\n'
    '[host."https://m1.example"]\n  capabilities = ["pull", "push"]\n[host."https://y"]\n',
}


@pytest.mark.parametrize("name", sorted(TRICKY_HOSTS))
def test_containerd_hosts_toml_sparse_edit_gives_the_whole_file_edit_bytes(name):
    from envdoctor.tools import containerd_files

    old = TRICKY_HOSTS[name]
    sparse = containerd_files.hosts_toml(old, "docker.io", HUB_MIRRORS, "p")
    assert sparse == containerd_files.hosts_toml(old, "docker.io", HUB_MIRRORS, "p", sparse=False)
    assert sparse is not None
    assert list(tomllib.loads(sparse)["host"])[:2] == list(HUB_MIRRORS)
