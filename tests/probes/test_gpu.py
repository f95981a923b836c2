from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import jsonschema
import pynvml as real_pynvml
import pytest

import envdoctor
import envdoctor.nvml as _nvml
import envdoctor.probes.gpu as gpu
from envdoctor.context import Context
from envdoctor.requirements import CheckOptions, Requirements, Threshold
from envdoctor.results import CheckResult, Status
from envdoctor.units import GiB
from tests.probes import nvml_fakes
from tests.probes.nvml_fakes import FakeGpu, NvmlScenario

H100_LINE = "NVIDIA H100 80GB HBM3 · 79.1 GiB free of 79.6 GiB · 34 °C · 71 W / 700 W · PCIe 5 x16"


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return Context.for_root(tmp_path)


def check(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, scenario: NvmlScenario, **requirements: object
) -> list[CheckResult]:
    nvml_fakes.install(monkeypatch, scenario)
    options = CheckOptions(requirements=replace(Requirements(), **requirements))  # type: ignore[arg-type]
    return gpu.run(ctx, options)


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.name: result for result in results}


# Healthy machines -----------------------------------------------------------------------


def test_two_h100s_give_a_summary_and_one_result_each(ctx, monkeypatch):
    results = check(ctx, monkeypatch, nvml_fakes.h100_pair())

    assert [result.name for result in results] == ["gpu", "gpu 0", "gpu 1"]
    assert all(result.probe == "gpu" for result in results)
    assert [result.status for result in results] == [Status.OK] * 3
    summary = results[0]
    assert summary.summary == "2 GPUs · driver 550.54.15 · CUDA 12.4"
    assert summary.details["gpu_count"] == 2
    assert summary.details["usable_gpu_count"] == 2
    assert summary.details["lost_gpus"] == []
    assert summary.details["driver_version"] == "550.54.15"
    assert summary.details["cuda_driver_version"] == "12.4"
    assert summary.remedy is None


def test_gpu_details_follow_the_suffix_convention(ctx, monkeypatch):
    first = by_name(check(ctx, monkeypatch, nvml_fakes.h100_pair()))["gpu 0"]

    assert first.summary == H100_LINE
    assert first.remedy is None
    assert first.details == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-5a1c3c8e-0000-4000-8000-000000000000",
        "memory_total_bytes": 81559 * 1024**2,
        "memory_used_bytes": 530 * 1024**2,
        "memory_free_bytes": (81559 - 530) * 1024**2,
        "utilization_gpu_pct": 0,
        "utilization_memory_pct": 0,
        "temperature_c": 34,
        "power_draw_w": 71.0,
        "power_limit_w": 700.0,
        "ecc_volatile_uncorrected": 0,
        "pcie_gen_current": 5,
        "pcie_gen_max": 5,
        "pcie_width_current": 16,
        "pcie_width_max": 16,
        "clock_event_reasons": ["gpu_idle"],
        "mig_mode_current": False,
        "mig_mode_pending": False,
        "field_errors": {},
    }


def test_a_busy_gpu_at_its_power_cap_is_ok(ctx, monkeypatch):
    second = by_name(check(ctx, monkeypatch, nvml_fakes.h100_pair()))["gpu 1"]

    assert second.status is Status.OK
    assert second.details["clock_event_reasons"] == ["sw_power_cap"]
    assert second.details["utilization_gpu_pct"] == 97
    assert second.details["power_draw_w"] == pytest.approx(612.45)
    assert "61 °C" in second.summary
    assert "612 W / 700 W" in second.summary
    assert "19.6 GiB free of 79.6 GiB" in second.summary


def test_nvml_is_shut_down_after_a_successful_run(ctx, monkeypatch):
    scenario = nvml_fakes.h100_pair()
    check(ctx, monkeypatch, scenario)

    assert scenario.init_calls == 1
    assert scenario.shutdown_calls == 1
    assert not scenario.initialized
    assert scenario.calls[0] == "nvmlInit"
    assert scenario.calls[-1] == "nvmlShutdown"


def test_nvml_is_shut_down_when_reading_crashes(ctx, monkeypatch):
    scenario = NvmlScenario(gpus=[FakeGpu(errors={"nvmlDeviceGetName": RuntimeError})])

    with pytest.raises(RuntimeError):
        check(ctx, monkeypatch, scenario)
    assert scenario.shutdown_calls == 1


def test_cancel_stops_before_reading_gpus_and_still_shuts_down(ctx, monkeypatch):
    scenario = nvml_fakes.h100_pair()
    ctx.cancel.set()

    results = check(ctx, monkeypatch, scenario)

    assert [result.name for result in results] == ["gpu"]
    assert "nvmlDeviceGetHandleByIndex" not in scenario.calls
    assert scenario.shutdown_calls == 1


def test_cuda_visible_devices_is_reported(tmp_path, monkeypatch):
    ctx = Context.for_root(tmp_path, env={"CUDA_VISIBLE_DEVICES": "1"})
    summary = check(ctx, monkeypatch, nvml_fakes.h100_pair())[0]
    assert summary.details["cuda_visible_devices"] == "1"


# Old drivers, old pynvml, consumer GPUs --------------------------------------------------


def test_old_driver_falls_back_to_older_nvml_functions(ctx, monkeypatch):
    scenario = nvml_fakes.old_driver()
    results = by_name(check(ctx, monkeypatch, scenario))

    assert results["gpu"].details["cuda_driver_version"] == "11.4"
    assert "nvmlSystemGetCudaDriverVersion" in scenario.calls
    assert "nvmlDeviceGetCurrentClocksThrottleReasons" in scenario.calls
    v100 = results["gpu 0"]
    assert v100.details["temperature_c"] == 34
    assert v100.details["clock_event_reasons"] == ["hw_slowdown", "hw_thermal_slowdown"]
    assert v100.details["field_errors"] == {}


def test_thermal_slowdown_warns_with_a_remedy(ctx, monkeypatch):
    v100 = by_name(check(ctx, monkeypatch, nvml_fakes.old_driver()))["gpu 0"]

    assert v100.status is Status.WARN
    assert "clocks held back: hw_slowdown, hw_thermal_slowdown" in v100.summary
    assert v100.remedy is not None
    assert "nvidia-smi -q -d PERFORMANCE" in v100.remedy
    assert "-i 0" in v100.remedy


def test_old_pynvml_without_newer_functions_and_bytes_strings(ctx, monkeypatch):
    scenario = nvml_fakes.old_pynvml()
    results = by_name(check(ctx, monkeypatch, scenario))

    summary = results["gpu"]
    assert summary.status is Status.OK
    assert summary.summary == "1 GPU · driver 418.226.00 · CUDA 10.1"
    t4 = results["gpu 0"]
    assert t4.status is Status.OK
    assert t4.details["name"] == "Tesla T4"
    assert t4.details["uuid"] == "GPU-0e0e0e0e-0000-4000-8000-000000000000"
    assert t4.details["clock_event_reasons"] == ["gpu_idle"]
    assert t4.details["temperature_c"] == 34
    assert t4.details["mig_mode_current"] is None
    assert t4.details["mig_mode_pending"] is None
    assert t4.summary.startswith("Tesla T4 · ")
    assert "PCIe 3 x16" in t4.summary
    assert "MIG" not in t4.summary
    assert "b'" not in t4.summary


def test_consumer_gpu_reports_unsupported_fields_as_unknown(ctx, monkeypatch):
    card = by_name(check(ctx, monkeypatch, nvml_fakes.consumer_gpu()))["gpu 0"]

    assert card.status is Status.OK
    assert card.details["ecc_volatile_uncorrected"] is None
    assert card.details["power_limit_w"] is None
    assert card.details["mig_mode_current"] is None
    assert card.details["field_errors"] == {}
    assert card.details["power_draw_w"] == 24.0
    assert "24 W" in card.summary
    assert " / " not in card.summary


def test_unexpected_field_error_is_recorded_not_raised(ctx, monkeypatch):
    scenario = NvmlScenario(
        gpus=[FakeGpu(errors={"nvmlDeviceGetTemperatureV": real_pynvml.NVMLError_Unknown})]
    )
    first = by_name(check(ctx, monkeypatch, scenario))["gpu 0"]

    assert first.status is Status.OK
    assert first.details["temperature_c"] is None
    assert first.details["field_errors"] == {"temperature": "Unknown Error"}
    assert "°C" not in first.summary


# Lost GPUs --------------------------------------------------------------------------------


def test_one_lost_gpu_does_not_hide_the_others(ctx, monkeypatch):
    results = check(ctx, monkeypatch, nvml_fakes.one_lost_of_three())

    assert [result.name for result in results] == ["gpu", "gpu 0", "gpu 1", "gpu 2"]
    named = by_name(results)
    assert named["gpu 0"].status is Status.OK
    assert named["gpu 2"].status is Status.OK
    lost = named["gpu 1"]
    assert lost.status is Status.FAIL
    assert lost.summary == "gpu 1 is unusable: GPU is lost"
    assert lost.remedy is not None
    assert "nvidia-smi -r -i 1" in lost.remedy
    summary = named["gpu"]
    assert summary.status is Status.OK
    assert summary.summary.startswith("3 GPUs (1 lost) · ")
    assert summary.details["usable_gpu_count"] == 2
    assert summary.details["lost_gpus"] == [1]


def test_a_gpu_lost_while_being_read_gets_its_own_failure(ctx, monkeypatch):
    lost = real_pynvml.NVMLError_GpuIsLost
    scenario = NvmlScenario(gpus=[FakeGpu(errors={"nvmlDeviceGetPowerUsage": lost}), FakeGpu()])
    results = by_name(check(ctx, monkeypatch, scenario))

    assert results["gpu 0"].status is Status.FAIL
    assert results["gpu 0"].details == {"index": 0, "reason": "GPU is lost"}
    assert results["gpu 1"].status is Status.OK


def test_any_handle_error_marks_that_gpu_unusable(ctx, monkeypatch):
    scenario = NvmlScenario(gpus=[FakeGpu(handle_error=real_pynvml.NVMLError_Unknown), FakeGpu()])
    results = by_name(check(ctx, monkeypatch, scenario))

    assert results["gpu 0"].status is Status.FAIL
    assert results["gpu 0"].summary == "gpu 0 is unusable: Unknown Error"
    assert results["gpu 1"].status is Status.OK


def test_gpus_requirement_counts_only_usable_gpus(ctx, monkeypatch):
    failing = check(ctx, monkeypatch, nvml_fakes.one_lost_of_three(), gpus=3)[0]
    assert failing.status is Status.FAIL
    assert "--require gpus=3 but 2 usable" in failing.summary
    assert failing.remedy is not None

    passing = check(ctx, monkeypatch, nvml_fakes.one_lost_of_three(), gpus=2)[0]
    assert passing.status is Status.OK
    assert passing.details["required_gpus"] == 2


# No driver --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        (nvml_fakes.no_library, "libnvidia-ml.so.1"),
        (nvml_fakes.driver_not_loaded, "not loaded"),
        (nvml_fakes.no_permission, "permission"),
    ],
)
def test_no_usable_driver_is_a_single_skip(ctx, monkeypatch, scenario, words):
    fake = scenario()
    results = check(ctx, monkeypatch, fake)

    assert len(results) == 1
    (result,) = results
    assert result.name == "gpu"
    assert result.status is Status.SKIP
    assert words in result.summary
    assert "\n" not in result.summary
    assert fake.shutdown_calls == 0  # init failed: nothing to shut down


def test_missing_pynvml_is_a_skip(ctx, monkeypatch):
    nvml_fakes.install_without_pynvml(monkeypatch)
    results = gpu.run(ctx, CheckOptions())

    assert [(result.status, result.summary) for result in results] == [
        (Status.SKIP, "the pynvml module is not installed")
    ]


@pytest.mark.parametrize(
    "install",
    [
        lambda monkeypatch: nvml_fakes.install(monkeypatch, nvml_fakes.no_library()),
        lambda monkeypatch: nvml_fakes.install(monkeypatch, nvml_fakes.driver_not_loaded()),
        nvml_fakes.install_without_pynvml,
    ],
)
def test_gpus_requirement_fails_without_a_driver(ctx, monkeypatch, install):
    install(monkeypatch)
    options = CheckOptions(requirements=Requirements(gpus=1))
    (result,) = gpu.run(ctx, options)

    assert result.status is Status.FAIL
    assert result.summary.startswith("--require gpus=1 but ")
    assert result.remedy


def test_vram_requirement_fails_without_a_driver(ctx, monkeypatch):
    (result,) = check(ctx, monkeypatch, nvml_fakes.no_library(), vram=Threshold.exactly(24 * GiB))
    assert result.status is Status.FAIL
    assert (
        result.summary
        == "--require vram=24.0 GiB but no NVIDIA driver: libnvidia-ml.so.1 not found"
    )


def test_gpus_zero_requirement_is_no_requirement(ctx, monkeypatch):
    (result,) = check(ctx, monkeypatch, nvml_fakes.no_library(), gpus=0)
    assert result.status is Status.SKIP


def test_driver_without_gpus(ctx, monkeypatch):
    (skipped,) = check(ctx, monkeypatch, NvmlScenario())
    assert skipped.status is Status.SKIP
    assert skipped.summary.startswith("the NVIDIA driver is loaded but sees no GPU")

    (failed,) = check(ctx, monkeypatch, NvmlScenario(), gpus=1)
    assert failed.status is Status.FAIL
    assert "--require gpus=1 but 0 usable" in failed.summary


def test_broken_driver_fails_with_a_remedy(ctx, monkeypatch):
    (result,) = check(ctx, monkeypatch, nvml_fakes.version_mismatch())

    assert result.status is Status.FAIL
    assert result.summary == "NVML failed to start: RM has detected an NVML/RM version mismatch."
    assert result.remedy is not None
    assert "reboot" in result.remedy


def test_failing_device_count_fails_and_shuts_down(ctx, monkeypatch):
    scenario = NvmlScenario(errors={"nvmlDeviceGetCount": real_pynvml.NVMLError_Unknown})
    (result,) = check(ctx, monkeypatch, scenario)

    assert result.status is Status.FAIL
    assert result.summary == "NVML cannot count the GPUs: Unknown Error"
    assert scenario.shutdown_calls == 1


# VRAM requirement -------------------------------------------------------------------------


def test_vram_requirement_passes_on_the_best_gpu(ctx, monkeypatch):
    summary = check(ctx, monkeypatch, nvml_fakes.h100_pair(), vram=Threshold.exactly(70 * GiB))[0]

    assert summary.status is Status.OK
    assert summary.details["best_gpu"] == 0
    assert summary.details["best_gpu_memory_free_bytes"] == (81559 - 530) * 1024**2
    assert summary.details["required_vram_bytes"] == 70 * GiB
    assert "most free: 79.1 GiB on gpu 0" in summary.summary


def test_vram_requirement_uses_the_gpu_with_most_free_memory(ctx, monkeypatch):
    scenario = nvml_fakes.h100_pair()
    scenario.gpus.reverse()  # the busy GPU first: the best is no longer gpu 0
    summary = check(ctx, monkeypatch, scenario, vram=Threshold.exactly(70 * GiB))[0]

    assert summary.status is Status.OK
    assert summary.details["best_gpu"] == 1


def test_vram_requirement_fails_when_the_best_gpu_has_too_little(ctx, monkeypatch):
    summary = check(ctx, monkeypatch, nvml_fakes.h100_pair(), vram=Threshold.exactly(80 * GiB))[0]

    assert summary.status is Status.FAIL
    assert "--require vram=80.0 GiB but gpu 0 has 79.1 GiB free" in summary.summary
    assert summary.remedy is not None
    assert "nvidia-smi --query-compute-apps" in summary.remedy


def test_vram_threshold_grey_zone_warns(ctx, monkeypatch):
    summary = check(ctx, monkeypatch, nvml_fakes.h100_pair(), vram=Threshold(10 * GiB, 90 * GiB))[0]
    assert summary.status is Status.WARN


def test_vram_requirement_fails_when_no_gpu_reports_memory(ctx, monkeypatch):
    scenario = NvmlScenario(
        gpus=[FakeGpu(errors={"nvmlDeviceGetMemoryInfo": real_pynvml.NVMLError_NotSupported})]
    )
    summary = check(ctx, monkeypatch, scenario, vram=Threshold.exactly(1 * GiB))[0]

    assert summary.status is Status.FAIL
    assert "no GPU reports its free memory" in summary.summary


# Health warnings --------------------------------------------------------------------------


def test_uncorrected_ecc_errors_warn(ctx, monkeypatch):
    scenario = NvmlScenario(gpus=[FakeGpu(), FakeGpu(ecc_uncorrected_volatile=2)])
    results = by_name(check(ctx, monkeypatch, scenario))

    assert results["gpu 0"].status is Status.OK
    bad = results["gpu 1"]
    assert bad.status is Status.WARN
    assert bad.details["ecc_volatile_uncorrected"] == 2
    assert bad.summary.endswith(" · 2 uncorrected ECC errors")
    assert bad.remedy is not None
    assert "nvidia-smi -q -d ECC -i 1" in bad.remedy
    assert "nvidia-smi -r -i 1" in bad.remedy


def test_narrow_pcie_link_warns(ctx, monkeypatch):
    scenario = NvmlScenario(gpus=[FakeGpu(pcie_width=(8, 16))])
    first = by_name(check(ctx, monkeypatch, scenario))["gpu 0"]

    assert first.status is Status.WARN
    assert "PCIe 5 x8 (max x16)" in first.summary
    assert "PCIe link x8 of x16" in first.summary
    assert first.remedy is not None
    assert "riser" in first.remedy


def test_lower_pcie_generation_at_idle_alone_is_ok(ctx, monkeypatch):
    scenario = NvmlScenario(gpus=[FakeGpu(pcie_gen=(1, 5))])
    first = by_name(check(ctx, monkeypatch, scenario))["gpu 0"]

    assert first.status is Status.OK
    assert first.summary.endswith("PCIe 1 x16 (max 5)")
    assert first.details["pcie_gen_current"] == 1
    assert first.details["pcie_gen_max"] == 5
    assert first.remedy is None


def test_several_problems_are_all_reported(ctx, monkeypatch):
    scenario = NvmlScenario(
        gpus=[
            FakeGpu(
                pcie_gen=(1, 4), pcie_width=(4, 16), ecc_uncorrected_volatile=1, clock_reasons=0x80
            )
        ]
    )
    first = by_name(check(ctx, monkeypatch, scenario))["gpu 0"]

    assert first.status is Status.WARN
    assert "PCIe 1 x4 (max 4 x16)" in first.summary
    assert "1 uncorrected ECC error ·" in first.summary
    assert "clocks held back: hw_power_brake_slowdown" in first.summary
    assert first.remedy is not None
    assert "riser" in first.remedy and "ECC" in first.remedy and "PERFORMANCE" in first.remedy


@pytest.mark.parametrize(
    ("mig", "shown"),
    [
        ((0, 0), None),
        ((1, 1), "MIG on"),
        ((0, 1), "MIG on after reset"),
        ((1, 0), "MIG off after reset"),
    ],
)
def test_mig_mode(ctx, monkeypatch, mig, shown):
    first = by_name(check(ctx, monkeypatch, NvmlScenario(gpus=[FakeGpu(mig=mig)])))["gpu 0"]

    assert first.details["mig_mode_current"] is bool(mig[0])
    assert first.details["mig_mode_pending"] is bool(mig[1])
    assert first.status is Status.OK
    if shown is None:
        assert "MIG" not in first.summary
    else:
        assert shown in first.summary


# Shapes of the output ---------------------------------------------------------------------

_SCHEMA = json.loads(
    (Path(envdoctor.__file__).parent / "schema" / "check-v2.json").read_text(encoding="utf-8")
)
RESULT_SCHEMA = jsonschema.Draft202012Validator(
    {"$defs": _SCHEMA["$defs"], "$ref": "#/$defs/result"}
)

SCENARIOS: list[Callable[[], NvmlScenario]] = [
    nvml_fakes.h100_pair,
    nvml_fakes.old_driver,
    nvml_fakes.old_pynvml,
    nvml_fakes.consumer_gpu,
    nvml_fakes.one_lost_of_three,
    nvml_fakes.no_library,
    nvml_fakes.driver_not_loaded,
    nvml_fakes.no_permission,
    nvml_fakes.version_mismatch,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_results_are_json_ready_and_one_line(ctx, monkeypatch, scenario):
    options = {"gpus": 1, "vram": Threshold.exactly(8 * GiB)}
    for results in (
        check(ctx, monkeypatch, scenario()),
        check(ctx, monkeypatch, scenario(), **options),
    ):
        assert results
        for result in results:
            encoded = json.loads(json.dumps(result.to_json(), allow_nan=False))
            RESULT_SCHEMA.validate(encoded)
            assert encoded["probe"] == "gpu"
            assert "\n" not in result.summary
            assert result.summary.strip() == result.summary != ""
            if result.status in (Status.WARN, Status.FAIL):
                assert result.remedy


@pytest.mark.parametrize(
    ("encoded", "text"),
    [(12040, "12.4"), (11080, "11.8"), (12090, "12.9"), (10010, "10.1"), (13000, "13.0")],
)
def test_format_cuda_version(encoded, text):
    assert _nvml.format_cuda_version(encoded) == text


def test_decode_clock_event_reasons():
    assert _nvml.decode_clock_event_reasons(0) == ()
    assert _nvml.decode_clock_event_reasons(0x1 | 0x40) == ("gpu_idle", "hw_thermal_slowdown")
    assert _nvml.decode_clock_event_reasons(0x20 | 0x800) == ("sw_thermal_slowdown", "0x800")


def test_reason_bits_match_pynvml():
    for bit, name in _nvml.CLOCK_EVENT_REASONS.items():
        camel = "".join(part.capitalize() for part in name.split("_"))
        assert getattr(real_pynvml, f"nvmlClocksEventReason{camel}") == bit
        assert getattr(real_pynvml, f"nvmlClocksThrottleReason{camel}") == bit


def test_probe_metadata():
    assert gpu.NAME == "gpu"
    assert gpu.DEFAULT_TIMEOUT == 10.0
    assert gpu.TITLE


# The NVML gate ----------------------------------------------------------------------------

_IMPORT = re.compile(r"^\s*(import\s+pynvml\b|from\s+pynvml\s+import\b)", re.MULTILINE)


def test_only_the_gate_imports_pynvml():
    package = Path(envdoctor.__file__).parent
    importers = sorted(
        path.relative_to(package.parent).as_posix()
        for path in package.rglob("*.py")
        if _IMPORT.search(path.read_text(encoding="utf-8"))
    )
    assert importers == ["envdoctor/nvml.py"]


def test_importing_the_probe_does_not_import_pynvml():
    root = Path(envdoctor.__file__).parent.parent
    code = "import sys, envdoctor.probes.gpu; print('pynvml' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert completed.stdout.strip() == "False"
