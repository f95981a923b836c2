#!/usr/bin/python
# Copyright: envdoctor developers
# MIT License (see LICENSE in the envdoctor repository)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: envdoctor_apply
short_description: Make a host follow an envdoctor mirror profile
description:
  - Runs C(envdoctor apply --json) on the managed host, which points pip, uv, conda, Docker,
    sysctl and the other targets at the profile's mirrors, with a backup journal, atomic
    all-or-nothing writes and a rollback id.
  - In check mode it runs C(envdoctor apply --dry-run --json), which writes nothing.
  - With C(--diff), each file's content before and after is shown with credentials and
    conda tokens masked (C(***)); the raw content of a file never leaves the host.
  - The task reports C(changed) only when a file was (or, in check mode, would be)
    written, so a second run of the same profile reports no change.
version_added: "0.1.0"
author:
  - envdoctor developers (@envdoctor)
options:
  profile:
    description:
      - The profile to apply, shipped (C(global), C(cn-tsinghua)...) or the user's own; C(auto)
        measures the mirrors on the host and takes the fastest healthy one per target.
    type: str
    required: true
  only:
    description: Only these targets (C(pip), C(uv), C(conda), C(docker), C(sysctl), C(env)...).
    type: list
    elements: str
    default: []
  skip:
    description: Leave these targets alone.
    type: list
    elements: str
    default: []
  scope:
    description:
      - C(user) files in the home of the user the task runs as, or C(system) files under
        C(/etc). Default, as envdoctor decides, system for root, else user.
    type: str
    choices: [user, system]
  root:
    description: Apply to an image or chroot tree instead of the host itself.
    type: path
  now:
    description: Also set the sysctl values in the running kernel (not in check mode).
    type: bool
    default: false
  reload:
    description:
      - Make dockerd re-read its configuration (SIGHUP, never a restart; not in check mode).
    type: bool
    default: false
  executable:
    description: The envdoctor command on the managed host (a name in PATH or a path).
    type: path
    default: envdoctor
notes:
  - A malformed configuration file, a file whose owner cannot be kept or a failed write fails
    the task with envdoctor's message; nothing is written then.
attributes:
  check_mode:
    description: Runs a dry run, changing nothing.
    support: full
  diff_mode:
    description: Each file before and after, credentials masked.
    support: full
seealso:
  - module: envdoctor.envdoctor.envdoctor_rollback
"""

EXAMPLES = r"""
- name: Point pip, uv and conda at the Tsinghua mirrors
  envdoctor.envdoctor.envdoctor_apply:
    profile: cn-tsinghua
    only: [pip, uv, conda]
  register: applied

- name: Apply to an image tree, system files
  envdoctor.envdoctor.envdoctor_apply:
    profile: global
    scope: system
    root: /srv/images/worker
"""

RETURN = r"""
apply_id:
  description: The journal id of this apply, for envdoctor_rollback; null when nothing was written.
  returned: always
  type: str
  sample: 20250101T120000Z-1a2b3c
files:
  description: The files written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: ["/etc/pip.conf"]
status:
  description: C(applied), C(unchanged) or C(dry-run).
  returned: always
  type: str
  sample: applied
notes:
  description: What would still override the result, follow-ups, repairs of interrupted runs.
  returned: always
  type: list
  elements: str
document:
  description: The C(envdoctor apply --json) document (schema C(envdoctor/schema/apply-v1.json)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.envdoctor.envdoctor.plugins.module_utils.envdoctor import (
    COMMON_OPTIONS,
    names,
    run_json,
    scope_args,
)


def _diffs(document):
    """Ansible's diff: before and after per file, masked by envdoctor."""
    diffs = []
    for plan in document.get("plans", []):
        for change in plan.get("changes", []):
            before, after = change.get("before"), change.get("after")
            diffs.append(
                dict(
                    before_header=change["path"] if before is not None else "/dev/null",
                    after_header=change["path"] if after is not None else "/dev/null",
                    before=before or "",
                    after=after or "",
                )
            )
    return diffs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile=dict(type="str", required=True),
            only=dict(type="list", elements="str", default=[]),
            skip=dict(type="list", elements="str", default=[]),
            scope=dict(type="str", choices=["user", "system"]),
            root=dict(type="path"),
            now=dict(type="bool", default=False),
            reload=dict(type="bool", default=False),
            **COMMON_OPTIONS,
        ),
        supports_check_mode=True,
    )
    params = module.params
    argv = ["apply", "--profile", params["profile"], *scope_args(params)]
    for option in ("only", "skip"):
        if params[option]:
            argv += ["--" + option, names(params[option])]
    if module.check_mode:
        argv.append("--dry-run")
    else:
        argv.append("--yes")
        if params["now"]:
            argv.append("--now")
        if params["reload"]:
            argv.append("--reload")
    document, _rc = run_json(module, argv)
    outcome = document["result"]
    would_change = [
        change["path"] for plan in document["plans"] for change in plan.get("changes", [])
    ]
    if module.check_mode:
        changed, files = bool(document["changed"]), would_change
    else:
        changed, files = outcome["status"] == "applied", outcome["files"]
    plan_notes = [note for plan in document["plans"] for note in plan.get("notes", [])]
    result = dict(
        changed=changed,
        apply_id=outcome.get("id"),
        files=files,
        status=outcome["status"],
        notes=[*document.get("notes", []), *plan_notes],
        document=document,
    )
    if module._diff and would_change:
        result["diff"] = _diffs(document)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
