"""The real command on this machine, as a user or a CI job runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

SCHEMA = json.loads(resources.files("envdoctor").joinpath("schema/check-v2.json").read_text())


def envdoctor(*args: str, cwd: Path, env: dict[str, str] | None = None):
    environ = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "envdoctor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        timeout=60,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path):
    # Caches under tmp_path so the disk test never writes into the real home.
    env = {
        "HF_HOME": str(tmp_path / "hf"),
        "PIP_CACHE_DIR": str(tmp_path / "pip"),
        "HOME": str(tmp_path),
        "NO_COLOR": "1",
    }
    return tmp_path, env


def test_check_json_on_this_machine_follows_the_schema(workdir):
    cwd, env = workdir
    # --skip network: tests never reach public hosts (network is tested on the lab).
    done = envdoctor("check", "--json", "--skip", "network", cwd=cwd, env=env)
    document = json.loads(done.stdout)
    jsonschema.validate(document, SCHEMA)
    statuses = {result["status"] for result in document["results"]}
    assert done.returncode == (1 if "fail" in statuses else 0), done.stderr
    assert document["probes"] == ["cpu", "memory", "disk", "gpu", "kernel", "config"]
    assert document["summary"]["exit_code"] == done.returncode
    probes = {result["probe"] for result in document["results"]}
    assert probes == {"cpu", "memory", "disk", "gpu", "kernel", "config"}
    assert not list(cwd.rglob(".envdoctor-disktest-*")), "the disk test file was left behind"


def test_check_text_on_this_machine(workdir):
    cwd, env = workdir
    done = envdoctor("check", "-v", "--skip", "gpu,network", cwd=cwd, env=env)
    as_json = envdoctor("check", "--json", "--skip", "gpu,network", cwd=cwd, env=env)
    statuses = [result["status"] for result in json.loads(as_json.stdout)["results"]]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("envdoctor ")
    # One line per result, in order, each starting with its status as the JSON says it.
    rows = [line for line in lines if line.split(" ", 1)[0] in ("ok", "warn", "fail", "skip")]
    names = [result["name"] for result in json.loads(as_json.stdout)["results"]]
    assert [row.split()[1] for row in rows] == [name.split()[0] for name in names]
    assert [row.split()[0] for row in rows] == statuses
    # The verdict and the exit code agree with the statuses (a warning does not fail).
    failed = "fail" in statuses
    assert done.returncode == (1 if failed else 0), done.stderr
    assert lines[-1].split(":")[0] == ("not ready" if failed else "ready")
    assert "\x1b[" not in done.stdout  # not a terminal: no escape codes


def _has_nvidia_gpu() -> bool:
    return Path("/dev/nvidiactl").exists()


@pytest.mark.skipif(_has_nvidia_gpu(), reason="this machine has an NVIDIA GPU")
def test_requiring_a_gpu_fails_where_there_is_none(workdir):
    cwd, env = workdir
    done = envdoctor("check", "--only", "gpu", "--require", "gpus=1", "--json", cwd=cwd, env=env)
    assert done.returncode == 1
    (gpu,) = json.loads(done.stdout)["results"]
    assert gpu["status"] == "fail"
    assert gpu["summary"].startswith("--require gpus=1 but")


@pytest.mark.skipif(_has_nvidia_gpu(), reason="this machine has an NVIDIA GPU")
def test_no_gpu_is_a_skip_not_a_failure(workdir):
    cwd, env = workdir
    done = envdoctor("check", "--only", "gpu", cwd=cwd, env=env)
    assert done.returncode == 0
    assert done.stdout.splitlines()[1].startswith("skip")
