"""Each client's proxy rules against the real client or library, not a table.

- requests: pip's vendored ``should_bypass_proxies`` and ``get_environ_proxies``;
- urllib: ``getproxies_environment`` (requests and httpx take their variables from it);
- httpx: huggingface_hub's own HTTP library (httpx2 with huggingface_hub 2.x), asked
  which transport a URL goes to;
- Go: a program built here with Go's ``net/http.ProxyFromEnvironment`` (dockerd's);
- uv: the uv binary, with a loopback proxy that records what reaches it.
"""

from __future__ import annotations

import inspect
import itertools
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest

from envdoctor.net.proxy import ProxyRules, proxies_from_env, proxy_for
from tests.mirrorlab import RecordingProxy

PROXY = "http://proxy.test:3128"

NO_PROXIES = [
    "",
    "*",
    "example.com",
    ".example.com",
    "*.example.com",
    "ample.com",
    "host.test:443",
    "host.test:8443",
    "2.3",
    "10.0.0.0/8",
    "10.1.2.3",
    "10.1.2.3:8080",
    "fe80::/10",
    "::1",
    "[fe80::1]",
    "localhost, 127.0.0.1",
    "Example.COM",
    " a.test , ,b.test ",
    "example.com/path",
]

URLS = [
    "https://example.com/simple",
    "https://mirror.example.com/simple",
    "https://badexample.com/simple",
    "https://host.test/simple",
    "https://host.test:443/simple",
    "https://host.test:8443/simple",
    "http://10.1.2.3/simple",
    "http://10.1.2.3:8080/simple",
    "https://11.1.2.3/simple",
    "https://[fe80::1]/simple",
    "https://[::1]:8443/simple",
    "http://localhost:8000/simple",
    "http://127.0.0.1:8000/simple",
    "https://b.test/simple",
]

ENV_SHAPES = [
    lambda no: {"https_proxy": PROXY, "http_proxy": PROXY, "no_proxy": no},
    lambda no: {"HTTPS_PROXY": PROXY, "HTTP_PROXY": PROXY, "NO_PROXY": no},
    # An empty no_proxy beside NO_PROXY: requests reads NO_PROXY, urllib drops both.
    lambda no: {"https_proxy": PROXY, "HTTP_PROXY": PROXY, "no_proxy": "", "NO_PROXY": no},
    lambda no: {"ALL_PROXY": PROXY, "NO_PROXY": no, "no_proxy": "unrelated.test"},
]

SCENARIOS = [shape(no) for shape, no in itertools.product(ENV_SHAPES, NO_PROXIES)]


def set_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_variables_follow_urllib(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in [*SCENARIOS, {"HTTP_PROXY": PROXY, "REQUEST_METHOD": "GET"}]:
        set_env(monkeypatch, env)
        assert proxies_from_env(env) == urllib.request.getproxies_environment(), env


def test_requests_rules_are_pips(monkeypatch: pytest.MonkeyPatch) -> None:
    utils = pytest.importorskip("pip._vendor.requests.utils")
    wrong = []
    for env, url in itertools.product(SCENARIOS, URLS):
        set_env(monkeypatch, env)
        proxies = utils.get_environ_proxies(url, no_proxy=None)
        expected = utils.select_proxy(url, proxies)
        if proxy_for(url, env, "requests") != expected:
            wrong.append((env, url, expected))
    assert wrong == []


def test_the_four_cases_of_issue_12_go_as_pip_sends_them() -> None:
    base = {"https_proxy": PROXY, "http_proxy": PROXY}
    # host:443 does not match a URL without a port.
    assert proxy_for("https://host.test/", {**base, "no_proxy": "host.test:443"}) == PROXY
    # An IP suffix matches through urllib's rules.
    assert proxy_for("http://10.1.2.3/", {**base, "no_proxy": "2.3"}) is None
    # requests matches only IPv4 networks.
    assert proxy_for("https://[fe80::1]/", {**base, "no_proxy": "fe80::/10"}) == PROXY
    # An empty no_proxy falls back to NO_PROXY.
    env = {**base, "no_proxy": "", "NO_PROXY": "host.test"}
    assert proxy_for("https://host.test/", env) is None


def test_httpx_rules_are_huggingface_hubs(monkeypatch: pytest.MonkeyPatch) -> None:
    hub_http = pytest.importorskip("huggingface_hub.utils._http")
    httpx = hub_http.httpx2 if hasattr(hub_http, "httpx2") else hub_http.httpx
    factory = inspect.getsource(hub_http.default_client_factory)
    assert "trust_env" not in factory and "proxy" not in factory  # env proxies as httpx reads
    wrong = []
    for env in SCENARIOS:
        set_env(monkeypatch, env)
        # The hub's default_client_factory builds httpx's Client with trust_env left on;
        # verify=False only spares loading the CA store 76 times.
        client = httpx.Client(follow_redirects=True, timeout=None, verify=False)
        for url in URLS:
            # The transport the hub's own client picks: its pool means direct.
            direct = client._transport_for_url(httpx.URL(url)) is client._transport
            if (proxy_for(url, env, "httpx") is None) != direct:
                wrong.append((env, url, direct))
        client.close()
    assert wrong == []


GO_PROGRAM = """package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
)

func main() {
	for _, raw := range os.Args[1:] {
		u, _ := url.Parse(raw)
		p, err := http.ProxyFromEnvironment(&http.Request{URL: u})
		if err != nil || p == nil {
			fmt.Println("direct")
		} else {
			fmt.Println(p.String())
		}
	}
}
"""


@pytest.fixture(scope="module")
def go_proxy_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed: Go's (dockerd's) proxy rules are not compared")
    where = tmp_path_factory.mktemp("goproxy")
    (where / "main.go").write_text(GO_PROGRAM)
    (where / "go.mod").write_text("module goproxy\n\ngo 1.19\n")
    env = {**os.environ, "GOCACHE": str(where / "cache"), "GOFLAGS": "-mod=mod", "GOPROXY": "off"}
    subprocess.run([go, "build", "-o", "goproxy", "."], cwd=where, env=env, check=True)
    return where / "goproxy"


def test_go_rules_are_dockerds(go_proxy_program: Path) -> None:
    wrong = []
    for env in [*SCENARIOS, {"HTTP_PROXY": PROXY, "REQUEST_METHOD": "GET"}]:
        out = subprocess.run(
            [str(go_proxy_program), *URLS],
            env={"PATH": "/usr/bin:/bin", **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for url, answer in zip(URLS, out, strict=True):
            ours = proxy_for(url, env, "go")
            if (ours or "direct") != answer:
                wrong.append((env, url, answer, ours))
    assert wrong == []


UV_CASES: list[tuple[str, dict[str, str]]] = [
    ("http://mirror.example.com/simple", {"no_proxy": "example.com"}),
    ("http://mirror.example.com/simple", {"NO_PROXY": "ample.com"}),
    ("http://mirror.example.com/simple", {"NO_PROXY": ".example.com"}),
    ("http://mirror.example.com/simple", {"NO_PROXY": "*"}),
    ("http://mirror.example.com/simple", {"NO_PROXY": "", "no_proxy": "example.com"}),
    ("http://mirror.example.com/simple", {"NO_PROXY": "mirror.example.com:80"}),
    ("http://mirror.example.com/simple", {"NO_PROXY": "Mirror.Example.com"}),
    ("http://10.255.1.2:9/simple", {"NO_PROXY": "10.0.0.0/8"}),
    ("http://10.255.1.2:9/simple", {"NO_PROXY": "1.2"}),
    ("http://[fe80::1]:9/simple", {"NO_PROXY": "fe80::/10"}),
    ("http://localhost:9/simple", {"NO_PROXY": ""}),
]


@pytest.mark.parametrize(("index", "extra"), UV_CASES)
def test_uv_rules_are_uvs(index: str, extra: dict[str, str], tmp_path: Path) -> None:
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        pytest.skip("uv is not installed")
    proxy = RecordingProxy()
    env = {"HTTP_PROXY": proxy.url, **extra}
    run_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "UV_HTTP_TIMEOUT": "1",
        "UV_HTTP_RETRIES": "0",
        "UV_NO_CONFIG": "1",
        **env,
    }
    command = [uv, "pip", "install", "--dry-run", "--no-cache", "--python", sys.executable]
    subprocess.run(
        [*command, "--index-url", index, "envdoctor-no-such-project"],
        env=run_env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    proxy.close()
    rules: ProxyRules = "uv"
    assert (proxy_for(index, env, rules) is not None) == bool(proxy.requests), proxy.requests
