#!/usr/bin/python
# Copyright: envdoctor developers
# MIT License (see LICENSE in the envdoctor repository)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: envdoctor_check
short_description: Check whether a host is ready for AI work, as facts
description:
  - Runs C(envdoctor check --json) on the managed host (memory, CPU, disks, GPUs, mirrors,
    and the configuration pip, uv, conda, Docker and the Hugging Face hub really use) and
    returns its versioned document as the fact C(envdoctor_check).
  - The check only reads; the module never changes the host and runs in check mode too.
version_added: "0.1.0"
author:
  - envdoctor developers (@envdoctor)
options:
  only:
    description:
      - Run only these checks (C(cpu), C(memory), C(disk), C(gpu), C(network), C(kernel),
        C(config)).
    type: list
    elements: str
    default: []
  skip:
    description: Leave these checks out.
    type: list
    elements: str
    default: []
  require:
    description:
      - Thresholds that must be met, each C(KEY=VALUE), for example C(mem=16G), C(disk=50G),
        C(vram=24G), C(gpus=1), C(cpus=8).
    type: list
    elements: str
    default: []
  profile:
    description: Also measure this profile's mirrors and report where the configuration drifts.
    type: str
  strict:
    description: Warnings count as failures.
    type: bool
    default: false
  timeout:
    description: Seconds each check may take (default per check).
    type: float
  throughput:
    description:
      - Also time each healthy mirror's download, as C(envdoctor mirrors) does (1, then 4
        and 8 connections on the best mirror of each kind), within the network check's
        deadline. Off by default, as in C(envdoctor check), because it moves megabytes
        from every mirror.
    type: bool
    default: false
  fail_on:
    description:
      - When the task fails because of what the check found.
      - C(fail) when a check failed or could not finish; C(warn) on warnings too; C(never)
        only reports (the facts still say what failed).
      - A usage error (an unknown check name, a bad threshold) always fails the task.
    type: str
    choices: [fail, warn, never]
    default: fail
  executable:
    description: The envdoctor command on the managed host (a name in PATH or a path).
    type: path
    default: envdoctor
notes:
  - Needs envdoctor on the managed host; the C(envdoctor.envdoctor.install) role installs
    it into its own virtual environment.
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
"""

EXAMPLES = r"""
- name: Check memory, disks and configuration
  envdoctor.envdoctor.envdoctor_check:
    only: [memory, disk, config]
    require: ["mem=16G", "disk=50G"]
    fail_on: never

- name: Time the downloads from the mirrors too, before a deploy that pulls models
  envdoctor.envdoctor.envdoctor_check:
    only: [network]
    profile: cn-tsinghua
    throughput: true

- name: Apply a mirror profile only where the check found no failure
  envdoctor.envdoctor.envdoctor_apply:
    profile: cn-tsinghua
  when: ansible_facts.envdoctor_check.summary.status != 'fail'

- name: Keep each host's document for envdoctor report --merge
  ansible.builtin.copy:
    content: "{{ ansible_facts.envdoctor_check | to_json }}"
    dest: "reports/{{ inventory_hostname }}.json"
  delegate_to: localhost
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    envdoctor_check:
      description:
        - The C(envdoctor check --json) document (schema C(envdoctor/schema/check-v2.json)),
          with the machine facts, every result with its status, summary and remedy, and the
          summary.
      type: dict
      returned: always
status:
  description: The worst status, C(ok), C(warn), C(fail), C(skip) or C(error).
  returned: always
  type: str
  sample: warn
exit_code:
  description: envdoctor's exit code (0 ready, 1 a check failed, 3 a check could not finish).
  returned: always
  type: int
  sample: 0
failed_checks:
  description:
    - The results whose status is C(fail) or C(error) (C(warn) too with O(fail_on=warn)), with
      their remedies.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.envdoctor.envdoctor.plugins.module_utils.envdoctor import (
    COMMON_OPTIONS,
    names,
    run_json,
)

_BAD = {"fail": ("fail", "error"), "warn": ("warn", "fail", "error"), "never": ()}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            only=dict(type="list", elements="str", default=[]),
            skip=dict(type="list", elements="str", default=[]),
            require=dict(type="list", elements="str", default=[]),
            profile=dict(type="str"),
            strict=dict(type="bool", default=False),
            timeout=dict(type="float"),
            throughput=dict(type="bool", default=False),
            fail_on=dict(type="str", choices=["fail", "warn", "never"], default="fail"),
            **COMMON_OPTIONS,
        ),
        supports_check_mode=True,
    )
    params = module.params
    argv = ["check"]
    for option in ("only", "skip"):
        if params[option]:
            argv += ["--" + option, names(params[option])]
    for requirement in params["require"]:
        argv += ["--require", requirement]
    if params["profile"]:
        argv += ["--profile", params["profile"]]
    if params["strict"]:
        argv.append("--strict")
    if params["timeout"] is not None:
        argv += ["--timeout", str(params["timeout"])]
    if params["throughput"]:
        argv.append("--throughput")
    document, rc = run_json(module, argv, ok_codes=(0, 1, 3))
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        module.fail_json(
            msg="envdoctor printed JSON that is not a check document (exit code %d)" % rc,
            rc=rc,
        )
    summary = document.get("summary", {})
    bad = _BAD[params["fail_on"]]
    found = [result for result in document.get("results", []) if result.get("status") in bad]
    result = dict(
        changed=False,
        ansible_facts=dict(envdoctor_check=document),
        status=summary.get("status"),
        exit_code=rc,
        failed_checks=found,
    )
    if found:
        lines = ["%s: %s" % (item["name"], item["summary"]) for item in found]
        module.fail_json(msg="envdoctor check: " + "; ".join(lines), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
