"""The fast .condarc edit (envdoctor.tools.condarc_text) against ruamel.yaml, as conda reads
the file: the same plan, the same resolve, or the ruamel.yaml path itself."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.comments import TaggedScalar

from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile, get_profile
from envdoctor.tools import conda, condarc_text
from envdoctor.tools.conda import CondaSettings, Edited
from envdoctor.tools.condarc import CONDA_FILE_KEYS, resolve_conda

TUNA = "https://mirrors.tuna.tsinghua.edu.cn/anaconda"
STALE = "https://old.example/cloud"
DISPLAY = "~/.condarc"
MIRROR = CondaSettings(TUNA, f"{TUNA}/cloud", ("conda-forge", "pytorch"))
NO_CUSTOM = CondaSettings("https://repo.anaconda.com", "https://conda.anaconda.org", ())
BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "apply_large_inputs.py"


def _edited(old: bytes, settings: CondaSettings, *, as_text: bool = True) -> Edited | str:
    try:
        return conda.new_content(old, settings, DISPLAY, frozenset({STALE}), as_text=as_text)
    except EnvdoctorError as error:
        return f"{error.message} | {error.hint}"


def _typed(node: Any) -> Any:
    """ruamel.yaml's data with its types: True and 1, "1" and 1 differ."""
    if isinstance(node, dict):
        return [(_typed(k), _typed(v)) for k, v in node.items()]
    if isinstance(node, list):
        return [_typed(item) for item in node]
    if isinstance(node, TaggedScalar):
        return ("tagged", str(node.tag), node.value)
    return (type(node).__name__, node)


def _data(content: bytes) -> Any:
    text = content.decode("utf-8").removeprefix("\ufeff")
    return _typed(YAML(typ="rt").load(text))


def _comments(content: bytes) -> Counter[str]:
    lines = content.decode("utf-8").replace("\r\n", "\n").split("\n")
    return Counter(line.strip() for line in lines if line.strip().startswith("#"))


def _blocks(content: bytes) -> dict[str, str]:
    """The lines of each top-level key conda does not read, as written, up to its last
    line of content (the comments after it may belong to the next key)."""
    text = content.decode("utf-8").removeprefix("\ufeff").replace("\r\n", "\n")
    found: dict[str, str] = {}
    for block in re.split(r"\n(?=[^\s#-])", text):
        key = block.split(":", 1)[0]
        if re.match(r"[^\s#-]", block) and key not in CONDA_FILE_KEYS:
            lines = block.split("\n")
            while lines[-1].strip()[:1] in ("", "#"):
                lines.pop()
            found[key] = "\n".join(lines)
    return found


def _resolved(ctx: Context, content: bytes, parsed: Any = None) -> Any:
    path = ctx.home / ".condarc"
    path.write_bytes(content)
    return resolve_conda(ctx, {path: parsed} if parsed is not None else None)


def check_against_ruamel(ctx: Context, old: bytes, settings: CondaSettings) -> str:
    """The fast path's plan and resolve against the ruamel.yaml path's; which was taken."""
    fast, slow = _edited(old, settings), _edited(old, settings, as_text=False)
    if isinstance(fast, str) or isinstance(slow, str):
        assert fast == slow  # the same message for the same input
        return "error"
    if fast.read is None:
        assert fast.new == slow.new
        return "ruamel"
    assert _data(fast.new) == _data(slow.new)
    assert not _comments(slow.new) - _comments(fast.new)  # every comment ruamel keeps
    kept = _blocks(fast.new)
    for key, block in _blocks(old).items():
        assert kept.get(key) == block  # other keys byte for byte
    if fast.new == old:
        assert slow.new == old
    # what conda uses now: the text reading says what ruamel.yaml's does, flags and all
    assert _resolved(ctx, old, fast.read) == _resolved(ctx, old)
    # and what conda would use after: the same as after the ruamel.yaml path
    assert _resolved(ctx, fast.new).settings == _resolved(ctx, slow.new).settings
    return "text"


# --- generated files in and around the subset ------------------------------------------

_SAFE = [
    "conda-forge",
    "defaults",
    "bioconda",
    "https://x.example/conda",
    STALE,
    STALE + "/",
    f"{TUNA}/pkgs/main",
    f"{TUNA}/cloud",
    "$MIRROR/pkgs/main",
    "~/channel",
    "with#hash",
    "a b",
    "'single quoted'",
    "'it''s'",
    '"double quoted"',
    "https://user:pw@conda.example/t/tok-1/main",
]
_ODD = [
    "yes",
    "No",
    "on",
    "OFF",
    "true",
    "True",
    "FALSE",
    "null",
    "~",
    "0o17",
    "1_000",
    "12",
    "1:20",
    "3.5",
    "=",
    "a: b",
    "-x",
    "[a, b]",
    "{a: b}",
    "[]",
    "&x a",
    "*x",
    "!!str a",
    "|\n  block",
    ">\n  folded",
    '"esc\\tx"',
    "'unterminated",
    "ends:",
    "%x",
    "@x",
    '"two\n  lines"',
    "plain\n  continued",
    "tRue",
]
_COMMENTS = [
    "# note",
    "#!final",
    "#!top",
    "#!bottom",
    "#",
    "#!final  ",
    "# !final",
    "#!!final",
    "#!final # more",
    "#final",
    "#!top!",
]
# What other keys may hold: kept byte for byte when libyaml and ruamel.yaml both read it.
_ELSEWHERE = [
    '"a\\x41"',
    "'a'b",
    "a:b",
    "[a, {b: c}]",
    "[a,\n  b]",
    "{a: [b,\n  c]}",
    '"x" # c',
    "a #b",
    "a: b: c",
    "|2-\n   x",
    "!local x",
    '"\\U0001F600"',
    "'multi\n\n  para'",
    "{a: 1, a: 2}",
    "[a, b, ]",
    "{a: b,}",
    '"x"y',
    "!!binary aGk=",
    "2001-12-14",
    "0x1F",
    ".inf",
    "-.inf",
    ".NaN",
    "+1",
    "010",
    "0b101",
    "`x`",
    "a\u00a0b",
    '"\\/"',
    "{? a}",
    "\n  - - a\n  - b: c\n    d: e",
    "\n  ? x\n  : y",
    "\n  [a, b]: c",
    "\n  a: 1\n   b: 2",
    "\n  - a\n  -b",
    "\n  a:\n  - b",
    "\n- a\n- b",
    "x\n  - y",
    "'\n  x'",
    '"tab\\tinside"',
]
_READ = ["channels", "channel", "default_channels", "custom_channels", "show_channel_urls"]
_OTHER = ["channel_priority", "envs_dirs", "proxy_servers", "ssl_verify", "'quoted: key'"]

_any_scalar = st.one_of(*[st.sampled_from(_SAFE)] * 6, st.sampled_from(_ODD))
_safe = st.sampled_from(_SAFE)
_eol = st.one_of(st.just(""), st.just(""), st.sampled_from(_COMMENTS).map(lambda c: "  " + c))


@st.composite
def _between(draw: st.DrawFn) -> list[str]:
    """Comment and blank lines that may sit between two lines."""
    lines = draw(
        st.lists(
            st.one_of(
                st.just(""),
                st.builds(
                    lambda i, c: " " * i + c, st.sampled_from([0, 2, 4]), st.sampled_from(_COMMENTS)
                ),
            ),
            max_size=2,
        )
    )
    return lines if draw(st.integers(0, 3)) == 0 else []


_SHAPES = {
    "channels": ["seq"] * 6 + ["empty", "scalar", "flow", "map"],
    "channel": ["seq"] * 6 + ["empty", "scalar", "flow", "map"],
    "default_channels": ["seq"] * 6 + ["empty", "scalar", "flow", "map"],
    "custom_channels": ["map"] * 6 + ["empty", "scalar", "flow", "seq"],
    "show_channel_urls": ["scalar"] * 8 + ["empty", "seq"],
}
_FLAGS = ["true", "false", "True", "FALSE", "yes", "~", "'true'", "maybe"]


@st.composite
def _block(draw: st.DrawFn, key: str, odd: bool) -> list[str]:
    shapes = _SHAPES.get(key, ["scalar", "seq", "map", "flow", "empty"])
    if not odd and key in _SHAPES:
        shapes = [shape for shape in shapes if shape not in ("flow", "scalar")] or ["scalar"]
    shape = draw(st.sampled_from(shapes))
    scalar = _any_scalar if odd else _safe
    head = f"{key}:"
    if shape == "scalar":
        value = draw(st.sampled_from(_FLAGS) if key == "show_channel_urls" else scalar)
        if odd and key not in _SHAPES and draw(st.booleans()):
            value = draw(st.sampled_from(_ELSEWHERE))
        return [f"{head} {value}{draw(_eol)}"]
    if shape == "flow":
        return [f"{head} {draw(st.sampled_from(['[a, b]', '{a: b}', '[]']))}{draw(_eol)}"]
    lines = [head + draw(_eol)]
    if shape == "empty":
        return lines + draw(_between())
    lines.extend(draw(_between()))
    indent = draw(st.sampled_from([0, 2, 4] if shape == "seq" else [2, 4]))
    names = draw(
        st.lists(
            st.sampled_from(["conda-forge", "pytorch", "mine", "pkgs/pro", "'q k'", "yes", "12"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    for name in names:
        pad = " " * (indent if not odd or draw(st.integers(0, 15)) else indent + 1)
        if shape == "seq":
            lines.append(f"{pad}- {draw(scalar)}{draw(_eol)}")
        else:
            lines.append(f"{pad}{name}: {draw(scalar)}{draw(_eol)}")
        lines.extend(draw(_between()))
    return lines


@st.composite
def condarc_files(draw: st.DrawFn) -> bytes:
    """Files of the subset, and (``odd``) files with what is around it."""
    odd = draw(st.booleans())
    lines: list[str] = draw(_between())
    keys = draw(st.lists(st.sampled_from(_READ + _OTHER), max_size=6, unique=True))
    if odd and draw(st.integers(0, 9)) == 0:
        keys = keys + keys[:1]  # a key twice
    for key in keys:
        lines.extend(draw(_block(key, odd)))
        lines.extend(draw(_between()))
    if odd and draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(lines)))
        lines.insert(
            at, draw(st.sampled_from(["---", "%YAML 1.2", "? a", " x: 1", "- top", "\tx: 1"]))
        )
    text = "\n".join(lines) + ("\n" if draw(st.booleans()) else "")
    ending = draw(st.sampled_from(["\n", "\n", "\n", "\r\n"]))
    bom = "\ufeff" if draw(st.integers(0, 9)) == 0 else ""
    return (bom + text.replace("\n", ending)).encode()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(old=condarc_files(), mirror=st.booleans())
def test_generated_files_plan_and_resolve_as_ruamel_does(
    ctx: Context, old: bytes, mirror: bool
) -> None:
    event(check_against_ruamel(ctx, old, MIRROR if mirror else NO_CUSTOM))


# --- what takes the ruamel.yaml path -----------------------------------------------------


def _change(settings: CondaSettings = MIRROR) -> Any:
    def change(data: Any) -> bool:
        return conda._edit(data, settings, DISPLAY, frozenset({STALE}))

    return change


FALLBACKS = {
    "flow list in channels": "channels: [conda-forge]\n",
    "flow mapping in custom_channels": "custom_channels: {mine: https://x.example/c}\n",
    "empty flow list": "default_channels: []\n",
    "anchor in a key conda reads": "channels:\n  - &a conda-forge\n",
    "anchor in another key": "envs_dirs: &e [a]\nchannels:\n  - defaults\n",
    "alias": "envs_dirs: &e [a]\npkgs_dirs: *e\n",
    "tag in a key conda reads": "channels:\n  - !!str conda-forge\n",
    "tag in another key": "ssl_verify: !!bool true\n",
    "complex key": "? channels\n: [a]\n",
    "document start": "---\nchannels:\n  - a\n",
    "document end": "channels:\n  - a\n...\n",
    "directive": "%YAML 1.2\n---\nchannels:\n  - a\n",
    "tab": 'ssl_verify: "a\tb"\n',
    "block scalar in a key conda reads": "channel_alias: |\n  https://x.example\n",
    "block scalar elsewhere (libyaml reads |#, ruamel.yaml does not)": "note: |#\n  text\n",
    "a scalar under a key with a comment": "note: # c\n  text\n\nchannels:\n  - a\n",
    "multi-line plain scalar": "channels:\n  - conda-forge\n    nvidia\n",
    "multi-line quoted scalar": 'channels:\n  - "conda-forge\n    nvidia"\n',
    "duplicate top-level key": "channels:\n  - a\nchannels:\n  - b\n",
    "duplicate entry": "custom_channels:\n  a: https://x\n  a: https://y\n",
    "duplicate key in another block": "proxy_servers:\n  http: x\n  http: y\n",
    "a lone CR": "channels:\r  - a\r",
    "NEL": "channels:\n  - a\x85\n",
    "yes (a bool in YAML 1.1 only)": "show_channel_urls: yes\n",
    "on in a list": "channels:\n  - on\n",
    "0o17 (an int in YAML 1.2 only)": "channel_alias: 0o17\n",
    "1_000 (an int in YAML 1.1 only)": "custom_channels:\n  mine: 1_000\n",
    "sexagesimal": "channels:\n  - 1:20\n",
    "=": "channels:\n  - =\n",
    "a number key elsewhere": "proxy_servers:\n  8080: http://p.example\n",
    "merge key": "base: {a: 1}\nproxy_servers:\n  <<: {http: x}\n",
    "escapes in double quotes": 'channels:\n  - "conda\\x2dforge"\n',
    "a null item": "channels:\n  -\n  - a\n",
    "content before the first key": "  x: 1\nchannels:\n  - a\n",
    "top-level list": "- defaults\n",
    "an edit that would move a flag": (
        "channels:\n  - conda-forge  #!top\n# about the next key\nssl_verify: true\n"
    ),
    "deep nesting": "channels: " + "[" * 300 + "]" * 300 + "\n",
    "lone surrogate": 'channels: ["\\ud800"]\n',
}


@pytest.mark.parametrize("text", list(FALLBACKS.values()), ids=list(FALLBACKS))
def test_outside_the_subset_takes_the_ruamel_path(ctx: Context, text: str) -> None:
    with pytest.raises(condarc_text.Doubt):
        condarc_text.edit(text, CONDA_FILE_KEYS, _change(), 2)
    assert check_against_ruamel(ctx, text.encode(), MIRROR) in ("ruamel", "error")


@pytest.mark.parametrize(
    "text",
    [
        "ssl_verify: true\nchannels: conda-forge\n",
        "channel: conda-forge  # the alias\n",
        "# a list\ncustom_channels:\n  - conda-forge\n",
        "custom_channels: https://x.example/c\n",
    ],
)
def test_a_wrong_type_is_refused_as_text_with_ruamels_message(ctx: Context, text: str) -> None:
    with pytest.raises(EnvdoctorError) as info:
        condarc_text.edit(text, CONDA_FILE_KEYS, _change(), 2)
    assert check_against_ruamel(ctx, text.encode(), MIRROR) == "error"
    slow = _edited(text.encode(), MIRROR, as_text=False)
    assert slow == f"{info.value.message} | {info.value.hint}"


def test_a_file_ruamel_yaml_fails_on_is_named_not_a_crash(ctx: Context) -> None:
    """ruamel.yaml 0.19 raises NotImplementedError ("overlap in comment") on a plain scalar
    under a key with a comment, followed by a blank line; conda fails on it too."""
    text = b"channels:\n  - defaults\nnote: # mine\n  some text\n\n"
    assert _edited(text, MIRROR) == (
        "conda: ~/.condarc: invalid YAML (ruamel.yaml fails on it: overlap in comment); "
        "conda cannot read it either | Fix or move ~/.condarc, then run apply again."
    )
    (problem,) = _resolved(ctx, text).problems
    assert (
        problem.message == "invalid YAML (ruamel.yaml fails on it: overlap in comment): conda stops"
    )


def test_without_libyaml_the_ruamel_path_is_taken(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    monkeypatch.setattr(yaml, "__with_libyaml__", False)
    edited = _edited(b"channels:\n  - conda-forge\n", MIRROR)
    assert isinstance(edited, Edited) and edited.read is None


INSIDE = {
    "the shape conda config writes": "channels:\n  - conda-forge\nshow_channel_urls: false\n",
    "comments everywhere": (
        "# head\nchannels:  # mine\n  # before\n  - conda-forge  # first\n\n  - nvidia\n"
        "# after\ncustom_channels:\n  mine: https://x.example/c  # kept\n  conda-forge: "
        "https://old.example/cloud   # replaced\n"
    ),
    "zero offset": "channels:\n- conda-forge\ndefault_channels:\n- https://x.example/pkgs/main\n",
    "quoted scalars": "channels:\n  - 'conda-forge'\n  - \"nvidia\"\n'a: key': \"b\"\n",
    "flags": (
        "channels:  #!final\n  - conda-forge  #!top\n  - nvidia\n  #!bottom\n"
        "custom_channels:\n  mine: https://x.example/c  #!final\nshow_channel_urls: false #!final\n"
    ),
    "anything under other keys": (
        "envs_dirs: [a, {b: c}]\nnote: 'two lines:\n  channels: not a key\n  - nor an item'\n"
        "proxy_servers:\n  http: http://p.example:3128\nchannels:\n  - defaults\n"
    ),
    "null and empty": "channels: ~\ncustom_channels:\nshow_channel_urls: null  # said\n",
    "stale entries of another profile": (
        "custom_channels:\n  mine: https://old.example/cloud\n  keep: https://x.example/c\n"
    ),
    "CRLF": "channels:\r\n  - conda-forge\r\n",
    "BOM": "\ufeffchannels:\n  - conda-forge\n",
    "no final newline": "channels:\n  - conda-forge",
    "empty": "",
    "only comments": "# nothing yet\n",
}


@pytest.mark.parametrize("text", list(INSIDE.values()), ids=list(INSIDE))
@pytest.mark.parametrize("settings", [MIRROR, NO_CUSTOM], ids=["mirror", "no-custom"])
def test_inside_the_subset_takes_the_text_path(
    ctx: Context, text: str, settings: CondaSettings
) -> None:
    assert check_against_ruamel(ctx, text.encode(), settings) == "text"


def test_only_the_changed_lines_change(ctx: Context) -> None:
    old = (
        "# mine\nchannels:  # order matters\n  - conda-forge   # first\n"
        "custom_channels:\n  conda-forge: https://old.example/cloud  # was\n"
        "  stale: https://old.example/cloud  # gone\n  mine: https://x.example/c\n"
        "envs_dirs:\n    - ~/envs\nshow_channel_urls: false  # shown\n"
    )
    edited = _edited(old.encode(), MIRROR)
    assert isinstance(edited, Edited) and edited.read is not None
    assert edited.new.decode() == (
        "# mine\nchannels:  # order matters\n  - conda-forge   # first\n  - defaults\n"
        f"custom_channels:\n  conda-forge: {TUNA}/cloud # was\n"  # as ruamel.yaml: no room
        f"  mine: https://x.example/c\n  pytorch: {TUNA}/cloud\n"
        "envs_dirs:\n    - ~/envs\nshow_channel_urls: true   # shown\n"
        f"default_channels:\n  - {TUNA}/pkgs/main\n  - {TUNA}/pkgs/r\n  - {TUNA}/pkgs/msys2\n"
    )


# --- the benchmark's file ----------------------------------------------------------------


def _benchmark_condarc() -> str:
    spec = importlib.util.spec_from_file_location("apply_large_inputs", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module._condarc()
    return text


def test_the_benchmarks_1_mib_condarc_is_planned_as_text(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _benchmark_condarc()
    assert 1_000_000 < len(old.encode()) < 1 << 20
    path = ctx.path("/etc/conda/.condarc")
    path.parent.mkdir(parents=True)
    path.write_text(old)

    def no_ruamel(*args: object, **kwargs: object) -> None:
        raise AssertionError("ruamel.yaml loaded a file")

    monkeypatch.setattr(YAML, "load", no_ruamel)
    profile: Profile = get_profile(ctx, "cn-tsinghua")
    result = conda.plan(ctx, profile, ApplyOptions(scope="system"))
    (change,) = result.changes
    assert change.new is not None
    settings = profile.conda
    assert settings is not None
    # the last entry gains the profile's channels after it, default_channels comes at
    # the end: every other line as it was
    entries = "".join(f"  {name}: {settings.channels_url}\n" for name in settings.custom_channels)
    defaults = "".join(f"  - {url}\n" for url in settings.default_channels)
    end = old.index("show_channel_urls:")
    assert change.new.decode() == old[:end] + entries + old[end:] + "default_channels:\n" + defaults
    assert result.notes == (conda.CLEAN_NOTE, conda.PYTORCH_NOTE)
