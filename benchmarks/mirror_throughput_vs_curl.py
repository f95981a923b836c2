"""Envdoctor's download rate and phase timings beside curl's on one lab URL, as ratios.

    python benchmarks/mirror_throughput_vs_curl.py [--rate-mib 8] [--seconds 3] [--runs 3]

Starts one rate-limited loopback lab mirror (tests/mirrorlab.py, ``rate_bps``) and
downloads the same large file from it with ``measure_throughput`` and with
``curl -w '%{speed_download}'``; the body is sized to last ``--seconds`` at the rate,
so curl reads all of it and envdoctor reads for that long.  The target is a ratio
within 15%.  Then the phase timings: ``measure`` (per-phase durations) against curl's
running totals turned into durations: DNS = ``time_namelookup``, connect =
``time_connect - time_namelookup``, TLS = ``time_appconnect - time_connect``, first byte
= ``time_starttransfer - time_pretransfer`` (envdoctor times the first byte from the
request sent).  The mirror waits ``--delay-ms`` before answering, so that the first
byte has a size worth comparing; DNS, connect and TLS on loopback take well under a
millisecond to a few, where a ratio is mostly noise: read the milliseconds.

Envdoctor's 8-connection figure is compared in ``benchmarks/parallel_vs_aria2.py``.
With aria2c installed (Debian ``aria2``) this script prints ``aria2c -x 8``'s rate for
reference; the lab now serves ``Range`` and limits each connection, so aria2c splits
the file (the figure below, from before that, is one connection's).

Measured on the 2-core dev VM (loopback, curl 7.88.1, aria2 1.36.0), 2026-12-01, with the
defaults (8 MiB/s, 3 s, 3 runs): 1 connection envdoctor 8.0 MiB/s vs curl 8.0 MiB/s
(1.00); aria2c -x 8 7.9 MiB/s (0.99x curl, one connection).  Phases, 5 samples: DNS
0.062 vs 0.023 ms, connect 0.220 vs 0.401 ms, TLS 2.5 vs 5.2 ms (loopback noise), first
byte 51.8 vs 50.8 ms (1.02: about 1 ms more than curl, not within 1%); start to first
byte, a second run: 55.2 vs 56.2 ms (0.98).

Since 2026-12-02 the lab is served from a child process (``benchmarks/labproc.py``;
``--lab-here`` for the old way), so that no server thread holds the interpreter's lock
the measuring thread needs, and the delayed mirror's body is 16 KiB.  The 1-2 ms were
the lab's: a latency sample hangs up after a small read, and the server's thread for
that connection went on writing the rest of a 24 MiB body while the next sample's
request waited for the server's lock; curl reads each body to its end.  With the small
body, the same VM and defaults, three runs: first byte 51.1 vs 51.4 ms (0.994), 51.4 vs
51.7 ms (0.995), 51.5 vs 51.4 ms (1.002), all within 1%; TLS 2.7-4.1 vs 6.1-6.8 ms, so
start to first byte is 0.94-0.96 of curl's (loopback TLS noise).  1 connection: 8.0 vs
8.0 MiB/s (1.00).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks.labproc import served  # noqa: E402
from envdoctor.net.measure import measure, measure_throughput  # noqa: E402
from envdoctor.units import MiB, format_rate  # noqa: E402
from tests.mirrorlab import LabPKI  # noqa: E402

TOLERANCE = 0.15
FILE_PATH = "/org/model/resolve/main/model.bin"
CURL_FIELDS = (
    "time_namelookup",
    "time_connect",
    "time_appconnect",
    "time_pretransfer",
    "time_starttransfer",
    "speed_download",
)


def curl(url: str, ca_file: Path, max_time: float) -> dict[str, float]:
    """One cold ``curl`` download of ``url`` to /dev/null: its ``-w`` figures."""
    template = " ".join(f"%{{{field}}}" for field in CURL_FIELDS)
    done = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--fail",
            "--noproxy",
            "*",
            "--cacert",
            str(ca_file),
            "--max-time",
            f"{max_time:g}",
            "--output",
            "/dev/null",
            "--write-out",
            template,
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"curl failed ({done.returncode}): {done.stderr.strip()}")
    return dict(zip(CURL_FIELDS, map(float, done.stdout.split()), strict=True))


def aria2c_rate(url: str, ca_file: Path, size: int, max_time: float) -> float:
    """``aria2c -x 8 -s 8``'s rate: the file's bytes over the command's wall time."""
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        done = subprocess.run(
            [
                "aria2c",
                "-x",
                "8",
                "-s",
                "8",
                "--no-conf",
                "--all-proxy=",
                f"--ca-certificate={ca_file}",
                f"--stop={max_time:g}",
                "--summary-interval=0",
                "--console-log-level=warn",
                "--allow-overwrite=true",
                "-d",
                directory,
                "-o",
                "model.bin",
                url,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"aria2c failed ({done.returncode}): {done.stdout.strip()}")
        got = (Path(directory) / "model.bin").stat().st_size
    if got != size:
        raise SystemExit(f"aria2c wrote {got} bytes, the file has {size}")
    return size / wall


def _ratio_line(label: str, ours: float, theirs: float, unit: str = "ms") -> str:
    scale = 1000 if unit == "ms" else 1
    ratio = ours / theirs if theirs > 0 else float("nan")
    return (
        f"{label:<12} envdoctor {ours * scale:9.3f} {unit}  curl {theirs * scale:9.3f} {unit}"
        f"  ratio {ratio:5.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-mib", type=float, default=8.0, help="lab rate in MiB/s")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each download")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=5, help="phase-timing samples")
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument(
        "--lab-here",
        action="store_true",
        help="serve the lab from this process (its threads then share envdoctor's GIL)",
    )
    args = parser.parse_args()
    if shutil.which("curl") is None:
        print("curl is not installed: sudo apt-get install curl", file=sys.stderr)
        return 2

    rate = args.rate_mib * MiB
    size = int(rate * args.seconds)
    specs = [
        ("paced", {"rate_bps": rate, "body_bytes": size}),
        ("slow", {"delay_ms": args.delay_ms, "body_bytes": 16 * 1024}),
    ]
    with tempfile.TemporaryDirectory() as directory:
        pki = LabPKI.create(Path(directory))
        with served(pki, specs, processes=0 if args.lab_here else 1) as (urls, env):
            return _compare(args, urls[0] + FILE_PATH, urls[1] + FILE_PATH, env, pki.ca_file)


def _compare(
    args: argparse.Namespace, url: str, slow: str, env: dict[str, str], ca_file: Path
) -> int:
    """The comparisons, on the paced ``url`` and the ``slow`` (delayed) one."""
    rate = args.rate_mib * MiB
    size = int(rate * args.seconds)
    ours_rates: list[float] = []
    curl_rates: list[float] = []
    print(f"rate-limited lab URL: {format_rate(rate)} per connection, {size / MiB:.0f} MiB")
    for run in range(1, args.runs + 1):
        measured = measure_throughput(
            url, env=env, seconds=args.seconds + 1, max_bytes=size + 1, timeout=10
        )
        if measured.bytes_per_s is None:
            print(f"envdoctor measured nothing: {measured.reason}", file=sys.stderr)
            return 1
        theirs = curl(url, ca_file, args.seconds * 3)["speed_download"]
        ours_rates.append(measured.bytes_per_s)
        curl_rates.append(theirs)
        print(
            f"  run {run}: envdoctor {format_rate(measured.bytes_per_s):>12}"
            f"  curl {format_rate(theirs):>12}"
        )
    ours, theirs = statistics.median(ours_rates), statistics.median(curl_rates)
    ratio = ours / theirs
    within = abs(ratio - 1) <= TOLERANCE
    print(
        f"1 connection (median): envdoctor {format_rate(ours)}, curl {format_rate(theirs)},"
        f" ratio {ratio:.2f} ({'within' if within else 'OUTSIDE'} ±{TOLERANCE:.0%})"
    )
    print("8 connections: envdoctor beside aria2c -x 8 -s 8 in benchmarks/parallel_vs_aria2.py")
    if shutil.which("aria2c") is None:
        print("aria2c -x 8: not installed (sudo apt-get install aria2), no reference figure")
    else:
        aria = statistics.median(
            aria2c_rate(url, ca_file, size, args.seconds * 3) for _ in range(args.runs)
        )
        print(
            f"aria2c -x 8 (reference): {format_rate(aria)}, {aria / theirs:.2f}x curl"
            " (the lab limits each connection and serves Range: 8 ranges)"
        )

    print(f"\nphase timings, {args.samples} cold samples each (median), first byte after")
    print(f"the mirror's {args.delay_ms:g} ms delay")
    phases = measure(slow, kind="download", env=env, samples=args.samples, timeout=10)
    if not phases.healthy:
        print(f"envdoctor's measurement failed: {phases.reason}", file=sys.stderr)
        return 1
    runs = [curl(slow, ca_file, 10) for _ in range(args.samples)]

    def med(field: str, minus: str | None = None) -> float:
        return statistics.median(r[field] - (r[minus] if minus else 0.0) for r in runs)

    pairs = (
        ("DNS", phases.dns_s, med("time_namelookup")),
        ("connect", phases.connect_s, med("time_connect", "time_namelookup")),
        ("TLS", phases.tls_s, med("time_appconnect", "time_connect")),
        ("first byte", phases.ttfb_s, med("time_starttransfer", "time_pretransfer")),
    )
    for label, mine, curls in pairs:
        if mine is None:
            print(f"{label:<12} envdoctor reported no figure")
            continue
        print(_ratio_line(label, mine, curls))
    # The same as running totals: start to first byte, curl's time_starttransfer.
    total = sum(mine or 0.0 for _, mine, _ in pairs)
    print(_ratio_line("start->byte", total, med("time_starttransfer")))
    ttfb = phases.ttfb_s or 0.0
    ttfb_curl = pairs[3][2]
    ttfb_ratio = ttfb / ttfb_curl if ttfb_curl > 0 else float("nan")
    print(
        f"first byte within 1%: {'yes' if abs(ttfb_ratio - 1) <= 0.01 else 'NO'}"
        f" (ratio {ttfb_ratio:.3f})"
    )
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
