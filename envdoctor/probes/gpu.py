"""GPUs through NVML: count, driver, CUDA version, and the health of each GPU.

All NVML access goes through :mod:`envdoctor.nvml`, which imports ``pynvml`` only
when this probe runs; this module grades what it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from envdoctor import nvml as _nvml
from envdoctor.results import CheckResult, Status
from envdoctor.units import format_bytes

if TYPE_CHECKING:
    from envdoctor.context import Context
    from envdoctor.requirements import CheckOptions, Requirements

NAME = "gpu"
TITLE = "GPUs"
DEFAULT_TIMEOUT = 10.0
"""NVML calls can hang on a broken driver; the engine gives up on the probe after this."""

SLOWDOWN_REASONS = frozenset(
    {"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}
)
"""Clock-event reasons that mean the GPU is held back by heat or power hardware.

Idle, power-cap, sync-boost and application-clock reasons are the GPU working as
configured and are only reported.
"""


def run(ctx: Context, options: CheckOptions) -> list[CheckResult]:
    """One ``gpu`` summary result, then one ``gpu N`` result per GPU."""
    requirements = options.requirements
    try:
        snapshot = _nvml.snapshot(ctx.cancel)
    except _nvml.NvmlUnavailable as exc:
        return [_unavailable(exc.reason, exc.remedy, requirements)]
    except _nvml.NvmlBroken as exc:
        return [
            CheckResult(
                NAME, NAME, Status.FAIL, exc.reason, {"reason": exc.reason}, remedy=exc.remedy
            )
        ]
    results = [_summary(ctx, snapshot, requirements)]
    for gpu in snapshot.gpus:
        results.append(_gpu_result(gpu) if isinstance(gpu, _nvml.GpuInfo) else _lost_result(gpu))
    return results


def _requirement_text(requirements: Requirements) -> str | None:
    """The ``--require`` that needs a GPU, as the user would write it, or None."""
    if requirements.gpus is not None and requirements.gpus >= 1:
        return f"--require gpus={requirements.gpus}"
    if requirements.vram is not None:
        return f"--require vram={format_bytes(requirements.vram.minimum)}"
    return None


def _unavailable(reason: str, remedy: str, requirements: Requirements) -> CheckResult:
    details = {"reason": reason}
    required = _requirement_text(requirements)
    if required is None:
        return CheckResult(NAME, NAME, Status.SKIP, reason, details)
    return CheckResult(NAME, NAME, Status.FAIL, f"{required} but {reason}", details, remedy)


def _best_gpu(gpus: list[_nvml.GpuInfo]) -> _nvml.GpuInfo | None:
    """The GPU with the most free memory (the one a single-GPU job would pick)."""
    known = [gpu for gpu in gpus if gpu.memory_free_bytes is not None]
    return max(known, key=lambda gpu: gpu.memory_free_bytes or 0, default=None)


class _Finding(NamedTuple):
    """Something wrong, how bad it is, and what to do about it."""

    status: Status
    text: str
    remedy: str


def _requirement_findings(
    usable: list[_nvml.GpuInfo], best: _nvml.GpuInfo | None, requirements: Requirements
) -> list[_Finding]:
    findings = []
    if requirements.gpus is not None and len(usable) < requirements.gpus:
        findings.append(
            _Finding(
                Status.FAIL,
                f"--require gpus={requirements.gpus} but {len(usable)} usable",
                "Check `nvidia-smi`; a lost GPU needs a reset or a reboot, a missing one a "
                "driver that sees it (`lspci | grep -i nvidia`).",
            )
        )
    if requirements.vram is None:
        return findings
    wanted = format_bytes(requirements.vram.minimum)
    if best is None or best.memory_free_bytes is None:
        text = f"--require vram={wanted} but no GPU reports its free memory"
        findings.append(_Finding(Status.FAIL, text, "Check `nvidia-smi`."))
        return findings
    status = requirements.vram.grade(best.memory_free_bytes)
    if status is not Status.OK:
        findings.append(
            _Finding(
                status,
                f"--require vram={wanted} but gpu {best.index} has "
                f"{format_bytes(best.memory_free_bytes)} free",
                "Free GPU memory: `nvidia-smi --query-compute-apps=pid,used_memory "
                "--format=csv` lists the processes holding it.",
            )
        )
    return findings


def _summary(ctx: Context, snapshot: _nvml.NvmlSnapshot, requirements: Requirements) -> CheckResult:
    usable = [gpu for gpu in snapshot.gpus if isinstance(gpu, _nvml.GpuInfo)]
    lost = [gpu.index for gpu in snapshot.gpus if isinstance(gpu, _nvml.LostGpu)]
    best = _best_gpu(usable)
    count = snapshot.device_count

    if count == 0:
        facts = ["the NVIDIA driver is loaded but sees no GPU"]
    else:
        plural = "" if count == 1 else "s"
        facts = [f"{count} GPU{plural}" + (f" ({len(lost)} lost)" if lost else "")]
    if snapshot.driver_version is not None:
        facts.append(f"driver {snapshot.driver_version}")
    if snapshot.cuda_driver_version is not None:
        facts.append(f"CUDA {snapshot.cuda_driver_version}")
    if requirements.vram is not None and best is not None and best.memory_free_bytes is not None:
        facts.append(f"most free: {format_bytes(best.memory_free_bytes)} on gpu {best.index}")

    findings = _requirement_findings(usable, best, requirements)
    if findings:
        status = Status.worst(finding.status for finding in findings)
    else:
        status = Status.SKIP if count == 0 else Status.OK
    details: dict[str, Any] = {
        "gpu_count": count,
        "usable_gpu_count": len(usable),
        "lost_gpus": lost,
        "driver_version": snapshot.driver_version,
        "cuda_driver_version": snapshot.cuda_driver_version,
        "best_gpu": None if best is None else best.index,
        "best_gpu_memory_free_bytes": None if best is None else best.memory_free_bytes,
        "required_gpus": requirements.gpus,
        "required_vram_bytes": (
            None if requirements.vram is None else int(requirements.vram.minimum)
        ),
        # NVML sees every GPU; CUDA programs only those this variable lets through.
        "cuda_visible_devices": ctx.env.get("CUDA_VISIBLE_DEVICES"),
        "field_errors": dict(snapshot.field_errors),
    }
    return _result(NAME, status, facts, findings, details)


def _result(
    name: str, status: Status, facts: list[str], findings: list[_Finding], details: dict[str, Any]
) -> CheckResult:
    """Facts first, then what is wrong, on one line; the remedies together."""
    summary = " · ".join(facts + [finding.text for finding in findings])
    remedy = " ".join(finding.remedy for finding in findings) or None
    return CheckResult(NAME, name, status, summary, details, remedy)


def _pcie_text(gpu: _nvml.GpuInfo) -> str | None:
    """``PCIe 5 x16``, with the maxima that differ: ``PCIe 1 x8 (max 5 x16)``."""
    if gpu.pcie_gen_current is None and gpu.pcie_width_current is None:
        return None
    gen = "?" if gpu.pcie_gen_current is None else str(gpu.pcie_gen_current)
    width = "?" if gpu.pcie_width_current is None else str(gpu.pcie_width_current)
    maxima = []
    if gpu.pcie_gen_max is not None and gpu.pcie_gen_max != gpu.pcie_gen_current:
        maxima.append(str(gpu.pcie_gen_max))
    if gpu.pcie_width_max is not None and gpu.pcie_width_max != gpu.pcie_width_current:
        maxima.append(f"x{gpu.pcie_width_max}")
    text = f"PCIe {gen} x{width}"
    return f"{text} (max {' '.join(maxima)})" if maxima else text


def _facts(gpu: _nvml.GpuInfo) -> list[str]:
    facts = [gpu.name or f"gpu {gpu.index}"]
    if gpu.memory_free_bytes is not None and gpu.memory_total_bytes is not None:
        facts.append(
            f"{format_bytes(gpu.memory_free_bytes)} free of {format_bytes(gpu.memory_total_bytes)}"
        )
    if gpu.temperature_c is not None:
        facts.append(f"{gpu.temperature_c} °C")
    if gpu.power_draw_w is not None:
        limit = "" if gpu.power_limit_w is None else f" / {gpu.power_limit_w:.0f} W"
        facts.append(f"{gpu.power_draw_w:.0f} W{limit}")
    pcie = _pcie_text(gpu)
    if pcie is not None:
        facts.append(pcie)
    if gpu.mig_mode_current:
        facts.append("MIG on")
    if gpu.mig_mode_pending is not None and gpu.mig_mode_pending != gpu.mig_mode_current:
        facts.append(f"MIG {'on' if gpu.mig_mode_pending else 'off'} after reset")
    return facts


def _health_findings(gpu: _nvml.GpuInfo) -> list[_Finding]:
    index = gpu.index
    findings = []
    if (
        gpu.pcie_width_current is not None
        and gpu.pcie_width_max is not None
        and gpu.pcie_width_current < gpu.pcie_width_max
    ):
        # A lower link *generation* is normal power saving at idle; a narrower link is not.
        findings.append(
            _Finding(
                Status.WARN,
                f"PCIe link x{gpu.pcie_width_current} of x{gpu.pcie_width_max}",
                "Reseat the card or its riser and check the slot's lanes; "
                f"`nvidia-smi -q -i {index}` shows the GPU Link Info.",
            )
        )
    if gpu.ecc_volatile_uncorrected:
        errors = gpu.ecc_volatile_uncorrected
        findings.append(
            _Finding(
                Status.WARN,
                f"{errors} uncorrected ECC error{'' if errors == 1 else 's'}",
                f"Drain the node and inspect `nvidia-smi -q -d ECC -i {index}`; reset the GPU "
                f"(`sudo nvidia-smi -r -i {index}`) or reboot, and replace it if errors return.",
            )
        )
    slowdowns = [reason for reason in gpu.clock_event_reasons or () if reason in SLOWDOWN_REASONS]
    if slowdowns:
        findings.append(
            _Finding(
                Status.WARN,
                f"clocks held back: {', '.join(slowdowns)}",
                "Check cooling, airflow and power cabling; `nvidia-smi -q -d "
                f"PERFORMANCE,TEMPERATURE,POWER -i {index}` shows the active reasons.",
            )
        )
    return findings


def _gpu_result(gpu: _nvml.GpuInfo) -> CheckResult:
    findings = _health_findings(gpu)
    details: dict[str, Any] = {
        "index": gpu.index,
        "name": gpu.name,
        "uuid": gpu.uuid,
        "memory_total_bytes": gpu.memory_total_bytes,
        "memory_used_bytes": gpu.memory_used_bytes,
        "memory_free_bytes": gpu.memory_free_bytes,
        "utilization_gpu_pct": gpu.utilization_gpu_pct,
        "utilization_memory_pct": gpu.utilization_memory_pct,
        "temperature_c": gpu.temperature_c,
        "power_draw_w": gpu.power_draw_w,
        "power_limit_w": gpu.power_limit_w,
        "ecc_volatile_uncorrected": gpu.ecc_volatile_uncorrected,
        "pcie_gen_current": gpu.pcie_gen_current,
        "pcie_gen_max": gpu.pcie_gen_max,
        "pcie_width_current": gpu.pcie_width_current,
        "pcie_width_max": gpu.pcie_width_max,
        "clock_event_reasons": (
            None if gpu.clock_event_reasons is None else list(gpu.clock_event_reasons)
        ),
        "mig_mode_current": gpu.mig_mode_current,
        "mig_mode_pending": gpu.mig_mode_pending,
        "field_errors": dict(gpu.field_errors),
    }
    status = Status.worst(finding.status for finding in findings)
    return _result(f"gpu {gpu.index}", status, _facts(gpu), findings, details)


def _lost_result(gpu: _nvml.LostGpu) -> CheckResult:
    return CheckResult(
        NAME,
        f"gpu {gpu.index}",
        Status.FAIL,
        f"gpu {gpu.index} is unusable: {gpu.reason}",
        {"index": gpu.index, "reason": gpu.reason},
        "Check `nvidia-smi` and `sudo dmesg | grep -i xid`; reset the GPU "
        f"(`sudo nvidia-smi -r -i {gpu.index}`) or reboot.",
    )
