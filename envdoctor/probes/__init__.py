"""The probe registry: one module per probe, each meeting :class:`Probe`.

Modules are imported only when a check runs, so ``envdoctor --help`` stays light; the
``TYPE_CHECKING`` block below lets mypy verify every module against the Protocol.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from envdoctor.context import Context
    from envdoctor.requirements import CheckOptions
    from envdoctor.results import CheckResult


class Probe(Protocol):
    """What every probe module provides."""

    NAME: str
    """Registry name, used by --only and --skip."""
    TITLE: str
    """Human name for displays."""
    DEFAULT_TIMEOUT: float
    """Seconds after which the engine gives up on the probe and reports an error."""

    def run(self, ctx: Context, options: CheckOptions) -> list[CheckResult]:
        """Inspect the machine through ``ctx`` and return at least one result.

        Expected problems (a missing driver, an unreadable file) are results with a status,
        not exceptions; an exception escaping here is reported as an ``error`` result.
        Long-running probes poll ``ctx.cancel`` and stop early when it is set.
        """
        ...


_MODULES: dict[str, str] = {
    "cpu": "envdoctor.probes.cpu",
    "memory": "envdoctor.probes.memory",
    "disk": "envdoctor.probes.disk",
    "gpu": "envdoctor.probes.gpu",
    "network": "envdoctor.probes.network",
    "kernel": "envdoctor.probes.kernel",
    "config": "envdoctor.probes.config",
}

PROBE_NAMES: tuple[str, ...] = tuple(_MODULES)

ALIASES: dict[str, str] = {
    "mirrors": "network",
    "mirror": "network",
    "configuration": "config",
    "gpus": "gpu",
    "disks": "disk",
    "cpus": "cpu",
}
"""Words people read in the output (each check's title, the ``mirror pip`` rows) that
``--only`` and ``--skip`` accept for a check's name."""


def load(name: str) -> Probe:
    """The probe module registered as ``name`` (a KeyError for unknown names)."""
    return cast("Probe", importlib.import_module(_MODULES[name]))


if TYPE_CHECKING:
    from envdoctor.probes import config as config
    from envdoctor.probes import cpu as cpu
    from envdoctor.probes import disk as disk
    from envdoctor.probes import gpu as gpu
    from envdoctor.probes import kernel as kernel
    from envdoctor.probes import memory as memory
    from envdoctor.probes import network as network

    _VERIFIED: dict[str, Probe] = {
        "cpu": cpu,
        "memory": memory,
        "disk": disk,
        "gpu": gpu,
        "network": network,
        "kernel": kernel,
        "config": config,
    }
