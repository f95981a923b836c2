"""The one module that talks to NVML (through ``pynvml``, imported only when asked).

Everything NVML returns is turned into plain frozen dataclasses here, so the rest of
envdoctor never sees a ``pynvml`` object or exception.  Each optional field is read on its
own: a field the GPU or driver does not support becomes ``None``, a GPU that is lost
becomes a :class:`LostGpu` without hiding the others, and a machine without an NVIDIA
driver raises :class:`NvmlUnavailable` with a one-line reason.

Error codes, bitmasks and enum values below are the C ABI of ``nvml.h``; they are stable
across driver releases, unlike the Python names old ``pynvml`` releases may lack.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

# nvmlReturn_t codes.
_NOT_SUPPORTED = 3
_NO_PERMISSION = 4
_DRIVER_NOT_LOADED = 9
_LIBRARY_NOT_FOUND = 12
_FUNCTION_NOT_FOUND = 13
_GPU_IS_LOST = 15
_RESET_REQUIRED = 16

_UNSUPPORTED_CODES = frozenset({_NOT_SUPPORTED, _FUNCTION_NOT_FOUND})
"""The driver or GPU lacks the field: report it as unknown, not as an error."""
_UNUSABLE_CODES = frozenset({_GPU_IS_LOST, _RESET_REQUIRED})
"""The GPU itself is gone until it is reset: report the GPU, not the field."""

_TEMPERATURE_GPU = 0  # nvmlTemperatureSensors_t NVML_TEMPERATURE_GPU
_MEMORY_ERROR_UNCORRECTED = 1  # nvmlMemoryErrorType_t NVML_MEMORY_ERROR_TYPE_UNCORRECTED
_VOLATILE_ECC = 0  # nvmlEccCounterType_t NVML_VOLATILE_ECC
_MIG_ENABLED = 1  # NVML_DEVICE_MIG_ENABLE
_PCIE_TX_BYTES = 0  # nvmlPcieUtilCounter_t NVML_PCIE_UTIL_TX_BYTES
_PCIE_RX_BYTES = 1  # NVML_PCIE_UTIL_RX_BYTES
_PCIE_UNIT_BYTES = 1024
"""nvmlDeviceGetPcieThroughput answers in KB/s, which NVML (like nvidia-smi) means as KiB/s."""

CLOCK_EVENT_REASONS: dict[int, str] = {
    0x001: "gpu_idle",
    0x002: "applications_clocks_setting",
    0x004: "sw_power_cap",
    0x008: "hw_slowdown",
    0x010: "sync_boost",
    0x020: "sw_thermal_slowdown",
    0x040: "hw_thermal_slowdown",
    0x080: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
"""nvmlClocksEventReason* bits (the same bits as the older nvmlClocksThrottleReason*)."""


class NvmlUnavailable(Exception):
    """NVML cannot be used here: no pynvml, no driver library, driver not loaded, no permission.

    This is the normal state of a machine without an NVIDIA GPU; ``reason`` is one line.
    """

    def __init__(self, reason: str, remedy: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remedy = remedy


class NvmlBroken(Exception):
    """NVML is installed but fails as a whole (a driver/library mismatch, an unknown error)."""

    def __init__(self, reason: str, remedy: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remedy = remedy


@dataclass(frozen=True)
class GpuInfo:
    """What NVML told us about one GPU; ``None`` wherever the GPU or driver could not say."""

    index: int
    name: str | None = None
    uuid: str | None = None
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    memory_free_bytes: int | None = None
    utilization_gpu_pct: int | None = None
    utilization_memory_pct: int | None = None
    temperature_c: int | None = None
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    ecc_volatile_uncorrected: int | None = None
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    clock_event_reasons: tuple[str, ...] | None = None
    mig_mode_current: bool | None = None
    mig_mode_pending: bool | None = None
    field_errors: dict[str, str] = field(default_factory=dict)
    """Fields NVML refused with an unexpected error (field name -> NVML's message)."""


@dataclass(frozen=True)
class LostGpu:
    """A GPU NVML counts but cannot use: lost, needing a reset, or without a handle."""

    index: int
    reason: str


@dataclass(frozen=True)
class NvmlSnapshot:
    """The driver and every GPU, read in one NVML session."""

    driver_version: str | None
    cuda_driver_version: str | None
    device_count: int
    gpus: tuple[GpuInfo | LostGpu, ...]
    field_errors: dict[str, str] = field(default_factory=dict)
    """System fields NVML refused with an unexpected error (field name -> NVML's message)."""


@dataclass(frozen=True)
class GpuSample:
    """One GPU's activity now, for ``envdoctor watch``; ``None`` wherever NVML could not say.

    Utilisation and PCIe throughput are NVML's own short-window averages (utilisation over
    its last sample period, PCIe over 20 ms), so a sample needs no earlier one to diff.
    """

    index: int
    name: str | None = None
    utilization_gpu_pct: int | None = None
    utilization_memory_pct: int | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    pcie_rx_bytes_per_s: int | None = None
    """Host to GPU."""
    pcie_tx_bytes_per_s: int | None = None
    """GPU to host."""
    clock_event_reasons: tuple[str, ...] | None = None
    temperature_c: int | None = None
    power_draw_w: float | None = None
    field_errors: dict[str, str] = field(default_factory=dict)


class GpuSampler:
    """An open NVML session that samples every GPU's activity again on each call.

    Get one from :func:`sampling`; initialising NVML once for a whole watch keeps each
    sample to a few driver calls per GPU.
    """

    def __init__(self, nvml: Any, device_count: int) -> None:
        self._reader = _Reader(nvml)
        self.device_count = device_count

    def sample(self) -> tuple[GpuSample | LostGpu, ...]:
        """Every GPU now; a GPU lost since the last sample becomes a :class:`LostGpu`."""
        return tuple(self._reader.sample(index) for index in range(self.device_count))


@contextmanager
def sampling() -> Iterator[GpuSampler]:
    """An NVML session for repeated samples, shut down on exit.

    Raises :class:`NvmlUnavailable` or :class:`NvmlBroken` like :func:`snapshot`.
    """
    with _session() as nvml:
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except nvml.NVMLError as exc:
            raise NvmlBroken(
                f"NVML cannot count the GPUs: {_message(exc)}", _BROKEN_REMEDY
            ) from exc
        yield GpuSampler(nvml, count)


def _import_pynvml() -> Any:
    """``pynvml``, imported only now: importing it is not free and most commands never need it."""
    import pynvml  # the only import of pynvml in envdoctor

    return pynvml


def snapshot(cancel: threading.Event | None = None) -> NvmlSnapshot:
    """Initialise NVML, read the driver and every GPU, shut NVML down again.

    Raises :class:`NvmlUnavailable` when there is no usable NVIDIA driver and
    :class:`NvmlBroken` when NVML is there but fails as a whole.  Stops reading GPUs early
    when ``cancel`` is set.
    """
    with _session() as nvml:
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except nvml.NVMLError as exc:
            raise NvmlBroken(
                f"NVML cannot count the GPUs: {_message(exc)}", _BROKEN_REMEDY
            ) from exc
        reader = _Reader(nvml)
        errors: dict[str, str] = {}
        driver_version = reader.driver_version(errors)
        cuda_driver_version = reader.cuda_driver_version(errors)
        gpus: list[GpuInfo | LostGpu] = []
        for index in range(count):
            if cancel is not None and cancel.is_set():
                break
            gpus.append(reader.gpu(index))
        return NvmlSnapshot(
            driver_version=driver_version,
            cuda_driver_version=cuda_driver_version,
            device_count=count,
            gpus=tuple(gpus),
            field_errors=errors,
        )


def format_cuda_version(encoded: int) -> str:
    """NVML's CUDA version integer as text: 12040 -> ``12.4``, 11080 -> ``11.8``."""
    return f"{encoded // 1000}.{encoded % 1000 // 10}"


def decode_clock_event_reasons(mask: int) -> tuple[str, ...]:
    """Names of the bits set in a clocks-event (throttle) reason mask, unknown bits in hex."""
    names = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]
    unknown = mask & ~sum(CLOCK_EVENT_REASONS)
    bit = 1
    while unknown >= bit:
        if unknown & bit:
            names.append(f"0x{bit:x}")
        bit <<= 1
    return tuple(names)


_BROKEN_REMEDY = (
    "Run `nvidia-smi`; after a driver upgrade reboot (or reload the nvidia kernel modules), "
    "and check `sudo dmesg | grep -i -e nvrm -e xid`."
)


@contextmanager
def _session() -> Iterator[Any]:
    try:
        nvml = _import_pynvml()
    except ImportError as exc:
        raise NvmlUnavailable(
            "the pynvml module is not installed", "pip install nvidia-ml-py"
        ) from exc
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise _init_error(exc) from exc
    try:
        yield nvml
    finally:
        # A failing shutdown must not replace the real outcome (or an exception in flight).
        with suppress(nvml.NVMLError):
            nvml.nvmlShutdown()


def _init_error(exc: Exception) -> Exception:
    code = getattr(exc, "value", None)
    if code == _LIBRARY_NOT_FOUND:
        return NvmlUnavailable(
            "no NVIDIA driver: libnvidia-ml.so.1 not found",
            "Install the NVIDIA driver; in a container, run it with `--gpus all` "
            "(NVIDIA Container Toolkit).",
        )
    if code == _DRIVER_NOT_LOADED:
        return NvmlUnavailable(
            "the NVIDIA driver is installed but not loaded",
            "Load it with `sudo modprobe nvidia` and check `sudo dmesg | grep -i nvidia`.",
        )
    if code == _NO_PERMISSION:
        return NvmlUnavailable(
            "no permission to use the NVIDIA driver",
            "Check the permissions of /dev/nvidia* (group `video`) or run the container "
            "with `--gpus all`.",
        )
    return NvmlBroken(f"NVML failed to start: {_message(exc)}", _BROKEN_REMEDY)


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _text(value: Any) -> str | None:
    """Names, UUIDs and versions come back as bytes from older pynvml releases."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    return str(value).strip()


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _watts(milliwatts: Any) -> float | None:
    return None if milliwatts is None else int(milliwatts) / 1000.0


class _GpuUnusable(Exception):
    """Raised while reading a GPU that turned out to be lost."""


_Read = TypeVar("_Read", "GpuInfo", "GpuSample")


class _Reader:
    """Reads fields one at a time, so one unsupported field costs only that field."""

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml

    def driver_version(self, errors: dict[str, str]) -> str | None:
        return _text(self._system(errors, "driver_version", [("nvmlSystemGetDriverVersion", ())]))

    def cuda_driver_version(self, errors: dict[str, str]) -> str | None:
        encoded = self._system(
            errors,
            "cuda_driver_version",
            [("nvmlSystemGetCudaDriverVersion_v2", ()), ("nvmlSystemGetCudaDriverVersion", ())],
        )
        return None if encoded is None else format_cuda_version(int(encoded))

    def _system(
        self, errors: dict[str, str], name: str, calls: list[tuple[str, tuple[Any, ...]]]
    ) -> Any:
        try:
            return self._first(errors, name, calls)
        except _GpuUnusable as exc:  # not about one GPU: just an unreadable field
            errors[name] = str(exc)
            return None

    def gpu(self, index: int) -> GpuInfo | LostGpu:
        return self._read_gpu(index, self._gpu)

    def _read_gpu(
        self, index: int, build: Callable[[int, Any, dict[str, str]], _Read]
    ) -> _Read | LostGpu:
        """``build(index, handle, errors)`` for one GPU; a GPU that is gone is a LostGpu."""
        try:
            handle = self._nvml.nvmlDeviceGetHandleByIndex(index)
        except self._nvml.NVMLError as exc:
            return LostGpu(index, _message(exc))
        errors: dict[str, str] = {}
        try:
            return build(index, handle, errors)
        except _GpuUnusable as exc:
            return LostGpu(index, str(exc))

    def _gpu(self, index: int, handle: Any, errors: dict[str, str]) -> GpuInfo:
        def read(name: str, *calls: tuple[str, tuple[Any, ...]]) -> Any:
            return self._first(errors, name, list(calls))

        memory = read("memory", ("nvmlDeviceGetMemoryInfo", (handle,)))
        utilization = read("utilization", ("nvmlDeviceGetUtilizationRates", (handle,)))
        reasons = read(
            "clock_event_reasons",
            ("nvmlDeviceGetCurrentClocksEventReasons", (handle,)),
            ("nvmlDeviceGetCurrentClocksThrottleReasons", (handle,)),
        )
        mig = read("mig_mode", ("nvmlDeviceGetMigMode", (handle,)))
        return GpuInfo(
            index=index,
            name=_text(read("name", ("nvmlDeviceGetName", (handle,)))),
            uuid=_text(read("uuid", ("nvmlDeviceGetUUID", (handle,)))),
            memory_total_bytes=None if memory is None else int(memory.total),
            memory_used_bytes=None if memory is None else int(memory.used),
            memory_free_bytes=None if memory is None else int(memory.free),
            utilization_gpu_pct=None if utilization is None else int(utilization.gpu),
            utilization_memory_pct=None if utilization is None else int(utilization.memory),
            temperature_c=_int(
                read(
                    "temperature",
                    ("nvmlDeviceGetTemperatureV", (handle, _TEMPERATURE_GPU)),
                    ("nvmlDeviceGetTemperature", (handle, _TEMPERATURE_GPU)),
                )
            ),
            power_draw_w=_watts(read("power_draw", ("nvmlDeviceGetPowerUsage", (handle,)))),
            power_limit_w=_watts(
                read("power_limit", ("nvmlDeviceGetEnforcedPowerLimit", (handle,)))
            ),
            ecc_volatile_uncorrected=_int(
                read(
                    "ecc_volatile_uncorrected",
                    (
                        "nvmlDeviceGetTotalEccErrors",
                        (handle, _MEMORY_ERROR_UNCORRECTED, _VOLATILE_ECC),
                    ),
                )
            ),
            pcie_gen_current=_int(
                read("pcie_gen_current", ("nvmlDeviceGetCurrPcieLinkGeneration", (handle,)))
            ),
            pcie_gen_max=_int(
                read("pcie_gen_max", ("nvmlDeviceGetMaxPcieLinkGeneration", (handle,)))
            ),
            pcie_width_current=_int(
                read("pcie_width_current", ("nvmlDeviceGetCurrPcieLinkWidth", (handle,)))
            ),
            pcie_width_max=_int(
                read("pcie_width_max", ("nvmlDeviceGetMaxPcieLinkWidth", (handle,)))
            ),
            clock_event_reasons=None
            if reasons is None
            else decode_clock_event_reasons(int(reasons)),
            mig_mode_current=None if mig is None else int(mig[0]) == _MIG_ENABLED,
            mig_mode_pending=None if mig is None else int(mig[1]) == _MIG_ENABLED,
            field_errors=errors,
        )

    def sample(self, index: int) -> GpuSample | LostGpu:
        return self._read_gpu(index, self._sample)

    def _sample(self, index: int, handle: Any, errors: dict[str, str]) -> GpuSample:
        def read(name: str, *calls: tuple[str, tuple[Any, ...]]) -> Any:
            return self._first(errors, name, list(calls))

        memory = read("memory", ("nvmlDeviceGetMemoryInfo", (handle,)))
        utilization = read("utilization", ("nvmlDeviceGetUtilizationRates", (handle,)))
        reasons = read(
            "clock_event_reasons",
            ("nvmlDeviceGetCurrentClocksEventReasons", (handle,)),
            ("nvmlDeviceGetCurrentClocksThrottleReasons", (handle,)),
        )
        rx = read("pcie_rx", ("nvmlDeviceGetPcieThroughput", (handle, _PCIE_RX_BYTES)))
        tx = read("pcie_tx", ("nvmlDeviceGetPcieThroughput", (handle, _PCIE_TX_BYTES)))
        return GpuSample(
            index=index,
            name=_text(read("name", ("nvmlDeviceGetName", (handle,)))),
            utilization_gpu_pct=None if utilization is None else int(utilization.gpu),
            utilization_memory_pct=None if utilization is None else int(utilization.memory),
            memory_used_bytes=None if memory is None else int(memory.used),
            memory_total_bytes=None if memory is None else int(memory.total),
            pcie_rx_bytes_per_s=None if rx is None else int(rx) * _PCIE_UNIT_BYTES,
            pcie_tx_bytes_per_s=None if tx is None else int(tx) * _PCIE_UNIT_BYTES,
            clock_event_reasons=None
            if reasons is None
            else decode_clock_event_reasons(int(reasons)),
            temperature_c=_int(
                read(
                    "temperature",
                    ("nvmlDeviceGetTemperatureV", (handle, _TEMPERATURE_GPU)),
                    ("nvmlDeviceGetTemperature", (handle, _TEMPERATURE_GPU)),
                )
            ),
            power_draw_w=_watts(read("power_draw", ("nvmlDeviceGetPowerUsage", (handle,)))),
            field_errors=errors,
        )

    def _first(
        self, errors: dict[str, str], name: str, calls: list[tuple[str, tuple[Any, ...]]]
    ) -> Any:
        """The value of the first call the pynvml module and the driver both support.

        A function missing from an older pynvml, or one the driver reports as not found or
        not supported, moves on to the next call and finally gives ``None``.
        """
        for function_name, args in calls:
            function: Callable[..., Any] | None = getattr(self._nvml, function_name, None)
            if function is None:
                continue
            try:
                return function(*args)
            except self._nvml.NVMLError as exc:
                code = getattr(exc, "value", None)
                if code in _UNSUPPORTED_CODES:
                    continue
                if code in _UNUSABLE_CODES:
                    raise _GpuUnusable(_message(exc)) from exc
                errors[name] = _message(exc)
                return None
        return None
