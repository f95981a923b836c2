"""Killed runs are repaired by whoever takes the lock next; the journal is pruned (#11, 4).

The kill loops fork this process (cheap, so hundreds of kills take seconds), hook every
file operation of the child so it stops before each one, and SIGKILL it before a seeded
random one: before a fsync, a rename, an exchange, an unlink, a write.  Then the next
locked command runs and the tree must be as the issue demands (:func:`assert_repaired`).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from envdoctor import safewrite, transaction
from envdoctor.cli import cli
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.journal import recover as recover_journal
from envdoctor.safewrite import TEMP_MARKER, remove_stale_temps
from envdoctor.transaction import apply_changes, history, rollback
from tests.txhelp import Renames, assert_repaired, change, do_apply, temps, write

_GATED_OS = ("fsync", "replace", "rename", "unlink", "link", "write", "ftruncate", "pwrite")
_GATED_SWAPS = ("exchange", "rename_noreplace")


@pytest.fixture
def fast_root() -> Iterator[Path]:
    """A directory on tmpfs when there is one: fsync is free there, so kill loops are quick
    (a kill does not lose the page cache, so the filesystem does not change what they test)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=base) as directory:
        yield Path(directory)


def _gate_child(to_parent: int, from_parent: int) -> None:
    """In the child: before every file operation, tell the parent and wait for its go."""
    real_write, real_read = os.write, os.read

    def gate() -> None:
        real_write(to_parent, b".")
        if real_read(from_parent, 1) != b"g":
            os._exit(99)

    def gated(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            gate()
            return real(*args, **kwargs)

        return call

    for name in _GATED_OS:
        setattr(os, name, gated(getattr(os, name)))
    for name in _GATED_SWAPS:
        setattr(safewrite, name, gated(getattr(safewrite, name)))


def _kill_before(operation: int, action: Callable[[], object]) -> tuple[bool, int]:
    """Run ``action`` in a forked child, SIGKILLed just before its ``operation``-th file
    operation; (whether it was killed, how many operations it reached)."""
    to_parent_r, to_parent_w = os.pipe()
    from_parent_r, from_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 0
        try:
            os.close(to_parent_r)
            os.close(from_parent_w)
            _gate_child(to_parent_w, from_parent_r)
            action()
        except BaseException:  # an expected refusal ends the child too
            code = 1
        os._exit(code)
    os.close(to_parent_w)
    os.close(from_parent_r)
    reached, killed = 0, False
    try:
        while os.read(to_parent_r, 1):
            reached += 1
            if reached == operation:
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            os.write(from_parent_w, b"g")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(to_parent_r)
        os.close(from_parent_w)
    if killed:
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    else:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    return killed, reached


def _variants() -> list[list[bytes]]:
    return [[f"file {i} variant {v}\n".encode() * 50 for v in (0, 1)] for i in range(3)]


class _Tree:
    """Three files flipped between two variants by each apply, on ``root``."""

    def __init__(self, root: Path) -> None:
        self.ctx = Context.for_root(root)
        self.journal = root / "journal"
        self.variants = _variants()
        self.paths = [write(root / f"etc/f{i}.conf", self.variants[i][0]) for i in range(3)]

    def flip(self) -> None:
        changes = []
        for path, (zero, one) in zip(self.paths, self.variants, strict=True):
            old = path.read_bytes()
            changes.append(change(self.ctx, path, one if old == zero else zero))
        apply_changes(self.ctx, changes, journal=self.journal, description="flip", profile="p")

    def undo(self) -> None:
        rollback(self.ctx, self.journal)

    def repair(self) -> None:
        transaction.recover(self.ctx, self.journal)

    def check(self) -> int:
        return assert_repaired(self.ctx, self.journal, self.paths, self.variants)


def _operations(action: Callable[[], object]) -> int:
    """How many file operations ``action`` does when nothing kills it (it does run)."""
    killed, reached = _kill_before(10**9, action)
    assert not killed
    return reached


@pytest.mark.parametrize(
    ("fallback", "trials"), [(False, 120), (True, 50)], ids=["exchange", "rename"]
)
def test_kill_9_anywhere_is_repaired_by_the_next_locked_command(
    fast_root: Path, monkeypatch: pytest.MonkeyPatch, fallback: bool, trials: int
) -> None:
    if fallback:
        Renames(monkeypatch, fallback=True)
    tree = _Tree(fast_root)
    per_flip = _operations(tree.flip)
    per_undo = _operations(tree.undo)
    assert tree.check() == 0
    rng = random.Random(11)
    kills = {"apply": 0, "rollback": 0, "recovery": 0}
    repaired = 0
    for trial in range(trials):
        undo = any(r.status == "applied" for r in history(tree.journal)) and rng.random() < 0.3
        action, count = (tree.undo, per_undo) if undo else (tree.flip, per_flip)
        killed, _ = _kill_before(rng.randint(1, count + 1), action)
        if not killed:
            continue
        kills["rollback" if undo else "apply"] += 1
        interrupted = {
            r.id for r in history(tree.journal) if r.status in ("applying", "rolling back")
        }
        if interrupted and rng.random() < 0.5:  # the repair itself is killed too
            kills["recovery"] += _kill_before(rng.randint(1, 2 * count), tree.repair)[0]
        next_command = (tree.repair, tree.flip, tree.undo)[trial % 3]
        try:
            next_command()
        except EnvdoctorError as error:
            # a flip planned against the killed run's files, which its recovery put back;
            # or a rollback with nothing left to roll back
            assert "was rolled back" in error.message or "nothing to roll" in error.message
        tree.check()
        repaired += bool(interrupted)
    assert kills["apply"] > trials / 3 and kills["rollback"] and repaired, (kills, repaired)


# ----------------------------------------------------------------- one kill, aimed


def _kill_child_at(
    monkeypatch: pytest.MonkeyPatch, target: Path, action: Callable[[], object], *, at: int = 0
) -> None:
    """Run ``action`` in a forked child that SIGKILLs itself right after its ``at``-th
    rename onto ``target`` (the parent's own renames are left alone)."""
    parent = os.getpid()

    def die(path: Path, count: int) -> None:
        if os.getpid() != parent and count == at:
            os.kill(os.getpid(), signal.SIGKILL)

    Renames(monkeypatch).after[target] = die
    pid = os.fork()
    if pid == 0:
        try:
            action()
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status


PIP_CONF = b"[global]\ntimeout = 30\n"
CONDARC = b"channels:\n  - defaults\n"


@pytest.fixture
def image(tmp_path: Path) -> Path:
    root = tmp_path / "image"
    write(root / "etc/pip.conf", PIP_CONF)
    write(root / "etc/conda/.condarc", CONDARC)
    (root / "home/u").mkdir(parents=True)
    return root


def cli_run(image: Path, *args: str) -> Any:
    env = {"HOME": "/home/u", "NO_COLOR": "1"}
    argv = [*args[:1], "--root", str(image), "--scope", "system", *args[1:]]
    return CliRunner().invoke(cli, argv, env=env)


APPLY = ("apply", "--profile", "cn-tsinghua", "--only", "pip,conda", "--yes")


def test_the_next_apply_rolls_back_a_killed_one_then_applies(
    image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pip = image / "etc/pip.conf"
    _kill_child_at(monkeypatch, pip, lambda: cli_run(image, *APPLY))
    assert pip.read_bytes() != PIP_CONF  # killed after the swap of pip.conf...
    assert (image / "etc/conda/.condarc").read_bytes() == CONDARC  # ...before .condarc
    assert temps(image)  # the replaced pip.conf, under its temp name
    assert "applying" in cli_run(image, "history").stdout
    out = cli_run(image, *APPLY)
    assert out.exit_code == 0, out.output
    assert "was rolled back: 1 file(s) put back" in out.stderr
    assert temps(image) == []
    journal = image / "var/lib/envdoctor"
    assert [r.status for r in history(journal)] == ["applied", "failed, restored"]
    assert b"mirrors.tuna.tsinghua.edu.cn" in pip.read_bytes()
    assert b"tuna" in (image / "etc/conda/.condarc").read_bytes()
    out = cli_run(image, "rollback")
    assert out.exit_code == 0, out.output
    assert (pip.read_bytes(), (image / "etc/conda/.condarc").read_bytes()) == (PIP_CONF, CONDARC)


def test_rollback_after_a_kill_undoes_the_interrupted_apply_only(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = ctx.root / "journal"
    one = write(ctx.path("/etc/one.conf"), b"1\n")
    two = write(ctx.path("/etc/two.conf"), b"2\n")
    first = do_apply(
        ctx, journal, change(ctx, one, b"1 applied\n"), change(ctx, two, b"2 applied\n")
    )
    changes = [change(ctx, one, b"1 again\n"), change(ctx, two, b"2 again\n")]
    _kill_child_at(
        monkeypatch,
        one,
        lambda: apply_changes(ctx, changes, journal=journal, description="d", profile="p"),
    )
    assert one.read_bytes() == b"1 again\n" and two.read_bytes() == b"2 applied\n"
    result = rollback(ctx, journal)
    assert result.id != first.id
    assert (one.read_bytes(), two.read_bytes()) == (b"1 applied\n", b"2 applied\n")
    assert result.restored == ("/etc/one.conf",) and result.unchanged == ("/etc/two.conf",)
    assert [r.status for r in history(journal)] == ["rolled back", "applied"]
    assert temps(ctx.root) == []


def test_a_killed_rollback_is_finished_by_the_next_locked_command(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = ctx.root / "journal"
    one = write(ctx.path("/etc/one.conf"), b"1\n")
    two = write(ctx.path("/etc/two.conf"), b"2\n")
    do_apply(ctx, journal, change(ctx, one, b"1 new\n"), change(ctx, two, b"2 new\n"))
    _kill_child_at(monkeypatch, two, lambda: rollback(ctx, journal))
    assert [r.status for r in history(journal)] == ["rolling back"]
    assert (one.read_bytes(), two.read_bytes()) == (b"1 new\n", b"2\n")  # newest first
    notes = transaction.recover(ctx, journal)
    assert len(notes) == 1 and "unfinished rollback of" in notes[0]
    assert (one.read_bytes(), two.read_bytes()) == (b"1\n", b"2\n")
    assert [r.status for r in history(journal)] == ["rolled back"]
    assert temps(ctx.root) == []


def test_an_entry_killed_while_backing_up_is_removed(ctx: Context) -> None:
    journal = ctx.root / "journal"
    do_apply(ctx, journal, change(ctx, write(ctx.path("/etc/a.conf"), b"a\n"), b"A\n"))
    orphan = journal / "20240101T000000Z-abcdef"
    write(orphan / "files/0", b"a backup\n")
    write(orphan / f".manifest.json{TEMP_MARKER}0123abcd", b'{"version": 1')
    foreign = write(journal / "20240101T000000Z-fedcba/manifest.json", b"{not ours to judge")
    unrelated = write(journal / "notes/keep.txt", b"mine\n")
    notes = transaction.recover(ctx, journal)
    assert not orphan.exists()
    assert list(notes) == [
        "removed journal entry 20240101T000000Z-abcdef: it was interrupted while backing up, "
        "before any file was written"
    ]
    assert foreign.exists() and unrelated.exists()  # unreadable or not an entry: left alone
    assert len(history(journal)) == 1


def test_only_envdoctors_own_temp_files_older_than_the_lock_go(tmp_path: Path) -> None:
    old = write(tmp_path / f".pip.conf{TEMP_MARKER}0123abcd", b"x")
    not_ours = [
        write(tmp_path / f".pip.conf{TEMP_MARKER}notahex!", b"x"),
        write(tmp_path / f".other.conf{TEMP_MARKER}0123abcd", b"x"),
        write(tmp_path / f"pip.conf{TEMP_MARKER}0123abcd", b"x"),
    ]
    (tmp_path / f".pip.conf{TEMP_MARKER}4567cdef").mkdir()
    cutoff = time.time() + 1
    newer = write(tmp_path / f".pip.conf{TEMP_MARKER}89abcdef", b"x")
    os.utime(newer, (cutoff + 10, cutoff + 10))  # written after the lock was taken
    assert remove_stale_temps(tmp_path, "pip.conf", before=cutoff) == [old]
    assert all(path.exists() for path in [*not_ours, newer])


def test_recovery_reports_an_edit_it_kept(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = ctx.root / "journal"
    one = write(ctx.path("/etc/one.conf"), b"1\n")
    two = write(ctx.path("/etc/two.conf"), b"2\n")
    changes = [change(ctx, one, b"1 new\n"), change(ctx, two, b"2 new\n")]
    _kill_child_at(
        monkeypatch,
        two,
        lambda: apply_changes(ctx, changes, journal=journal, description="d", profile="p"),
    )
    one.write_bytes(b"1 new\n# and the user's own line\n")  # edited after the kill
    [note] = recover_journal(journal, before=time.time())
    assert "not put back: /etc/one.conf: changed after the apply; that version is kept" in note
    assert one.read_bytes() == b"1 new\n# and the user's own line\n"
    assert two.read_bytes() == b"2\n"
    assert history(journal)[0].status == "failed, restore incomplete"


# ----------------------------------------------------------------- pruning


def _applies(ctx: Context, journal: Path, count: int, path: Path) -> list[str]:
    ids = []
    for number in range(count):
        ids.append(do_apply(ctx, journal, change(ctx, path, b"%d\n" % number)).id)
    return ids


def test_the_journal_keeps_the_newest_20_entries(ctx: Context) -> None:
    journal = ctx.root / "journal"
    ids = _applies(ctx, journal, 23, ctx.path("/etc/a.conf"))
    assert [record.id for record in history(journal)] == ids[::-1][:20]
    assert len([entry for entry in journal.iterdir() if entry.is_dir()]) == 20


def test_keep_is_configurable_and_never_drops_what_rollback_needs(tmp_path: Path) -> None:
    ctx = Context.for_root(tmp_path, env={"ENVDOCTOR_JOURNAL_KEEP": "2"})
    journal = tmp_path / "journal"
    path = write(ctx.path("/etc/a.conf"), b"original\n")
    needed = do_apply(ctx, journal, change(ctx, path, b"needed\n")).id
    other = write(ctx.path("/etc/b.conf"), b"b\n")
    for number in range(4):  # each undone at once: a plain rollback still needs `needed`
        do_apply(ctx, journal, change(ctx, other, b"b %d\n" % number))
        rollback(ctx, journal)
    listed = history(journal)
    assert len(listed) == 3 and listed[-1].id == needed
    assert rollback(ctx, journal).id == needed
    assert path.read_bytes() == b"original\n"


def test_pruning_keeps_entries_whose_restore_is_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = Context.for_root(tmp_path, env={"ENVDOCTOR_JOURNAL_KEEP": "1"})
    journal = tmp_path / "journal"
    one = write(ctx.path("/etc/one.conf"), b"1\n")
    two = write(ctx.path("/etc/two.conf"), b"2\n")
    renames = Renames(monkeypatch)
    renames.fail(two, 5)  # EIO writing two.conf...
    renames.fail(one, 5, at=1)  # ...and again putting one.conf back
    with pytest.raises(EnvdoctorError, match="restore incomplete"):
        apply_changes(
            ctx,
            [change(ctx, one, b"1 new\n"), change(ctx, two, b"2 new\n")],
            journal=journal,
            description="d",
            profile="p",
        )
    incomplete = history(journal)[0]
    assert incomplete.status == "failed, restore incomplete"
    monkeypatch.undo()
    other = write(ctx.path("/etc/other.conf"), b"o\n")
    _applies(ctx, journal, 3, other)
    assert incomplete.id in [record.id for record in history(journal)]
    rollback(ctx, journal, incomplete.id)  # its backup is what puts one.conf back
    assert one.read_bytes() == b"1\n"


def test_a_bad_keep_value_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    ctx = Context.for_root(tmp_path, env={"ENVDOCTOR_JOURNAL_KEEP": "0"})
    path = write(ctx.path("/etc/a.conf"), b"a\n")
    with pytest.raises(EnvdoctorError, match="ENVDOCTOR_JOURNAL_KEEP must be a whole number"):
        apply_changes(
            ctx, [change(ctx, path, b"A\n")], journal=tmp_path / "j", description="d", profile="p"
        )
    assert path.read_bytes() == b"a\n" and not (tmp_path / "j").exists()


def test_a_rollback_killed_anywhere_leaves_no_directory_the_apply_made(tmp_path: Path) -> None:
    # The killed rollback's temp file sat in a directory the apply had created when its
    # recovery tried to remove it; and a rollback that found a file already put back left
    # its directory: "rolled back", with ~/.cargo or ~/.config/uv left behind, empty.
    root = tmp_path / "tree"
    ctx, journal = Context.for_root(root), root / "journal"
    made = [ctx.path("/etc/new-one/deep/one.conf"), ctx.path("/etc/new-two/two.conf")]

    def setup() -> None:
        shutil.rmtree(root, ignore_errors=True)
        (root / "etc").mkdir(parents=True)
        do_apply(ctx, journal, *(change(ctx, path, b"made\n") for path in made))

    def undo() -> None:
        rollback(ctx, journal)

    setup()
    count = _operations(undo)
    for operation in range(1, count + 1):
        setup()
        killed, _ = _kill_before(operation, undo)
        assert killed
        with contextlib.suppress(EnvdoctorError):  # nothing left to roll back
            rollback(ctx, journal)
        assert sorted(p.name for p in (root / "etc").iterdir()) == [], operation
        assert temps(root) == []
