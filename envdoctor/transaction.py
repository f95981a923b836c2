"""The write engine every target shares: atomic writes, a backup journal, a lock, rollback.

Targets only compute new file content (:class:`~envdoctor.results.FileChange`).  This
module turns a list of changes into disk writes that are

* atomic per file: a temp file in the same directory, fsync, an atomic swap, fsync the
  directory, so a killed process leaves each file wholly old or wholly new;
* conflict-aware: a file whose bytes differ from those planned against is never written,
  and nothing is ever written over an edit made while envdoctor works: the swap keeps
  the replaced file until it has been checked (:mod:`envdoctor.safewrite` says how, and
  what small window POSIX leaves);
* all or nothing: every current file is backed up into a journal entry before the first
  write; when a later write fails, the files envdoctor already replaced are put back, but
  only those that still hold exactly what it wrote (a file someone changed since is kept,
  and the error says so);
* reversible: :func:`rollback` restores an apply byte for byte, with mode and owner;
* exclusive and self-repairing: a lock keeps two runs apart, and whoever takes it next
  repairs what a killed run left (:func:`envdoctor.journal.recover`): an interrupted apply
  is rolled back, its temp files removed, entries without a manifest removed, and the
  journal pruned to the newest ``ENVDOCTOR_JOURNAL_KEEP`` (default 20) entries;
* owner-preserving: a file whose owner this process cannot keep is refused before any
  write, with the remedy (:func:`ownership_problems`).

Every expected OS failure (a full disk, a quota, a read-only filesystem, a bind-mounted
file) becomes one :class:`~envdoctor.errors.EnvdoctorError` naming the file and what to
do, and the status recorded in the journal is what is really on disk.  Nothing here prints
file content; :func:`unified_diff` masks URL credentials and conda tokens.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from envdoctor import linediff
from envdoctor.errors import EnvdoctorError, UsageError
from envdoctor.journal import (
    APPLIED,
    APPLYING,
    DEFAULT_KEEP,
    FAILED_INCOMPLETE,
    FAILED_RESTORED,
    MANIFEST,
    ROLLBACK_INCOMPLETE,
    ROLLBACKABLE,
    ROLLED_BACK,
    ROLLING_BACK,
    UNCHANGED,
    ApplyRecord,
    entries,
    lock,
    new_entry,
    prune,
    put_back,
    record,
    restore_problem,
    save_backup,
    write_manifest,
)
from envdoctor.journal import recover as recover_journal
from envdoctor.redact import mask_conda_url, mask_secret_value, scrub_userinfo
from envdoctor.safewrite import (
    TEMP_MARKER,
    WRITTEN_MEANWHILE,
    ConflictError,
    Swap,
    access_remedy,
    describe,
    make_parents,
    missing_parents,
    move_aside,
    owner_problem,
    read_or_none,
    remedy,
    remove_empty_dirs,
    resolve_target,
    sha256,
    swap_in,
    write_guarded,
)

if TYPE_CHECKING:
    from envdoctor.context import Context
    from envdoctor.results import FileChange

Scope = Literal["user", "system"]

__all__ = [
    "APPLIED",
    "APPLYING",
    "FAILED_INCOMPLETE",
    "FAILED_RESTORED",
    "ROLLBACK_INCOMPLETE",
    "ROLLED_BACK",
    "ROLLING_BACK",
    "TEMP_MARKER",
    "UNCHANGED",
    "ApplyRecord",
    "ConflictError",
    "RollbackRecord",
    "apply_changes",
    "atomic_write",
    "check_owners",
    "history",
    "journal_dir",
    "lock",
    "ownership_problems",
    "recover",
    "resolve_target",
    "rollback",
    "unified_diff",
]

KEEP_VARIABLE = "ENVDOCTOR_JOURNAL_KEEP"
"""How many journal entries to keep (default :data:`envdoctor.journal.DEFAULT_KEEP`)."""


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
    notes: tuple[str, ...] = ()
    """Earlier interrupted runs this run recovered, and versions kept beside a file put back
    (an edit ``--force`` replaced), one line each."""


# --------------------------------------------------------------------------- paths


def journal_dir(ctx: Context, scope: Scope) -> Path:
    """Where applies are journaled: the user's XDG state dir, or /var/lib/envdoctor."""
    if scope == "system":
        return ctx.path("/var/lib/envdoctor")
    return ctx.xdg_state_home / "envdoctor"


def _parent_display(display: str) -> str:
    parent = display.rpartition("/")[0]
    return parent or "/"


# --------------------------------------------------------------------------- writes


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
    not ``expected_old`` (None: the file must not exist), checked again immediately before
    the swap and on the replaced file after it (:class:`ConflictError`).  An existing file
    keeps its mode and owner; a new one gets ``mode`` and, when running as root, ``owner``.
    Missing parent directories are created (owned by ``owner``); the directories created
    are returned, outermost first, so a rollback can remove them.  OS errors propagate.
    """
    target = resolve_target(path, root)
    if read_or_none(target) != expected_old:
        raise EnvdoctorError(
            f"{path} changed since it was read; nothing was written to it",
            "run the command again so it plans against the current content",
        )
    expected = sha256(expected_old)
    if data is None:
        if expected_old is not None:
            write_guarded(target, None, expected=expected)
        return []
    created = make_parents(target.parent, owner)
    try:
        write_guarded(target, data, expected=expected, mode=mode, owner=owner, keep_attrs=True)
    except BaseException:
        remove_empty_dirs(created)
        raise
    return created


# --------------------------------------------------------------------------- lock


@contextlib.contextmanager
def _locked(journal: Path, owner: tuple[int, int] | None = None) -> Iterator[float]:
    """The lock, and the time it was taken: anything of ours older is a killed run's."""
    with lock(journal, owner=owner):
        yield time.time()


def recover(
    ctx: Context, journal: Path, *, owner: tuple[int, int] | None = None
) -> tuple[str, ...]:
    """Take the lock and repair what killed runs left in ``journal``; a line per repair.

    An apply interrupted while writing is rolled back (files that hold what it wrote get
    their backup; a file changed since is kept), an interrupted rollback is finished,
    temp files the killed run left beside its files are removed, and entries killed before
    their manifest was written (nothing had been changed) are removed.  :func:`apply_changes`
    and :func:`rollback` do this too; calling it first lets a plan see the repaired files.
    """
    del ctx  # the journal records real paths
    if not journal.is_dir():
        return ()
    with _locked(journal, owner) as since:
        return tuple(recover_journal(journal, before=since))


def history(journal: Path) -> list[ApplyRecord]:
    """Every apply in ``journal``, newest first."""
    return [record(entry, manifest) for entry, manifest in entries(journal)]


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
    missing = missing_parents(parent)
    nearest = missing[0].parent if missing else parent
    if not nearest.is_dir():
        raise EnvdoctorError(
            f"cannot write {change.display}: {nearest} is not a directory",
            "move it out of the way, then run the command again",
        )
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise EnvdoctorError(
            f"cannot write {change.display}: {nearest} is not writable by this user",
            access_remedy(nearest),
        )


def ownership_problems(ctx: Context, changes: Sequence[FileChange]) -> list[str]:
    """One line per existing file this process cannot replace without changing its owner
    (``~/.bashrc: owner root:root cannot be kept (you are uid 1000)``).

    Replacing a file means writing a new one, owned by whoever writes it; only root can
    give it another owner.  :func:`apply_changes` refuses such a file before any write.
    """
    problems: list[str] = []
    for change in changes:
        if not change.changed or change.old is None:
            continue
        try:
            info = resolve_target(change.path, ctx.root).stat()
        except OSError:
            continue  # gone meanwhile: the conflict check reports it
        problem = owner_problem(info.st_uid, info.st_gid)
        if problem is not None:
            problems.append(f"{change.display}: {problem}")
    return problems


def same_file_problems(ctx: Context, changes: Sequence[FileChange]) -> list[str]:
    """``"<a> and <b> are the same file"`` for each change whose file (links followed)
    an earlier change also writes: apply refuses those, and a dry run says so."""
    problems: list[str] = []
    seen: dict[Path, str] = {}
    for change in changes:
        target = resolve_target(change.path, ctx.root)
        if target in seen:
            problems.append(f"{change.display} and {seen[target]} are the same file")
        else:
            seen[target] = change.display
    return problems


def check_same_files(ctx: Context, changes: Sequence[FileChange]) -> None:
    """Refuse (:class:`EnvdoctorError`) when :func:`same_file_problems` finds one."""
    shared = same_file_problems(ctx, changes)
    if shared:
        raise EnvdoctorError(
            f"{'; '.join(shared)}; nothing was written",
            "apply the targets that write it one at a time (--only)",
        )


def check_owners(ctx: Context, changes: Sequence[FileChange]) -> None:
    """Refuse (:class:`EnvdoctorError`, with the remedy) when :func:`ownership_problems`
    finds a file whose owner would change."""
    problems = ownership_problems(ctx, changes)
    if not problems:
        return
    displays = {problem.partition(": ")[0] for problem in problems}
    targets = ",".join(dict.fromkeys(c.target for c in changes if c.display in displays))
    raise EnvdoctorError(
        f"{'; '.join(problems)}: writing it would make it yours; nothing was written",
        "run envdoctor with sudo to keep the owner (sudo envdoctor apply --scope user ... for "
        f"files in your home), chown the file if it should be yours, or leave it out (--skip "
        f"{targets})",
    )


def _validate(ctx: Context, changes: Sequence[FileChange]) -> list[_Step]:
    """Resolve and check every change: unchanged since read, writable, owner kept, no
    duplicates."""
    check_same_files(ctx, changes)
    steps: list[_Step] = []
    for change in changes:
        target = resolve_target(change.path, ctx.root)
        try:
            current = read_or_none(target)
        except OSError as exc:
            raise EnvdoctorError(
                f"cannot read {change.display}: {describe(exc)}; nothing was written",
                remedy(exc, change.display, _parent_display(change.display)),
            ) from None
        if current != change.old:
            raise EnvdoctorError(
                f"{change.display} changed since it was read; nothing was written",
                "run the command again so it plans against the current content",
            )
        _check_writable(change, target)
        steps.append(_Step(change, target, tuple(missing_parents(target.parent))))
    check_owners(ctx, changes)
    return steps


def _journal_keep(ctx: Context) -> int:
    value = ctx.env.get(KEEP_VARIABLE, "").strip()
    if not value:
        return DEFAULT_KEEP
    if not value.isdigit() or int(value) < 1:
        raise UsageError(
            f"{KEEP_VARIABLE} must be a whole number of journal entries, at least 1: {value!r}",
            f"unset it to keep the default {DEFAULT_KEEP}",
        )
    return int(value)


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

    Checks every file first (unchanged since it was read, its directory writable, its
    owner keepable), then, under the journal lock, recovers what killed runs left, backs
    up every current file into a new journal entry whose manifest is on disk before the
    first write, and swaps each file in.  When a write fails or a file turns out to have
    been edited meanwhile, the files already replaced are put back (those still holding
    what envdoctor wrote), the entry records the real outcome (``failed, restored`` or
    ``failed, restore incomplete``) and an :class:`EnvdoctorError` says what failed,
    where, what is on disk now and what to do.  Then the journal is pruned.
    When no change changes anything it writes and journals nothing and returns a record
    with status ``unchanged``, an empty id and no files.
    ``owner`` owns the journal directory if this call creates it (under sudo with user
    scope: the invoking user, so their own later runs can use it).
    """
    pending = [change for change in changes if change.changed]
    if not pending:
        now = dt.datetime.now(dt.timezone.utc)
        return ApplyRecord("", now, profile, description, UNCHANGED, (), journal)
    keep = _journal_keep(ctx)
    _validate(ctx, pending)
    with _locked(journal, owner) as since:
        beside = [resolve_target(change.path, ctx.root) for change in pending]
        notes = recover_journal(journal, before=since, beside=beside)
        try:  # again: another run may have finished meanwhile, or recovery put files back
            steps = _validate(ctx, pending)
        except EnvdoctorError as exc:
            if not notes:
                raise
            raise EnvdoctorError(f"{exc.message} ({'; '.join(notes)})", exc.hint) from None
        result = _run(journal, steps, description=description, profile=profile)
        with contextlib.suppress(OSError, EnvdoctorError):
            prune(journal, keep)
    return dataclasses.replace(result, notes=(*notes, *result.notes))


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
        "old_sha256": sha256(change.old),
        "new_sha256": sha256(change.new),
        "created_dirs": [str(directory) for directory in step.created_dirs],
    }
    if change.old is not None:
        info = target.stat()
        item.update(
            backup=save_backup(entry, index, change.old),
            mode=info.st_mode & 0o7777,
            uid=info.st_uid,
            gid=info.st_gid,
        )
    return item


def _swap(step: _Step) -> Swap:
    """Start writing one file: the swap is done, not yet settled."""
    change = step.change
    expected = sha256(change.old)
    if change.new is None:
        return move_aside(step.target, expected)
    make_parents(step.target.parent, change.owner)
    return swap_in(step.target, change.new, expected=expected, mode=change.mode, owner=change.owner)


def _run(journal: Path, steps: Sequence[_Step], *, description: str, profile: str) -> ApplyRecord:
    manifest: dict[str, Any] = {
        "profile": profile,
        "description": description,
        "status": APPLYING,
        "files": [],
    }
    entry: Path | None = None
    try:
        entry = new_entry(journal, manifest)
        items = [_backup(entry, index, step) for index, step in enumerate(steps)]
        manifest["files"] = items
        write_manifest(entry, manifest)  # before the first write, or no write happens
    except OSError as exc:
        if entry is not None:
            shutil.rmtree(entry, ignore_errors=True)
        where = str(entry or journal)
        raise EnvdoctorError(
            f"cannot back up into {where}: {describe(exc)}; nothing was changed",
            remedy(exc, where, str(journal)),
        ) from None
    attempted: list[dict[str, Any]] = []
    swaps: list[tuple[dict[str, Any], Swap]] = []
    current = items[0]
    try:
        for step, current in zip(steps, items, strict=True):
            attempted.append(current)
            swaps.append((current, _swap(step)))
            swaps[-1][1].settle()
        for current, swap in swaps:  # noqa: B007 (named in the error)
            swap.check()  # all in place now: was a replaced file edited meanwhile?
    except BaseException as exc:
        problems, notes = _fail(entry, manifest, attempted, swaps, exc)
        if isinstance(exc, (OSError, EnvdoctorError)):
            raise _apply_error(exc, current, manifest, problems, notes) from exc
        raise
    return _commit(entry, manifest, swaps)


def _commit(
    entry: Path, manifest: dict[str, Any], swaps: Sequence[tuple[dict[str, Any], Swap]]
) -> ApplyRecord:
    """Drop the replaced files and record the apply as done; undo it all if that fails."""
    notes: list[str] = []
    for item, swap in swaps:
        try:
            copy = swap.discard()
        except OSError:
            continue  # a temp file left: the next run removes it
        if copy is not None:
            notes.append(
                f"{item['display']} was changed while envdoctor replaced it: that version is "
                f"kept in {copy}"
            )
    manifest["status"] = APPLIED
    try:
        write_manifest(entry, manifest)
    except OSError as exc:
        outcomes = [put_back(entry, item) for item in reversed(manifest["files"])]
        problems = [str(outcome) for outcome in outcomes if not outcome.done]
        manifest["status"] = FAILED_INCOMPLETE if problems else FAILED_RESTORED
        with contextlib.suppress(OSError):
            write_manifest(entry, manifest)
        state = _state(manifest, problems, conflict=False)
        raise EnvdoctorError(
            f"every file was written, but the journal {entry / MANIFEST} could not record it: "
            f"{describe(exc)}; so the apply was undone: {state}",
            remedy(exc, str(entry / MANIFEST), str(entry)),
        ) from None
    return record(entry, manifest, notes)


def _fail(
    entry: Path,
    manifest: dict[str, Any],
    attempted: Sequence[dict[str, Any]],
    swaps: Sequence[tuple[dict[str, Any], Swap]],
    exc: BaseException,
) -> tuple[list[str], list[str]]:
    """Undo every swap of a failed apply, newest first; record the outcome in the manifest.

    Only files that still hold what envdoctor wrote are put back.  Returns the files that
    are not as they were (with why) and other things worth saying (an edit kept).
    """
    problems: list[str] = []
    notes: list[str] = []
    for item, swap in reversed(swaps):
        display = item["display"]
        try:
            undone = swap.undo()
        # A second Ctrl-C must not stop the other files from being restored.
        except BaseException as undo_exc:  # noqa: BLE001
            problems.append(f"{display}: {describe(undo_exc)}")
            continue
        if not undone.restored:
            problems.append(f"{display} {undone.note}")
        elif undone.note:
            notes.append(f"{display}: {undone.note}")
        if undone.copy is not None:
            notes.append(f"{display}: another version is kept in {undone.copy}")
    for item in reversed(attempted):
        remove_empty_dirs([Path(directory) for directory in item["created_dirs"]])
    manifest["status"] = FAILED_INCOMPLETE if problems else FAILED_RESTORED
    manifest["error"] = describe(exc)
    if problems:
        manifest["restore_errors"] = problems
    if notes:
        manifest["notes"] = notes
    try:
        write_manifest(entry, manifest)
    except OSError as write_exc:
        notes.append(
            f"the journal could not record this ({describe(write_exc)}): the next envdoctor "
            "apply or rollback will"
        )
    else:
        if not problems:  # every file is as it was: its backups can never be needed
            shutil.rmtree(entry / "files", ignore_errors=True)
    return problems, notes


def _state(manifest: dict[str, Any], problems: Sequence[str], *, conflict: bool) -> str:
    """What is on disk after a failed apply, in words that are true."""
    if not problems:
        if conflict:
            return "every other file is as it was"
        return "nothing was changed: every file is as it was"
    return (
        f"restore incomplete: {'; '.join(problems)} (envdoctor rollback {manifest['id']} "
        "puts back the rest once that is fixed)"
    )


def _apply_error(
    exc: OSError | EnvdoctorError,
    item: dict[str, Any],
    manifest: dict[str, Any],
    problems: Sequence[str],
    notes: Sequence[str],
) -> EnvdoctorError:
    display = str(item["display"])
    if isinstance(exc, ConflictError):
        if exc.reason == WRITTEN_MEANWHILE:
            what = f"{display} {exc.reason}: that version is kept"
        else:
            what = f"{display} {exc.reason}; nothing was written to it"
        hint = "run the command again so it plans against the current content"
    elif isinstance(exc, OSError):
        what = f"could not write {display}: {describe(exc)}"
        hint = remedy(exc, display, _parent_display(display))
    else:
        what = f"could not write {display}: {exc.message}"
        hint = exc.hint or "fix the problem, then run the command again"
    message = f"{what}; {_state(manifest, problems, conflict=isinstance(exc, ConflictError))}"
    if notes:
        message += f" ({'; '.join(notes)})"
    return EnvdoctorError(message, hint)


# --------------------------------------------------------------------------- rollback


def _find_entry(
    journal: Path, found: Sequence[tuple[Path, dict[str, Any]]], apply_id: str | None
) -> tuple[Path, dict[str, Any]]:
    if apply_id is None:
        for entry, manifest in found:
            if manifest["status"] in ROLLBACKABLE:
                return entry, manifest
        raise EnvdoctorError(
            f"nothing to roll back in {journal}", "envdoctor history lists past applies"
        )
    matches = [item for item in found if str(item[1]["id"]).startswith(apply_id)]
    if len(matches) != 1:
        what = "no apply" if not matches else f"{len(matches)} applies"
        raise EnvdoctorError(
            f"{what} with id {apply_id!r} in {journal}",
            "envdoctor history lists past applies and their ids",
        )
    entry, manifest = matches[0]
    if manifest["status"] not in ROLLBACKABLE:
        raise EnvdoctorError(
            f"apply {manifest['id']} cannot be rolled back: it is {manifest['status']}",
            "envdoctor history lists past applies and their status",
        )
    return matches[0]


def _journal_write_error(exc: OSError, entry: Path, done: str) -> EnvdoctorError:
    return EnvdoctorError(
        f"cannot update the journal {entry / MANIFEST}: {describe(exc)}; {done}",
        remedy(exc, str(entry / MANIFEST), str(entry)),
    )


def rollback(
    ctx: Context, journal: Path, apply_id: str | None = None, *, force: bool = False
) -> RollbackRecord:
    """Put back the files of an apply (default: the latest one not rolled back).

    Each file gets its content, mode and owner from before the apply; files the apply
    created are removed, with the directories it created where they are empty.  A file
    changed since the apply is not overwritten unless ``force``: an
    :class:`EnvdoctorError` names it; one whose owner this process cannot restore is
    refused the same way.  An apply left interrupted is rolled back the same way.
    ``apply_id`` may be a unique prefix.
    """
    del ctx  # the journal records real paths; kept for symmetry with apply_changes
    with _locked(journal) as since:
        try:
            entry, manifest = _find_entry(journal, entries(journal), apply_id)
        except EnvdoctorError:
            recover_journal(journal, before=since)  # whatever is asked, repair first
            raise
        beside = [Path(item["target"]) for item in manifest["files"]]
        notes = recover_journal(journal, before=since, skip=entry, beside=beside)
        todo: list[dict[str, Any]] = []
        unchanged: list[str] = []
        already: list[dict[str, Any]] = []
        changed: list[str] = []
        for item in manifest["files"]:
            try:
                current = sha256(read_or_none(Path(item["target"])))
            except OSError as exc:
                raise EnvdoctorError(
                    f"cannot read {item['display']}: {describe(exc)}; nothing was rolled back",
                    "run with sudo, or use --scope user",
                ) from None
            if current == item["old_sha256"]:
                unchanged.append(item["display"])  # interrupted before this file
                already.append(item)
            elif current == item["new_sha256"] or force:
                todo.append(item)
            else:
                changed.append(item["display"])
        if changed:
            raise EnvdoctorError(
                f"{', '.join(changed)} changed after apply {manifest['id']}; nothing was "
                "rolled back",
                f"keep what you need of the edits, or run envdoctor rollback --force "
                f"{manifest['id']}: it keeps each edited version beside its file "
                "(<name>.envdoctor-kept-...)",
            )
        owners = [f"{item['display']}: {p}" for item in todo if (p := restore_problem(item))]
        if owners:
            raise EnvdoctorError(
                f"{'; '.join(owners)}; nothing was rolled back",
                "run envdoctor rollback as root (sudo) so every file gets its owner back",
            )
        manifest["status"] = ROLLING_BACK
        try:
            write_manifest(entry, manifest)
        except OSError as exc:
            raise _journal_write_error(exc, entry, "nothing was rolled back") from None
        outcomes = [put_back(entry, item, force=force) for item in reversed(todo)]
        failed = [str(outcome) for outcome in outcomes if not outcome.done]
        if failed:
            manifest["status"] = ROLLBACK_INCOMPLETE
            manifest["restore_errors"] = failed
            with contextlib.suppress(OSError):
                write_manifest(entry, manifest)
            raise EnvdoctorError(
                f"could not put back {'; '.join(failed)}; every other file of apply "
                f"{manifest['id']} was put back",
                f"fix that, then run envdoctor rollback {manifest['id']} to finish",
            )
        for item in already:  # put back before (a killed rollback): its directories too
            remove_empty_dirs([Path(directory) for directory in item["created_dirs"]])
        manifest["status"] = ROLLED_BACK
        manifest["rolled_back_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
        try:
            write_manifest(entry, manifest)
        except OSError as exc:
            raise _journal_write_error(
                exc, entry, "every file was put back, but history still lists the apply"
            ) from None
    done = {outcome.display: outcome.outcome for outcome in outcomes}
    return RollbackRecord(
        id=str(manifest["id"]),
        profile=str(manifest.get("profile", "")),
        files=tuple(str(item["display"]) for item in manifest["files"] if item["display"] in done),
        restored=tuple(d for d, what in reversed(done.items()) if what == "restored"),
        removed=tuple(d for d, what in reversed(done.items()) if what == "removed"),
        unchanged=tuple(unchanged),
        notes=(*notes, *(str(outcome) for outcome in outcomes if outcome.done and outcome.detail)),
    )


# --------------------------------------------------------------------------- diff

_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`]+")
_URL_TAIL = ",;)]}"


def _lines(data: bytes | None) -> list[str]:
    return [] if data is None else _LINE.findall(data.decode("utf-8", errors="replace"))


def _mask_urls(line: str, mask: Callable[[str], str]) -> str:
    """``line`` with ``mask`` applied to every URL in it; punctuation after a URL stays."""

    def one(match: re.Match[str]) -> str:
        url = match.group(0)
        stripped = url.rstrip(_URL_TAIL)
        return mask(stripped) + url[len(stripped) :]

    return _URL.sub(one, line) if "://" in line else line


def unified_diff(change: FileChange, mask: Callable[[str], str] | None = mask_conda_url) -> str:
    """A unified diff of one change, ``--- a/<display>`` / ``+++ b/<display>``.

    Lines are compared with their endings, so a CRLF to LF change shows; they are shown
    without them, and a last line without a newline is marked as git marks it.  ``mask``
    rewrites every URL on a line: the default, :func:`~envdoctor.redact.mask_conda_url`,
    shows ``https://user:secret@host`` as ``https://***:***@host`` and a conda token
    ``https://host/t/<token>/channel`` as ``https://host/t/***/channel``, and the value of a
    credential assignment (an npmrc ``_authToken``) as ``***``; None shows lines as they are.
    Empty when nothing changes.
    """
    name = change.display.lstrip("/")
    fromfile = "/dev/null" if change.old is None else f"a/{name}"
    tofile = "/dev/null" if change.new is None else f"b/{name}"
    out: list[str] = []
    diff = linediff.unified_diff(_lines(change.old), _lines(change.new), fromfile, tofile)
    for number, line in enumerate(diff):
        if number < 2 or line.startswith("@@"):
            out.append(line)
            continue
        text = line[:-1] if line.endswith("\n") else line
        text = text[:-1] if text.endswith("\r") else text
        if mask is not None:
            text = mask_secret_value(scrub_userinfo(_mask_urls(text, mask)))
        out.append(text)
        if not line.endswith("\n"):
            out.append("\\ No newline at end of file")
    return "".join(f"{line}\n" for line in out)
