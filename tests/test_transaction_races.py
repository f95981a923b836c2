"""A user editing a file while envdoctor writes it never loses the edit (issue #11, 1-2).

Each dangerous moment gets a deterministic hook that makes the "user" edit the file right
then: after the journal's manifest exists, while the temp file is written, between the last
check and the rename, through a descriptor opened before the rename, after the rename, and
during the restore of a failed apply or a rollback.  One test races a real appending
process against 300 applies.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from envdoctor import safewrite
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.results import FileChange
from envdoctor.transaction import apply_changes, history, journal_dir, rollback
from tests.txhelp import REPO, Renames, append, change, do_apply, fd_path, temps, write

PIP = b"[global]\ntimeout = 5\n"
CONDARC = b"channels:\n  - defaults\n"
LINE = b"# the user's line\n"
CONDARC_NEW = CONDARC + b"show_channel_urls: true\n"


@pytest.fixture
def journal(ctx: Context) -> Path:
    return journal_dir(ctx, "user")


def _two(ctx: Context) -> tuple[Path, Path, list[FileChange]]:
    """``~/.condarc`` then ``pip.conf``, as ``apply --only pip,conda`` plans them."""
    condarc = write(ctx.home / ".condarc", CONDARC)
    pip = write(ctx.home / ".config/pip/pip.conf", PIP)
    changes = [
        change(ctx, condarc, CONDARC_NEW),
        change(ctx, pip, PIP + b"index-url = https://m/simple\n"),
    ]
    return condarc, pip, changes


def _apply_fails(ctx: Context, journal: Path, changes: list[FileChange]) -> EnvdoctorError:
    with pytest.raises(EnvdoctorError) as info:
        apply_changes(ctx, changes, journal=journal, description="d", profile="p")
    return info.value


# ----------------------------------------------------------------- before the swap


def test_an_edit_once_the_manifest_exists_is_never_restored_over(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first reproduction: the file is refused, and then the all-or-nothing
    # restore used to write the backup over the user's new line.
    pip, condarc = (
        write(ctx.home / ".config/pip/pip.conf", PIP),
        write(ctx.home / ".condarc", CONDARC),
    )
    changes = [change(ctx, pip, PIP + b"x = 1\n"), change(ctx, condarc, CONDARC + b"y: 1\n")]
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        if Path(dst).name == "manifest.json" and condarc.read_bytes() == CONDARC:
            append(condarc, LINE)

    monkeypatch.setattr(os, "replace", replace)
    error = _apply_fails(ctx, journal, changes)
    assert condarc.read_bytes() == CONDARC + LINE
    assert pip.read_bytes() == PIP
    assert "/home/user/.condarc changed since it was read; nothing was written to it" in str(error)
    assert "every other file is as it was" in error.message
    assert history(journal)[0].status == "failed, restored"
    assert temps(ctx.root) == []


def test_an_edit_while_the_temp_file_is_written_is_kept(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second reproduction: append while .condarc's temp file exists.
    condarc, pip, changes = _two(ctx)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if ".condarc.envdoctor-tmp-" in fd_path(fd) and condarc.read_bytes() == CONDARC:
            append(condarc, LINE)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    error = _apply_fails(ctx, journal, changes)
    assert "changed since it was read; nothing was written to it" in error.message
    assert condarc.read_bytes() == CONDARC + LINE
    assert pip.read_bytes() == PIP


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "rename"])
def test_an_edit_just_before_the_rename_is_kept(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch, fallback: bool
) -> None:
    condarc, pip, changes = _two(ctx)
    renames = Renames(monkeypatch, fallback=fallback)
    renames.before[condarc] = lambda path, count: append(path, LINE) if count == 0 else None
    error = _apply_fails(ctx, journal, changes)
    assert "/home/user/.condarc" in error.message
    assert condarc.read_bytes() == CONDARC + LINE
    assert pip.read_bytes() == PIP
    assert history(journal)[0].status == "failed, restored"
    assert temps(ctx.root) == []


def test_a_save_by_rename_just_before_the_swap_is_kept(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An editor's save: a new inode renamed over the path after envdoctor's last check.
    # RENAME_EXCHANGE moves it aside instead of destroying it; it goes back.
    condarc, pip, changes = _two(ctx)
    saved = condarc.with_name(".condarc.swp")

    def save(path: Path, count: int) -> None:
        if count == 0:
            write(saved, CONDARC + LINE).replace(path)

    Renames(monkeypatch).before[condarc] = save
    error = _apply_fails(ctx, journal, changes)
    assert "was changed while envdoctor replaced it: that version is kept" in error.message
    assert condarc.read_bytes() == CONDARC + LINE
    assert pip.read_bytes() == PIP


def test_a_file_created_just_before_envdoctor_creates_it_is_kept(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = ctx.home / ".config/uv/uv.toml"
    pip = write(ctx.home / ".config/pip/pip.conf", PIP)
    changes = [change(ctx, pip, PIP + b"x = 1\n"), change(ctx, new, b"[[index]]\n")]
    Renames(monkeypatch).before[new] = lambda path, count: write(path, LINE) if count == 0 else None
    error = _apply_fails(ctx, journal, changes)
    assert "uv.toml was created since it was read; nothing was written to it" in error.message
    assert new.read_bytes() == LINE
    assert pip.read_bytes() == PIP


# ----------------------------------------------------------------- after the swap


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "rename"])
def test_a_write_through_a_descriptor_opened_before_the_swap_is_kept(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch, fallback: bool
) -> None:
    # The user's program opened the file before the rename and writes after it: the bytes
    # land in the replaced file, which envdoctor checks before dropping it.
    condarc, pip, changes = _two(ctx)
    renames = Renames(monkeypatch, fallback=fallback)
    held: list[int] = []

    def open_early(path: Path, count: int) -> None:
        if count == 0:
            held.append(os.open(path, os.O_WRONLY | os.O_APPEND))

    def write_late(path: Path, count: int) -> None:
        if count == 0:
            os.write(held[0], LINE)
            os.close(held[0])

    renames.before[condarc] = open_early
    renames.after[condarc] = write_late
    error = _apply_fails(ctx, journal, changes)
    assert "/home/user/.condarc was changed while envdoctor replaced it" in error.message
    assert "that version is kept" in error.message
    assert condarc.read_bytes() == CONDARC + LINE
    assert pip.read_bytes() == PIP
    assert history(journal)[0].status == "failed, restored"
    assert temps(ctx.root) == []


def test_a_write_to_the_replaced_file_while_later_files_are_written_is_kept(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    condarc, pip, changes = _two(ctx)
    renames = Renames(monkeypatch)
    held: list[int] = []
    renames.before[condarc] = lambda path, count: (
        held.append(os.open(path, os.O_WRONLY | os.O_APPEND)) if count == 0 else None
    )
    renames.after[pip] = lambda path, count: os.write(held[0], LINE) if count == 0 else None
    error = _apply_fails(ctx, journal, changes)
    os.close(held[0])
    assert "/home/user/.condarc was changed while envdoctor replaced it" in error.message
    assert condarc.read_bytes() == CONDARC + LINE
    assert pip.read_bytes() == PIP


def test_a_write_to_the_replaced_file_after_the_last_check_is_kept_beside_it(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    condarc, _, changes = _two(ctx)
    held: list[int] = []
    Renames(monkeypatch).before[condarc] = lambda path, count: held.append(
        os.open(path, os.O_WRONLY | os.O_APPEND)
    )
    real_discard = safewrite.Swap.discard

    def discard(self: safewrite.Swap) -> Path | None:
        if self.target == condarc and held:
            os.write(held.pop(), LINE)
        return real_discard(self)

    monkeypatch.setattr(safewrite.Swap, "discard", discard)
    record = do_apply(ctx, journal, *changes)
    assert condarc.read_bytes() == CONDARC_NEW
    [kept] = condarc.parent.glob(".condarc.envdoctor-kept-*")
    assert kept.read_bytes() == CONDARC + LINE
    assert any(str(kept) in note and ".condarc" in note for note in record.notes)


# ----------------------------------------------------------------- during the restore


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "rename"])
def test_an_edit_to_a_written_file_before_the_restore_is_kept(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch, fallback: bool
) -> None:
    condarc, pip, changes = _two(ctx)
    renames = Renames(monkeypatch, fallback=fallback)

    def edit_then_fail(path: Path, count: int) -> None:
        append(condarc, LINE)  # the user edits the file envdoctor has just written
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    renames.before[pip] = edit_then_fail
    error = _apply_fails(ctx, journal, changes)
    assert condarc.read_bytes() == CONDARC_NEW + LINE  # not the backup: theirs
    assert pip.read_bytes() == PIP
    assert "could not write /home/user/.config/pip/pip.conf: No space left" in error.message
    assert "restore incomplete" in error.message
    assert "/home/user/.condarc changed after envdoctor wrote it; that version is kept" in (
        error.message
    )
    [record] = history(journal)
    assert record.status == "failed, restore incomplete"


def test_an_edit_during_the_swap_back_is_kept_beside_the_file(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    condarc, pip, changes = _two(ctx)
    renames = Renames(monkeypatch)
    renames.fail(pip, errno.EIO)
    # count 1: the exchange that puts the original back; the user's edit comes just before
    renames.before[condarc] = lambda path, count: append(path, LINE) if count == 1 else None
    error = _apply_fails(ctx, journal, changes)
    assert condarc.read_bytes() == CONDARC
    [kept] = condarc.parent.glob(".condarc.envdoctor-kept-*")
    assert kept.read_bytes() == CONDARC_NEW + LINE
    assert str(kept) in error.message


def test_rollback_keeps_an_edit_made_while_it_runs(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    condarc, pip, changes = _two(ctx)
    record = do_apply(ctx, journal, *changes)
    renames = Renames(monkeypatch)
    renames.before[condarc] = lambda path, count: append(path, LINE) if count == 0 else None
    with pytest.raises(EnvdoctorError) as info:
        rollback(ctx, journal)
    assert condarc.read_bytes() == CONDARC_NEW + LINE
    assert pip.read_bytes() == PIP
    assert "/home/user/.condarc" in info.value.message
    assert "that version is kept" in info.value.message
    assert history(journal)[0].status == "rollback incomplete"
    with pytest.raises(EnvdoctorError, match="changed after apply"):
        rollback(ctx, journal, record.id)


# ----------------------------------------------------------------- a real race

_APPENDER = """
import os, random, sys, time
path, stop, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
count = 0
print("ready", flush=True)
while not os.path.exists(stop):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"user %d\\n" % count)
    os.close(fd)
    count += 1
    time.sleep(rng.uniform(0, 0.03))
print(count, flush=True)
"""


def _race(ctx: Context, journal: Path, trials: int, seed: int) -> tuple[int, int, int]:
    """Apply ``trials`` times while another process appends; (applied, refused, appended)."""
    path = write(ctx.home / ".condarc", b"show_channel_urls: false\n")
    other = write(ctx.home / ".config/pip/pip.conf", PIP)
    stop = ctx.root / "stop"
    appender = subprocess.Popen(
        [sys.executable, "-c", _APPENDER, str(path), str(stop), str(seed)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert appender.stdout is not None
    assert appender.stdout.readline() == b"ready\n"
    applied = refused = 0
    flags = (b"show_channel_urls: false\n", b"show_channel_urls: true\n")
    try:
        for _ in range(trials):
            old = path.read_bytes()
            head, _, rest = old.partition(b"\n")
            new = flags[head + b"\n" == flags[0]] + rest
            pip_old = other.read_bytes()
            pip_new = PIP if pip_old != PIP else PIP + b"x = 1\n"
            changes = [
                FileChange("conda", path, "~/.condarc", old, new),
                FileChange("pip", other, "~/.config/pip/pip.conf", pip_old, pip_new),
            ]
            try:
                apply_changes(ctx, changes, journal=journal, description="race", profile="p")
                applied += 1
            except EnvdoctorError as error:
                assert "No space" not in error.message
                refused += 1
                assert other.read_bytes() == pip_old  # all or nothing
    finally:
        stop.touch()
        out, _ = appender.communicate(timeout=30)
    appended = int(out)
    lines = path.read_bytes().splitlines()
    kept = [
        line
        for copy in path.parent.glob(".condarc.envdoctor-kept-*")
        for line in copy.read_bytes().splitlines()
    ]
    for number in range(appended):
        assert b"user %d" % number in lines or b"user %d" % number in kept, f"line {number} lost"
    assert lines.count(b"user 0") <= 1
    assert temps(ctx.root) == []
    return applied, refused, appended


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "rename"])
def test_racing_appends_lose_nothing(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch, fallback: bool
) -> None:
    if fallback:
        Renames(monkeypatch, fallback=True)
    started = time.monotonic()
    applied, refused, appended = _race(ctx, journal, 300 if not fallback else 100, seed=11)
    assert applied and refused and appended, (applied, refused, appended)
    assert time.monotonic() - started < 60
