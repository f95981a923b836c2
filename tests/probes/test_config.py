from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envdoctor.probes.config as config
from envdoctor import checkup, transaction
from envdoctor.cli_apply import apply as apply_command
from envdoctor.context import Context
from envdoctor.planning import TARGET_NAMES
from envdoctor.profiles import get_profile
from envdoctor.requirements import CheckOptions
from envdoctor.results import CheckResult, FileChange, Status
from envdoctor.shellenv import render_sh

TUNA_PYPI = "https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple"
TUNA_CONDA = "https://mirrors.tuna.tsinghua.edu.cn/anaconda"
SECRET = "s3cretPW"
ROWS = ("pip", "uv", "conda", "docker", "hf", "modelscope", "npm", "go", "cargo", "git", "proxy")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_ctx(root: Path, env: dict[str, str] | None = None) -> Context:
    return Context.for_root(root, env=env or {})


def check(
    root: Path, env: dict[str, str] | None = None, profile: str | None = None
) -> dict[str, CheckResult]:
    results = config.run(make_ctx(root, env), CheckOptions(profile=profile))
    assert [r.name for r in results] == [f"config {tool}" for tool in ROWS]
    for result in results:
        assert result.probe == "config"
        assert "\n" not in result.summary
        json.dumps(result.to_json())
    return {r.name.split()[1]: r for r in results}


def messages(result: CheckResult) -> list[str]:
    return [f["message"] for f in result.details["findings"] if f["status"] != "ok"]


def home(root: Path) -> Path:
    return root / "home" / "user"


# --- pip -----------------------------------------------------------------------------------


def test_install_section_in_global_file_beats_user_global(tmp_path: Path) -> None:
    write(tmp_path / "etc/pip.conf", "[install]\nindex-url = https://corp.example/simple\n")
    write(home(tmp_path) / ".config/pip/pip.conf", f"[global]\nindex-url = {TUNA_PYPI}\n")
    pip = check(tmp_path)["pip"]
    assert pip.status is Status.WARN
    assert pip.summary.startswith(
        "index-url https://corp.example/simple from /etc/pip.conf [install]"
    )
    chain = pip.details["settings"]["index-url"]
    assert chain["source"] == "/etc/pip.conf [install]"
    assert [TUNA_PYPI, "~/.config/pip/pip.conf [global]"] in chain["shadowed"]
    assert any("beats [global]" in m for m in messages(pip))
    assert pip.remedy == "remove index-url from [install] in /etc/pip.conf"


def test_pip_env_variable_beats_files_and_says_where_it_is_set(tmp_path: Path) -> None:
    write(home(tmp_path) / ".config/pip/pip.conf", f"[global]\nindex-url = {TUNA_PYPI}\n")
    write(
        home(tmp_path) / ".bashrc", "alias ll='ls -l'\nexport PIP_INDEX_URL=https://x.example/s\n"
    )
    pip = check(tmp_path, {"PIP_INDEX_URL": "https://x.example/s"})["pip"]
    assert pip.summary.startswith("index-url https://x.example/s from $PIP_INDEX_URL")
    assert pip.status is Status.WARN
    assert any("$PIP_INDEX_URL overrides index-url" in m for m in messages(pip))
    assert pip.remedy == "unset PIP_INDEX_URL and remove it from ~/.bashrc line 2"


def test_env_variable_agreeing_with_the_file_is_not_a_warning(tmp_path: Path) -> None:
    write(home(tmp_path) / ".config/pip/pip.conf", f"[global]\nindex-url = {TUNA_PYPI}\n")
    pip = check(tmp_path, {"PIP_INDEX_URL": TUNA_PYPI})["pip"]
    assert pip.status is Status.OK, messages(pip)


def test_trusted_host_for_https_index_warns(tmp_path: Path) -> None:
    write(
        home(tmp_path) / ".config/pip/pip.conf",
        f"[global]\nindex-url = {TUNA_PYPI}\ntrusted-host = mirrors.tuna.tsinghua.edu.cn\n",
    )
    pip = check(tmp_path)["pip"]
    assert pip.status is Status.WARN
    assert any("turns off certificate checks" in m for m in messages(pip))
    assert pip.remedy == (
        "remove mirrors.tuna.tsinghua.edu.cn from trusted-host in ~/.config/pip/pip.conf [global]"
    )


def test_http_index_needs_trusted_host(tmp_path: Path) -> None:
    conf = home(tmp_path) / ".config/pip/pip.conf"
    write(conf, "[global]\nindex-url = http://10.0.0.5:3141/simple\n")
    pip = check(tmp_path)["pip"]
    assert any("plain-http index" in m for m in messages(pip))
    write(conf, "[global]\nindex-url = http://10.0.0.5:3141/simple\ntrusted-host = 10.0.0.5\n")
    assert check(tmp_path)["pip"].status is Status.OK


LOCAL_HOSTS = ["127.0.0.1:8080", "127.5.5.5", "localhost", "LOCALHOST", "[::1]:3141"]
REMOTE_HOSTS = ["10.0.0.5", "localhost.localdomain", "[::ffff:127.0.0.1]"]


def test_plain_http_is_taken_from_the_hosts_pip_calls_secure(tmp_path: Path) -> None:
    # pip's own judge: PipSession.is_secure_origin (SECURE_ORIGINS and trusted-host).
    hosts = LOCAL_HOSTS + REMOTE_HOSTS
    code = (
        "import sys\n"
        "from pip._internal.models.link import Link\n"
        "from pip._internal.network.session import PipSession\n"
        "session = PipSession()\n"
        "for host in sys.argv[1:]:\n"
        "    print(session.is_secure_origin(Link(f'http://{host}/simple/')))\n"
    )
    judged = subprocess.run(
        [sys.executable, "-c", code, *hosts], capture_output=True, text=True, check=True
    ).stdout.split()
    assert judged == ["True"] * len(LOCAL_HOSTS) + ["False"] * len(REMOTE_HOSTS)
    conf = home(tmp_path) / ".config/pip/pip.conf"
    for host, secure in zip(hosts, judged, strict=True):
        write(conf, f"[global]\nindex-url = http://{host}/simple\n")
        warned = any("plain-http index" in m for m in messages(check(tmp_path)["pip"]))
        assert warned == (secure == "False"), host


def test_malformed_pip_conf_fails_with_its_line(tmp_path: Path) -> None:
    write(home(tmp_path) / ".config/pip/pip.conf", "[global]\nindex-url = a\nindex-url = b\n")
    pip = check(tmp_path)["pip"]
    assert pip.status is Status.FAIL
    assert any(m.startswith("~/.config/pip/pip.conf line 3:") for m in messages(pip))
    assert pip.details["problems"][0]["line"] == 3


def test_pip_config_file_hides_user_files_and_venv_file_overrides(tmp_path: Path) -> None:
    write(home(tmp_path) / ".config/pip/pip.conf", f"[global]\nindex-url = {TUNA_PYPI}\n")
    other = write(tmp_path / "cfg/pip.conf", "[global]\ntimeout = 30\n")
    pip = check(tmp_path, {"PIP_CONFIG_FILE": str(other)})["pip"]
    assert any("makes pip skip ~/.config/pip/pip.conf" in m for m in messages(pip))

    venv = tmp_path / "venv"
    write(venv / "pip.conf", "[global]\nindex-url = https://venv.example/simple\n")
    pip = check(tmp_path, {"VIRTUAL_ENV": str(venv)})["pip"]
    assert any("environment's own" in m and "($VIRTUAL_ENV)" in m for m in messages(pip))


# --- uv ------------------------------------------------------------------------------------


def test_uv_left_on_pypi_while_pip_uses_a_mirror_warns(tmp_path: Path) -> None:
    write(home(tmp_path) / ".config/pip/pip.conf", f"[global]\nindex-url = {TUNA_PYPI}\n")
    uv = check(tmp_path)["uv"]
    assert uv.status is Status.WARN
    assert any("uv still goes to PyPI" in m for m in messages(uv))
    write(
        home(tmp_path) / ".config/uv/uv.toml",
        '[[index]]\nurl = "https://mirrors.aliyun.com/pypi/simple"\ndefault = true\n',
    )
    uv = check(tmp_path)["uv"]
    assert uv.status is Status.OK  # two mirrors, chosen on purpose: a note, not a warning
    assert any("different indexes" in f["message"] for f in uv.details["findings"])


def test_uv_env_override(tmp_path: Path) -> None:
    write(
        home(tmp_path) / ".config/uv/uv.toml",
        f'[[index]]\nurl = "{TUNA_PYPI}"\ndefault = true\n',
    )
    uv = check(tmp_path, {"UV_DEFAULT_INDEX": "https://pypi.org/simple"})["uv"]
    assert any("$UV_DEFAULT_INDEX overrides the default index" in m for m in messages(uv))
    assert uv.remedy is not None and "unset UV_DEFAULT_INDEX" in uv.remedy


# --- conda ---------------------------------------------------------------------------------


def test_conda_pkgs_free_and_channel_alias_fallback(tmp_path: Path) -> None:
    write(
        home(tmp_path) / ".condarc",
        "channels:\n  - defaults\n  - conda-forge\n  - bioconda\n"
        f"default_channels:\n  - {TUNA_CONDA}/pkgs/main\n  - {TUNA_CONDA}/pkgs/free\n"
        f"custom_channels:\n  conda-forge: {TUNA_CONDA}/cloud\n",
    )
    conda = check(tmp_path)["conda"]
    found = messages(conda)
    assert conda.status is Status.WARN
    assert any("pkgs/free was removed in conda 4.7" in m for m in found)
    fallback = [m for m in found if "not in custom_channels" in m]
    assert len(fallback) == 1 and "channel bioconda" in fallback[0]
    assert f"add bioconda: {TUNA_CONDA}/cloud under custom_channels" in (conda.remedy or "")


def test_conda_defaults_without_default_channels_under_a_mirror_profile(tmp_path: Path) -> None:
    write(home(tmp_path) / ".condarc", "channels:\n  - defaults\n")
    conda = check(tmp_path, profile="cn-tsinghua")["conda"]
    assert any("default_channels is not set" in m for m in messages(conda))
    assert "envdoctor apply --profile cn-tsinghua --only conda" in (conda.remedy or "")
    assert not any("default_channels is not set" in m for m in messages(check(tmp_path)["conda"]))


# --- docker --------------------------------------------------------------------------------


def test_malformed_daemon_json_fails_with_line(tmp_path: Path) -> None:
    write(
        tmp_path / "etc/docker/daemon.json", '{\n  "registry-mirrors": ["https://a.example"],\n}\n'
    )
    docker = check(tmp_path)["docker"]
    assert docker.status is Status.FAIL
    assert any(
        m.startswith("/etc/docker/daemon.json line 3:") and "refuses to start" in m
        for m in messages(docker)
    )
    assert docker.details["liveness"] == checkup.NETWORK_HINT


def test_registry_mirror_flag_in_drop_in_and_file_fails(tmp_path: Path) -> None:
    write(tmp_path / "lib/systemd/system/docker.service", "[Service]\nExecStart=/usr/bin/dockerd\n")
    write(
        tmp_path / "etc/systemd/system/docker.service.d/mirror.conf",
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --registry-mirror=https://m.example\n",
    )
    write(tmp_path / "etc/docker/daemon.json", '{"registry-mirrors": ["https://docker.1ms.run"]}')
    docker = check(tmp_path)["docker"]
    assert docker.status is Status.FAIL
    where = "/etc/systemd/system/docker.service.d/mirror.conf line 3"
    assert docker.details["mirror_flags"] == [where]
    assert any(where in m and "dockerd refuses to start" in m for m in messages(docker))
    assert docker.remedy == f"remove --registry-mirror from {where}"


@pytest.fixture
def fake_dockerd(tmp_path: Path) -> Iterator[list[str]]:
    """A daemon on root/var/run/docker.sock answering GET /info with the listed mirrors."""
    mirrors: list[str] = []
    path = tmp_path / "var/run/docker.sock"
    path.parent.mkdir(parents=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    server.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                body = json.dumps(
                    {"ServerVersion": "27.0", "RegistryConfig": {"Mirrors": mirrors}}
                ).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield mirrors
    stop.set()
    thread.join(timeout=5)
    server.close()


def test_daemon_running_other_mirrors_than_the_file_warns(
    tmp_path: Path, fake_dockerd: list[str]
) -> None:
    write(tmp_path / "etc/docker/daemon.json", '{"registry-mirrors": ["https://docker.1ms.run"]}')
    fake_dockerd.append("https://old.example/")
    docker = check(tmp_path)["docker"]
    assert docker.details["daemon_mirrors"] == ["https://old.example"]
    assert any("edited but not reloaded" in m for m in messages(docker))
    assert docker.remedy == "sudo systemctl reload docker"  # no profile known here
    fake_dockerd[:] = ["https://docker.1ms.run/"]
    assert check(tmp_path)["docker"].status is Status.OK


# --- Hugging Face, ModelScope, login shells ------------------------------------------------


def test_hf_mirror_with_xet_and_deprecated_hf_transfer(tmp_path: Path) -> None:
    hf = check(
        tmp_path, {"HF_ENDPOINT": "https://hf-mirror.com", "HF_HUB_ENABLE_HF_TRANSFER": "1"}
    )["hf"]
    found = messages(hf)
    assert any("Xet downloads can bypass the mirror" in m for m in found)
    assert any("HF_HUB_ENABLE_HF_TRANSFER is deprecated" in m for m in found)
    assert "export HF_HUB_DISABLE_XET=1" in (hf.remedy or "")
    assert isinstance(hf.details["cache_free_bytes"], int)
    assert hf.details["cache"] == "~/.cache/huggingface/hub"
    hf = check(tmp_path, {"HF_ENDPOINT": "https://hf-mirror.com", "HF_HUB_DISABLE_XET": "1"})["hf"]
    assert hf.status is Status.OK, messages(hf)


def test_modelscope_domain_given_as_url(tmp_path: Path) -> None:
    ms = check(tmp_path, {"MODELSCOPE_DOMAIN": "https://www.modelscope.cn"})["modelscope"]
    assert ms.status is Status.WARN
    assert any("MODELSCOPE_DOMAIN is a URL" in m for m in messages(ms))
    assert ms.remedy == "export MODELSCOPE_DOMAIN=www.modelscope.cn"
    write(home(tmp_path) / ".profile", "MODELSCOPE_DOMAIN=https://www.modelscope.cn\n")
    ms = check(tmp_path, {"MODELSCOPE_DOMAIN": "https://www.modelscope.cn"})["modelscope"]
    assert ms.remedy == "export MODELSCOPE_DOMAIN=www.modelscope.cn and fix it in ~/.profile line 1"


def test_login_shell_value_differs_from_this_process(tmp_path: Path) -> None:
    env_sh = home(tmp_path) / ".config/envdoctor/env.sh"
    write(
        env_sh, "# Managed by envdoctor\n" + render_sh([("HF_ENDPOINT", "https://hf-mirror.com")])
    )
    hf = check(tmp_path, {"HF_ENDPOINT": "https://huggingface.co"})["hf"]
    assert any(
        "this shell has HF_ENDPOINT=https://huggingface.co, a new login shell gets "
        "https://hf-mirror.com" in m
        for m in messages(hf)
    )
    assert ". ~/.config/envdoctor/env.sh or open a new shell" in (hf.remedy or "")
    same = check(tmp_path, {"HF_ENDPOINT": "https://hf-mirror.com", "HF_HUB_DISABLE_XET": "1"})
    assert same["hf"].status is Status.OK


_VALUES = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"), max_size=40
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_VALUES)
def test_export_parser_reads_what_bash_reads(tmp_path: Path, value: str) -> None:
    script = write(tmp_path / "env.sh", render_sh([("HF_ENDPOINT", value)]))
    bash = subprocess.run(
        ["bash", "-c", '. "$1"; printf %s "$HF_ENDPOINT"', "bash", str(script)],
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert checkup.parse_exports(script.read_text()) == {"HF_ENDPOINT": bash.stdout.decode()}


# --- proxies -------------------------------------------------------------------------------


def test_no_proxy_is_ok(tmp_path: Path) -> None:
    proxy = check(tmp_path)["proxy"]
    assert (proxy.status, proxy.summary) == (Status.OK, "no proxy")


def test_proxy_case_mismatch_and_no_proxy_without_localhost(tmp_path: Path) -> None:
    env = {
        "https_proxy": "http://proxy.a:3128",
        "HTTPS_PROXY": "http://proxy.b:3128",
        "no_proxy": "intranet.example",
    }
    proxy = check(tmp_path, env)["proxy"]
    found = messages(proxy)
    assert any("https_proxy" in m and "HTTPS_PROXY" in m and "differ" in m for m in found)
    assert any("lacks localhost, 127.0.0.1, ::1" in m for m in found)
    assert "export no_proxy=intranet.example,localhost,127.0.0.1,::1" in (proxy.remedy or "")
    env.update(HTTPS_PROXY="http://proxy.a:3128", no_proxy="localhost,127.0.0.1,::1")
    env["NO_PROXY"] = env["no_proxy"]
    assert check(tmp_path, env)["proxy"].status is Status.OK


def test_proxy_row_names_the_configured_mirrors_that_go_through_the_proxy(tmp_path: Path) -> None:
    env = {
        "https_proxy": "http://proxy.a:3128",
        "HTTPS_PROXY": "http://proxy.a:3128",
        "no_proxy": "localhost,127.0.0.1,::1,.tuna.tsinghua.edu.cn",
        "NO_PROXY": "localhost,127.0.0.1,::1,.tuna.tsinghua.edu.cn",
        "PIP_INDEX_URL": "https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple",
        "HF_ENDPOINT": "https://hf-mirror.com",
    }
    proxy = check(tmp_path, env)["proxy"]
    via = proxy.details["mirrors_via_proxy"]
    assert "hf-mirror.com" in via
    assert "mirrors.tuna.tsinghua.edu.cn" not in via  # no_proxy sends it direct
    assert "mirrors through it: " in proxy.summary and "hf-mirror.com" in proxy.summary
    assert proxy.status is Status.OK


def test_each_mirror_goes_the_way_its_own_client_sends_it(tmp_path: Path) -> None:
    # ".x.test" sends x.test itself direct for pip (urllib's rules strip the dot) but not
    # for huggingface_hub (httpx: subdomains only); see tests/test_proxy_rules.py.
    env = {
        "https_proxy": "http://proxy.a:3128",
        "HTTPS_PROXY": "http://proxy.a:3128",
        "no_proxy": "localhost,127.0.0.1,::1,.pypi.x.test,.hf.x.test",
        "NO_PROXY": "localhost,127.0.0.1,::1,.pypi.x.test,.hf.x.test",
        "PIP_INDEX_URL": "https://pypi.x.test/simple",
        "HF_ENDPOINT": "https://hf.x.test",
    }
    via = check(tmp_path, env)["proxy"].details["mirrors_via_proxy"]
    assert "hf.x.test" in via and "pypi.x.test" not in via


def test_a_proxy_every_client_reads_is_not_a_case_problem(tmp_path: Path) -> None:
    # Go and uv read https_proxy when HTTPS_PROXY is unset: nothing to warn about.
    env = {"https_proxy": "http://proxy.a:3128", "no_proxy": "localhost,127.0.0.1,::1"}
    assert check(tmp_path, env)["proxy"].status is Status.OK
    # Go (dockerd) has no ALL_PROXY: that difference is named.
    env = {"ALL_PROXY": "http://proxy.a:3128", "no_proxy": "localhost,127.0.0.1,::1"}
    proxy = check(tmp_path, env)["proxy"]
    found = messages(proxy)
    assert any("Go net/http (dockerd, containerd, podman) none" in m for m in found), found
    assert 'export https_proxy="$ALL_PROXY" HTTPS_PROXY="$ALL_PROXY"' in (proxy.remedy or "")


def test_clients_reading_different_no_proxy_lists_are_named(tmp_path: Path) -> None:
    env = {
        "https_proxy": "http://proxy.a:3128",
        "HTTPS_PROXY": "http://proxy.a:3128",
        "no_proxy": "",
        "NO_PROXY": "localhost,127.0.0.1,::1",
    }
    proxy = check(tmp_path, env)["proxy"]
    by_client = proxy.details["no_proxy_by_client"]
    assert by_client["requests (pip, conda, ModelScope)"] == ["localhost", "127.0.0.1", "::1"]
    assert by_client["httpx (huggingface_hub)"] == []  # urllib: an empty no_proxy hides it
    assert any("different no_proxy lists" in m for m in messages(proxy))


# --- masking, drift, remedies --------------------------------------------------------------


def test_credentials_never_appear(tmp_path: Path) -> None:
    write(
        home(tmp_path) / ".config/pip/pip.conf",
        f"[global]\nindex-url = http://bob:{SECRET}@pypi.corp/simple\n"
        f"trusted-host = pypi.corp\n[install]\nindex-url = https://bob:{SECRET}@a.corp/simple\n",
    )
    write(
        home(tmp_path) / ".condarc",
        f"channels:\n  - https://conda.corp/t/{SECRET}/main\n  - bioconda\n"
        f"default_channels:\n  - https://u:{SECRET}@conda.corp/pkgs/main\n",
    )
    write(
        tmp_path / "etc/docker/daemon.json",
        f'{{"registry-mirrors": ["https://u:{SECRET}@d.corp"]}}',
    )
    write(
        home(tmp_path) / ".config/envdoctor/env.sh",
        render_sh([("HF_ENDPOINT", f"https://u:{SECRET}@hf.corp")]),
    )
    env = {
        "PIP_EXTRA_INDEX_URL": f"https://u:{SECRET}@x.corp/simple",
        "UV_DEFAULT_INDEX": f"https://u:{SECRET}@uv.corp/simple",
        "HF_ENDPOINT": f"https://u:{SECRET}@hf2.corp",
        "MODELSCOPE_DOMAIN": f"https://u:{SECRET}@ms.corp",
        "http_proxy": f"http://u:{SECRET}@proxy:3128",
        "HTTPS_PROXY": f"http://u:{SECRET}@proxy2:3128",
    }
    results = check(tmp_path, env, profile="cn-tsinghua")
    text = json.dumps([r.to_json() for r in results.values()])
    assert SECRET not in text
    assert "***" in results["proxy"].summary


def test_drift_from_profile(tmp_path: Path) -> None:
    write(
        home(tmp_path) / ".config/pip/pip.conf",
        "[global]\nindex-url = https://mirrors.aliyun.com/pypi/simple\n",
    )
    results = check(tmp_path, {"HF_ENDPOINT": "https://hf-mirror.com"}, profile="cn-tsinghua")
    pip = results["pip"]
    assert pip.details["drift"] == [
        {
            "setting": "index-url",
            "value": "https://mirrors.aliyun.com/pypi/simple",
            "profile": TUNA_PYPI,
        }
    ]
    assert any(m.startswith("drift from cn-tsinghua: index-url is") for m in messages(pip))
    assert pip.remedy == "envdoctor apply --profile cn-tsinghua --only pip"
    hf_drift = results["hf"].details["drift"]
    assert {"setting": "HF_HUB_DISABLE_XET", "value": None, "profile": "1"} in hf_drift
    assert all(d["setting"] != "HF_ENDPOINT" for d in hf_drift)
    assert "drift" not in check(tmp_path)["pip"].details  # no --profile, no drift check

    write(home(tmp_path) / ".config/pip/pip.conf", f"[global]\nindex-url = {TUNA_PYPI}\n")
    assert check(tmp_path, profile="cn-tsinghua")["pip"].details["drift"] == []


def test_unknown_profile_is_reported_not_raised(tmp_path: Path) -> None:
    pip = check(tmp_path, profile="no-such-profile")["pip"]
    assert "no profile named" in pip.details["drift_error"]


def test_remedy_profile_comes_from_the_last_apply(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    target = home(tmp_path) / "marker.txt"
    transaction.apply_changes(
        ctx,
        [FileChange("env", target, "~/marker.txt", None, b"x\n")],
        journal=transaction.journal_dir(ctx, "user"),
        description="apply --profile cn-ustc",
        profile="cn-ustc",
    )
    write(home(tmp_path) / ".config/pip/pip.conf", "[global]\nindex-url = http://10.0.0.5/simple\n")
    pip = check(tmp_path)["pip"]
    assert pip.remedy == "envdoctor apply --profile cn-ustc --only pip"
    assert "drift" not in pip.details


def _apply_commands(results: dict[str, CheckResult]) -> list[str]:
    commands = []
    for result in results.values():
        for finding in result.details["findings"]:
            for part in (finding["remedy"] or "").split("; "):
                if "envdoctor apply" in part:
                    commands.append(part)
    return commands


def test_remedies_are_commands_that_parse(tmp_path: Path) -> None:
    write(home(tmp_path) / ".condarc", "channels:\n  - defaults\n  - conda-forge\n")
    write(tmp_path / "etc/docker/daemon.json", '{"registry-mirrors": ["https://docker.1ms.run"]}')
    write(home(tmp_path) / ".config/pip/pip.conf", "[global]\nindex-url = http://10.0.0.5/simple\n")
    env = {"HF_ENDPOINT": "https://hf-mirror.com", "MODELSCOPE_DOMAIN": "x.example"}
    ctx = make_ctx(tmp_path)
    targets: set[str] = set()
    for profile in ("cn-tsinghua", "global"):
        for command in _apply_commands(check(tmp_path, env, profile=profile)):
            words = shlex.split(command)
            if words[0] == "sudo":
                words = words[1:]
            assert words[:2] == ["envdoctor", "apply"]
            parsed = apply_command.make_context("apply", words[2:])
            assert get_profile(ctx, parsed.params["profile_name"]).name == profile
            assert all(name in TARGET_NAMES for name in parsed.params["only"])
            assert parsed.params["scope"] in (None, "user", "system")
            targets.update(parsed.params["only"])
    # the new tools drift from the profile too: each remedy names its own apply target
    assert targets == {"pip", "uv", "conda", "env", "docker", "npm", "go", "cargo", "git"}


def test_cancelled_run_stops_early(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    ctx.cancel.set()
    results = config.run(ctx, CheckOptions())
    assert [r.name for r in results] == ["config pip", "config uv"]
