"""How long each apply target takes to plan a ~1 MiB hostile-but-valid file (issue 11).

    python benchmarks/apply_large_inputs.py [--runs N] [--only pip,uv] [--profile]

For every target with a ``plan``, a temp root gets the files that target reads, each
just under 1 MiB and built to be hard (thousands of sections or tables, comments,
continuation lines, multi-line strings holding header-like text, CRLF endings), and the
target is planned with the shipped profile that sets it (``cn-tsinghua``, or
``cn-docker-proxies`` for the container runtimes), as ``apply --dry-run`` does: a fresh
Context per run, so nothing is memoised across runs.  The table shows the median plan
time per target; ``--profile`` prints the top of cProfile for each target instead.

The goal (issue 11 item 7): every target under 1 s for any input under 1 MiB.

Measured on the shared 2-core box (plan wall time, seconds, which is CPU time here):
"before" is one run of the code before this benchmark's changes, "after" the range of
the medians of three runs of 3, taken while other engineers used the box (load 0.9-1.9):

    target                 before   after       what it was
    pip                     2.92    0.65-1.00   configupdater parsed all 15,000 sections
    pip-crlf                4.58    0.74-0.89   the same, and pip's parse ran twice (*)
    uv                      4.97    0.84-1.05   tomlkit parsed all 11,600 [[index]] tables
    uv-crlf                 3.81    0.78-1.21
    cargo                   9.35    0.69-1.09   tomlkit, twice
    containerd (**)        21.9     0.54-0.68   tomlkit, four times
    containerd-registry     (**)    0.61-1.08   the CRI registry table edited in place
    containerd-hosts        (**)    1.07-1.18   a user's hosts.toml, mirrors moved first
    containerd-hosts-kept   (**)    0.32-0.50   one that already follows
    podman                  4.83    0.29-0.39   tomlkit read registries.conf
    sysctl                  2.62    0.04-0.07   fnmatch compiled a pattern per line
    conda (***)             9.73    0.46-0.62   ruamel.yaml's round-trip, load and dump,
                                                and a second load for the notes
    docker, apt, npm, go, git, env: under 0.3 s before and after

    (*) the CRLF files were 1.1 MiB before (10% more bytes, the same lines).
    (**) before, config.toml and a hosts.toml were one case: 21.9 s for both.
    (***) "before" 11.2 s when measured again (load 0.8) just before the change; "after"
    the medians of six runs of 3 at load 0.5-1.9.  The file is edited as text
    (tools/condarc_text.py) and judged by libyaml (tools/condarc_judge.py), which reads
    old and new text: the two reads of each are most of what is left.  A 1 MiB file of
    ~50,000 keys with flow values still takes ~2.6 s (libyaml's event stream alone is
    0.5 s a read; ruamel.yaml took 57 s for its edit alone).

What is left of pip, uv, cargo and containerd is one parse of the input by the client's
rules (configparser, tomllib) and, for TOML, one more of the result, which tomllib checks
whole: about two thirds of each time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envdoctor.context import Context  # noqa: E402
from envdoctor.planning import ApplyOptions, plan  # noqa: E402
from envdoctor.profiles import get_profile  # noqa: E402
from envdoctor.tools import containerd_files  # noqa: E402

MiB = 1 << 20
LIMIT = MiB - 4096  # every file stays under 1 MiB


def _fill(head: str, unit: Callable[[int], str], tail: str = "", limit: int = LIMIT) -> str:
    """``head``, then ``unit(i)`` for i = 0, 1, ... while the text stays under ``limit``."""
    parts, size, i = [head], len(head) + len(tail), 0
    while True:
        piece = unit(i)
        if size + len(piece) > limit:
            break
        parts.append(piece)
        size += len(piece)
        i += 1
    parts.append(tail)
    return "".join(parts)


def _pip(limit: int = LIMIT) -> str:
    return _fill(
        "; a pip.conf of many sections\n[global]\ntimeout = 30\nindex-url = https://a.example/simple\n"
        "trusted-host = a.example\n    b.example\n# a comment inside the value\n\n",
        lambda i: f"[s{i}]\nKey_{i} : v{i}\n    continued {i}\n; c {i}\nother = [x]\n\n",
        limit=limit,
    )


def _uv(limit: int = LIMIT) -> str:
    return _fill(
        '# uv.toml\nnative-tls = true\nindex-url = "https://a.example/simple"\n'
        'note = """\n[[index]]\nname = "not a table"\n"""\n\n',
        lambda i: (
            f'[[index]]\nname = "i{i}"  # comment\nurl = "https://e{i}.example/simple"\n'
            f"explicit = true\n\n"
        ),
        '[pip]\nindex-url = "https://b.example/simple"\n',
        limit=limit,
    )


def _condarc() -> str:
    return _fill(
        "# a big .condarc\nchannels:\n  - defaults\ncustom_channels:\n",
        lambda i: f"  ch{i}: https://c{i}.example/conda  # comment {i}\n",
        "show_channel_urls: true\n",
    )


def _daemon_json() -> str:
    return _fill(
        '{\n  "debug": true,\n  "registry-mirrors": ["https://m.example"],\n  "labels": [\n',
        lambda i: f'    "label{i}=value{i}",\n',
        '    "last=1"\n  ]\n}\n',
    )


def _containerd_config(*, registry: bool = False) -> str:
    cri = '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""\n\n'
    return _fill(
        "version = 2\n# containerd config\n" + (cri if registry else ""),
        lambda i: f'[plugins."io.containerd.plugin{i}"]\n  key = "value {i}"\n  flag = true\n\n',
    )


def _docker_io_mirrors() -> tuple[str, ...]:
    profile = get_profile(Context.for_root(Path("/nonexistent")), "cn-docker-proxies")
    assert profile.containerd is not None
    return dict(profile.containerd.registries)["docker.io"]


def _hosts_toml(*, mirrors_first: bool = False) -> str:
    first = "".join(
        f'[host."{url}"]\n  capabilities = ["pull", "resolve"]\n\n' for url in _docker_io_mirrors()
    )
    return _fill(
        'server = "https://registry-1.docker.io"\n\n' + (first if mirrors_first else ""),
        lambda i: (
            f'[host."https://h{i}.example"]\n  capabilities = ["pull", "resolve"]\n'
            f"  skip_verify = false\n\n"
        ),
    )


def _registries_conf() -> str:
    return _fill(
        'unqualified-search-registries = ["docker.io"]\n\n',
        lambda i: (
            f'[[registry]]\nprefix = "r{i}.example"\nlocation = "r{i}.example"\n'
            f'[[registry.mirror]]\nlocation = "m{i}.example"\n\n'
        ),
    )


def _sysctl() -> str:
    return _fill(
        "# sysctl.conf\n", lambda i: f"# comment {i}\nnet.ipv4.conf.eth{i}.rp_filter = 1\n"
    )


def _sources_list() -> str:
    return _fill(
        "deb http://deb.debian.org/debian bookworm main\n",
        lambda i: (
            f"# deb http://deb.debian.org/debian bookworm-{i} main\n"
            f"deb [arch=amd64] https://repo{i}.example/debian bookworm main\n"
        ),
    )


def _npmrc() -> str:
    return _fill(
        "registry=https://registry.npmjs.org/\n",
        lambda i: f"; comment {i}\n@scope{i}:registry=https://n{i}.example/\n",
    )


def _go_env() -> str:
    return _fill("GOPROXY=https://proxy.golang.org,direct\n", lambda i: f"GOX{i}=value{i}\n")


def _cargo() -> str:
    return _fill(
        '# cargo config\n[source.crates-io]\nreplace-with = "old"\n\n',
        lambda i: f'[registries.r{i}]\nindex = "sparse+https://r{i}.example/"\n\n',
    )


def _gitconfig() -> str:
    return _fill(
        "[user]\n\tname = Someone\n",
        lambda i: f'[remote "r{i}"]\n\turl = https://g{i}.example/r.git\n\tfetch = +refs/*\n',
    )


def _shell_rc() -> str:
    return _fill("# .bashrc\n", lambda i: f"export VAR_{i}=value_{i}  # comment\nalias a{i}='ls'\n")


def _crlf(build: Callable[[int], str]) -> str:
    """What ``build`` makes, with CRLF endings, still under 1 MiB."""
    text = build(LIMIT)
    lines = text.count("\n")
    return build(LIMIT - lines - 4096).replace("\n", "\r\n")


# target -> (profile, scope, {path under the root or "~/...": text})
CASES: dict[str, tuple[str, str, dict[str, str]]] = {
    "pip": ("cn-tsinghua", "system", {"etc/pip.conf": _pip()}),
    "pip-crlf": ("cn-tsinghua", "system", {"etc/pip.conf": _crlf(_pip)}),
    "uv": ("cn-tsinghua", "system", {"etc/uv/uv.toml": _uv()}),
    "uv-crlf": ("cn-tsinghua", "system", {"etc/uv/uv.toml": _crlf(_uv)}),
    "conda": ("cn-tsinghua", "system", {"etc/conda/.condarc": _condarc()}),
    "docker": ("cn-docker-proxies", "system", {"etc/docker/daemon.json": _daemon_json()}),
    "containerd": (
        "cn-docker-proxies",
        "system",
        {"etc/containerd/config.toml": _containerd_config()},
    ),
    "containerd-registry": (  # the CRI registry table is there: edited in place
        "cn-docker-proxies",
        "system",
        {"etc/containerd/config.toml": _containerd_config(registry=True)},
    ),
    "containerd-hosts": (  # a user's own hosts.toml, its hosts reordered
        "cn-docker-proxies",
        "system",
        {"etc/containerd/certs.d/docker.io/hosts.toml": _hosts_toml()},
    ),
    "containerd-hosts-kept": (  # the same, already following the profile: left alone
        "cn-docker-proxies",
        "system",
        {"etc/containerd/certs.d/docker.io/hosts.toml": _hosts_toml(mirrors_first=True)},
    ),
    "podman": (
        "cn-docker-proxies",
        "system",
        {"etc/containers/registries.conf": _registries_conf(), "usr/bin/podman": ""},
    ),
    "sysctl": ("cn-tsinghua", "system", {"etc/sysctl.conf": _sysctl()}),
    "apt": ("cn-tsinghua", "system", {"etc/apt/sources.list": _sources_list()}),
    "npm": ("cn-tsinghua", "system", {"usr/etc/npmrc": _npmrc()}),
    "go": ("cn-tsinghua", "user", {"~/.config/go/env": _go_env()}),
    "cargo": ("cn-tsinghua", "user", {"~/.cargo/config.toml": _cargo()}),
    "git": ("cn-tsinghua", "system", {"etc/gitconfig": _gitconfig()}),
    "env": (
        "cn-tsinghua",
        "user",
        {"~/.bashrc": _shell_rc(), "~/.profile": _shell_rc(), "~/.zshenv": _shell_rc()},
    ),
}


def _setup(case: str, root: Path) -> None:
    _, _, files = CASES[case]
    home = root / "home" / "u"
    home.mkdir(parents=True)
    for name, text in files.items():
        path = home / name[2:] if name.startswith("~/") else root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
        if name == "usr/bin/podman":
            path.chmod(0o755)
    ipv4 = root / "proc/sys/net/ipv4"  # a kernel that offers bbr, for sysctl
    ipv4.mkdir(parents=True)
    (ipv4 / "tcp_available_congestion_control").write_text("reno cubic bbr\n")
    (ipv4 / "tcp_congestion_control").write_text("cubic\n")
    (root / "proc/sys/net/core").mkdir(parents=True)
    (root / "proc/sys/net/core/default_qdisc").write_text("fq_codel\n")


def _plan_once(case: str, root: Path) -> tuple[float, float, int]:
    profile_name, scope, _ = CASES[case]
    ctx = Context.for_root(root, home=root / "home" / "u", env={
        "HOME": str(root / "home" / "u"), "PATH": "/usr/bin:/bin"
    })  # fmt: skip
    target = case.split("-")[0]
    containerd_files.read_toml.cache_clear()  # what one run parses, not a warm cache
    profile = get_profile(ctx, profile_name)
    started, cpu = time.perf_counter(), time.process_time()
    result = plan(ctx, target, profile, ApplyOptions(scope=scope))  # type: ignore[arg-type]
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if result.skipped:
        raise SystemExit(f"{case}: skipped ({result.skipped}): the benchmark set-up is wrong")
    return elapsed, cpu, sum(1 for change in result.changes if change.changed)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated cases")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 25")
    args = parser.parse_args()
    cases = [case for case in CASES if not args.only or case in args.only.split(",")]
    print(f"{'target':<20}{'bytes read':>12}{'changes':>9}{'median s':>10}{'max s':>8}{'cpu s':>8}")
    slow = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="envdoctor-bench-") as tmp:
            root = Path(tmp)
            _setup(case, root)
            size = sum(len(text.encode()) for text in CASES[case][2].values())
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                _plan_once(case, root)
                profiler.disable()
                print(f"--- {case}")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
                continue
            times, cpus, changed = [], [], 0
            for _ in range(args.runs):
                elapsed, cpu, changed = _plan_once(case, root)
                times.append(elapsed)
                cpus.append(cpu)
            median = statistics.median(times)
            if median >= 1.0:
                slow.append(case)
            print(
                f"{case:<20}{size:>12,}{changed:>9}{median:>10.3f}{max(times):>8.3f}"
                f"{statistics.median(cpus):>8.3f}"
            )
    if slow:
        print(f"over 1 s: {', '.join(slow)}")


if __name__ == "__main__":
    main()
