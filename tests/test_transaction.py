from __future__ import annotations

import errno
import hashlib
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envdoctor import transaction
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.redact import mask_line
from envdoctor.results import FileChange
from envdoctor.transaction import (
    TEMP_MARKER,
    apply_changes,
    atomic_write,
    history,
    journal_dir,
    lock,
    resolve_target,
    rollback,
    unified_diff,
)
from tests.txhelp import (
    REPO,
    Renames,
    assert_repaired,
    change,
    do_apply,
    manifest,
    temps,
    write,
)

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


@pytest.fixture
def journal(ctx: Context) -> Path:
    return journal_dir(ctx, "user")


# ----------------------------------------------------------------- paths


def test_journal_dir_per_scope(ctx: Context, tmp_path: Path) -> None:
    assert journal_dir(ctx, "user") == ctx.home / ".local/state/envdoctor"
    assert journal_dir(ctx, "system") == tmp_path / "var/lib/envdoctor"
    xdg = Context.for_root(tmp_path, env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert journal_dir(xdg, "user") == tmp_path / "state/envdoctor"


def test_resolve_target_keeps_image_links_inside_root(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "pip.conf").symlink_to("/opt/conf/pip.conf")  # as inside an image
    (etc / "up").symlink_to("../../../../../opt/x")
    assert resolve_target(etc / "pip.conf", tmp_path) == tmp_path / "opt/conf/pip.conf"
    assert resolve_target(etc / "up", tmp_path) == tmp_path / "opt/x"
    (etc / "loop").symlink_to("loop")
    with pytest.raises(EnvdoctorError, match="too many levels"):
        resolve_target(etc / "loop", tmp_path)


# ----------------------------------------------------------------- atomic_write


def test_atomic_write_new_file_creates_parents_with_mode(tmp_path: Path) -> None:
    path = tmp_path / "a/b/c.conf"
    created = atomic_write(path, b"x = 1\n", expected_old=None, mode=0o600)
    assert path.read_bytes() == b"x = 1\n"
    assert path.stat().st_mode & 0o7777 == 0o600
    assert created == [tmp_path / "a", tmp_path / "a/b"]
    assert temps(tmp_path) == []


@as_root
def test_atomic_write_replace_keeps_mode_and_owner(tmp_path: Path) -> None:
    path = write(tmp_path / "pip.conf", b"old\n", 0o600)
    os.chown(path, 1234, 1234)
    atomic_write(path, b"new\n", expected_old=b"old\n", mode=0o644, owner=(0, 0))
    info = path.stat()
    assert path.read_bytes() == b"new\n"
    assert (info.st_mode & 0o7777, info.st_uid, info.st_gid) == (0o600, 1234, 1234)


@as_root
def test_atomic_write_new_file_and_created_dirs_get_owner(tmp_path: Path) -> None:
    path = tmp_path / "home/.config/pip/pip.conf"
    (tmp_path / "home").mkdir()
    atomic_write(path, b"x\n", expected_old=None, owner=(1234, 1235))
    for item in (path, path.parent, path.parent.parent):
        assert (item.stat().st_uid, item.stat().st_gid) == (1234, 1235)
    assert (tmp_path / "home").stat().st_uid == 0


def test_atomic_write_refuses_when_changed_since_read(tmp_path: Path) -> None:
    path = write(tmp_path / "f.conf", b"edited\n")
    with pytest.raises(EnvdoctorError, match="changed since it was read"):
        atomic_write(path, b"new\n", expected_old=b"planned from this\n")
    with pytest.raises(EnvdoctorError, match="changed since it was read"):
        atomic_write(path, b"new\n", expected_old=None)
    assert path.read_bytes() == b"edited\n"


def test_atomic_write_through_symlink(tmp_path: Path) -> None:
    real = write(tmp_path / "dotfiles/pip.conf", b"old\n", 0o640)
    link = tmp_path / "home/.config/pip/pip.conf"
    link.parent.mkdir(parents=True)
    link.symlink_to("../../../dotfiles/pip.conf")
    atomic_write(link, b"new\n", expected_old=b"old\n")
    assert link.is_symlink()
    assert os.readlink(link) == "../../../dotfiles/pip.conf"
    assert real.read_bytes() == b"new\n"
    assert real.stat().st_mode & 0o7777 == 0o640


def test_atomic_write_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.conf"
    link.symlink_to("store/real.conf")
    atomic_write(link, b"data\n", expected_old=None)
    assert link.is_symlink()
    assert (tmp_path / "store/real.conf").read_bytes() == b"data\n"


def test_atomic_write_removes(tmp_path: Path) -> None:
    path = write(tmp_path / "gone.conf", b"bye\n")
    atomic_write(path, None, expected_old=b"bye\n")
    assert not path.exists()


def test_atomic_write_failure_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "f.conf", b"old\n")

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space"):
        atomic_write(path, b"new\n", expected_old=b"old\n")
    assert path.read_bytes() == b"old\n"
    assert temps(tmp_path) == []


# ----------------------------------------------------------------- apply


def test_apply_writes_and_journals(ctx: Context, journal: Path) -> None:
    pip = write(ctx.home / ".config/pip/pip.conf", b"[global]\ntimeout = 5\n", 0o600)
    new = ctx.home / ".config/uv/uv.toml"
    record = do_apply(
        ctx,
        journal,
        change(ctx, pip, b"[global]\nindex-url = https://m/simple\n"),
        change(ctx, new, b"[[index]]\n", mode=0o640),
    )
    assert pip.read_bytes() == b"[global]\nindex-url = https://m/simple\n"
    assert pip.stat().st_mode & 0o7777 == 0o600
    assert new.read_bytes() == b"[[index]]\n"
    assert new.stat().st_mode & 0o7777 == 0o640
    assert record.status == "applied"
    assert record.files == ("/home/user/.config/pip/pip.conf", "/home/user/.config/uv/uv.toml")
    assert record.entry.parent == journal
    data = manifest(record)
    assert data["files"][0]["existed"] is True
    assert data["files"][1]["created_dirs"] == [str(new.parent)]
    backup = record.entry / "files" / data["files"][0]["backup"]
    assert backup.read_bytes() == b"[global]\ntimeout = 5\n"
    assert backup.stat().st_mode & 0o7777 == 0o600  # backups may hold credentials
    assert journal.stat().st_mode & 0o777 == 0o700


@as_root
def test_journal_created_under_sudo_belongs_to_the_user(ctx: Context, journal: Path) -> None:
    path = write(ctx.home / ".condarc", b"channels: []\n")
    record = apply_changes(
        ctx,
        [change(ctx, path, b"channels: [x]\n")],
        journal=journal,
        description="d",
        profile="p",
        owner=(1234, 1234),
    )
    owned = [journal, journal / "lock", record.entry, record.entry / "manifest.json"]
    owned += list((record.entry / "files").iterdir())
    for item in owned:
        assert (item.stat().st_uid, item.stat().st_gid) == (1234, 1234), item
    assert journal.stat().st_mode & 0o777 == 0o700
    rollback(ctx, journal)
    assert (record.entry / "manifest.json").stat().st_uid == 1234


def test_apply_without_changes_writes_nothing(ctx: Context, journal: Path) -> None:
    path = write(ctx.path("/etc/pip.conf"), b"same\n")
    unchanged = change(ctx, path, b"same\n")
    for changes in ([unchanged], []):
        record = apply_changes(ctx, changes, journal=journal, description="d", profile="p")
        assert (record.id, record.status, record.files) == ("", "unchanged", ())
    assert not journal.exists()
    assert history(journal) == []


def test_apply_refuses_a_file_edited_after_planning(ctx: Context, journal: Path) -> None:
    first = write(ctx.path("/etc/a.conf"), b"a\n")
    second = write(ctx.path("/etc/b.conf"), b"b\n")
    changes = [change(ctx, first, b"A\n"), change(ctx, second, b"B\n")]
    second.write_bytes(b"b edited meanwhile\n")
    with pytest.raises(EnvdoctorError, match=r"/etc/b.conf changed since it was read"):
        apply_changes(ctx, changes, journal=journal, description="d", profile="p")
    assert first.read_bytes() == b"a\n"
    assert second.read_bytes() == b"b edited meanwhile\n"
    assert history(journal) == []


def test_apply_refuses_two_changes_to_one_file(ctx: Context, journal: Path) -> None:
    real = write(ctx.path("/etc/real.conf"), b"x\n")
    link = ctx.path("/etc/link.conf")
    link.symlink_to("real.conf")
    changes = [change(ctx, real, b"1\n"), change(ctx, link, b"2\n", old=b"x\n")]
    with pytest.raises(EnvdoctorError, match="are the same file"):
        apply_changes(ctx, changes, journal=journal, description="d", profile="p")
    assert real.read_bytes() == b"x\n"


@pytest.mark.parametrize(
    ("owner", "words"),
    [(4321, "is yours but read-only: chmod u+w"), (0, "belongs to root: sudo chown 4321")],
)
def test_a_read_only_user_directory_gets_the_fix_that_works(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch, owner: int, words: str
) -> None:
    # "run with sudo, or use --scope user" was the fix for a user's own read-only
    # ~/.config/pip in user scope: sudo does not help there, chmod or chown does.
    directory = ctx.home / ".config" / "pip"
    directory.mkdir(parents=True)
    os.chown(directory, owner, owner)
    real_access = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        return Path(str(path)) != directory and real_access(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(os, "geteuid", lambda: 4321)  # a user, not root
    monkeypatch.setenv("HOME", str(ctx.home))
    conf = change(ctx, directory / "pip.conf", b"[global]\n")
    with pytest.raises(EnvdoctorError) as info:
        apply_changes(ctx, [conf], journal=journal, description="d", profile="p")
    assert words in (info.value.hint or "") and str(directory) in (info.value.hint or "")


def test_apply_checks_permissions_before_any_write(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = write(ctx.home / ".condarc", b"channels: []\n")
    system = ctx.path("/etc/docker/daemon.json")
    system.parent.mkdir(parents=True)
    real_access = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        if Path(str(path)) == ctx.path("/etc/docker"):
            return False  # root ignores permission bits, so play a normal user
        return real_access(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(os, "geteuid", lambda: 4321)
    changes = [change(ctx, mine, b"channels: [x]\n"), change(ctx, system, b"{}\n")]
    with pytest.raises(EnvdoctorError, match=r"/etc/docker/daemon\.json") as info:
        apply_changes(ctx, changes, journal=journal, description="d", profile="p")
    assert info.value.hint == (
        f"{ctx.path('/etc/docker')} belongs to root: run with sudo, or use --scope user"
    )
    assert mine.read_bytes() == b"channels: []\n"
    assert not system.exists()
    assert not journal.exists()


def _three_files(ctx: Context) -> tuple[list[FileChange], list[Path]]:
    one = write(ctx.path("/etc/one.conf"), b"one old\n", 0o600)
    two = write(ctx.path("/etc/two.conf"), b"two old\n")
    three = ctx.path("/etc/new/dir/three.conf")
    changes = [
        change(ctx, one, b"one new\n"),
        change(ctx, two, b"two new\n"),
        change(ctx, three, b"three new\n"),
    ]
    return changes, [one, two, three]


@pytest.mark.parametrize("failing", [2, 3])
def test_a_failing_write_restores_every_file(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch, failing: int
) -> None:
    changes, paths = _three_files(ctx)
    one, two, three = paths
    Renames(monkeypatch).fail(paths[failing - 1], errno.ENOSPC)
    with pytest.raises(EnvdoctorError) as info:
        apply_changes(ctx, changes, journal=journal, description="d", profile="p")
    failed_display = changes[failing - 1].display
    assert f"could not write {failed_display}" in info.value.message
    assert "No space left on device (ENOSPC)" in info.value.message
    assert "nothing was changed: every file is as it was" in info.value.message
    assert info.value.hint is not None and "df -h /etc" in info.value.hint
    assert one.read_bytes() == b"one old\n"
    assert one.stat().st_mode & 0o7777 == 0o600
    assert two.read_bytes() == b"two old\n"
    assert not three.exists()
    assert not ctx.path("/etc/new").exists()
    assert temps(ctx.path("/etc")) == []
    [record] = history(journal)
    assert record.status == "failed, restored"
    assert "ENOSPC" in manifest(record)["error"]


def test_a_read_only_directory_mid_apply_restores(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes, (one, two, _) = _three_files(ctx)
    read_only = ctx.path("/etc/new/dir")
    real_open = os.open

    def open_(path: object, flags: int, mode: int = 0o777, **kwargs: object) -> int:
        if TEMP_MARKER in str(path) and Path(str(path)).parent == read_only:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", open_)
    with pytest.raises(EnvdoctorError, match=r"three.conf: Read-only file system \(EROFS\)"):
        apply_changes(ctx, changes, journal=journal, description="d", profile="p")
    assert (one.read_bytes(), two.read_bytes()) == (b"one old\n", b"two old\n")
    assert not ctx.path("/etc/new").exists()
    assert history(journal)[0].status == "failed, restored"


def test_interrupt_during_apply_restores_and_reraises(
    ctx: Context, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes, (one, two, _) = _three_files(ctx)

    def interrupt(path: Path, count: int) -> None:
        raise KeyboardInterrupt

    Renames(monkeypatch).before[two] = interrupt
    with pytest.raises(KeyboardInterrupt):
        apply_changes(ctx, changes, journal=journal, description="d", profile="p")
    assert one.read_bytes() == b"one old\n"
    assert two.read_bytes() == b"two old\n"
    assert temps(ctx.path("/etc")) == []
    assert history(journal)[0].status == "failed, restored"


def test_stale_temp_files_are_cleaned_by_the_next_apply(ctx: Context, journal: Path) -> None:
    path = write(ctx.path("/etc/pip.conf"), b"old\n")
    stale = write(ctx.path(f"/etc/.pip.conf{TEMP_MARKER}deadbeef"), b"ne")
    other = write(ctx.path("/etc/.other"), b"keep\n")
    do_apply(ctx, journal, change(ctx, path, b"new\n"))
    assert not stale.exists()
    assert other.exists()
    assert temps(ctx.root) == []


def test_bom_and_crlf_survive_apply_and_rollback(ctx: Context, journal: Path) -> None:
    original = b"\xef\xbb\xbf[global]\r\n; comment\r\ntimeout = 5"  # no final newline
    path = write(ctx.path("/etc/pip.conf"), original)
    new = b"\xef\xbb\xbf[global]\r\n; comment\r\ntimeout = 5\r\nindex-url = https://m/simple\r\n"
    do_apply(ctx, journal, change(ctx, path, new))
    assert path.read_bytes() == new
    rollback(ctx, journal)
    assert path.read_bytes() == original


# ----------------------------------------------------------------- rollback


@as_root
def test_rollback_restores_bytes_mode_owner_and_removes_created(
    ctx: Context, journal: Path
) -> None:
    kept = write(ctx.home / ".config/pip/pip.conf", b"[global]\n# mine\n", 0o600)
    os.chown(kept, 1234, 1234)
    created = ctx.home / ".config/envdoctor/sub/env.sh"
    removed = write(ctx.path("/etc/profile.d/old.sh"), b"export A=1\n", 0o755)
    record = do_apply(
        ctx,
        journal,
        change(ctx, kept, b"[global]\nindex-url = x\n"),
        change(ctx, created, b"export HF_ENDPOINT=x\n"),
        change(ctx, removed, None),
    )
    assert created.exists()
    assert not removed.exists()
    kept.chmod(0o644)  # a mode change alone does not count as an edit
    result = rollback(ctx, journal)
    assert result.id == record.id
    assert result.restored == ("/home/user/.config/pip/pip.conf", "/etc/profile.d/old.sh")
    assert result.removed == ("/home/user/.config/envdoctor/sub/env.sh",)
    assert result.files == (
        "/home/user/.config/pip/pip.conf",
        "/home/user/.config/envdoctor/sub/env.sh",
        "/etc/profile.d/old.sh",
    )
    assert kept.read_bytes() == b"[global]\n# mine\n"
    info = kept.stat()
    assert (info.st_mode & 0o7777, info.st_uid, info.st_gid) == (0o600, 1234, 1234)
    assert removed.read_bytes() == b"export A=1\n"
    assert removed.stat().st_mode & 0o7777 == 0o755
    assert not created.exists()
    assert not (ctx.home / ".config/envdoctor").exists()
    assert history(journal)[0].status == "rolled back"


def test_rollback_keeps_created_dirs_that_are_no_longer_empty(ctx: Context, journal: Path) -> None:
    created = ctx.home / ".config/uv/uv.toml"
    do_apply(ctx, journal, change(ctx, created, b"x\n"))
    write(ctx.home / ".config/uv/other.toml", b"mine\n")
    rollback(ctx, journal)
    assert not created.exists()
    assert (ctx.home / ".config/uv/other.toml").read_bytes() == b"mine\n"


def test_rollback_refuses_files_changed_since_unless_forced(ctx: Context, journal: Path) -> None:
    first = write(ctx.path("/etc/a.conf"), b"a\n")
    second = write(ctx.path("/etc/b.conf"), b"b\n")
    record = do_apply(ctx, journal, change(ctx, first, b"A\n"), change(ctx, second, b"B\n"))
    second.write_bytes(b"B plus a hand edit\n")
    with pytest.raises(EnvdoctorError, match=r"/etc/b.conf changed after apply") as info:
        rollback(ctx, journal)
    assert f"envdoctor rollback --force {record.id}" in str(info.value)
    assert (first.read_bytes(), second.read_bytes()) == (b"A\n", b"B plus a hand edit\n")
    assert history(journal)[0].status == "applied"
    done = rollback(ctx, journal, record.id, force=True)
    assert (first.read_bytes(), second.read_bytes()) == (b"a\n", b"b\n")
    # --force replaces the edit, but never loses it: it is kept beside the file, and said.
    (kept,) = second.parent.glob("b.conf.envdoctor-kept-*")
    assert kept.read_bytes() == b"B plus a hand edit\n"
    assert any(str(kept) in note and "edited after the apply" in note for note in done.notes)
    assert not list(first.parent.glob("a.conf.envdoctor-kept-*"))


def test_history_order_and_rollback_selection(ctx: Context, journal: Path) -> None:
    path = ctx.path("/etc/pip.conf")
    ids = []
    for content in (b"1\n", b"2\n", b"3\n"):
        record = apply_changes(
            ctx,
            [change(ctx, path, content)],
            journal=journal,
            description=f"write {content!r}",
            profile="p",
        )
        ids.append(record.id)
    listed = history(journal)
    assert [item.id for item in listed] == ids[::-1]
    assert listed[0].time > listed[1].time > listed[2].time
    assert listed[0].to_json()["files"] == ["/etc/pip.conf"]
    assert [rollback(ctx, journal).id for _ in range(2)] == [ids[2], ids[1]]
    assert path.read_bytes() == b"1\n"
    assert [item.status for item in history(journal)] == ["rolled back", "rolled back", "applied"]
    with pytest.raises(EnvdoctorError, match="it is rolled back"):
        rollback(ctx, journal, ids[2])
    with pytest.raises(EnvdoctorError, match="no apply with id 'nope'"):
        rollback(ctx, journal, "nope")
    result = rollback(ctx, journal, ids[0][:-1])  # a unique prefix
    assert result.removed == ("/etc/pip.conf",)
    assert not path.exists()
    with pytest.raises(EnvdoctorError, match="nothing to roll back"):
        rollback(ctx, journal)


def test_history_skips_unreadable_entries(ctx: Context, journal: Path) -> None:
    do_apply(ctx, journal, change(ctx, ctx.path("/etc/x.conf"), b"x\n"))
    (journal / "20000101T000000Z-broken").mkdir()
    write(journal / "20000101T000000Z-junk/manifest.json", b"{not json")
    assert len(history(journal)) == 1


# ----------------------------------------------------------------- lock


def test_lock_is_exclusive_and_names_the_holder(tmp_path: Path) -> None:
    with lock(tmp_path / "j"):
        assert (tmp_path / "j/lock").read_text().strip() == str(os.getpid())
        busy = rf"another envdoctor apply is running \(pid {os.getpid()}\)"
        with pytest.raises(EnvdoctorError, match=busy), lock(tmp_path / "j", timeout=0.05):
            pass
    with lock(tmp_path / "j"):  # released
        pass
    assert (tmp_path / "j").stat().st_mode & 0o777 == 0o700


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


_CHILD_APPLY = """
import sys
from pathlib import Path
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.transaction import apply_changes
from envdoctor.results import FileChange
root = Path(sys.argv[1])
ctx = Context.for_root(root)
path = root / "etc/pip.conf"
try:
    apply_changes(ctx, [FileChange("t", path, "/etc/pip.conf", None, b"child\\n")],
                  journal=root / "journal", description="d", profile="p")
except EnvdoctorError as exc:
    print(exc.message)
    sys.exit(2)
"""


def test_a_second_process_fails_fast_while_an_apply_holds_the_lock(tmp_path: Path) -> None:
    with lock(tmp_path / "journal"):
        done = subprocess.run(
            [sys.executable, "-c", _CHILD_APPLY, str(tmp_path)],
            env=_child_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2, done.stderr
    assert f"another envdoctor apply is running (pid {os.getpid()})" in done.stdout
    assert not (tmp_path / "etc/pip.conf").exists()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD_APPLY, str(tmp_path)],
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "etc/pip.conf").read_bytes() == b"child\n"


# ----------------------------------------------------------------- killed mid-apply

_FLIPPER = """
import sys
from pathlib import Path
from envdoctor.context import Context
from envdoctor.transaction import apply_changes
from envdoctor.results import FileChange
root = Path(sys.argv[1])
ctx = Context.for_root(root)
variants = [[(f"file {i} variant {v} " * 16 + "\\n").encode() * 1000 for v in (0, 1)]
            for i in range(3)]
paths = [root / f"etc/f{i}.conf" for i in range(3)]
print("ready", flush=True)
while True:
    changes = []
    for path, (zero, one) in zip(paths, variants):
        old = path.read_bytes()
        changes.append(FileChange("t", path, str(path), old, one if old == zero else zero))
    apply_changes(ctx, changes, journal=root / "journal", description="flip", profile="p")
"""


def _variants() -> list[list[bytes]]:
    return [
        [(f"file {i} variant {v} " * 16 + "\n").encode() * 1000 for v in (0, 1)] for i in range(3)
    ]


def test_a_killed_apply_is_repaired_by_the_next_locked_command(
    ctx: Context, tmp_path: Path
) -> None:
    variants = _variants()
    paths = [write(ctx.path(f"/etc/f{i}.conf"), variants[i][0]) for i in range(3)]
    journal = tmp_path / "journal"
    rng = random.Random(4)
    killed = 0
    for _ in range(20):
        child = subprocess.Popen(
            [sys.executable, "-c", _FLIPPER, str(tmp_path)],
            env=_child_env(),
            stdout=subprocess.PIPE,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        try:
            child.wait(timeout=rng.uniform(0.0, 0.06))
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
        child.stdout.close()
        for path, pair in zip(paths, variants, strict=True):
            assert path.read_bytes() in pair  # each file wholly old or new, even now
        killed += len(transaction.recover(ctx, journal))
        assert_repaired(ctx, journal, paths, _variants())
    assert killed, "no kill landed inside an apply: the loop proves nothing"
    assert any(record.status == "applied" for record in history(journal))
    latest = next(record for record in history(journal) if record.status == "applied")
    result = rollback(ctx, journal)
    assert result.id == latest.id
    for item in manifest(latest)["files"]:  # each file as that apply found it
        assert hashlib.sha256(Path(item["target"]).read_bytes()).hexdigest() == item["old_sha256"]
    do_apply(ctx, journal, *(change(ctx, path, b"final\n") for path in paths))
    assert temps(ctx.root) == []


# ----------------------------------------------------------------- diff


def _diff_change(old: bytes | None, new: bytes | None) -> FileChange:
    return FileChange("pip", Path("/x/pip.conf"), "/etc/pip.conf", old, new)


def test_unified_diff_masks_credentials() -> None:
    old = b"[global]\nindex-url = https://user:secret@host/simple\n"
    new = (
        b"[global]\nindex-url = https://mirror/simple\n"
        b'extra = ["https://u:p4ss@a.example/x", "https://tok@b.example"]\n'
    )
    diff = unified_diff(_diff_change(old, new))
    assert diff.splitlines()[:2] == ["--- a/etc/pip.conf", "+++ b/etc/pip.conf"]
    assert "-index-url = https://***:***@host/simple" in diff
    assert '+extra = ["https://***:***@a.example/x", "https://***@b.example"]' in diff
    for secret in ("secret", "p4ss", "tok", "user"):
        assert secret not in diff
    assert "secret" in unified_diff(_diff_change(old, new), mask=None)
    assert "-index-url = <URL>" in unified_diff(_diff_change(old, new), lambda url: "<URL>")


def test_unified_diff_masks_what_url_matching_misses_and_secret_variables() -> None:
    old = (
        b"[global]\nindex-url = https://pipuser:pa'ss-SECRET1@127.0.0.1:18081/simple\n"
        b"proxy = proxyuser:SECRET2@127.0.0.1:3128\n"
        b"export ALL_PROXY=user:SECRET3@127.0.0.1:1080\n"
        b"export OPENAI_API_KEY=sk-SECRET4\nexport AWS_SECRET_ACCESS_KEY=SECRET5\n"
        b"export GITHUB_PAT=ghp_SECRET6\nexport TOKENIZERS_PARALLELISM=false\n"
        b"url = git@github.com:org/repo\n"
    )
    diff = unified_diff(_diff_change(old, b"[global]\n"))
    for number in range(1, 7):
        assert f"SECRET{number}" not in diff, diff
    assert "-index-url = https://***:***@127.0.0.1:18081/simple" in diff
    assert "-proxy = ***:***@127.0.0.1:3128" in diff
    assert "-export ALL_PROXY=***:***@127.0.0.1:1080" in diff
    assert "-export OPENAI_API_KEY=***" in diff
    assert "-export TOKENIZERS_PARALLELISM=false" in diff  # not a credential
    assert "-url = git@github.com:org/repo" in diff


def test_unified_diff_line_endings_and_new_files() -> None:
    crlf = unified_diff(_diff_change(b"a\r\nb\r\n", b"a\r\nc\r\n"))
    assert "\r" not in crlf
    assert "-b\n+c\n" in crlf
    assert unified_diff(_diff_change(b"a\r\n", b"a\n")).count("a") == 3  # headers + -a +a
    tail = unified_diff(_diff_change(b"x\ny", b"x\ny\n"))
    assert "-y\n\\ No newline at end of file\n+y\n" in tail
    created = unified_diff(_diff_change(None, b"new\n"))
    assert created.splitlines()[:2] == ["--- /dev/null", "+++ b/etc/pip.conf"]
    assert "+new" in created
    assert unified_diff(_diff_change(b"same\n", b"same\n")) == ""
    assert "\ufffd" in unified_diff(_diff_change(b"\xff\n", b"ok\n"))


@given(
    user=st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=12),
    password=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ!$&()*+,;=%:", min_size=1, max_size=12),
    prefix=st.sampled_from(["index-url = ", '  "', "- ", "url='"]),
)
def test_mask_line_never_leaks_the_password(user: str, password: str, prefix: str) -> None:
    line = f"{prefix}https://{user}:{password}@mirror.example/simple"
    masked = mask_line(line)
    assert masked == f"{prefix}https://***:***@mirror.example/simple"
