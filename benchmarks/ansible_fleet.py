"""A fleet check through the Ansible collection: 20 hosts with forks=10 against one host.

    python benchmarks/ansible_fleet.py [--hosts 20] [--forks 10] [--runs 3]

Every host is a local connection with its own HOME, as in tests/test_ansible.py; each runs
the envdoctor_check module (memory, cpu and config checks) once.  The ratio of the fleet's
wall time to one host's should stay near hosts / forks x (forks / cores): with more forks
than cores the hosts share the CPUs, so on 2 cores 20 hosts take several times one host.
Printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PLAY = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: Check
      envdoctor.envdoctor.envdoctor_check:
        executable: "{{ envdoctor_exe }}"
        only: [memory, cpu, config]
        fail_on: never
      environment:
        HOME: "{{ check_home }}"
"""


def _fleet(base: Path, count: int) -> Path:
    hosts = {}
    for index in range(count):
        home = base / f"h{index}"
        home.mkdir()
        hosts[f"h{index}"] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "envdoctor_exe": str(BIN / "envdoctor"),
            "check_home": str(home),
        }
    inventory = base / f"inventory-{count}.json"
    inventory.write_text(json.dumps({"all": {"children": {"fleet": {"hosts": hosts}}}}))
    return inventory


def _wall(base: Path, inventory: Path, forks: int, runs: int) -> float:
    playbook = shutil.which("ansible-playbook", path=str(BIN))
    if playbook is None:
        sys.exit("ansible-playbook is not installed: pip install -e '.[test]'")
    (base / "play.yml").write_text(PLAY)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base),
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_COLLECTIONS_PATH": str(REPO),
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_LOCAL_TEMP": str(base / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(base / "remote"),
    }
    argv = [playbook, "-i", str(inventory), "-f", str(forks), str(base / "play.yml")]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            sys.exit(f"ansible-playbook failed:\n{done.stdout[-3000:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "one").mkdir()
        (base / "many").mkdir()
        one = _wall(base / "one", _fleet(base / "one", 1), 1, args.runs)
        many = _wall(base / "many", _fleet(base / "many", args.hosts), args.forks, args.runs)
    cores = len(os.sched_getaffinity(0))
    print(f"1 host                    {one:6.2f} s")
    print(f"{args.hosts} hosts, forks={args.forks:<3}      {many:6.2f} s")
    print(f"ratio                     {many / one:6.2f}x   ({cores} usable CPUs)")


if __name__ == "__main__":
    main()
