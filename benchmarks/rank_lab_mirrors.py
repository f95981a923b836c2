"""Ranking many mirrors costs about as long as probing the slowest one, printed as a ratio.

    python benchmarks/rank_lab_mirrors.py [--mirrors 10] [--samples 3] [--runs 3]

Starts loopback lab mirrors (tests/mirrorlab.py) whose first byte is delayed by 20, 40,
... ms, ranks them with ``measure_all`` and prints the wall time beside the slowest
single mirror's probe time.  Latency runs concurrently, so the ratio should stay close
to 1; a ratio near the number of mirrors would mean they were probed one by one.  It
also checks the ranking against the injected delays.  A mirror's probe time
(``elapsed_s``) includes its pull steps (pip: numpy's page and the wheel it names),
which the wall time includes too.

Last run (2 cores, 10 mirrors, 3 samples): wall 870 ms, slowest single 859 ms, 1.01.
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
from envdoctor.net.ranking import rank  # noqa: E402
from envdoctor.tools import pip_pull, pull_path  # noqa: E402
from tests.mirrorlab import LabPKI, MirrorLab  # noqa: E402

pip_pull.UPSTREAM_INDEX = None  # lab mirrors: compared with no public index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=int, default=10)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as directory,
        MirrorLab(LabPKI.create(Path(directory))) as lab,
    ):
        delays = [20 * (index + 1) for index in range(args.mirrors)]
        # Added in a scrambled order, so that a correct ranking is not the input order.
        order = delays[1::2] + delays[0::2]
        mirrors = [
            pull_path(lab.add(f"mirror-{delay}ms", delay_ms=delay) + "/pypi/simple", "pip")
            for delay in order
        ]
        expected = [mirrors[order.index(delay)].base_url for delay in delays]

        walls, slowest, ratios = [], [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            results = measure_all(mirrors, env=lab.env, samples=args.samples, deadline_s=30)
            ranked = rank(results)
            wall = time.perf_counter() - started
            single = max(result.elapsed_s for result in results)
            walls.append(wall)
            slowest.append(single)
            ratios.append(wall / single)
            if [result.base_url for result in ranked] != expected:
                print("ranking does not follow the injected delays:", file=sys.stderr)
                for result in ranked:
                    print(f"  {result.base_url}  ttfb {result.ttfb_s}", file=sys.stderr)
                sys.exit(1)

        print(f"{args.mirrors} lab mirrors, {args.samples} samples each, {args.runs} runs (median)")
        print(f"ranking wall time       {statistics.median(walls) * 1000:8.1f} ms")
        print(f"slowest single mirror   {statistics.median(slowest) * 1000:8.1f} ms")
        print(f"ratio                   {statistics.median(ratios):8.2f}   (ideal ~1)")
        print(f"one by one would take   {sum(delays) * args.samples:8.1f} ms or more")
        print("ranking matches the injected delays")


if __name__ == "__main__":
    main()
