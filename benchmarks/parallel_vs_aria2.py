"""Envdoctor's 1- and 8-connection throughput beside curl's and ``aria2c -x 8 -s 8``'s on
one per-connection rate-limited lab URL, as ratios.

    python benchmarks/parallel_vs_aria2.py [--rate-mib 4] [--seconds 3] [--runs 3]

Starts one loopback lab hub (tests/mirrorlab.py) that paces each connection at
``--rate-mib`` MiB/s and honours ``Range``: a per-connection limited mirror, where 8
connections should read 8 times as fast as one.  On the same file:

- 1 connection: ``measure_throughput`` (envdoctor) against ``curl -w
  '%{speed_download}'``, the body sized to last ``--seconds`` at the rate;
- 8 connections: :func:`envdoctor.net.parallel.time_connections` (8 disjoint ranges, the
  aggregate over their common window) against ``aria2c -x 8 -s 8 -k 1M`` downloading a
  file sized to last ``--seconds`` at 8 times the rate (its size over aria2c's wall time,
  set-up included, so aria2c's figure is a little low by construction).

The target is each ratio within 15%.  aria2c and curl must be installed (Debian
``aria2``, ``curl``).

Measured on the 2-core dev VM (loopback, TLS, curl 7.88.1, aria2 1.36.0), 2026-12-01,
with the defaults (4 MiB/s per connection, 3 s, 3 runs): 1 connection envdoctor 4.0 MiB/s
vs curl 4.0 MiB/s (1.00); 8 connections envdoctor 32.0 MiB/s vs aria2c -x 8 -s 8
30.2 MiB/s (1.06: aria2c's figure includes its set-up and the uneven end of its
pieces); envdoctor 8 vs 1 connection 8.01x.  Within the 15% target.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from the repository root
    sys.path.insert(0, str(ROOT))

from envdoctor.net.measure import measure_throughput  # noqa: E402
from envdoctor.net.parallel import time_connections  # noqa: E402
from envdoctor.net.session import Session  # noqa: E402
from envdoctor.units import MiB, format_rate  # noqa: E402
from tests.mirrorlab import LabPKI, MirrorLab  # noqa: E402

TOLERANCE = 0.15
FILE_PATH = "/org/model/resolve/main/model.bin"
CONNECTIONS = 8


def _curl(url: str, ca_file: Path) -> float:
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "--cacert", str(ca_file), "-w", "%{speed_download}", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return float(out.stdout)


def _aria2(url: str, ca_file: Path, size: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        subprocess.run(
            [
                "aria2c",
                f"-x{CONNECTIONS}",
                f"-s{CONNECTIONS}",
                "-k1M",
                "--ca-certificate",
                str(ca_file),
                "--file-allocation=none",
                "--allow-overwrite=true",
                "--console-log-level=error",
                "--summary-interval=0",
                "--download-result=hide",
                "-d",
                directory,
                "-o",
                "model.bin",
                url,
            ],
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        got = (Path(directory) / "model.bin").stat().st_size
    if got != size:
        raise SystemExit(f"aria2c wrote {got} bytes, expected {size}")
    return size / wall


def _envdoctor_parallel(url: str, env: dict[str, str], size: int, seconds: float) -> float:
    deadline = time.monotonic() + seconds + 10

    def session() -> Session:
        return Session("hf", 5.0, env, socket.getaddrinfo, deadline, ())

    timed = time_connections(url, CONNECTIONS, size, seconds, session)
    if timed.bytes_per_s is None:
        raise SystemExit(f"envdoctor: {timed.reason}")
    return timed.bytes_per_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-mib", type=float, default=4.0, help="per connection")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for program in ("curl", "aria2c"):
        if shutil.which(program) is None:
            print(f"{program} is not installed: nothing to compare with")
            return 2
    rate = args.rate_mib * MiB
    single_size = int(rate * args.seconds)
    # aria2c splits into 1 MiB pieces: a whole number of them per connection.
    parallel_size = int(rate * CONNECTIONS * args.seconds) // MiB * MiB
    with (
        tempfile.TemporaryDirectory() as directory,
        MirrorLab(LabPKI.create(Path(directory))) as lab,
    ):
        one = lab.add("one", rate_bps=rate, body_bytes=single_size) + FILE_PATH
        many = lab.add("many", rate_bps=rate, body_bytes=parallel_size) + FILE_PATH
        # Envdoctor reads the 8 ranges of a file that outlasts its window, as in a run.
        endless = lab.add("endless", rate_bps=rate, body_bytes=2**40) + FILE_PATH
        ca_file = lab.pki.ca_file
        rows: dict[str, list[float]] = {"e1": [], "curl": [], "e8": [], "aria2": []}
        for _ in range(args.runs):
            measured = measure_throughput(one, env=lab.env, seconds=args.seconds)
            if measured.bytes_per_s is None:
                raise SystemExit(f"envdoctor: {measured.reason}")
            rows["e1"].append(measured.bytes_per_s)
            rows["curl"].append(_curl(one, ca_file))
            rows["e8"].append(_envdoctor_parallel(endless, lab.env, 2**40, args.seconds))
            rows["aria2"].append(_aria2(many, ca_file, parallel_size))
    median = {name: statistics.median(values) for name, values in rows.items()}
    single_ratio = median["e1"] / median["curl"]
    parallel_ratio = median["e8"] / median["aria2"]
    gain = median["e8"] / median["e1"]
    print(
        f"per-connection limit {args.rate_mib:g} MiB/s, {args.seconds:g} s,"
        f" medians of {args.runs} runs"
    )
    print(
        f"1 connection:  envdoctor {format_rate(median['e1'])}, curl"
        f" {format_rate(median['curl'])}: ratio {single_ratio:.2f}"
    )
    print(
        f"{CONNECTIONS} connections: envdoctor {format_rate(median['e8'])}, aria2c -x"
        f" {CONNECTIONS} -s {CONNECTIONS} {format_rate(median['aria2'])}: ratio"
        f" {parallel_ratio:.2f}"
    )
    print(f"envdoctor {CONNECTIONS} vs 1 connection: {gain:.2f}x")
    worst = max(abs(single_ratio - 1), abs(parallel_ratio - 1))
    verdict = "within" if worst <= TOLERANCE else "OUTSIDE"
    print(f"{verdict} the {TOLERANCE:.0%} target")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
