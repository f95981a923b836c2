from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from envdoctor.engine import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK, run_checks
from envdoctor.requirements import CheckOptions
from envdoctor.results import Status
from tests.fake_probes import install, reporting, result


def test_probes_run_concurrently(ctx, monkeypatch):
    barrier = threading.Barrier(3, timeout=5)

    def meet(name):
        def run(ctx, options):
            barrier.wait()  # only passes if all three run at the same time
            return [result(name)]

        return run

    install(monkeypatch, {n: (meet(n), 10.0) for n in ("a", "b", "c")})
    report = run_checks(ctx, ["a", "b", "c"], CheckOptions())
    assert [r.name for r in report.results] == ["a", "b", "c"]
    assert report.exit_code == EXIT_OK


def test_a_hung_probe_times_out_and_the_others_still_report(ctx, monkeypatch):
    release = threading.Event()

    def hang(ctx, options):
        release.wait(30)
        return [result("slow")]

    install(
        monkeypatch,
        {"slow": (hang, 0.3), "fast": (lambda ctx, options: [result("fast")], 5.0)},
    )
    start = time.monotonic()
    report = run_checks(ctx, ["slow", "fast"], CheckOptions())
    elapsed = time.monotonic() - start
    release.set()
    assert elapsed < 2.0
    by_name = {r.name: r for r in report.results}
    assert by_name["slow"].status is Status.ERROR
    assert "did not finish within 0.3 s" in by_name["slow"].summary
    assert by_name["fast"].status is Status.OK
    assert report.exit_code == EXIT_INCOMPLETE


def test_context_timeout_overrides_probe_defaults(ctx, monkeypatch):
    def slow(ctx, options):
        time.sleep(0.5)
        return [result("slow")]

    install(monkeypatch, {"slow": (slow, 0.1)})
    ctx = type(ctx)(root=ctx.root, home=ctx.home, env=ctx.env, cwd=ctx.cwd, timeout=3.0)
    report = run_checks(ctx, ["slow"], CheckOptions())
    assert report.results[0].status is Status.OK
    assert report.results[0].duration >= 0.5


def test_a_crashing_probe_becomes_an_error_result(ctx, monkeypatch):
    def crash(ctx, options):
        raise ValueError("boom")

    install(
        monkeypatch,
        {"bad": (crash, 5.0), "good": (lambda ctx, options: [result("good")], 5.0)},
    )
    report = run_checks(ctx, ["bad", "good"], CheckOptions())
    bad = report.results[0]
    assert bad.status is Status.ERROR
    assert "ValueError: boom" in bad.summary
    assert "Traceback" in bad.details["traceback"]
    assert report.results[1].status is Status.OK


def test_a_probe_returning_nothing_is_an_error(ctx, monkeypatch):
    install(monkeypatch, {"empty": (lambda ctx, options: [], 5.0)})
    report = run_checks(ctx, ["empty"], CheckOptions())
    assert report.results[0].status is Status.ERROR


@pytest.mark.parametrize(
    ("statuses", "strict", "code"),
    [
        ([Status.OK, Status.SKIP], False, EXIT_OK),
        ([Status.OK, Status.WARN], False, EXIT_OK),
        ([Status.OK, Status.WARN], True, EXIT_FAILED),
        ([Status.FAIL, Status.ERROR], False, EXIT_FAILED),
        ([Status.ERROR, Status.WARN], False, EXIT_INCOMPLETE),
        ([Status.ERROR, Status.WARN], True, EXIT_FAILED),
    ],
)
def test_exit_codes(ctx, monkeypatch, statuses, strict, code):
    specs = {f"p{i}": (reporting(f"p{i}", status), 5.0) for i, status in enumerate(statuses)}
    install(monkeypatch, specs)
    report = run_checks(ctx, list(specs), CheckOptions(), strict=strict)
    assert report.exit_code == code
    assert report.to_json()["summary"]["exit_code"] == code
    assert sum(report.counts.values()) == len(statuses)


def test_listeners_see_every_probe(ctx, monkeypatch):
    install(monkeypatch, {n: (reporting(n, Status.OK), 5.0) for n in "xyz"})
    seen = []
    run_checks(ctx, ["x", "y", "z"], CheckOptions(), on_done=lambda n, rs: seen.append(n))
    assert sorted(seen) == ["x", "y", "z"]


def test_interrupt_sets_cancel_so_probes_can_clean_up(ctx, monkeypatch):
    cleaned = threading.Event()

    def long(ctx, options):
        os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C now
        try:
            while not ctx.cancel.wait(0.01):
                pass
        finally:
            cleaned.set()
        return [result("long")]

    install(monkeypatch, {"long": (long, 30.0)})
    with pytest.raises(KeyboardInterrupt):
        run_checks(ctx, ["long"], CheckOptions())
    assert ctx.cancel.is_set()
    assert cleaned.wait(3)


def test_user_name_comes_from_the_password_database_without_user(tmp_path):
    import pwd

    from envdoctor.context import Context
    from envdoctor.facts import machine_facts

    ctx = Context.for_root(tmp_path, env={"PATH": "/usr/bin"})
    assert "USER" not in ctx.env and "LOGNAME" not in ctx.env
    assert machine_facts(ctx)["user"]["name"] == pwd.getpwuid(os.geteuid()).pw_name
