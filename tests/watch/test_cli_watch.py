"""``envdoctor watch`` for real, on this machine: real commands, real counters, real verdicts.

Each run is a separate ``python -m envdoctor`` process, as a user starts it, so the exit
code, the signals and the output streams are the real ones.  Workloads are short (about two
seconds) and sampled every 0.25-0.3 s; the verdicts asserted are the ones the rules give for
the workload whatever else the machine is doing at the time.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pytest
from click.testing import CliRunner

from envdoctor.cli import cli
from envdoctor.cli_watch import parse_rate
from envdoctor.context import Context
from envdoctor.errors import UsageError
from envdoctor.watch import devices
from envdoctor.watch.rules import VERDICTS

SCHEMA = json.loads(resources.files("envdoctor").joinpath("schema/watch-v1.json").read_text())
ERROR_SCHEMA = json.loads(resources.files("envdoctor").joinpath("schema/error-v1.json").read_text())
PYTHON = sys.executable


def envdoctor(*args: str, cwd: Path | None = None, timeout: float = 60, **kwargs):
    return subprocess.run(
        [PYTHON, "-m", "envdoctor", "watch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
        **kwargs,
    )


def document(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    jsonschema.validate(data, SCHEMA)
    return data


# Exit codes and output -----------------------------------------------------------------


def test_false_exits_1():
    assert envdoctor("--", "false").returncode == 1


def test_a_shells_exit_code_passes_through():
    done = envdoctor("--", "sh", "-c", "exit 7")
    assert done.returncode == 7, done.stderr
    assert "exit code 7" in done.stderr


def test_death_by_signal_is_128_plus_n():
    assert envdoctor("--", "sh", "-c", "kill -TERM $$").returncode == 128 + signal.SIGTERM


def test_the_commands_output_passes_through_and_the_report_goes_to_stderr():
    done = envdoctor("--interval", "0.2", "--", "sh", "-c", "echo out; echo err >&2; sleep 0.3")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out\n"
    assert done.stderr.startswith("err\n")
    assert "\nverdict: " in done.stderr
    assert "watched sh -c 'echo out; echo err >&2; sleep 0.3' for " in done.stderr


def test_json_with_a_command_comes_after_the_commands_own_output():
    done = envdoctor("--json", "--interval", "0.2", "--", "sh", "-c", "echo hello; sleep 0.5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("hello\n")
    data = json.loads(done.stdout[len("hello\n") :])
    jsonschema.validate(data, SCHEMA)
    assert data["command"] == ["sh", "-c", "echo hello; sleep 0.5"]
    assert data["exit_code"] == 0
    assert len(data["samples"]) >= 2
    assert all(sample["tree"] is not None for sample in data["samples"])


def test_watching_the_machine_prints_a_line_per_sample_and_the_verdict():
    done = envdoctor("--seconds", "1", "--interval", "0.25")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    samples, summary = lines[:4], lines[4:]
    for line in samples:  # "    0.2 s  idle             nothing is busy: ..."
        seconds, verdict = line.split()[:3:2]
        assert float(seconds) > 0 and verdict in VERDICTS, line
    assert summary[0].startswith("watched the machine for 1.")
    assert summary[1].startswith("verdict: ")
    assert summary[2].startswith("fix: ")


def test_watching_the_machine_as_json(tmp_path):
    done = envdoctor("--seconds", "1", "--interval", "0.25", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, SCHEMA)
    assert data["schema"] == "envdoctor-watch/1"
    assert data["command"] is None and data["exit_code"] is None
    assert len(data["samples"]) == 4
    elapsed = [s["elapsed_s"] for s in data["samples"]]
    assert elapsed == sorted(elapsed) and elapsed[-1] >= 0.95
    roles = {fs["role"] for fs in data["filesystems"]}
    assert {"model cache", "working directory"} <= roles
    cores = psutil.cpu_count()
    assert all(len(s["cpu"]["per_core_pct"]) == cores for s in data["samples"])


def test_command_not_found_exits_127():
    done = envdoctor("--", "no-such-command-envdoctor")
    assert done.returncode == 127
    assert done.stderr.splitlines() == [
        "envdoctor: error: cannot run 'no-such-command-envdoctor': command not found",
        "  Check the spelling, or give the full path of the program after `--`.",
    ]


@pytest.mark.parametrize(("command", "code"), [("no-such-command-envdoctor", 127), ("./f", 126)])
def test_a_command_that_cannot_start_is_an_error_document_of_its_schema(tmp_path, command, code):
    (tmp_path / "f").write_text("not a program\n")  # there, but not executable
    done = envdoctor("--json", "--no-gpu", "--", command, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    document = json.loads(done.stdout)
    jsonschema.validate(document, ERROR_SCHEMA)
    assert document["error"]["exit_code"] == code


def test_seconds_with_a_command_is_a_usage_error():
    out = CliRunner().invoke(cli, ["watch", "--seconds", "3", "--", "true"])
    assert out.exit_code == 2
    assert "--seconds applies only without a command" in out.stderr


def test_an_unwritable_json_file_stops_before_the_command_runs(tmp_path):
    marker = tmp_path / "ran"
    target = tmp_path / "missing-dir" / "watch.json"
    out = CliRunner().invoke(cli, ["watch", "--json-file", str(target), "--", "touch", str(marker)])
    assert out.exit_code == 2
    assert "--json-file: cannot write" in out.stderr
    assert not marker.exists()


def test_seconds_shorter_than_the_interval_is_a_usage_error():
    out = CliRunner().invoke(cli, ["watch", "--seconds", "0.5", "--interval", "2"])
    assert out.exit_code == 2
    assert "--seconds 0.5 is shorter than --interval 2" in out.stderr


def test_a_bad_mirror_speed_is_a_usage_error():
    out = CliRunner().invoke(cli, ["watch", "--mirror-speed", "fast", "--seconds", "1"])
    assert out.exit_code == 2
    assert out.stderr.splitlines() == [
        "envdoctor: error: --mirror-speed: not a rate: 'fast'",
        "  Give bytes per second such as 40MB/s or 40MiB/s, or a bit rate such as 300Mbit/s.",
    ]


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("40MB/s", 40e6),
        ("40MiB/s", 40 * 1024**2),
        ("40M", 40 * 1024**2),
        ("300Mbit/s", 37.5e6),
        ("1Gbps", 125e6),
        ("2.5 GB/s", 2.5e9),
    ],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("text", ["", "0", "0MB/s", "-3M", "40 MBps", "speedy"])
def test_parse_rate_refuses(text):
    with pytest.raises(UsageError):
        parse_rate(text)


# Signals -------------------------------------------------------------------------------

_TRAP = """
import signal, sys, time
def caught(number, frame):
    open(sys.argv[1], "w").write(str(number))
    sys.exit(42)
signal.signal(signal.SIGTERM, caught)
signal.signal(signal.SIGINT, caught)
print("ready", flush=True)
time.sleep(30)
"""


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_are_passed_on_to_the_command(tmp_path, number):
    marker = tmp_path / "caught"
    # A session of its own: no controlling terminal, so SIGINT is forwarded, not doubled.
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "envdoctor",
            "watch",
            "--interval",
            "0.2",
            "--",
            PYTHON,
            "-c",
            _TRAP,
            str(marker),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        process.send_signal(number)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 42, stderr
    assert marker.read_text() == str(int(number))
    assert "exit code 42" in stderr


def test_ctrl_c_ends_a_machine_watch_early_and_still_reports():
    process = subprocess.Popen(
        [PYTHON, "-m", "envdoctor", "watch", "--seconds", "60", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the first sample's line: the watch is running
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert first.split()[1] == "s"
    summary = rest.splitlines()
    watched = next(line for line in summary if line.startswith("watched the machine"))
    assert watched.endswith(", interrupted")
    assert any(line.startswith("verdict: ") for line in summary)


def test_importing_the_command_imports_nothing_heavy():
    code = (
        "import sys, envdoctor.cli_watch\n"
        "print([m for m in ('psutil', 'pynvml', 'rich.console', 'envdoctor.watch.signals')"
        " if m in sys.modules])"
    )
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"


# Verdicts of real workloads ------------------------------------------------------------


def test_a_busy_loop_is_cpu_bound(tmp_path):
    report = tmp_path / "watch.json"
    loop = "import time\nend = time.monotonic() + 2\nwhile time.monotonic() < end: pass\n"
    done = envdoctor("--interval", "0.25", "--json-file", str(report), "--", PYTHON, "-c", loop)
    assert done.returncode == 0, done.stderr
    verdict = document(report)["verdict"]
    assert verdict["verdict"] == "cpu-bound", done.stderr
    assert "verdict: cpu-bound: " in done.stderr


_WRITER = """
import os, sys, threading, time
directory, seconds = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + seconds
def write(index):
    path = os.path.join(directory, f"fsync-{index}.bin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    block = os.urandom(4096)
    count = 0
    while time.monotonic() < end:
        os.pwrite(fd, block, (count % 256) * 4096)
        os.fsync(fd)
        count += 1
    os.close(fd)
    os.unlink(path)
threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
for thread in threads: thread.start()
for thread in threads: thread.join()
"""


def test_fsynced_writes_are_disk_bound_on_that_device(tmp_path):
    ctx = Context.from_environ()
    device, why = devices.block_device(ctx, tmp_path, psutil.disk_partitions(all=True))
    if device is None:
        pytest.skip(f"{tmp_path} has no block device to watch: {why}")
    if device not in (psutil.disk_io_counters(perdisk=True) or {}):
        pytest.skip(f"{device} holds {tmp_path} but the kernel keeps no I/O counters for it")
    report = tmp_path / "watch.json"
    done = envdoctor(
        "--interval",
        "0.3",
        "--json-file",
        str(report),
        "--",
        PYTHON,
        "-c",
        _WRITER,
        str(tmp_path),
        "2.0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    data = document(report)
    verdict = data["verdict"]
    assert verdict["verdict"] == "disk-bound", done.stderr
    assert verdict["evidence"]["device"] == device
    assert verdict["evidence"]["busy_pct"] >= 70
    workdir = next(fs for fs in data["filesystems"] if fs["role"] == "working directory")
    assert workdir["device"] == device


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``size`` bytes at about ``rate`` bytes/s over the one connection it gets."""

    size = 3 * 1024 * 1024
    rate = 1.25 * 1024 * 1024
    chunk = 32 * 1024

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(self.size))
        self.end_headers()
        start = time.monotonic()
        sent = 0
        while sent < self.size:
            self.wfile.write(b"x" * self.chunk)
            sent += self.chunk
            # Pace to the rate: wait until the time at which `sent` bytes are due.
            delay = start + sent / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/model.safetensors"
    finally:
        server.shutdown()
        server.server_close()


_DOWNLOAD = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1]) as response:
    total = 0
    while chunk := response.read(65536):
        total += len(chunk)
print(total)
"""


def test_a_rate_limited_download_over_one_connection_is_network_bound(tmp_path, slow_server):
    report = tmp_path / "watch.json"
    done = envdoctor(
        "--interval", "0.3", "--json-file", str(report), "--", PYTHON, "-c", _DOWNLOAD, slow_server
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{_SlowHandler.size}\n"
    data = document(report)
    verdict = data["verdict"]
    assert verdict["verdict"] == "network-bound", done.stderr
    assert verdict["rule"] == "network-one-connection"
    assert verdict["evidence"]["connections"] == 1
    assert verdict["evidence"]["hosts"] == "127.0.0.1"
    hosts = [s["tree"]["remote_hosts"] for s in data["samples"] if s["tree"]["remote_hosts"]]
    assert hosts and all(
        h
        == [
            {
                "address": "127.0.0.1",
                "connections": 1,
                "loopback": True,
                "ports": [int(slow_server.split(":")[2].split("/")[0])],
            }
        ]
        for h in hosts
    )
    assert "Download in parallel" in done.stderr
