"""Lab mirrors served from processes of their own, for the benchmarks.

A lab server in the benchmark's own process shares its interpreter's lock with the
envdoctor thread it serves: after a server thread writes an answer it goes on holding the
lock (its bookkeeping, the next read), and the measuring thread waits for it before it
can note the time.  curl, a process of its own, never waits so.  In the field the server
is another machine, so the benchmarks serve the lab from child processes
(``multiprocessing`` spawn: no lock or thread of this process is copied).

    with served(pki, [("m0", {"delay_ms": 50}), ...], processes=1) as (urls, env):
        ...

Each spec is a mirror's name and the keyword arguments of :meth:`MirrorLab.add
<tests.mirrorlab.MirrorLab.add>` (picklable values only); with ``processes`` 0 the
mirrors are served from this process, as the tests do.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import multiprocessing.process
from collections.abc import Iterator, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

from tests.mirrorlab import LabPKI, MirrorLab

Spec = tuple[str, Mapping[str, Any]]


def _serve(conn: Connection, pki: LabPKI, specs: Sequence[Spec]) -> None:
    """``specs`` served from this (child) process until the parent says stop."""
    with MirrorLab(pki) as lab:
        conn.send(([lab.add(name, **dict(options)) for name, options in specs], lab.env))
        conn.recv()


@contextlib.contextmanager
def served(
    pki: LabPKI, specs: Sequence[Spec], *, processes: int = 1
) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The URLs of ``specs``' mirrors (in their order) and the environment that trusts
    them, served from ``processes`` child processes, each a contiguous share of the
    mirrors, or with 0 from this one."""
    if processes == 0:
        with MirrorLab(pki) as lab:
            yield [lab.add(name, **dict(options)) for name, options in specs], lab.env
        return
    if not specs:
        raise ValueError("no lab mirror to serve")
    size = max(1, math.ceil(len(specs) / processes))
    context = multiprocessing.get_context("spawn")
    children: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    try:
        for first in range(0, len(specs), size):
            ours, theirs = context.Pipe()
            child = context.Process(
                target=_serve, args=(theirs, pki, list(specs[first : first + size])), daemon=True
            )
            child.start()
            theirs.close()  # the child's end: a child that dies then ends our recv()
            children.append((child, ours))
        try:
            answers = [ours.recv() for _, ours in children]
        except EOFError:
            raise SystemExit("a lab process ended before serving: see its error above") from None
        yield [url for urls, _ in answers for url in urls], answers[0][1]
    finally:
        for _, ours in children:
            with contextlib.suppress(OSError):
                ours.send("stop")
        for process, _ in children:
            process.join(10)
