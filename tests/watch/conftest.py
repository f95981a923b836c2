from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from envdoctor.context import Context
from envdoctor.watch.model import Sample
from envdoctor.watch.signals import Sampler
from tests.watch.psutil_fakes import FakeMachine


@pytest.fixture
def wctx(tmp_path: Path) -> Context:
    """A Context on tmp_path whose home and working directory exist (they are stat'ed)."""
    home = tmp_path / "home" / "user"
    work = tmp_path / "work"
    home.mkdir(parents=True)
    work.mkdir()
    return Context.for_root(tmp_path, home=home, cwd=work)


def fake_sysfs(root: Path, number: int, disk: str, partition: str | None = None) -> None:
    """``/sys/dev/block/M:m`` and ``/sys/class/block`` for device ``number`` under ``root``,
    laid out as the kernel does: a partition's directory sits inside its disk's."""
    disk_dir = root / "sys/devices/pci0000:00/0000:00:1d.0/block" / disk
    target = disk_dir / partition if partition else disk_dir
    target.mkdir(parents=True, exist_ok=True)
    if partition:
        (target / "partition").write_text("2\n")
    link = root / f"sys/dev/block/{os.major(number)}:{os.minor(number)}"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))
    block = root / "sys/class/block"
    block.mkdir(parents=True, exist_ok=True)
    for name, where in ((disk, disk_dir), (partition, target)):
        if name and not (block / name).exists():
            (block / name).symlink_to(os.path.relpath(where, block))


SampleRun = Callable[..., list[Sample]]


@pytest.fixture
def sample_run(wctx: Context) -> Iterator[SampleRun]:
    """``sample_run(machine, steps, pid=None)``: enter a Sampler on the fake machine and
    take one sample after each step (a dict of :meth:`FakeMachine.advance` arguments)."""

    def run(
        machine: FakeMachine,
        steps: list[dict[str, object]],
        *,
        pid: int | None = None,
        gpus: bool = False,
        ctx: Context | None = None,
    ) -> list[Sample]:
        samples = []
        with Sampler(
            ctx or wctx, pid=pid, psutil_module=machine, gpus=gpus, clock=machine.clock
        ) as sampler:
            for step in steps:
                machine.advance(**step)  # type: ignore[arg-type]
                samples.append(sampler.sample())
        return samples

    yield run
