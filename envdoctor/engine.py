"""Run probes concurrently, each under its own timeout, and collect one Report.

Probes run in daemon threads: a probe stuck in a hung NFS stat or a wedged driver call
cannot be killed, but it must not keep ``envdoctor`` from reporting and exiting.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from envdoctor import __version__
from envdoctor.context import Context
from envdoctor.probes import Probe, load
from envdoctor.requirements import CheckOptions
from envdoctor.results import CheckResult, Status

SCHEMA_VERSION = 2
"""``check --json``: ``envdoctor/schema/check-v2.json``.  Version 2 describes the network
results' mirrors (pull path, dual-stack and freshness fields) and kept every field of 1."""

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3

# After Ctrl-C, how long probes get to notice ctx.cancel and clean up (disk test files).
_CANCEL_GRACE_S = 2.0


@dataclass(frozen=True)
class Report:
    """Everything one ``envdoctor check`` found."""

    machine: Mapping[str, Any]
    results: tuple[CheckResult, ...]
    probes: tuple[str, ...]
    started_at: datetime
    duration: float
    strict: bool = False
    counts: Mapping[str, int] = field(init=False)

    def __post_init__(self) -> None:
        counts = {status.value: 0 for status in Status}
        for result in self.results:
            counts[result.status.value] += 1
        object.__setattr__(self, "counts", counts)

    @property
    def status(self) -> Status:
        return Status.worst(result.status for result in self.results)

    @property
    def exit_code(self) -> int:
        """0 ready; 1 a check failed (or warned, with --strict); 3 a check could not finish."""
        if self.counts["fail"] or (self.strict and self.counts["warn"]):
            return EXIT_FAILED
        if self.counts["error"]:
            return EXIT_INCOMPLETE
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "envdoctor_version": __version__,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "duration_s": round(self.duration, 4),
            "machine": dict(self.machine),
            "probes": list(self.probes),
            "strict": self.strict,
            "results": [result.to_json() for result in self.results],
            "summary": {
                "status": self.status.value,
                "counts": dict(self.counts),
                "exit_code": self.exit_code,
            },
        }


Listener = Callable[[str, Sequence[CheckResult]], None]


def run_checks(
    ctx: Context,
    names: Iterable[str],
    options: CheckOptions,
    *,
    strict: bool = False,
    on_start: Callable[[str], None] | None = None,
    on_done: Listener | None = None,
) -> Report:
    """Run the named probes concurrently; results come back in registry order."""
    from envdoctor.facts import machine_facts

    started_at = datetime.now(timezone.utc).astimezone()
    start = time.monotonic()
    names = tuple(names)
    probes = {name: load(name) for name in names}
    finished: dict[str, list[CheckResult]] = {}
    inbox: queue.Queue[tuple[str, list[CheckResult]]] = queue.Queue()

    deadlines: dict[str, float] = {}
    try:
        for name, probe in probes.items():
            timeout = ctx.timeout if ctx.timeout is not None else probe.DEFAULT_TIMEOUT
            deadlines[name] = time.monotonic() + timeout
            if on_start:
                on_start(name)
            thread = threading.Thread(
                target=_run_probe,
                args=(probe, ctx, options, inbox),
                name=f"probe-{name}",
                daemon=True,
            )
            thread.start()

        machine = machine_facts(ctx)
        while len(finished) < len(probes):
            pending = [name for name in probes if name not in finished]
            wait = max(0.0, min(deadlines[name] for name in pending) - time.monotonic())
            try:
                name, results = inbox.get(timeout=wait)
            except queue.Empty:
                now = time.monotonic()
                for name in pending:
                    if deadlines[name] <= now:
                        finished[name] = [_timed_out(name, probes[name], ctx)]
                        if on_done:
                            on_done(name, finished[name])
                continue
            if name in finished:  # arrived after its deadline; already reported
                continue
            finished[name] = results
            if on_done:
                on_done(name, results)
    except KeyboardInterrupt:
        ctx.cancel.set()
        _let_probes_clean_up()
        raise

    ordered = tuple(result for name in names for result in finished[name])
    return Report(
        machine=machine,
        results=ordered,
        probes=names,
        started_at=started_at,
        duration=time.monotonic() - start,
        strict=strict,
    )


def _run_probe(
    probe: Probe,
    ctx: Context,
    options: CheckOptions,
    inbox: queue.Queue[tuple[str, list[CheckResult]]],
) -> None:
    start = time.monotonic()
    try:
        results = list(probe.run(ctx, options))
        if not results:
            raise RuntimeError("the probe returned no result")
    except Exception as exc:  # noqa: BLE001 - any probe failure becomes a result
        results = [
            CheckResult(
                probe=probe.NAME,
                name=probe.NAME,
                status=Status.ERROR,
                summary=f"the {probe.TITLE.lower()} check crashed: {type(exc).__name__}: {exc}",
                details={"traceback": traceback.format_exc(limit=8)},
                remedy="This is a bug in envdoctor; please report it with the output of -v.",
            )
        ]
    elapsed = time.monotonic() - start
    inbox.put((probe.NAME, [r if r.duration else r.with_duration(elapsed) for r in results]))


def _timed_out(name: str, probe: Probe, ctx: Context) -> CheckResult:
    timeout = ctx.timeout if ctx.timeout is not None else probe.DEFAULT_TIMEOUT
    return CheckResult(
        probe=name,
        name=name,
        status=Status.ERROR,
        summary=f"the {probe.TITLE.lower()} check did not finish within {timeout:g} s",
        details={"timeout_s": timeout},
        remedy=f"Run `envdoctor check --only {name} -v --timeout {max(timeout * 3, 30):g}` "
        "to see whether it is slow or hung.",
        duration=timeout,
    )


def _let_probes_clean_up() -> None:
    deadline = time.monotonic() + _CANCEL_GRACE_S
    for thread in threading.enumerate():
        if thread.name.startswith("probe-"):
            thread.join(max(0.0, deadline - time.monotonic()))
