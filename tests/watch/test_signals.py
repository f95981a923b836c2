"""The sampler against a fake psutil and a fake NVML: counters in, rates out."""

from __future__ import annotations

import os
from pathlib import Path

import pynvml as real_pynvml
import pytest

from envdoctor.context import Context
from envdoctor.nvml import GpuSample, LostGpu
from envdoctor.watch import devices
from envdoctor.watch.signals import Sampler
from tests.probes import cgroup_fakes, nvml_fakes
from tests.watch.conftest import fake_sysfs
from tests.watch.nvml_watch_fakes import WatchGpu, WatchScenario
from tests.watch.psutil_fakes import FakeMachine, FakeProcess, Partition, listening, tcp

MiB = 1024**2
GiB = 1024**3


# CPU -----------------------------------------------------------------------------------


def test_per_core_busy_leaves_out_idle_and_iowait(sample_run):
    machine = FakeMachine(cores=4)
    (sample,) = sample_run(
        machine, [{"cores": [1.0, 0.5, 0.0, 0.25], "iowait": [0.0, 0.0, 0.5, 0.0]}]
    )
    assert sample.cpu.per_core_pct == pytest.approx((100.0, 50.0, 0.0, 25.0))
    assert sample.cpu.busy_pct == pytest.approx(43.75)
    assert sample.cpu.iowait_pct == pytest.approx(12.5)
    assert sample.cpu.logical_cpus == 4
    assert sample.cpu.busy_cores == pytest.approx(1.75)


def test_guest_time_is_not_counted_twice(sample_run):
    machine = FakeMachine(cores=1)
    with Sampler(
        Context.for_root(Path("/nonexistent")),
        psutil_module=machine,
        gpus=False,
        clock=machine.clock,
    ) as sampler:
        # A VM guest's time is already inside user: psutil's total must not add it again.
        machine.now += 1.0
        machine.cpu[0]["user"] += 0.5
        machine.cpu[0]["guest"] += 0.5
        machine.cpu[0]["idle"] += 0.5
        sample = sampler.sample()
    assert sample.cpu.busy_pct == pytest.approx(50.0)


def test_rates_use_the_time_between_samples(sample_run):
    machine = FakeMachine()
    first, second = sample_run(
        machine,
        [
            {"seconds": 0.5, "disks": {"nvme0n1": (0, 100 * MiB, 0.5)}},
            {"seconds": 2.0, "disks": {"nvme0n1": (0, 100 * MiB, 0.5)}},
        ],
    )
    assert first.interval_s == pytest.approx(0.5)
    assert second.interval_s == pytest.approx(2.0)
    assert second.elapsed_s == pytest.approx(2.5)
    for sample in (first, second):
        (disk,) = sample.disks
        assert disk.write_bytes_per_s == pytest.approx(100 * MiB, rel=1e-6)
        assert disk.busy_pct == pytest.approx(50.0)


# Memory --------------------------------------------------------------------------------


def test_swap_and_major_fault_rates(sample_run, wctx):
    cgroup_fakes.write(wctx.root, "/proc/vmstat", "pgfault 1000\npgmajfault 500\n")
    machine = FakeMachine()
    with Sampler(wctx, psutil_module=machine, gpus=False, clock=machine.clock) as sampler:
        machine.advance(2.0, swap=(8 * MiB, 2 * MiB), available_memory=3 * GiB)
        cgroup_fakes.write(wctx.root, "/proc/vmstat", "pgfault 9000\npgmajfault 2500\n")
        sample = sampler.sample()
    memory = sample.memory
    assert memory.swap_in_bytes_per_s == pytest.approx(8 * MiB, rel=1e-6)
    assert memory.swap_out_bytes_per_s == pytest.approx(2 * MiB, rel=1e-6)
    assert memory.major_faults_per_s == pytest.approx(1000.0)
    assert memory.available_bytes == 3 * GiB
    assert memory.cgroup_limit_bytes is None


def test_no_vmstat_means_major_faults_unknown_not_zero(sample_run):
    (sample,) = sample_run(FakeMachine(), [{}])
    assert sample.memory.major_faults_per_s is None


def test_cgroup_memory_limit_comes_from_the_cgroup_reader(sample_run, wctx):
    cgroup_fakes.cgroup_v2(
        wctx.root,
        "/",
        {
            "memory.max": str(8 * GiB),
            "memory.current": str(7 * GiB),
            "memory.stat": cgroup_fakes.memory_stat(inactive_file=GiB // 2),
        },
    )
    (sample,) = sample_run(FakeMachine(), [{}])
    assert sample.memory.cgroup_limit_bytes == 8 * GiB
    assert sample.memory.cgroup_working_set_bytes == 7 * GiB - GiB // 2
    assert sample.memory.effective_available_bytes == GiB + GiB // 2


# Disks ---------------------------------------------------------------------------------


def test_partitions_are_left_out_and_idle_devices_hidden(sample_run, wctx):
    fake_sysfs(wctx.root, os.makedev(259, 2), "nvme0n1", "nvme0n1p2")
    machine = FakeMachine(disks=("nvme0n1", "nvme0n1p2", "loop0", "sda"))
    (sample,) = sample_run(
        machine,
        [
            {
                "disks": {
                    "nvme0n1": (50 * MiB, 0, 0.4),
                    "nvme0n1p2": (50 * MiB, 0, 0.4),
                    "sda": (0, 0, 0.0),
                    "loop0": (0, 0, 0.0),
                }
            }
        ],
    )
    assert [disk.device for disk in sample.disks] == ["nvme0n1"]


def test_disk_without_busy_time_reports_busy_unknown(sample_run):
    machine = FakeMachine(busy_time=False)
    (sample,) = sample_run(machine, [{"disks": {"nvme0n1": (MiB, MiB, 0.5)}}])
    (disk,) = sample.disks
    assert disk.busy_pct is None
    assert disk.read_bytes_per_s == pytest.approx(MiB, rel=1e-6)


def test_filesystems_that_matter_are_mapped_to_their_disk(sample_run, wctx, tmp_path):
    # The cache, Docker's data root and the cwd all live on tmp_path's real device; the
    # fake sysfs says that device is partition 2 of nvme0n1.
    (wctx.root / "var/lib/docker").mkdir(parents=True)
    fake_sysfs(wctx.root, os.stat(tmp_path).st_dev, "nvme0n1", "nvme0n1p2")
    machine = FakeMachine(disks=("nvme0n1", "nvme0n1p2", "sdb"))
    with Sampler(wctx, psutil_module=machine, gpus=False, clock=machine.clock) as sampler:
        machine.advance(disks={"nvme0n1": (0, 0, 0.0), "sdb": (0, 0, 0.0)})
        sample = sampler.sample()
    roles = {fs.role: (fs.display, fs.device) for fs in sampler.filesystems}
    assert roles == {
        "model cache": ("~/.cache/huggingface/hub", "nvme0n1"),
        "docker data root": ("/var/lib/docker", "nvme0n1"),
        "working directory": ("/work", "nvme0n1"),
    }
    # Idle, but shown: it holds the filesystems that matter.  sdb holds none and idles.
    (disk,) = sample.disks
    assert disk.device == "nvme0n1"
    assert disk.roles == ("model cache", "docker data root", "working directory")


class _Stat:
    def __init__(self, st_dev: int, st_rdev: int = 0) -> None:
        self.st_dev = st_dev
        self.st_rdev = st_rdev


def test_block_device_of_a_whole_disk_and_of_device_mapper(tmp_path):
    ctx = Context.for_root(tmp_path)
    fake_sysfs(tmp_path, os.makedev(254, 0), "vda")
    fake_sysfs(tmp_path, os.makedev(253, 1), "dm-1")

    def stat(path: str) -> _Stat:
        return _Stat(os.makedev(254, 0) if path == "/data" else os.makedev(253, 1))

    assert devices.block_device(ctx, Path("/data"), [], stat=stat) == ("vda", None)  # type: ignore[arg-type]
    assert devices.block_device(ctx, Path("/lvm"), [], stat=stat) == ("dm-1", None)  # type: ignore[arg-type]


def test_btrfs_anonymous_device_is_found_through_its_mount_source(tmp_path):
    ctx = Context.for_root(tmp_path)
    fake_sysfs(tmp_path, os.makedev(8, 2), "sda", "sda2")
    partitions = [Partition("/dev/sda2", "/home", "btrfs", "rw")]

    def stat(path: str) -> _Stat:
        if path == "/dev/sda2":
            return _Stat(os.makedev(0, 6), st_rdev=os.makedev(8, 2))
        return _Stat(os.makedev(0, 45))  # a subvolume: an anonymous device number

    found = devices.block_device(ctx, tmp_path / "home/me", partitions, stat=stat)  # type: ignore[arg-type]
    assert found == ("sda", None)


@pytest.mark.parametrize(
    ("fstype", "why"),
    [
        ("tmpfs", "in memory (tmpfs)"),
        ("overlay", "an overlay filesystem (a container's layers): its disk is the host's"),
        ("nfs4", "a network filesystem (NFS)"),
        ("fuse.rclone", "no block device for fuse.rclone (rclone:)"),
    ],
)
def test_filesystems_without_a_local_disk_say_why(tmp_path, fstype, why):
    ctx = Context.for_root(tmp_path)
    source = "rclone:" if fstype.startswith("fuse") else fstype
    partitions = [Partition("/dev/vda", "/", "ext4", "rw"), Partition(source, "/mnt", fstype, "")]

    def stat(path: str) -> _Stat:
        return _Stat(os.makedev(0, 50))

    assert devices.block_device(ctx, tmp_path / "mnt/x", partitions, stat=stat) == (None, why)  # type: ignore[arg-type]


def test_a_directory_that_cannot_be_stated_is_reported(tmp_path):
    ctx = Context.for_root(tmp_path)

    def stat(path: str) -> _Stat:
        raise PermissionError(13, "Permission denied")

    assert devices.block_device(ctx, tmp_path / "secret", [], stat=stat) == (  # type: ignore[arg-type]
        None,
        "cannot stat /secret: Permission denied",
    )


# Network -------------------------------------------------------------------------------


def test_interface_rates_and_link_speed(sample_run):
    machine = FakeMachine(nics={"lo": (0, "up,loopback,running"), "eth0": (10_000, "up")})
    (sample,) = sample_run(
        machine, [{"nics": {"eth0": (100 * MiB, MiB), "lo": (5 * MiB, 5 * MiB)}}]
    )
    by_name = {nic.name: nic for nic in sample.nics}
    assert by_name["eth0"].rx_bytes_per_s == pytest.approx(100 * MiB, rel=1e-6)
    assert by_name["eth0"].tx_bytes_per_s == pytest.approx(MiB, rel=1e-6)
    assert by_name["eth0"].speed_bytes_per_s == pytest.approx(1.25e9)  # 10 Gbit/s
    assert by_name["lo"].loopback and not by_name["eth0"].loopback
    assert by_name["lo"].speed_bytes_per_s is None


def test_interfaces_that_are_down_are_hidden_unless_they_carry_traffic(sample_run):
    machine = FakeMachine(
        nics={"eth0": (0, "up,broadcast"), "ifb0": (0, "broadcast,noarp"), "ifb1": (0, "noarp")}
    )
    (sample,) = sample_run(machine, [{"nics": {"ifb1": (MiB, 0)}}])
    assert [nic.name for nic in sample.nics] == ["eth0", "ifb1"]


def test_a_counter_that_goes_backwards_gives_no_negative_rate(sample_run):
    machine = FakeMachine()
    with Sampler(
        Context.for_root(Path("/nonexistent")),
        psutil_module=machine,
        gpus=False,
        clock=machine.clock,
    ) as sampler:
        machine.advance(nics={"eth0": (MiB, MiB)})
        sampler.sample()
        machine.now += 1
        machine.nic_bytes["eth0"] = [0, 0]  # the interface was re-created
        sample = sampler.sample()
    eth0 = next(nic for nic in sample.nics if nic.name == "eth0")
    assert eth0.rx_bytes_per_s == 0


# The process tree ----------------------------------------------------------------------


def _sampler(machine: FakeMachine) -> Sampler:
    """A sampler of the tree under pid 100 of ``machine``, without GPUs."""
    return Sampler(
        Context.for_root(Path("/nonexistent")),
        pid=100,
        psutil_module=machine,
        gpus=False,
        clock=machine.clock,
    )


def _tree(machine: FakeMachine) -> tuple[FakeProcess, FakeProcess]:
    root = machine.spawn(FakeProcess(100, "bash"))
    worker = machine.spawn(FakeProcess(200, "python3", threads_={200: 0.0, 201: 0.0}), root)
    return root, worker


def test_tree_cpu_sums_processes_and_finds_the_busiest_thread(sample_run):
    machine = FakeMachine()
    _, worker = _tree(machine)
    grandchild = machine.spawn(FakeProcess(300, "unzstd"), worker)
    (sample,) = sample_run(
        machine,
        [{"threads": {(100, 100): 0.02, (200, 200): 0.30, (200, 201): 0.95, (300, 300): 0.5}}],
        pid=100,
    )
    tree = sample.tree
    assert tree is not None
    assert tree.processes == 3
    assert tree.cpu_pct == pytest.approx(177.0)
    assert tree.busiest_thread == "python3 (pid 200, thread 201)"
    assert tree.busiest_thread_pct == pytest.approx(95.0)
    assert grandchild.pid == 300


def test_a_child_started_during_the_interval_counts_whole(sample_run):
    machine = FakeMachine()
    root, _ = _tree(machine)
    with _sampler(machine) as sampler:
        machine.advance(1.0)
        late = machine.spawn(FakeProcess(400, "gzip"), root)
        late.threads_[400] = 0.6  # it ran 0.6 s since it started, within this interval
        sample = sampler.sample()
    assert sample.tree is not None
    assert sample.tree.cpu_pct == pytest.approx(60.0)
    assert sample.tree.busiest_thread == "gzip (pid 400)"


def test_children_that_ended_within_the_interval_count_once(sample_run):
    # A shell loop of short commands (sha256sum 40 times) read as 1% of a core: each
    # command ended between two samples, and its CPU lived only in the shell's
    # children_user.  One seen before it ended is not counted twice.
    machine = FakeMachine()
    root, _ = _tree(machine)
    seen = machine.spawn(FakeProcess(500, "sha256sum"), root)
    with _sampler(machine) as sampler:
        machine.advance(1.0)
        seen.threads_[500] = 0.3
        first = sampler.sample()
        machine.advance(1.0)
        seen.gone = True  # it used 0.2 s more, then ended: 0.5 s in all
        root.reaped_ = 0.5 + 0.4  # and one that lived only within this interval: 0.4 s
        second = sampler.sample()
    assert first.tree is not None and first.tree.cpu_pct == pytest.approx(30.0)
    assert second.tree is not None and second.tree.cpu_pct == pytest.approx(60.0)


def test_exited_and_reused_pids_are_not_diffed_against_each_other(sample_run):
    machine = FakeMachine()
    root, worker = _tree(machine)
    with _sampler(machine) as sampler:
        worker.threads_[200] = 50.0
        machine.advance(1.0)
        sampler.sample()
        # pid 200 exits; a new process gets the same pid with a later start time.
        root.children_.clear()
        reborn = machine.spawn(FakeProcess(200, "python3", started=2000.0), root)
        machine.advance(1.0, threads={(200, 200): 0.25})
        sample = sampler.sample()
    assert reborn.started == 2000.0
    assert sample.tree is not None
    assert sample.tree.cpu_pct == pytest.approx(25.0)


def test_a_process_gone_between_listing_and_reading_is_skipped(sample_run):
    machine = FakeMachine()
    _, worker = _tree(machine)
    with _sampler(machine) as sampler:
        machine.advance(1.0, threads={(100, 100): 0.1})
        worker.gone = True  # still listed as a child, but reading it raises NoSuchProcess
        worker.children = lambda recursive=False: []  # type: ignore[method-assign]
        sample = sampler.sample()
    assert sample.tree is not None
    assert sample.tree.processes == 1
    assert sample.tree.cpu_pct == pytest.approx(10.0)


def test_root_gone_gives_an_empty_tree(sample_run):
    machine = FakeMachine()
    root, _ = _tree(machine)
    root.gone = True
    (sample,) = sample_run(machine, [{}], pid=100)
    assert sample.tree is not None
    assert sample.tree.processes == 0
    assert sample.tree.cpu_pct == 0


def test_storage_io_and_access_denied(sample_run):
    machine = FakeMachine()
    root, worker = _tree(machine)
    setuid = machine.spawn(FakeProcess(500, "sudo", io=None), root)
    (sample,) = sample_run(machine, [{"process_io": {200: (4 * MiB, 30 * MiB)}}], pid=100)
    tree = sample.tree
    assert tree is not None
    assert tree.read_bytes_per_s == pytest.approx(4 * MiB, rel=1e-6)
    assert tree.write_bytes_per_s == pytest.approx(30 * MiB, rel=1e-6)
    assert tree.unreadable == 1
    assert setuid.io is None and worker.io is not None


def test_connections_are_counted_per_remote_host(sample_run):
    machine = FakeMachine()
    root, worker = _tree(machine)
    shared = tcp("203.0.113.7", 443, 40001)
    root.conns = [shared, listening(8080)]
    worker.conns = [
        shared,  # inherited socket: the same connection, counted once
        tcp("203.0.113.7", 443, 40002),
        tcp("198.51.100.9", 443, 40003),
        tcp("198.51.100.9", 443, 40004, status="TIME_WAIT"),
        tcp("127.0.0.1", 8000, 40005),
    ]
    (sample,) = sample_run(machine, [{}], pid=100)
    tree = sample.tree
    assert tree is not None
    assert [(h.address, h.connections, h.loopback) for h in tree.remote_hosts] == [
        ("203.0.113.7", 2, False),
        ("127.0.0.1", 1, True),
        ("198.51.100.9", 1, False),
    ]
    assert tree.connections == 4
    assert tree.max_connections_per_host == 2


def test_old_psutil_connections_and_denied_connections(sample_run):
    machine = FakeMachine()
    root = machine.spawn(FakeProcess(100, "curl", old_psutil=True))
    root.conns = [tcp("::ffff:127.0.0.1", 8000)]
    other = machine.spawn(FakeProcess(101, "ssh", deny_connections=True), root)
    other.conns = [tcp("192.0.2.1", 22)]
    (sample,) = sample_run(machine, [{}], pid=100)
    tree = sample.tree
    assert tree is not None
    assert [(h.address, h.loopback) for h in tree.remote_hosts] == [("::ffff:127.0.0.1", True)]
    assert tree.unreadable == 1


def test_watching_the_machine_has_no_tree(sample_run):
    (sample,) = sample_run(FakeMachine(), [{}])
    assert sample.tree is None


# GPUs ----------------------------------------------------------------------------------


def test_gpu_figures_through_the_nvml_gate(sample_run, monkeypatch):
    scenario = nvml_fakes.install(
        monkeypatch,
        WatchScenario(
            gpus=[
                WatchGpu(
                    utilization_gpu=97,
                    utilization_memory=40,
                    memory_used=60 * GiB,
                    pcie_rx_kib=1_500_000,
                    pcie_tx_kib=20_000,
                    clock_reasons=0x4,
                    temperature=71,
                    power_mw=650_000,
                )
            ]
        ),
    )
    (sample,) = sample_run(FakeMachine(), [{}], gpus=True)
    (gpu,) = sample.gpus
    assert isinstance(gpu, GpuSample)
    assert gpu.utilization_gpu_pct == 97
    assert gpu.memory_used_bytes == 60 * GiB
    assert gpu.pcie_rx_bytes_per_s == 1_500_000 * 1024
    assert gpu.pcie_tx_bytes_per_s == 20_000 * 1024
    assert gpu.clock_event_reasons == ("sw_power_cap",)
    assert gpu.temperature_c == 71
    assert gpu.power_draw_w == pytest.approx(650.0)
    assert sample.gpu_note is None
    # One NVML session for the whole watch, shut down at the end.
    assert scenario.init_calls == 1 and scenario.shutdown_calls == 1


def test_not_supported_fields_are_unknown_and_a_lost_gpu_hides_no_other(sample_run, monkeypatch):
    not_supported = real_pynvml.NVMLError_NotSupported
    nvml_fakes.install(
        monkeypatch,
        WatchScenario(
            gpus=[
                WatchGpu(handle_error=real_pynvml.NVMLError_GpuIsLost),
                WatchGpu(
                    utilization_gpu=12,
                    errors={
                        "nvmlDeviceGetPcieThroughput": not_supported,
                        "nvmlDeviceGetCurrentClocksEventReasons": not_supported,
                        "nvmlDeviceGetCurrentClocksThrottleReasons": not_supported,
                    },
                ),
                WatchGpu(errors={"nvmlDeviceGetUtilizationRates": real_pynvml.NVMLError_GpuIsLost}),
            ]
        ),
    )
    (sample,) = sample_run(FakeMachine(), [{}], gpus=True)
    first, second, third = sample.gpus
    assert isinstance(first, LostGpu) and first.index == 0
    assert isinstance(second, GpuSample)
    assert second.utilization_gpu_pct == 12
    assert second.pcie_rx_bytes_per_s is None and second.pcie_tx_bytes_per_s is None
    assert second.clock_event_reasons is None
    assert second.field_errors == {}
    assert isinstance(third, LostGpu) and third.index == 2


def test_old_pynvml_without_pcie_throughput(sample_run, monkeypatch):
    nvml_fakes.install(
        monkeypatch,
        WatchScenario(
            gpus=[WatchGpu(utilization_gpu=50, clock_reasons=0x60)],
            missing=frozenset(
                {"nvmlDeviceGetPcieThroughput", "nvmlDeviceGetCurrentClocksEventReasons"}
            ),
        ),
    )
    (sample,) = sample_run(FakeMachine(), [{}], gpus=True)
    (gpu,) = sample.gpus
    assert isinstance(gpu, GpuSample)
    assert gpu.pcie_rx_bytes_per_s is None
    # The older throttle-reasons call still answers.
    assert gpu.clock_event_reasons == ("sw_thermal_slowdown", "hw_thermal_slowdown")


@pytest.mark.parametrize(
    ("scenario", "note"),
    [
        (nvml_fakes.no_library(), "no NVIDIA driver: libnvidia-ml.so.1 not found"),
        (nvml_fakes.version_mismatch(), "NVML failed to start"),
        (WatchScenario(gpus=[]), "the NVIDIA driver sees no GPU"),
    ],
)
def test_no_usable_nvml_is_a_note_not_an_error(sample_run, monkeypatch, scenario, note):
    nvml_fakes.install(monkeypatch, scenario)
    (sample,) = sample_run(FakeMachine(), [{}], gpus=True)
    assert sample.gpus == ()
    assert sample.gpu_note is not None and sample.gpu_note.startswith(note)


def test_without_pynvml_installed(sample_run, monkeypatch):
    nvml_fakes.install_without_pynvml(monkeypatch)
    (sample,) = sample_run(FakeMachine(), [{}], gpus=True)
    assert sample.gpu_note == "the pynvml module is not installed"
