"""``envdoctor report --merge``: many hosts' documents as one fleet view."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from envdoctor.cli import cli
from envdoctor.fleet import load, render_html, render_markdown, to_json
from tests.mirrorlab import RecordingProxy
from tests.test_report import CHROMIUM_OWN, _host, chromium

SCHEMA = json.loads(resources.files("envdoctor").joinpath("schema/fleet-v1.json").read_text())
CHECK_SCHEMA = json.loads(resources.files("envdoctor").joinpath("schema/check-v1.json").read_text())


def result(name: str, status: str, remedy: str | None = None, **details: Any) -> dict[str, Any]:
    probe = "network" if name.startswith("mirror") else name.split()[0]
    return {
        "probe": probe,
        "name": name,
        "status": status,
        "summary": f"{name} is {status}",
        "details": details,
        "remedy": remedy,
        "duration_s": 0.1,
    }


def mirror(url: str, ttfb: float | None, reason: str | None = None) -> dict[str, Any]:
    outcome = "ok" if ttfb is not None else "error"
    return {
        "target": "pip",
        "url": url,
        "configured": True,
        "measurement": {"outcome": outcome, "ttfb_s": ttfb, "reason": reason},
    }


def check_document(hostname: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    worst = max((r["status"] for r in results), key=["ok", "skip", "warn", "fail", "error"].index)
    counts = {s: sum(r["status"] == s for r in results) for s in ("ok", "warn", "fail", "skip")}
    return {
        "schema_version": 1,
        "envdoctor_version": "0.1.0",
        "started_at": "2025-01-01T12:00:00+00:00",
        "duration_s": 1.0,
        "machine": {
            "hostname": hostname,
            "os": "Debian",
            "kernel": "6.1",
            "arch": "x86_64",
            "python": "3.11",
            "envdoctor": "0.1.0",
            "container": None,
            "user": {},
        },
        "probes": ["memory", "network"],
        "strict": False,
        "results": results,
        "summary": {
            "status": worst,
            "counts": {**counts, "error": 0},
            "exit_code": 1 if worst == "fail" else 0,
        },
    }


PRIVATE = "https://deploy:s3cret@pypi.corp.example/simple"


@pytest.fixture
def documents(tmp_path: Path) -> list[Path]:
    hosts = {
        "gpu-1": [
            result("memory", "ok"),
            result("mirror pip", "ok", mirrors=[mirror(PRIVATE, 0.040)]),
        ],
        "gpu-2": [
            result("memory", "fail", "Add memory: at least 16 GiB"),
            result("mirror pip", "ok", mirrors=[mirror(PRIVATE, 0.200)]),
        ],
        "gpu-3": [
            result("memory", "warn", "Add memory"),
            result("mirror pip", "ok", mirrors=[mirror(PRIVATE, 0.060)]),
        ],
    }
    paths = []
    for name, results in hosts.items():
        doc = check_document(name, results)
        jsonschema.validate(doc, CHECK_SCHEMA)
        path = tmp_path / f"{name}.json"
        if name == "gpu-3":  # what the envdoctor_check module returned, saved as is
            path.write_text(
                json.dumps({"changed": False, "ansible_facts": {"envdoctor_check": doc}})
            )
        else:
            path.write_text(json.dumps(doc))
        paths.append(path)
    return paths


def test_hosts_worst_first_with_findings_and_mirror_figures(documents):
    fleet = load(documents)
    assert [host.label for host in fleet.hosts] == ["gpu-2", "gpu-3", "gpu-1"]
    assert fleet.exit_code == 1
    data = to_json(fleet)
    jsonschema.validate(data, SCHEMA)
    assert data["hosts"][0]["findings"][0]["remedy"] == "Add memory: at least 16 GiB"
    [figures] = data["mirrors"]
    assert figures["url"] == "https://***:***@pypi.corp.example/simple"
    assert figures["median_ttfb_s"] == pytest.approx(0.060)
    assert (figures["worst_host"], figures["worst_ttfb_s"]) == ("gpu-2", pytest.approx(0.2))
    assert "s3cret" not in json.dumps(data)


def test_a_mirror_that_fails_on_one_host_names_that_host_as_the_worst(tmp_path):
    docs = []
    for name, ttfb in (("a", 0.05), ("b", None), ("c", 0.07)):
        entry = mirror("https://pypi.example/simple", ttfb, None if ttfb else "timed out")
        path = tmp_path / f"{name}.json"
        results = [result("mirror pip", "ok" if ttfb else "warn", mirrors=[entry])]
        path.write_text(json.dumps(check_document(name, results)))
        docs.append(path)
    [figures] = to_json(load(docs))["mirrors"]
    assert figures["answered"] == 2 and figures["failed"] == ["b: timed out"]
    assert figures["worst_host"] == "b" and figures["median_ttfb_s"] == pytest.approx(0.06)


def test_markdown_is_commonmark_with_a_row_per_host(documents):
    text = render_markdown(load(documents))
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == 1 + 3 + 1 + 1  # host table: header and 3 hosts; mirror table
    inline = [t.content for t in tokens if t.type == "inline"]
    assert inline.index("gpu-2") < inline.index("gpu-3") < inline.index("gpu-1")
    assert "fix: Add memory: at least 16 GiB" in inline
    assert "s3cret" not in text


def test_cli_merge_writes_every_format_and_refuses_what_is_not_a_document(documents, tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["report", "--merge", *map(str, documents), "--format", "json"])
    assert out.exit_code == 1, out.output  # a host failed
    jsonschema.validate(json.loads(out.stdout), SCHEMA)
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    out = runner.invoke(cli, ["report", "--merge", str(documents[0]), str(bad)])
    assert out.exit_code == 2 and f"{bad}: not an envdoctor check document" in out.output
    out = runner.invoke(cli, ["report", str(documents[0])])
    assert out.exit_code == 2 and "--merge" in out.output
    out = runner.invoke(cli, ["report", "--merge"])
    assert out.exit_code == 2 and "needs the JSON documents" in out.output
    out = runner.invoke(cli, ["report", "--merge", str(documents[0]), "--throughput"])
    assert out.exit_code == 2 and "--throughput are for a report of this machine" in out.output


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_fleet_html_opens_in_headless_chromium_without_requests(documents, tmp_path):
    page = tmp_path / "fleet.html"
    page.write_text(render_html(load(documents)), encoding="utf-8")
    proxy = RecordingProxy()
    try:
        dom = chromium(page, tmp_path, proxy, "--dump-dom")
    finally:
        proxy.close()
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert [line for line in proxy.requests if _host(line) not in CHROMIUM_OWN] == []
    assert "gpu-2" in dom.stdout and "Add memory: at least 16 GiB" in dom.stdout
    errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert errors == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[" * 100000 + "]" * 100000, "nests arrays or objects more than 100 deep"),
        ('{"n": ' + "9" * 5000 + "}", "Exceeds the limit (4300 digits)"),
        ('{"results": [], "summary": {}, "machine": {"hostname": "a\\ud800b"}}', "surrogate"),
        ('{"schema_version": 1, "results": [], "summary": {}, "machine": "abc"}', "machine is"),
        ('{"schema_version": 99, "results": [], "summary": {}}', "schema_version 99"),
        ('{"schema_version": true, "results": [], "summary": {}}', "schema_version True"),
    ],
)
def test_a_hostile_document_is_a_usage_error_naming_it(tmp_path, text, words):
    # Each was "internal error ... This is a bug" (exit 3), or merged as if it were fine.
    path = tmp_path / "host.json"
    path.write_text(text)
    out = CliRunner().invoke(cli, ["report", "--merge", str(path), "--format", "md"])
    assert out.exit_code == 2, out.output
    assert str(path) in out.stderr and words in out.stderr


def test_figures_of_other_hosts_are_checked_and_their_secrets_masked(tmp_path):
    hosts = {
        "nan": mirror(PRIVATE, float("nan")),
        "inf": mirror(PRIVATE, float("inf")),
        "neg": mirror(PRIVATE, -5.0),
        "leak": mirror(PRIVATE, None, "redirect to https://deploy:s3cret@pypi.corp.example/x"),
        "fine": mirror(PRIVATE, 0.1),
    }
    paths = []
    for name, measured in hosts.items():
        doc = check_document(f"web1\r{name}", [result("mirror pip", "ok", mirrors=[measured])])
        if name == "fine":
            doc["summary"]["exit_code"] = True  # not a whole number: not a code
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(doc))  # NaN and Infinity as Python writes them
    fleet = load(paths)
    document = to_json(fleet)
    jsonschema.validate(document, SCHEMA)
    (figures,) = document["mirrors"]
    assert figures["answered"] == 1 and figures["median_ttfb_s"] == 0.1
    assert sorted(figures["failed"]) == [
        "web1\rinf: not measured",
        "web1\rleak: redirect to https://***:***@pypi.corp.example/x",
        "web1\rnan: not measured",
        "web1\rneg: not measured",
    ]
    text = CliRunner().invoke(cli, ["report", "--merge", *map(str, paths), "--format", "json"])
    assert "s3cret" not in text.stdout and "NaN" not in text.stdout
    assert json.loads(text.stdout)["summary"]["exit_code"] == 3  # the bool was no code
    markdown = render_markdown(fleet)
    assert "\r" not in markdown and "s3cret" not in markdown


def test_the_same_host_twice_is_refused_and_repeated_hostnames_told_apart(tmp_path, documents):
    out = CliRunner().invoke(cli, ["report", "--merge", str(documents[0]), str(documents[0])])
    assert out.exit_code == 2 and "is named twice" in out.stderr
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    copies = [tmp_path / "a" / "gpu-1.json", tmp_path / "b" / "gpu-1.json"]
    for copy in copies:
        shutil.copy(documents[0], copy)
    labels = [host.label for host in load(copies).hosts]
    assert sorted(labels) == sorted(map(str, copies))  # the stems repeat too
