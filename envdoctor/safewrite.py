"""Replacing one file without losing an edit someone makes at the same moment.

:mod:`envdoctor.transaction` plans every change against the bytes it read.  This module
makes sure that a file whose bytes differ from those is never written, and that nothing
a write replaces is destroyed unseen:

1. The new content goes to a temp file beside the target (``O_EXCL``, mode 0o600, fsync,
   then its final mode and owner).
2. Immediately before the rename the target is opened, its inode compared with the path's
   and its bytes hashed: any difference from the plan and nothing is written.
3. On Linux the rename is ``renameat2(RENAME_EXCHANGE)``: the new file and whatever the
   path holds at that instant swap places atomically, so even a version saved a
   microsecond after step 2 is not destroyed but moved to the temp name.  Its digest is
   compared with the plan's; if they differ the two swap back and the other version
   stays (:class:`ConflictError`).
4. The replaced file stays under the temp name until every file of the apply is written;
   then it is checked again and only removed if it still holds exactly what was planned
   against, so an edit written through a descriptor opened before the swap is caught too.

POSIX has no compare-and-swap rename, so a window remains, and it is this small:

* A process that opened the file before the swap and writes to it between the last check
  of the replaced file and its removal (a read and an unlink, microseconds, at the very
  end of an apply) writes into a file that is then removed.  An edit that lands earlier is
  kept, beside the target as ``<name>.envdoctor-kept-XXXXXXXX`` if it is found only then.
* Where the filesystem has no ``RENAME_EXCHANGE`` (NFS, CIFS, some FUSE filesystems,
  kernels before 3.15), step 3 falls back to ``rename(2)``.  The replaced inode is still
  re-read through a descriptor held across the rename, so an in-place edit is caught;
  but a whole-file save by rename in the microseconds between step 2 and the rename is
  replaced without being seen.
* A run killed by SIGKILL after a swap leaves the replaced file under its temp name; the
  next run removes it (the journal holds the same bytes), so an in-place edit written into
  that file after the swap and before the kill goes with it.

Nothing here knows about journals or display paths; the callers name files for people.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import os
import re
import secrets
import shlex
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from envdoctor.errors import EnvdoctorError

__all__ = [
    "CHANGED",
    "KEPT_MARKER",
    "TEMP_MARKER",
    "WRITTEN_MEANWHILE",
    "ConflictError",
    "Swap",
    "Undone",
    "access_remedy",
    "describe",
    "exchange",
    "fsync_dir",
    "make_parents",
    "missing_parents",
    "move_aside",
    "owner_problem",
    "read_or_none",
    "remedy",
    "remove_empty_dirs",
    "remove_stale_temps",
    "rename_noreplace",
    "resolve_target",
    "sha256",
    "swap_in",
    "write_atomically",
    "write_guarded",
    "write_new",
]

TEMP_MARKER = ".envdoctor-tmp-"
"""Temp files are ``.<name>.envdoctor-tmp-XXXXXXXX``: hidden, and never read as config."""
KEPT_MARKER = ".envdoctor-kept-"
"""``<name>.envdoctor-kept-XXXXXXXX``: someone's edit found only after the swap, kept."""

CHANGED = "changed since it was read"
WRITTEN_MEANWHILE = "was changed while envdoctor replaced it"

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
# What renameat2 or link answers on a filesystem or kernel that cannot do it.
_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})
_NO_LINKS = _UNSUPPORTED | {errno.EPERM, errno.EMLINK}


class ConflictError(EnvdoctorError):
    """A file was not as planned: it was not written, or the other version was kept."""

    def __init__(self, path: Path, reason: str, *, copy: Path | None = None) -> None:
        where = f"; that version is in {copy}" if copy is not None else ""
        super().__init__(
            f"{path} {reason}{where}",
            "run the command again so it plans against the current content",
        )
        self.path = path
        self.reason = reason
        self.copy = copy


# --------------------------------------------------------------------------- basics


def sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def read_or_none(path: Path) -> bytes | None:
    """The bytes of ``path``, or None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise EnvdoctorError(
            f"{path} is a directory, expected a file", "move it out of the way"
        ) from None


def describe(exc: BaseException) -> str:
    """``No space left on device (ENOSPC)``: the OS reason and its errno name."""
    if isinstance(exc, OSError):
        name = errno.errorcode.get(exc.errno or 0, "")
        reason = exc.strerror or str(exc)
        return f"{reason} ({name})" if name else reason
    if isinstance(exc, EnvdoctorError):
        return exc.message
    return str(exc) or type(exc).__name__


def remedy(exc: BaseException, path: str, directory: str) -> str:
    """What to do about ``exc``, met writing ``path`` in ``directory`` (both as shown)."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code == errno.ENOSPC:
        return (
            f"free some space on the filesystem holding {directory} (df -h {directory}), "
            "then run the command again"
        )
    if code == errno.EDQUOT:
        return (
            f"free some space within your disk quota on the filesystem holding {directory} "
            "(quota -s), then run the command again"
        )
    if code == errno.EROFS:
        return (
            f"{directory} is on a read-only filesystem: remount it read-write, or apply to a "
            "writable tree with --root DIR"
        )
    if code in (errno.EBUSY, errno.EXDEV):
        return (
            f"{path} is a mount point of its own (a file bind-mounted into a container, for "
            "example) and cannot be replaced: change it where it is mounted from"
        )
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"make {directory} writable for this user (chmod u+w, or chown it back if "
            "another user owns it); files outside your home need sudo"
        )
    return "fix the problem, then run the command again"


def access_remedy(directory: Path) -> str:
    """What to do about a ``directory`` this process may not write in, by whose it is:
    the user's own read-only one wants ``chmod``, another user's in the home ``chown``,
    a system one root."""
    import pwd

    def name(uid: int) -> str:
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return str(uid)

    shown, uid = shlex.quote(str(directory)), os.geteuid()
    try:
        owner = directory.stat().st_uid
    except OSError:
        return "run with sudo, or use --scope user"
    if uid == 0:
        return f"{directory} refuses even root: lsattr -d {shown} (immutable?) or a read-only mount"
    if owner == uid:
        return f"{directory} is yours but read-only: chmod u+w {shown}, then run the command again"
    home = Path(os.environ.get("HOME") or "/nonexistent")
    if directory == home or home in directory.parents:
        return (
            f"{directory} belongs to {name(owner)}: sudo chown {name(uid)} {shown}, then run again"
        )
    return f"{directory} belongs to {name(owner)}: run with sudo, or use --scope user"


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def missing_parents(directory: Path) -> list[Path]:
    """The ancestors of ``directory`` (itself included) that do not exist, outermost first."""
    missing: list[Path] = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    return missing[::-1]


def make_parents(directory: Path, owner: tuple[int, int] | None) -> list[Path]:
    """Create ``directory`` and its missing parents, owned by ``owner``; the ones created."""
    created: list[Path] = []
    for missing in missing_parents(directory):
        try:
            missing.mkdir()
        except FileExistsError:
            continue
        created.append(missing)
        if owner is not None and os.geteuid() == 0:
            os.chown(missing, *owner)
    return created


def remove_empty_dirs(directories: Sequence[Path]) -> None:
    """Remove the directories a write created, deepest first, where they are still empty."""
    for directory in sorted(directories, key=lambda d: len(d.parts), reverse=True):
        with contextlib.suppress(OSError):
            directory.rmdir()


_MAX_SYMLINK_HOPS = 40


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


def _side_name(target: Path, marker: str) -> Path:
    return target.with_name(f".{target.name}{marker}{secrets.token_hex(4)}")


def remove_stale_temps(directory: Path, name: str | None, *, before: float) -> list[Path]:
    """Remove the temp files of ``name`` (None: of any file) in ``directory`` last touched
    before ``before``.

    Only names this module makes (``.<name>.envdoctor-tmp-`` and 8 hex digits) go, and only
    those older than ``before`` (the time the caller took the lock), so a file another run
    is writing right now is never touched.  Returns the files removed.
    """
    prefix = r"\..+" if name is None else re.escape(f".{name}")
    pattern = re.compile(prefix + re.escape(TEMP_MARKER) + r"[0-9a-f]{8}")
    removed: list[Path] = []
    try:
        children = list(directory.iterdir())
    except OSError:
        return removed
    for child in children:
        if not pattern.fullmatch(child.name):
            continue
        try:
            info = child.lstat()
            if max(info.st_mtime, info.st_ctime) >= before or stat.S_ISDIR(info.st_mode):
                continue
            child.unlink()
        except OSError:
            continue
        removed.append(child)
    return removed


# --------------------------------------------------------------------------- renames


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no libc, or one without renameat2 (musl)
        return None
    int_, path = ctypes.c_int, ctypes.c_char_p
    function.argtypes = (int_, path, int_, path, ctypes.c_uint)
    function.restype = int_
    return function


def _rename2(src: Path, dst: Path, flags: int) -> None:
    function = _renameat2()
    if function is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS), str(src), None, str(dst))
    if function(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(src), None, str(dst))


def exchange(first: Path, second: Path) -> None:
    """Swap two paths atomically (``RENAME_EXCHANGE``); OSError EINVAL where unsupported."""
    _rename2(first, second, _RENAME_EXCHANGE)


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` only if ``dst`` does not exist (FileExistsError if it does)."""
    _rename2(src, dst, _RENAME_NOREPLACE)


def _place(src: Path, dst: Path) -> None:
    """Rename ``src`` to a ``dst`` that must not exist, as atomically as the filesystem allows."""
    try:
        rename_noreplace(src, dst)
        return
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
    try:
        os.link(src, dst)  # link(2) never replaces: the POSIX way to "create if absent"
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst)) from None
        src.rename(dst)
        return
    src.unlink()


def _read_fd(fd: int) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _keep_copy(target: Path, side: Path) -> Path:
    """Give a file found beside ``target`` a visible name of its own; that name."""
    kept = target.with_name(f"{target.name}{KEPT_MARKER}{secrets.token_hex(4)}")
    _place(side, kept)
    return kept


# --------------------------------------------------------------------------- temp files


def _set_owner(fd: int, owner: tuple[int, int] | None) -> None:
    """Give the temp file ``owner`` as far as this process may (root: both; else the group)."""
    if owner is None:
        return
    current = os.fstat(fd)
    uid, gid = owner
    if (current.st_uid, current.st_gid) == (uid, gid):
        return
    if os.geteuid() == 0:
        os.fchown(fd, uid, gid)
    elif uid == current.st_uid:
        with contextlib.suppress(PermissionError):  # not one of our groups: refused earlier
            os.fchown(fd, -1, gid)


def _write_temp(target: Path, data: bytes, *, mode: int, owner: tuple[int, int] | None) -> Path:
    """A fsynced temp file beside ``target`` holding ``data`` with ``mode`` and ``owner``.

    Created with O_EXCL and mode 0o600, so the content is never readable by others before
    it has its final mode.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    while True:
        temp = _side_name(target, TEMP_MARKER)
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
            _set_owner(fd, owner)
            os.fchmod(fd, stat.S_IMODE(mode))  # after chown: chown clears the set-id bits
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quietly(temp)
        raise
    return temp


def write_new(path: Path, data: bytes, *, mode: int, owner: tuple[int, int] | None) -> None:
    """Create ``path`` (it must not exist) holding ``data``, fsynced; not atomic.

    For journal backups: they count only once a manifest naming them is on disk, after
    their directory has been fsynced.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(path, flags, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            _set_owner(fd, owner)
            os.fchmod(fd, stat.S_IMODE(mode))
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quietly(path)
        raise


def write_atomically(path: Path, data: bytes, *, mode: int, owner: tuple[int, int] | None) -> None:
    """Replace ``path`` with ``data`` (temp file, fsync, rename), no questions asked.

    For envdoctor's own files (journal manifests), which only a run holding the lock
    writes.
    """
    temp = _write_temp(path, data, mode=mode, owner=owner)
    try:
        temp.replace(path)
    except BaseException:
        _unlink_quietly(temp)
        raise
    fsync_dir(path.parent)


# --------------------------------------------------------------------------- swaps


@dataclass(frozen=True)
class Undone:
    """What :meth:`Swap.undo` did."""

    restored: bool
    """True: the file no longer holds anything envdoctor wrote."""
    note: str = ""
    """Why not, or what else happened (``your edit made meanwhile is kept``)."""
    copy: Path | None = None
    """Where a version found beside the file was kept, if one was."""


def _hold(target: Path, expected: str) -> tuple[int, os.stat_result]:
    """A descriptor on the file at ``target`` after checking it holds ``expected`` bytes."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ConflictError(target, "was removed since it was read") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConflictError(target, "became a symbolic link since it was read") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise EnvdoctorError(f"{target} is not a regular file", "move it out of the way")
        if sha256(_read_fd(fd)) != expected:
            raise ConflictError(target, CHANGED)
        now = os.lstat(target)
        if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
            raise ConflictError(target, CHANGED)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


class Swap:
    """One file replaced (or removed) but not yet settled: it can still be undone.

    ``swap_in`` and ``move_aside`` return as soon as the rename is done.  Then the caller
    :meth:`settle`\\ s it (durable, and the replaced file checked), may :meth:`check` it
    again later, and finally either :meth:`discard`\\ s the replaced file or
    :meth:`undo`\\ es the swap.
    """

    def __init__(
        self,
        target: Path,
        *,
        new_sha256: str | None,
        old_sha256: str | None,
        original: Path | None = None,
        held: int | None = None,
    ) -> None:
        self.target = target
        self.new_sha256 = new_sha256
        """The digest of what envdoctor put there (None: it removed the file)."""
        self.old_sha256 = old_sha256
        """The digest planned against (None: the file did not exist)."""
        self._original = original
        """Where the replaced file waits: the temp name after an exchange, or a removed file."""
        self._held = held
        """Without RENAME_EXCHANGE: a descriptor on the replaced inode."""

    def _replaced(self) -> bytes | None:
        if self._original is not None:
            return read_or_none(self._original)
        if self._held is not None:
            return _read_fd(self._held)
        return None

    def settle(self) -> None:
        """Make the rename durable and check the replaced file: :class:`ConflictError` if it
        is not what was planned against (then :meth:`undo` puts that version back)."""
        fsync_dir(self.target.parent)
        self.check()

    def check(self) -> None:
        """:class:`ConflictError` if the replaced file no longer holds the planned bytes."""
        if self.old_sha256 is None:
            return
        replaced = self._replaced()
        if replaced is not None and sha256(replaced) != self.old_sha256:
            raise ConflictError(self.target, WRITTEN_MEANWHILE)

    def discard(self) -> Path | None:
        """Remove the replaced file, unless it changed: then keep it beside the target and
        return where."""
        copy = None
        try:
            if self._original is not None:
                if sha256(read_or_none(self._original)) in (self.old_sha256, None):
                    _unlink_quietly(self._original)  # need not be durable: see recover()
                else:
                    copy = _keep_copy(self.target, self._original)
                    fsync_dir(self.target.parent)
            elif self._held is not None:
                replaced = _read_fd(self._held)
                if sha256(replaced) != self.old_sha256:
                    copy = self.target.with_name(
                        f"{self.target.name}{KEPT_MARKER}{secrets.token_hex(4)}"
                    )
                    info = os.fstat(self._held)
                    _place(_write_temp(copy, replaced, mode=info.st_mode, owner=None), copy)
        finally:
            self._close()
        return copy

    def undo(self) -> Undone:
        """Put back what the path held before the swap (as it is now, edits included),
        provided the path still holds exactly what envdoctor wrote; else leave it alone."""
        try:
            if sha256(read_or_none(self.target)) != self.new_sha256:
                copy = self.discard()
                return Undone(False, "changed after envdoctor wrote it; that version is kept", copy)
            if self._original is not None:
                return self._swap_back(self._original)
            if self._held is not None:
                return self._write_back(self._held)
            move_aside(self.target, self.new_sha256).discard()  # a file envdoctor created
            return Undone(True)
        except ConflictError as exc:
            return Undone(False, "changed after envdoctor wrote it; that version is kept", exc.copy)
        finally:
            self._close()

    def _swap_back(self, original: Path) -> Undone:
        self._original = None
        copy = None
        if self.new_sha256 is None:  # a removed file: move it back where it was
            try:
                _place(original, self.target)
            except FileExistsError:  # someone created the file meanwhile: theirs stays
                return Undone(
                    False, "was created again meanwhile", _keep_copy(self.target, original)
                )
        else:
            exchange(original, self.target)
            if sha256(read_or_none(original)) == self.new_sha256:
                _unlink_quietly(original)
            else:  # an edit to the new version in the last microseconds: keep it too
                copy = _keep_copy(self.target, original)
        fsync_dir(self.target.parent)
        if sha256(read_or_none(self.target)) != self.old_sha256:
            return Undone(True, "your edit made meanwhile is kept", copy)
        return Undone(True, copy=copy)

    def _write_back(self, held: int) -> Undone:
        replaced = _read_fd(held)
        info = os.fstat(held)
        owner = (info.st_uid, info.st_gid)
        write_guarded(
            self.target, replaced, expected=self.new_sha256, mode=info.st_mode, owner=owner
        )
        if sha256(replaced) != self.old_sha256:
            return Undone(True, "your edit made meanwhile is kept")
        return Undone(True)

    def _close(self) -> None:
        if self._held is not None:
            with contextlib.suppress(OSError):
                os.close(self._held)
            self._held = None


def swap_in(
    target: Path,
    data: bytes,
    *,
    expected: str | None,
    mode: int,
    owner: tuple[int, int] | None,
    keep_attrs: bool = True,
) -> Swap:
    """Put ``data`` at ``target`` if it holds the bytes whose digest is ``expected`` (None:
    if it does not exist); :class:`ConflictError`, and nothing changed, otherwise.

    ``mode`` and ``owner`` are the new file's; with ``keep_attrs`` an existing file keeps
    its own.  Returns as soon as the rename is done; see :class:`Swap` for what follows.
    """
    if expected is not None and keep_attrs:
        with contextlib.suppress(FileNotFoundError):  # then _hold says so
            info = target.stat()
            mode, owner = info.st_mode, (info.st_uid, info.st_gid)
    temp = _write_temp(target, data, mode=mode, owner=owner)
    new = sha256(data)
    if expected is None:
        try:
            _place(temp, target)
        except FileExistsError:
            _unlink_quietly(temp)
            raise ConflictError(target, "was created since it was read") from None
        except BaseException:
            _unlink_quietly(temp)
            raise
        return Swap(target, new_sha256=new, old_sha256=None)
    try:
        held, info = _hold(target, expected)
    except BaseException:
        _unlink_quietly(temp)
        raise
    try:
        if keep_attrs and (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) != (
            stat.S_IMODE(mode),
            *(owner or (info.st_uid, info.st_gid)),
        ):  # chmod'ed between the first look and now: follow it
            _follow_attrs(temp, info)
        try:
            exchange(temp, target)
        except FileNotFoundError:
            raise ConflictError(target, "was removed since it was read") from None
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
            temp.replace(target)
            return Swap(target, new_sha256=new, old_sha256=expected, held=held)
    except BaseException:
        os.close(held)
        _unlink_quietly(temp)
        raise
    os.close(held)
    return Swap(target, new_sha256=new, old_sha256=expected, original=temp)


def _follow_attrs(temp: Path, info: os.stat_result) -> None:
    fd = os.open(temp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        _set_owner(fd, (info.st_uid, info.st_gid))
        os.fchmod(fd, stat.S_IMODE(info.st_mode))
    finally:
        os.close(fd)


def move_aside(target: Path, expected: str | None) -> Swap:
    """Remove ``target`` if it holds the bytes whose digest is ``expected``, keeping it
    under a temp name until the swap is discarded; :class:`ConflictError` otherwise."""
    side = _side_name(target, TEMP_MARKER)
    try:
        try:
            rename_noreplace(target, side)
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
            target.rename(side)  # a fresh random name: nothing there to replace
    except FileNotFoundError:
        raise ConflictError(target, "was removed since it was read") from None
    if sha256(read_or_none(side)) != expected:
        try:
            _place(side, target)
        except FileExistsError:
            raise ConflictError(target, CHANGED, copy=_keep_copy(target, side)) from None
        raise ConflictError(target, CHANGED)
    return Swap(target, new_sha256=None, old_sha256=expected, original=side)


def write_guarded(
    target: Path,
    data: bytes | None,
    *,
    expected: str | None,
    mode: int = 0o644,
    owner: tuple[int, int] | None = None,
    keep_attrs: bool = False,
) -> Path | None:
    """Swap, settle and discard in one go, undoing the swap if settling fails.

    Returns where a version found beside the file was kept, if one was.
    """
    if data is None:
        swap = move_aside(target, expected)
    else:
        swap = swap_in(
            target, data, expected=expected, mode=mode, owner=owner, keep_attrs=keep_attrs
        )
    try:
        swap.settle()
    except ConflictError as exc:
        undone = swap.undo()
        raise ConflictError(target, exc.reason, copy=undone.copy) from None
    except BaseException:
        swap.undo()
        raise
    return swap.discard()


# --------------------------------------------------------------------------- owners


def owner_problem(uid: int, gid: int) -> str | None:
    """Why this process cannot give a file it writes the owner ``uid:gid``; None if it can.

    Root can give any owner; anyone else only their own uid, with a group they belong to.
    """
    euid = os.geteuid()
    if euid == 0:
        return None
    if uid == euid and (gid == os.getegid() or gid in os.getgroups()):
        return None
    return f"owner {_user_name(uid)}:{_group_name(gid)} cannot be kept (you are uid {euid})"


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
