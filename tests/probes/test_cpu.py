from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import envdoctor.probes.cpu as cpu
from envdoctor.context import Context
from envdoctor.requirements import CheckOptions, Requirements, Threshold
from envdoctor.results import CheckResult, Status
from tests.probes import cgroup_fakes as fake


def run(root: Path, options: CheckOptions | None = None) -> CheckResult:
    results = cpu.run(Context.for_root(root), options or CheckOptions())
    assert len(results) == 1
    result = results[0]
    assert (result.probe, result.name) == ("cpu", "cpu")
    json.dumps(result.to_json())
    return result


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    """One socket, 8 cores, 16 threads, idle, the process free to run anywhere."""
    fake.cpus(tmp_path, sockets=1, cores=8, threads=2, model="Example EPYC 9999")
    fake.proc_status(tmp_path, "0-15")
    fake.loadavg(tmp_path, 0.31, 0.25, 0.20)
    return tmp_path


def test_unrestricted_machine(machine: Path) -> None:
    result = run(machine)

    assert result.status is Status.OK
    assert result.details == {
        "logical": 16,
        "physical": 8,
        "usable": 16,
        "quota_cpus": None,
        "effective_cpus": 16.0,
        "load_1m": 0.31,
        "load_5m": 0.25,
        "load_15m": 0.20,
        "model": "Example EPYC 9999",
        "unreadable_files": [],
    }
    assert result.summary == "16 usable CPUs (16 logical, 8 physical), 5-min load 0.25"
    assert result.remedy is None


def test_v2_quota_of_one_and_a_half(tmp_path: Path) -> None:
    fake.cpus(tmp_path, sockets=1, cores=4, threads=2)
    fake.proc_status(tmp_path, "0-7")
    fake.loadavg(tmp_path, 0.5, 0.4, 0.3)
    fake.cgroup_v2(
        tmp_path,
        "/kubepods/burstable/pod1/ctr",
        {
            "kubepods/burstable/pod1/ctr/cpu.max": "150000 100000\n",
            "kubepods/burstable/pod1/cpu.max": "max 100000\n",
            "kubepods/burstable/cpu.max": "max 100000\n",
        },
    )

    result = run(tmp_path)

    assert result.details["quota_cpus"] == 1.5
    assert result.details["effective_cpus"] == 1.5
    assert result.status is Status.FAIL  # below the default minimum of 2
    assert result.summary.startswith(
        "1.5 usable CPUs (cgroup quota 1.5 of 8 logical, 4 physical), 5-min load 0.40"
    )
    assert result.remedy is not None
    assert "docker run --cpus" in result.remedy
    assert "resources.limits.cpu" in result.remedy


def test_v2_nested_quota_takes_the_smallest(machine: Path) -> None:
    fake.cgroup_v2(
        machine,
        "/a/b",
        {
            "a/b/cpu.max": "800000 100000\n",
            "a/cpu.max": "200000 100000\n",
        },
    )

    result = run(machine)

    assert result.details["quota_cpus"] == 2.0
    assert result.details["effective_cpus"] == 2.0
    assert result.status is Status.WARN
    assert "cgroup quota 2.0 of 16 logical" in result.summary


def test_v2_no_quota(machine: Path) -> None:
    fake.cgroup_v2(machine, "/", {"cpu.max": "max 100000\n"})

    result = run(machine)

    assert result.details["quota_cpus"] is None
    assert result.details["effective_cpus"] == 16.0


def test_quota_above_the_machine_does_not_limit(machine: Path) -> None:
    fake.cgroup_v2(machine, "/", {"cpu.max": "6400000 100000\n"})

    result = run(machine)

    assert result.details["quota_cpus"] == 64.0
    assert result.details["effective_cpus"] == 16.0
    assert "quota" not in result.summary


def test_v1_quota_minus_one_is_none(machine: Path) -> None:
    fake.cgroup_v1(
        machine,
        {"cpu,cpuacct": "/docker/abc"},
        {
            "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "-1\n",
            "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
            "cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        },
    )

    result = run(machine)

    assert result.details["quota_cpus"] is None
    assert result.details["effective_cpus"] == 16.0
    assert result.status is Status.OK


def test_v1_quota_in_a_co_mounted_hierarchy(machine: Path) -> None:
    # No cgroup namespace: the listed path is absent, the mount root is the container's.
    fake.cgroup_v1(
        machine,
        {"cpu,cpuacct": "/docker/abc"},
        {
            "cpu,cpuacct/cpu.cfs_quota_us": "300000\n",
            "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        },
    )

    result = run(machine)

    assert result.details["quota_cpus"] == 3.0
    assert result.details["effective_cpus"] == 3.0
    assert result.status is Status.WARN


def test_v1_quota_found_through_the_plain_controller_directory(machine: Path) -> None:
    # Some hosts mount it as /sys/fs/cgroup/cpu (a symlink to cpu,cpuacct elsewhere).
    fake.write(machine, "/proc/self/cgroup", "3:cpu,cpuacct:/\n")
    fake.write(machine, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "50000\n")
    fake.write(machine, "/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n")

    assert run(machine).details["quota_cpus"] == 0.5


def test_affinity_restricted(machine: Path) -> None:
    fake.proc_status(machine, "2-3,6")

    result = run(machine)

    assert result.details["usable"] == 3
    assert result.details["effective_cpus"] == 3.0
    assert result.status is Status.WARN
    assert "pinned to 3 of 16 logical" in result.summary
    assert result.remedy is not None
    assert "taskset" in result.remedy
    assert "--cpuset-cpus" in result.remedy


def test_load_above_the_cores_warns(machine: Path) -> None:
    fake.loadavg(machine, 20.0, 17.5, 12.0)

    result = run(machine)

    assert result.status is Status.WARN
    assert "busy: 5-min load 17.50 over 16 CPUs" in result.summary
    assert result.remedy == "See what keeps the CPUs busy: `top -o %CPU`"


def test_load_below_the_cores_is_fine(machine: Path) -> None:
    fake.loadavg(machine, 15.0, 15.9, 16.0)

    assert run(machine).status is Status.OK


def test_missing_loadavg_is_unknown(machine: Path) -> None:
    (machine / "proc/loadavg").unlink()

    result = run(machine)

    assert result.details["load_1m"] is None
    assert result.details["load_5m"] is None
    assert result.details["load_15m"] is None
    assert result.summary.endswith(", load unknown")
    assert result.status is Status.OK


def test_garbage_loadavg_is_unknown(machine: Path) -> None:
    fake.write(machine, "/proc/loadavg", "busy\n")

    assert run(machine).details["load_5m"] is None


@pytest.mark.parametrize("garbage", ["lots 100000\n", "150000\n", "150000 0\n", "max -5\n"])
def test_malformed_cpu_max_is_unknown_not_a_crash(machine: Path, garbage: str) -> None:
    fake.cgroup_v2(machine, "/", {"cpu.max": garbage})

    result = run(machine)

    assert result.details["quota_cpus"] is None
    assert result.details["unreadable_files"] == ["/sys/fs/cgroup/cpu.max"]
    assert result.status is Status.WARN


def test_malformed_v1_period_is_unknown(machine: Path) -> None:
    fake.cgroup_v1(
        machine,
        {"cpu": "/"},
        {
            "cpu/cpu.cfs_quota_us": "200000\n",
            "cpu/cpu.cfs_period_us": "0\n",
        },
    )

    result = run(machine)

    assert result.details["quota_cpus"] is None
    assert result.details["unreadable_files"] == ["/sys/fs/cgroup/cpu/cpu.cfs_period_us"]


def test_physical_cores_from_cpuinfo_without_sysfs_topology(tmp_path: Path) -> None:
    fake.cpus(tmp_path, sockets=2, cores=6, threads=2, topology=False)

    result = run(tmp_path)

    assert result.details["logical"] == 24
    assert result.details["physical"] == 12


def test_physical_cores_from_topology_across_sockets(tmp_path: Path) -> None:
    fake.cpus(tmp_path, sockets=2, cores=6, threads=2)
    # ARM-style cpuinfo: no physical id / core id lines, so only sysfs can tell.
    fake.write(tmp_path, "/proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 50.00\n")

    assert run(tmp_path).details["physical"] == 12


def test_unknown_topology_is_none(tmp_path: Path) -> None:
    fake.write(tmp_path, "/proc/cpuinfo", "processor\t: 0\n\nprocessor\t: 1\n")

    result = run(tmp_path)

    assert result.details["logical"] == 2  # counted from cpuinfo: no sysfs online file
    assert result.details["physical"] is None
    assert result.details["usable"] is None
    assert result.details["model"] is None
    assert "(2 logical)" in result.summary


def test_offline_cpus_are_not_counted(tmp_path: Path) -> None:
    fake.cpus(tmp_path, sockets=1, cores=4, threads=2, online="0-3,6")

    assert run(tmp_path).details["logical"] == 5


def test_nothing_readable_is_unknown(tmp_path: Path) -> None:
    result = run(tmp_path)

    assert result.status is Status.WARN
    assert result.details["effective_cpus"] is None
    assert result.summary.startswith("CPU count unknown")


@pytest.mark.parametrize(
    ("cpus", "status"),
    [(1, Status.FAIL), (2, Status.WARN), (3, Status.WARN), (4, Status.OK)],
)
def test_default_thresholds(tmp_path: Path, cpus: int, status: Status) -> None:
    fake.cpus(tmp_path, sockets=1, cores=cpus, threads=1)

    result = run(tmp_path)

    assert result.status is status
    if status is not Status.OK:
        assert result.remedy is not None
        assert result.remedy.startswith("Use a machine or VM with at least")


def test_explicit_requirement(machine: Path) -> None:
    options = CheckOptions(Requirements(cpus=Threshold.exactly(32)))

    result = run(machine, options)

    assert result.status is Status.FAIL
    assert result.remedy == "Use a machine or VM with at least 32 CPUs"
    assert run(machine, CheckOptions(Requirements(cpus=Threshold.exactly(16)))).status is (
        Status.OK
    )


@given(st.sets(st.integers(min_value=0, max_value=300), min_size=1))
def test_parse_cpu_list_round_trips_the_kernel_format(cpus: set[int]) -> None:
    ranges: list[str] = []
    ordered = sorted(cpus)
    start = previous = ordered[0]
    for number in [*ordered[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        ranges.append(str(start) if start == previous else f"{start}-{previous}")
        if number is not None:
            start = previous = number

    assert cpu.parse_cpu_list(",".join(ranges) + "\n") == cpus


@pytest.mark.parametrize("text", ["", "a-b", "3-1", "0-", "1,,2", "0-3:2"])
def test_parse_cpu_list_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        cpu.parse_cpu_list(text)


def test_real_machine_structure() -> None:
    result = cpu.run(Context.from_environ(), CheckOptions())[0]

    json.dumps(result.to_json())
    details = result.details
    # The grade follows from the figures the result itself reports (default 2 min, 4 rec.).
    grades = [Status.FAIL if details["effective_cpus"] < 2 else Status.OK]
    if details["effective_cpus"] < 4:
        grades.append(Status.WARN)
    if details["load_5m"] is not None and details["load_5m"] > details["logical"]:
        grades.append(Status.WARN)
    if details["unreadable_files"]:
        grades.append(Status.WARN)
    assert result.status is Status.worst(grades)
    assert details["logical"] is not None
    assert details["logical"] > 0
    assert details["usable"] is not None
    assert 0 < details["usable"] <= details["logical"]
    assert 0 < details["effective_cpus"] <= details["logical"]
    assert details["physical"] is None or 0 < details["physical"] <= details["logical"]
    if details["load_5m"] is not None:
        assert details["load_5m"] >= 0
