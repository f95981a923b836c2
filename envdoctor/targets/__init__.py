"""The target registry: one module per configuration target, each meeting :class:`Target`.

A target is pure where it can be: ``plan`` reads the current files through the Context
and returns their new content; it never writes.  :mod:`envdoctor.transaction` does the writing
for all targets alike (diff, backup journal, atomic replace, all-or-nothing, rollback).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, cast

if TYPE_CHECKING:
    from envdoctor.context import Context
    from envdoctor.profiles import Profile
    from envdoctor.results import TargetPlan

Scope = Literal["user", "system"]


@dataclass(frozen=True)
class ApplyOptions:
    """How to apply: which scope, and who owns the files created in a user's home."""

    scope: Scope = "user"
    owner: tuple[int, int] | None = None
    """(uid, gid) for new user-scope files: the invoking user under sudo, else None (us)."""


class Target(Protocol):
    NAME: str
    """Registry name, used by --only and --skip."""

    def plan(self, ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
        """The changes that make this target follow ``profile``; writes nothing.

        A malformed existing file raises :class:`envdoctor.errors.EnvdoctorError` naming
        the file, the line and the problem, so the whole apply stops before any write.
        A profile without this target gives a plan with ``skipped`` set.
        """
        ...


_MODULES: dict[str, str] = {
    "pip": "envdoctor.targets.pip",
    "uv": "envdoctor.targets.uv",
    "conda": "envdoctor.targets.conda",
    "docker": "envdoctor.targets.docker",
    "sysctl": "envdoctor.targets.sysctl",
    "env": "envdoctor.targets.env",
}

TARGET_NAMES: tuple[str, ...] = tuple(_MODULES)


def load(name: str) -> Target:
    return cast("Target", importlib.import_module(_MODULES[name]))


if TYPE_CHECKING:
    from envdoctor.targets import conda as conda
    from envdoctor.targets import docker as docker
    from envdoctor.targets import env as env
    from envdoctor.targets import pip as pip
    from envdoctor.targets import sysctl as sysctl
    from envdoctor.targets import uv as uv

    _VERIFIED: dict[str, Target] = {
        "pip": pip,
        "uv": uv,
        "conda": conda,
        "docker": docker,
        "sysctl": sysctl,
        "env": env,
    }
