"""The project's promises about itself: packaging, README and CI agree."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _fenced_commands(text: str) -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", text, flags=re.DOTALL)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    commands = _fenced_commands((ROOT / "README.md").read_text())
    assert len(commands) == 2, commands
    install_and_check, install_and_test = commands
    assert install_and_check.endswith("envdoctor check")
    assert "pytest" in install_and_test
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install_and_test in ci_lines
    assert "set -euo pipefail" in ci_lines


def test_changelog_keeps_an_unreleased_section():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert "keepachangelog.com" in text


@pytest.mark.slow
def test_wheel_ships_the_profiles_and_the_json_schema(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("envdoctor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "envdoctor/schema/check-v1.json" in names
    assert "envdoctor/schema/check-v2.json" in names
    assert "envdoctor/schema/mirrors-v2.json" in names
    assert "envdoctor/py.typed" in names
    shipped = {Path(p).name for p in (ROOT / "profiles").glob("*.toml")}
    packaged = {Path(n).name for n in names if n.startswith("envdoctor/shipped_profiles/")}
    assert shipped <= packaged
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
