"""Freshness from mirror sites' sync status (tunasync, MirrorZ) and from apt's InRelease,
and ``auto`` passing over a mirror known to be a day behind: on the lab."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from envdoctor.auto import pick
from envdoctor.context import Context
from envdoctor.mirrors import Candidate, measure
from envdoctor.net.measure import measure_all
from envdoctor.net.pull import Answer, Freshness
from envdoctor.net.results import Measurement
from envdoctor.net.sync_status import (
    Document,
    SiteStatus,
    combine,
    freshness_of,
    job_for,
    parse,
    site_for,
)
from envdoctor.tools import apt
from tests.mirrorlab import MirrorLab, inrelease

DAY = 86400.0
NOW = 1_800_000_000.0


def _answer(body: object, status: int = 200) -> Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Answer("https://site/status.json", status, "OK", {}, raw)


TUNA = SiteStatus(
    ("mirrors.example",), "https://mirrors.example/static/tunasync.json", "tunasync", "test"
)
MZ = SiteStatus(("mz.example",), "https://mz.example/mirrorz.json", "mirrorz", "test")


def _job(name: str, status: str, synced_ago: float | None, **extra: object) -> dict[str, object]:
    job: dict[str, object] = {"name": name, "status": status, "upstream": "rsync://x/"}
    if synced_ago is not None:
        job["last_update_ts"] = int(time.time() - synced_ago)
        job["last_ended_ts"] = int(time.time() - min(synced_ago, 3600))
    return {**job, **extra}


# --- parsing, no network ------------------------------------------------------------


def test_tunasync_jobs_map_by_first_path_segment_and_say_how_old():
    doc = parse(
        TUNA,
        _answer(
            [
                {"name": "pypi", "status": "success", "last_update_ts": int(NOW - 5 * 3600)},
                {
                    "name": "anaconda",
                    "status": "failed",
                    "last_update_ts": int(NOW - 3 * DAY),
                    "last_ended_ts": int(NOW - 7200),
                },
                {"name": "docker-ce", "status": "syncing", "last_update_ts": 0},
            ]
        ),
    )
    assert doc.problem is None
    pypi = job_for("https://mirrors.example/pypi/web/simple", doc)
    assert pypi is not None and pypi.name == "pypi"
    said = freshness_of(pypi, doc, NOW)
    assert said.words == "last synced 5 h ago (tunasync: success)"
    assert said.lag_s == pytest.approx(5 * 3600)
    conda = job_for("https://mirrors.example/anaconda/pkgs/main", doc)
    assert conda is not None
    words = freshness_of(conda, doc, NOW).words
    assert words.startswith("last successful sync 3 days ago, the last run failed 2 h ago")
    docker = job_for("https://mirrors.example/docker-ce", doc)
    assert docker is not None
    assert freshness_of(docker, doc, NOW).lag_s is None  # never synced: unknown, said so
    assert job_for("https://mirrors.example/pypi-extra/simple", doc) is None  # a boundary
    assert job_for("https://mirrors.example/ubuntu", doc) is None


def test_mirrorz_status_strings_give_the_last_success():
    doc = parse(
        MZ,
        _answer(
            {
                "site": {"abbr": "MZ"},
                "mirrors": [
                    {
                        "cname": "PyPI",
                        "url": "/pypi",
                        "status": f"S{int(NOW - 600)}X{int(NOW + 60)}",
                    },
                    {
                        "cname": "Debian",
                        "url": "/debian",
                        "status": f"F{int(NOW - 60)}O{int(NOW - 2 * DAY)}",
                    },
                    {
                        "cname": "Ubuntu",
                        "url": "/ubuntu",
                        "status": f"Y{int(NOW - 60)}O{int(NOW - 7200)}",
                    },
                    {"cname": "AUR", "url": "https://aur.mz.example", "status": "U"},
                ],
            }
        ),
    )
    pypi = job_for("https://mz.example/pypi/simple", doc)
    assert pypi is not None and freshness_of(pypi, doc, NOW).lag_s == pytest.approx(600)
    debian = job_for("https://mz.example/debian", doc)
    assert debian is not None
    said = freshness_of(debian, doc, NOW)
    assert said.lag_s == pytest.approx(2 * DAY) and "the last run failed" in said.words
    ubuntu = job_for("https://mz.example/ubuntu/", doc)
    assert ubuntu is not None and freshness_of(ubuntu, doc, NOW).lag_s == pytest.approx(7200)
    aur = job_for("https://aur.mz.example/packages", doc)
    assert aur is not None and aur.status == "unknown"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"mirrors": 3}',
        b"[" * 100_000 + b"]" * 100_000,
        b'"text"',
        json.dumps([{"name": 5}, "x", {"name": "pypi", "last_update_ts": "yesterday"}]).encode(),
    ],
)
def test_a_malformed_document_is_unknown_never_a_crash(body):
    for site in (TUNA, MZ):
        doc = parse(site, _answer(body))
        job = job_for("https://mirrors.example/pypi/simple", doc)
        if job is not None:  # a job with nothing usable: no lag
            assert freshness_of(job, doc, NOW).lag_s is None
        else:
            assert doc.problem or not doc.jobs


def test_combine_keeps_the_precise_lag_and_both_words():
    tool = Freshness("behind pypi.org by 12 serials (numpy)", 30.0, 12)
    site = Freshness("last synced 5 h ago (tunasync: success)", 5 * 3600.0)
    both = combine(tool, site)
    assert both is not None
    assert both.lag_s == 30.0 and both.serials_behind == 12
    assert both.words == f"{tool.words}; site: {site.words}"
    unknown = combine(Freshness("Release date not compared: x: timeout"), site)
    assert unknown is not None and unknown.lag_s == 5 * 3600.0
    assert combine(None, site) == site and combine(tool, None) == tool


def test_the_known_sites_cover_the_shipped_university_mirrors():
    assert site_for("https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple") is not None
    assert site_for("https://mirror.nju.edu.cn/anaconda") is not None
    assert site_for("https://mirrors.aliyun.com/pypi/simple") is None  # publishes none known


# --- the lab: a run with sites' status documents ----------------------------------


def _ctx(tmp_path: Path, lab: MirrorLab) -> Context:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return Context.for_root(tmp_path, home=home, env={**lab.env, "XDG_CONFIG_HOME": str(home)})


def _site(lab: MirrorLab, name: str, path: str = "/static/tunasync.json") -> SiteStatus:
    url = lab.server(name).url
    return SiteStatus((url.split("//", 1)[1],), url + path, "tunasync", "lab")


def _apt(url: str) -> Candidate:
    """A mirror whose site's job is ``debian`` (apt's pull path: no tool of its own to
    compare with here, so what freshness it gets comes from the site)."""
    return Candidate("apt", f"{url}/debian", ("lab",))


def _entry(rankings, url):
    (ranking,) = rankings
    return next(e for e in ranking.entries if e.candidate.url == url)


def _measured_by_site(tmp_path: Path, lab: MirrorLab, url: str) -> Measurement:
    """The apt mirror at ``url`` measured once, its site the lab server ``m``."""
    rankings = measure(
        _ctx(tmp_path, lab),
        [_apt(url)],
        samples=1,
        timeout=8,
        icmp=False,
        sync_sites=[_site(lab, "m")],
    )
    return _entry(rankings, _apt(url).url).measurement


def test_fresh_stale_and_failed_jobs_reach_the_measurement(tmp_path, mirror_lab):
    fresh = mirror_lab.add("fresh", body_bytes=64 * 1024)
    stale = mirror_lab.add("stale", body_bytes=64 * 1024)
    failed = mirror_lab.add("failed", body_bytes=64 * 1024)
    mirror_lab.serve(
        "fresh", "/static/tunasync.json", json.dumps([_job("debian", "success", 600)]).encode()
    )
    mirror_lab.serve(
        "stale", "/static/tunasync.json", json.dumps([_job("debian", "success", 2 * DAY)]).encode()
    )
    mirror_lab.serve(
        "failed", "/static/tunasync.json", json.dumps([_job("debian", "failed", 3 * DAY)]).encode()
    )
    sites = [_site(mirror_lab, n) for n in ("fresh", "stale", "failed")]
    candidates = [_apt(fresh), _apt(stale), _apt(failed)]
    rankings = measure(
        _ctx(tmp_path, mirror_lab), candidates, samples=1, timeout=8, icmp=False, sync_sites=sites
    )
    a, b, c = (_entry(rankings, cand.url).measurement for cand in candidates)
    assert a.healthy and a.freshness == "last synced 10 min ago (tunasync: success)"
    assert a.lag_s is not None and 500 < a.lag_s < 1200
    assert b.lag_s is not None and b.lag_s > DAY and "2 days ago" in (b.freshness or "")
    assert (
        c.freshness is not None
        and "last successful sync 3 days ago, the last run failed" in c.freshness
    )
    assert c.to_json()["lag_s"] == c.lag_s  # --json carries it
    for server in ("fresh", "stale", "failed"):  # one status request per site, no more
        paths = [r.target for r in mirror_lab.server(server).records]
        assert paths.count("/static/tunasync.json") == 1


@pytest.mark.parametrize("body", [b"{broken", 3 * 1024 * 1024])
def test_a_malformed_or_huge_status_document_leaves_freshness_unknown(tmp_path, mirror_lab, body):
    url = mirror_lab.add("m", body_bytes=64 * 1024)
    mirror_lab.serve("m", "/static/tunasync.json", body)
    measured = _measured_by_site(tmp_path, mirror_lab, url)
    assert measured.healthy
    assert measured.lag_s is None
    assert (measured.freshness or "").startswith("sync status unknown")


def test_a_hanging_status_url_does_not_hold_the_run_past_its_deadline(tmp_path, mirror_lab):
    url = mirror_lab.add("m", body_bytes=64 * 1024)
    status = mirror_lab.add("status-site")
    mirror_lab.serve("status-site", "/static/tunasync.json", hang=True)
    site = SiteStatus((url.split("//", 1)[1],), status + "/static/tunasync.json", "tunasync", "lab")
    started = time.monotonic()
    rankings = measure(
        _ctx(tmp_path, mirror_lab), [_apt(url)], samples=1, timeout=3, icmp=False, sync_sites=[site]
    )
    elapsed = time.monotonic() - started
    assert elapsed < 3 + 2.5  # the deadline, with room for a loaded machine
    measured = _entry(rankings, _apt(url).url).measurement
    assert measured.healthy and measured.lag_s is None
    assert [r.target for r in mirror_lab.server("status-site").records] == ["/static/tunasync.json"]


def test_auto_skips_a_mirror_a_day_behind_and_says_so(tmp_path, mirror_lab):
    fast = mirror_lab.add("fast", body_bytes=64 * 1024)
    slow = mirror_lab.add("slow", delay_ms=150, body_bytes=64 * 1024)
    mirror_lab.serve(
        "fast", "/static/tunasync.json", json.dumps([_job("debian", "success", 30 * 3600)]).encode()
    )
    mirror_lab.serve(
        "slow", "/static/tunasync.json", json.dumps([_job("debian", "success", 300)]).encode()
    )
    sites = [_site(mirror_lab, "fast"), _site(mirror_lab, "slow")]
    rankings = measure(
        _ctx(tmp_path, mirror_lab),
        [_apt(fast), _apt(slow)],
        samples=2,
        timeout=8,
        icmp=False,
        sync_sites=sites,
    )
    choice = pick(rankings, targets=["apt"]).get("apt")
    assert choice is not None and choice.winner is not None
    assert choice.winner.candidate.url == _apt(slow).url
    assert f"skipped {_apt(fast).url}: 30 h behind" in choice.reason
    assert "the only one not known to be behind" in choice.reason


def test_when_every_mirror_is_stale_the_best_is_picked_with_a_warning(tmp_path, mirror_lab):
    fast = mirror_lab.add("fast", body_bytes=64 * 1024)
    slow = mirror_lab.add("slow", delay_ms=150, body_bytes=64 * 1024)
    for name in ("fast", "slow"):
        mirror_lab.serve(
            name, "/static/tunasync.json", json.dumps([_job("debian", "success", 2 * DAY)]).encode()
        )
    sites = [_site(mirror_lab, "fast"), _site(mirror_lab, "slow")]
    rankings = measure(
        _ctx(tmp_path, mirror_lab),
        [_apt(fast), _apt(slow)],
        samples=2,
        timeout=8,
        icmp=False,
        sync_sites=sites,
    )
    choice = pick(rankings, targets=["apt"]).get("apt")
    assert choice is not None and choice.winner is not None
    assert choice.winner.candidate.url == _apt(fast).url
    assert "warning: every mirror that answered is over a day behind" in choice.reason


# --- apt: the mirror's InRelease Date against the upstream's -----------------------


def _utc(hours_ago: float) -> datetime.datetime:
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now - datetime.timedelta(hours=hours_ago)


def test_apt_lag_compares_release_dates_and_asks_the_upstream_once(tmp_path, mirror_lab):
    upstream = mirror_lab.add("upstream", tls=False)
    behind = mirror_lab.add("behind")
    current = mirror_lab.add("current")
    mirror_lab.serve(
        "upstream", "/debian/dists/stable/InRelease", inrelease(_utc(0)), content_type="text/plain"
    )
    mirror_lab.serve(
        "behind", "/debian/dists/stable/InRelease", inrelease(_utc(5)), content_type="text/plain"
    )
    mirror_lab.serve(
        "current", "/debian/dists/stable/InRelease", inrelease(_utc(0)), content_type="text/plain"
    )
    paths = [
        apt.pull_path_against(f"{behind}/debian", f"{upstream}/debian"),
        apt.pull_path_against(f"{current}/debian", f"{upstream}/debian"),
    ]
    late, fine = measure_all(paths, env=mirror_lab.env, samples=1, timeout=5, deadline_s=8)
    assert late.healthy and fine.healthy
    assert late.freshness == "Release 5 h older than 127.0.0.1's"
    assert late.lag_s == pytest.approx(5 * 3600, abs=120)
    assert fine.freshness == "Release as recent as 127.0.0.1's" and fine.lag_s is not None
    assert fine.lag_s < 60
    asked = [r.target for r in mirror_lab.server("upstream").records]
    assert asked.count("/debian/dists/stable/InRelease") == 1


def test_apt_with_a_dead_upstream_stays_healthy_and_says_it_did_not_compare(tmp_path, mirror_lab):
    mirror = mirror_lab.add("m")
    path = apt.pull_path_against(f"{mirror}/debian", f"{mirror_lab.refused_url()}/debian")
    (measured,) = measure_all([path], env=mirror_lab.env, samples=1, timeout=3, deadline_s=5)
    assert measured.healthy
    assert measured.lag_s is None
    assert (measured.freshness or "").startswith("Release date not compared: 127.0.0.1")


def test_document_problem_is_unknown_words():
    doc = Document(TUNA, problem="x")
    assert doc.jobs == ()


# --- apt-get as the judge: it reads the same Date field ------------------------------


def _gpg(gnupg: Path, *args: str, data: bytes | None = None) -> bytes:
    env = {**os.environ, "GNUPGHOME": str(gnupg)}
    done = subprocess.run(
        ["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", *args],
        input=data,
        capture_output=True,
        env=env,
        check=True,
        timeout=60,
    )
    return done.stdout


def _apt_wait_s(message: str) -> float:
    """Seconds in apt's ``invalid for another 1d 4h 59min 50s``."""
    found = re.search(r"invalid for another ((?:\d+\s*(?:d|h|min|s)\s*)+)", message)
    assert found, message
    units = {"d": 86400, "h": 3600, "min": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)\s*(d|h|min|s)", found[1]))


@pytest.mark.skipif(
    shutil.which("apt-get") is None or shutil.which("gpg") is None,
    reason="apt-get and gpg are needed to judge the InRelease Date",
)
def test_apt_get_reads_the_date_envdoctor_compares(tmp_path, mirror_lab):
    """The upstream's InRelease is dated 5 h ahead of the mirror's (in the future, so
    that apt, told to check dates, refuses it and says by how much): envdoctor's lag of
    the mirror and apt's wait for the upstream's file come from the same field."""
    gnupg = tmp_path / "gnupg"
    gnupg.mkdir(mode=0o700)
    try:
        _gpg(gnupg, "--quick-gen-key", "Lab <lab@example.invalid>", "ed25519", "sign", "never")
        key = tmp_path / "lab.gpg"
        key.write_bytes(_gpg(gnupg, "--export"))
        upstream = mirror_lab.add("upstream", tls=False)
        mirror = mirror_lab.add("mirror", tls=False)
        ahead = _utc(-5)
        # apt checks the hashes section before the dates: one (empty) index in it.
        empty = hashlib.sha256(b"").hexdigest()
        hashes = f"SHA256:\n {empty} 0 main/binary-amd64/Packages\n".encode()
        for name, date in (("upstream", ahead), ("mirror", _utc(0))):
            signed = _gpg(gnupg, "--clearsign", data=inrelease(date) + hashes)
            mirror_lab.serve(
                name, "/debian/dists/stable/InRelease", signed, content_type="text/plain"
            )
    finally:
        subprocess.run(
            ["gpgconf", "--kill", "gpg-agent"],
            env={**os.environ, "GNUPGHOME": str(gnupg)},
            check=False,
            capture_output=True,
        )
    path = apt.pull_path_against(f"{mirror}/debian", f"{upstream}/debian")
    (measured,) = measure_all([path], env=mirror_lab.env, samples=1, timeout=5, deadline_s=8)
    assert measured.lag_s is not None and measured.freshness == "Release 5 h older than 127.0.0.1's"

    root = tmp_path / "apt"
    for sub in ("state/lists/partial", "cache/archives/partial", "etc"):
        (root / sub).mkdir(parents=True)
    sources = root / "etc" / "sources.list"
    sources.write_text(f"deb [signed-by={key}] {upstream}/debian stable main\n")
    options = {
        "Dir::State": root / "state",
        "Dir::Cache": root / "cache",
        "Dir::Etc::sourcelist": sources,
        "Dir::Etc::sourceparts": "/nonexistent",
        "Dir::Etc::trusted": "/nonexistent",
        "Dir::Etc::trustedparts": "/nonexistent",
        "Debug::NoLocking": "1",
        "APT::Sandbox::User": pwd.getpwuid(os.getuid()).pw_name,  # no _apt user to drop to
        "Acquire::Check-Date": "true",  # off in some images' apt.conf.d (containers)
        "Acquire::Check-Valid-Until": "true",
    }
    argv = ["apt-get"] + [f"-o{name}={value}" for name, value in options.items()] + ["update"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    output = done.stdout + done.stderr
    assert "is not valid yet" in output, output
    assert abs(_apt_wait_s(output) - measured.lag_s) < 300


# --- what the user sees ---------------------------------------------------------------


def test_mirrors_command_shows_and_carries_the_sites_freshness(tmp_path, mirror_lab, monkeypatch):
    from click.testing import CliRunner

    import envdoctor.mirrors as mirrors_module
    from envdoctor.cli import cli
    from tests.test_mirrors import lab_context, user_profile

    url = mirror_lab.add("tuna-like", body_bytes=64 * 1024)
    jobs = [_job("debian", "failed", 3 * DAY)]
    mirror_lab.serve("tuna-like", "/static/tunasync.json", json.dumps(jobs).encode())
    monkeypatch.setattr(mirrors_module, "SITES", (_site(mirror_lab, "tuna-like"),))
    urls = dict.fromkeys(
        ("pip", "uv", "conda", "docker", "hf", "modelscope", "apt", "npm", "go", "cargo", "git"),
        url,
    )
    ctx = lab_context(tmp_path, mirror_lab, urls)
    user_profile(ctx, "lab", f'[apt]\ndebian = "{url}/debian"\n')  # no shipped profile
    monkeypatch.setattr(Context, "from_environ", classmethod(lambda cls, **kw: ctx))
    args = ["mirrors", "--target", "apt", "--profile", "lab", "--no-throughput", "--timeout", "8"]
    out = CliRunner().invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    (apt_target,) = json.loads(out.stdout)["targets"]
    (measured,) = [m["measurement"] for m in apt_target["mirrors"]]
    assert measured["lag_s"] > 3 * DAY - 600
    assert "last successful sync 3 days ago, the last run failed" in measured["freshness"]
    out = CliRunner().invoke(cli, args)
    (line,) = [line for line in out.stdout.splitlines() if line.startswith("apt ")]
    assert "ok: first byte" in line and "last successful sync 3 days ago" in line


def test_unknown_freshness_stays_out_of_the_short_line():
    from envdoctor.net.results import Measurement, Outcome
    from envdoctor.probes.network import timing

    base = Measurement("https://m/debian", "apt", Outcome.OK, "ok", ttfb_s=0.01)
    known = timing(
        base.__class__(**{**base.__dict__, "freshness": "last synced 5 h ago", "lag_s": 18000.0})
    )
    assert known.endswith("; last synced 5 h ago")
    unknown = base.__class__(**{**base.__dict__, "freshness": "sync status unknown: x is not JSON"})
    assert "unknown" not in timing(unknown)
    mixed = "last synced 5 h ago (tunasync: success); Release date not compared: x: timeout"
    both = timing(base.__class__(**{**base.__dict__, "freshness": mixed, "lag_s": 18000.0}))
    assert both.endswith("; last synced 5 h ago (tunasync: success)")


def test_every_known_site_is_documented_with_its_source():
    from envdoctor.net.sync_status import SITES

    readme = (Path(__file__).parent.parent / "profiles" / "README.md").read_text()
    for site in SITES:
        assert site.source
        assert all(f"`{host}`" in readme for host in site.hosts), site.hosts
        assert site.url.split("://", 1)[1].split("/", 1)[1] in readme, site.url


def test_apt_with_a_hanging_upstream_waits_briefly_and_stays_healthy(mirror_lab, monkeypatch):
    monkeypatch.setattr(apt, "UPSTREAM_WAIT_S", 0.5)
    mirror = mirror_lab.add("m")
    upstream = mirror_lab.add("upstream")
    mirror_lab.serve("upstream", "/debian/dists/stable/InRelease", hang=True)
    path = apt.pull_path_against(f"{mirror}/debian", f"{upstream}/debian")
    started = time.monotonic()
    (measured,) = measure_all([path], env=mirror_lab.env, samples=1, timeout=5, deadline_s=6)
    assert time.monotonic() - started < 4  # not the 6 s deadline: the wait is bounded
    assert measured.healthy and measured.lag_s is None
    assert measured.freshness == "Release date not compared: 127.0.0.1: no answer within 0.5 s"


def test_check_warns_when_the_configured_mirror_is_days_behind(tmp_path, mirror_lab, monkeypatch):
    import envdoctor.mirrors as mirrors_module
    import envdoctor.probes.network as network
    from envdoctor.requirements import CheckOptions
    from envdoctor.results import Status
    from tests.test_mirrors import lab_context, user_profile

    old = mirror_lab.add("old", body_bytes=64 * 1024)
    new = mirror_lab.add("new", body_bytes=64 * 1024)
    mirror_lab.serve(
        "old", "/static/tunasync.json", json.dumps([_job("debian", "success", 3 * DAY)]).encode()
    )
    mirror_lab.serve(
        "new", "/static/tunasync.json", json.dumps([_job("debian", "success", 600)]).encode()
    )
    monkeypatch.setattr(
        mirrors_module, "SITES", (_site(mirror_lab, "old"), _site(mirror_lab, "new"))
    )
    urls = dict.fromkeys(
        ("pip", "uv", "conda", "docker", "hf", "modelscope", "apt", "npm", "go", "cargo", "git"),
        old,
    )
    ctx = lab_context(tmp_path, mirror_lab, urls)
    user_profile(ctx, "lab", f'[apt]\ndebian = "{new}/debian"\n')
    results = {r.name: r for r in network.run(ctx, CheckOptions(profile="lab"))}
    row = results["mirror apt"]
    assert row.status is Status.WARN, row.summary
    assert "last synced 3 days ago" in row.summary
    assert row.remedy is not None and "more than a day behind" in row.remedy
    assert f"{new}/debian" in row.remedy
    assert results["mirror pip"].status is Status.OK  # its site has no pypi job: unknown


def test_a_redirectors_campus_mirror_is_looked_up_by_the_host_that_answered(tmp_path, mirror_lab):
    campus = mirror_lab.add("campus", body_bytes=64 * 1024)
    redirector = mirror_lab.add("redirector", redirect_to="campus")
    jobs = {
        "site": {"abbr": "LAB"},
        "mirrors": [{"cname": "Debian", "url": "/debian", "status": f"S{int(time.time() - 7200)}"}],
    }
    mirror_lab.serve("campus", "/mirrorz.json", json.dumps(jobs).encode())
    site = SiteStatus((campus.split("//", 1)[1],), campus + "/mirrorz.json", "mirrorz", "lab")
    candidate = _apt(redirector)
    rankings = measure(
        _ctx(tmp_path, mirror_lab), [candidate], samples=1, timeout=8, icmp=False, sync_sites=[site]
    )
    measured = _entry(rankings, candidate.url).measurement
    assert measured.healthy and measured.final_host == campus.split("//", 1)[1]
    assert measured.freshness == "last synced 2 h ago (mirrorz: success)"


def test_a_chunked_status_document_is_read(tmp_path, mirror_lab):
    url = mirror_lab.add("m", body_bytes=64 * 1024)
    mirror_lab.server("m").chunked = True  # nginx sends tunasync's status chunked
    document = [_job("debian", "success", 600)] + [_job(f"j{n}", "success", 60) for n in range(40)]
    mirror_lab.serve("m", "/static/tunasync.json", json.dumps(document).encode())
    measured = _measured_by_site(tmp_path, mirror_lab, url)
    assert measured.freshness == "last synced 10 min ago (tunasync: success)", measured.freshness


def test_an_upstream_answer_is_kept_for_the_run_and_dropped_by_forget() -> None:
    from envdoctor.net import shared

    asked: list[int] = []

    def compute(value: int) -> int:
        asked.append(value)
        return value

    key = "https://127.0.0.1:1/simple/numpy/"
    assert shared.once_per_run(key, lambda: compute(1)) == 1
    assert shared.once_per_run(key, lambda: compute(2)) == 1  # kept: asked once per run
    shared.forget()
    assert shared.once_per_run(key, lambda: compute(3)) == 3  # another run: asked again
    assert asked == [1, 3]
