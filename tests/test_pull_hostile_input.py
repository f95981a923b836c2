"""Pull steps fed hostile answers: each is a named outcome (a PullRefused, an unknown),
never an exception that would surface as ``internal error``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from envdoctor.net.pull import Answer, Fetch, PullRefused
from envdoctor.net.results import host_port
from envdoctor.net.sync_status import SITES, Document, Job, job_for
from envdoctor.tools import conda_pull, hf_pull, pip_pull

MIRROR = "https://user:secret@mirror.example/simple"


def _fetch(body: bytes, headers: Mapping[str, str] | None = None, status: int = 206) -> Fetch:
    def fetch(url: str, asked: Sequence[tuple[str, str]], authorization: str | None) -> Answer:
        return Answer(url, status, "Partial Content", dict(headers or {}), body)

    return fetch


def test_host_port_of_an_unparseable_url_is_empty() -> None:
    assert host_port("https://[x/a") == ""
    assert host_port("https://mirror.example:8443/a") == "mirror.example:8443"


def test_a_wheel_href_that_does_not_parse_is_refused_with_credentials_masked() -> None:
    page = b'<a href="https://u:pw@[x/numpy-2.0-py3-none-any.whl">numpy</a>'
    fetch = _fetch(page, {"content-type": "text/html"}, status=200)
    with pytest.raises(PullRefused) as refused:
        pip_pull.find_wheel(MIRROR, "numpy", fetch, upstream="")
    assert "does not parse" in refused.value.reason
    assert "pw" not in refused.value.reason and "***" in refused.value.reason


def test_a_repodata_base_url_that_does_not_parse_is_refused() -> None:
    body = b'{"info": {"base_url": "https://[x/"}, "packages": {"a-1-0.tar.bz2": {"size": 5}}}'
    with pytest.raises(PullRefused, match="base_url that does not parse"):
        conda_pull.find_package("https://mirror.example/pkgs/main", _fetch(body), upstream="")


def test_a_xet_refresh_route_that_does_not_parse_falls_back_to_the_endpoint() -> None:
    answer = Answer(
        "https://mirror.example/m/resolve/main/f",
        200,
        "OK",
        {"x-xet-hash": "abc", "x-xet-refresh-route": "https://[x/api/token"},
        b"",
    )
    xet = hf_pull.xet_metadata("https://mirror.example/m/resolve/main/f", answer)
    assert xet is not None and xet.token_host == "mirror.example"


def test_a_sync_job_whose_url_does_not_parse_is_passed_over() -> None:
    good = Job("pypi", "/pypi", "success", 1.0)
    document = Document(SITES[0], (Job("bad", "http://[x/pypi", "success", 1.0), good))
    assert job_for("https://mirror.example/pypi/web/simple/", document) == good
