"""envdoctor.toml10: the TOML 1.0 parser every TOML judge uses, fast and bounded.

The parser must refuse what uv, cargo, containerd and podman refuse (TOML 1.1 is not
theirs), and a dotted key long enough to take the parser seconds is refused before it is
parsed.  The real uv judges both.
"""

from __future__ import annotations

import random
import sys
import time
from types import SimpleNamespace

import pytest

from envdoctor import toml10
from envdoctor.configfiles import MAX_NESTING, structure_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# What TOML 1.1 allows and TOML 1.0 (and so uv 0.13's parser) does not.
TOML_11_ONLY = [
    "t = {a = 1,}\n",  # a trailing comma in an inline table
    "t = {\na = 1\n}\n",  # a newline in an inline table
    't = "\\e"\n',  # the escape character
    't = "\\x41"\n',  # a two-digit hex escape
    "t = 10:30\n",  # a time without seconds
]


@pytest.mark.parametrize("text", TOML_11_ONLY)
def test_the_parser_in_use_refuses_toml_11(text):
    with pytest.raises(toml10.TOMLDecodeError):
        toml10.loads(text)


@pytest.mark.parametrize("text", TOML_11_ONLY)
def test_the_real_uv_refuses_what_the_parser_refuses(tmp_path, text):
    from tests.tools.test_uv import uv_with_config

    path = tmp_path / "uv.toml"
    path.write_text("native-tls = true\n" + text)
    done = uv_with_config(path)
    assert done.returncode != 0, done.stdout
    assert "Failed to parse" in done.stderr


def test_the_installed_tomli_is_used_only_when_compiled_and_toml_10(monkeypatch):
    strict = SimpleNamespace(TOMLDecodeError=ValueError)

    def refuse(text: str) -> dict[str, object]:
        raise ValueError(text)

    strict.loads = refuse
    lax = SimpleNamespace(TOMLDecodeError=ValueError, loads=lambda text: {"t": {"a": 1}})
    assert toml10._follows_toml_10(strict)  # type: ignore[arg-type]
    assert not toml10._follows_toml_10(lax)  # type: ignore[arg-type]
    assert toml10._follows_toml_10(tomllib)


def test_the_parser_reads_what_tomllib_reads():
    text = (
        'a = 1\nb."c.d".e = "x.y.z"\n[t]\nk = [1, {x = 2}]\n[[arr]]\nn = 1979-05-27T07:32:00Z\n'
        "[[arr]]\nm = '''\nlines\n'''\n"
    )
    assert toml10.loads(text) == tomllib.loads(text)


def test_a_dotted_key_too_deep_is_refused_fast_with_its_line():
    text = "native-tls = true\n" + "a." * 30_000 + "b = 1\n"
    started = time.process_time()
    with pytest.raises(toml10.TOMLDecodeError) as caught:
        toml10.loads(text)
    assert time.process_time() - started < 1  # 20 s in the parser itself
    assert str(caught.value).startswith("a dotted key of 30001 parts nests tables more than")
    assert "(at line 2, column 1)" in str(caught.value)
    assert toml10.is_refusal(str(caught.value))


@pytest.mark.parametrize(
    "line",
    [
        "[" + ".".join(["t"] * (MAX_NESTING + 1)) + "]",  # a header
        "x = {" + ".".join(['"q.q"'] * (MAX_NESTING + 1)) + " = 1}",  # quoted parts, inline
        "  " + " . ".join(["'l'"] * (MAX_NESTING + 1)) + " = 1",  # blanks around the dots
    ],
)
def test_every_spelling_of_a_long_dotted_key_is_refused(line):
    with pytest.raises(toml10.TOMLDecodeError, match=f"{MAX_NESTING + 1} parts"):
        toml10.loads("a = 1\n" + line + "\n")


@pytest.mark.parametrize(
    "text",
    [
        's = "' + "a." * 5_000 + '"\n',  # dots in a string
        "s = '" + "a." * 5_000 + "'\n",
        "s = 1  # " + "a." * 5_000 + "\n",  # in a comment
        "# " + "a." * 5_000 + "\n",
        ".".join(["k"] * MAX_NESTING) + " = 1\n",  # exactly the limit: the parser reads it
    ],
)
def test_dots_that_are_not_a_too_long_key_are_parsed(text):
    assert toml10.loads(text) == tomllib.loads(text)


def test_the_real_uv_refuses_a_dotted_key_past_the_limit_too(tmp_path):
    from tests.tools.test_uv import uv_with_config

    path = tmp_path / "uv.toml"
    path.write_text("native-tls = true\n" + "a." * (MAX_NESTING + 50) + "b = 1\n")
    with pytest.raises(toml10.TOMLDecodeError):
        toml10.loads(path.read_text())
    done = uv_with_config(path)
    assert done.returncode != 0
    assert "recursion limit" in done.stderr


def _tree(rng: random.Random, depth: int) -> object:
    """A tree ``depth`` deep along one path, with shallow tables and arrays beside it."""
    if depth == 0:
        return rng.choice([1, "s", True, 2.5])
    beside = [_tree(rng, min(depth - 1, 2)) for _ in range(rng.randint(0, 2))]
    children = [*beside, _tree(rng, depth - 1)]
    rng.shuffle(children)
    if rng.random() < 0.5:
        return {f"k{n}": child for n, child in enumerate(children)}
    return children


@pytest.mark.parametrize("seed", range(60))
def test_nesting_problem_says_what_structure_problem_says_of_a_toml_tree(seed):
    rng = random.Random(seed)
    tree = {
        "root": _tree(
            rng, rng.choice([1, 5, MAX_NESTING - 2, MAX_NESTING - 1, MAX_NESTING, MAX_NESTING + 5])
        )
    }
    assert toml10.nesting_problem(tree) == structure_problem(tree)


def test_the_compiled_tomli_pyproject_asks_for_is_the_parser_in_use():
    tomli = pytest.importorskip("tomli")
    parser = pytest.importorskip("tomli._parser")

    if (parser.__file__ or "").endswith(".py"):
        pytest.skip("tomli has no compiled wheel for this platform: tomllib is used")
    assert toml10._follows_toml_10(tomli), "tomli 2.4+ follows TOML 1.1: keep tomli<2.4"
    assert toml10.PARSER == "tomli (compiled)"


def test_position_splits_the_line_and_column_off_the_message() -> None:
    with pytest.raises(toml10.TOMLDecodeError) as caught:
        toml10.loads("a = 1\nb = = 2\n")
    message, line, column = toml10.position(str(caught.value))
    assert (line, column) == (2, 5) and message and "line" not in message
    deep = "x = 1\n" + ".".join(["k"] * 101) + " = 1\n"
    with pytest.raises(toml10.TOMLDecodeError) as caught:
        toml10.loads(deep)
    message, line, column = toml10.position(str(caught.value))
    assert (line, column) == (2, 1) and toml10.is_refusal(message)
    assert toml10.position("nests more than 64 deep") == ("nests more than 64 deep", None, None)
