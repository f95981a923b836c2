#!/usr/bin/python
# Copyright: envdoctor developers
# MIT License (see LICENSE in the envdoctor repository)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: envdoctor_rollback
short_description: Undo an envdoctor apply, byte for byte
description:
  - Runs C(envdoctor rollback --json) on the managed host, which puts back every file of
    an apply as it was (content, mode and owner) and removes the files it created.
  - Without O(id), the latest apply that can be rolled back; when there is none, the task
    reports no change, so a second rollback run is a no-op.
  - In check mode it reads C(envdoctor history --json) and reports what would be rolled back.
version_added: "0.1.0"
author:
  - envdoctor developers (@envdoctor)
options:
  id:
    description:
      - The apply to undo (a unique prefix is enough), as envdoctor_apply returned it in
        C(apply_id). An id that names no apply fails the task.
    type: str
  scope:
    description: The journal of C(user) or C(system) scope; default as envdoctor decides.
    type: str
    choices: [user, system]
  root:
    description: The journal of an image or chroot tree instead of the host's.
    type: path
  force:
    description: Restore even files changed after the apply (their current content is lost).
    type: bool
    default: false
  executable:
    description: The envdoctor command on the managed host (a name in PATH or a path).
    type: path
    default: envdoctor
attributes:
  check_mode:
    description: Reads the history and says what would be rolled back.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
seealso:
  - module: envdoctor.envdoctor.envdoctor_apply
"""

EXAMPLES = r"""
- name: Undo the latest apply
  envdoctor.envdoctor.envdoctor_rollback:

- name: Undo one apply
  envdoctor.envdoctor.envdoctor_rollback:
    id: "{{ applied.apply_id }}"
  when: applied.apply_id
"""

RETURN = r"""
apply_id:
  description: The apply that was (or, in check mode, would be) rolled back; null when none.
  returned: always
  type: str
files:
  description: Every file put back (restored or removed).
  returned: always
  type: list
  elements: str
restored:
  description: Files put back to their content before the apply.
  returned: success and not check mode
  type: list
  elements: str
removed:
  description: Files the apply had created, now removed.
  returned: success and not check mode
  type: list
  elements: str
document:
  description:
    - The C(envdoctor rollback --json) document (schema C(envdoctor/schema/rollback-v1.json)).
  returned: when a rollback ran
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.envdoctor.envdoctor.plugins.module_utils.envdoctor import (
    COMMON_OPTIONS,
    run_json,
    scope_args,
)

# envdoctor.journal.ROLLBACKABLE: the statuses an apply can be rolled back from.
ROLLBACKABLE = (
    "applied",
    "applying",
    "rolling back",
    "failed, restore incomplete",
    "rollback incomplete",
)


def _pending(module, params):
    """The applies a rollback could undo, newest first, from ``history --json``."""
    records, _rc = run_json(module, ["history", *scope_args(params)])
    wanted = params["id"]
    return [
        record
        for record in records
        if record.get("status") in ROLLBACKABLE
        and (params["scope"] is None or record.get("scope") == params["scope"])
        and (wanted is None or str(record.get("id", "")).startswith(wanted))
    ]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            id=dict(type="str"),
            scope=dict(type="str", choices=["user", "system"]),
            root=dict(type="path"),
            force=dict(type="bool", default=False),
            **COMMON_OPTIONS,
        ),
        supports_check_mode=True,
    )
    params = module.params
    if module.check_mode or params["id"] is None:
        pending = _pending(module, params)
        if not pending and params["id"] is None:
            module.exit_json(changed=False, apply_id=None, files=[], msg="nothing to roll back")
        if module.check_mode:
            if not pending:
                module.fail_json(msg="no apply with id %r can be rolled back" % params["id"])
            first = pending[0]
            module.exit_json(changed=True, apply_id=first["id"], files=first.get("files", []))
    argv = ["rollback", *scope_args(params)]
    if params["force"]:
        argv.append("--force")
    if params["id"]:
        argv.append(params["id"])
    document, _rc = run_json(module, argv)
    module.exit_json(
        changed=bool(document["changed"]),
        apply_id=document["id"],
        files=document["files"],
        restored=document["restored"],
        removed=document["removed"],
        document=document,
    )


if __name__ == "__main__":
    main()
