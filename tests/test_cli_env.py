"""``envdoctor env``: the variables of every tool for one command, read by the real clients."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools.test_pip import LoopbackIndex, build_wheel
from tests.tools.test_uv import uv_binary

ROOT = Path(__file__).resolve().parents[1]


def envdoctor_env(home: Path, profile: str, shell: str = "sh") -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-m", "envdoctor", "env", "--profile", profile, "--shell", shell],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def user_profile(home: Path, index: str) -> None:
    directory = home / ".config" / "envdoctor" / "profiles"
    directory.mkdir(parents=True)
    (directory / "lab.toml").write_text(
        'name = "lab"\ndescription = "loopback index"\n'
        f'[pip]\nindex-url = "{index}"\nallow-http = true\n'
        f'[uv]\ndefault-index = "{index}"\nallow-http = true\n'
        '[conda]\nbase-url = "https://mirrors.example.edu.cn/anaconda"\n'
        '[hf]\nendpoint = "https://hf-mirror.example"\n'
    )


def test_env_gives_the_index_variables_and_the_hub_ones(tmp_path: Path) -> None:
    user_profile(tmp_path, "http://127.0.0.1:9/simple")
    out = envdoctor_env(tmp_path, "lab")
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if line)
    assert {name: shlex.split(value)[0] for name, value in exports.items()} == {
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_TRUSTED_HOST": "127.0.0.1:9",
        "UV_DEFAULT_INDEX": "http://127.0.0.1:9/simple",
        "CONDA_DEFAULT_CHANNELS": ",".join(
            f"https://mirrors.example.edu.cn/anaconda/{path}"
            for path in ("pkgs/main", "pkgs/r", "pkgs/msys2")
        ),
        "HF_ENDPOINT": "https://hf-mirror.example",
    }
    dockerfile = envdoctor_env(tmp_path, "lab", "dockerfile")
    assert 'ENV PIP_INDEX_URL="http://127.0.0.1:9/simple"\n' in dockerfile


def test_pip_and_uv_install_from_the_index_env_names(tmp_path: Path) -> None:
    """Evaluated in a fresh shell with no config file at all, the variables alone send pip
    and uv to the profile's index."""
    uv = uv_binary()
    wheel = build_wheel(tmp_path / "build")
    with LoopbackIndex(tmp_path / "www", wheel) as index:
        home = tmp_path / "home"
        user_profile(home, index.url)
        exports = envdoctor_env(home, "lab")
        script = (
            f"{exports}"
            f"{shlex.quote(sys.executable)} -m pip download --no-deps --no-cache-dir"
            f" -d {shlex.quote(str(tmp_path / 'dl'))} envdoctor-probe-pkg &&"
            f" echo envdoctor-probe-pkg | {shlex.quote(uv)} pip compile --no-cache"
            f" --python {shlex.quote(sys.executable)} -"
        )
        result = subprocess.run(
            ["bash", "-c", script],
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(home),
                "PIP_CONFIG_FILE": os.devnull,
                "UV_NO_CONFIG": "1",
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "dl").glob("envdoctor_probe_pkg-0.1-*.whl"))
    assert "envdoctor-probe-pkg==0.1" in result.stdout
    assert sum(f"/simple/{index.project}/" in request for request in index.requests) >= 2


@pytest.mark.parametrize(
    ("version", "name"), [("0.4.22", "UV_INDEX_URL"), ("0.13.9", "UV_DEFAULT_INDEX")]
)
def test_uv_variable_follows_the_installed_uv(tmp_path: Path, version: str, name: str) -> None:
    fake = tmp_path / "bin" / "uv"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho 'uv {version} (fake)'\n")
    fake.chmod(0o755)
    from envdoctor.context import Context
    from envdoctor.profiles import get_profile
    from envdoctor.tools import uv

    ctx = Context.for_root(tmp_path, env={"PATH": str(fake.parent)})
    assert uv.command_variables(ctx, get_profile(ctx, "cn-tsinghua"))[0][0] == name
