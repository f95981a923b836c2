"""Disk probe: directories, filesystems, grading, and a real (tiny) throughput test on tmp_path."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import namedtuple
from pathlib import Path

import pytest

import envdoctor.probes.disk as disk
from envdoctor.context import Context
from envdoctor.mounts import Mount, find_mount, parse_mountinfo
from envdoctor.requirements import CheckOptions, Requirements, Threshold
from envdoctor.results import Status
from envdoctor.units import GiB, MiB

# Small enough that the whole module runs in a few seconds, long enough to move some data.
BUDGET = 0.1
SLICE = 0.05

DETAIL_KEYS = {
    "path",
    "role",
    "exists",
    "measured_path",
    "filesystem",
    "mount_point",
    "device",
    "free_bytes",
    "total_bytes",
    "write_bytes_per_s",
    "read_bytes_per_s",
    "method",
    "cache_only",
    "bytes_tested",
    "tested_in",
    "speed_note",
}

Usage = namedtuple("Usage", "total used free")


def _mountinfo(tmp_path: Path, fstype: str = "ext4") -> None:
    lines = [
        "20 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
        f"30 20 0:40 / {os.path.realpath(tmp_path)} rw,relatime shared:9 - {fstype} fake rw",
    ]
    target = tmp_path / "proc" / "self" / "mountinfo"
    target.parent.mkdir(parents=True)
    target.write_text("\n".join(lines) + "\n")


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    home = tmp_path / "home" / "user"
    work = tmp_path / "work"
    for folder in (home, work, tmp_path / "hf" / "hub", tmp_path / "pip"):
        folder.mkdir(parents=True)
    _mountinfo(tmp_path)
    env = {"HF_HOME": str(tmp_path / "hf"), "PIP_CACHE_DIR": str(tmp_path / "pip")}
    return Context.for_root(tmp_path, env=env, home=home, cwd=work)


def _check(ctx: Context, options: CheckOptions | None = None):
    return disk.check(ctx, options or CheckOptions(), budget_s=BUDGET, min_slice_s=SLICE)


def _leftovers(root: Path) -> list[Path]:
    return sorted(root.rglob(f"{disk.TEMP_PREFIX}*"))


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path):
    yield
    assert _leftovers(tmp_path) == []
    assert not disk._LIVE_FILES


def _fake_throughput(monkeypatch, **fields):
    calls: list[tuple[Path, float]] = []

    def fake(directory: Path, budget_s: float, cancel=None, **_: object) -> disk.Throughput:
        calls.append((directory, budget_s))
        return disk.Throughput(**fields)

    monkeypatch.setattr(disk, "measure_throughput", fake)
    return calls


# ------------------------------------------------------------------ the real measurement


def test_defaults_are_model_cache_workdir_and_pip_cache(ctx: Context, tmp_path: Path):
    results = _check(ctx)

    assert [r.details["role"] for r in results] == ["model cache", "working directory", "pip cache"]
    assert [r.name for r in results] == [
        f"disk {tmp_path}/hf/hub",
        f"disk {tmp_path}/work",
        f"disk {tmp_path}/pip",
    ]
    for result in results:
        assert result.probe == "disk"
        assert set(result.details) == DETAIL_KEYS
        assert result.details["exists"] is True
        assert result.details["filesystem"] == "ext4"
        assert result.details["mount_point"] == os.path.realpath(tmp_path)
        assert result.details["free_bytes"] > 0
        assert result.details["total_bytes"] >= result.details["free_bytes"]
        assert result.details["method"] in (disk.METHOD_DIRECT, disk.METHOD_BUFFERED)
        assert result.details["write_bytes_per_s"] > 0
        assert result.details["read_bytes_per_s"] > 0
        assert result.details["bytes_tested"] >= disk.BLOCK_BYTES
        assert "\n" not in result.summary
        assert "free of" in result.summary
    # One filesystem, so one test, written in the first directory and shared by the others.
    assert {r.details["tested_in"] for r in results} == {str(tmp_path / "hf" / "hub")}
    assert "same filesystem as" not in results[0].summary
    assert f"same filesystem as {tmp_path}/hf/hub" in results[1].summary
    json.dumps([r.to_json() for r in results])


def test_measure_throughput_writes_in_the_directory_and_removes_the_file(
    tmp_path: Path, monkeypatch
):
    seen: list[list[str]] = []
    real_write = os.write

    def spying_write(fd: int, data) -> int:
        seen.append(os.listdir(tmp_path))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spying_write)
    result = disk.measure_throughput(tmp_path, 0.1)

    assert seen and all(len(names) == 1 for names in seen)
    assert seen[0][0].startswith(f"{disk.TEMP_PREFIX}{os.getpid()}-")
    assert result.bytes_written == len(seen) * disk.BLOCK_BYTES
    assert 0 < result.bytes_read <= result.bytes_written
    assert result.skipped is None and result.failed is None and not result.interrupted
    assert os.listdir(tmp_path) == []


def test_writes_stop_at_the_size_cap(tmp_path: Path):
    result = disk.measure_throughput(tmp_path, 5.0, size_cap=8 * MiB)

    assert result.bytes_written == 8 * MiB
    assert result.bytes_read == 8 * MiB


def test_run_uses_the_module_budget(ctx: Context, monkeypatch):
    calls = _fake_throughput(
        monkeypatch,
        method="O_DIRECT",
        write_bytes_per_s=GiB,
        read_bytes_per_s=GiB,
        bytes_written=GiB,
    )
    monkeypatch.setattr(disk, "BUDGET_S", 0.3)
    monkeypatch.setattr(disk, "MIN_SLICE_S", 0.01)

    disk.run(ctx, CheckOptions())

    assert [budget for _, budget in calls] == [0.3]


# ------------------------------------------------------------------ cleanup on every path


def test_cancel_mid_run_stops_and_removes_the_file(ctx: Context, tmp_path: Path, monkeypatch):
    real_write = os.write
    calls = 0

    def write_then_cancel(fd: int, data) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            ctx.cancel.set()
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write_then_cancel)
    results = disk.check(ctx, CheckOptions(), budget_s=30.0, min_slice_s=30.0)

    assert calls == 3
    assert all("interrupted" in r.summary for r in results)
    assert all(r.details["write_bytes_per_s"] is None for r in results)
    assert all(r.status is not Status.ERROR for r in results)


def test_exception_during_write_removes_the_file(tmp_path: Path, monkeypatch):
    real_write = os.write
    calls = 0

    def failing_write(fd: int, data) -> int:
        nonlocal calls
        calls += 1
        if calls == 4:
            assert len(_leftovers(tmp_path)) == 1
            raise RuntimeError("boom")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(RuntimeError, match="boom"):
        disk.measure_throughput(tmp_path, 30.0)
    assert calls == 4


def test_io_error_during_write_is_a_warning_not_a_crash(ctx: Context, monkeypatch):
    real_write = os.write
    calls = 0

    def eio_write(fd: int, data) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", eio_write)
    results = _check(ctx)

    assert results[0].status is Status.WARN
    assert "I/O error during the speed test" in results[0].summary
    assert results[0].details["read_bytes_per_s"] is None


def test_atexit_handler_removes_files_of_killed_threads(tmp_path: Path):
    orphan = tmp_path / f"{disk.TEMP_PREFIX}1-dead"
    orphan.write_bytes(b"x")
    disk._LIVE_FILES.add(str(orphan))

    disk._remove_live_files()

    assert not orphan.exists()
    assert not disk._LIVE_FILES


# ------------------------------------------------------------------ method reporting


def test_o_direct_refused_at_open_falls_back_to_fsync_and_fadvise(tmp_path: Path, monkeypatch):
    real_open = os.open
    advice: list[int] = []
    real_fadvise = os.posix_fadvise

    def no_direct_open(path, flags, *args):
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return real_open(path, flags, *args)

    def recording_fadvise(fd: int, offset: int, length: int, how: int) -> None:
        advice.append(how)
        real_fadvise(fd, offset, length, how)

    monkeypatch.setattr(os, "open", no_direct_open)
    monkeypatch.setattr(os, "posix_fadvise", recording_fadvise)
    result = disk.measure_throughput(tmp_path, 0.1)

    assert result.method == disk.METHOD_BUFFERED
    assert result.bytes_read > 0
    # The page cache is dropped after writing and again before reading back.
    assert advice == [os.POSIX_FADV_DONTNEED, os.POSIX_FADV_DONTNEED]


def test_o_direct_refused_at_first_write_falls_back(tmp_path: Path, monkeypatch):
    real_write = os.write
    calls = 0

    def first_write_einval(fd: int, data) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", first_write_einval)
    result = disk.measure_throughput(tmp_path, 0.1)

    assert result.method == disk.METHOD_BUFFERED
    assert result.bytes_written == (calls - 1) * disk.BLOCK_BYTES


def test_o_direct_is_reported_when_the_filesystem_allows_it(tmp_path: Path):
    probe = tmp_path / "probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
    except OSError:
        pytest.skip("the filesystem holding tmp_path does not support O_DIRECT")
    os.close(fd)
    probe.unlink()

    assert disk.measure_throughput(tmp_path, 0.1).method == disk.METHOD_DIRECT


# ------------------------------------------------------------------ directories


def test_missing_directory_is_measured_at_its_nearest_ancestor(ctx: Context, tmp_path: Path):
    missing = tmp_path / "work" / "not" / "yet"
    results = _check(ctx, CheckOptions(paths=(str(missing),)))

    [result] = results
    assert result.details["role"] == "requested"
    assert result.details["exists"] is False
    assert result.details["path"] == str(missing)
    assert result.details["measured_path"] == str(tmp_path / "work")
    assert result.details["tested_in"] == str(tmp_path / "work")
    assert result.summary.startswith(f"not created yet, measured at {tmp_path}/work · ")
    assert result.details["write_bytes_per_s"] > 0
    assert not missing.exists()


def test_requested_paths_replace_the_defaults(ctx: Context, tmp_path: Path, monkeypatch):
    _fake_throughput(monkeypatch, skipped="not tested")
    (ctx.home / "models").mkdir()
    results = _check(ctx, CheckOptions(paths=("~/models", "data", "~/models/")))

    assert [r.name for r in results] == ["disk ~/models", f"disk {tmp_path}/work/data"]
    assert [r.details["role"] for r in results] == ["requested", "requested"]
    assert results[0].details["path"] == str(ctx.home / "models")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "home/.cache/huggingface/hub"),
        ({"XDG_CACHE_HOME": "{root}/xdg"}, "xdg/huggingface/hub"),
        # huggingface_hub keeps a relative XDG_CACHE_HOME: relative to the working directory
        ({"XDG_CACHE_HOME": "relative/kept"}, "cwd/relative/kept/huggingface/hub"),
        ({"HF_HOME": "{root}/hf", "XDG_CACHE_HOME": "{root}/xdg"}, "hf/hub"),
        ({"HF_HOME": "~/hf"}, "home/hf/hub"),
        ({"HF_HOME": "$BIG/hf", "BIG": "{root}/big"}, "big/hf/hub"),
        ({"HUGGINGFACE_HUB_CACHE": "{root}/legacy", "HF_HOME": "{root}/hf"}, "legacy"),
        ({"HF_HUB_CACHE": "{root}/new", "HUGGINGFACE_HUB_CACHE": "{root}/legacy"}, "new"),
        ({"HF_HUB_CACHE": "${BIG}/models", "BIG": "{root}/big"}, "big/models"),
        ({"HF_HUB_CACHE": "cache"}, "cwd/cache"),
    ],
)
def test_hf_hub_cache_follows_huggingface_hub(tmp_path: Path, env, expected):
    env = {key: value.replace("{root}", str(tmp_path)) for key, value in env.items()}
    ctx = Context.for_root(tmp_path, env=env, home=tmp_path / "home", cwd=tmp_path / "cwd")

    assert disk.hf_hub_cache(ctx) == tmp_path / expected
    # ... and the real library agrees, in a process with that environment and directory.
    (tmp_path / "cwd").mkdir(exist_ok=True)
    real = subprocess.run(
        [sys.executable, "-c", "import huggingface_hub.constants as c; print(c.HF_HUB_CACHE)"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), **env},
        cwd=tmp_path / "cwd",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert (tmp_path / "cwd" / real).resolve() == (tmp_path / expected).resolve()


def test_pip_cache_location(tmp_path: Path):
    home = tmp_path / "home"
    plain = Context.for_root(tmp_path, home=home)
    xdg = Context.for_root(tmp_path, home=home, env={"XDG_CACHE_HOME": str(tmp_path / "x")})
    explicit = Context.for_root(tmp_path, home=home, env={"PIP_CACHE_DIR": "~/pc"})

    assert disk.pip_cache(plain) == home / ".cache" / "pip"
    assert disk.pip_cache(xdg) == tmp_path / "x" / "pip"
    assert disk.pip_cache(explicit) == home / "pc"


def test_docker_data_root(tmp_path: Path):
    ctx = Context.for_root(tmp_path)
    assert disk.docker_data_root(ctx) is None

    (tmp_path / "var" / "lib" / "docker").mkdir(parents=True)
    assert disk.docker_data_root(ctx) == tmp_path / "var" / "lib" / "docker"

    config = tmp_path / "etc" / "docker" / "daemon.json"
    config.parent.mkdir(parents=True)
    config.write_text("{not json")
    assert disk.docker_data_root(ctx) == tmp_path / "var" / "lib" / "docker"

    config.write_text(json.dumps({"data-root": "/srv/docker"}))
    assert disk.docker_data_root(ctx) is None  # configured but not created
    (tmp_path / "srv" / "docker").mkdir(parents=True)
    assert disk.docker_data_root(ctx) == tmp_path / "srv" / "docker"


def test_docker_data_root_is_checked_when_present(ctx: Context, tmp_path: Path, monkeypatch):
    _fake_throughput(monkeypatch, skipped="not tested")
    (tmp_path / "var" / "lib" / "docker").mkdir(parents=True)

    results = _check(ctx)

    assert results[-1].details["role"] == "docker data root"
    assert results[-1].name == f"disk {tmp_path}/var/lib/docker"


# ------------------------------------------------------------------ unwritable directories


def _refuse_under(monkeypatch, folder: Path, error: int) -> None:
    real_open = os.open

    def refusing_open(path, flags, *args):
        if Path(path).parent == folder and flags & os.O_CREAT:
            raise OSError(error, os.strerror(error), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (errno.EACCES, "no permission to write here"),
        (errno.EROFS, "read-only filesystem"),
        (errno.ENOSPC, "no space left"),
    ],
)
def test_unwritable_directory_reports_space_and_skips_speed(
    ctx: Context, tmp_path: Path, monkeypatch, error: int, reason: str
):
    locked = tmp_path / "locked"
    locked.mkdir()
    _refuse_under(monkeypatch, locked, error)

    [result] = _check(ctx, CheckOptions(paths=(str(locked),)))

    assert result.status is not Status.ERROR
    assert result.details["free_bytes"] > 0
    assert result.details["write_bytes_per_s"] is None
    assert result.details["method"] is None
    assert result.details["speed_note"] == f"speed not tested: {reason}"
    assert result.summary.endswith(f"speed not tested: {reason}")


def test_unwritable_directory_shares_a_writable_neighbours_measurement(
    ctx: Context, tmp_path: Path, monkeypatch
):
    locked = tmp_path / "locked"
    locked.mkdir()
    _refuse_under(monkeypatch, locked, errno.EACCES)

    results = _check(ctx, CheckOptions(paths=(str(locked), str(tmp_path / "work"))))

    assert [r.details["tested_in"] for r in results] == [str(tmp_path / "work")] * 2
    assert results[0].details["write_bytes_per_s"] > 0
    assert f"same filesystem as {tmp_path}/work" in results[0].summary


def test_too_little_free_space_skips_the_speed_test(tmp_path: Path, monkeypatch):
    stats = os.statvfs(tmp_path)

    class Nearly:
        f_bavail = 4
        f_frsize = stats.f_frsize

    monkeypatch.setattr(os, "statvfs", lambda path: Nearly())
    result = disk.measure_throughput(tmp_path, 0.1)

    assert result.skipped is not None
    assert result.skipped.startswith("only ")
    assert result.bytes_written == 0


# ------------------------------------------------------------------ grading


def _usage(monkeypatch, free: int, total: int = 1000 * GiB) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(total, total - free, free))


def test_low_space_fails_the_model_cache_but_only_warns_elsewhere(ctx: Context, monkeypatch):
    _fake_throughput(
        monkeypatch,
        method="O_DIRECT",
        write_bytes_per_s=GiB,
        read_bytes_per_s=2 * GiB,
        bytes_written=GiB,
    )
    _usage(monkeypatch, free=10 * GiB)

    model, workdir, pip = _check(ctx)

    assert model.status is Status.FAIL
    assert "10.0 GiB free of 1000.0 GiB (below the 20.0 GiB minimum)" in model.summary
    assert model.remedy is not None and "HF_HUB_CACHE" in model.remedy
    assert workdir.status is Status.WARN
    assert pip.status is Status.WARN
    assert pip.remedy is not None and "pip cache purge" in pip.remedy


def test_space_between_minimum_and_recommended(ctx: Context, monkeypatch):
    _fake_throughput(
        monkeypatch,
        method="O_DIRECT",
        write_bytes_per_s=GiB,
        read_bytes_per_s=2 * GiB,
        bytes_written=GiB,
    )
    _usage(monkeypatch, free=30 * GiB)

    model, workdir, pip = _check(ctx)

    assert model.status is Status.WARN
    assert "under the recommended 50.0 GiB" in model.summary
    assert (workdir.status, pip.status) == (Status.OK, Status.OK)
    assert workdir.remedy is None


def test_requested_paths_use_the_given_requirements(ctx: Context, tmp_path: Path, monkeypatch):
    _fake_throughput(
        monkeypatch,
        method="O_DIRECT",
        write_bytes_per_s=GiB,
        read_bytes_per_s=2 * GiB,
        bytes_written=GiB,
    )
    _usage(monkeypatch, free=30 * GiB)
    strict = Requirements(disk=Threshold.exactly(100 * GiB))
    lenient = Requirements(disk=Threshold.exactly(10 * GiB))
    path = (str(tmp_path / "work"),)

    [failing] = _check(ctx, CheckOptions(requirements=strict, paths=path))
    [passing] = _check(ctx, CheckOptions(requirements=lenient, paths=path))

    assert failing.status is Status.FAIL
    assert passing.status is Status.OK
    assert passing.summary == (
        "30.0 GiB free of 1000.0 GiB · ext4 · write 1.0 GiB/s, read 2.0 GiB/s (O_DIRECT)"
    )


def test_slow_disk_is_graded_with_the_throughput_thresholds(ctx: Context, monkeypatch):
    _fake_throughput(
        monkeypatch,
        method="O_DIRECT",
        write_bytes_per_s=10 * MiB,
        read_bytes_per_s=120 * MiB,
        bytes_written=10 * MiB,
    )
    _usage(monkeypatch, free=500 * GiB)

    model, workdir, _ = _check(ctx)

    assert model.status is Status.FAIL
    assert "write 10.0 MiB/s (below the 25.0 MiB/s minimum)" in model.summary
    assert "read 120.0 MiB/s (under the recommended 200.0 MiB/s)" in model.summary
    assert model.remedy is not None and "SSD" in model.remedy
    assert workdir.status is Status.WARN
    assert model.details["cache_only"] is False


def test_tmpfs_is_flagged_as_memory_and_not_graded_as_a_disk(tmp_path: Path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    _mountinfo(tmp_path, fstype="tmpfs")
    ctx = Context.for_root(tmp_path, env={"HF_HOME": str(tmp_path / "hf")}, home=home)
    _fake_throughput(
        monkeypatch,
        method="O_DIRECT",
        write_bytes_per_s=MiB,
        read_bytes_per_s=MiB,
        bytes_written=MiB,
    )
    _usage(monkeypatch, free=500 * GiB)

    model, workdir, _ = _check(ctx)

    assert model.details["filesystem"] == "tmpfs"
    assert model.details["cache_only"] is True
    assert model.status is Status.WARN  # 1 MiB/s would fail if graded as a disk
    assert "memory-backed tmpfs: speeds reflect RAM" in model.summary
    assert model.remedy is not None and "HF_HUB_CACHE" in model.remedy
    assert workdir.status is Status.OK


def test_faster_than_any_disk_is_flagged_as_cache(ctx: Context, monkeypatch):
    _fake_throughput(
        monkeypatch,
        method="fsync+fadvise",
        write_bytes_per_s=GiB,
        read_bytes_per_s=40 * GiB,
        bytes_written=GiB,
    )
    _usage(monkeypatch, free=500 * GiB)
    requirements = Requirements(disk_write=Threshold.exactly(100 * GiB))

    results = _check(ctx, CheckOptions(requirements=requirements))

    assert all(r.details["cache_only"] is True for r in results)
    assert all(r.status is Status.OK for r in results)
    assert "served from memory/cache, not graded" in results[0].summary


# ------------------------------------------------------------------ filesystems and devices


def test_each_filesystem_is_tested_once_with_a_share_of_the_budget(
    ctx: Context, tmp_path: Path, monkeypatch
):
    calls = _fake_throughput(
        monkeypatch,
        method="O_DIRECT",
        write_bytes_per_s=GiB,
        read_bytes_per_s=GiB,
        bytes_written=GiB,
    )
    folders = [tmp_path / name for name in ("a", "b", "c", "d")]
    for folder in folders:
        folder.mkdir()
    devices = {folders[0]: 1, folders[1]: 2, folders[2]: 1, folders[3]: 3}
    monkeypatch.setattr(disk, "_device", lambda path: devices[path])

    results = disk.check(
        ctx, CheckOptions(paths=tuple(map(str, folders))), budget_s=1.5, min_slice_s=0.4
    )

    assert calls == [(folders[0], 0.5), (folders[1], 0.5), (folders[3], 0.5)]
    assert [r.details["device"] for r in results] == [1, 1, 2, 3]
    assert [r.details["tested_in"] for r in results] == [
        str(folders[0]),
        str(folders[0]),
        str(folders[1]),
        str(folders[3]),
    ]
    assert f"same filesystem as {folders[0]}" in results[1].summary


def test_many_filesystems_get_at_least_the_minimum_slice(ctx: Context, tmp_path: Path, monkeypatch):
    calls = _fake_throughput(monkeypatch, skipped="not tested")
    folders = [tmp_path / str(number) for number in range(5)]
    for folder in folders:
        folder.mkdir()
    monkeypatch.setattr(disk, "_device", lambda path: int(path.name))

    disk.check(ctx, CheckOptions(paths=tuple(map(str, folders))), budget_s=1.0, min_slice_s=0.4)

    assert [budget for _, budget in calls] == [0.4] * 5


def test_parse_mountinfo_handles_escapes_and_optional_fields():
    text = (
        "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:2 - ext3 /dev/root rw\n"
        "37 35 0:30 / /data rw - xfs /dev/nvme0n1p1 rw\n"
        "garbage line\n"
    )
    assert parse_mountinfo(text) == [
        Mount("/mnt/with space", "ext3"),
        Mount("/data", "xfs"),
    ]


def test_find_mount_takes_the_longest_prefix_and_the_top_of_a_stack():
    mounts = [
        Mount("/", "ext4"),
        Mount("/home", "xfs"),
        Mount("/home/user/fast", "nfs"),
        Mount("/home", "btrfs"),
    ]

    assert find_mount(mounts, "/home/user/x") == Mount("/home", "btrfs")
    assert find_mount(mounts, "/home/user/fast/a") == Mount("/home/user/fast", "nfs")
    assert find_mount(mounts, "/home2") == Mount("/", "ext4")
    assert find_mount(mounts, "/") == Mount("/", "ext4")
    assert find_mount([], "/x") is None


def test_proc_mounts_is_used_without_mountinfo(tmp_path: Path, monkeypatch):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "mounts").write_text(
        f"/dev/sda1 / ext4 rw 0 0\nserver:/x {os.path.realpath(tmp_path)} nfs4 rw 0 0\n"
    )
    ctx = Context.for_root(tmp_path, env={"HF_HOME": str(tmp_path)}, home=tmp_path)
    _fake_throughput(monkeypatch, skipped="not tested")

    results = _check(ctx)

    assert {r.details["filesystem"] for r in results} == {"nfs4"}


def test_unknown_filesystem_without_a_mount_table(tmp_path: Path, monkeypatch):
    ctx = Context.for_root(tmp_path, env={"HF_HOME": str(tmp_path)}, home=tmp_path)
    _fake_throughput(monkeypatch, skipped="not tested")

    result = _check(ctx)[0]

    assert result.details["filesystem"] is None
    assert result.details["mount_point"] is None
    assert "unknown filesystem" in result.summary


def test_cancel_before_start_measures_nothing(ctx: Context, monkeypatch):
    calls = _fake_throughput(monkeypatch, skipped="not tested")
    ctx.cancel.set()

    results = _check(ctx)

    assert calls == []
    assert all(r.details["speed_note"] == "speed not tested: interrupted" for r in results)


def test_measurement_in_a_thread_is_cancellable(tmp_path: Path):
    cancel = threading.Event()
    cancel.set()

    result = disk.measure_throughput(tmp_path, 10.0, cancel)

    assert result.interrupted
    assert result.bytes_written == 0
