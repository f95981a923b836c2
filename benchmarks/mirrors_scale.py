"""Measuring N pip mirrors with throughput on, beside the slowest single mirror, as ratios.

    python benchmarks/mirrors_scale.py [--counts 10,50,100] [--samples 3] [--runs 3]

For each N, starts N loopback lab mirrors (tests/mirrorlab.py) whose first byte is
delayed by 20 ms up to ``--max-delay-ms`` and whose bodies are paced at
``--rate-mib`` MiB/s, and measures them the way ``envdoctor mirrors --target pip`` does:
``measure_all`` over each mirror's pip ``PullPath`` with ``throughput=True``, the
deadline ``--timeout`` (the CLI's default 5 s) and a 1 s download each.  Beside it, the
slowest single mirror (the one with the longest delay) measured alone the same way.  The
target is a ratio of 1.2 or less.

Latency runs concurrently, but downloads run one mirror at a time (so that they do not
compete for bandwidth), each for 1 s or its share of what is left of the deadline: the
wall time of N mirrors grows with N until the deadline caps it, and the per-mirror
download windows shrink.  The script prints how many mirrors got a throughput figure
and the median window, so that a ratio bought by cutting the downloads short shows.

Measured on the 2-core dev VM (loopback), 2026-12-01, with the defaults: the slowest
mirror alone 1.82 s; N = 10: 5.00 s (2.75, 9 of 10 timed, 0.35 s windows); N = 50:
5.00 s (2.75, 16 of 50 timed, 0.10 s windows); N = 100: 5.00 s (2.74, 12 of 100
timed).  Outside the 1.2x target at every N: the one-at-a-time downloads fill the
deadline, and past about 20 mirrors most get no throughput figure at all.

Again after downloads stop once their rate is steady (halves within 10%, at least
0.25 s and 256 KiB), 2026-12-01, same VM and defaults, with pip's pull steps now
reading each mirror's numpy page and a wheel: the slowest alone 1.46 s (its download
0.26 s instead of 1 s); N = 10: 4.95 s (3.39, 9 of 10 timed, 0.26 s windows); N = 50:
5.00 s (3.43, 7 timed, 18 of 50 not healthy); N = 100: 5.00 s (3.44, 9 timed, 72 of 100
not healthy).  The ratio grew because the slowest alone got faster; N mirrors still
fill the 5 s deadline.  Where the deadline leaves room, the steady stop shows:
``--counts 10 --timeout 10``, one run, 4.70 s for all 10 (all timed, 0.26 s windows)
against 9.98 s (0.80 s windows) at d45e192, the commit before it.

The mirrors not healthy at N >= 50 ran out of the latency share on two loaded cores:
parsing a 1 MiB numpy page takes about 0.38 s of CPU per mirror (pip's pull steps,
``html.parser``), and the lab's server threads share the same cores.  1.2x cannot be
met with downloads one at a time: at N = 10 it leaves about 0.03 s per download; it
needs either concurrent downloads (which compete) or timing only the few mirrors that
can still win.

The latency phase alone does not scale on this box either, 2026-12-01 (same VM, two
other engineers' tests running; ``throughput=False`` in ``_run``, one run): the slowest
alone 0.89 s; N = 10: 1.00 s (1.13x); N = 50: 2.71 s (3.08x); N = 100: 5.01 s (5.27x,
13 of 100 not healthy).  It is CPU-bound: 50 mirrors' latency phase costs 2.85 s of CPU
(envdoctor and the lab's servers share the process and the two cores), equal to its wall
time: 57 ms a mirror, of which about 22 ms is parsing the last 256 KiB of numpy's page
(1,472 anchors, the pull step's ``Range: bytes=-262144``, which the lab answers as nginx
does) and most of the rest the four TLS handshakes, paid on both ends here.  The N = 50
and 100 targets can only be judged where the mirrors are not served from the same two
cores as the client (the lent GPU machine has 16).

With throughput on and one kind, N = 10, same day: 4.83 s against 1.38 s (3.50x), 10 of
10 timed, 0.26 s windows: each download adds about 0.35 s (its window, connect, TLS and
the server's first-byte delay).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from the repository root
    sys.path.insert(0, str(ROOT))

from envdoctor.net.measure import measure_all  # noqa: E402
from envdoctor.net.session import PullPath  # noqa: E402
from envdoctor.tools import pip_pull, pull_path  # noqa: E402
from envdoctor.units import MiB  # noqa: E402
from tests.mirrorlab import LabPKI, MirrorLab  # noqa: E402

pip_pull.UPSTREAM_INDEX = None  # lab mirrors: compared with no public index

TARGET = 1.2


def _run(
    mirrors: list[PullPath], env: dict[str, str], samples: int, timeout: float
) -> tuple[float, int, float | None, int]:
    """Wall time, how many mirrors got a throughput figure, their median window, and how
    many were not healthy (on a loaded machine, latency not done within its share)."""
    started = time.perf_counter()
    results = measure_all(mirrors, env=env, samples=samples, deadline_s=timeout, throughput=True)
    wall = time.perf_counter() - started
    unhealthy = [result for result in results if not result.healthy]
    timed = [r for r in results if r.throughput_bytes_per_s is not None]
    windows = []
    for result in timed:
        # "first N bytes in S s" or "whole body N bytes in S s": the download's window.
        words = (result.throughput_reason or "").split(" in ")
        if len(words) > 1:
            windows.append(float(words[-1].split(" s")[0]))
    return wall, len(timed), statistics.median(windows) if windows else None, len(unhealthy)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,50,100")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=5.0, help="the run's deadline")
    parser.add_argument("--rate-mib", type=float, default=8.0)
    parser.add_argument("--max-delay-ms", type=float, default=200.0)
    args = parser.parse_args()
    counts = [int(word) for word in args.counts.split(",")]
    rate = args.rate_mib * MiB
    body = int(rate * 1.5)  # numpy's simple page: outlasts the 1 s download window

    print(
        f"pip mirrors, throughput on, deadline {args.timeout:g} s, {args.samples} samples,"
        f" bodies paced at {args.rate_mib:g} MiB/s; medians of {args.runs} runs"
    )
    print(
        f"{'N':>4}  {'all N':>9}  {'slowest alone':>13}  {'ratio':>6}  "
        f"{'timed':>7}  {'window':>8}  {'alone':>8}"
    )
    worst = 0.0
    for count in counts:
        with (
            tempfile.TemporaryDirectory() as directory,
            MirrorLab(LabPKI.create(Path(directory))) as lab,
        ):
            step = (args.max_delay_ms - 20) / max(1, count - 1)
            delays = [20 + step * index for index in range(count)]
            mirrors = [
                pull_path(
                    lab.add(f"m{index}", delay_ms=delay, rate_bps=rate, body_bytes=body)
                    + "/pypi/simple",
                    "pip",
                )
                for index, delay in enumerate(delays)
            ]
            slowest = [mirrors[-1]]
            walls, alone, timed, windows, alone_windows, failed = [], [], [], [], [], []
            for _ in range(args.runs):
                wall, got, window, bad = _run(mirrors, lab.env, args.samples, args.timeout)
                single, _, single_window, _ = _run(slowest, lab.env, args.samples, args.timeout)
                failed.append(bad)
                walls.append(wall)
                alone.append(single)
                timed.append(got)
                if window is not None:
                    windows.append(window)
                if single_window is not None:
                    alone_windows.append(single_window)
            ratio = statistics.median(w / s for w, s in zip(walls, alone, strict=True))
            worst = max(worst, ratio)
            window_text = f"{statistics.median(windows):.2f} s" if windows else "-"
            alone_text = f"{statistics.median(alone_windows):.2f} s" if alone_windows else "-"
            print(
                f"{count:>4}  {statistics.median(walls):8.2f}s  {statistics.median(alone):12.2f}s"
                f"  {ratio:6.2f}  {min(timed):>3}/{count:<3}  {window_text:>8}  {alone_text:>8}"
                + (f"  ({max(failed)} not healthy)" if max(failed) else "")
            )
    print(
        f"worst ratio {worst:.2f} ({'within' if worst <= TARGET else 'OUTSIDE'} the"
        f" {TARGET:g}x target)"
    )
    print("timed: mirrors with a throughput figure (fewest over the runs);")
    print("window: median download window of those, all N vs the slowest alone")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
