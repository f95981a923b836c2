"""Watching: the machine for a while, or a command from start to exit.

With a command, envdoctor starts it with the terminal's stdin, stdout and stderr, so its
output and its interaction pass through untouched, samples it and its descendants until it
exits, and hands back its exit status the way a shell does (128 + N for a death by signal
N).  SIGTERM is passed on to the command.  SIGINT is passed on too, unless envdoctor runs
in the terminal's foreground process group: then the terminal has already sent Ctrl-C to
the command itself (it is in the same group), and sending it again would interrupt twice.
Either way envdoctor keeps watching until the command has exited, then reports.

Without a command, the machine is watched for ``seconds`` or until Ctrl-C, which ends the
watch early and still reports.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Any

from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.watch import rules
from envdoctor.watch.model import Sample, WatchRun
from envdoctor.watch.signals import Sampler

_FORWARDED = (signal.SIGINT, signal.SIGTERM)
_MIN_TAIL_FRACTION = 0.5
_MIN_TAIL_S = 0.2
"""After the command exits, the last partial interval is sampled only if it lasted at least
half an interval or 0.2 s: a sliver of a sample measures noise."""

OnSample = Callable[[Sample, rules.Finding], None]


class CommandError(EnvdoctorError):
    """The command could not be started; exit 127 (not found) or 126 (not executable)."""

    def __init__(self, message: str, hint: str, exit_code: int) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


@dataclass(frozen=True)
class WatchOptions:
    seconds: float = 10.0
    interval: float = 1.0
    command: tuple[str, ...] | None = None
    thresholds: rules.Thresholds = field(default_factory=rules.Thresholds)
    gpus: bool = True


@dataclass(frozen=True)
class WatchResult:
    run: WatchRun
    findings: tuple[rules.Finding, ...]
    judgement: rules.Judgement


def watch(
    ctx: Context,
    options: WatchOptions,
    *,
    on_sample: OnSample | None = None,
    psutil_module: Any = None,
) -> WatchResult:
    """Watch until the command exits (or ``options.seconds`` pass); judge every sample."""
    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    start = time.monotonic()  # moved on to when watching begins, after the set-up
    client = rules.client_of(options.command)
    samples: list[Sample] = []
    findings: list[rules.Finding] = []

    def record(sample: Sample) -> None:
        finding = rules.evaluate(sample, options.thresholds, client=client)
        samples.append(sample)
        findings.append(finding)
        if on_sample is not None:
            on_sample(sample, finding)

    exit_code: int | None = None
    interrupted = False
    filesystems: tuple[Any, ...] = ()
    notes: tuple[str, ...] = ()
    if options.command:
        with Sampler(ctx, psutil_module=psutil_module, gpus=options.gpus) as sampler:
            filesystems = sampler.filesystems
            notes = _notes(sampler)
            child = _start(options.command)
            start = time.monotonic()
            with _forward_signals(child):
                try:
                    sampler.attach(child.pid)
                    _watch_command(child, sampler, options.interval, record)
                finally:
                    # Even if watching fails, the command is the user's work: let it finish.
                    returncode = child.wait()
        exit_code = shell_exit_code(returncode)
    else:
        with Sampler(ctx, psutil_module=psutil_module, gpus=options.gpus) as sampler:
            filesystems = sampler.filesystems
            notes = _notes(sampler)
            start = time.monotonic()
            interrupted = _watch_machine(sampler, options.seconds, options.interval, record)
    run = WatchRun(
        samples=tuple(samples),
        interval_s=options.interval,
        duration_s=time.monotonic() - start,
        started_at=started_at,
        filesystems=filesystems,
        command=options.command,
        exit_code=exit_code,
        interrupted=interrupted,
        notes=notes,
    )
    judgement = rules.judge(samples, options.thresholds, client=client, findings=findings)
    return WatchResult(run, tuple(findings), judgement)


def _notes(sampler: Sampler) -> tuple[str, ...]:
    return () if sampler.gpu_note is None else (f"gpu: {sampler.gpu_note}",)


def shell_exit_code(returncode: int) -> int:
    """A child's status as a shell reports it: a death by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _start(command: Sequence[str]) -> subprocess.Popen[bytes]:
    try:
        # stdin, stdout and stderr are inherited: the command talks to the terminal itself.
        return subprocess.Popen(list(command))
    except FileNotFoundError:
        raise CommandError(
            f"cannot run {command[0]!r}: command not found",
            "Check the spelling, or give the full path of the program after `--`.",
            127,
        ) from None
    except PermissionError:
        raise CommandError(
            f"cannot run {command[0]!r}: permission denied",
            f"Make it executable (`chmod +x {command[0]}`) or run it through its interpreter.",
            126,
        ) from None
    except OSError as error:
        raise CommandError(
            f"cannot run {command[0]!r}: {error.strerror or error}",
            "Check that it is a program this machine can execute.",
            126,
        ) from None


def _watch_command(
    child: subprocess.Popen[bytes],
    sampler: Sampler,
    interval: float,
    record: Callable[[Sample], None],
) -> None:
    """Sample every ``interval`` until the command exits, then once more before reaping it:
    an exited but unreaped process still shows its CPU time and I/O, so the last partial
    interval is measured too."""
    last = next_at = time.monotonic()
    with _ExitWatch(child.pid) as exited:
        while True:
            next_at += interval
            if exited.wait(max(0.0, next_at - time.monotonic())):
                break
            record(sampler.sample())
            now = last = time.monotonic()
            if next_at < now:  # a slow sample: start the next interval from now
                next_at = now
        if time.monotonic() - last >= min(_MIN_TAIL_FRACTION * interval, _MIN_TAIL_S):
            record(sampler.sample())


class _ExitWatch:
    """Waits for a child to exit without reaping it (``waitid`` with ``WNOWAIT``).

    A pidfd (Linux 5.3+) wakes the wait the moment the child exits; elsewhere it polls.
    """

    _POLL_S = 0.02

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._fd: int | None = None

    def __enter__(self) -> _ExitWatch:
        with suppress(AttributeError, OSError):  # no os.pidfd_open, or an old kernel
            self._fd = os.pidfd_open(self._pid)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)

    def exited(self) -> bool:
        try:
            state = os.waitid(os.P_PID, self._pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # already reaped
            return True
        return state is not None

    def wait(self, timeout: float) -> bool:
        """True once the child has exited; False when ``timeout`` seconds passed first."""
        deadline = time.monotonic() + timeout
        while not self.exited():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._fd is not None:
                select.select([self._fd], [], [], left)
            else:
                time.sleep(min(self._POLL_S, left))
        return True


def _watch_machine(
    sampler: Sampler, seconds: float, interval: float, record: Callable[[Sample], None]
) -> bool:
    """Sample until ``seconds`` have passed; True when Ctrl-C ended it early."""
    start = next_at = time.monotonic()
    end = start + seconds
    try:
        while next_at < end - 1e-6:
            next_at = min(next_at + interval, end)
            time.sleep(max(0.0, next_at - time.monotonic()))
            record(sampler.sample())
            now = time.monotonic()
            if next_at < now:
                next_at = now
    except KeyboardInterrupt:
        return True
    return False


@contextmanager
def _forward_signals(child: subprocess.Popen[bytes]) -> Iterator[None]:
    def forward(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and _in_terminal_foreground():
            return  # the terminal sent Ctrl-C to the whole group, the command included
        with suppress(ProcessLookupError):
            os.kill(child.pid, signum)

    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _in_terminal_foreground() -> bool:
    """Whether this process group is the foreground of a controlling terminal."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)
