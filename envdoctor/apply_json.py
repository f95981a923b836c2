"""The JSON documents of ``apply --json`` and ``rollback --json`` (``envdoctor/schema``).

What scripts and the Ansible collection read: the plan per target, each file's change with
its masked unified diff and its masked content before and after (for Ansible's diff
mode), the notes, the apply id and the result.  Every piece of file content goes through
:func:`envdoctor.transaction.unified_diff`, so URL credentials, conda ``/t/<token>/``
tokens and credential assignments are ``***`` here exactly as in the diffs people read;
the raw bytes of a file never reach a document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envdoctor import __version__

if TYPE_CHECKING:
    from envdoctor.results import FileChange, TargetPlan
    from envdoctor.transaction import ApplyRecord, RollbackRecord

SCHEMA_VERSION = 1
NO_NEWLINE = "\\ No newline at end of file"


def masked_content(data: bytes | None) -> str | None:
    """``data`` as text with every credential masked as :func:`unified_diff` masks it; None
    for a file that does not exist.  Line endings become ``\\n`` (the diff drops ``\\r``)."""
    from envdoctor.results import FileChange
    from envdoctor.transaction import unified_diff

    if data is None:
        return None
    # The diff of a new file holding ``data``: only its display is read, never its path.
    diff = unified_diff(FileChange("content", Path("/dev/null"), "content", None, data))
    lines = diff.splitlines()[3:]  # ---, +++ and the one hunk header
    out: list[str] = []
    for line in lines:
        if line == NO_NEWLINE:
            out[-1] = out[-1].removesuffix("\n")
        else:
            out.append(line[1:] + "\n")
    return "".join(out)


def _action(change: FileChange) -> str:
    if change.old is None:
        return "create"
    return "remove" if change.new is None else "edit"


def change_json(change: FileChange) -> dict[str, Any]:
    """One file of a plan: where, what happens, the masked diff and contents."""
    from envdoctor.transaction import unified_diff

    return {
        "target": change.target,
        "path": change.display,
        "action": _action(change),
        "changed": change.changed,
        "diff": unified_diff(change),
        "before": masked_content(change.old),
        "after": masked_content(change.new),
    }


def plan_json(plan: TargetPlan) -> dict[str, Any]:
    return {
        "target": plan.target,
        "skipped": plan.skipped,
        "changed": plan.changed,
        "notes": list(plan.notes),
        "changes": [change_json(change) for change in plan.changes if change.changed],
    }


@dataclass
class ApplyDocument:
    """What one ``apply --json`` run says, filled in as the command goes."""

    profile: str
    scope: str
    root: str | None
    dry_run: bool
    plans: Sequence[TargetPlan] = ()
    refused: list[str] = field(default_factory=list)
    """Files whose owner cannot be kept (a dry run lists them; a real run refuses)."""
    auto: dict[str, str] = field(default_factory=dict)
    """With ``--profile auto``: the reason behind each target's choice."""
    notes: list[str] = field(default_factory=list)
    """Repairs of killed runs, edits kept beside a file, what --now and --reload did."""

    def to_json(self, record: ApplyRecord | None, undo: str | None) -> dict[str, Any]:
        changes = [c for plan in self.plans for c in plan.changes if c.changed]
        if record is not None and record.id:
            status, files = "applied", list(record.files)
        elif not changes:
            status, files = "unchanged", []
        else:
            status, files = "dry-run", []
        return {
            "schema_version": SCHEMA_VERSION,
            "envdoctor_version": __version__,
            "command": "apply",
            "profile": self.profile,
            "scope": self.scope,
            "root": self.root,
            "dry_run": self.dry_run,
            "changed": bool(changes),
            "files_to_change": len(changes),
            "plans": [plan_json(plan) for plan in self.plans],
            "refused": list(self.refused),
            "auto": dict(self.auto),
            "notes": [*self.notes, *(record.notes if record else ())],
            "result": {
                "status": status,
                "id": record.id if record is not None and record.id else None,
                "files": files,
                "undo": undo,
            },
        }


def apply_json(document: ApplyDocument, record: ApplyRecord | None, undo: str | None) -> str:
    return json.dumps(document.to_json(record, undo), indent=2)


def rollback_json(record: RollbackRecord, *, scope: str, root: str | None) -> str:
    """The ``rollback --json`` document."""
    return json.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "envdoctor_version": __version__,
            "command": "rollback",
            "scope": scope,
            "root": root,
            "id": record.id,
            "profile": record.profile,
            "changed": bool(record.files),
            "files": list(record.files),
            "restored": list(record.restored),
            "removed": list(record.removed),
            "unchanged": list(record.unchanged),
            "notes": list(record.notes),
            "result": {"status": "rolled back"},
        },
        indent=2,
    )
