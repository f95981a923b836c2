"""Typed, frozen results: what probes return and what renderers turn into text or JSON."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


class Status(str, enum.Enum):
    """Outcome of one check, ordered from best to worst by :attr:`severity`."""

    OK = "ok"
    SKIP = "skip"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @classmethod
    def worst(cls, statuses: Any) -> Status:
        return max(statuses, key=lambda status: status.severity, default=cls.OK)


_SEVERITY = {Status.OK: 0, Status.SKIP: 1, Status.WARN: 2, Status.FAIL: 3, Status.ERROR: 4}


@dataclass(frozen=True)
class CheckResult:
    """One finding of a probe.

    ``name`` identifies the finding (``memory``, ``disk /home/me``, ``gpu 0``); ``details``
    holds JSON-ready facts (numbers in bytes, seconds, or their natural unit; ``None``
    for unknown); ``remedy`` is what to do, when there is something to do.
    """

    probe: str
    name: str
    status: Status
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)
    remedy: str | None = None
    duration: float = 0.0

    def with_duration(self, seconds: float) -> CheckResult:
        return replace(self, duration=seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "name": self.name,
            "status": self.status.value,
            "summary": self.summary,
            "details": dict(self.details),
            "remedy": self.remedy,
            "duration_s": round(self.duration, 4),
        }


@dataclass(frozen=True)
class FileChange:
    """One file a target wants changed: its whole new content, or None to remove it.

    Targets compute ``new`` from ``old`` and nothing else; the shared engine
    (:mod:`envdoctor.transaction`) shows the diff, backs up, writes atomically and rolls back.
    """

    target: str
    path: Path
    """Where the file really is (under ``ctx.root``); symlinks are resolved by the engine."""
    display: str
    """The path as people know it: ``/etc/pip.conf``, ``~/.config/pip/pip.conf``."""
    old: bytes | None
    """The content the plan was computed from; None when the file does not exist."""
    new: bytes | None
    """The content to write; None to remove the file."""
    mode: int = 0o644
    """Mode for a file that does not exist yet; an existing file keeps its own."""
    owner: tuple[int, int] | None = None
    """(uid, gid) for a file that does not exist yet (the invoking user under sudo)."""

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class TargetPlan:
    """What applying a profile to one target would do."""

    target: str
    changes: tuple[FileChange, ...] = ()
    notes: tuple[str, ...] = ()
    """Warnings and follow-ups for people (``run conda clean -i``), one line each."""
    skipped: str | None = None
    """Why nothing is planned for this target (not in the profile, no root, a container)."""

    @property
    def changed(self) -> bool:
        return any(change.changed for change in self.changes)
