"""Each tool module's resolve: which mirror each tool really uses, and where each value comes from.

Fixture trees live on tmp_path.  pip and uv are also checked against the real tools: the
same trees are handed to pip's own option parser and to the real ``uv`` binary (whose
index requests go to a loopback server), and both must agree with the resolver.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envdoctor.configfiles import ConfigProblem, Source, ToolConfig, normalise_endpoint
from envdoctor.context import Context
from envdoctor.mirrors import gather
from envdoctor.tools import configured_mirrors
from envdoctor.tools.condarc import conda_base, resolve_conda
from envdoctor.tools.docker import resolve_docker
from envdoctor.tools.hf import resolve_hf
from envdoctor.tools.modelscope import resolve_modelscope
from envdoctor.tools.pip_config import PIP_DEFAULT_INDEX, resolve_pip
from envdoctor.tools.uv import resolve_uv


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def make_ctx(root: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> Context:
    home = root / "home" / "user"
    home.mkdir(parents=True, exist_ok=True)
    environ = {"XDG_CONFIG_HOME": str(home / ".config")}
    environ.update(env or {})
    return Context.for_root(root, env=environ, home=home, cwd=cwd)


def problem_lines(config: ToolConfig, path: Path) -> list[int | None]:
    return [problem.line for problem in config.problems if problem.path == str(path)]


# ---------------------------------------------------------------------------
# pip: layers, sections, variables
# ---------------------------------------------------------------------------


def test_pip_reads_every_layer_lowest_to_highest(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    ctx = make_ctx(tmp_path, {"VIRTUAL_ENV": str(venv)})
    home = ctx.home
    xdg = write(
        tmp_path / "etc/xdg/pip/pip.conf",
        "[global]\nindex-url = https://xdg.example/simple\ntimeout = 30\n",
    )
    etc = write(
        tmp_path / "etc/pip.conf",
        "[global]\nindex-url = https://etc.example/simple\n[install]\ntrusted-host = etc.example\n",
    )
    legacy = write(home / ".pip/pip.conf", "[global]\nindex-url = https://legacy.example/simple\n")
    user = write(
        home / ".config/pip/pip.conf",
        "[global]\nindex-url = https://user.example/simple\n"
        "extra-index-url = https://a.example/simple\n    https://b.example/simple\n",
    )
    site = write(venv / "pip.conf", "[global]\nindex-url = https://venv.example/simple\n")

    config = resolve_pip(ctx)

    assert config.files_read == [str(p) for p in (xdg, etc, legacy, user, site)]
    index = config.settings["index-url"]
    assert index.value == "https://venv.example/simple"
    assert index.source == Source("file", str(site), "global")
    assert [value for value, _ in index.shadowed] == [
        PIP_DEFAULT_INDEX,
        "https://xdg.example/simple",
        "https://etc.example/simple",
        "https://legacy.example/simple",
        "https://user.example/simple",
    ]
    assert index.shadowed[0][1].kind == "default"
    assert config.value("extra-index-url") == (
        "https://a.example/simple",
        "https://b.example/simple",
    )
    assert config.settings["trusted-host"].source == Source("file", str(etc), "install")
    assert config.value("timeout") == 30.0
    assert config.value("no-index") is False
    assert config.problems == []


def test_pip_install_section_beats_global_in_a_higher_file(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(tmp_path / "etc/pip.conf", "[install]\nindex-url = https://install.example/simple\n")
    user = write(
        ctx.home / ".config/pip/pip.conf", "[global]\nindex-url = https://global.example/simple\n"
    )

    install = resolve_pip(ctx).settings["index-url"]
    assert install.value == "https://install.example/simple"
    assert (
        "https://global.example/simple",
        Source("file", str(user), "global"),
    ) in install.shadowed
    # Another command does not read [install]: the user's [global] wins there.
    assert (
        resolve_pip(ctx, command="download").value("index-url") == "https://global.example/simple"
    )


def test_pip_environment_beats_files_and_accepts_option_aliases(tmp_path: Path) -> None:
    ctx = make_ctx(
        tmp_path,
        {
            "PIP_INDEX_URL": "https://env.example/simple",
            "PIP_DEFAULT_TIMEOUT": "60",
            "PIP_EXTRA_INDEX_URL": "https://x.example/simple https://y.example/simple",
            "PIP_VERSION": "not an option",
        },
    )
    write(
        ctx.home / ".config/pip/pip.conf",
        "[install]\nindex-url = https://file.example/simple\ntimeout = 5\n",
    )
    config = resolve_pip(ctx)
    assert config.settings["index-url"].source == Source("env", "PIP_INDEX_URL")
    assert config.value("index-url") == "https://env.example/simple"
    assert config.settings["timeout"].source == Source("env", "PIP_DEFAULT_TIMEOUT")
    assert config.value("timeout") == 60.0
    assert config.value("extra-index-url") == (
        "https://x.example/simple",
        "https://y.example/simple",
    )


def test_pip_key_spellings_and_default_section(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(
        ctx.home / ".config/pip/pip.conf",
        "[DEFAULT]\ntrusted_host = inherited.example\n"
        "[global]\nINDEX_URL = https://upper.example/simple\n"
        "[install]\n--pypi-url = https://alias.example/simple\n",
    )
    config = resolve_pip(ctx)
    assert config.value("index-url") == "https://alias.example/simple"
    assert config.value("trusted-host") == ("inherited.example",)


@pytest.mark.parametrize("version", ["23.2.1", "25.1.1", "26.0", "26.3"])
def test_pip_empty_value_unsets_the_lower_one(tmp_path: Path, version: str) -> None:
    ctx = make_ctx(tmp_path)
    write(tmp_path / "etc/pip.conf", "[global]\nindex-url = https://etc.example/simple\n")
    write(ctx.home / ".config/pip/pip.conf", "[global]\nindex-url =\n")
    config = resolve_pip(ctx, version=version)
    index = config.settings["index-url"]
    assert index.value == PIP_DEFAULT_INDEX
    assert index.source.kind == "default"
    assert [value for value, _ in index.shadowed] == ["https://etc.example/simple"]
    assert config.client == f"pip {version} rules (as told)"


@pytest.mark.parametrize("version", ["25.2", "25.3"])
def test_pip_empty_value_keeps_the_lower_one_in_25_2_and_25_3(tmp_path: Path, version: str) -> None:
    ctx = make_ctx(tmp_path)
    etc = write(tmp_path / "etc/pip.conf", "[global]\nindex-url = https://etc.example/simple\n")
    write(ctx.home / ".config/pip/pip.conf", "[global]\nindex-url =\n")
    index = resolve_pip(ctx, version=version).settings["index-url"]
    assert index.value == "https://etc.example/simple"
    assert index.source == Source("file", str(etc), "global")


def test_pip_version_is_the_installed_pips(tmp_path: Path) -> None:
    """The rules follow the pip in the prefix pip runs from; none found: the newest rules."""
    venv = tmp_path / "venv"
    ctx = make_ctx(tmp_path, {"VIRTUAL_ENV": str(venv)})
    write(tmp_path / "etc/pip.conf", "[global]\nindex-url = https://etc.example/simple\n")
    write(ctx.home / ".config/pip/pip.conf", "[global]\nindex-url =\n")
    unknown = resolve_pip(ctx)
    assert unknown.client is not None and "pip 26.3 rules (no installed pip found" in unknown.client
    assert unknown.value("index-url") == PIP_DEFAULT_INDEX
    dist = venv / "lib/python3.11/site-packages/pip-25.2.dist-info"
    dist.mkdir(parents=True)
    installed = resolve_pip(ctx)
    assert installed.client == f"pip 25.2 rules ({dist})"
    assert installed.value("index-url") == "https://etc.example/simple"


def test_pip_config_file_that_exists_hides_user_files(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    env_file = write(
        tmp_path / "custom.conf", "[global]\nindex-url = https://envfile.example/simple\n"
    )
    ctx = make_ctx(tmp_path, {"PIP_CONFIG_FILE": str(env_file), "VIRTUAL_ENV": str(venv)})
    user = write(ctx.home / ".config/pip/pip.conf", "[global]\ntimeout = 99\n")
    site = write(venv / "pip.conf", "[global]\nindex-url = https://venv.example/simple\n")

    config = resolve_pip(ctx)
    assert config.files_read == [str(site), str(env_file)]
    assert config.value("index-url") == "https://envfile.example/simple"
    assert config.value("timeout") == 15.0

    missing = make_ctx(tmp_path, {"PIP_CONFIG_FILE": str(tmp_path / "absent.conf")})
    assert str(user) in resolve_pip(missing).files_read
    assert resolve_pip(missing).value("timeout") == 99.0


def test_pip_config_file_devnull_disables_every_file(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"PIP_CONFIG_FILE": os.devnull, "PIP_TIMEOUT": "7"})
    write(tmp_path / "etc/pip.conf", "[global]\nindex-url = https://etc.example/simple\n")
    write(ctx.home / ".config/pip/pip.conf", "[global]\nindex-url = https://user.example/simple\n")
    config = resolve_pip(ctx)
    assert config.files_read == []
    assert config.value("index-url") == PIP_DEFAULT_INDEX
    assert config.value("timeout") == 7.0


def test_pip_byte_order_mark_is_a_problem_but_values_still_show(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    path = write(
        ctx.home / ".config/pip/pip.conf",
        "\ufeff[global]\nindex-url = https://bom.example/simple\n".encode(),
    )
    config = resolve_pip(ctx)
    assert config.value("index-url") == "https://bom.example/simple"
    assert problem_lines(config, path) == [1]
    assert "byte-order mark" in config.problems[0].message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[global]\nindex-url = a\ntimeout = 5\nindex-url = b\n", 4, "set twice"),
        ("[global]\ntimeout = 5\nthis line is not ini\n", 3, "neither"),
        ("index-url = https://x.example/simple\n", 1, "no [section] header"),
        ("[global]\ntimeout = 5\n[global]\n", 3, "appears twice"),
    ],
)
def test_pip_malformed_ini_is_reported_with_its_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    ctx = make_ctx(tmp_path)
    write(tmp_path / "etc/pip.conf", "[global]\nindex-url = https://etc.example/simple\n")
    path = write(ctx.home / ".config/pip/pip.conf", text)
    config = resolve_pip(ctx)
    assert problem_lines(config, path) == [line]
    assert words in config.problems[0].message
    assert "pip refuses" in config.problems[0].message
    assert config.value("index-url") in ("https://etc.example/simple", "b")


def test_pip_inline_comment_is_part_of_the_value(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    path = write(ctx.home / ".config/pip/pip.conf", "[global]\ntimeout = 10 ; seconds\n")
    config = resolve_pip(ctx)
    assert config.value("timeout") == "10 ; seconds"
    messages = [problem.message for problem in config.problems if problem.path == str(path)]
    assert any("inline comments" in message for message in messages)
    assert any("not a number" in message for message in messages)


def test_pip_only_complains_about_values_it_uses(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    etc = write(tmp_path / "etc/pip.conf", "[global]\ntimeout = soon\nno-index = maybe\n")
    user = write(ctx.home / ".config/pip/pip.conf", "[global]\ntimeout = 12\n")
    config = resolve_pip(ctx, version="25.1")
    # Up to pip 25.1, etc's timeout is replaced within [global] before pip converts it;
    # its no-index is not.
    assert config.value("timeout") == 12.0
    assert config.settings["timeout"].source == Source("file", str(user), "global")
    assert [(p.path, p.message) for p in config.problems] == [
        (str(etc), "no-index = 'maybe' is not a boolean: pip stops")
    ]
    # pip 25.2 and 25.3 convert every file's value in turn: the replaced one stops it too.
    newer = resolve_pip(ctx, version="25.2")
    assert newer.value("timeout") == 12.0
    assert [p.message for p in newer.problems] == [
        "timeout = 'soon' is not a number: pip stops",
        "no-index = 'maybe' is not a boolean: pip stops",
    ]


def test_pip_masks_credentials(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"PIP_EXTRA_INDEX_URL": "https://tok3n@extra.example/simple"})
    write(
        ctx.home / ".config/pip/pip.conf",
        "[global]\nindex-url = https://alice:s3cret@private.example/simple/\n",
    )
    config = resolve_pip(ctx)
    assert config.value("index-url") == "https://***:***@private.example/simple/"
    assert config.value("extra-index-url") == ("https://***@extra.example/simple",)
    assert "s3cret" not in repr(config)
    assert "tok3n" not in repr(config)
    # The requests need the credentials; what is shown of a mirror is gather's, masked.
    assert configured_mirrors(ctx)["pip"] == [
        "https://alice:s3cret@private.example/simple",
        "https://tok3n@extra.example/simple",
    ]
    candidates = gather(profiles=[], configured=configured_mirrors(ctx), targets=["pip"])
    assert [c.url for c in candidates] == [
        "https://***:***@private.example/simple",
        "https://***@extra.example/simple",
    ]
    assert "s3cret" not in repr(candidates) and "s3cret" not in str(candidates[0].to_json())
    assert candidates[0].request_url == "https://alice:s3cret@private.example/simple"


# ---------------------------------------------------------------------------
# pip: the same trees through pip's own option parser
# ---------------------------------------------------------------------------

# Runs in a child interpreter: for each scenario it sets the environment, builds the real
# ``pip <command>`` parser and lets pip load its configuration and compute option defaults
# (ConfigOptionParser.get_default_values: files, sections, PIP_* variables, aliases,
# splitting, empty-value removal).  ``sys.prefix`` is set to the scenario's venv, which is
# what pip would see when run from that venv (checked for real in the venv test below).
PIP_ORACLE = r"""
import configparser, json, os, sys
from pip._internal.commands import create_command
try:  # pip >= 24: an enum
    from pip._internal.configuration import Kind
    KINDS = (Kind.GLOBAL, Kind.USER, Kind.SITE, Kind.ENV)
except AttributeError:  # pip < 24: Kind is a NewType, the values live in ``kinds``
    from pip._internal.configuration import kinds
    KINDS = (kinds.GLOBAL, kinds.USER, kinds.SITE, kinds.ENV)

results = []
for scenario in json.load(sys.stdin):
    os.environ.clear()
    os.environ.update(scenario["env"])
    os.chdir(scenario.get("cwd") or "/")
    if scenario["prefix"] is not None:
        sys.prefix = scenario["prefix"]
    command = create_command(scenario["command"])
    try:
        options, _ = command.parser.parse_args([])
    except SystemExit as exc:
        results.append({"error": str(exc.code)})
        continue
    config = command.parser.config
    loaded = [
        os.path.join(os.getcwd(), name)  # a relative XDG entry names a relative file
        for kind in KINDS
        for name, _ in config._parsers[kind]
        if os.path.isfile(name) and name != "/etc/pip.conf"
    ]
    etc_parser = configparser.RawConfigParser()
    etc_parser.read("/etc/pip.conf")
    etc = sorted(
        f"{section}.{key.lower().replace('_', '-').removeprefix('--')}"
        for section in etc_parser.sections()
        for key in etc_parser[section]
    )
    results.append({
        "index-url": options.index_url,
        "extra-index-url": list(options.extra_index_urls),
        "trusted-host": list(options.trusted_hosts),
        "timeout": options.timeout,
        "no-index": options.no_index,
        "files": list(dict.fromkeys(loaded)),
        "etc": etc,
    })
print(json.dumps(results))
"""
PIP_KEYS = (
    "index-url",
    "pypi-url",
    "extra-index-url",
    "trusted-host",
    "timeout",
    "default-timeout",
)


def installed_pip_path() -> str:
    spec = importlib.util.find_spec("pip")
    if spec is None or spec.origin is None:
        pytest.skip("pip is not importable in the test interpreter")
    return str(Path(spec.origin).parents[1])


def run_pip_oracle(
    scenarios: list[dict[str, Any]], python: str = sys.executable, pip_path: str | None = None
) -> list[Any]:
    """``pip_path``: a directory or wheel to import pip from (default: the test's own pip)."""
    # PYTHONPATH lets a bare venv's python import this pip; HOME is set per scenario.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": pip_path or installed_pip_path(),
    }
    proc = subprocess.run(
        [python, "-c", PIP_ORACLE],
        input=json.dumps(scenarios),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    results: list[Any] = json.loads(proc.stdout)
    for result in results:
        relevant = [
            key
            for key in result.get("etc", [])
            if key.split(".", 1)[0] in ("global", "install", "download")
            and key.split(".", 1)[1] in (*PIP_KEYS, "no-index")
        ]
        if relevant:
            pytest.skip(f"this machine's /etc/pip.conf sets {relevant}: pip cannot be redirected")
    return results


def ours(config: ToolConfig, files: bool = True) -> dict[str, Any]:
    result = {
        "index-url": config.value("index-url"),
        "extra-index-url": list(cast("tuple[str, ...]", config.value("extra-index-url"))),
        "trusted-host": list(cast("tuple[str, ...]", config.value("trusted-host"))),
        "timeout": config.value("timeout"),
        "no-index": config.value("no-index"),
    }
    if files:
        result["files"] = config.files_read
    return result


def theirs(result: dict[str, Any], files: bool = True) -> dict[str, Any]:
    keys = ("index-url", "extra-index-url", "trusted-host", "timeout", "no-index")
    picked = {key: result[key] for key in keys}
    if files:
        picked["files"] = result["files"]
    return picked


URL_POOL = [f"https://m{i}.example/simple" for i in range(6)]


def random_pip_value(rng: random.Random, key: str) -> str:
    if rng.random() < 0.12:
        return ""
    if key in ("index-url", "pypi-url"):
        return rng.choice(URL_POOL)
    if key == "extra-index-url":
        return rng.choice([" ", "\n    "]).join(rng.sample(URL_POOL, rng.randint(1, 2)))
    if key == "trusted-host":
        return " ".join(rng.sample(["h1.example", "h2.example", "h3.example"], rng.randint(1, 2)))
    if key in ("timeout", "default-timeout"):
        return rng.choice(["5", "7.5", "20", "60"])
    if key == "no-index":
        return rng.choice(["yes", "no", "true", "false", "1", "0", "off"])
    return "3"


def spell(rng: random.Random, key: str) -> str:
    return rng.choice([key, key, key.replace("-", "_"), key.upper(), "--" + key])


def random_pip_file(rng: random.Random) -> str:
    lines: list[str] = []
    sections = rng.sample(["global", "install", "download", "freeze"], rng.randint(1, 2))
    if rng.random() < 0.1:
        sections.insert(0, "DEFAULT")
    for section in sections:
        lines.append(f"[{section}]")
        keys = rng.sample([*PIP_KEYS, "no-index", "retries"], rng.randint(1, 4))
        for key in keys:
            value = random_pip_value(rng, key)
            lines.append(f"{spell(rng, key)} = {value}" if value else f"{spell(rng, key)} =")
    return "\n".join(lines) + "\n"


def random_pip_scenario(rng: random.Random, root: Path) -> tuple[dict[str, Any], Context]:
    home = root / "home" / "user"
    home.mkdir(parents=True)
    # XDG entries pip's releases read differently: relative ones (to the working
    # directory), an empty one (./pip/pip.conf), "~/..." (expanded up to pip 24.0 only),
    # padded ones, a duplicate.  One absolute entry always stays, so no pip falls back to
    # this machine's own /etc/xdg.
    xdg_dirs = [str(root / f"xdg{i}") for i in range(rng.randint(1, 2))]
    extra = rng.sample(["rel", "", "~/hx", " ", xdg_dirs[0]], rng.randint(0, 2))
    entries = xdg_dirs + extra
    rng.shuffle(entries)
    if rng.random() < 0.2:
        entries[-1] += " "
    for directory in [*xdg_dirs, "rel", "", "~/hx", " "]:
        if rng.random() < 0.6:
            write(root / directory / "pip/pip.conf", random_pip_file(rng))
    if rng.random() < 0.5:
        write(home / "hx/pip/pip.conf", random_pip_file(rng))
    config_home = rng.choice([str(home / ".config")] * 3 + ["relcfg", "  ", "~/.cfg2"])
    for path in (
        home / ".pip/pip.conf",
        home / ".config/pip/pip.conf",
        root / "relcfg/pip/pip.conf",
        root / "~/.cfg2/pip/pip.conf",
        home / ".cfg2/pip/pip.conf",
    ):
        if rng.random() < 0.6:
            write(path, random_pip_file(rng))
    prefix = root / "venv"
    prefix.mkdir()
    if rng.random() < 0.5:
        write(prefix / "pip.conf", random_pip_file(rng))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": config_home,
        "XDG_CONFIG_DIRS": ":".join(entries),
        "VIRTUAL_ENV": str(prefix),
    }
    choice = rng.random()
    if choice < 0.3:
        env["PIP_CONFIG_FILE"] = str(write(root / "env.conf", random_pip_file(rng)))
    elif choice < 0.4:
        env["PIP_CONFIG_FILE"] = str(root / "missing.conf")
    elif choice < 0.45:
        env["PIP_CONFIG_FILE"] = os.devnull
    variables = ["INDEX_URL", "PYPI_URL", "EXTRA_INDEX_URL", "TRUSTED_HOST", "TIMEOUT"]
    variables += ["DEFAULT_TIMEOUT", "NO_INDEX"]
    for variable in rng.sample(variables, rng.randint(0, 3)):
        key = variable.lower().replace("_", "-")
        value = random_pip_value(rng, key).replace("\n    ", " ")
        env[f"PIP_{variable}"] = value
    command = rng.choice(["install", "install", "download"])
    scenario = {"env": env, "prefix": str(prefix), "command": command, "cwd": str(root)}
    ctx = Context.for_root(root, env=env, home=home, cwd=root)
    return scenario, ctx


# Each a release whose rules differ from the one before it (see envdoctor/tools/pip_config.py):
# 23.2.1 and 24.0 expand "~" in XDG_CONFIG_DIRS, 25.1.1 is the last flat merge, 25.2 and
# 25.3 keep each file's table, 26.0 is flat again, 26.2 strips the XDG values, 26.3 reads
# absolute ones only.
PIP_MATRIX = ("23.2.1", "24.0", "25.1.1", "25.2", "25.3", "26.0", "26.2", "26.3")


PIP_DOWNLOAD = (sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d")


def pip_wheel(cache: Path, version: str) -> Path:
    """pip's wheel for ``version``, downloaded once into pytest's cache (pip imports from
    a zip); skips with the reason when the package registry cannot be reached."""
    wheel = cache / f"pip-{version}-py3-none-any.whl"
    if not wheel.exists():
        proc = subprocess.run(
            [*PIP_DOWNLOAD, str(cache), f"pip=={version}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if not wheel.exists():
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
            pytest.skip(f"the pip {version} wheel could not be downloaded: {lines[-1]}")
    return wheel


@pytest.fixture(scope="module")
def pip_wheels(pytestconfig: pytest.Config) -> dict[str, Path]:
    assert pytestconfig.cache is not None
    cache = Path(pytestconfig.cache.mkdir("pip-wheels"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        wheels = pool.map(lambda version: pip_wheel(cache, version), PIP_MATRIX)
        return dict(zip(PIP_MATRIX, wheels, strict=True))


@pytest.mark.parametrize("version", PIP_MATRIX)
def test_pip_agrees_with_each_pip_release_on_random_trees(
    tmp_path: Path, pip_wheels: dict[str, Path], version: str
) -> None:
    rng = random.Random(20261121)
    built = [random_pip_scenario(rng, tmp_path / f"s{i}") for i in range(150)]
    results = run_pip_oracle([scenario for scenario, _ in built], pip_path=str(pip_wheels[version]))
    for (scenario, ctx), result in zip(built, results, strict=True):
        assert "error" not in result, scenario
        config = resolve_pip(ctx, command=scenario["command"], version=version)
        assert config.problems == [], scenario
        assert ours(config) == theirs(result), scenario


@pytest.mark.parametrize(("version", "winner"), [("25.1.1", "a"), ("26.0", "b")])
def test_pip_file_listed_twice_is_read_again_up_to_25_1(
    tmp_path: Path, pip_wheels: dict[str, Path], version: str, winner: str
) -> None:
    """XDG_CONFIG_DIRS=a:b:a: pip <= 25.1 applies a again after b; later pips keep a first."""
    home = tmp_path / "home" / "user"
    for name in ("a", "b"):
        write(tmp_path / name / "pip/pip.conf", f"[global]\nindex-url = https://{name}.example/\n")
    dirs = [str(tmp_path / name) for name in ("a", "b", "a")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_CONFIG_DIRS": ":".join(dirs)}
    env["VIRTUAL_ENV"] = str(tmp_path / "venv")
    scenario = {"env": env, "prefix": env["VIRTUAL_ENV"], "command": "install"}
    [result] = run_pip_oracle([scenario], pip_path=str(pip_wheels[version]))
    config = resolve_pip(Context.for_root(tmp_path, env=env, home=home), version=version)
    assert ours(config) == theirs(result)
    assert config.value("index-url") == f"https://{winner}.example/"


def test_pip_site_file_is_the_running_venv(tmp_path: Path) -> None:
    """A real venv: pip run from it reads $VIRTUAL_ENV/pip.conf, without any patching."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    home = tmp_path / "home" / "user"
    write(home / ".config/pip/pip.conf", "[install]\nindex-url = https://user.example/simple\n")
    write(venv / "pip.conf", "[global]\nindex-url = https://venv.example/simple\ntimeout = 3\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CONFIG_DIRS": str(tmp_path / "xdg"),
        "VIRTUAL_ENV": str(venv),
    }
    scenario = {"env": env, "prefix": None, "command": "install"}
    [result] = run_pip_oracle([scenario], python=str(venv / "bin" / "python"))
    from pip import __version__ as test_pip  # the pip the oracle ran: its rules

    config = resolve_pip(Context.for_root(tmp_path, env=env, home=home), version=test_pip)
    assert ours(config) == theirs(result)
    assert config.value("index-url") == "https://user.example/simple"
    assert config.value("timeout") == 3.0


# ---------------------------------------------------------------------------
# uv
# ---------------------------------------------------------------------------


def uv_ctx(tmp_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> Context:
    environ = {"XDG_CONFIG_DIRS": str(tmp_path / "sys")}
    environ.update(env or {})
    return make_ctx(tmp_path, environ, cwd=cwd or tmp_path / "proj")


def test_uv_project_beats_user_beats_system(tmp_path: Path) -> None:
    ctx = uv_ctx(tmp_path)
    system = write(
        tmp_path / "sys/uv/uv.toml",
        '[[index]]\nurl = "https://sys.example/simple"\ndefault = true\n',
    )
    user = write(ctx.home / ".config/uv/uv.toml", 'index-url = "https://user.example/simple"\n')
    project = write(
        tmp_path / "proj/uv.toml",
        '[[index]]\nurl = "https://proj.example/simple"\ndefault = true\n'
        '[[index]]\nurl = "https://extra.example/simple"\n',
    )
    config = resolve_uv(ctx)
    assert config.files_read == [str(project), str(user), str(system)]
    default = config.settings["default-index"]
    assert default.value == "https://proj.example/simple"
    assert default.source == Source("file", str(project), "index")
    assert [value for value, _ in default.shadowed] == [
        "https://pypi.org/simple",
        "https://user.example/simple",
        "https://sys.example/simple",
    ]
    assert config.value("index") == ("https://extra.example/simple",)
    assert configured_mirrors(ctx)["uv"] == ["https://proj.example/simple"]


def test_uv_user_index_table_beats_project_legacy_index_url(tmp_path: Path) -> None:
    ctx = uv_ctx(tmp_path)
    write(tmp_path / "proj/uv.toml", 'index-url = "https://proj-legacy.example/simple"\n')
    write(
        ctx.home / ".config/uv/uv.toml",
        '[[index]]\nurl = "https://user.example/simple"\ndefault = true\n',
    )
    assert resolve_uv(ctx).value("default-index") == "https://user.example/simple"


def test_uv_environment_comes_first(tmp_path: Path) -> None:
    write(
        tmp_path / "proj/uv.toml",
        '[[index]]\nurl = "https://proj.example/simple"\ndefault = true\n',
    )
    legacy = resolve_uv(uv_ctx(tmp_path, {"UV_INDEX_URL": "https://legacy-env.example/simple"}))
    assert legacy.settings["default-index"].source == Source("env", "UV_INDEX_URL")
    both = resolve_uv(
        uv_ctx(
            tmp_path,
            {
                "UV_INDEX_URL": "https://legacy-env.example/simple",
                "UV_DEFAULT_INDEX": "mirror=https://env.example/simple",
                "UV_INDEX": "https://a.example/simple extra=https://b.example/simple",
            },
        )
    )
    assert both.value("default-index") == "https://env.example/simple"
    assert both.value("index") == ("https://a.example/simple", "https://b.example/simple")


def test_uv_finds_pyproject_upward_and_prefers_uv_toml(tmp_path: Path) -> None:
    nested = tmp_path / "proj/src/pkg"
    nested.mkdir(parents=True)
    write(nested / "pyproject.toml", '[project]\nname = "pkg"\n')  # no [tool.uv]: skipped
    pyproject = write(
        tmp_path / "proj/pyproject.toml",
        '[tool.uv]\nindex-url = "https://pyproject.example/simple"\n',
    )
    config = resolve_uv(uv_ctx(tmp_path, cwd=nested))
    assert config.value("default-index") == "https://pyproject.example/simple"
    assert config.settings["default-index"].source == Source("file", str(pyproject), "tool.uv")

    write(tmp_path / "proj/uv.toml", 'index-url = "https://uvtoml.example/simple"\n')
    config = resolve_uv(uv_ctx(tmp_path, cwd=nested))
    assert config.value("default-index") == "https://uvtoml.example/simple"
    assert [problem.path for problem in config.problems] == [str(pyproject)]


def test_uv_invalid_toml_is_reported_with_its_line(tmp_path: Path) -> None:
    ctx = uv_ctx(tmp_path)
    path = write(
        ctx.home / ".config/uv/uv.toml", 'index-url = "https://x.example/simple"\nbad = [\n'
    )
    config = resolve_uv(ctx)
    assert [problem.path for problem in config.problems] == [str(path)]
    assert config.problems[0].line is not None
    assert "uv refuses to run" in config.problems[0].message
    assert config.value("default-index") == "https://pypi.org/simple"


def test_uv_config_file_replaces_discovery_and_no_config_disables_it(tmp_path: Path) -> None:
    write(tmp_path / "proj/uv.toml", 'index-url = "https://proj.example/simple"\n')
    chosen = write(tmp_path / "chosen.toml", 'index-url = "https://chosen.example/simple"\n')
    config = resolve_uv(uv_ctx(tmp_path, {"UV_CONFIG_FILE": str(chosen)}))
    assert config.files_read == [str(chosen)]
    assert config.value("default-index") == "https://chosen.example/simple"
    none = resolve_uv(uv_ctx(tmp_path, {"UV_NO_CONFIG": "1"}))
    assert none.files_read == []
    assert none.settings["default-index"].source.kind == "default"


def test_uv_no_index_empties_the_configured_mirror(tmp_path: Path) -> None:
    write(tmp_path / "proj/uv.toml", 'no-index = true\nindex-url = "https://x.example/simple"\n')
    ctx = uv_ctx(tmp_path)
    assert resolve_uv(ctx).value("no-index") is True
    assert configured_mirrors(ctx)["uv"] == []


# ---------------------------------------------------------------------------
# uv: the same trees through the real uv binary
# ---------------------------------------------------------------------------


def uv_binary() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.exists() else shutil.which("uv")


class IndexLog(http.server.ThreadingHTTPServer):
    """A loopback index (every page 404) that is also the HTTPS proxy for PyPI."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _IndexHandler)
        self.requests: list[str] = []


class _IndexHandler(http.server.BaseHTTPRequestHandler):
    server: IndexLog

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        self.send_response(404)
        self.end_headers()

    def do_CONNECT(self) -> None:
        self.server.requests.append(f"CONNECT {self.path}")
        self.send_response(403)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def uv_request_order(
    uv: str, root: Path, env: dict[str, str], cwd: Path, server: IndexLog
) -> list[str]:
    """The index pages uv asks for, in order, when it looks for a package nobody has."""
    port = server.server_address[1]
    proxy = f"http://127.0.0.1:{port}"
    full = {
        **env,
        "UV_CACHE_DIR": str(root / "cache"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_HTTP_RETRIES": "0",
        "UV_NO_PROGRESS": "1",
        "HTTPS_PROXY": proxy,
        "HTTP_PROXY": proxy,
        "NO_PROXY": "127.0.0.1",
    }
    args = [uv, "pip", "compile", "--no-cache", "--python", sys.executable, "-"]
    subprocess.run(
        args, input="nopkg\n", text=True, capture_output=True, env=full, cwd=cwd, timeout=60
    )
    return list(server.requests)


def expected_requests(config: ToolConfig) -> list[str]:
    urls = [*cast("tuple[str, ...]", config.value("index")), str(config.value("default-index"))]
    return [
        "CONNECT pypi.org:443"
        if url == "https://pypi.org/simple"
        else urlsplit(url).path + "nopkg/"
        for url in urls
    ]


def random_uv_layer(rng: random.Random, tag: str, base: str, tool: bool) -> str:
    top: list[str] = []
    tables: list[str] = []
    if rng.random() < 0.35:
        top.append(f'index-url = "{base}/{tag}-url/"')
    if rng.random() < 0.3:
        extras = ", ".join(f'"{base}/{tag}-extra{i}/"' for i in range(rng.randint(1, 2)))
        top.append(f"extra-index-url = [{extras}]")
    for i in range(rng.choice([0, 0, 1, 2, 3])):
        table = "[[tool.uv.index]]" if tool else "[[index]]"
        lines = [table, f'url = "{base}/{tag}-idx{i}/"']
        if rng.random() < 0.35:
            lines.append("default = true")
        name = rng.choice([None, None, "alpha", "beta"])
        if name:
            lines.append(f'name = "{name}"')
        tables.append("\n".join(lines))
    head = "[tool.uv]\n" if tool else ""
    return head + "\n".join(top) + "\n" + "\n".join(tables) + "\n"


def random_uv_scenario(
    rng: random.Random, root: Path, base: str
) -> tuple[dict[str, str], Path, Context]:
    home = root / "home"
    project = root / "proj"
    cwd = project / "sub" if rng.random() < 0.3 else project
    cwd.mkdir(parents=True)
    kind = rng.choice(["none", "uv.toml", "pyproject", "both"])
    if kind in ("uv.toml", "both"):
        write(project / "uv.toml", random_uv_layer(rng, "proj", base, tool=False))
    if kind in ("pyproject", "both"):
        write(project / "pyproject.toml", random_uv_layer(rng, "pyp", base, tool=True))
    if rng.random() < 0.6:
        write(home / ".config/uv/uv.toml", random_uv_layer(rng, "user", base, tool=False))
    if rng.random() < 0.5:
        write(root / "sys/uv/uv.toml", random_uv_layer(rng, "sys", base, tool=False))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CONFIG_DIRS": str(root / "sys"),
    }
    if rng.random() < 0.2:
        env["UV_DEFAULT_INDEX"] = f"{base}/env-default/"
    if rng.random() < 0.25:
        env["UV_INDEX"] = " ".join(
            rng.choice(["", "alpha="]) + f"{base}/env-idx{i}/" for i in range(rng.randint(1, 2))
        )
    if rng.random() < 0.2:
        env["UV_INDEX_URL"] = f"{base}/env-url/"
    if rng.random() < 0.2:
        env["UV_EXTRA_INDEX_URL"] = f"{base}/env-extra/"
    ctx = Context.for_root(root, env=env, home=home, cwd=cwd)
    return env, cwd, ctx


def test_uv_agrees_with_the_real_uv(tmp_path: Path) -> None:
    uv = uv_binary()
    if uv is None:
        pytest.skip("uv is not installed (pip install uv to run this comparison)")
    if Path("/etc/uv/uv.toml").exists():
        pytest.skip("this machine has /etc/uv/uv.toml, which uv reads and tests cannot redirect")
    seeds = [random.Random(1121 + index).random() for index in range(24)]

    def one(seed: float) -> tuple[list[str], list[str], dict[str, str]]:
        root = tmp_path / f"s{seeds.index(seed)}"
        server = IndexLog()
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            base = f"http://127.0.0.1:{server.server_address[1]}"
            env, cwd, ctx = random_uv_scenario(random.Random(seed), root, base)
            expected = expected_requests(resolve_uv(ctx))
            actual = uv_request_order(uv, root, env, cwd, server)
        finally:
            server.shutdown()
            server.server_close()
        return expected, actual, env

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(one, seeds))
    for expected, actual, env in outcomes:
        assert actual == expected, env


# ---------------------------------------------------------------------------
# conda
# ---------------------------------------------------------------------------


def test_conda_merges_lists_and_overrides_scalars_across_files(tmp_path: Path) -> None:
    prefix = tmp_path / "envs/work"
    ctx = make_ctx(tmp_path, {"CONDA_PREFIX": str(prefix)})
    etc = write(
        tmp_path / "etc/conda/.condarc",
        "channels:\n  - defaults\n  - conda-forge\n"
        "channel_alias: https://etc.example/anaconda\n"
        "show_channel_urls: true\n"
        "custom_channels:\n  conda-forge: https://etc.example/cloud\n",
    )
    home = write(
        ctx.home / ".condarc",
        "channels: [pytorch, defaults]\n"
        "channel_alias: https://home.example/anaconda\n"
        "custom_channels:\n  conda-forge: https://home.example/cloud\n  pytorch: https://home.example/cloud\n",
    )
    env = write(prefix / ".condarc", "channels:\n  - bioconda\nshow_channel_urls: false\n")

    config = resolve_conda(ctx)
    assert config.files_read == [str(etc), str(home), str(env)]
    channels = config.settings["channels"]
    assert channels.value == ("bioconda", "pytorch", "defaults", "conda-forge")
    assert channels.source == Source("file", str(env), "channels")
    assert [source.location for _, source in channels.shadowed[1:]] == [str(etc), str(home)]
    assert config.value("channel_alias") == "https://home.example/anaconda"
    assert config.value("show_channel_urls") is False
    assert config.value("custom_channels") == {
        "conda-forge": "https://home.example/cloud",
        "pytorch": "https://home.example/cloud",
    }
    assert config.settings["default_channels"].source.kind == "default"

    with_env = resolve_conda(
        make_ctx(tmp_path, {"CONDA_PREFIX": str(prefix), "CONDA_CHANNELS": "nvidia, conda-forge"})
    )
    assert with_env.value("channels") == (
        "nvidia",
        "conda-forge",
        "bioconda",
        "pytorch",
        "defaults",
    )
    assert with_env.settings["channels"].source == Source("env", "CONDA_CHANNELS")


def test_conda_search_path_details(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"CONDA_EXE": str(tmp_path / "miniforge/bin/conda")})
    write(tmp_path / "etc/conda/condarc.d/10-a.yml", "channels: [a]\n")
    write(tmp_path / "etc/conda/condarc.d/20-b.yaml", "channels: [b]\n")
    write(tmp_path / "etc/conda/condarc.d/notes.txt", "channels: [ignored]\n")
    root_rc = write(tmp_path / "miniforge/.condarc", "channels: [root]\n")
    xdg = write(ctx.home / ".config/conda/.condarc", "channels: [xdg]\n")
    config = resolve_conda(ctx)
    assert config.value("channels") == ("xdg", "root", "b", "a")
    # $XDG_CONFIG_HOME/conda and ~/.config/conda are the same file here: read once.
    assert config.files_read.count(str(xdg)) == 1
    assert str(root_rc) in config.files_read


def test_conda_root_comes_from_the_conda_on_path_when_nothing_names_it(tmp_path: Path) -> None:
    # An image with /opt/conda/bin on PATH and no CONDA_ROOT or CONDA_EXE (they are set
    # by `conda activate`): conda sets CONDA_ROOT to its own sys.prefix and reads
    # /opt/conda/.condarc; the check missed that file.
    ctx = make_ctx(tmp_path, {"PATH": "/usr/local/bin:/usr/bin"})
    program = write(tmp_path / "opt/conda/bin/conda", "#!/opt/conda/bin/python\n")
    program.chmod(0o755)
    link = tmp_path / "usr/local/bin/conda"
    link.parent.mkdir(parents=True)
    link.symlink_to("/opt/conda/bin/conda")  # absolute: read inside the image
    root_rc = write(tmp_path / "opt/conda/.condarc", "channels: [from-root]\n")
    config = resolve_conda(ctx)
    assert str(root_rc) in config.files_read
    assert config.value("channels") == ("from-root",)
    assert str(root_rc) not in resolve_conda(make_ctx(tmp_path, {"PATH": "/nowhere"})).files_read


def test_a_link_loop_on_an_image_s_path_is_no_program(tmp_path: Path) -> None:
    # usr/local/bin/podman -> /usr/local/bin/podman: exec finds no program there, and
    # the link must not stop the whole apply ("too many levels of symbolic links").
    ctx = make_ctx(tmp_path, {"PATH": "/usr/local/bin:/usr/bin"})
    loop = tmp_path / "usr/local/bin/podman"
    loop.parent.mkdir(parents=True)
    loop.symlink_to("/usr/local/bin/podman")
    assert ctx.program_path("podman") is None and not ctx.on_path("podman")
    real = write(tmp_path / "usr/bin/podman", "#!/bin/sh\n")
    assert ctx.program_path("podman") == real


def test_conda_final_flag_stops_higher_files(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"CONDA_CHANNEL_ALIAS": "https://env.example"})
    write(
        tmp_path / "etc/conda/.condarc",
        "channel_alias: https://locked.example  #!final\n"
        "channels: #!final\n  - locked\n"
        "default_channels:\n  - https://etc.example/pkgs/main\n",
    )
    write(
        ctx.home / ".condarc",
        "channel_alias: https://home.example\nchannels: [home]\n"
        "default_channels:\n  - https://home.example/pkgs/r  #!bottom\n  - https://home.example/pkgs/main\n",
    )
    config = resolve_conda(ctx)
    assert config.value("channel_alias") == "https://locked.example"
    assert config.value("channels") == ("locked",)
    ignored = [source.location for _, source in config.settings["channel_alias"].shadowed]
    assert "CONDA_CHANNEL_ALIAS" in ignored
    assert config.value("default_channels") == (
        "https://home.example/pkgs/main",
        "https://etc.example/pkgs/main",
        "https://home.example/pkgs/r",
    )


def test_conda_malformed_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    write(tmp_path / "etc/conda/.condarc", "channels: [good]\n")
    broken = write(ctx.home / ".condarc", "channels:\n  - a\n - b: [\n")
    duplicate = write(ctx.home / ".conda/.condarc", "channel_alias: x\nchannel_alias: y\n")
    config = resolve_conda(ctx)
    assert problem_lines(config, broken) == [3]
    assert problem_lines(config, duplicate) == [2]
    assert config.value("channels") == ("good",)


def test_conda_type_errors_and_condarc_name(tmp_path: Path) -> None:
    odd = write(tmp_path / "settings.txt", "channels: [x]\n")
    ctx = make_ctx(tmp_path, {"CONDARC": str(odd)})
    scalar = write(ctx.home / ".condarc", "channels: conda-forge\n")
    config = resolve_conda(ctx)
    assert problem_lines(config, scalar) == [1]
    assert any(problem.path == str(odd) for problem in config.problems)
    assert config.value("channels") == ()


@pytest.mark.parametrize(
    "text",
    [
        "channels: ~\ncustom_channels: ~\n",
        "channels:\ncustom_channels:\n",
        "channels: null  #!final\ncustom_channels: ~  #!final\n",
    ],
)
def test_conda_empty_list_or_mapping_is_dropped_not_fatal(tmp_path: Path, text: str) -> None:
    """conda's SequenceParameter and MapParameter skip a match whose value is None
    (conda/common/configuration.py: "config settings like `channels: ~`"), flag and all."""
    ctx = make_ctx(tmp_path)
    write(
        tmp_path / "etc/conda/.condarc",
        "channels: [lower]\ncustom_channels:\n  conda-forge: https://lower.example\n",
    )
    empty = write(ctx.home / ".condarc", text)
    config = resolve_conda(ctx)
    assert config.problems == []
    assert str(empty) in config.files_read
    assert config.value("channels") == ("lower",)
    assert config.value("custom_channels") == {"conda-forge": "https://lower.example"}
    write(tmp_path / "alone/home/user/.condarc", text)
    alone = resolve_conda(make_ctx(tmp_path / "alone"))
    assert alone.problems == []
    assert alone.settings["channels"].source.kind == "default"
    assert alone.value("custom_channels") == {"pkgs/pro": "https://repo.anaconda.com"}


def test_conda_mirror_base(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"MIRROR_USER": "ci"})
    write(
        ctx.home / ".condarc",
        "default_channels:\n"
        "  - https://mirrors.example.edu.cn/anaconda/pkgs/main/\n"
        "  - https://mirrors.example.edu.cn/anaconda/pkgs/r\n"
        "channel_alias: https://${MIRROR_USER}:pw@mirrors.example.edu.cn/anaconda\n"
        "custom_channels:\n  private: https://conda.example/t/${MIRROR_USER}-tk/\n",
    )
    config = resolve_conda(ctx)
    assert config.value("channel_alias") == "https://***:***@mirrors.example.edu.cn/anaconda"
    assert config.value("custom_channels") == {"private": "https://conda.example/t/***/"}
    assert configured_mirrors(ctx)["conda"] == ["https://mirrors.example.edu.cn/anaconda"]
    assert conda_base((), "https://conda.anaconda.org") == "https://repo.anaconda.com"
    assert conda_base(["https://x.example/pkgs/r"], "") == "https://x.example"
    assert conda_base(["pkgs/main"], "https://alias.example/") == "https://alias.example"


# ---------------------------------------------------------------------------
# Docker, Hugging Face, ModelScope
# ---------------------------------------------------------------------------


def test_docker_registry_mirrors_and_json_errors(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    system = write(
        tmp_path / "etc/docker/daemon.json",
        '\ufeff{\n  "registry-mirrors": ["https://docker.1ms.run/", "https://m.example/v2"]\n}\n',
    )
    config = resolve_docker(ctx)
    assert config.value("registry-mirrors") == ("https://docker.1ms.run/", "https://m.example/v2")
    assert config.settings["registry-mirrors"].source == Source(
        "file", str(system), "registry-mirrors"
    )
    assert [problem.path for problem in config.problems] == [str(system), str(system)]
    assert "byte-order mark" in config.problems[0].message  # dockerd 20.10 refuses it
    assert "path" in config.problems[1].message
    assert configured_mirrors(ctx)["docker"] == ["https://docker.1ms.run", "https://m.example/v2"]

    write(system, '\n{\n  "registry-mirrors": [\n    "https://a.example",\n  ]\n}\n')
    broken = resolve_docker(ctx)
    assert problem_lines(broken, system) == [5]
    assert broken.value("registry-mirrors") == ()

    rootless = write(
        ctx.home / ".config/docker/daemon.json", '{"registry-mirrors": ["https://r.example"]}'
    )
    write(system, "")
    both = resolve_docker(ctx)
    assert [problem.path for problem in both.problems] == [str(system)]
    assert "is empty, which dockerd 20.10 refuses" in both.problems[0].message
    assert both.files_read == [str(system), str(rootless)]
    assert both.value("rootless.registry-mirrors") == ("https://r.example",)
    assert configured_mirrors(ctx)["docker"] == ["https://r.example"]


def test_docker_without_daemon_json_means_docker_hub(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    config = resolve_docker(ctx)
    assert config.files_read == []
    assert config.value("registry-mirrors") == ()
    assert configured_mirrors(ctx)["docker"] == []


def test_hf_defaults_follow_xdg_cache_home(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    config = resolve_hf(ctx)
    assert config.value("HF_ENDPOINT") == "https://huggingface.co"
    assert config.value("HF_HOME") == str(ctx.home / ".cache/huggingface")
    assert config.value("HF_HUB_CACHE") == str(ctx.home / ".cache/huggingface/hub")
    assert config.value("HF_HUB_DOWNLOAD_TIMEOUT") == 10
    assert config.value("HF_HUB_OFFLINE") is False

    cached = resolve_hf(make_ctx(tmp_path, {"XDG_CACHE_HOME": str(tmp_path / "cache")}))
    assert cached.value("HF_HOME") == str(tmp_path / "cache/huggingface")
    assert cached.settings["HF_HOME"].source == Source("env", "XDG_CACHE_HOME")


def test_hf_environment(tmp_path: Path) -> None:
    ctx = make_ctx(
        tmp_path,
        {
            "HF_ENDPOINT": "https://hf-mirror.com/",
            "HF_HOME": "~/models",
            "HUGGINGFACE_HUB_CACHE": str(tmp_path / "legacy"),
            "HF_HUB_CACHE": str(tmp_path / "hub"),
            "HF_HUB_OFFLINE": "",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_XET": "true",
            "HF_HUB_DOWNLOAD_TIMEOUT": "0",
            "HF_HUB_ETAG_TIMEOUT": "soon",
        },
    )
    config = resolve_hf(ctx)
    assert config.value("HF_ENDPOINT") == "https://hf-mirror.com"
    assert config.value("HF_HOME") == str(ctx.home / "models")
    hub = config.settings["HF_HUB_CACHE"]
    assert hub.value == str(tmp_path / "hub")
    assert [source.location for _, source in hub.shadowed] == ["HF_HOME", "HUGGINGFACE_HUB_CACHE"]
    assert config.settings["HF_HUB_OFFLINE"].source == Source("env", "TRANSFORMERS_OFFLINE")
    assert config.value("HF_HUB_OFFLINE") is True
    assert config.value("HF_HUB_DISABLE_XET") is True
    assert config.value("HF_HUB_DOWNLOAD_TIMEOUT") == 10
    assert config.problems == [
        ConfigProblem(
            "$HF_HUB_ETAG_TIMEOUT",
            None,
            "'soon' is not a whole number: huggingface_hub fails to import",
        )
    ]
    assert configured_mirrors(ctx)["hf"] == ["https://hf-mirror.com"]

    empty = resolve_hf(make_ctx(tmp_path, {"HF_ENDPOINT": ""}))
    assert empty.value("HF_ENDPOINT") == ""
    assert [problem.path for problem in empty.problems] == ["$HF_ENDPOINT"]
    assert configured_mirrors(make_ctx(tmp_path, {"HF_ENDPOINT": ""}))["hf"] == []


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"HF_ENDPOINT": "https://hf-mirror.com/"},
        {"HF_ENDPOINT": ""},
        {"HUGGINGFACE_CO_STAGING": "1"},
        {"HUGGINGFACE_CO_STAGING": "yes", "HF_ENDPOINT": "https://hf-mirror.com"},
        {"HUGGINGFACE_CO_STAGING": "0", "HF_ENDPOINT": "https://hf-mirror.com"},
    ],
)
def test_hf_endpoint_is_the_one_huggingface_hub_reads(tmp_path: Path, env: dict[str, str]) -> None:
    if importlib.util.find_spec("huggingface_hub") is None:
        pytest.skip("huggingface_hub is not installed (pip install huggingface_hub)")
    code = "import huggingface_hub.constants as c; print(c.ENDPOINT)"
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **env}
    real = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean, check=True
    ).stdout.strip()
    assert resolve_hf(make_ctx(tmp_path, env)).value("HF_ENDPOINT") == real


def test_modelscope_domain(tmp_path: Path) -> None:
    default = resolve_modelscope(make_ctx(tmp_path))
    assert default.value("endpoint") == "https://www.modelscope.cn"
    assert default.settings["MODELSCOPE_DOMAIN"].source.kind == "default"

    ctx = make_ctx(tmp_path, {"MODELSCOPE_DOMAIN": "www.modelscope.ai"})
    assert configured_mirrors(ctx)["modelscope"] == ["https://www.modelscope.ai"]

    wrong = resolve_modelscope(make_ctx(tmp_path, {"MODELSCOPE_DOMAIN": "https://x.example"}))
    assert wrong.value("endpoint") == "https://https://x.example"
    assert [problem.path for problem in wrong.problems] == ["$MODELSCOPE_DOMAIN"]


# ---------------------------------------------------------------------------
# configured_mirrors and masking
# ---------------------------------------------------------------------------


def test_configured_mirrors_on_a_mirrored_machine(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, {"HF_ENDPOINT": "https://hf-mirror.com"})
    write(
        tmp_path / "etc/pip.conf",
        "[global]\nindex-url = https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple/\n",
    )
    write(
        ctx.home / ".config/uv/uv.toml",
        '[[index]]\nurl = "https://mirrors.ustc.edu.cn/pypi/simple"\ndefault = true\n',
    )
    write(
        ctx.home / ".condarc",
        "default_channels:\n  - https://mirrors.bfsu.edu.cn/anaconda/pkgs/main\n",
    )
    write(tmp_path / "etc/docker/daemon.json", '{"registry-mirrors": ["https://docker.1ms.run"]}')
    assert configured_mirrors(ctx) == {
        "pip": ["https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple"],
        "uv": ["https://mirrors.ustc.edu.cn/pypi/simple"],
        "conda": ["https://mirrors.bfsu.edu.cn/anaconda"],
        "docker": ["https://docker.1ms.run"],
        "hf": ["https://hf-mirror.com"],
        "modelscope": ["https://www.modelscope.cn"],
        **UPSTREAM_OTHERS,
    }


def test_configured_mirrors_upstream_defaults(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    assert configured_mirrors(ctx) == {
        "pip": ["https://pypi.org/simple"],
        "uv": ["https://pypi.org/simple"],
        "conda": ["https://repo.anaconda.com"],
        "docker": [],
        "hf": ["https://huggingface.co"],
        "modelscope": ["https://www.modelscope.cn"],
        **UPSTREAM_OTHERS,
    }


UPSTREAM_OTHERS = {
    "npm": ["https://registry.npmjs.org"],
    "go": ["https://proxy.golang.org"],
    "cargo": ["https://index.crates.io"],
    "git": ["https://huggingface.co"],
}
"""npm, Go, cargo and git with nothing configured (git only where it is installed; apt has
no /etc/apt in these roots)."""


SECRET = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~", min_size=4, max_size=20)


@given(
    user=SECRET, password=SECRET, path=st.sampled_from(["", "/", "/simple/", "/pypi/web/simple"])
)
def test_normalised_endpoints_never_show_credentials(user: str, password: str, path: str) -> None:
    url = f"https://{user}:{password}@mirror.example.edu.cn{path}"
    assert normalise_endpoint(url) == f"https://***:***@mirror.example.edu.cn{path}".rstrip("/")
    assert normalise_endpoint(f" https://mirror.example.edu.cn{path} ") == (
        f"https://mirror.example.edu.cn{path}".rstrip("/")
    )


def test_nothing_reads_outside_the_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real variables (this machine sets PIP_* and may set HF_*) never leak in: ctx.env only."""
    monkeypatch.setenv("PIP_INDEX_URL", "https://leak.example/simple")
    monkeypatch.setenv("HF_ENDPOINT", "https://leak.example")
    monkeypatch.setenv("UV_DEFAULT_INDEX", "https://leak.example/simple")
    mirrors = configured_mirrors(make_ctx(tmp_path))
    assert all("leak" not in url for urls in mirrors.values() for url in urls)


def test_modelscope_domain_given_as_a_url_with_credentials_is_masked(tmp_path):
    from envdoctor.tools.modelscope import resolve_modelscope

    ctx = Context.for_root(tmp_path, env={"MODELSCOPE_DOMAIN": "https://u:pw@ms.example"})
    config = resolve_modelscope(ctx)
    shown = repr(config.settings) + repr(config.problems)
    assert "pw@" not in shown
    assert config.value("endpoint") == "https://https://***:***@ms.example"
    assert config.problems and "bare host" in config.problems[0].message


def test_pip_config_row_says_which_pips_rules_it_followed(tmp_path: Path) -> None:
    import envdoctor.probes.config as config_probe
    from envdoctor.requirements import CheckOptions

    venv = tmp_path / "venv"
    dist = venv / "lib/python3.12/site-packages/pip-25.3.dist-info"
    dist.mkdir(parents=True)
    ctx = make_ctx(tmp_path, {"VIRTUAL_ENV": str(venv)})
    results = config_probe.run(ctx, CheckOptions())
    [row] = [result for result in results if result.name == "config pip"]
    assert row.details["rules"] == f"pip 25.3 rules ({dist})"
