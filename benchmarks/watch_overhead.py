"""What watching costs: CPU used by envdoctor per sample, as a share of one core.

    python benchmarks/watch_overhead.py [--samples N] [--interval S] [--tree N]

Samples this machine every ``--interval`` seconds (1 s, as ``envdoctor watch`` does by
default) for ``--samples`` samples, judging each sample and formatting its line as the
command does, while watching a process tree of ``--tree`` sleeping children (0: the
machine only), and drawing the live table into an in-memory terminal as a terminal user
sees it.  It prints the CPU time envdoctor used per sample (``time.process_time``:
user + system time of this process, sleeping excluded), the share of one core that is at
this interval, and the process's whole CPU use over the run (``getrusage``).  The budget is
2% of one core; the exit code is 1 when a run goes over it.
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import subprocess
import sys
import time

from rich.console import Console

from envdoctor.context import Context
from envdoctor.watch import render, rules
from envdoctor.watch.signals import Sampler

BUDGET_PCT = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--tree", type=int, default=4, help="sleeping children to watch")
    args = parser.parse_args()

    children = []
    if args.tree:
        # A shell with sleeping children: the tree walk, per-thread times and connection
        # lookups are part of each sample.
        script = " & ".join(["sleep 600"] * args.tree) + " & wait"
        children.append(subprocess.Popen(["sh", "-c", script]))
    ctx = Context.from_environ()
    terminal = Console(file=io.StringIO(), force_terminal=True, width=120)
    per_sample: list[float] = []
    drawing: list[float] = []
    usage_start = resource.getrusage(resource.RUSAGE_SELF)
    wall_start = time.monotonic()
    try:
        with Sampler(ctx, pid=children[0].pid if children else None) as sampler:
            setup = time.monotonic() - wall_start
            cpu_start = time.process_time()
            next_at = time.monotonic()
            for _ in range(args.samples):
                next_at += args.interval
                time.sleep(max(0.0, next_at - time.monotonic()))
                before = time.process_time()
                sample = sampler.sample()
                finding = rules.evaluate(sample)
                render.sample_line(sample, finding)
                sampled = time.process_time()
                terminal.print(render.live_view(sample, finding))
                per_sample.append(time.process_time() - before)
                drawing.append(time.process_time() - sampled)
            cpu_total = time.process_time() - cpu_start
            wall = time.monotonic() - wall_start - setup
    finally:
        for child in children:
            child.kill()
            child.wait()
    usage_end = resource.getrusage(resource.RUSAGE_SELF)
    rusage = (usage_end.ru_utime - usage_start.ru_utime) + (
        usage_end.ru_stime - usage_start.ru_stime
    )

    median = statistics.median(per_sample)
    worst = max(per_sample)
    share = median / args.interval * 100
    overall = cpu_total / wall * 100
    gpus = sampler.gpu_note or f"{len(sample.gpus)} GPUs sampled"
    print(f"samples            {len(per_sample)} every {args.interval:g} s, tree of {args.tree}")
    print(f"gpu                {gpus}")
    print(f"set-up             {setup * 1000:8.1f} ms wall (once)")
    print(f"CPU per sample     {median * 1000:8.2f} ms median, {worst * 1000:.2f} ms worst")
    print(f"  of which drawing {statistics.median(drawing) * 1000:8.2f} ms median (live table)")
    print(f"share of one core  {share:8.3f} % at this interval (budget {BUDGET_PCT:g} %)")
    print(f"whole run          {overall:8.3f} % of one core ({rusage:.3f} s CPU incl. set-up)")
    return 0 if share < BUDGET_PCT and overall < BUDGET_PCT else 1


if __name__ == "__main__":
    sys.exit(main())
