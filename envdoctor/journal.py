"""The backup journal: entries, manifests, putting files back, recovery and pruning.

Each apply gets an entry ``<journal>/<id>/`` holding ``manifest.json`` (what was planned,
the digests before and after, the status) and ``files/<n>``, the bytes of every file as
it was.  The manifest is on disk before the first file is written, so an entry without one
never had any effect.  :mod:`envdoctor.transaction` writes entries; this module reads them,
puts files back, and repairs what a killed run left (:func:`recover`), always under the
journal lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envdoctor.errors import EnvdoctorError
from envdoctor.safewrite import (
    KEPT_MARKER,
    ConflictError,
    access_remedy,
    describe,
    fsync_dir,
    make_parents,
    owner_problem,
    read_or_none,
    remedy,
    remove_empty_dirs,
    remove_stale_temps,
    sha256,
    write_atomically,
    write_guarded,
    write_new,
)

__all__ = [
    "APPLIED",
    "APPLYING",
    "DEFAULT_KEEP",
    "FAILED_INCOMPLETE",
    "FAILED_RESTORED",
    "INTERRUPTED",
    "MANIFEST",
    "ROLLBACKABLE",
    "ROLLBACK_INCOMPLETE",
    "ROLLED_BACK",
    "ROLLING_BACK",
    "UNCHANGED",
    "ApplyRecord",
    "PutBack",
    "entries",
    "give_to_owner_of",
    "lock",
    "new_entry",
    "owner_of",
    "prune",
    "put_back",
    "record",
    "recover",
    "restore_problem",
    "save_backup",
    "write_manifest",
]

MANIFEST = "manifest.json"
_MANIFEST_VERSION = 1
_ENTRY_NAME = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")

DEFAULT_KEEP = 20
"""Journal entries kept by default (``ENVDOCTOR_JOURNAL_KEEP`` changes it)."""

# Entry states.  "applying" and "rolling back" stay on disk only when a run was killed.
APPLYING = "applying"
APPLIED = "applied"
FAILED_RESTORED = "failed, restored"
"""A write failed and every file is as it was before the apply."""
FAILED_INCOMPLETE = "failed, restore incomplete"
"""A write failed and some file still holds what the apply wrote (the manifest says why)."""
ROLLING_BACK = "rolling back"
ROLLED_BACK = "rolled back"
ROLLBACK_INCOMPLETE = "rollback incomplete"
UNCHANGED = "unchanged"
"""The status of an apply with nothing to change: it is not journaled."""
INTERRUPTED = (APPLYING, ROLLING_BACK)
ROLLBACKABLE = (APPLIED, APPLYING, ROLLING_BACK, FAILED_INCOMPLETE, ROLLBACK_INCOMPLETE)
"""Entries that may still leave envdoctor's content in some file."""


@dataclass(frozen=True)
class ApplyRecord:
    """One apply as its journal entry records it."""

    id: str
    time: dt.datetime
    profile: str
    description: str
    status: str
    files: tuple[str, ...]
    """Display paths (``~/.config/pip/pip.conf``) of the files the apply changed."""
    entry: Path
    """The journal entry directory holding the manifest and the backups."""
    notes: tuple[str, ...] = ()
    """What else this run did, one line each: earlier interrupted runs it recovered, an
    edit made during the apply that it kept beside the file."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "profile": self.profile,
            "description": self.description,
            "status": self.status,
            "files": list(self.files),
        }


# --------------------------------------------------------------------------- ownership


def owner_of(directory: Path) -> tuple[int, int]:
    info = directory.stat()
    return info.st_uid, info.st_gid


def give_to_owner_of(directory: Path, target: Path | int) -> None:
    """Chown ``target`` (a path or an fd) to the owner of ``directory``, when root."""
    owner = owner_of(directory)
    if os.geteuid() == 0 and owner != (os.geteuid(), os.getegid()):
        if isinstance(target, int):
            os.fchown(target, *owner)
        else:
            os.chown(target, *owner)


# --------------------------------------------------------------------------- lock


def _lock_error(exc: OSError, what: str, lock_path: Path) -> EnvdoctorError:
    where = str(lock_path.parent)
    access = exc.errno in (errno.EACCES, errno.EPERM)
    nearest = next((p for p in (lock_path.parent, *lock_path.parents) if p.exists()), None)
    return EnvdoctorError(
        f"{what} {lock_path}: {describe(exc)}; nothing was changed",
        access_remedy(nearest) if access and nearest else remedy(exc, str(lock_path), where),
    )


@contextlib.contextmanager
def lock(
    directory: Path, *, timeout: float = 0.0, owner: tuple[int, int] | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on ``<directory>/lock`` for the duration of the block.

    Another holder makes this fail fast (after ``timeout`` seconds at most) with an
    :class:`EnvdoctorError` naming its pid, rather than waiting forever.  The kernel
    drops the lock when its holder dies, so a killed run never leaves it stuck.
    ``directory`` is created mode 0o700, owned by ``owner`` (the invoking user under
    sudo); the lock file, like everything in the journal, gets the directory's owner.
    An OS failure (no space, read-only, no permission) is an :class:`EnvdoctorError`.
    """
    lock_path = directory / "lock"
    try:
        if directory in make_parents(directory, owner):
            directory.chmod(0o700)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise _lock_error(exc, "cannot create the lock", lock_path) from None
    try:
        try:
            give_to_owner_of(directory, fd)
        except OSError as exc:
            raise _lock_error(exc, "cannot create the lock", lock_path) from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                    raise EnvdoctorError(
                        f"another envdoctor apply is running (pid {holder})",
                        f"wait for it to finish; it holds {lock_path}",
                    ) from None
                time.sleep(0.02)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            raise _lock_error(exc, "cannot write the lock", lock_path) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- entries


def new_entry(journal: Path, manifest: dict[str, Any]) -> Path:
    """Create the directory of a new entry (``manifest`` gets its id and time); its path."""
    now = dt.datetime.now(dt.timezone.utc)
    apply_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    manifest.update(
        version=_MANIFEST_VERSION, id=apply_id, time=now.isoformat(timespec="microseconds")
    )
    entry = journal / apply_id
    entry.mkdir(mode=0o700)
    give_to_owner_of(journal, entry)
    (entry / "files").mkdir(mode=0o700)
    give_to_owner_of(journal, entry / "files")
    return entry


def save_backup(entry: Path, index: int, data: bytes) -> str:
    """Keep ``data`` (a file as it was) in the entry, readable only by its owner; its name."""
    backup = entry / "files" / str(index)
    write_new(backup, data, mode=0o600, owner=owner_of(entry))
    return backup.name


def write_manifest(entry: Path, manifest: dict[str, Any]) -> None:
    """Replace the entry's manifest atomically; the first one also makes the backups
    durable first, as it names them."""
    if manifest.get("status") == APPLYING:
        fsync_dir(entry / "files")
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    try:
        write_atomically(entry / MANIFEST, data, mode=0o600, owner=owner_of(entry))
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not _rewrite_in_place(
            entry / MANIFEST, data
        ):
            raise


def _rewrite_in_place(path: Path, data: bytes) -> bool:
    """On a full disk, the status must still be recorded: rewrite ``path`` within the
    blocks it already has, padded with spaces (still JSON) so that no truncate is needed.
    False when it does not fit or the write fails."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if len(data) > max(info.st_size, info.st_blocks * 512):
            return False
        padded = data + b" " * (info.st_size - len(data))
        if os.pwrite(fd, padded, 0) != len(padded):
            return False
        os.fsync(fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _load_manifest(entry: Path) -> dict[str, Any] | None:
    """The manifest of a journal entry, or None when it is missing or unreadable."""
    try:
        manifest = json.loads((entry / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != _MANIFEST_VERSION:
        return None
    try:
        dt.datetime.fromisoformat(str(manifest["time"]))
        valid = isinstance(manifest["id"], str) and isinstance(manifest["files"], list)
    except (KeyError, ValueError):
        return None
    return manifest if valid else None


def _when(manifest: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(manifest["time"]))


def record(entry: Path, manifest: dict[str, Any], notes: Iterable[str] = ()) -> ApplyRecord:
    return ApplyRecord(
        id=str(manifest["id"]),
        time=_when(manifest),
        profile=str(manifest.get("profile", "")),
        description=str(manifest.get("description", "")),
        status=str(manifest.get("status", "")),
        files=tuple(str(item["display"]) for item in manifest.get("files", [])),
        entry=entry,
        notes=tuple(notes),
    )


def entries(journal: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Readable journal entries, newest first."""
    found: list[tuple[Path, dict[str, Any]]] = []
    try:
        children = list(journal.iterdir()) if journal.is_dir() else []
    except OSError as exc:
        raise EnvdoctorError(
            f"cannot read the journal {journal}: {describe(exc)}",
            "run with sudo, or use --scope user",
        ) from None
    for entry in children:
        manifest = _load_manifest(entry) if entry.is_dir() else None
        if manifest is not None:
            found.append((entry, manifest))
    found.sort(key=lambda item: (_when(item[1]), item[1]["id"]), reverse=True)
    return found


# --------------------------------------------------------------------------- putting back

RESTORED = "restored"
REMOVED = "removed"
ALREADY = "unchanged"
KEPT = "kept"
FAILED = "failed"


@dataclass(frozen=True)
class PutBack:
    """What :func:`put_back` did to one file."""

    display: str
    outcome: str
    """``restored``, ``removed`` (the apply had created it), ``unchanged`` (already as it
    was), ``kept`` (changed by someone else: left as it is) or ``failed``."""
    detail: str = ""

    @property
    def done(self) -> bool:
        """The file no longer holds anything the apply wrote."""
        return self.outcome in (RESTORED, REMOVED, ALREADY)

    def __str__(self) -> str:
        return f"{self.display}: {self.detail}" if self.detail else self.display


def restore_problem(item: dict[str, Any]) -> str | None:
    """Why putting ``item`` back would change its owner; None if it would not."""
    if not item["existed"]:
        return None
    return owner_problem(int(item["uid"]), int(item["gid"]))


def keep_version(target: Path, data: bytes) -> Path:
    """Keep ``data``, a version of ``target`` about to be replaced on purpose (``rollback
    --force`` over an edit), beside it under its name, :data:`KEPT_MARKER` and eight
    random hex digits, with the target's mode and owner; that name."""
    info = target.stat()
    kept = target.with_name(f"{target.name}{KEPT_MARKER}{secrets.token_hex(4)}")
    write_new(kept, data, mode=stat.S_IMODE(info.st_mode), owner=(info.st_uid, info.st_gid))
    fsync_dir(target.parent)
    return kept


def put_back(entry: Path, item: dict[str, Any], *, force: bool = False) -> PutBack:
    """Put one file back as the manifest item recorded it, if it holds what the apply wrote.

    A file already as it was is left alone; one holding anything else (someone's edit) is
    kept unless ``force``.  The write is guarded: an edit made while it happens is kept.
    """
    display, target = str(item["display"]), Path(item["target"])
    try:
        current = read_or_none(target)
    except (OSError, EnvdoctorError) as exc:
        return PutBack(display, FAILED, describe(exc))
    now = sha256(current)
    created = [Path(directory) for directory in item["created_dirs"]]
    if now == item["old_sha256"]:
        remove_empty_dirs(created)
        return PutBack(display, ALREADY)
    if now != item["new_sha256"] and not force:
        return PutBack(display, KEPT, "changed after the apply; that version is kept")
    problem = restore_problem(item)
    if problem is not None:
        return PutBack(display, FAILED, f"{problem}; run envdoctor rollback as root")
    edit_kept: Path | None = None
    if now != item["new_sha256"] and current is not None:  # --force over someone's edit
        try:
            edit_kept = keep_version(target, current)
        except OSError as exc:
            return PutBack(display, FAILED, f"the edit could not be kept: {describe(exc)}")
    try:
        if item["existed"]:
            data = (entry / "files" / str(item["backup"])).read_bytes()
            target.parent.mkdir(parents=True, exist_ok=True)
            owner = (int(item["uid"]), int(item["gid"]))
            copy = write_guarded(target, data, expected=now, mode=int(item["mode"]), owner=owner)
        else:
            copy = write_guarded(target, None, expected=now)
    except ConflictError as exc:
        where = f" (and {exc.copy})" if exc.copy else ""
        return PutBack(display, KEPT, f"{exc.reason}; that version is kept{where}")
    except (OSError, EnvdoctorError) as exc:
        return PutBack(display, FAILED, describe(exc))
    remove_empty_dirs(created)
    details = []
    if edit_kept is not None:
        details.append(f"the version edited after the apply is kept in {edit_kept}")
    if copy:
        details.append(f"an edit found beside it is kept in {copy}")
    return PutBack(display, RESTORED if item["existed"] else REMOVED, "; ".join(details))


# --------------------------------------------------------------------------- recovery


def _finish(entry: Path, manifest: dict[str, Any], before: float) -> str:
    """Roll back an entry a killed run left "applying" or "rolling back"; a line saying so.

    The killed run's temp files go before the new status is written: once it is, no later
    recovery looks beside these files again.
    """
    outcomes = [put_back(entry, item) for item in reversed(manifest["files"])]
    for item in manifest["files"]:
        target = Path(item["target"])
        remove_stale_temps(target.parent, target.name, before=before)
    for item, outcome in zip(reversed(manifest["files"]), outcomes, strict=True):
        if outcome.done:  # a killed run's temp file kept the directories the apply made
            remove_empty_dirs([Path(directory) for directory in item["created_dirs"]])
    problems = [str(outcome) for outcome in outcomes if not outcome.done]
    was = manifest["status"]
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    if was == APPLYING:
        manifest["status"] = FAILED_INCOMPLETE if problems else FAILED_RESTORED
        manifest["error"] = f"interrupted before it finished; rolled back at {now}"
    else:
        manifest["status"] = ROLLBACK_INCOMPLETE if problems else ROLLED_BACK
        manifest["rolled_back_at"] = now
    if problems:
        manifest["restore_errors"] = problems
    write_manifest(entry, manifest)
    what = "apply" if was == APPLYING else "rollback of"
    back = sum(outcome.outcome in (RESTORED, REMOVED) for outcome in outcomes)
    done = f"{back} file(s) put back" if back else "every file was already as it was"
    line = f"an unfinished {what} {manifest['id']} was rolled back: {done}"
    if problems:
        line += f"; not put back: {'; '.join(problems)} (envdoctor rollback {manifest['id']})"
    return line


def recover(
    journal: Path, *, before: float, skip: Path | None = None, beside: Sequence[Path] = ()
) -> list[str]:
    """Repair what killed runs left in ``journal``; one line per thing done.  Call it
    holding the lock, ``before`` being when it was taken.

    * entries without a manifest (killed while backing up: nothing had been written) are
      removed;
    * entries left "applying" are rolled back (every file that holds what the apply wrote
      gets its backup; a file someone changed since is kept), entries left "rolling back"
      are finished, both the same way; ``skip`` is left to the caller;
    * temp files beside those entries' files and beside ``beside``, and inside entries,
      are removed when older than ``before``.
    """
    notes: list[str] = []
    try:
        children = sorted(journal.iterdir()) if journal.is_dir() else []
    except OSError:
        return notes
    for child in children:
        if not _ENTRY_NAME.fullmatch(child.name) or not child.is_dir() or child.is_symlink():
            continue
        if not (child / MANIFEST).exists():
            shutil.rmtree(child, ignore_errors=True)
            notes.append(
                f"removed journal entry {child.name}: it was interrupted while backing up, "
                "before any file was written"
            )
            continue
        for directory in (child, child / "files"):
            remove_stale_temps(directory, None, before=before)
    for entry, manifest in reversed(entries(journal)):
        if manifest["status"] not in INTERRUPTED or entry == skip:
            continue
        try:
            notes.append(_finish(entry, manifest, before))
        except OSError as exc:
            notes.append(f"could not recover {manifest['id']}: {describe(exc)}")
    for target in dict.fromkeys(beside):
        remove_stale_temps(target.parent, target.name, before=before)
    return notes


def prune(journal: Path, keep: int) -> list[str]:
    """Remove all but the newest ``keep`` entries; the ids removed.

    Never removed, however old: the entry a plain ``envdoctor rollback`` would undo, for
    every file the newest not-rolled-back entry that changed it (its backup is what undoes
    the file as it is now), and every entry interrupted, or failed or rolled back only in
    part, whose backups may still be needed.
    """
    found = entries(journal)
    needed: set[Path] = set()  # per file, the newest entry whose backup undoes it now
    seen: set[str] = set()
    for entry, manifest in found:
        if manifest["status"] not in ROLLBACKABLE:
            continue
        files = {str(item["target"]) for item in manifest["files"]}
        if not needed or files - seen:
            needed.add(entry)
        seen |= files
    removed: list[str] = []
    for entry, manifest in found[keep:]:
        if entry in needed or manifest["status"] not in (FAILED_RESTORED, ROLLED_BACK, APPLIED):
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(entry)
            removed.append(str(manifest["id"]))
    return removed
