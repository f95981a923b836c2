"""Full disks, quotas, read-only and bind-mounted files, owners, tokens (issue #11, 3, 5).

Every expected OS failure, at every step of an apply (the lock, the backup, the temp
file, the rename, the restore), is one clear message through the CLI (what, where, what
to do), exit 2, and a journal status that is what is on disk.  The real cases (a tiny
tmpfs, a bind-mounted file, a run as another user) run where the machine allows them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from envdoctor.cli import cli
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.results import FileChange
from envdoctor.safewrite import owner_problem
from envdoctor.transaction import (
    TEMP_MARKER,
    apply_changes,
    history,
    journal_dir,
    rollback,
    unified_diff,
)
from tests.txhelp import REPO, Renames, change, do_apply, fd_path, temps, write

PIP_CONF = b"[global]\ntimeout = 30\n"
CONDARC = b"channels:\n  - defaults\n"
APPLY = ("apply", "--profile", "cn-tsinghua", "--only", "pip,conda", "--yes")

REMEDIES = {
    errno.ENOSPC: "df -h",
    errno.EDQUOT: "quota -s",
    errno.EROFS: "read-only filesystem",
    errno.EBUSY: "mount point",
    errno.EXDEV: "mount point",
}


@pytest.fixture
def image(tmp_path: Path) -> Path:
    root = tmp_path / "image"
    write(root / "etc/pip.conf", PIP_CONF, 0o640)
    write(root / "etc/conda/.condarc", CONDARC)
    (root / "home/u").mkdir(parents=True)
    return root


def run(image: Path, *args: str) -> Any:
    env = {"HOME": "/home/u", "NO_COLOR": "1"}
    argv = [*args[:1], "--root", str(image), "--scope", "system", *args[1:]]
    return CliRunner().invoke(cli, argv, env=env)


def snapshot(root: Path) -> dict[str, str]:
    """Every file outside the journal: its digest."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "var/lib/envdoctor" not in str(path)
    }


def _oserror(code: int, path: str = "") -> OSError:
    return OSError(code, os.strerror(code), path)


def _inject(step: str, code: int, image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``step`` of the next apply fail with ``code``."""
    condarc = image / "etc/conda/.condarc"
    real_write = os.write
    if step == "lock":

        def pwrite(fd: int, data: bytes, offset: int) -> int:
            raise _oserror(code, fd_path(fd))

        monkeypatch.setattr(os, "pwrite", pwrite)
    elif step in ("backup", "temp"):
        marker = "/var/lib/envdoctor/" if step == "backup" else f".condarc{TEMP_MARKER}"

        def write_(fd: int, data: Any) -> int:
            if marker in fd_path(fd):
                raise _oserror(code, fd_path(fd))
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write_)
    elif step == "rename":
        Renames(monkeypatch).fail(condarc, code)
    else:
        raise AssertionError(step)


@pytest.mark.parametrize("code", list(REMEDIES), ids=errno.errorcode.get)
@pytest.mark.parametrize("step", ["lock", "backup", "temp", "rename"])
def test_an_os_failure_at_any_step_is_one_clear_message_and_a_true_status(
    image: Path, monkeypatch: pytest.MonkeyPatch, step: str, code: int
) -> None:
    before = snapshot(image)
    _inject(step, code, image, monkeypatch)
    out = run(image, *APPLY)
    monkeypatch.undo()
    assert out.exit_code == 2, out.output
    assert "internal error" not in out.output and "Traceback" not in out.output
    errors = [line for line in out.stderr.splitlines() if line.startswith("envdoctor: error:")]
    assert len(errors) == 1, out.stderr
    assert f"({errno.errorcode[code]})" in errors[0]
    where = {
        "lock": "cannot write the lock",
        "backup": "cannot back up into",
        "temp": f"could not write {image}/etc/conda/.condarc",  # the image's file, not /etc
        "rename": f"could not write {image}/etc/conda/.condarc",
    }[step]
    assert where in errors[0]
    assert "nothing was changed" in errors[0]
    assert REMEDIES[code] in out.stderr  # the hint line: what to do
    assert snapshot(image) == before
    assert temps(image) == []
    statuses = [record.status for record in history(image / "var/lib/envdoctor")]
    assert statuses == ([] if step in ("lock", "backup") else ["failed, restored"])


@pytest.mark.parametrize("code", list(REMEDIES), ids=errno.errorcode.get)
def test_a_failing_restore_says_which_file_is_not_restored(
    image: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    pip, condarc = image / "etc/pip.conf", image / "etc/conda/.condarc"
    renames = Renames(monkeypatch)
    renames.fail(condarc, code)
    renames.fail(pip, code, at=1)  # putting pip.conf back fails too
    out = run(image, *APPLY)
    monkeypatch.undo()
    assert out.exit_code == 2, out.output
    [record] = history(image / "var/lib/envdoctor")
    assert record.status == "failed, restore incomplete"  # true: pip.conf is still new
    assert b"tuna" in pip.read_bytes() and condarc.read_bytes() == CONDARC
    assert f"restore incomplete: {pip}: {os.strerror(code)}" in out.stderr
    assert f"envdoctor rollback {record.id}" in out.stderr
    assert "every file is as it was" not in out.stderr
    undone = run(image, "rollback")
    assert undone.exit_code == 0, undone.output
    assert (pip.read_bytes(), condarc.read_bytes()) == (PIP_CONF, CONDARC)
    assert history(image / "var/lib/envdoctor")[0].status == "rolled back"


def test_a_disk_that_fills_up_midway_restores_without_needing_space(
    image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once pip.conf is written the disk is full: every later write fails.  Putting pip.conf
    # back needs no space (the replaced file is swapped back), so every file is intact and
    # the status says so.
    real_write = os.write
    full = {"now": False}

    def write_(fd: int, data: Any) -> int:
        if full["now"]:
            raise _oserror(errno.ENOSPC, fd_path(fd))
        return real_write(fd, data)

    def fill(path: Path, count: int) -> None:
        full["now"] = True

    monkeypatch.setattr(os, "write", write_)
    Renames(monkeypatch).after[image / "etc/pip.conf"] = fill
    before = snapshot(image)
    out = run(image, *APPLY)
    monkeypatch.undo()
    assert out.exit_code == 2, out.output
    condarc = image / "etc/conda/.condarc"
    assert f"could not write {condarc}: No space left on device (ENOSPC)" in out.stderr
    assert "nothing was changed: every file is as it was" in out.stderr
    assert snapshot(image) == before
    assert history(image / "var/lib/envdoctor")[0].status == "failed, restored"


def test_a_full_disk_during_rollback_is_a_clear_message(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = journal_dir(ctx, "user")
    path = write(ctx.home / ".condarc", CONDARC)
    do_apply(ctx, journal, change(ctx, path, CONDARC + b"x: 1\n"))

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        raise _oserror(errno.ENOSPC)

    monkeypatch.setattr(os, "pwrite", pwrite)
    with pytest.raises(EnvdoctorError) as info:
        rollback(ctx, journal)
    assert "cannot write the lock" in info.value.message
    assert "No space left on device (ENOSPC); nothing was changed" in info.value.message
    assert info.value.hint is not None and "df -h" in info.value.hint


# ----------------------------------------------------------------- the real thing


def _namespace_works() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs x /mnt"],
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


needs_mounts = pytest.mark.skipif(
    not _namespace_works(), reason="needs root and a private mount namespace (unshare -m)"
)

_FULL_DISK = r"""
set -u
mount -t tmpfs -o size=128k tmpfs "$R"
mkdir -p "$R/etc/conda" "$R/home/u"
printf '[global]\ntimeout = 30\n' > "$R/etc/pip.conf"
printf 'channels:\n  - defaults\n' > "$R/etc/conda/.condarc"
dd if=/dev/zero of="$R/filler" bs=4k 2>/dev/null
for n in $(seq 0 11); do
  HOME=/home/u NO_COLOR=1 "$PY" -m envdoctor apply --root "$R" --scope system \
    --profile cn-tsinghua --only pip,conda --yes > "$OUT/$n.out" 2> "$OUT/$n.err"
  rc=$?
  echo $rc > "$OUT/$n.rc"
  sha256sum "$R/etc/pip.conf" "$R/etc/conda/.condarc" | cut -c1-64 > "$OUT/$n.sha"
  find "$R" -name '*.envdoctor-tmp-*' > "$OUT/$n.temps"
  [ $rc = 0 ] && break
  size=$(stat -c %s "$R/filler")  # two pages more for the next run
  [ "$size" -gt 8192 ] && truncate -s $((size - 8192)) "$R/filler" || truncate -s 0 "$R/filler"
done
HOME=/home/u "$PY" -m envdoctor history --root "$R" --scope system --json > "$OUT/history.json"
"""


@needs_mounts
def test_a_real_full_filesystem(tmp_path: Path) -> None:
    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    out.mkdir()
    env = {**os.environ, "R": str(root), "OUT": str(out), "PY": sys.executable}
    env["PYTHONPATH"] = str(REPO)
    subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", _FULL_DISK],
        env=env,
        check=True,
        timeout=120,
    )
    old = [hashlib.sha256(data).hexdigest() for data in (PIP_CONF, CONDARC)]
    applied_at = None
    messages = set()
    runs = len(list(out.glob("*.rc")))
    for n in range(runs):
        code = int((out / f"{n}.rc").read_text())
        stderr = (out / f"{n}.err").read_text()
        assert (out / f"{n}.temps").read_text() == ""
        assert "internal error" not in stderr and "Traceback" not in stderr, stderr
        digests = (out / f"{n}.sha").read_text().split()
        if code == 2:
            assert applied_at is None
            assert "No space left on device (ENOSPC)" in stderr, stderr
            assert "df -h" in stderr
            assert digests == old  # wholly old
            messages.add(stderr.split(":")[2].strip().split(" /")[0])
        else:
            assert code == 0, stderr
            applied_at = applied_at if applied_at is not None else n
            assert digests != old and digests[0] != old[0] and digests[1] != old[1]
    assert applied_at is not None, "never enough space to apply: the test proves little"
    assert len(messages) >= 3, messages  # it failed at several steps: lock, backup, write
    statuses = [record["status"] for record in json.loads((out / "history.json").read_text())]
    assert statuses[0] == "applied" and set(statuses[1:]) <= {"failed, restored"}


_BIND_MOUNT = r"""
set -eu
mount --bind "$SRC" "$R/etc/conda/.condarc"
set +e
HOME=/home/u NO_COLOR=1 "$PY" -m envdoctor apply --root "$R" --scope system \
  --profile cn-tsinghua --only pip,conda --yes > "$OUT/out" 2> "$OUT/err"
echo $? > "$OUT/rc"
"""


@needs_mounts
def test_a_real_bind_mounted_file(image: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "host.condarc", CONDARC)
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(image)
    env = {**os.environ, "R": str(image), "SRC": str(source), "OUT": str(out)}
    env |= {"PY": sys.executable, "PYTHONPATH": str(REPO)}
    subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", _BIND_MOUNT],
        env=env,
        check=True,
        timeout=60,
    )
    stderr = (out / "err").read_text()
    assert (out / "rc").read_text().strip() == "2", stderr
    condarc = image / "etc/conda/.condarc"
    assert f"could not write {condarc}: Device or resource busy (EBUSY)" in stderr
    assert "nothing was changed: every file is as it was" in stderr
    assert "mount point" in stderr and "where it is mounted from" in stderr
    assert snapshot(image) == before and source.read_bytes() == CONDARC
    assert [r.status for r in history(image / "var/lib/envdoctor")] == ["failed, restored"]


# ----------------------------------------------------------------- owners (issue #11, 3)


def _as_uid_1000(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "getegid", lambda: 1000)
    monkeypatch.setattr(os, "getgroups", lambda: [1000, 27])


def test_who_can_keep_which_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    _as_uid_1000(monkeypatch)
    assert owner_problem(1000, 1000) is None
    assert owner_problem(1000, 27) is None  # a group of ours: fchown can give it
    assert owner_problem(0, 0) == "owner root:root cannot be kept (you are uid 1000)"
    assert owner_problem(1000, 0) is not None  # our uid, but a group we are not in
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert owner_problem(1234, 5678) is None


def test_apply_refuses_a_file_whose_owner_it_cannot_keep(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = journal_dir(ctx, "user")
    bashrc = write(ctx.home / ".bashrc", b"# managed by the admin\n")  # owned by root
    mine = ctx.home / ".config/envdoctor/env.sh"
    changes = [
        FileChange("env", mine, "~/.config/envdoctor/env.sh", None, b"export A=1\n"),
        FileChange("env", bashrc, "~/.bashrc", bashrc.read_bytes(), b"# managed\n. env.sh\n"),
    ]
    _as_uid_1000(monkeypatch)
    with pytest.raises(EnvdoctorError) as info:
        apply_changes(ctx, changes, journal=journal, description="d", profile="p")
    monkeypatch.undo()
    assert bashrc.read_bytes() == b"# managed by the admin\n"
    assert bashrc.stat().st_uid == 0
    assert not mine.exists() and not journal.exists()
    assert "~/.bashrc: owner root:root cannot be kept (you are uid 1000)" in info.value.message
    assert "nothing was written" in info.value.message
    assert info.value.hint is not None
    assert "sudo envdoctor apply --scope user" in info.value.hint
    assert "--skip env" in info.value.hint


def test_the_plan_says_so_and_apply_refuses_before_asking(
    image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(image)
    _as_uid_1000(monkeypatch)
    dry = run(image, "apply", "--profile", "cn-tsinghua", "--only", "pip", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert (
        f"{image}/etc/pip.conf: owner root:root cannot be kept (you are uid 1000): apply "
        "refuses to write it" in dry.stdout
    )
    out = run(image, "apply", "--profile", "cn-tsinghua", "--only", "pip")  # no --yes, no tty
    assert out.exit_code == 2
    assert "owner root:root cannot be kept (you are uid 1000)" in out.stderr
    assert "no terminal to ask on" not in out.stderr  # refused before asking
    monkeypatch.undo()
    assert snapshot(image) == before


def test_rollback_refuses_to_give_a_file_away(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a file owned by someone else needs root")
    journal = journal_dir(ctx, "user")
    path = write(ctx.home / ".condarc", CONDARC)
    os.chown(path, 1234, 1234)
    do_apply(ctx, journal, change(ctx, path, CONDARC + b"x: 1\n"))  # root keeps 1234
    assert path.stat().st_uid == 1234
    _as_uid_1000(monkeypatch)
    with pytest.raises(EnvdoctorError) as info:
        rollback(ctx, journal)
    monkeypatch.undo()
    assert "cannot be kept (you are uid 1000); nothing was rolled back" in info.value.message
    assert info.value.hint is not None and "as root" in info.value.hint
    assert path.read_bytes() == CONDARC + b"x: 1\n"


def _nobody() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or _nobody() is None,
    reason="needs root, setpriv and a 'nobody' user to run envdoctor as someone else",
)
def test_a_real_user_scope_apply_keeps_a_root_owned_rc_file() -> None:
    nobody = _nobody()
    assert nobody is not None
    home = Path(tempfile.mkdtemp(prefix="envdoctor-home-"))
    try:
        os.chown(home, nobody.pw_uid, nobody.pw_gid)
        bashrc = write(home / ".bashrc", b"# root's rules\n")  # root-owned, in their home
        env = {
            "HOME": str(home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NO_COLOR": "1",
            "PYTHONPATH": str(REPO),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        done = subprocess.run(
            [
                "setpriv",
                f"--reuid={nobody.pw_uid}",
                f"--regid={nobody.pw_gid}",
                "--clear-groups",
                sys.executable,
                "-m",
                "envdoctor",
                "apply",
                "--profile",
                "cn-tsinghua",
                "--only",
                "env",
                "--scope",
                "user",
                "--yes",
            ],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert "~/.bashrc: owner root:root cannot be kept" in done.stderr
        assert f"(you are uid {nobody.pw_uid})" in done.stderr
        assert bashrc.read_bytes() == b"# root's rules\n"
        assert (bashrc.stat().st_uid, bashrc.stat().st_gid) == (0, 0)
        assert not (home / ".config/envdoctor").exists()
    finally:
        shutil.rmtree(home, ignore_errors=True)


# ----------------------------------------------------------------- conda tokens


def test_the_diff_masks_conda_tokens_and_credentials() -> None:
    old = b"channels:\n  - https://conda.anaconda.org/t/tk-1a2b3c-SECRET/private\n"
    new = (
        b"channels: [https://conda.anaconda.org/t/tk-1a2b3c-SECRET/private, defaults]\n"
        b"channel_alias: https://user:pw4@conda.example/t/OTHER/\n"
    )
    diff = unified_diff(FileChange("conda", Path("/x"), "~/.condarc", old, new))
    assert "-  - https://conda.anaconda.org/t/***/private" in diff
    assert "+channels: [https://conda.anaconda.org/t/***/private, defaults]" in diff
    assert "+channel_alias: https://***:***@conda.example/t/***/" in diff
    for secret in ("SECRET", "OTHER", "pw4", "user"):
        assert secret not in diff


def test_dry_run_and_apply_never_print_a_conda_token(image: Path) -> None:
    condarc = image / "etc/conda/.condarc"
    condarc.write_bytes(
        b"channels:\n  - https://conda.anaconda.org/t/tk-9z8y7x-SECRET/private\n"
        b"custom_channels:\n  pytorch: https://conda.anaconda.org/t/tk-9z8y7x-SECRET/\n"
    )
    dry = run(image, "apply", "--profile", "cn-tsinghua", "--only", "conda", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "/t/***/" in dry.stdout
    applied = run(image, "apply", "--profile", "cn-tsinghua", "--only", "conda", "--yes")
    assert applied.exit_code == 0, applied.output
    for out in (dry, applied):
        assert "SECRET" not in out.output
