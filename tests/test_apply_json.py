"""``apply --json`` and ``rollback --json``: the documents scripts and Ansible read.

Run through the CLI on an image tree under tmp_path, validated against the shipped
schemas; every file's content in them is masked.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from envdoctor.apply_json import masked_content
from envdoctor.cli import cli


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        resources.files("envdoctor").joinpath(f"schema/{name}-v1.json").read_text()
    )
    return loaded


APPLY_SCHEMA, ROLLBACK_SCHEMA = schema("apply"), schema("rollback")
SECRET = "s3cret-pw"
TOKEN = "tk-0123456789abcdef"
PIP_CONF = f"[global]\nindex-url = https://deploy:{SECRET}@pypi.corp.example/simple\n".encode()
CONDARC = f"channels:\n  - https://conda.example.org/t/{TOKEN}/private\n  - defaults\n".encode()


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "var/lib/envdoctor" not in str(path)
    }


@pytest.fixture
def image(tmp_path: Path) -> Path:
    root = tmp_path / "image"
    (root / "etc" / "conda").mkdir(parents=True)
    (root / "home" / "u").mkdir(parents=True)
    (root / "etc" / "pip.conf").write_bytes(PIP_CONF)
    (root / "etc" / "conda" / ".condarc").write_bytes(CONDARC)
    return root


def run(image: Path, *args: str):
    argv = [*args[:1], "--root", str(image), "--scope", "system", *args[1:]]
    return CliRunner().invoke(cli, argv, env={"HOME": "/home/u", "NO_COLOR": "1"})


def document(out: Any, schema_doc: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        out.stdout
    )  # stdout is the document alone: nothing else is printed
    jsonschema.validate(doc, schema_doc)
    return doc


def test_a_dry_run_is_the_whole_plan_masked_and_writes_nothing(image):
    before = snapshot(image)
    out = run(
        image, "apply", "--profile", "cn-tsinghua", "--only", "pip,conda,uv", "--dry-run", "--json"
    )
    assert out.exit_code == 0, out.output
    doc = document(out, APPLY_SCHEMA)
    assert snapshot(image) == before
    assert SECRET not in out.stdout and TOKEN not in out.stdout
    assert doc["dry_run"] and doc["changed"] and doc["result"]["status"] == "dry-run"
    assert doc["result"]["id"] is None and doc["root"] == str(image)
    assert [plan["target"] for plan in doc["plans"]] == ["pip", "uv", "conda"]
    pip = doc["plans"][0]["changes"][0]
    assert pip["path"] == f"{image}/etc/pip.conf"  # the image's file, never this /etc
    assert pip["action"] == "edit"
    assert pip["before"] == "[global]\nindex-url = https://***:***@pypi.corp.example/simple\n"
    assert "mirrors.tuna.tsinghua.edu.cn/pypi/web/simple" in pip["after"]
    assert "-index-url = https://***:***@pypi.corp.example/simple" in pip["diff"]
    uv = doc["plans"][1]["changes"][0]
    assert uv["action"] == "create" and uv["before"] is None
    conda = doc["plans"][2]
    assert "https://conda.example.org/t/***/private" in conda["changes"][0]["before"]
    assert any("conda clean -i" in note for note in conda["notes"])
    assert doc["files_to_change"] == 3


def test_json_apply_records_an_id_a_second_run_is_unchanged_and_rollback_restores(image):
    before = snapshot(image)
    applied = run(image, "apply", "--profile", "cn-tsinghua", "--only", "pip,uv", "--yes", "--json")
    assert applied.exit_code == 0, applied.output
    doc = document(applied, APPLY_SCHEMA)
    result = doc["result"]
    assert result["status"] == "applied" and result["id"]
    assert result["files"] == [f"{image}/etc/pip.conf", f"{image}/etc/uv/uv.toml"]
    assert result["undo"].endswith(f"--root {image} {result['id']}")
    assert b"tuna" in (image / "etc" / "pip.conf").read_bytes()

    again = run(image, "apply", "--profile", "cn-tsinghua", "--only", "pip,uv", "--yes", "--json")
    assert again.exit_code == 0, again.output
    second = document(again, APPLY_SCHEMA)
    assert not second["changed"] and second["result"]["status"] == "unchanged"
    assert all(plan["changes"] == [] for plan in second["plans"])

    undone = run(image, "rollback", "--json")
    assert undone.exit_code == 0, undone.output
    back = document(undone, ROLLBACK_SCHEMA)
    assert back["id"] == result["id"] and back["changed"]
    assert back["restored"] == [f"{image}/etc/pip.conf"]
    assert back["removed"] == [f"{image}/etc/uv/uv.toml"]
    assert snapshot(image) == before


def test_json_without_yes_or_dry_run_is_a_usage_error_and_changes_nothing(image):
    before = snapshot(image)
    out = run(image, "apply", "--profile", "cn-tsinghua", "--json")
    assert out.exit_code == 2
    assert "apply --json cannot ask before writing" in out.stderr
    assert snapshot(image) == before


def test_a_malformed_daemon_json_under_root_is_named_where_it_is(image, tmp_path):
    (image / "etc" / "docker").mkdir()
    (image / "etc" / "docker" / "daemon.json").write_text('{\n  "log-driver": "json-file",\n}\n')
    out = run(image, "apply", "--profile", "global", "--only", "docker", "--dry-run", "--json")
    assert out.exit_code == 2
    assert f"{image}/etc/docker/daemon.json" in out.output
    assert "Traceback" not in out.output


def test_masked_content_keeps_lines_and_a_missing_final_newline():
    assert masked_content(None) is None
    assert masked_content(b"") == ""
    assert masked_content(b"a\nb") == "a\nb"
    assert masked_content(b"url = https://u:pw@h/x\r\n") == "url = https://***:***@h/x\n"
