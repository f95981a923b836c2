"""Shared helpers of the write-transaction tests: changes, files, and hooks on the renames."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from envdoctor import safewrite, transaction
from envdoctor.context import Context
from envdoctor.results import FileChange
from envdoctor.transaction import TEMP_MARKER, apply_changes

REPO = Path(__file__).resolve().parents[1]


def change(
    ctx: Context,
    path: Path,
    new: bytes | None,
    *,
    old: bytes | None = None,
    mode: int = 0o644,
    owner: tuple[int, int] | None = None,
) -> FileChange:
    """A change planned against the file's current content (or ``old`` when given)."""
    if old is None and path.exists():
        old = path.read_bytes()
    display = "/" + str(path.relative_to(ctx.root))
    return FileChange("test", path, display, old, new, mode=mode, owner=owner)


def write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def append(path: Path, data: bytes) -> None:
    """What a user's ``echo ... >> file`` does."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def do_apply(ctx: Context, journal: Path, *changes: FileChange) -> transaction.ApplyRecord:
    record = apply_changes(ctx, changes, journal=journal, description="test", profile="p")
    assert record.status == "applied"
    return record


def manifest(record: transaction.ApplyRecord) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((record.entry / "manifest.json").read_text())
    return data


def temps(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if TEMP_MARKER in path.name]


def assert_repaired(
    ctx: Context, journal: Path, paths: Sequence[Path], variants: Sequence[Sequence[bytes]]
) -> int:
    """What the next locked command must leave after a killed run (issue #11, 4): no temp
    file, no entry history cannot see, nothing left "applying", and the files of one apply
    all old or all new.  Returns the index of the variant every file holds."""
    from envdoctor.transaction import history

    assert temps(ctx.root) == [], (temps(ctx.root), [(r.id, r.status) for r in history(journal)])
    listed = history(journal)
    on_disk = sorted(entry.name for entry in journal.iterdir() if entry.is_dir())
    assert sorted(record.id for record in listed) == on_disk, "an entry history cannot see"
    assert not [record for record in listed if record.status in ("applying", "rolling back")]
    found = set()
    for path, pair in zip(paths, variants, strict=True):
        content = path.read_bytes()
        assert content in pair, f"{path} is neither wholly old nor wholly new"
        found.add(list(pair).index(content))
    assert len(found) == 1, "files of one apply are partly old and partly new"
    if listed and listed[0].status == "applied":
        for item in json.loads((listed[0].entry / "manifest.json").read_text())["files"]:
            digest = hashlib.sha256(Path(item["target"]).read_bytes()).hexdigest()
            assert digest == item["new_sha256"]
    return found.pop()


def fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


Hook = Callable[[Path, int], object]
"""Called with the file a rename is about to put in place, and how many such renames of
that file came before (0 for the first)."""


class Renames:
    """Hooks on every way envdoctor puts a file in place (exchange, no-replace rename, the
    fallback replace), keyed by the real path of the file put in place."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, fallback: bool = False) -> None:
        """``fallback``: as on a filesystem without RENAME_EXCHANGE (NFS), where files are
        put in place by ``rename`` (and new ones by ``link``)."""
        self.before: dict[Path, Hook] = {}
        self.after: dict[Path, Hook] = {}
        self.counts: dict[Path, int] = {}
        if fallback:
            _no_exchange(monkeypatch)
        else:
            monkeypatch.setattr(safewrite, "exchange", self._around(safewrite.exchange))
            monkeypatch.setattr(
                safewrite, "rename_noreplace", self._around(safewrite.rename_noreplace)
            )
        monkeypatch.setattr(os, "replace", self._around(os.replace))
        monkeypatch.setattr(os, "link", self._around(os.link))

    def _around(self, real: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def hooked(src: Any, dst: Any) -> None:
            target = Path(os.fspath(dst))
            count = self.counts.get(target, 0)
            self.counts[target] = count + 1
            if target in self.before:
                self.before[target](target, count)
            real(src, dst)
            if target in self.after:
                self.after[target](target, count)

        return hooked

    def fail(self, target: Path, code: int, *, at: int = 0) -> None:
        """Make the ``at``-th rename onto ``target`` fail with ``code``."""

        def failing(path: Path, count: int) -> None:
            if count == at:
                raise OSError(code, os.strerror(code), str(path))

        self.before[target] = failing


def _no_exchange(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behave like a filesystem without RENAME_EXCHANGE / RENAME_NOREPLACE (NFS)."""
    import errno

    def unsupported(src: Any, dst: Any) -> None:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), str(src))

    monkeypatch.setattr(safewrite, "exchange", unsupported)
    monkeypatch.setattr(safewrite, "rename_noreplace", unsupported)
