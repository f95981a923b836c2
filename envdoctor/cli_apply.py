"""``apply``, ``rollback``, ``history`` and ``env``: the commands that change a machine.

Only click is imported at module level; the rest is imported when a command runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from envdoctor.errors import UsageError
from envdoctor.selection import select

if TYPE_CHECKING:
    from rich.console import Console

    from envdoctor.context import Context
    from envdoctor.planning import ApplyOptions, Scope
    from envdoctor.profiles import Profile
    from envdoctor.transaction import ApplyRecord

EXIT_USAGE = 2

_scope_option = click.option(
    "--scope",
    type=click.Choice(["user", "system"]),
    default=None,
    help="User files in your home, or system files under /etc (needs root). "
    "Default: system when run as root, else user.",
)


def _root(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--root",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        default=None,
        help=help_text,
    )


_root_option = _root("Apply to an image or chroot tree instead of this machine.")
_journal_root_option = _root("Use the journal of an image or chroot tree, not this machine's.")


def _context(root: Path | None, scope: str | None) -> tuple[Context, ApplyOptions]:
    """The Context and options for changing files, honouring sudo and --root.

    Under sudo, user-scope files belong in the invoking user's home and stay theirs, and
    root's own XDG variables must not redirect them.
    """
    import pwd
    from dataclasses import replace

    from envdoctor.context import Context
    from envdoctor.planning import ApplyOptions

    ctx = Context.from_environ(root=root)
    is_root = os.geteuid() == 0
    chosen: Scope = "system" if (scope or ("system" if is_root else "user")) == "system" else "user"
    if chosen == "system" and not is_root and ctx.root == Path("/"):
        raise UsageError(
            "--scope system changes files under /etc and needs root",
            "Run it with sudo, or use --scope user for your own files.",
        )
    owner = None
    sudo_user = ctx.env.get("SUDO_USER")
    if chosen == "user" and is_root and sudo_user and ctx.root == Path("/"):
        try:
            entry = pwd.getpwnam(sudo_user)
        except KeyError:
            raise UsageError(f"SUDO_USER names an unknown user: {sudo_user!r}") from None
        env = {k: v for k, v in ctx.env.items() if not k.startswith("XDG_")}
        env["HOME"] = entry.pw_dir
        ctx = replace(ctx, home=Path(entry.pw_dir), env=env)
        owner = (entry.pw_uid, entry.pw_gid)
    return ctx, ApplyOptions(scope=chosen, owner=owner)


def _select_targets(only: tuple[str, ...], skip: tuple[str, ...]) -> list[str]:
    from envdoctor.planning import TARGET_NAMES

    return select(only, skip, TARGET_NAMES, "target")


@click.command()
@click.option(
    "--profile",
    "profile_name",
    required=True,
    metavar="NAME",
    help="Profile to apply; 'auto' measures every mirror and takes the fastest healthy one "
    "per target.",
)
@click.option(
    "--save",
    metavar="NAME",
    default=None,
    help="With --profile auto: keep the choice as a user profile.",
)
@click.option("--only", multiple=True, metavar="TARGETS", help="Only these targets (comma list).")
@click.option("--skip", multiple=True, metavar="TARGETS", help="Leave these targets alone.")
@_scope_option
@_root_option
@click.option("--dry-run", is_flag=True, help="Show the plan and the diffs; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Apply without asking.")
@click.option("--now", is_flag=True, help="Also set the sysctl values in the running kernel.")
@click.option(
    "--reload",
    "reload_docker",
    is_flag=True,
    help="Reload dockerd (SIGHUP), never restart it; say whether containerd needs a restart.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a versioned JSON document (needs --yes or --dry-run); schema "
    "envdoctor/schema/apply-v1.json.",
)
def apply(
    profile_name: str,
    save: str | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    scope: str | None,
    root: Path | None,
    dry_run: bool,
    yes: bool,
    now: bool,
    reload_docker: bool,
    as_json: bool,
) -> None:
    """Make this machine follow a profile: plan, show the diffs, back up, write.

    \b
    Every file is checked before the first write; writes are atomic and all or
    nothing, and `envdoctor rollback` undoes the whole apply.
    Exit codes: 0 applied or nothing to do; 2 usage error, a malformed file, no
    terminal to ask on and no --yes, the output closed before the plan was shown, a
    file whose owner cannot be kept, or a failed write (the message says what is on
    disk: every file restored, or what is not).
    """
    from envdoctor import transaction
    from envdoctor.apply_json import ApplyDocument, apply_json
    from envdoctor.planning import plan
    from envdoctor.profiles import get_profile
    from envdoctor.render import make_console, render_plans

    if as_json and not (yes or dry_run):
        raise UsageError(
            "apply --json cannot ask before writing",
            "Add --dry-run to see the plan, or --yes to apply it.",
        )
    ctx, options = _context(root, scope)
    console = make_console(ctx.env, stderr=as_json)  # with --json, stdout is the document
    journal = transaction.journal_dir(ctx, options.scope)
    doc = ApplyDocument(profile_name, options.scope, str(ctx.root) if ctx.image else None, dry_run)
    if not dry_run:  # repair what a killed run left first, so the plan reads the real files
        for line in transaction.recover(ctx, journal, owner=options.owner):
            doc.notes.append(line)
            click.echo(f"envdoctor: {line}", err=True)
    reasons: dict[str, str] = {}
    selected = _select_targets(only, skip)  # refused before any measuring
    if profile_name == "auto":
        if save is not None:  # refused before the measuring, not after it
            from envdoctor.auto import check_save_name

            check_save_name(save)
        profile, reasons = _auto(ctx, console, save, selected, quiet=as_json)
        doc.auto = dict(reasons)
    elif save is not None:
        raise UsageError("--save stores an automatic choice", "Use it with --profile auto.")
    else:
        profile = get_profile(ctx, profile_name)
    plans = [plan(ctx, name, profile, options) for name in selected]
    if reasons:  # say why auto leaves a target alone, not that "the profile does not set" it
        plans = [
            dataclasses.replace(each, skipped=f"auto: {reasons[each.target]}")
            if each.skipped and each.target in reasons
            else each
            for each in plans
        ]
    changes = [change for plan in plans for change in plan.changes if change.changed]
    doc.profile, doc.plans = profile.name, plans
    doc.refused = [
        *transaction.same_file_problems(ctx, changes),
        *transaction.ownership_problems(ctx, changes),
    ]
    if not as_json:
        try:
            console.print(
                _scope_line(options.scope, explicit=scope is not None),
                markup=False,
                soft_wrap=True,
            )
            render_plans(plans, console, [transaction.unified_diff(change) for change in changes])
            for problem in doc.refused:
                console.print(f"{problem}: apply refuses to write it", markup=False, soft_wrap=True)
            console.file.flush()
        except BrokenPipeError:  # `apply --yes | head`: the plan was not seen, so not applied
            _output_closed("before the whole plan was shown: nothing was changed")
            sys.exit(EXIT_USAGE)
    if not changes or dry_run:
        if as_json:
            click.echo(apply_json(doc, None, None))
        elif not changes:
            console.print(f"Nothing to change: this machine already follows {profile.name}.")
        else:
            console.print(f"Dry run: {_files(changes)} would change; nothing was written.")
        sys.exit(0)
    files = _files(changes)
    transaction.check_same_files(ctx, changes)  # refuse before asking
    transaction.check_owners(ctx, changes)
    if not yes:
        if not _can_ask():
            click.echo(
                f"envdoctor: {files} would change, but there is no terminal to ask on: "
                "nothing was changed. Re-run with --yes to apply.",
                err=True,
            )
            sys.exit(EXIT_USAGE)
        question = f"Apply {profile.name} to {files} ({options.scope} scope)?"
        if not click.confirm(question, default=False):
            click.echo("Nothing was changed.", err=True)
            sys.exit(0)
    record = transaction.apply_changes(
        ctx,
        changes,
        journal=journal,
        description=f"apply --profile {profile.name}",
        profile=profile.name,
        owner=options.owner,
    )
    for note in record.notes:
        click.echo(f"envdoctor: {note}", err=True)
    where = f" --root {shlex.quote(str(root))}" if root is not None else ""
    undo = f"envdoctor rollback --scope {options.scope}{where} {record.id}"
    if as_json:
        lines = _after_apply(ctx, profile, options.scope, now=now, reload_docker=reload_docker)
        doc.notes.extend(line for line, _ in lines)
        click.echo(apply_json(doc, record, undo))
        return
    closed = False
    said = itertools.chain(
        [(f"Applied {profile.name}: {files} changed. Undo: {undo}", False)],
        _after_apply(ctx, profile, options.scope, now=now, reload_docker=reload_docker),
    )
    for line, to_stderr in said:
        try:
            click.echo(line, err=to_stderr or closed)
        except BrokenPipeError:  # applied all the same: the rest goes where it is read
            _output_closed("after the apply")
            closed = True
            click.echo(line, err=True)


def _output_closed(what: str) -> None:
    """The reader of standard output went away (``| head``): say ``what`` on stderr."""
    from envdoctor.cli import silence_stdout

    silence_stdout()
    click.echo(f"envdoctor: the output was closed {what}", err=True)


def _files(changes: Sequence[object]) -> str:
    return f"{len(changes)} file{'s' if len(changes) > 1 else ''}"


def _can_ask() -> bool:
    """Whether there is a terminal to ask the one question on."""
    return sys.stdin.isatty()


def _scope_line(scope: Scope, *, explicit: bool) -> str:
    """Which files a plan is for, and why: root's default scope is system."""
    if scope == "system":
        why = "--scope system" if explicit else "the default as root; --scope user for your home"
        return f"Scope: system (files under /etc; {why})"
    why = "--scope user" if explicit else "the default; --scope system for /etc, as root"
    return f"Scope: user (files in your home; {why})"


def _other_scope(scope: Scope) -> Scope:
    return "user" if scope == "system" else "system"


def _auto(
    ctx: Context,
    console: Console,
    save: str | None,
    selected: Sequence[str],
    *,
    quiet: bool = False,
) -> tuple[Profile, dict[str, str]]:
    """Measure the mirrors of the ``selected`` apply targets only, choose, explain each
    choice, and optionally save the mix (of those targets: what is applied).

    ``quiet`` (``--json``): the reasons go into the document, the rest to stderr."""
    from contextlib import nullcontext

    from envdoctor.auto import auto_profile, save_profile, to_apply
    from envdoctor.mirrors import TARGETS
    from envdoctor.render import status

    # the env target writes the hub variables: the hf and modelscope mirrors are its
    wanted = {*selected, *(("hf", "modelscope") if "env" in selected else ())}
    targets = [target for target in TARGETS if target in wanted]
    waiting = nullcontext() if not console.is_terminal else status(console, "Measuring mirrors...")
    with waiting:
        profile, choice = auto_profile(ctx, targets=targets)
    for item in choice.targets if not quiet else ():
        click.echo(f"auto {item.target}: {item.reason}")
    if save is not None:
        path = save_profile(ctx, profile, save, choice=choice)
        click.echo(f"Saved the choice as profile {save!r}: {path}", err=quiet)
    reasons = {item.target: item.reason for item in choice.targets}
    for item in choice.chosen:
        if item.winner is not None and item.winner.candidate.configured:
            reasons[item.target] = f"kept as configured, nothing to change ({item.reason})"
    return to_apply(profile, choice), reasons


def _after_apply(
    ctx: Context, profile: Profile, scope: Scope, *, now: bool, reload_docker: bool
) -> list[tuple[str, bool]]:
    """The live changes asked for with --now and --reload, once the files are safe: a line
    for each, and whether it is an error (stderr).

    The files are written by then, so a failure here is reported, not fatal.
    """
    from envdoctor.errors import EnvdoctorError
    from envdoctor.tools import docker, sysctl

    lines: list[tuple[str, bool]] = []
    if now:
        if profile.sysctl is None:
            lines.append((f"--now: {profile.name} sets no sysctl values.", False))
        else:
            lines.extend((line, False) for line in sysctl.apply_now(ctx, profile.sysctl.values))
    if reload_docker:
        try:
            lines.append((docker.reload(ctx, scope), False))
        except EnvdoctorError as error:
            lines.append((f"--reload: {error}", True))
        if profile.containerd is not None and scope == "system":
            from envdoctor.tools import containerd

            lines.append((f"--reload: {containerd.reload(ctx)}", False))
    return lines


@click.command()
@click.argument("apply_id", required=False)
@_scope_option
@_journal_root_option
@click.option(
    "--force",
    is_flag=True,
    help="Restore even files changed after the apply; each edited version is kept beside it.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a versioned JSON document; schema envdoctor/schema/rollback-v1.json.",
)
def rollback(
    apply_id: str | None, scope: str | None, root: Path | None, force: bool, as_json: bool
) -> None:
    """Undo an apply (the latest by default): files back byte for byte, mode and owner."""
    from envdoctor import transaction

    ctx, options = _context(root, scope)
    journal = transaction.journal_dir(ctx, options.scope)
    if scope is None and not _rollbackable(transaction.history(journal), apply_id):
        other = _other_scope(options.scope)
        found = _rollbackable(transaction.history(transaction.journal_dir(ctx, other)), apply_id)
        if found:
            where = f" --root {shlex.quote(str(root))}" if root is not None else ""
            raise UsageError(
                f"nothing to roll back in {options.scope} scope, but the {other} scope has "
                f"{found[0].id} ({found[0].profile})",
                f"Run: envdoctor rollback --scope {other}{where} {found[0].id}",
            )
    record = transaction.rollback(ctx, journal, apply_id, force=force)
    for note in record.notes:
        click.echo(f"envdoctor: {note}", err=True)
    if as_json:
        from envdoctor.apply_json import rollback_json

        root_text = str(ctx.root) if ctx.image else None
        click.echo(rollback_json(record, scope=options.scope, root=root_text))
        return
    click.echo(f"Rolled back {record.id}: {len(record.files)} file(s) restored.")
    for path in record.files:
        click.echo(f"  {path}")


def _rollbackable(records: Sequence[ApplyRecord], apply_id: str | None) -> list[ApplyRecord]:
    from envdoctor.journal import ROLLBACKABLE

    return [
        record
        for record in records
        if record.status in ROLLBACKABLE and (apply_id is None or record.id.startswith(apply_id))
    ]


@click.command()
@_scope_option
@_journal_root_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(scope: str | None, root: Path | None, as_json: bool) -> None:
    """List applies, newest first, with their ids for rollback."""
    import json

    from envdoctor import transaction

    ctx, options = _context(root, scope)
    scopes = [options.scope] if scope is not None else [options.scope, _other_scope(options.scope)]
    found = [
        (each, record)
        for each in scopes
        for record in transaction.history(transaction.journal_dir(ctx, each))
    ]
    if as_json:
        click.echo(json.dumps([{**rec.to_json(), "scope": each} for each, rec in found], indent=2))
        return
    if not found:
        where = " or ".join(str(transaction.journal_dir(ctx, each)) for each in scopes)
        click.echo(f"No applies recorded yet (looked in {where}).")
        return
    width = max(len(record.status) for _, record in found)
    for each, record in found:
        click.echo(
            f"{record.id}  {each:<6}  {record.status:<{width}}  {record.profile:<18} "
            f"{len(record.files)} file(s)"
        )
        for path in record.files:
            click.echo(f"    {path}")


@click.command("env")
@click.option(
    "--profile",
    "profile_name",
    metavar="NAME",
    default=None,
    help="Print this profile's variables (default: the last profile applied).",
)
@click.option(
    "--shell", type=click.Choice(["sh", "fish", "dockerfile"]), default="sh", show_default=True
)
@_scope_option
@_journal_root_option
def env_command(profile_name: str | None, shell: str, scope: str | None, root: Path | None) -> None:
    """Print the environment variables for eval, CI jobs and Dockerfiles.

    \b
    eval "$(envdoctor env --profile cn-tsinghua)"
    envdoctor env --profile cn-tsinghua --shell dockerfile >> Dockerfile
    """
    from envdoctor import shellenv as env
    from envdoctor import transaction
    from envdoctor.profiles import get_profile

    ctx, options = _context(root, scope)
    if profile_name is None:
        applied = [
            r
            for r in transaction.history(transaction.journal_dir(ctx, options.scope))
            if r.status == "applied"
        ]
        if not applied:
            raise UsageError(
                "no profile has been applied here yet",
                "Name one: envdoctor env --profile NAME.",
            )
        profile_name = applied[0].profile
    exports = env.command_exports(ctx, get_profile(ctx, profile_name))
    render = {"sh": env.render_sh, "fish": env.render_fish, "dockerfile": env.render_dockerfile}
    click.echo(render[shell](exports), nl=False)
