from __future__ import annotations

from pathlib import Path

import pytest

from envdoctor.context import Context


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    """A Context confined to tmp_path: nothing a test does reaches the real machine."""
    home = tmp_path / "home" / "user"
    home.mkdir(parents=True)
    return Context.for_root(tmp_path, home=home, env={"XDG_CONFIG_HOME": str(home / ".config")})


@pytest.fixture(autouse=True)
def _no_public_apt_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    """apt's pull step compares a mirror's InRelease with the archive's own host: never
    in tests (a test names a lab upstream itself)."""
    monkeypatch.setattr("envdoctor.tools.apt.UPSTREAMS", {})


@pytest.fixture(autouse=True)
def _no_public_index_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip's and conda's pull steps compare a mirror with pypi.org and Anaconda: never in
    tests (a test names a lab upstream itself)."""
    monkeypatch.setattr("envdoctor.tools.pip_pull.UPSTREAM_INDEX", None)
    monkeypatch.setattr("envdoctor.tools.conda_pull.UPSTREAM_BASES", {})


pytest_plugins = ["tests.mirrorlab"]
