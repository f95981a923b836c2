"""``envdoctor profiles``: list the mirror profiles and show one, resolved.

Only click is imported here at start-up; the profile code, tomlkit and rich load inside
the commands.  Registered on the main group with ``cli.add_command(profiles)``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

    from envdoctor.context import Context
    from envdoctor.profiles import ProfileScan

EXIT_USAGE = 2


@click.group(invoke_without_command=True, short_help="List and show mirror profiles.")
@click.pass_context
def profiles(click_ctx: click.Context) -> None:
    """Mirror profiles: which pip, uv, conda, Docker, Hugging Face and ModelScope
    endpoints (and network sysctls) a machine should use.

    \b
    envdoctor profiles               list them, shipped and your own (list --json)
    envdoctor profiles show NAME     one profile, resolved, as TOML (--json for machines)

    Your own profiles go in $XDG_CONFIG_HOME/envdoctor/profiles/NAME.toml (default
    ~/.config/envdoctor/profiles); one named like a shipped profile replaces it.
    Listing exits 2 when a profile file is invalid.
    """
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(list_profiles)


@profiles.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_profiles(as_json: bool = False) -> None:
    """List every profile, where it comes from and what it covers."""
    import json

    from envdoctor.profiles import scan_profiles

    scan = scan_profiles(_context())
    if as_json:
        click.echo(json.dumps(_scan_to_dict(scan), indent=2, ensure_ascii=False))
    else:
        _render_list(scan, _console())
    if scan.errors:
        sys.exit(EXIT_USAGE)


@profiles.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved profile as JSON.")
def show_profile(name: str, as_json: bool) -> None:
    """Show profile NAME with everything it extends merged in."""
    import json

    from envdoctor.profiles import get_profile, profile_to_dict, profile_to_toml

    profile = get_profile(_context(), name)
    if as_json:
        click.echo(json.dumps(profile_to_dict(profile), indent=2, ensure_ascii=False))
    else:
        click.echo(profile_to_toml(profile), nl=False)


def _context() -> Context:
    from envdoctor.context import Context

    return Context.from_environ()


def _console() -> Console:
    from envdoctor.render import make_console

    return make_console(os.environ)


def _scan_to_dict(scan: ProfileScan) -> dict[str, Any]:
    return {
        "user_dir": str(scan.user_dir),
        "profiles": [
            {
                "name": p.name,
                "description": p.description,
                "origin": p.origin,
                "source": str(p.source),
                "overrides_shipped": p.name in scan.shadowed,
                "extends": p.extends,
                "opt_in": p.opt_in,
                "abstract": p.abstract,
                "targets": list(p.targets),
            }
            for p in scan.profiles.values()
        ],
        "errors": [
            {
                "profile": e.profile,
                "file": None if e.path is None else str(e.path),
                "line": e.line,
                "key": e.key,
                "message": e.message,
                "hint": e.hint,
            }
            for e in scan.errors
        ],
    }


def _render_plain_list(scan: ProfileScan, console: Console) -> None:
    """One unwrapped line per profile for pipes and logs: aligned, no trailing spaces."""
    rows = [("profile", "origin", "targets", "description")]
    for profile in scan.profiles.values():
        name = profile.name + (" (opt-in)" if profile.opt_in else "")
        name += " (base)" if profile.abstract else ""
        origin = profile.origin + (", replaces shipped" if profile.name in scan.shadowed else "")
        rows.append((name, origin, " ".join(profile.targets), profile.description))
    for error in scan.errors:
        from_user = error.path is not None and error.path.is_relative_to(scan.user_dir)
        rows.append((error.profile or "?", "user" if from_user else "shipped", "-", "invalid"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    lines.append(
        f"Own profiles: {scan.user_dir}/NAME.toml; `envdoctor profiles show NAME` for one."
    )
    for error in scan.errors:
        lines.append(f"error: {error.message}")
        if error.hint:
            lines.append(f"  {error.hint}")
    text = "\n".join(line.rstrip() for line in lines)
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _render_list(scan: ProfileScan, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    if not console.is_terminal:
        _render_plain_list(scan, console)
        return
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("profile", no_wrap=True)
    table.add_column("origin", no_wrap=True)
    table.add_column("targets")
    table.add_column("description")
    for profile in scan.profiles.values():
        name = Text(profile.name)
        if profile.opt_in:
            name.append(" (opt-in)", style="yellow")
        if profile.abstract:
            name.append(" (base)", style="dim")
        origin: str = profile.origin
        if profile.name in scan.shadowed:
            origin += ", replaces shipped"
        style = "dim" if profile.abstract else ""
        targets = Text(" ".join(profile.targets), style=style)
        table.add_row(name, Text(origin), targets, Text(profile.description))
    for error in scan.errors:
        from_user = error.path is not None and error.path.is_relative_to(scan.user_dir)
        table.add_row(
            Text(error.profile or "?", style="red"),
            Text("user" if from_user else "shipped"),
            Text("-"),
            Text("invalid, see below", style="red"),
        )
    console.print(table)
    console.print(
        Text(f"Own profiles: {scan.user_dir}/NAME.toml; `envdoctor profiles show NAME` for one.")
    )
    for error in scan.errors:  # whole lines, so a file:line stays one piece
        console.print(Text(f"error: {error.message}", style="red"), soft_wrap=True)
        if error.hint:
            console.print(Text(f"  {error.hint}"), soft_wrap=True)
