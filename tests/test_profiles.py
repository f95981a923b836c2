from __future__ import annotations

import importlib
import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from envdoctor import profiles as P
from envdoctor.cli import cli
from envdoctor.context import Context
from envdoctor.profile_checks import KeyLines, ProfileError
from envdoctor.profiles import (
    Endpoint,
    endpoints,
    get_profile,
    load_profiles,
    profile_to_dict,
    profile_to_toml,
    scan_profiles,
)
from envdoctor.tools.sysctl import SYSCTL_KEYS

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DIR = ROOT / "profiles"
SHIPPED = {
    "global",
    "cn-base",
    "cn-tsinghua",
    "cn-ustc",
    "cn-aliyun",
    "cn-huawei",
    "cn-tencent",
    "cn-bfsu",
    "cn-sjtu",
    "cn-nju",
    "cn-mirrorz",
    "cn-docker-proxies",
}
CAMPUS = ("cn-tsinghua", "cn-ustc", "cn-bfsu", "cn-sjtu", "cn-nju", "cn-mirrorz")
DEAD = (
    "pkgs/free",
    "registry.docker-cn.com",
    "mirror.baidubce.com",
    "docker.mirrors.ustc.edu.cn",
    "docker.mirrors.sjtug.sjtu.edu.cn",
    "docker.nju.edu.cn",
    "hub-mirror.c.163.com",
    "qiniu",
)
SECRET = "hunter2-s3cr3t"


def user_dir(ctx: Context) -> Path:
    path = ctx.xdg_config_home / "envdoctor" / "profiles"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write(ctx: Context, name: str, text: str) -> Path:
    path = user_dir(ctx) / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(ctx: Context, text: str, name: str = "mine") -> tuple[ProfileError, Path]:
    path = write(ctx, name, text)
    with pytest.raises(ProfileError) as caught:
        get_profile(ctx, name)
    return caught.value, path


# --- the shipped profiles ----------------------------------------------------------------


def test_every_shipped_profile_loads_and_validates(ctx):
    scan = scan_profiles(ctx)
    assert scan.errors == ()
    assert set(scan.profiles) == SHIPPED
    assert {p.origin for p in scan.profiles.values()} == {"shipped"}
    applicable = load_profiles(ctx)
    assert set(applicable) == SHIPPED - {"cn-base"}
    for profile in applicable.values():
        assert profile.description
        assert profile.targets
        json.dumps(profile_to_dict(profile))


def test_global_is_the_upstream_defaults(ctx):
    profile = get_profile(ctx, "global")
    assert profile.pip and profile.pip.index_url == "https://pypi.org/simple"
    assert profile.uv and profile.uv.default_index == "https://pypi.org/simple"
    assert profile.conda
    assert profile.conda.default_channels == (
        "https://repo.anaconda.com/pkgs/main",
        "https://repo.anaconda.com/pkgs/r",
        "https://repo.anaconda.com/pkgs/msys2",
    )
    assert profile.conda.channels_url == "https://conda.anaconda.org"
    assert profile.docker and profile.docker.registry_mirrors == ()
    assert profile.hf and profile.hf.endpoint == "https://huggingface.co"
    assert dict(profile.hf.env) == {}
    # modelscope's DEFAULT_MODELSCOPE_DOMAIN (modelscope/hub/constants.py)
    assert profile.modelscope and profile.modelscope.domain == "www.modelscope.cn"
    assert profile.sysctl and dict(profile.sysctl.values) == {
        "net.ipv4.tcp_congestion_control": "bbr",
        "net.core.default_qdisc": "fq",
    }
    assert not profile.opt_in


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("cn-tsinghua", "https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple"),
        ("cn-ustc", "https://mirrors.ustc.edu.cn/pypi/simple"),
        ("cn-aliyun", "https://mirrors.aliyun.com/pypi/simple"),
        ("cn-huawei", "https://mirrors.huaweicloud.com/repository/pypi/simple"),
        ("cn-tencent", "https://mirrors.cloud.tencent.com/pypi/simple"),
        ("cn-bfsu", "https://mirrors.bfsu.edu.cn/pypi/web/simple"),
        ("cn-sjtu", "https://mirror.sjtu.edu.cn/pypi/web/simple"),
        ("cn-nju", "https://mirror.nju.edu.cn/pypi/web/simple"),
        ("cn-mirrorz", "https://mirrors.cernet.edu.cn/pypi/web/simple"),
    ],
)
def test_cn_profiles_follow_mirrors_md(ctx, name, index):
    profile = get_profile(ctx, name)
    assert profile.extends == "cn-base"
    assert profile.pip and profile.pip.index_url == index
    assert profile.pip.trusted_hosts == ()
    assert profile.uv and profile.uv.default_index == index
    assert profile.hf and profile.hf.endpoint == "https://hf-mirror.com"
    assert dict(profile.hf.env) == {"HF_HUB_DISABLE_XET": "1"}
    assert profile.modelscope and profile.modelscope.domain == "www.modelscope.cn"
    assert profile.sysctl and profile.sysctl.values["net.ipv4.tcp_congestion_control"] == "bbr"
    assert profile.docker is None  # no university or cloud offers a public Docker Hub mirror
    assert not profile.opt_in


def test_conda_only_where_a_base_is_verified(ctx):
    bases = {
        "cn-tsinghua": "https://mirrors.tuna.tsinghua.edu.cn/anaconda",
        "cn-bfsu": "https://mirrors.bfsu.edu.cn/anaconda",
        "cn-sjtu": "https://mirror.sjtu.edu.cn/anaconda",
        "cn-nju": "https://mirror.nju.edu.cn/anaconda",
    }
    # cn-ustc: USTC redirects Anaconda's channels to TUNA since 2025-09 (profiles/README.md)
    for name in ("cn-aliyun", "cn-huawei", "cn-tencent", "cn-mirrorz", "cn-ustc"):
        assert get_profile(ctx, name).conda is None
    for name, base in bases.items():
        conda = get_profile(ctx, name).conda
        assert conda is not None
        assert conda.base_url == base
        assert conda.default_channels == tuple(f"{base}/pkgs/{c}" for c in ("main", "r", "msys2"))
        assert conda.custom_channel_urls == {
            "conda-forge": f"{base}/cloud",
            "pytorch": f"{base}/cloud",
        }


def test_docker_proxies_are_opt_in_and_carry_nothing_else(ctx):
    profile = get_profile(ctx, "cn-docker-proxies")
    assert profile.opt_in
    assert profile.targets == ("docker", "containerd", "podman")
    assert profile.containerd == profile.podman
    assert profile.containerd and profile.containerd.mirrored == [
        "docker.io",
        "ghcr.io",
        "registry.k8s.io",
        "quay.io",
        "nvcr.io",
        "gcr.io",
    ]
    assert profile.docker and profile.docker.registry_mirrors == (
        "https://docker.1ms.run",
        "https://docker.m.daocloud.io",
        "https://docker.1panel.live",
        "https://dockerproxy.net",
    )


def test_no_shipped_profile_names_a_dead_mirror_or_pkgs_free(ctx):
    for path in SHIPPED_DIR.glob("*.toml"):
        text = path.read_text().lower()
        for dead in DEAD:
            assert dead not in text, (path.name, dead)
    for profile in scan_profiles(ctx).profiles.values():
        rendered = json.dumps(profile_to_dict(profile)) + profile_to_toml(profile)
        for dead in DEAD:
            assert dead not in rendered, (profile.name, dead)
        for endpoint in endpoints(profile):
            assert endpoint.url.startswith("https://"), endpoint


def test_endpoints_list_one_url_per_target_and_mirror(ctx):
    assert endpoints(get_profile(ctx, "cn-tsinghua")) == [
        Endpoint("pip", "https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple", "cn-tsinghua"),
        Endpoint("uv", "https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple", "cn-tsinghua"),
        Endpoint("conda", "https://mirrors.tuna.tsinghua.edu.cn/anaconda/pkgs/main", "cn-tsinghua"),
        Endpoint("hf", "https://hf-mirror.com", "cn-tsinghua"),
        Endpoint("modelscope", "https://www.modelscope.cn", "cn-tsinghua"),
        Endpoint("apt", "https://mirrors.tuna.tsinghua.edu.cn/debian", "cn-tsinghua"),
        Endpoint("apt", "https://mirrors.tuna.tsinghua.edu.cn/ubuntu", "cn-tsinghua"),
        Endpoint("apt", "https://mirrors.tuna.tsinghua.edu.cn/ubuntu-ports", "cn-tsinghua"),
        Endpoint("npm", "https://registry.npmmirror.com/", "cn-tsinghua"),
        Endpoint("go", "https://goproxy.cn", "cn-tsinghua"),
        Endpoint("cargo", "https://mirrors.tuna.tsinghua.edu.cn/crates.io-index", "cn-tsinghua"),
        Endpoint("git", "https://hf-mirror.com", "cn-tsinghua"),
    ]
    proxies = endpoints(get_profile(ctx, "cn-docker-proxies"))
    assert len([e for e in proxies if e.target == "docker"]) == 4
    assert len([e for e in proxies if e.target == "containerd"]) == 9
    assert not [e for e in endpoints(get_profile(ctx, "global")) if e.target == "docker"]


def test_show_output_is_itself_a_valid_equivalent_profile(ctx):
    for name, profile in load_profiles(ctx).items():
        write(ctx, name, profile_to_toml(profile))
        again = get_profile(ctx, name)
        assert again.origin == "user"
        fields = ("description", "opt_in", *P.TARGETS)
        assert {f: getattr(again, f) for f in fields} == {f: getattr(profile, f) for f in fields}


def test_shipped_profiles_come_from_the_package_when_it_is_importable(ctx, monkeypatch, tmp_path):
    package = tmp_path / "shipped"
    package.mkdir()
    (package / "only.toml").write_text('[uv]\ndefault-index = "https://example.org/simple"\n')
    (package / "README.md").write_text("not a profile")
    monkeypatch.setattr(importlib.resources, "files", lambda name: package)
    scan = scan_profiles(ctx)
    assert list(scan.profiles) == ["only"]
    assert scan.profiles["only"].source == package / "only.toml"


def test_shipped_profiles_fall_back_to_the_source_tree(ctx, monkeypatch):
    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", missing)
    assert set(scan_profiles(ctx).profiles) == SHIPPED


# --- extends ---------------------------------------------------------------------------


def test_extends_merges_key_by_key_and_without_drops_targets(ctx):
    write(
        ctx,
        "campus",
        """
        extends = "cn-tsinghua"
        without = ["sysctl", "uv"]

        [pip]
        extra-index-urls = ["https://download.pytorch.org/whl/cu124"]

        [hf.env]
        HF_HUB_ETAG_TIMEOUT = "30"
        """,
    )
    profile = get_profile(ctx, "campus")
    assert profile.origin == "user"
    assert profile.description == "Tsinghua University TUNA"  # inherited
    assert profile.pip
    assert profile.pip.index_url == "https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple"
    assert profile.pip.extra_index_urls == ("https://download.pytorch.org/whl/cu124",)
    assert profile.hf and dict(profile.hf.env) == {
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_ETAG_TIMEOUT": "30",
    }
    assert profile.uv is None and profile.sysctl is None
    assert profile.conda and profile.conda.base_url.endswith("tsinghua.edu.cn/anaconda")


def test_a_child_base_url_moves_the_derived_channels_url(ctx):
    write(
        ctx, "other", 'extends = "cn-tsinghua"\n[conda]\nbase-url = "https://m.example.edu/conda"\n'
    )
    conda = get_profile(ctx, "other").conda
    assert conda and conda.channels_url == "https://m.example.edu/conda/cloud"
    assert conda.custom_channels == ("conda-forge", "pytorch")


def test_a_user_profile_extending_its_own_name_builds_on_the_shipped_one(ctx):
    write(ctx, "cn-tsinghua", 'extends = "cn-tsinghua"\n[docker]\nregistry-mirrors = []\n')
    profile = get_profile(ctx, "cn-tsinghua")
    assert profile.origin == "user"
    assert profile.docker and profile.docker.registry_mirrors == ()
    assert profile.pip and "tsinghua" in profile.pip.index_url


@pytest.mark.parametrize(
    "files",
    [
        {"a": 'extends = "b"', "b": 'extends = "a"'},
        {"a": 'extends = "b"', "b": 'extends = "c"', "c": 'extends = "a"'},
    ],
)
def test_extends_cycles_are_errors_naming_the_chain(ctx, files):
    for name, text in files.items():
        write(ctx, name, text + '\n[uv]\ndefault-index = "https://example.org/simple"\n')
    scan = scan_profiles(ctx)
    assert not set(files) & set(scan.profiles)
    cycle_errors = [e for e in scan.errors if "extends cycle" in e.message]
    assert {e.profile for e in cycle_errors} == set(files)
    for error in cycle_errors:
        assert error.key == "extends" and error.line == 1
    with pytest.raises(ProfileError, match="extends cycle: a -> b"):
        get_profile(ctx, "a")


def test_extending_a_missing_or_broken_profile_is_an_error_of_the_child(ctx):
    error, path = error_for(ctx, 'extends = "cn-tsinghau"\n')
    assert error.path == path and error.key == "extends" and error.line == 1
    assert error.hint and "cn-tsinghua" in error.hint
    write(ctx, "broken", "[pip]\nindex-url = 3\n")
    error, path = error_for(ctx, 'description = "x"\nextends = "broken"\n', "child")
    assert (error.profile, error.path, error.line) == ("child", path, 2)
    assert "broken" in error.message


def test_a_table_left_incomplete_after_merging_names_its_header(ctx):
    write(ctx, "base", 'abstract = true\n[uv]\ndefault-index = "https://e.org/simple"\n')
    error, path = error_for(ctx, 'extends = "base"\n\n[pip]\nextra-index-urls = []\n')
    assert (error.path, error.key, error.line) == (path, "pip", 3)
    assert "no index-url" in error.message
    with pytest.raises(ProfileError, match="abstract"):
        get_profile(ctx, "base")


# --- user profiles ----------------------------------------------------------------------


def test_user_profiles_add_to_and_replace_shipped_ones(ctx):
    write(ctx, "global", '[pip]\nindex-url = "https://pypi.example.com/simple"\n')
    write(ctx, "lab", 'description = "our lab"\n[hf]\nendpoint = "https://hf.lab.example"\n')
    scan = scan_profiles(ctx)
    assert scan.errors == ()
    assert scan.shadowed == {"global"}
    assert scan.profiles["lab"].origin == "user"
    assert scan.profiles["global"].origin == "user"
    assert scan.profiles["global"].targets == ("pip",)
    assert scan.profiles["cn-tsinghua"].origin == "shipped"


def test_a_broken_user_file_is_reported_and_hides_the_shipped_profile(ctx):
    write(ctx, "cn-ustc", "[pip\n")
    scan = scan_profiles(ctx)
    assert "cn-ustc" not in scan.profiles
    assert [e.profile for e in scan.errors] == ["cn-ustc"]
    with pytest.raises(ProfileError):
        get_profile(ctx, "cn-ustc")
    with pytest.raises(ProfileError):
        load_profiles(ctx)
    assert get_profile(ctx, "cn-nju").name == "cn-nju"  # the others still work


def test_unreadable_odd_and_hidden_user_files(ctx):
    directory = user_dir(ctx)
    (directory / "folder.toml").mkdir()
    (directory / ".#lock.toml").write_text("garbage")
    (directory / "latin.toml").write_bytes(b'description = "caf\xe9"\n')
    (directory / "big.toml").write_bytes(b"#" * (P.MAX_FILE_BYTES + 10))
    (directory / "bom.toml").write_bytes('\ufeff[uv]\ndefault-index = "https://e.org/s"\n'.encode())
    (directory / "Bad Name.toml").write_text('[uv]\ndefault-index = "https://e.org/s"\n')
    scan = scan_profiles(ctx)
    errors = {e.profile: e for e in scan.errors}
    assert set(errors) == {"folder", "latin", "big", "Bad Name"}
    assert errors["latin"].line == 1 and "UTF-8" in errors["latin"].message
    assert "KiB" in errors["big"].message
    assert "bom" in scan.profiles


def test_unknown_profile_names_suggest_the_closest(ctx):
    with pytest.raises(ProfileError) as caught:
        get_profile(ctx, "cn-tsinghau")
    assert caught.value.hint and "Did you mean 'cn-tsinghua'?" in caught.value.hint
    assert "cn-base" not in caught.value.hint


# --- validation: every error names file, key and line ------------------------------------

CASES = [
    # (text, key, line, fragment of the message)
    ('\n\n[pip]\nindex-url = "http://pypi.example.com/simple"\n', "pip.index-url", 4, "plain http"),
    ('[uv]\ndefault-index = "ftp://pypi.example.com/simple"\n', "uv.default-index", 2, "https"),
    ('[pip]\nindex-url = "pypi.example.com/simple"\n', "pip.index-url", 2, "https"),
    ('[pip]\nindex-url = "https://x.org/simple?token=1"\n', "pip.index-url", 2, "query"),
    ('[pip]\nindex-url = "https://x.org/a b"\n', "pip.index-url", 2, "white space"),
    ('[pip]\nindex-url = "https://"\n', "pip.index-url", 2, "host"),
    ('[pip]\nindex-url = "https://x.org:99999/"\n', "pip.index-url", 2, "not a valid URL"),
    ("[pip]\nindex-url = 3\n", "pip.index-url", 2, "expected a URL string, got an integer"),
    (
        '[pip]\nindex-url = "https://x.org/simple"\nextra-index-urls = [\n  "https://y.org/s",\n'
        '  # a comment ]\n  "http://z.org/s",\n]\n',
        "pip.extra-index-urls",
        6,
        "plain http",
    ),
    (
        '[pip]\nindex-url = "https://x.org/s"\nextra-index-urls = "https://y.org"\n',
        "pip.extra-index-urls",
        3,
        "expected a list of URLs, got a string",
    ),
    ('[conda]\nbase-url = "https://m.edu/anaconda/pkgs/free"\n', "conda.base-url", 2, "pkgs/free"),
    ('[conda]\nbase-url = "https://m.edu/anaconda/pkgs/main"\n', "conda.base-url", 2, "base"),
    (
        '[conda]\nbase-url = "https://m.edu/a"\ncustom-channels = "conda-forge"\n',
        "conda.custom-channels",
        3,
        "expected a list of channel names",
    ),
    (
        '[conda]\nbase-url = "https://m.edu/a"\ncustom-channels = [\n"conda-forge",\n"a/b"]\n',
        "conda.custom-channels",
        5,
        "not a channel name",
    ),
    ('[docker]\nregistry-mirrors = "https://d.example"\n', "docker.registry-mirrors", 2, "list"),
    ("[docker]\n", "docker", 1, "no registry-mirrors"),
    ('[hf]\nendpoint = "https://hf.example"\n[hf.env]\nPATH = "/tmp"\n', "hf.env.PATH", 4, "HF_"),
    ('[hf]\nendpoint = "https://hf.example"\n[hf.env]\nHF_x = "1"\n', "hf.env.HF_x", 4, "HF_"),
    (
        '[hf]\nendpoint = "https://hf.example"\n[hf.env]\nHF_TOKEN = "hf_abc"\n',
        "hf.env.HF_TOKEN",
        4,
        "credentials",
    ),
    (
        '[hf]\nendpoint = "https://hf.example"\nenv = { HF_HUB_DISABLE_XET = 1 }\n',
        "hf.env.HF_HUB_DISABLE_XET",
        3,
        "expected a string, got an integer",
    ),
    (
        '[hf]\nendpoint = "https://hf.example"\nenv = { HF_ENDPOINT = "https://x" }\n',
        "hf.env.HF_ENDPOINT",
        3,
        "endpoint",
    ),
    ('[modelscope]\ndomain = "https://www.modelscope.cn"\n', "modelscope.domain", 2, "bare host"),
    ('[modelscope]\ndomain = "www.modelscope.cn/models"\n', "modelscope.domain", 2, "host name"),
    ('[sysctl]\n"net.ipv4.ip_forward" = 1\n', 'sysctl."net.ipv4.ip_forward"', 2, "sysctl key"),
    ("[sysctl]\nkernel.panic = 1\n", "sysctl.kernel.panic", 2, "sysctl key"),
    ('[sysctl]\n"net/core/somaxconn" = 1\n', 'sysctl."net/core/somaxconn"', 2, "dots"),
    (
        '[sysctl]\nnet.ipv4.tcp_congestion_control = "bbr2x"\n',
        "sysctl.net.ipv4.tcp_congestion_control",
        2,
        "congestion control",
    ),
    (
        '[sysctl]\n"net.core.default_qdisc" = "fq codel"\n',
        'sysctl."net.core.default_qdisc"',
        2,
        "queueing discipline",
    ),
    ('[sysctl]\n"net.core.somaxconn" = "-1"\n', 'sysctl."net.core.somaxconn"', 2, "integer"),
    ('[sysctl]\n"net.core.somaxconn" = true\n', 'sysctl."net.core.somaxconn"', 2, "integer"),
    ('[sysctl]\n"net.ipv4.tcp_rmem" = "4096 87380"\n', 'sysctl."net.ipv4.tcp_rmem"', 2, "3 int"),
    ('[sysctl]\n"net.ipv4.tcp_rmem" = "9 8 7"\n', 'sysctl."net.ipv4.tcp_rmem"', 2, "order"),
    (
        '[sysctl]\n"net.ipv4.tcp_mtu_probing" = 3\n',
        'sysctl."net.ipv4.tcp_mtu_probing"',
        2,
        "0 to 2",
    ),
    (
        '[sysctl]\n"net.core.somaxconn" = 1\nnet.core.somaxconn = 2\n',
        "sysctl.net.core.somaxconn",
        3,
        "twice",
    ),
    ('name = "other"\n[uv]\ndefault-index = "https://e.org/s"\n', "name", 1, "file name"),
    ("name = 5\n", "name", 1, "expected a string, got an integer"),
    ('description = "x"\nopt-in = "yes"\n', "opt-in", 2, "true or false"),
    ('extends = "Not A Name"\n', "extends", 1, "not a profile name"),
    ('without = ["pip"]\n[uv]\ndefault-index = "https://e.org/s"\n', "without", 1, "extends"),
    ('extends = "global"\nwithout = [\n"pip",\n"dokcer"]\n', "without", 4, "dokcer"),
    (
        'extends = "global"\nwithout = ["pip"]\n[pip]\nindex-url = "https://e.org/s"\n',
        "without",
        2,
        "also sets",
    ),
    ("pip = 3\n", "pip", 1, "expected a table, got an integer"),
    ('description = "tab\\there"\n', "description", 1, "control character (U+0009)"),
    ('description = """\nline one\nline two"""\n', "description", 1, "line break"),
    ('description = "evil\\u202Etxt"\n', "description", 1, "U+202E"),
    ('"bad\\u0000key" = 1\n', '"bad\\u0000key"', 1, "control character"),
    ("[pip]\n'index-url' = 5\n", "pip.index-url", 2, "expected a URL string"),
    ('[uv]\n"default-index" = "http://e.org/s"\n', "uv.default-index", 2, "plain http"),
    ('[tool.pip]\nindex-url = "https://e.org/s"\n', "tool", 1, "unknown key"),
]


@pytest.mark.parametrize(("text", "key", "line", "fragment"), CASES)
def test_validation_errors_name_file_key_and_line(ctx, text, key, line, fragment):
    error, path = error_for(ctx, text)
    assert error.path == path
    assert error.key == key
    assert error.line == line
    assert fragment in str(error)  # the message or the hint says what is expected
    assert error.message.startswith(f"{path}:{line}: {key}: ")
    assert error.hint is None or "\n" not in error.hint


def test_toml_syntax_errors_name_file_and_line(ctx):
    error, path = error_for(ctx, 'description = "x"\n\n[pip\nindex-url = "https://e.org/s"\n')
    assert error.path == path and error.line == 3
    assert error.message.startswith(f"{path}:3: TOML syntax error")
    error, path = error_for(ctx, "a = 1\na = 2\n")
    assert error.line == 2 and "Cannot overwrite a value" in error.message


def test_unknown_keys_suggest_the_closest_allowed_one(ctx):
    error, _ = error_for(ctx, '[pip]\nindex_url = "https://e.org/simple"\n')
    assert error.key == "pip.index_url" and error.line == 2
    assert error.hint and error.hint.startswith("Did you mean 'index-url'?")
    error, _ = error_for(ctx, 'opt_in = true\n[uv]\ndefault-index = "https://e.org/s"\n')
    assert error.hint and error.hint.startswith("Did you mean 'opt-in'?")
    error, _ = error_for(ctx, '[sysctl]\n"net.ipv4.tcp_congestion_contrl" = "bbr"\n')
    assert error.hint and "Did you mean 'net.ipv4.tcp_congestion_control'?" in error.hint


@pytest.mark.parametrize(
    "text",
    [
        f'[pip]\nindex-url = "https://user:{SECRET}@pypi.example.com/simple"\n',
        f'[pip]\nindex-url = "http://user:{SECRET}@pypi.example.com/simple"\n',
        f'[docker]\nregistry-mirrors = ["https://x.org", "ftp://{SECRET}@d.example"]\n',
        f'[conda]\nbase-url = "https://{SECRET}:x@m.example/anaconda"\n',
        f'[modelscope]\ndomain = "https://u:{SECRET}@www.modelscope.cn"\n',
        f'[modelscope]\ndomain = "u:{SECRET}@www.modelscope.cn"\n',
        f'[pip]\nindex-url = "https://e.org/simple?token={SECRET}"\n',
    ],
)
def test_credentials_are_rejected_and_never_echoed(ctx, text):
    error, _ = error_for(ctx, text)
    assert SECRET not in str(error)
    assert SECRET not in repr(error.key)
    assert "***" in error.message


def test_http_needs_allow_http_and_makes_the_host_trusted(ctx):
    write(
        ctx,
        "plain",
        """
        [pip]
        allow-http = true
        index-url = "http://pypi.lan:8080/simple/"
        extra-index-urls = ["https://pypi.org/simple", "http://other.lan/simple"]
        """,
    )
    pip = get_profile(ctx, "plain").pip
    assert pip and pip.allow_http
    assert pip.index_url == "http://pypi.lan:8080/simple/"
    assert pip.trusted_hosts == ("pypi.lan:8080", "other.lan")
    # allow-http in one table does not cover another table
    error, _ = error_for(
        ctx,
        '[pip]\nallow-http = true\nindex-url = "http://a.lan/s"\n'
        '[uv]\ndefault-index = "http://a.lan/s"\n',
    )
    assert error.key == "uv.default-index" and error.line == 5


def test_sysctl_keys_may_be_quoted_or_dotted_and_values_are_normalised(ctx):
    write(
        ctx,
        "net",
        '[sysctl]\nnet.core.somaxconn = 4096\n"net.ipv4.tcp_rmem" = "4096  87380  6291456"\n'
        "[sysctl.net.ipv4]\ntcp_mtu_probing = 1\n",
    )
    values = get_profile(ctx, "net").sysctl
    assert values and dict(values.values) == {
        "net.core.somaxconn": "4096",
        "net.ipv4.tcp_rmem": "4096 87380 6291456",
        "net.ipv4.tcp_mtu_probing": "1",
    }


def test_a_profile_must_configure_something(ctx):
    error, path = error_for(ctx, 'description = "empty"\n')
    assert error.path == path and "configures no target" in error.message


# --- where keys are ---------------------------------------------------------------------


def test_key_lines_skip_strings_arrays_and_comments():
    text = """# [pip] in a comment
a = \"\"\"
[pip]
index-url = "not a key"
\"\"\" # trailing
b = [ # ]
  "]", '[x]', { c = 1 },
]
'lit.key' = 'x # not a comment'
"q\\"uo.ted" = 1
d.e . f = 2
[ tab . "le" ]
g = '''
'''''
h = {i = "{"}
[[arr]]
j = 1
"""
    tomlkit.parse(text)  # the fixture itself is valid TOML
    lines = KeyLines(text)
    assert lines.line_of(("a",)) == 2
    assert lines.line_of(("b",)) == 6
    assert lines.line_of(("lit.key",)) == 9
    assert lines.line_of(('q"uo.ted',)) == 10
    assert lines.line_of(("d", "e", "f")) == 11
    assert lines.line_of(("d",)) == 11
    assert lines.line_of(("tab", "le")) == 12
    assert lines.line_of(("tab", "le", "g")) == 13
    assert lines.line_of(("tab", "le", "h")) == 15
    assert lines.line_of(("tab", "le", "h", "i")) == 15  # inside an inline table
    assert lines.line_of(("arr", "j")) == 17
    assert lines.line_of(("pip",)) is None
    assert lines.line_of_item(("b",), "[x]") == 7


toml_keys = st.text(min_size=1, max_size=12)
scalars = st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.floats(allow_nan=False))
tables = st.recursive(
    st.dictionaries(toml_keys, scalars, max_size=4),
    lambda children: st.dictionaries(toml_keys, st.one_of(scalars, children), max_size=4),
    max_leaves=12,
)


def _leaves(table, prefix=()):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key)


@settings(max_examples=150, deadline=None)
@given(tables)
def test_every_key_tomlkit_writes_is_found_on_its_line(table):
    text = tomlkit.dumps(table)
    assume(tomlkit.parse(text).unwrap() == table)
    lines = KeyLines(text)
    source_lines = text.split("\n")  # not splitlines(): U+0085 in a key is no line break
    for path in _leaves(table):
        line = lines.line_of(path)
        assert line is not None, (path, text)
        assert "=" in source_lines[line - 1]


# --- hypothesis: nothing but ProfileError ----------------------------------------------

VALID_KEYS = sorted(
    {
        *P._META_KEYS,
        *P.TARGETS,
        *(
            k
            for t in P.TARGETS
            if t != "sysctl"
            for k in importlib.import_module(f"envdoctor.tools.{t}").TABLE_KEYS
        ),
    }
    | {*SYSCTL_KEYS, "HF_HUB_DISABLE_XET", "fuzz"}
)
url_like = st.one_of(
    st.sampled_from(
        [
            "https://pypi.org/simple",
            "http://pypi.lan/simple",
            "https://u:p@x.org/",
            "https://[::1]:8080/x",
            "https://x.org:0/",
            "https://",
            "www.modelscope.cn",
            "bbr",
            "fq",
            "4096 87380 6291456",
            "conda-forge",
            "fuzz",
            "global",
            "cn-base",
        ]
    ),
    st.text(max_size=30),
)
fuzz_scalars = st.one_of(
    url_like, st.integers(min_value=-5, max_value=2**40), st.booleans(), st.floats()
)
fuzz_keys = st.one_of(st.sampled_from(VALID_KEYS), st.text(min_size=1, max_size=10))
fuzz_values = st.recursive(
    fuzz_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(fuzz_keys, children, max_size=4)
    ),
    max_leaves=10,
)
random_documents = st.dictionaries(fuzz_keys, fuzz_values, max_size=6)
plain_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20)
good_urls = st.sampled_from(
    ["https://pypi.org/simple", "https://m.example.edu/anaconda", "https://hf.example/"]
)
urls = st.one_of(good_urls, url_like)
sysctl_values = st.one_of(
    st.sampled_from(["bbr", "fq", "cubic", "4096 87380 6291456", "1", "0", "3"]),
    st.integers(min_value=-1, max_value=2**33),
    plain_text,
)
table_values: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "pip": {"index-url": urls, "extra-index-urls": st.lists(urls, max_size=3)},
    "uv": {"default-index": urls},
    "conda": {
        "base-url": urls,
        "channels-url": urls,
        "custom-channels": st.lists(st.sampled_from(["conda-forge", "pytorch", "a/b"])),
    },
    "docker": {"registry-mirrors": st.lists(urls, max_size=3)},
    "containerd": {
        "mirrors": st.dictionaries(
            st.sampled_from(["docker.io", "ghcr.io", "Quay.io", "index.docker.io", "a b"]),
            st.lists(urls, max_size=2),
        )
    },
    "podman": {
        "mirrors": st.dictionaries(
            st.sampled_from(["docker.io", "nvcr.io", "x:5000"]), st.lists(urls, max_size=2)
        )
    },
    "hf": {
        "endpoint": urls,
        "env": st.dictionaries(st.sampled_from(["HF_HUB_DISABLE_XET", "HF_X", "PATH"]), plain_text),
    },
    "modelscope": {"domain": st.one_of(st.sampled_from(["www.modelscope.cn"]), urls)},
    "sysctl": {key: sysctl_values for key in SYSCTL_KEYS},
    "apt": {key: urls for key in ("debian", "debian-security", "ubuntu", "ubuntu-ports")},
    "npm": {"registry": urls},
    "go": {"proxy": urls, "sumdb": urls},
    "cargo": {
        "index": st.one_of(urls, urls.map(lambda url: f"sparse+{url}")),
    },
    "git": {"huggingface": urls},
}


def _table(target):
    values = table_values[target]
    if target != "modelscope":
        values = {**values, "allow-http": st.booleans()}
    optional = {key: st.one_of(strategy, fuzz_values) for key, strategy in values.items()}
    return st.fixed_dictionaries({}, optional=optional)


near_fields: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(["fuzz", "other"]),
    "description": plain_text,
    "extends": st.sampled_from(["global", "cn-base", "cn-tsinghua", "fuzz", "nope"]),
    "without": st.lists(st.sampled_from([*P.TARGETS, "pipp"]), max_size=2),
    "opt-in": st.booleans(),
    "abstract": st.booleans(),
    **{target: _table(target) for target in P.TARGETS},
}
near_profiles = st.fixed_dictionaries({}, optional=near_fields)
documents = st.one_of(random_documents, near_profiles)


def _outcome(ctx: Context):
    try:
        profile = get_profile(ctx, "fuzz")
    except ProfileError as error:
        assert error.message and "\n" not in error.message
        return None
    json.dumps(profile_to_dict(profile))
    return profile


@pytest.fixture(scope="module")
def fuzz_ctx(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    return Context.for_root(root, env={"XDG_CONFIG_HOME": str(root / "config")})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents_load_or_raise_profile_error(fuzz_ctx, document):
    try:
        text = tomlkit.dumps(document)
    except Exception:  # tomlkit cannot write every structure; those are not our inputs
        assume(False)
    write(fuzz_ctx, "fuzz", text)
    profile = _outcome(fuzz_ctx)
    if profile is not None:  # what `show` prints must load back to the same profile
        write(fuzz_ctx, "fuzz", profile_to_toml(profile))
        again = _outcome(fuzz_ctx)
        assert again is not None
        assert [getattr(again, t) for t in P.TARGETS] == [getattr(profile, t) for t in P.TARGETS]


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.lists(
            st.sampled_from(
                [
                    "[pip]",
                    "[sysctl]",
                    "[hf.env]",
                    'index-url = "https://e.org/s"',
                    "a = [",
                    '"""',
                    "'''",
                    "]",
                    "=",
                    "\n",
                    "#",
                    '"x.y" = 1',
                    "extends = 'fuzz'",
                    "\\",
                ]
            ),
            max_size=20,
        ).map("\n".join),
    )
)
def test_random_text_loads_or_raises_profile_error(fuzz_ctx, text):
    write(fuzz_ctx, "fuzz", text)
    _outcome(fuzz_ctx)
    lines = KeyLines(text)  # the scanner never fails, even on text that is not TOML
    source = text.splitlines()
    # ... and a line it names for a key holds that key (or its table header).
    for path in [("pip",), ("sysctl",), ("hf", "env"), ("extends",), ("x.y",)]:
        line = lines.line_of(path)
        assert line is None or 1 <= line <= len(source)
        if line is not None:
            assert path[-1] in source[line - 1], (path, line, source[line - 1])
    if '\nindex-url = "https://e.org/s"' in "\n" + text and "[pip]" not in text:
        assert lines.line_of(("pip", "index-url")) is None


# --- the CLI ----------------------------------------------------------------------------


@pytest.fixture
def run(ctx):
    runner = CliRunner()
    env = {"XDG_CONFIG_HOME": str(ctx.xdg_config_home), "COLUMNS": "200", "NO_COLOR": "1"}

    def invoke(*args):
        return runner.invoke(cli, ["profiles", *args], env=env)  # as people run it

    return invoke


def test_cli_lists_profiles_with_their_origin(ctx, run):
    write(ctx, "global", '[pip]\nindex-url = "https://pypi.example.com/simple"\n')
    write(ctx, "lab", 'description = "our lab"\n[uv]\ndefault-index = "https://e.org/s"\n')
    for result in (run(), run("list")):
        assert result.exit_code == 0, result.output
        rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
        assert set(SHIPPED) | {"lab"} <= set(rows)
        assert "user, replaces shipped" in rows["global"]
        assert re.search(r"lab\s+user\s+uv\s+our lab", rows["lab"])
        assert "(opt-in)" in rows["cn-docker-proxies"]
        assert "(base)" in rows["cn-base"]
        assert "pip uv conda hf modelscope sysctl" in rows["cn-tsinghua"]
        assert str(user_dir(ctx)) in result.stdout


def test_cli_list_shows_a_broken_file_and_exits_2(ctx, run):
    path = write(ctx, "oops", "[pip]\nindex-url = 3\n")
    result = run()
    assert result.exit_code == 2
    assert f"{path}:2: pip.index-url" in result.stdout
    assert re.search(r"^oops\s+user\s+-\s+invalid", result.stdout, re.MULTILINE)
    assert "cn-tsinghua" in result.stdout
    document = json.loads(run("list", "--json").stdout)
    assert document["errors"][0]["profile"] == "oops"
    assert document["errors"][0]["line"] == 2
    assert {p["name"] for p in document["profiles"]} == SHIPPED


def test_cli_show_prints_the_resolved_profile(run):
    result = run("show", "cn-sjtu")
    assert result.exit_code == 0, result.output
    data = tomlkit.parse(result.stdout).unwrap()
    assert data["pip"]["index-url"] == "https://mirror.sjtu.edu.cn/pypi/web/simple"
    assert data["hf"]["env"] == {"HF_HUB_DISABLE_XET": "1"}
    assert "extends" not in data
    assert "# default_channels" in result.stdout
    document = json.loads(run("show", "cn-sjtu", "--json").stdout)
    assert document["name"] == "cn-sjtu"
    assert document["targets"]["docker"] is None
    assert document["targets"]["conda"]["default_channels"][0].endswith("/anaconda/pkgs/main")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("show", "cn-tsinghau"), "Did you mean 'cn-tsinghua'?"),
        (("show", "cn-base"), "abstract"),
        (("show", "oops"), ":2: pip.index-url: expected a URL string"),
    ],
)
def test_cli_show_errors_exit_2_without_a_traceback(ctx, run, args, expected):
    write(ctx, "oops", "[pip]\nindex-url = 3\n")
    result = run(*args)
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("envdoctor: error: ")
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_cli_module_imports_only_click():
    import subprocess
    import sys

    code = (
        "import sys, envdoctor.cli_profiles; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('rich', 'tomlkit', 'envdoctor', 'json')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['envdoctor', 'envdoctor.cli_profiles']"
