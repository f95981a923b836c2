"""The write engine every target shares: atomic writes, a backup journal, a lock, rollback.

Targets only compute new file content (:class:`~envdoctor.results.FileChange`).  This
module turns a list of changes into disk writes that are

* atomic per file: a temp file in the same directory, fsync, ``os.replace``, fsync the
  directory, so a killed process leaves each file wholly old or wholly new;
* conflict-aware: a file that changed since it was read is never overwritten;
* all or nothing: every current file is backed up into a journal entry before the first
  write, and the files already written are restored when a later write fails;
* reversible: :func:`rollback` restores an apply byte for byte, with mode and owner;
* exclusive: a lock keeps two runs from interleaving.

Nothing here prints file content; :func:`unified_diff` masks URL credentials.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envdoctor.errors import EnvdoctorError
from envdoctor.redact import mask_line, mask_url

if TYPE_CHECKING:
    from envdoctor.context import Context
    from envdoctor.results import FileChange
    from envdoctor.planning import Scope

__all__ = [
    "TEMP_MARKER",
    "ApplyRecord",
    "RollbackRecord",
    "apply_changes",
    "atomic_write",
    "history",
    "journal_dir",
    "lock",
    "resolve_target",
    "rollback",
    "unified_diff",
]

TEMP_MARKER = ".envdoctor-tmp-"
"""Temp files are ``.<name>.envdoctor-tmp-XXXXXXXX``: hidden, and never read as config."""

_MANIFEST = "manifest.json"
_MANIFEST_VERSION = 1
_MAX_SYMLINK_HOPS = 40

# Journal entry states.  "applying" stays on disk when a run was killed mid-way.
APPLYING = "applying"
APPLIED = "applied"
FAILED_RESTORED = "failed, restored"
FAILED_INCOMPLETE = "failed, restore incomplete"
ROLLED_BACK = "rolled back"
UNCHANGED = "unchanged"
"""The status of an apply with nothing to change: it is not journaled."""
_ROLLBACKABLE = (APPLIED, APPLYING)


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

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "profile": self.profile,
            "description": self.description,
            "status": self.status,
            "files": list(self.files),
        }


@dataclass(frozen=True)
class RollbackRecord:
    """What :func:`rollback` did."""

    id: str
    profile: str
    files: tuple[str, ...]
    """Display paths of every file put back as it was (restored or removed), apply order."""
    restored: tuple[str, ...]
    """Display paths put back to their content before the apply."""
    removed: tuple[str, ...]
    """Display paths the apply had created, now removed."""
    unchanged: tuple[str, ...] = ()
    """Display paths already as they were before the apply (an interrupted apply)."""


# --------------------------------------------------------------------------- paths


def journal_dir(ctx: Context, scope: Scope) -> Path:
    """Where applies are journaled: the user's XDG state dir, or /var/lib/envdoctor."""
    if scope == "system":
        return ctx.path("/var/lib/envdoctor")
    return ctx.xdg_state_home / "envdoctor"


def resolve_target(path: Path, root: Path = Path("/")) -> Path:
    """The file a write to ``path`` really lands in, following every symlink.

    A dangling link resolves to the path it names, so the write creates it there.  Under
    a ``root`` other than ``/`` (an image tree), an absolute link target that is not
    already inside ``root`` is read relative to ``root``, as inside a chroot, so a write
    never escapes the tree; ``..`` never climbs above ``root``.
    """
    confined = root != Path("/")
    pending = list(path.absolute().parts[1:])
    current = Path("/")
    hops = 0
    while pending:
        name = pending.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            if not (confined and current == root):
                current = current.parent
            continue
        candidate = current / name
        if not candidate.is_symlink():
            current = candidate
            continue
        hops += 1
        if hops > _MAX_SYMLINK_HOPS:
            raise EnvdoctorError(
                f"too many levels of symbolic links at {path}",
                "fix the symlink loop, then run the command again",
            )
        link = candidate.readlink()
        if link.is_absolute():
            if confined and not link.is_relative_to(root):
                link = root / link.relative_to("/")
            current = Path("/")
        pending[:0] = link.parts[1:] if link.is_absolute() else link.parts
    return current


def _read(path: Path) -> bytes | None:
    """The bytes of ``path``, or None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise EnvdoctorError(
            f"{path} is a directory, expected a file", "move it out of the way"
        ) from None


def _missing_parents(directory: Path) -> list[Path]:
    """The ancestors of ``directory`` (itself included) that do not exist, outermost first."""
    missing: list[Path] = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    return missing[::-1]


def _make_parents(directory: Path, owner: tuple[int, int] | None) -> list[Path]:
    """Create ``directory`` and its missing parents, owned by ``owner``; the ones created."""
    created: list[Path] = []
    for missing in _missing_parents(directory):
        try:
            missing.mkdir()
        except FileExistsError:
            continue
        created.append(missing)
        if owner is not None and os.geteuid() == 0:
            os.chown(missing, *owner)
    return created


def _remove_empty_dirs(directories: Sequence[Path]) -> None:
    """Remove the directories a write created, deepest first, where they are still empty."""
    for directory in sorted(directories, key=lambda d: len(d.parts), reverse=True):
        with contextlib.suppress(OSError):
            directory.rmdir()


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}{TEMP_MARKER}{secrets.token_hex(4)}")


def _clean_stale_temps(directory: Path, name: str) -> None:
    """Remove temp files a killed run left next to ``name`` (call only under the lock)."""
    if not directory.is_dir():
        return
    for leftover in directory.glob(f".{_glob_escape(name)}{TEMP_MARKER}*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _glob_escape(name: str) -> str:
    """``name`` with glob metacharacters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


# --------------------------------------------------------------------------- writes


def _replace(target: Path, data: bytes, *, mode: int, owner: tuple[int, int] | None) -> None:
    """Atomically make ``target`` hold ``data`` with ``mode`` and ``owner`` (uid, gid).

    The temp file is created with O_EXCL and mode 0o600, so the content is never
    readable by others before it has its final mode.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    while True:
        temp = _temp_name(target)
        try:
            fd = os.open(temp, flags, 0o600)
            break
        except FileExistsError:
            continue
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            if owner is not None and os.geteuid() == 0:
                current = os.fstat(fd)
                if (current.st_uid, current.st_gid) != owner:
                    os.fchown(fd, *owner)
            # after chown: chown clears the set-id bits
            os.fchmod(fd, stat.S_IMODE(mode))
        finally:
            os.close(fd)
        temp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_dir(target.parent)


def _remove(target: Path) -> None:
    """Remove ``target`` (if it exists) durably."""
    try:
        target.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(target.parent)


def atomic_write(
    path: Path,
    data: bytes | None,
    *,
    expected_old: bytes | None,
    mode: int = 0o644,
    owner: tuple[int, int] | None = None,
    root: Path = Path("/"),
) -> list[Path]:
    """Replace the file at ``path`` with ``data`` (None: remove it), atomically.

    Writes through symlinks to their final target.  Refuses when the current content is
    not ``expected_old`` (None: the file must not exist).  An existing file keeps its
    mode and owner; a new one gets ``mode`` and, when running as root, ``owner``.
    Missing parent directories are created (owned by ``owner``); the directories
    created are returned, outermost first, so a rollback can remove them.
    """
    target = resolve_target(path, root)
    current = _read(target)
    if current != expected_old:
        raise EnvdoctorError(
            f"{path} changed since it was read; nothing was written to it",
            "run the command again so it plans against the current content",
        )
    if data is None:
        _remove(target)
        return []
    if current is not None:
        info = target.stat()
        mode, owner = info.st_mode, (info.st_uid, info.st_gid)
    created = _make_parents(target.parent, owner)
    try:
        _replace(target, data, mode=mode, owner=owner)
    except BaseException:
        _remove_empty_dirs(created)
        raise
    return created


# --------------------------------------------------------------------------- lock


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
    """
    lock_path = directory / "lock"
    try:
        if directory in _make_parents(directory, owner):
            directory.chmod(0o700)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        _give_to_owner_of(directory, fd)
    except OSError as exc:
        raise EnvdoctorError(
            f"cannot create the lock {lock_path}: {exc.strerror}",
            "run with sudo, or use --scope user",
        ) from None
    try:
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
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- journal


def _sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _new_id(now: dt.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _owner_of(directory: Path) -> tuple[int, int]:
    info = directory.stat()
    return info.st_uid, info.st_gid


def _give_to_owner_of(directory: Path, target: Path | int) -> None:
    """Chown ``target`` (a path or an fd) to the owner of ``directory``, when root."""
    owner = _owner_of(directory)
    if os.geteuid() == 0 and owner != (os.geteuid(), os.getegid()):
        if isinstance(target, int):
            os.fchown(target, *owner)
        else:
            os.chown(target, *owner)


def _write_manifest(entry: Path, manifest: dict[str, Any]) -> None:
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    _replace(entry / _MANIFEST, data, mode=0o600, owner=_owner_of(entry))


def _load_manifest(entry: Path) -> dict[str, Any] | None:
    """The manifest of a journal entry, or None when it is missing or unreadable."""
    try:
        manifest = json.loads((entry / _MANIFEST).read_bytes())
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


def _record(entry: Path, manifest: dict[str, Any]) -> ApplyRecord:
    return ApplyRecord(
        id=str(manifest["id"]),
        time=_when(manifest),
        profile=str(manifest.get("profile", "")),
        description=str(manifest.get("description", "")),
        status=str(manifest.get("status", "")),
        files=tuple(str(item["display"]) for item in manifest.get("files", [])),
        entry=entry,
    )


def _entries(journal: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Readable journal entries, newest first."""
    found: list[tuple[Path, dict[str, Any]]] = []
    try:
        children = list(journal.iterdir()) if journal.is_dir() else []
    except OSError as exc:
        raise EnvdoctorError(
            f"cannot read the journal {journal}: {_describe(exc)}",
            "run with sudo, or use --scope user",
        ) from None
    for entry in children:
        manifest = _load_manifest(entry) if entry.is_dir() else None
        if manifest is not None:
            found.append((entry, manifest))
    found.sort(key=lambda item: (_when(item[1]), item[1]["id"]), reverse=True)
    return found


def _when(manifest: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(manifest["time"]))


def history(journal: Path) -> list[ApplyRecord]:
    """Every apply in ``journal``, newest first."""
    return [_record(entry, manifest) for entry, manifest in _entries(journal)]


# --------------------------------------------------------------------------- apply


@dataclass(frozen=True)
class _Step:
    """One file of a transaction, planned and validated."""

    change: FileChange
    target: Path
    created_dirs: tuple[Path, ...]


def _check_writable(change: FileChange, target: Path) -> None:
    """Fail before any write when the directory that will hold ``target`` is read-only."""
    parent = target.parent
    missing = _missing_parents(parent)
    nearest = missing[0].parent if missing else parent
    if not nearest.is_dir():
        raise EnvdoctorError(
            f"cannot write {change.display}: {nearest} is not a directory",
            "move it out of the way, then run the command again",
        )
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise EnvdoctorError(
            f"cannot write {change.display}: {nearest} is not writable by this user",
            "run with sudo, or use --scope user",
        )


def _validate(ctx: Context, changes: Sequence[FileChange]) -> list[_Step]:
    """Resolve and check every change: unchanged since read, writable, no duplicates."""
    steps: list[_Step] = []
    seen: dict[Path, str] = {}
    for change in changes:
        target = resolve_target(change.path, ctx.root)
        if target in seen:
            raise EnvdoctorError(
                f"{change.display} and {seen[target]} are the same file",
                "apply the targets that write it one at a time (--only)",
            )
        seen[target] = change.display
        if _read(target) != change.old:
            raise EnvdoctorError(
                f"{change.display} changed since it was read; nothing was written",
                "run the command again so it plans against the current content",
            )
        _check_writable(change, target)
        steps.append(_Step(change, target, tuple(_missing_parents(target.parent))))
    return steps


def _backup(entry: Path, index: int, step: _Step) -> dict[str, Any]:
    """Save the current state of one file into the journal entry; its manifest item."""
    change, target = step.change, step.target
    link = str(change.path.readlink()) if change.path.is_symlink() else None
    item: dict[str, Any] = {
        "target_name": change.target,
        "display": change.display,
        "path": str(change.path),
        "target": str(target),
        "symlink": link,
        "existed": change.old is not None,
        "backup": None,
        "mode": None,
        "uid": None,
        "gid": None,
        "old_sha256": _sha256(change.old),
        "new_sha256": _sha256(change.new),
        "created_dirs": [str(directory) for directory in step.created_dirs],
    }
    if change.old is not None:
        info = target.stat()
        backup = entry / "files" / str(index)
        _replace(backup, change.old, mode=0o600, owner=_owner_of(entry))
        item.update(
            backup=backup.name, mode=stat.S_IMODE(info.st_mode), uid=info.st_uid, gid=info.st_gid
        )
    return item


def _restore(entry: Path, item: dict[str, Any]) -> bool:
    """Put one file back as the manifest item recorded it; True when it was removed."""
    target = Path(item["target"])
    if item["existed"]:
        data = (entry / "files" / str(item["backup"])).read_bytes()
        owner = (int(item["uid"]), int(item["gid"]))
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(target, data, mode=int(item["mode"]), owner=owner)
        removed = False
    else:
        _remove(target)
        removed = True
    _remove_empty_dirs([Path(directory) for directory in item["created_dirs"]])
    return removed


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        name = errno.errorcode.get(exc.errno or 0, "")
        reason = exc.strerror or str(exc)
        return f"{reason} ({name})" if name else reason
    return str(exc) or type(exc).__name__


def apply_changes(
    ctx: Context,
    changes: Sequence[FileChange],
    *,
    journal: Path,
    description: str,
    profile: str,
    owner: tuple[int, int] | None = None,
) -> ApplyRecord:
    """Write every changed file, all or nothing, journaled for :func:`rollback`.

    Checks every file first (unchanged since it was read, its directory writable), then,
    under the journal lock, backs up every current file into a new journal entry whose
    manifest is on disk before the first write, and writes each file atomically.  When a
    write fails, the files already written are restored, the entry is marked
    ``failed, restored`` and an :class:`EnvdoctorError` names the file and the OS error.
    When no change changes anything it writes and journals nothing and returns a record
    with status ``unchanged``, an empty id and no files.
    ``owner`` owns the journal directory if this call creates it (under sudo with user
    scope: the invoking user, so their own later runs can use it).
    """
    pending = [change for change in changes if change.changed]
    if not pending:
        now = dt.datetime.now(dt.timezone.utc)
        return ApplyRecord("", now, profile, description, UNCHANGED, (), journal)
    _validate(ctx, pending)
    with lock(journal, owner=owner):
        steps = _validate(ctx, pending)  # again: another run may have finished meanwhile
        for step in steps:
            _clean_stale_temps(step.target.parent, step.target.name)
        return _run(journal, steps, description=description, profile=profile)


def _run(journal: Path, steps: Sequence[_Step], *, description: str, profile: str) -> ApplyRecord:
    now = dt.datetime.now(dt.timezone.utc)
    apply_id = _new_id(now)
    entry = journal / apply_id
    manifest: dict[str, Any] = {
        "version": _MANIFEST_VERSION,
        "id": apply_id,
        "time": now.isoformat(timespec="microseconds"),
        "profile": profile,
        "description": description,
        "status": APPLYING,
        "files": [],
    }
    try:
        entry.mkdir(mode=0o700)
        _give_to_owner_of(journal, entry)
        (entry / "files").mkdir(mode=0o700)
        _give_to_owner_of(journal, entry / "files")
        items = [_backup(entry, index, step) for index, step in enumerate(steps)]
        manifest["files"] = items
        _write_manifest(entry, manifest)  # before the first write, or no write happens
    except OSError as exc:
        shutil.rmtree(entry, ignore_errors=True)
        raise EnvdoctorError(
            f"cannot back up into {entry}: {_describe(exc)}; nothing was written",
            "free some space or fix the permissions of the journal directory",
        ) from None
    attempted: list[dict[str, Any]] = []
    try:
        for step, item in zip(steps, items, strict=True):
            attempted.append(item)
            change = step.change
            atomic_write(
                step.target,
                change.new,
                expected_old=change.old,
                mode=change.mode,
                owner=change.owner,
            )
    except BaseException as exc:
        _fail(entry, manifest, attempted, exc)
        if isinstance(exc, (OSError, EnvdoctorError)):
            display = attempted[-1]["display"]
            reason = exc.message if isinstance(exc, EnvdoctorError) else _describe(exc)
            raise EnvdoctorError(
                f"could not write {display}: {reason}",
                f"every file was restored ({manifest['status']}); fix the problem and "
                "run the command again",
            ) from exc
        raise
    manifest["status"] = APPLIED
    try:
        _write_manifest(entry, manifest)
    except OSError as exc:
        raise EnvdoctorError(
            f"every file was written, but {entry / _MANIFEST} could not be updated: "
            f"{_describe(exc)}",
            f"envdoctor rollback {apply_id} still undoes this apply",
        ) from None
    return _record(entry, manifest)


def _fail(
    entry: Path, manifest: dict[str, Any], attempted: list[dict[str, Any]], exc: BaseException
) -> None:
    """Restore every file a failed apply touched; record how that went in the manifest."""
    problems: list[str] = []
    for item in reversed(attempted):
        try:
            _restore(entry, item)
        # A second Ctrl-C must not stop the other files from being restored.
        except BaseException as restore_exc:  # noqa: BLE001
            problems.append(f"{item['display']}: {_describe(restore_exc)}")
    manifest["status"] = FAILED_INCOMPLETE if problems else FAILED_RESTORED
    manifest["error"] = _describe(exc)
    if problems:
        manifest["restore_errors"] = problems
    with contextlib.suppress(OSError):
        _write_manifest(entry, manifest)


# --------------------------------------------------------------------------- rollback


def _find_entry(journal: Path, apply_id: str | None) -> tuple[Path, dict[str, Any]]:
    entries = _entries(journal)
    if apply_id is None:
        for entry, manifest in entries:
            if manifest["status"] in _ROLLBACKABLE:
                return entry, manifest
        raise EnvdoctorError(
            f"nothing to roll back in {journal}", "envdoctor history lists past applies"
        )
    matches = [item for item in entries if str(item[1]["id"]).startswith(apply_id)]
    if len(matches) != 1:
        what = "no apply" if not matches else f"{len(matches)} applies"
        raise EnvdoctorError(
            f"{what} with id {apply_id!r} in {journal}",
            "envdoctor history lists past applies and their ids",
        )
    entry, manifest = matches[0]
    if manifest["status"] not in _ROLLBACKABLE:
        raise EnvdoctorError(
            f"apply {manifest['id']} cannot be rolled back: it is {manifest['status']}",
            "envdoctor history lists past applies and their status",
        )
    return matches[0]


def rollback(
    ctx: Context, journal: Path, apply_id: str | None = None, *, force: bool = False
) -> RollbackRecord:
    """Put back the files of an apply (default: the latest one not rolled back).

    Each file gets its content, mode and owner from before the apply; files the apply
    created are removed, with the directories it created where they are empty.  A file
    changed since the apply is not overwritten unless ``force``: an
    :class:`EnvdoctorError` names it.  ``apply_id`` may be a unique prefix.
    """
    del ctx  # the journal records real paths; kept for symmetry with apply_changes
    with lock(journal):
        entry, manifest = _find_entry(journal, apply_id)
        todo: list[dict[str, Any]] = []
        unchanged: list[str] = []
        changed: list[str] = []
        for item in manifest["files"]:
            current = _sha256(_read(Path(item["target"])))
            if current == item["old_sha256"]:
                unchanged.append(item["display"])  # interrupted before this file
            elif current == item["new_sha256"] or force:
                todo.append(item)
            else:
                changed.append(item["display"])
        if changed:
            raise EnvdoctorError(
                f"{', '.join(changed)} changed after apply {manifest['id']}; nothing was "
                "rolled back",
                f"look at the changes, then run envdoctor rollback --force {manifest['id']}",
            )
        restored: list[str] = []
        removed: list[str] = []
        for item in reversed(todo):
            try:
                was_removed = _restore(entry, item)
            except OSError as exc:
                raise EnvdoctorError(
                    f"could not restore {item['display']}: {_describe(exc)}",
                    f"fix the problem, then run envdoctor rollback --force {manifest['id']}",
                ) from exc
            (removed if was_removed else restored).append(item["display"])
        manifest["status"] = ROLLED_BACK
        manifest["rolled_back_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
        _write_manifest(entry, manifest)
    done = set(restored) | set(removed)
    return RollbackRecord(
        id=str(manifest["id"]),
        profile=str(manifest.get("profile", "")),
        files=tuple(str(item["display"]) for item in manifest["files"] if item["display"] in done),
        restored=tuple(reversed(restored)),
        removed=tuple(reversed(removed)),
        unchanged=tuple(unchanged),
    )


# --------------------------------------------------------------------------- diff

_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")


def _lines(data: bytes | None) -> list[str]:
    return [] if data is None else _LINE.findall(data.decode("utf-8", errors="replace"))


def unified_diff(change: FileChange, mask: Callable[[str], str] | None = mask_url) -> str:
    """A unified diff of one change, ``--- a/<display>`` / ``+++ b/<display>``.

    Lines are compared with their endings, so a CRLF to LF change shows; they are shown
    without them, and a last line without a newline is marked as git marks it.  ``mask``
    rewrites every URL on a line holding ``://`` and ``@``: the default,
    :func:`~envdoctor.redact.mask_url`, shows ``https://user:secret@host`` as
    ``https://***:***@host``; None shows lines as they are.  Empty when nothing changes.
    """
    name = change.display.lstrip("/")
    fromfile = "/dev/null" if change.old is None else f"a/{name}"
    tofile = "/dev/null" if change.new is None else f"b/{name}"
    out: list[str] = []
    diff = difflib.unified_diff(
        _lines(change.old), _lines(change.new), fromfile, tofile, lineterm=""
    )
    for number, line in enumerate(diff):
        if number < 2 or line.startswith("@@"):
            out.append(line)
            continue
        text = line[:-1] if line.endswith("\n") else line
        text = text[:-1] if text.endswith("\r") else text
        out.append(text if mask is None else mask_line(text, mask))
        if not line.endswith("\n"):
            out.append("\\ No newline at end of file")
    return "".join(f"{line}\n" for line in out)
