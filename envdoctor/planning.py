"""What ``apply`` plans: the targets, the options, and each target's plan for a profile.

A target is a tool with files of its own (:mod:`envdoctor.tools`) or the shell-variables
writer (:mod:`envdoctor.shellenv`), which collects the variables every tool asks for.
Planning is pure: each plan reads the current files through the Context and returns
their new content; :mod:`envdoctor.transaction` does the writing for all alike (diff,
backup journal, atomic replace, all-or-nothing, rollback).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from envdoctor.tools import FILE_TOOLS

if TYPE_CHECKING:
    from envdoctor.context import Context
    from envdoctor.profiles import Profile
    from envdoctor.results import TargetPlan

Scope = Literal["user", "system"]

ENV_TARGET = "env"
TARGET_NAMES: tuple[str, ...] = (*FILE_TOOLS, ENV_TARGET)
"""Every ``apply`` target, in plan order: the tools that have files of their own (the HF
hub and ModelScope read only variables), then the shell variables of every tool."""


@dataclass(frozen=True)
class ApplyOptions:
    """How to apply: which scope, and who owns the files created in a user's home."""

    scope: Scope = "user"
    owner: tuple[int, int] | None = None
    """(uid, gid) for new user-scope files: the invoking user under sudo, else None (us)."""


def plan(ctx: Context, target: str, profile: Profile, options: ApplyOptions) -> TargetPlan:
    """The changes that make ``target`` follow ``profile``; writes nothing.

    A malformed existing file raises :class:`envdoctor.errors.EnvdoctorError` naming the
    file, the line and the problem, so the whole apply stops before any write.  A profile
    without this target gives a plan with ``skipped`` set.
    """
    if target == ENV_TARGET:
        from envdoctor import shellenv

        return shellenv.plan(ctx, profile, options)
    from envdoctor import tools

    result = tools.load(target).plan(ctx, profile, options)
    if result is None:
        raise KeyError(f"{target} has no files of its own to plan")
    return result
