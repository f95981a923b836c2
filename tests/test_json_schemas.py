"""The JSON schemas say what the documents really hold: every field a measurement carries
is described (no more, no fewer), and real ``mirrors --json`` and ``check --json`` runs
against the lab validate, failures and pull-path findings included."""

from __future__ import annotations

import dataclasses
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from envdoctor.cli import MIRRORS_SCHEMA_VERSION, cli
from envdoctor.context import Context
from envdoctor.engine import SCHEMA_VERSION
from envdoctor.net.results import Measurement, Outcome, Sample
from tests.mirrorlab import MirrorLab
from tests.test_mirrors import lab_context, user_profile


def schema(name: str) -> dict[str, Any]:
    text = resources.files("envdoctor").joinpath(f"schema/{name}.json").read_text()
    document: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(document)
    return document


MIRRORS = schema("mirrors-v2")
CHECK = schema("check-v2")


def test_every_measurement_field_is_described_and_nothing_else() -> None:
    described = MIRRORS["$defs"]["measurement"]["properties"]
    assert set(described) == {item.name for item in dataclasses.fields(Measurement)}
    sample = MIRRORS["$defs"]["sample"]["properties"]
    assert set(sample) == {item.name for item in dataclasses.fields(Sample)}
    assert set(described["outcome"]["enum"]) == {outcome.value for outcome in Outcome}


def test_the_check_schema_describes_mirrors_as_the_mirrors_schema_does() -> None:
    for name in ("entry", "measurement", "sample"):
        assert CHECK["$defs"][name] == MIRRORS["$defs"][name], name


def test_versions_in_the_documents_match_the_schemas() -> None:
    assert MIRRORS["properties"]["schema_version"] == {"const": MIRRORS_SCHEMA_VERSION}
    assert CHECK["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    # Version 1 documents stay readable: every field they had is still required or allowed.
    old = schema("check-v1")
    assert set(old["required"]) <= set(CHECK["required"])
    assert set(old["$defs"]["result"]["required"]) <= set(CHECK["$defs"]["result"]["required"])


def test_a_measurement_with_a_new_field_fails_the_schema() -> None:
    entry = {
        "target": "pip",
        "url": "https://m.example/simple",
        "profiles": [],
        "configured": True,
        "icmp_rtt_s": None,
        "icmp_method": None,
        "measurement": Measurement(
            url="https://m.example/simple/six/", kind="pip", outcome=Outcome.OK, reason="r"
        ).to_json(),
    }
    document = {"schema_version": 2, "targets": [{"target": "pip", "mirrors": [entry]}]}
    document |= {"bandwidth": None, "pick": None}
    jsonschema.validate(document, MIRRORS)
    entry["measurement"]["undocumented"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, MIRRORS)


@pytest.fixture
def lab_ctx(tmp_path: Path, mirror_lab: MirrorLab, monkeypatch: pytest.MonkeyPatch) -> Context:
    fast = mirror_lab.add("fast", delay_ms=2, body_bytes=512 * 1024)
    cdn = mirror_lab.add("cdn", body_bytes=512 * 1024)
    hub = mirror_lab.add("hub", resolve_to="cdn")
    urls = dict.fromkeys(("pip", "uv", "conda", "docker", "modelscope"), fast)
    urls["hf"] = hub
    urls["npm"] = mirror_lab.refused_url("https")
    ctx = lab_context(tmp_path, mirror_lab, urls)
    assert cdn
    # Only the lab: without --profile, mirrors would also measure every shipped profile.
    user_profile(ctx, "lab", f'[pip]\nindex-url = "{fast}/simple"\n')
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    return ctx


def test_a_real_mirrors_run_validates(lab_ctx: Context) -> None:
    args = ["mirrors", "--json", "--samples", "1", "--timeout", "8", "--profile", "lab"]
    out = CliRunner().invoke(cli, [*args, "--target", "pip,conda,docker,hf,npm"])
    document = json.loads(out.stdout)
    jsonschema.validate(document, MIRRORS)
    by_target = {item["target"]: item["mirrors"] for item in document["targets"]}
    assert by_target["npm"][0]["measurement"]["outcome"] == "refused"
    hf = by_target["hf"][0]["measurement"]
    assert hf["pull_hops"] and hf["pull_finding"], hf
    docker = by_target["docker"][0]["measurement"]
    assert docker["pull_file"] and "layer" in docker["pull_file"], docker


def test_a_real_network_check_validates(lab_ctx: Context) -> None:
    out = CliRunner().invoke(cli, ["check", "--json", "--only", "network", "--timeout", "8"])
    document = json.loads(out.stdout)
    jsonschema.validate(document, CHECK)
    network = [result for result in document["results"] if result["probe"] == "network"]
    assert network and all(result["details"]["mirrors"] for result in network)
    # The schema does look inside a network result's details.
    network[0]["details"]["mirrors"][0]["measurement"]["outcome"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, CHECK)


@pytest.mark.parametrize("how", ["timeout", "crash"])
def test_a_network_check_that_did_not_finish_validates(tmp_path, monkeypatch, how) -> None:
    import envdoctor.probes.network as network

    def never(ctx, options):
        if how == "crash":
            raise RuntimeError("boom")
        time.sleep(5)

    monkeypatch.setattr(network, "run", never)
    monkeypatch.setenv("HOME", str(tmp_path))
    out = CliRunner().invoke(cli, ["check", "--json", "--only", "network", "--timeout", "0.3"])
    document = json.loads(out.stdout)
    assert out.exit_code == 3 and document["results"][0]["status"] == "error"
    jsonschema.validate(document, CHECK)
