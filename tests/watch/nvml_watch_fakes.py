"""The GPU probe's fake ``pynvml`` (``tests/probes/nvml_fakes.py``) plus PCIe throughput.

``nvmlDeviceGetPcieThroughput`` is the one NVML call only ``watch`` makes; this adds it to
the shared fakes, with the same rules: it is refused before ``nvmlInit``, it raises the
scenario's error classes, and it is absent from a scenario that lists it in ``missing``.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import pynvml as real_pynvml

from tests.probes.nvml_fakes import FakeGpu, NvmlScenario


@dataclass
class WatchGpu(FakeGpu):
    pcie_rx_kib: int = 0
    """Host to GPU, in NVML's KB/s (KiB/s)."""
    pcie_tx_kib: int = 0


@dataclass
class WatchScenario(NvmlScenario):
    def module(self) -> types.SimpleNamespace:
        namespace = super().module()
        name = "nvmlDeviceGetPcieThroughput"
        if name not in self.missing:

            def throughput(gpu: FakeGpu, counter: int) -> int:
                assert isinstance(gpu, WatchGpu), "use WatchGpu in watch scenarios"
                if counter == real_pynvml.NVML_PCIE_UTIL_RX_BYTES:
                    return gpu.pcie_rx_kib
                assert counter == real_pynvml.NVML_PCIE_UTIL_TX_BYTES
                return gpu.pcie_tx_kib

            setattr(namespace, name, self._device(name, throughput))
        return namespace
