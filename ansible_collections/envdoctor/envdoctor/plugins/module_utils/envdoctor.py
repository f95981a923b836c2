# Copyright: envdoctor developers
# MIT License (see LICENSE in the envdoctor repository)
"""Run the envdoctor installed on the managed host and read its JSON documents.

Every module calls envdoctor through its versioned JSON interface (``--json``); the
documents are described by the schemas shipped in envdoctor (``envdoctor/schema``).
"""

from __future__ import annotations

import json

COMMON_OPTIONS = {
    "executable": {"type": "path", "default": "envdoctor"},
}


def _error_text(stdout, stderr):
    """What envdoctor said went wrong: its JSON error object, else its stderr lines."""
    try:
        document = json.loads(stdout)
    except ValueError:
        document = None
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict):
            parts = [error.get("message"), error.get("hint")]
            return " ".join(str(part) for part in parts if part)
        if isinstance(error, str):
            return " ".join(str(p) for p in (error, document.get("hint")) if p)
        if document.get("message"):
            return " ".join(str(p) for p in (document["message"], document.get("hint")) if p)
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line.split("envdoctor: error: ", 1)[-1] for line in lines[-4:]]
    return " ".join(lines) or "envdoctor printed nothing"


def run_json(module, argv, ok_codes=(0,)):
    """Run ``envdoctor ARGV --json``; the parsed document and the exit code.

    Fails the task with envdoctor's own message when the command exits with a code not in
    ``ok_codes`` or prints no JSON document.
    """
    executable = module.get_bin_path(module.params["executable"], required=False)
    if executable is None:
        module.fail_json(
            msg="envdoctor is not installed on this host: %s not found"
            % module.params["executable"],
            hint="Install it with the envdoctor.envdoctor.install role, or set executable.",
        )
    command = [executable, *list(argv), "--json"]
    rc, stdout, stderr = module.run_command(command, environ_update={"NO_COLOR": "1"})
    if rc not in ok_codes:
        module.fail_json(msg=_error_text(stdout, stderr), rc=rc, cmd=command, stderr=stderr)
    try:
        document = json.loads(stdout)
    except ValueError:
        module.fail_json(
            msg="envdoctor printed no JSON document (exit code %d): %s"
            % (rc, _error_text(stdout, stderr)),
            rc=rc,
            cmd=command,
            stdout=stdout[-2000:],
            stderr=stderr[-2000:],
        )
    if not isinstance(document, (dict, list)):  # history's document is a list
        module.fail_json(
            msg="envdoctor printed JSON that is not a document (exit code %d)" % rc,
            rc=rc,
            cmd=command,
            stdout=stdout[-2000:],
        )
    if isinstance(document, dict) and "error" in document:  # error-v1: it could not run
        module.fail_json(msg=_error_text(stdout, stderr), rc=rc, cmd=command, stderr=stderr)
    return document, rc


def names(values):
    """A list option as envdoctor's comma list, or nothing."""
    return ",".join(str(value) for value in values) if values else None


def scope_args(params):
    argv = []
    if params.get("scope"):
        argv += ["--scope", params["scope"]]
    if params.get("root"):
        argv += ["--root", params["root"]]
    return argv
