"""conda's real pull path against lab channels: a package file named by the first bytes
of ``noarch/repodata.json`` (never the whole document), downloaded and timed; freshness
from ``Last-Modified`` against a lab upstream asked once per run.

No real-client judge here: conda is not installed on this machine (nor in ``.ci/run``);
what conda asks is taken from its source (``conda/gateways/repodata``: the channel's
``<subdir>/repodata.json``, then ``<channel>/<subdir>/<filename>`` for each package).
"""

from __future__ import annotations

import json
import time

import pytest

from envdoctor.net.measure import measure_all
from envdoctor.net.pull import Answer
from envdoctor.net.results import Outcome
from envdoctor.tools import conda, conda_pull
from tests.mirrorlab import MirrorLab, SimpleIndex


def _records(lab: MirrorLab, name: str) -> list[tuple[str, str | None]]:
    server = lab.server(name)
    server.wait_idle()
    return [(r.target, r.headers.get("range")) for r in server.records if r.method == "GET"]


def test_a_package_named_in_the_first_bytes_of_repodata_is_downloaded(
    mirror_lab: MirrorLab,
) -> None:
    base = mirror_lab.add("m", rate_bps=4_000_000)  # repodata of about 4 MiB
    (result,) = measure_all(
        [conda.pull_path(f"{base}/anaconda")],
        env=mirror_lab.env,
        samples=1,
        throughput=True,
        throughput_seconds=0.3,
    )
    assert result.healthy, result.reason
    assert result.pull_url is not None and result.pull_file is not None
    prefix = f"{base}/anaconda/pkgs/main/noarch/labpkg"
    assert result.pull_url.startswith(prefix) and result.pull_url.endswith("-py_0.tar.bz2")
    assert result.pull_file.startswith("package noarch/labpkg")
    seen = _records(mirror_lab, "m")
    index = "/anaconda/pkgs/main/noarch/repodata.json"
    # the latency samples, then one read of the first 64 KiB, then the package
    assert (index, f"bytes=0-{conda_pull.REPODATA_PREFIX_BYTES - 1}") in seen
    package = result.pull_url.removeprefix(base)
    assert seen[-1] == (package, None), seen
    rate = result.throughput_bytes_per_s
    assert rate is not None and 2_000_000 < rate < 6_000_000, result.throughput_reason


def test_the_largest_whole_entry_of_a_cut_repodata_is_chosen() -> None:
    packages = {
        f"pkg{i}-1.0-py_0.tar.bz2": {"name": f"pkg{i}", "size": size, "depends": []}
        for i, size in enumerate((10, 5000, 300))
    }
    conda_packages = {"big-2.0-py_0.conda": {"name": "big", "size": 10**9}}
    document = json.dumps(
        {
            "info": {"subdir": "noarch"},
            "packages": packages,
            "packages.conda": conda_packages,
        }
    ).encode()
    assert conda_pull.choose_package(document) == ("big-2.0-py_0.conda", 10**9)
    cut = document[: document.index(b'"big-2.0') + 30]  # the big entry cut short
    assert conda_pull.choose_package(cut) == ("pkg1-1.0-py_0.tar.bz2", 5000)
    assert conda_pull.choose_package(b'{"info": {}, "packages": {}}') is None


def test_repodata_v2_base_url_sends_packages_elsewhere() -> None:
    body = (
        b'{"info": {"base_url": "https://cdn.test/conda-forge/noarch/", "subdir": "noarch"},'
        b' "packages": {"a-1-0.tar.bz2": {"size": 1}}}'
    )
    answer = Answer("https://m.test/cf/noarch/repodata.json", 206, "Partial", {}, body)
    found = conda_pull.find_package("https://m.test/cf", lambda url, headers, auth: answer)
    assert found.url == "https://cdn.test/conda-forge/noarch/a-1-0.tar.bz2"
    assert found.hops == ("cdn.test",)
    assert found.finding is not None and "come from cdn.test" in found.finding


def test_repodata_without_packages_is_a_named_failure(mirror_lab: MirrorLab) -> None:
    empty = b'{"info": {"subdir": "noarch"}, "packages": {}, "packages.conda": {}}'
    base = mirror_lab.add_index("m", SimpleIndex(repodata=empty))
    (result,) = measure_all([conda.pull_path(f"{base}/anaconda")], env=mirror_lab.env, samples=1)
    assert result.outcome is Outcome.HTTP_ERROR
    assert result.reason == (
        f"the channel's noarch/repodata.json names no package files (in the {len(empty)} "
        "bytes read)"
    )


def test_last_modified_against_the_upstream_bounds_the_lag(mirror_lab: MirrorLab) -> None:
    now = time.time()
    anaconda = mirror_lab.add_index("anaconda", SimpleIndex(last_modified=now - 600))
    late = mirror_lab.add_index("late", SimpleIndex(last_modified=now - 600 - 5 * 3600))
    fresh = mirror_lab.add_index("fresh", SimpleIndex(last_modified=now - 600))
    undated = mirror_lab.add("undated")
    upstream = f"{anaconda}/pkgs/main"
    results = measure_all(
        [conda.pull_path_against(f"{url}/anaconda", upstream) for url in (late, fresh, undated)],
        env=mirror_lab.env,
        samples=1,
    )
    assert all(r.healthy for r in results), [r.reason for r in results]
    behind, current, unknown = results
    assert behind.freshness == "repodata last updated 5 h before 127.0.0.1's"
    # as apt's Release dates: the gap between the two repodata dates
    assert behind.lag_s is not None and abs(behind.lag_s - 5 * 3600) < 5
    assert current.freshness == "repodata current with 127.0.0.1's" and current.lag_s == 0.0
    assert unknown.freshness == "freshness unknown: no Last-Modified on its repodata"
    assert unknown.lag_s is None
    # two dated mirrors, one question to the upstream, for its headers only
    assert _records(mirror_lab, "anaconda") == [("/pkgs/main/noarch/repodata.json", "bytes=0-0")]


def test_an_upstream_that_does_not_answer_leaves_conda_freshness_unknown(
    mirror_lab: MirrorLab,
) -> None:
    base = mirror_lab.add_index("m", SimpleIndex(last_modified=time.time() - 7200))
    upstream = mirror_lab.refused_url("https") + "/pkgs/main"
    (result,) = measure_all(
        [conda.pull_path_against(f"{base}/anaconda", upstream)], env=mirror_lab.env, samples=1
    )
    assert result.healthy, result.reason
    assert result.freshness == "freshness unknown: 127.0.0.1 did not say (repodata 2 h old here)"
    assert result.lag_s is None


def test_upstream_channels_are_anacondas_own(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = {"pkgs": "https://repo.anaconda.com/pkgs", "cloud": "https://conda.anaconda.org"}
    monkeypatch.setattr(conda_pull, "UPSTREAM_BASES", shipped)  # the suite empties it
    assert (
        conda_pull.upstream_channel("https://mirror.test/anaconda/pkgs/main")
        == "https://repo.anaconda.com/pkgs/main"
    )
    assert (
        conda_pull.upstream_channel("https://mirror.test/anaconda/cloud/conda-forge")
        == "https://conda.anaconda.org/conda-forge"
    )
    assert conda_pull.upstream_channel("https://mirror.test/other") is None
