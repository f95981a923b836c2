"""envdoctor.tools.cargo: crates.io replaced by a sparse index in ~/.cargo/config.toml.

The real cargo resolves a dependency from a loopback sparse index that only the written
file names (``cargo generate-lockfile``): the index server sees the request, and the lock
file still calls the source crates.io, as cargo's source replacement does.  Fixture files
keep other tables and comments; an older replacement is repointed in place.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit

from envdoctor import transaction
from envdoctor.checkup import Checkup, LoginEnv, Remedies
from envdoctor.context import Context
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile
from envdoctor.tools import cargo
from envdoctor.tools.cargo import CargoSettings

DATA = Path(__file__).parent / "data" / "cargo"
MIRROR = "sparse+https://mirrors.example.edu.cn/crates.io-index/"
USER = ApplyOptions(scope="user")
CRATE = "envdoctor-probe"


def profile(index: str = MIRROR) -> Profile:
    return Profile(
        name="t", description="", source=Path("t.toml"), origin="user", cargo=CargoSettings(index)
    )


def make_ctx(tmp_path: Path, **env: str) -> Context:
    home = tmp_path / "home"
    (home / "project").mkdir(parents=True, exist_ok=True)
    return Context.for_root(tmp_path, env=env, home=home, cwd=home / "project")


def apply_plan(ctx: Context, wanted: Profile) -> str:
    plan = cargo.plan(ctx, wanted, USER)
    record = transaction.apply_changes(
        ctx,
        [change for change in plan.changes if change.changed],
        journal=transaction.journal_dir(ctx, "user"),
        description="test",
        profile="test",
    )
    return record.id


@pytest.mark.parametrize("name", ["config-with-other-tables.toml", "config-with-old-mirror.toml"])
def test_real_world_files_keep_their_tables_and_comments(tmp_path: Path, name: str) -> None:
    ctx = make_ctx(tmp_path)
    original = (DATA / name).read_bytes()
    path = ctx.home / ".cargo" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(original)
    apply_id = apply_plan(ctx, profile())
    new = path.read_text()
    before = tomlkit.parse(original.decode()).unwrap()
    after = tomlkit.parse(new).unwrap()
    name_used = before.get("source", {}).get("crates-io", {}).get("replace-with", "mirror")
    assert after["source"]["crates-io"]["replace-with"] == name_used
    assert after["source"][name_used]["registry"] == MIRROR
    for table in before:
        if table != "source":
            assert after[table] == before[table]
    for line in original.decode().splitlines():
        if "#" in line and "registry =" not in line:
            assert line in new  # comments stay where they were
    assert cargo.plan(ctx, profile(), USER).changes[0].changed is False  # idempotent
    upstream_id = apply_plan(ctx, profile(cargo.CRATES_IO_SPARSE))
    assert "replace-with" not in tomlkit.parse(path.read_text()).unwrap()["source"]["crates-io"]
    transaction.rollback(ctx, transaction.journal_dir(ctx, "user"), upstream_id)
    assert path.read_text() == new
    transaction.rollback(ctx, transaction.journal_dir(ctx, "user"), apply_id)
    assert path.read_bytes() == original


def test_a_vendored_replacement_is_left_alone(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    path = ctx.home / ".cargo" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(
        '[source.crates-io]\nreplace-with = "vendored"\n\n[source.vendored]\ndirectory = "v"\n'
    )
    plan = cargo.plan(ctx, profile(), USER)
    assert plan.skipped and "directory source 'vendored'" in plan.skipped


class _Index(http.server.BaseHTTPRequestHandler):
    """A sparse index holding one crate, recording the paths cargo asks for."""

    seen: list[str]
    files: dict[str, bytes]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def sparse_index() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    base = f"http://127.0.0.1:{server.server_address[1]}/index/"
    entry = {
        "name": CRATE,
        "vers": "1.0.0",
        "deps": [],
        "cksum": hashlib.sha256(b"not downloaded").hexdigest(),
        "features": {},
        "yanked": False,
    }
    files = {
        "/index/config.json": json.dumps({"dl": f"{base}dl"}).encode(),
        f"/index/en/vd/{CRATE}": json.dumps(entry).encode() + b"\n",
    }
    handler = type("Handler", (_Index,), {"seen": seen, "files": files})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, seen
    finally:
        server.shutdown()
        server.server_close()


def test_real_cargo_resolves_crates_io_from_the_written_mirror(
    tmp_path: Path, sparse_index: tuple[str, list[str]]
) -> None:
    program = shutil.which("cargo")
    if program is None:
        pytest.skip("cargo is not installed (Debian's cargo)")
    base, seen = sparse_index
    ctx = make_ctx(tmp_path)
    apply_plan(ctx, profile(f"sparse+{base}"))
    project = ctx.cwd
    (project / "src").mkdir()
    (project / "src" / "lib.rs").write_text("")
    (project / "Cargo.toml").write_text(
        f'[package]\nname = "probe"\nversion = "0.1.0"\nedition = "2021"\n\n'
        f'[dependencies]\n{CRATE} = "1"\n'
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(ctx.home),
        "CARGO_HOME": str(ctx.home / ".cargo"),
        "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup")),
    }
    result = subprocess.run(
        [program, "generate-lockfile"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"/index/en/vd/{CRATE}" in seen
    lock = tomlkit.parse((project / "Cargo.lock").read_text()).unwrap()
    probe = next(p for p in lock["package"] if p["name"] == CRATE)
    assert probe["source"] == "registry+https://github.com/rust-lang/crates.io-index"
    config = cargo.resolve(ctx)
    assert config.value("crates-io") == f"sparse+{base}"
    assert cargo.mirrors(config) == [f"sparse+{base}"]


def test_the_protocol_in_a_config_file_is_what_cargo_uses(tmp_path: Path) -> None:
    # cargo fetch with [registries.crates-io] protocol = "git" in ~/.cargo/config.toml
    # clones github.com/rust-lang/crates.io-index; the check said the sparse default.
    ctx = make_ctx(tmp_path)
    home = Path(ctx.env["CARGO_HOME"]) if "CARGO_HOME" in ctx.env else ctx.home / ".cargo"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[registries.crates-io]\nprotocol = "git"\n')
    config = cargo.resolve(ctx)
    assert config.value("crates-io") == cargo.CRATES_IO_GIT
    row = cargo.diagnose(
        ctx, {"cargo": config}, Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    )
    assert row.result(False).status.value == "warn"
    assert "registries.crates-io.protocol" in row.result(False).summary
    variable = make_ctx(tmp_path, CARGO_REGISTRIES_CRATES_IO_PROTOCOL="sparse")
    assert cargo.resolve(variable).value("crates-io") == cargo.CRATES_IO_SPARSE  # env wins


def test_cargo_registries_variables_are_diagnosed(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, CARGO_REGISTRIES_CRATES_IO_PROTOCOL="git")
    config = cargo.resolve(ctx)
    assert config.value("crates-io") == cargo.CRATES_IO_GIT
    row = cargo.diagnose(
        ctx, {"cargo": config}, Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    )
    assert any("clones the whole crates.io index" in f.message for f in row.findings)
    apply_plan(ctx, profile())
    replaced = cargo.resolve(ctx)
    assert replaced.value("crates-io") == MIRROR
    row = cargo.diagnose(
        ctx, {"cargo": replaced}, Checkup(Remedies(ctx, None, None), LoginEnv({}, []))
    )
    assert row.result(False).status.value == "ok"
    assert any("the replacement source is used instead" in f.message for f in row.findings)
