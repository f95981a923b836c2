"""Thresholds a machine is graded against: defaults for AI work, overridden by --require."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, replace

from envdoctor.errors import UsageError
from envdoctor.results import Status
from envdoctor.units import GiB, MiB, parse_size


@dataclass(frozen=True)
class Threshold:
    """Below ``minimum`` fails, below ``recommended`` warns."""

    minimum: float
    recommended: float

    @classmethod
    def exactly(cls, value: float) -> Threshold:
        """A user's explicit requirement: meeting it is ok, missing it fails, no grey zone."""
        return cls(value, value)

    def grade(self, value: float) -> Status:
        if value < self.minimum:
            return Status.FAIL
        if value < self.recommended:
            return Status.WARN
        return Status.OK

    def missed(self, value: float) -> tuple[str, float] | None:
        """Which bound ``value`` falls short of, ``("minimum", 8 GiB)``, or None when met."""
        if value < self.minimum:
            return "minimum", self.minimum
        if value < self.recommended:
            return "recommended", self.recommended
        return None


@dataclass(frozen=True)
class Requirements:
    """What the machine is checked against.

    The defaults follow what downloading and serving models needs: a 7B model in fp16 is
    about 15 GB on disk and as much in memory while loading, and the Hugging Face cache
    keeps every revision it fetched.
    """

    memory: Threshold = Threshold(8 * GiB, 16 * GiB)
    disk: Threshold = Threshold(20 * GiB, 50 * GiB)
    # Sequential throughput in bytes/s: under ~50 MiB/s is a network share or an SD card,
    # under ~200 MiB/s a spinning disk; loading a 15 GB checkpoint then takes minutes.
    disk_read: Threshold = Threshold(50 * MiB, 200 * MiB)
    disk_write: Threshold = Threshold(25 * MiB, 100 * MiB)
    cpus: Threshold = Threshold(2, 4)
    vram: Threshold | None = None
    """Free memory on the best GPU; only checked when required."""
    gpus: int | None = None
    """Minimum number of usable GPUs; only checked when required."""


_KEYS = {
    "mem": "memory",
    "memory": "memory",
    "disk": "disk",
    "vram": "vram",
    "gpus": "gpus",
    "cpus": "cpus",
}
_SIZED = {"memory", "disk", "vram"}


def parse_requirements(specs: Iterable[str], base: Requirements | None = None) -> Requirements:
    """Apply ``--require`` values such as ``mem=16G,disk=50G,vram=24G,gpus=1``."""
    requirements = base or Requirements()
    for spec in specs:
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, raw = item.partition("=")
            field = _KEYS.get(key.strip().lower())
            if sep and field is None:
                close = difflib.get_close_matches(key.strip().lower(), list(_KEYS), n=1)
                hint = f"Did you mean {close[0]!r}? " if close else ""
                raise UsageError(
                    f"--require: unknown key {key.strip()!r}, expected one of "
                    f"{', '.join(sorted(set(_KEYS)))}",
                    f"{hint}e.g. --require mem=16G,disk=50G,vram=24G,gpus=1.",
                )
            if not sep or field is None:
                raise UsageError(
                    f"--require: cannot read {item!r}",
                    "Use KEY=VALUE pairs with keys mem, disk, vram, gpus, cpus, "
                    "e.g. --require mem=16G,disk=50G,vram=24G,gpus=1.",
                )
            requirements = _apply(requirements, field, raw.strip(), item)
    return requirements


def _apply(requirements: Requirements, field: str, raw: str, item: str) -> Requirements:
    try:
        if field in _SIZED:
            value: float = parse_size(raw)
        elif field == "gpus":
            value = int(raw)
        else:
            value = float(raw)
    except ValueError:
        kind = "a size such as 16G or 512MiB" if field in _SIZED else "a number"
        raise UsageError(f"--require: {item!r} is not valid", f"{field} takes {kind}.") from None
    if value < 0:
        raise UsageError(f"--require: {item!r} is negative", "Requirements are at least 0.")
    if field == "gpus":
        return replace(requirements, gpus=int(value))
    threshold = Threshold.exactly(value)
    if field == "memory":
        return replace(requirements, memory=threshold)
    if field == "disk":
        return replace(requirements, disk=threshold)
    if field == "vram":
        return replace(requirements, vram=threshold)
    return replace(requirements, cpus=threshold)


@dataclass(frozen=True)
class CheckOptions:
    """Everything ``envdoctor check`` passes to its probes besides the Context."""

    requirements: Requirements = Requirements()
    paths: tuple[str, ...] = ()
    """Directories whose disk to test (``--path``); empty means the defaults."""
    profile: str | None = None
    """A profile whose mirrors the network check measures beside the configured ones."""
    image: str | None = None
    """The image the network check asks every registry mirror for (``--image``, already
    checked); None: a profile's ``probe-image``, else the default."""
    throughput: bool = False
    """The network check also times each mirror's download (``--throughput``), as
    ``envdoctor mirrors`` does, within its deadline."""
