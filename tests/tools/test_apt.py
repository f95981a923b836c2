"""envdoctor.tools.apt on stock Debian 12 and Ubuntu 24.04 sources, checked by real apt.

``apt-get update --print-uris`` (under ``-o Dir=<tmp root>``) shows where apt fetches every
suite from once the plan is written, and a real ``apt-get update`` accepts the signed
``InRelease`` of a loopback repository the test builds with ``apt-ftparchive`` and a key
it makes with gpg; the freshness the check reports comes from the file apt stored.
"""

from __future__ import annotations

import difflib
import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envdoctor import transaction
from envdoctor.checkup import Checkup, LoginEnv, Remedies
from envdoctor.context import Context
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile
from envdoctor.results import TargetPlan
from envdoctor.tools import apt
from envdoctor.tools.apt import AptSettings
from envdoctor.tools.apt_sources import edit_deb822, edit_one_line, inrelease_date, lists_file_name

DATA = Path(__file__).parent / "data" / "apt"
SYSTEM = ApplyOptions(scope="system")
MIRROR = "https://mirrors.example.edu.cn"


def profile(**archives: str) -> Profile:
    table = {key.replace("_", "-"): url for key, url in archives.items()}
    return Profile(
        name="test",
        description="",
        source=Path("test.toml"),
        origin="user",
        apt=AptSettings(
            MappingProxyType(table), any(u.startswith("http:") for u in table.values())
        ),
    )


def put(ctx: Context, system_path: str, data: bytes) -> Path:
    path = ctx.path(system_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def apply_plan(ctx: Context, plan: TargetPlan) -> str:
    changes = [change for change in plan.changes if change.changed]
    record = transaction.apply_changes(
        ctx,
        changes,
        journal=transaction.journal_dir(ctx, "system"),
        description="test",
        profile="test",
    )
    return record.id


def changed_lines(old: bytes, new: bytes) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(
            old.decode().splitlines(), new.decode().splitlines(), lineterm="", n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


# --- minimal edits, idempotence, rollback ---------------------------------------------


def test_stock_debian_12_changes_only_the_uris_and_rolls_back(ctx: Context) -> None:
    original = fixture("debian12-debian.sources")
    path = put(ctx, "/etc/apt/sources.list.d/debian.sources", original)
    put(ctx, "/etc/apt/sources.list.d/docker.sources", fixture("docker.sources"))
    plan = apt.plan(ctx, profile(debian=f"{MIRROR}/debian"), SYSTEM)
    assert [change.display for change in plan.changes] == ["/etc/apt/sources.list.d/debian.sources"]
    change = plan.changes[0]
    assert changed_lines(original, change.new or b"") == [
        "-URIs: http://deb.debian.org/debian",
        f"+URIs: {MIRROR}/debian",
    ]
    assert any("debian-security entries stay" in note for note in plan.notes)
    assert any("1 entries of other repositories" in note for note in plan.notes)
    apply_id = apply_plan(ctx, plan)
    assert apt.plan(ctx, profile(debian=f"{MIRROR}/debian"), SYSTEM).changes == ()
    transaction.rollback(ctx, transaction.journal_dir(ctx, "system"), apply_id)
    assert path.read_bytes() == original


def test_stock_ubuntu_24_04_moves_security_only_when_the_profile_says(ctx: Context) -> None:
    original = fixture("ubuntu2404-ubuntu.sources")
    put(ctx, "/etc/apt/sources.list", fixture("ubuntu2404-sources.list"))
    put(ctx, "/etc/apt/sources.list.d/ubuntu.sources", original)
    put(ctx, "/etc/apt/sources.list.d/cuda-ubuntu2404.list", fixture("cuda-ubuntu2404.list"))
    put(ctx, "/etc/apt/sources.list.d/docker.sources", fixture("docker.sources"))
    main_only = apt.plan(ctx, profile(ubuntu=f"{MIRROR}/ubuntu"), SYSTEM)
    assert changed_lines(original, main_only.changes[0].new or b"") == [
        "-URIs: http://archive.ubuntu.com/ubuntu/",
        f"+URIs: {MIRROR}/ubuntu/",  # the trailing slash of the original kept
    ]
    both = apt.plan(
        ctx, profile(ubuntu=f"{MIRROR}/ubuntu", ubuntu_security=f"{MIRROR}/ubuntu"), SYSTEM
    )
    assert len(both.changes) == 1  # neither the CUDA nor the Docker repository
    assert changed_lines(original, both.changes[0].new or b"") == [
        "-URIs: http://archive.ubuntu.com/ubuntu/",
        f"+URIs: {MIRROR}/ubuntu/",
        "-URIs: http://security.ubuntu.com/ubuntu/",
        f"+URIs: {MIRROR}/ubuntu/",
    ]


def test_legacy_sources_list_keeps_comments_options_and_crlf(ctx: Context) -> None:
    original = fixture("debian11-sources.list")
    put(ctx, "/etc/apt/sources.list", original)
    plan = apt.plan(
        ctx,
        profile(debian=f"{MIRROR}/debian", debian_security=f"{MIRROR}/debian-security"),
        SYSTEM,
    )
    new = plan.changes[0].new or b""
    assert new.count(b"\r\n") == original.count(b"\r\n")
    lines = new.decode().splitlines()
    assert lines[0] == f"deb {MIRROR}/debian bullseye main contrib non-free"
    assert lines[1] == "# deb http://deb.debian.org/debian bullseye main"  # a comment stays
    assert lines[2] == f"deb-src {MIRROR}/debian bullseye main"
    assert lines[3] == f"deb {MIRROR}/debian-security bullseye-security main contrib"
    assert lines[4] == (
        "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        f"{MIRROR}/debian bullseye-updates main # the updates"
    )


def test_user_scope_and_foreign_systems_are_skipped(ctx: Context) -> None:
    assert apt.plan(ctx, profile(debian=MIRROR + "/debian"), ApplyOptions()).skipped
    put(ctx, "/etc/apt/sources.list.d/docker.sources", fixture("docker.sources"))
    plan = apt.plan(ctx, profile(debian=MIRROR + "/debian"), SYSTEM)
    assert plan.skipped == "no Debian or Ubuntu archive in apt's sources"


# --- what real apt reads ----------------------------------------------------------------


def _apt_options(root: Path) -> list[str]:
    for directory in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    status = root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True, exist_ok=True)
    status.touch()
    return [
        "-o",
        f"Dir={root}",
        "-o",
        f"Dir::State::status={status}",
        "-o",
        "Dir::Bin::Methods=/usr/lib/apt/methods",
        "-o",
        "Debug::NoLocking=1",
        "-o",
        "APT::Sandbox::User=root",
        "-o",
        "Acquire::Languages=none",
    ]


def _apt_get(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("apt-get")
    if program is None:
        pytest.skip("apt-get is not installed (Debian's apt)")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    return subprocess.run(
        [program, *_apt_options(root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_apt_fetches_every_suite_from_the_mirror_the_profile_names(ctx: Context) -> None:
    put(ctx, "/etc/apt/sources.list.d/ubuntu.sources", fixture("ubuntu2404-ubuntu.sources"))
    put(ctx, "/etc/apt/sources.list.d/docker.sources", fixture("docker.sources"))
    apply_plan(ctx, apt.plan(ctx, profile(ubuntu=f"{MIRROR}/ubuntu"), SYSTEM))
    result = _apt_get(ctx.root, "update", "--print-uris")
    assert result.returncode == 0, result.stderr
    releases = {
        line.split("'")[1]: line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith("'") and "InRelease" in line
    }
    assert set(releases) == {
        f"{MIRROR}/ubuntu/dists/noble/InRelease",
        f"{MIRROR}/ubuntu/dists/noble-updates/InRelease",
        f"{MIRROR}/ubuntu/dists/noble-backports/InRelease",
        # the profile names no mirror for security updates: they stay upstream
        "http://security.ubuntu.com/ubuntu/dists/noble-security/InRelease",
        "https://download.docker.com/linux/ubuntu/dists/noble/InRelease",
    }
    # the name the check looks for in /var/lib/apt/lists is the one apt gives the file
    for uri, name in releases.items():
        base, _, rest = uri.partition("/dists/")
        assert lists_file_name(base, rest.removesuffix("/InRelease")) == name
    config = apt.resolve(ctx)
    assert config is not None
    assert config.value("noble-security") == ("http://security.ubuntu.com/ubuntu/",)
    assert config.value("noble") == (f"{MIRROR}/ubuntu/",)


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> bytes:
    result = subprocess.run(args, capture_output=True, env=env, cwd=cwd, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.fixture
def signed_repository(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback Debian archive: ``/debian`` (bookworm, bookworm-updates) and
    ``/debian-security`` (bookworm-security), each InRelease signed with a new key."""
    for program in ("apt-ftparchive", "gpg"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (Debian's apt-utils, gnupg)")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {"PATH": os.environ["PATH"], "GNUPGHOME": str(home), "LC_ALL": "C"}
    gpg = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    _run([*gpg, "--quick-gen-key", "envdoctor test <t@example>", "ed25519", "sign", "never"], env)
    key = tmp_path / "archive-key.gpg"
    key.write_bytes(_run([*gpg, "--export"], env))
    served = tmp_path / "www"
    for archive, suite in (
        ("debian", "bookworm"),
        ("debian", "bookworm-updates"),
        ("debian-security", "bookworm-security"),
    ):
        dist = served / archive / "dists" / suite
        (dist / "main" / "binary-amd64").mkdir(parents=True)
        (dist / "main" / "binary-amd64" / "Packages").write_bytes(b"")
        release = _run(
            [
                "apt-ftparchive",
                "-o", f"APT::FTPArchive::Release::Suite={suite}",
                "-o", f"APT::FTPArchive::Release::Codename={suite}",
                "-o", "APT::FTPArchive::Release::Components=main",
                "-o", "APT::FTPArchive::Release::Architectures=amd64",
                "release", ".",
            ],
            env,
            cwd=dist,
        )  # fmt: skip
        (dist / "Release").write_bytes(release)
        _run([*gpg, "--clearsign", "-o", str(dist / "InRelease"), str(dist / "Release")], env)
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", key
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_real_apt_update_accepts_the_mirror_and_the_check_reports_its_date(
    ctx: Context, signed_repository: tuple[str, Path]
) -> None:
    base, key = signed_repository
    stock = fixture("debian12-debian.sources").decode()
    signed = stock.replace("/usr/share/keyrings/debian-archive-keyring.gpg", str(key))
    put(ctx, "/etc/apt/sources.list.d/debian.sources", signed.encode())
    plan = apt.plan(
        ctx, profile(debian=f"{base}/debian", debian_security=f"{base}/debian-security"), SYSTEM
    )
    apply_plan(ctx, plan)
    result = _apt_get(ctx.root, "update")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "W:" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert result.stdout.count("Get:") >= 3 and base in result.stdout

    config = apt.resolve(ctx)
    assert config is not None
    fresh = apt.freshness(ctx, config)
    assert {(item.uri, item.suite) for item in fresh} == {
        (f"{base}/debian", "bookworm"),
        (f"{base}/debian", "bookworm-updates"),
        (f"{base}/debian-security", "bookworm-security"),
    }
    now = datetime.now(timezone.utc)
    for item in fresh:
        assert now - timedelta(minutes=5) < item.date <= now + timedelta(seconds=1)
    remedies = Remedies(ctx, None, None)
    row = apt.diagnose(ctx, {"apt": config}, Checkup(remedies, LoginEnv({}, [])))
    assert row is not None
    result_row = row.result(drift_checked=False)
    assert result_row.status.value == "ok", result_row.summary
    assert f"{base}/debian-security (/etc/apt/sources.list.d/debian.sources)" in row.summary
    assert len(result_row.details["freshness"]) == 3


def test_an_expired_inrelease_is_a_warning(ctx: Context) -> None:
    put(ctx, "/etc/apt/sources.list.d/debian.sources", fixture("debian12-debian.sources"))
    lists = ctx.path("/var/lib/apt/lists")
    lists.mkdir(parents=True)
    name = lists_file_name("http://deb.debian.org/debian-security", "bookworm-security")
    old = (
        "Origin: Debian\nDate: Sat, 10 May 2025 09:04:12 UTC\n"
        "Valid-Until: Sat, 17 May 2025 09:04:12 UTC\nSuite: stable-security\n"
    )
    (lists / name).write_text(old)
    assert inrelease_date(old) == datetime(2025, 5, 10, 9, 4, 12, tzinfo=timezone.utc)
    newer = old.replace("10 May", "12 May")
    assert apt.release_lag_s(old, newer) == 2 * 86400
    config = apt.resolve(ctx)
    assert config is not None
    row = apt.diagnose(ctx, {"apt": config}, Checkup(Remedies(ctx, None, None), LoginEnv({}, [])))
    assert row is not None
    assert any("expired on 2025-05-17" in finding.message for finding in row.findings)


_STANZAS = [
    "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
    "Components: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
    "Types: deb deb-src\nURIs: http://security.ubuntu.com/ubuntu/\nSuites: noble-security\n"
    "Components: main universe\n",
    "Types: deb\nURIs: https://download.docker.com/linux/ubuntu\nSuites: noble\n"
    "Components: stable\n",
    "Types: deb\n# a comment inside\nURIs: http://a.example/extra\n http://deb.debian.org/debian\n"
    "Suites: trixie\nComponents: main\nEnabled: no\n",
    "Types: deb\nURIs: https://developer.download.nvidia.com/compute/cuda/repos/x/\nSuites: /\n",
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(_STANZAS), min_size=1, max_size=5),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from(["", "# header\n", "\n\n"]),
)
def test_deb822_edits_touch_only_uri_lines_and_are_idempotent(
    stanzas: list[str], ending: str, lead: str
) -> None:
    text = (lead + "\n".join(stanzas)).replace("\n", ending)
    targets = {"debian": f"{MIRROR}/debian", "ubuntu-security": f"{MIRROR}/ubuntu"}
    once = edit_deb822(text, targets)
    assert edit_deb822(once, targets) == once
    before, after = text.split(ending), once.split(ending)
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        if old != new:
            assert old.startswith(("URIs:", " ")) and "docker" not in old and "nvidia" not in old
    # every distribution URI moved (the second URI of a stanza too), no other one did
    assert "http://deb.debian.org/debian" not in once
    assert "security.ubuntu.com" not in once
    assert once.count("http://a.example/extra") == text.count("http://a.example/extra")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "deb http://deb.debian.org/debian bookworm main",
                "deb [arch=amd64] http://deb.debian.org/debian-security bookworm-security main",
                "# deb http://deb.debian.org/debian bookworm main",
                "deb https://download.docker.com/linux/debian bookworm stable",
                "deb-src http://archive.ubuntu.com/ubuntu noble main universe # sources",
                "",
            ]
        ),
        max_size=6,
    )
)
def test_one_line_edits_are_idempotent_and_keep_every_other_line(lines: list[str]) -> None:
    text = "".join(line + "\n" for line in lines)
    targets = {"debian": f"{MIRROR}/debian", "ubuntu": f"{MIRROR}/ubuntu"}
    once = edit_one_line(text, targets)
    assert edit_one_line(once, targets) == once
    for old, new in zip(text.splitlines(), once.splitlines(), strict=True):
        if old.startswith("#") or "docker" in old or "security" in old or not old:
            assert old == new
        else:
            assert new.replace(MIRROR, "") != old and MIRROR in new


def test_two_mirrors_of_one_archive_become_one_uri() -> None:
    text = (
        "Types: deb\nURIs: http://deb.debian.org/debian\n"
        "# the second one, for when the first is down\n"
        " http://ftp.de.debian.org/debian\nSuites: bookworm\nComponents: main\n"
    )
    assert edit_deb822(text, {"debian": f"{MIRROR}/debian"}) == (
        f"Types: deb\nURIs: {MIRROR}/debian\n# the second one, for when the first is down\n"
        "Suites: bookworm\nComponents: main\n"
    )
