"""Ranking mirrors and the network part of check, against the loopback mirror lab."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import envdoctor.probes.network as network
from envdoctor.cli import cli
from envdoctor.context import Context
from envdoctor.mirrors import Candidate, canonical, gather, measure
from envdoctor.profiles import get_profile
from envdoctor.requirements import CheckOptions
from envdoctor.results import Status
from envdoctor.tools.docker import DOCKER_HUB
from envdoctor.units import MiB
from tests.mirrorlab import Link, MirrorLab


def lab_context(tmp_path: Path, lab: MirrorLab, urls: dict[str, str], **env: str) -> Context:
    """A machine rooted in tmp_path whose every tool is configured to lab mirrors.

    Nothing may fall back to an upstream default: that would reach a public host.
    """
    home = tmp_path / "home" / "user"
    home.mkdir(parents=True, exist_ok=True)
    condarc = tmp_path / "condarc"
    condarc.write_text(f"default_channels:\n  - {urls['conda']}/pkgs/main\n")
    docker = tmp_path / "etc" / "docker"
    docker.mkdir(parents=True, exist_ok=True)
    (docker / "daemon.json").write_text(json.dumps({"registry-mirrors": [urls["docker"]]}))
    cargo_home = tmp_path / "cargo"
    cargo_home.mkdir(exist_ok=True)
    (cargo_home / "config.toml").write_text(
        '[source.crates-io]\nreplace-with = "lab"\n\n'
        f'[source.lab]\nregistry = "sparse+{urls.get("cargo", urls["pip"])}/cargo/"\n'
    )
    sources = tmp_path / "etc" / "apt" / "sources.list.d"
    sources.mkdir(parents=True, exist_ok=True)
    (sources / "debian.sources").write_text(
        f"Types: deb\nURIs: {urls.get('apt', urls['pip'])}/debian\nSuites: bookworm\n"
        "Components: main\n"
    )
    gitconfig = tmp_path / "gitconfig"
    hub = urls.get("git", urls["hf"])
    gitconfig.write_text(f'[url "{hub}/hf/"]\n\tinsteadOf = https://huggingface.co/\n')
    environ = {
        **lab.env,
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PIP_INDEX_URL": f"{urls['pip']}/simple",
        "UV_DEFAULT_INDEX": f"{urls['uv']}/simple",
        "CONDARC": str(condarc),
        "HF_ENDPOINT": urls["hf"],
        "MODELSCOPE_DOMAIN": urls["modelscope"].removeprefix("https://"),
        "npm_config_registry": f"{urls.get('npm', urls['pip'])}/npm/",
        "GOPROXY": f"{urls.get('go', urls['pip'])}/go",
        "CARGO_HOME": str(cargo_home),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        **env,
    }
    return Context.for_root(tmp_path, home=home, env=environ)


def user_profile(ctx: Context, name: str, text: str) -> None:
    directory = ctx.xdg_config_home / "envdoctor" / "profiles"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.toml").write_text(f'name = "{name}"\ndescription = "lab"\n{text}')


@pytest.fixture
def lab_urls(mirror_lab: MirrorLab) -> dict[str, str]:
    fast = mirror_lab.add("fast", delay_ms=5)
    return dict.fromkeys(
        ("pip", "uv", "conda", "docker", "hf", "modelscope", "apt", "npm", "go", "cargo", "git"),
        fast,
    )


def test_canonical_spellings_of_one_mirror_agree():
    assert canonical("pip", "https://m.example/simple/") == "https://m.example/simple"
    assert canonical("conda", "https://m.example/anaconda/pkgs/main") == (
        "https://m.example/anaconda"
    )
    assert canonical("modelscope", "www.modelscope.cn") == "https://www.modelscope.cn"
    assert canonical("pip", "https://user:secret@m.example/simple") == (
        "https://***:***@m.example/simple"
    )


def test_gather_dedupes_marks_configured_and_measures_docker_hub_for_no_mirror(ctx):
    tsinghua, global_ = get_profile(ctx, "cn-tsinghua"), get_profile(ctx, "global")
    configured = {
        "pip": ["https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple/", "file:///srv/wheels"],
        "docker": [],
    }
    candidates = gather(profiles=[tsinghua, global_], configured=configured)
    pip = [c for c in candidates if c.target == "pip"]
    assert pip[0] == Candidate(
        "pip", "https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple", ("cn-tsinghua",), True
    )
    assert [c.url for c in pip] == [
        "https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple",
        "https://pypi.org/simple",
    ]  # the file:// index has nothing to measure
    docker = [c for c in candidates if c.target == "docker"]
    assert docker == [Candidate("docker", DOCKER_HUB, ("global",), True)]
    hf = [c for c in candidates if c.target == "hf"]
    assert {c.url for c in hf} == {"https://hf-mirror.com", "https://huggingface.co"}
    assert not any(c.profiles == () and not c.configured for c in candidates)


def test_gather_keeps_only_the_targets_asked_for(ctx):
    candidates = gather(profiles=[get_profile(ctx, "cn-bfsu")], targets=("conda",))
    assert [c.url for c in candidates] == ["https://mirrors.bfsu.edu.cn/anaconda"]


def test_ranking_follows_injected_delay_and_one_url_is_measured_once(tmp_path, mirror_lab):
    slow = mirror_lab.add("slow", delay_ms=80)
    medium = mirror_lab.add("medium", delay_ms=40)
    fast = mirror_lab.add("fast", delay_ms=10)
    ctx = Context.for_root(tmp_path, env=mirror_lab.env)
    candidates = [
        Candidate("pip", f"{slow}/simple", ("a",), True),
        Candidate("pip", f"{medium}/simple", ("b",)),
        Candidate("pip", f"{fast}/simple", ("c",)),
        Candidate("uv", f"{fast}/simple", ("c",)),
    ]
    rankings = measure(ctx, candidates, samples=2, timeout=5, icmp=False)
    pip, uv = rankings
    assert [e.candidate.profiles for e in pip.entries] == [("c",), ("b",), ("a",)]
    assert pip.best is not None and pip.best.candidate.url == f"{fast}/simple"
    assert pip.configured is not None and pip.configured.candidate.url == f"{slow}/simple"
    assert uv.entries[0].measurement is pip.entries[0].measurement
    # pip and uv share the fast index: it saw 2 samples, not 4, and pip's next step (the
    # numpy page the wheel comes from) once, not twice.
    targets = [record.target for record in mirror_lab.server("fast").records]
    assert sorted(targets) == ["/simple/numpy/", "/simple/six/", "/simple/six/"]


def test_throughput_downloads_run_together_when_each_mirror_has_its_own_limit(tmp_path, mirror_lab):
    urls = [mirror_lab.add(f"m{i}", rate_bps=4_000_000) for i in range(3)]
    ctx = Context.for_root(tmp_path, env=mirror_lab.env)
    candidates = [Candidate("conda", url, (f"p{i}",)) for i, url in enumerate(urls)]
    (ranking,) = measure(
        ctx, candidates, samples=1, timeout=5, throughput=True, throughput_seconds=0.4, icmp=False
    )
    windows = []
    for index in range(3):
        mirror_lab.server(f"m{index}").wait_idle()  # records land when a handler ends
        big = [r for r in mirror_lab.server(f"m{index}").records if r.finished - r.started > 0.2]
        assert big, "each mirror got a throughput download"
        windows.append((big[0].started, big[0].finished))
    # All three at once: each began before any of them ended.
    assert max(start for start, _ in windows) < min(end for _, end in windows)
    for entry in ranking.entries:
        rate = entry.measurement.throughput_bytes_per_s
        assert rate is not None and 2_500_000 < rate < 5_500_000
        assert not entry.measurement.throughput_lower_bound
    # The best and a typical one were timed again alone, and were no faster: the third
    # keeps its figure from together, no lower bound.
    at_once = sorted(entry.measurement.throughput_at_once or 0 for entry in ranking.entries)
    assert at_once == [1, 1, 3], [e.measurement.throughput_reason for e in ranking.entries]


def test_downloads_that_compete_are_timed_alone_for_every_kind(tmp_path, mirror_lab):
    # Two conda and two pip mirrors on one link: together they compete.  The best pip
    # mirror (pip has a parallel knob) is timed alone first, with a typical one; they
    # show the competition, so the others are timed alone too (each kind in turn:
    # test_downloads), and every figure is then one taken alone.
    link = Link(4 * MiB)
    conda = [mirror_lab.add(f"c{i}", rate_bps=4 * MiB, link=link) for i in range(2)]
    pip = [mirror_lab.add(f"p{i}", delay_ms=150, rate_bps=4 * MiB, link=link) for i in range(2)]
    ctx = Context.for_root(tmp_path, env=mirror_lab.env)
    candidates = [Candidate("conda", url, (f"c{i}",)) for i, url in enumerate(conda)]
    candidates += [Candidate("pip", f"{url}/simple", (f"p{i}",)) for i, url in enumerate(pip)]
    rankings = measure(
        ctx, candidates, samples=1, timeout=12, throughput=True, throughput_seconds=0.4, icmp=False
    )
    for ranking in rankings:
        for entry in ranking.entries:
            measured = entry.measurement
            assert measured.throughput_at_once == 1, measured.throughput_reason
            assert measured.throughput_bytes_per_s is not None
            assert measured.throughput_bytes_per_s > 0.6 * 4 * MiB, measured.throughput_reason
    alone = []
    for name in ("c0", "c1", "p0", "p1"):
        mirror_lab.server(name).wait_idle()
        records = mirror_lab.server(name).records
        # the one-connection downloads, together then alone: no pull step, no range
        big = [r for r in records if r.finished - r.started > 0.2 and "range" not in r.headers]
        assert len(big) == 2, (name, big)
        alone.append((big[-1].started, name[0]))
    assert min(alone)[1] == "p", sorted(alone)


def test_check_network_ok_when_the_configured_mirror_is_fine(tmp_path, mirror_lab, lab_urls):
    ctx = lab_context(tmp_path, mirror_lab, lab_urls)
    results = network.run(ctx, CheckOptions())
    assert [r.name for r in results] == [
        "mirror pip",
        "mirror uv",
        "mirror conda",
        "mirror docker",
        "mirror hf",
        "mirror modelscope",
        "mirror apt",
        "mirror npm",
        "mirror go",
        "mirror cargo",
        "mirror git",
    ]
    for result in results:
        assert result.status is Status.OK, result.summary
        assert "first byte" in result.summary
        assert result.details["configured"] == result.details["best"]


def test_configured_credentials_go_with_the_requests_and_never_into_the_output(
    tmp_path, mirror_lab, lab_urls
):
    # A private index (Artifactory, Nexus) wants the credentials it is configured with:
    # measured with the masked "***:***" it answers 401, and check fails a good mirror.
    pip = mirror_lab.add("pip-auth", delay_ms=1)
    uv = mirror_lab.add("uv-auth", delay_ms=1)
    go = mirror_lab.add("go-auth", delay_ms=1)
    with_user = {
        name: url.replace("https://", "https://u%40corp:pa%2Fss-SECRET@")
        for name, url in {"pip": pip, "uv": uv, "go": go}.items()
    }
    ctx = lab_context(
        tmp_path,
        mirror_lab,
        lab_urls,
        PIP_INDEX_URL=f"{with_user['pip']}/simple",
        UV_DEFAULT_INDEX=f"{with_user['uv']}/simple/",
        GOPROXY=f"{with_user['go']}/go",
    )

    results = network.run(ctx, CheckOptions())

    wanted = "Basic " + base64.b64encode(b"u@corp:pa/ss-SECRET").decode()
    for name in ("pip-auth", "uv-auth", "go-auth"):
        server = mirror_lab.server(name)
        server.wait_idle()
        assert server.records, name
        assert {record.headers.get("authorization") for record in server.records} == {wanted}
    shown = json.dumps([result.to_json() for result in results])
    assert "SECRET" not in shown and "pa%2Fss" not in shown
    assert "https://***:***@127.0.0.1" in shown


def test_check_network_warns_on_a_dead_configured_mirror_and_names_why(
    tmp_path, mirror_lab, lab_urls
):
    lab_urls["pip"] = mirror_lab.add("forbidden", status=403)
    lab_urls["hf"] = mirror_lab.refused_url("https")
    ctx = lab_context(tmp_path, mirror_lab, lab_urls)
    results = {r.name: r for r in network.run(ctx, CheckOptions())}
    pip, hf = results["mirror pip"], results["mirror hf"]
    assert pip.status is Status.WARN and "403" in pip.summary
    assert hf.status is Status.WARN and "refused" in hf.summary
    assert "envdoctor mirrors --target hf" in (hf.remedy or "")
    assert results["mirror conda"].status is Status.OK


def test_check_network_warns_when_the_profile_has_a_much_faster_mirror(
    tmp_path, mirror_lab, lab_urls
):
    lab_urls["pip"] = mirror_lab.add("slow", delay_ms=400)
    fast = lab_urls["conda"]
    ctx = lab_context(tmp_path, mirror_lab, lab_urls)
    user_profile(ctx, "lab", f'[pip]\nindex-url = "{fast}/simple"\n')
    results = {r.name: r for r in network.run(ctx, CheckOptions(profile="lab"))}
    pip = results["mirror pip"]
    assert pip.status is Status.WARN
    assert f"{fast}/simple answers in" in pip.summary
    assert "(profile lab)" in (pip.remedy or "")
    assert pip.details["best"] == f"{fast}/simple"


def test_check_network_with_no_answers_finishes_within_its_deadline(tmp_path, mirror_lab):
    hole = mirror_lab.blackhole_url("https")
    urls = dict.fromkeys(
        ("pip", "uv", "conda", "docker", "hf", "modelscope", "apt", "npm", "go", "cargo", "git"),
        hole,
    )
    urls["hf"] = mirror_lab.refused_url("https")
    ctx = lab_context(tmp_path, mirror_lab, urls)
    ctx = Context(root=ctx.root, home=ctx.home, env=ctx.env, cwd=ctx.cwd, timeout=1.0)
    start = time.monotonic()
    results = network.run(ctx, CheckOptions())
    assert time.monotonic() - start < 2.0
    assert len(results) == 11
    for result in results:
        assert result.status is Status.WARN
        reason = result.details["mirrors"][0]["measurement"]["outcome"]
        assert reason in ("timeout", "refused"), result.summary


def test_a_short_timeout_counts_the_time_spent_before_measuring(
    tmp_path, mirror_lab, lab_urls, monkeypatch
):
    # --timeout 1: reading configs and imports took 0.3-0.4 s, then measuring took 0.8 s
    # of its own, and the engine marked the network check "did not finish" every time.
    hole = mirror_lab.blackhole_url("https")
    ctx = lab_context(tmp_path, mirror_lab, dict.fromkeys(lab_urls, hole))
    ctx = Context(root=ctx.root, home=ctx.home, env=ctx.env, cwd=ctx.cwd, timeout=1.0)
    import envdoctor.tools

    slow = envdoctor.tools.configured_mirrors

    def configured_slowly(context):
        time.sleep(0.4)
        return slow(context)

    monkeypatch.setattr(envdoctor.tools, "configured_mirrors", configured_slowly)
    start = time.monotonic()
    results = network.run(ctx, CheckOptions())
    assert time.monotonic() - start < 1.0
    assert results and all(result.status is Status.WARN for result in results)


def test_mirrors_command_ranks_lab_mirrors_as_json(tmp_path, mirror_lab, lab_urls, monkeypatch):
    slow = mirror_lab.add("slow", delay_ms=60)
    lab_urls["pip"] = slow
    ctx = lab_context(tmp_path, mirror_lab, lab_urls)
    user_profile(ctx, "lab", f'[pip]\nindex-url = "{lab_urls["uv"]}/simple"\n')
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    out = CliRunner().invoke(
        cli, ["mirrors", "--target", "pip", "--profile", "lab", "--json", "--no-throughput"]
    )
    assert out.exit_code == 0, out.output
    (pip,) = json.loads(out.stdout)["targets"]
    assert [m["url"] for m in pip["mirrors"]] == [f"{lab_urls['uv']}/simple", f"{slow}/simple"]
    assert [m["configured"] for m in pip["mirrors"]] == [False, True]
    assert pip["mirrors"][0]["profiles"] == ["lab"]


def test_mirrors_command_plain_text_marks_the_configured_mirror(
    tmp_path, mirror_lab, lab_urls, monkeypatch
):
    ctx = lab_context(tmp_path, mirror_lab, lab_urls)
    user_profile(ctx, "lab", f'[hf]\nendpoint = "{mirror_lab.add("gone", status=404)}"\n')
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    out = CliRunner().invoke(
        cli, ["mirrors", "--target", "hf", "--profile", "lab", "--no-throughput", "-v"]
    )
    lines = out.stdout.splitlines()
    assert lines[0].startswith("hf          1  https://127.0.0.1:")
    assert "[configured]  ok: first byte" in lines[0]
    assert any("http_error" in line and "404" in line for line in lines)
    assert any(line.strip().startswith("GET https://127.0.0.1:") for line in lines)
    assert out.exit_code == 0


def test_mirrors_command_exits_1_when_a_target_has_no_live_mirror(
    tmp_path, mirror_lab, lab_urls, monkeypatch
):
    lab_urls["docker"] = mirror_lab.add("broken", status=500)
    ctx = lab_context(tmp_path, mirror_lab, lab_urls)
    user_profile(ctx, "lab", '[hf]\nendpoint = "https://hf-mirror.com"\n')
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    out = CliRunner().invoke(
        cli, ["mirrors", "--target", "docker", "--profile", "lab", "--json", "--no-throughput"]
    )
    assert out.exit_code == 1
    (docker,) = json.loads(out.stdout)["targets"]
    assert docker["mirrors"][0]["measurement"]["status_code"] == 500


def test_mirrors_command_rejects_an_unknown_target():
    out = CliRunner().invoke(cli, ["mirrors", "--target", "pipp"])
    assert out.exit_code == 2
    assert "Did you mean 'pip'?" in out.stderr


def test_check_with_an_unknown_profile_is_a_usage_error():
    out = CliRunner().invoke(cli, ["check", "--only", "cpu", "--profile", "cn-tsinghau"])
    assert out.exit_code == 2
    assert "cn-tsinghua" in out.stderr


def test_a_conda_channel_token_goes_with_the_requests_and_never_into_the_output(
    tmp_path, mirror_lab, lab_urls
):
    # An anaconda.org-style private channel: the token is a path segment (/t/<token>/),
    # shown as /t/*** but sent as configured, or the channel answers 401 and a good
    # mirror is reported failing.
    conda = mirror_lab.add("conda-token", delay_ms=1)
    # For the other tools /t/ is a path like any other: asked and shown as written.
    pip = mirror_lab.add("pip-t", delay_ms=1)
    npm = mirror_lab.add("npm-t", delay_ms=1)
    ctx = lab_context(
        tmp_path,
        mirror_lab,
        lab_urls,
        PIP_INDEX_URL=f"{pip}/t/team-a/simple",
        npm_config_registry=f"{npm}/t/tk-npm/npm/",
    )
    secret = conda.replace("https://", "https://u:pw-SECRET@") + "/t/tk-SECRET-42"
    (tmp_path / "condarc").write_text(f"default_channels:\n  - {secret}/pkgs/main\n")

    results = {result.name: result for result in network.run(ctx, CheckOptions())}

    server = mirror_lab.server("conda-token")
    server.wait_idle()
    assert server.records
    assert all(record.target.startswith("/t/tk-SECRET-42/") for record in server.records), [
        record.target for record in server.records
    ]
    wanted = "Basic " + base64.b64encode(b"u:pw-SECRET").decode()
    assert {record.headers.get("authorization") for record in server.records} == {wanted}
    assert results["mirror conda"].status is Status.OK, results["mirror conda"].summary
    shown = json.dumps([result.to_json() for result in results.values()])
    assert "SECRET" not in shown
    assert "https://***:***@127.0.0.1" in shown and "/t/***" in shown
    for name, path in (("pip-t", "/t/team-a/simple"), ("npm-t", "/t/tk-npm/npm/")):
        mirror_lab.server(name).wait_idle()
        asked = [record.target for record in mirror_lab.server(name).records]
        assert asked and all(target.startswith(path) for target in asked), (name, asked)
        assert path in shown


def test_npm_apt_and_git_mirrors_with_credentials_are_asked_with_them(
    tmp_path, mirror_lab, lab_urls
):
    # npm's registry, an apt URI and a git insteadOf URL with user:password were
    # measured with the masked ***:***: a good private mirror answered 401 (found by
    # review; pip, uv and go were fixed before).
    names = ("npm-auth", "apt-auth", "git-auth")
    urls = {name: mirror_lab.add(name, delay_ms=1) for name in names}
    with_user = {
        name: url.replace("https://", "https://u:pw-SECRET@") for name, url in urls.items()
    }
    lab_urls = {**lab_urls, "apt": with_user["apt-auth"], "git": with_user["git-auth"]}
    ctx = lab_context(
        tmp_path, mirror_lab, lab_urls, npm_config_registry=f"{with_user['npm-auth']}/npm/"
    )

    results = {result.name: result for result in network.run(ctx, CheckOptions())}

    wanted = "Basic " + base64.b64encode(b"u:pw-SECRET").decode()
    for name in names:
        server = mirror_lab.server(name)
        server.wait_idle()
        assert server.records, name
        assert {record.headers.get("authorization") for record in server.records} == {wanted}
    for target in ("npm", "apt", "git"):
        assert results[f"mirror {target}"].status is Status.OK, results[f"mirror {target}"]
    shown = json.dumps([result.to_json() for result in results.values()])
    assert "SECRET" not in shown and "https://***:***@127.0.0.1" in shown
