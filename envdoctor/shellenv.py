"""The env target: HF_ENDPOINT, HF_* extras and MODELSCOPE_DOMAIN for every new shell.

User scope writes two files envdoctor owns whole, ``$XDG_CONFIG_HOME/envdoctor/env.sh``
(POSIX sh) and ``env.fish``, and sources ``env.sh`` from one marked block in the shell
start-up files the user already has, the way ``conda init`` keeps its block: the block is
replaced in place, never repeated, and every other byte of the file stays as it was.
Which files get the block:

* each of ``~/.bashrc``, ``~/.bash_profile``, ``~/.bash_login``, ``~/.profile`` and
  ``~/.zshenv`` that exists (a login bash reads the first of the three profile files and
  only that one, so each gets the block; sourcing twice is harmless);
* ``~/.zshenv`` is created when ``~/.zshrc`` exists without it: zsh reads ``.zshenv`` in
  every shell, and a zsh user would otherwise get nothing;
* ``~/.profile`` is created when none of these exist: login shells and most display
  managers read it.

fish reads ``$XDG_CONFIG_HOME/fish/conf.d/*.fish``: when that fish directory exists, a
small ``conf.d/envdoctor.fish`` sources ``env.fish``.  System scope writes only
``/etc/profile.d/envdoctor.sh``, read by login shells through ``/etc/profile``.

Services (systemd units, cron) read none of these; ``envdoctor env`` prints the same
variables for ``eval``, CI jobs (sh or fish) and Dockerfiles (``ENV`` lines).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from envdoctor.configfiles import read_existing
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.planning import ApplyOptions
from envdoctor.profiles import Profile
from envdoctor.redact import mask_url
from envdoctor.results import FileChange, TargetPlan
from envdoctor.safewrite import resolve_target

NAME = "env"

SYSTEM_FILE = "/etc/profile.d/envdoctor.sh"
BLOCK_BEGIN = "# >>> envdoctor >>>"
BLOCK_NOTICE = "# !! Contents within this block are managed by envdoctor !!"
BLOCK_END = "# <<< envdoctor <<<"
RC_FILES = (".bashrc", ".bash_profile", ".bash_login", ".profile", ".zshenv")
"""Start-up files that get the block when they exist, in the order they are planned (zsh's
``.zshenv`` is :func:`zsh_env_file`'s, and also when a ``.zshrc`` exists)."""

Exports = Sequence[tuple[str, str]]

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SAFE_PATH_RE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+\Z")
_BOM = b"\xef\xbb\xbf"


def exports(profile: Profile) -> list[tuple[str, str]]:
    """The variables ``profile`` sets, in a stable order: each tool's
    :meth:`~envdoctor.tools.Tool.env_variables`, in registry order (HF, then ModelScope).

    Raises :class:`EnvdoctorError` for a name or value no shell file can hold (profiles
    already refuse these; a file envdoctor owns whole must not be broken by one).
    """
    from envdoctor.tools import all_tools

    pairs = [pair for tool in all_tools() for pair in tool.env_variables(profile)]
    _check(pairs)
    return pairs


def command_exports(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """What ``envdoctor env`` prints: every tool's
    :meth:`~envdoctor.tools.Tool.command_variables` (the index variables of pip, uv and
    conda, then HF and ModelScope), checked like :func:`exports`."""
    from envdoctor.tools import all_tools

    pairs = [pair for tool in all_tools() for pair in tool.command_variables(ctx, profile)]
    _check(pairs)
    return pairs


def render_sh(pairs: Exports) -> str:
    """POSIX sh ``export NAME=value`` lines, every value quoted with :func:`shlex.quote`."""
    _check(pairs)
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in pairs)


def render_fish(pairs: Exports) -> str:
    """fish ``set -gx NAME 'value'`` lines."""
    _check(pairs)
    return "".join(f"set -gx {name} {fish_quote(value)}\n" for name, value in pairs)


def render_dockerfile(pairs: Exports) -> str:
    """Dockerfile ``ENV NAME="value"`` lines (default escape character ``\\``)."""
    _check(pairs)
    return "".join(f"ENV {name}={dockerfile_quote(value)}\n" for name, value in pairs)


def fish_quote(value: str) -> str:
    """A fish single-quoted string: inside, only ``\\\\`` and ``\\'`` are escapes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def dockerfile_quote(value: str) -> str:
    """A Dockerfile double-quoted word: ``"``, ``$`` and ``\\`` escaped, nothing expanded.

    BuildKit's lexer (``frontend/dockerfile/shell/lex.go``, ``processDoubleQuote``) lets a
    backslash escape exactly these three and keeps every other backslash as it is.
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def env_dir(ctx: Context) -> Path:
    """Where the user-scope files live: ``$XDG_CONFIG_HOME/envdoctor``."""
    return ctx.xdg_config_home / "envdoctor"


def with_block(content: bytes | None, block: Sequence[str], display: str) -> bytes:
    """``content`` with the envdoctor block replaced in place, or appended when absent.

    Everything outside the block is kept byte for byte (a BOM, CRLF line endings, a last
    line without a newline); the block takes the line ending of the file; a second copy of
    the block (pasted by hand) is removed.  A begin marker without an end marker, or the
    other way round, raises :class:`EnvdoctorError` naming the file and the line.
    """
    if content is None:
        return ("\n".join(block) + "\n").encode()
    bom = _BOM if content.startswith(_BOM) else b""
    lines = _lines(content[len(bom) :])
    spans = _blocks(lines, display)
    if not spans:
        body = b"".join(lines)
        newline = b"\r\n" if b"\r\n" in body else b"\n"
        if body and not body.endswith(b"\n"):
            body += newline
        if body.strip():
            body += newline  # one blank line between the user's lines and ours
        return bom + body + newline.join(line.encode() for line in block) + newline
    (first_begin, first_end), *extra = spans
    ending = _ending(lines[first_begin]) or b"\n"
    last = _ending(lines[first_end])  # b"" when the block ends the file without a newline
    replacement = ending.join(line.encode() for line in block) + last
    drop = {i for begin, end in extra for i in range(begin, end + 1)}
    out = [*lines[:first_begin], replacement]
    rest = enumerate(lines[first_end + 1 :], first_end + 1)
    out.extend(line for i, line in rest if i not in drop)
    return bom + b"".join(out)


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    """``env.sh``/``env.fish`` and the rc blocks (user), or ``/etc/profile.d`` (system)."""
    pairs = exports(profile)
    if not pairs:
        return TargetPlan(NAME, skipped="the profile sets no variables (no [hf] or [modelscope])")
    if options.scope == "system":
        system_file = ctx.path(SYSTEM_FILE)
        change = _owned(ctx, system_file, ctx.display(system_file), _sh_file(profile, pairs), None)
        notes = [*_notes_current(ctx, pairs)]
        if change.changed:
            notes.append(f"login shells started from now on read {SYSTEM_FILE}")
        return TargetPlan(NAME, changes=(change,), notes=tuple(notes))
    return _plan_user(ctx, profile, pairs, options)


# --- user scope --------------------------------------------------------------------------


def _plan_user(ctx: Context, profile: Profile, pairs: Exports, options: ApplyOptions) -> TargetPlan:
    directory = env_dir(ctx)
    sh_file, fish_file = directory / "env.sh", directory / "env.fish"
    changes = [
        _owned(ctx, sh_file, ctx.display(sh_file), _sh_file(profile, pairs), options.owner),
        _owned(ctx, fish_file, ctx.display(fish_file), _fish_file(profile, pairs), options.owner),
    ]
    fish_dir = ctx.xdg_config_home / "fish"
    if fish_dir.is_dir():
        loader = fish_dir / "conf.d" / "envdoctor.fish"
        changes.append(
            _owned(ctx, loader, ctx.display(loader), _fish_loader(ctx, fish_file), options.owner)
        )
    block = _sh_block(ctx, sh_file)
    notes: list[str] = []
    zdotdir = ctx.env.get("ZDOTDIR", "")
    uses_zsh = ctx.on_path("zsh") or (ctx.home / ".zshrc").is_file()
    if zdotdir and not zdotdir.startswith("/") and not ctx.image and uses_zsh:
        notes.append(
            f"zsh reads {zdotdir}/.zshenv from the directory it starts in while ZDOTDIR="
            f"{zdotdir} is relative, not ~/.zshenv: set ZDOTDIR to an absolute path for "
            "zsh to get these variables"
        )
    relative = ctx.env.get("XDG_CONFIG_HOME", "")
    if fish_dir.is_dir() and relative and not relative.startswith("/"):
        notes.append(
            f"fish reads its conf.d from {relative}/fish in the directory it starts in "
            f"while XDG_CONFIG_HOME={relative} is relative, not {ctx.display(fish_dir)}: "
            "set XDG_CONFIG_HOME to an absolute path (or unset it) for fish to load "
            "envdoctor.fish"
        )
    for rc in _rc_files(ctx):
        old = read_existing(rc, ctx.display(rc), "env", root=ctx.root)
        new = with_block(old, block, ctx.display(rc))
        changes.append(FileChange(NAME, rc, ctx.display(rc), old, new, 0o644, options.owner))
        notes.extend(_notes_after_block(new, pairs, ctx.display(rc)))
    notes.extend(_notes_current(ctx, pairs))
    if any(change.changed for change in changes):
        here = shlex.quote(ctx.system_path(sh_file))
        notes.append(f"new shells get these variables; in this one run: . {here}")
        notes.append(
            "services (systemd units, cron, notebook servers) read no shell files: "
            "give them the output of `envdoctor env`"
        )
    return TargetPlan(NAME, changes=tuple(changes), notes=tuple(notes))


def _rc_files(ctx: Context) -> list[Path]:
    """The start-up files that get the block, one per real file: ``~/.bash_profile``
    linked to ``~/.bashrc`` (a common set-up) is one file, and gets one block, under the
    name that is not a link."""
    existing = [ctx.home / name for name in RC_FILES[:-1] if (ctx.home / name).is_file()]
    zshenv = zsh_env_file(ctx)
    if any(path.is_file() for path in (zshenv, zshenv.parent / ".zshrc", ctx.home / ".zshrc")):
        existing.append(zshenv)
    by_target: dict[Path, Path] = {}
    for rc in existing:
        target = resolve_target(rc, ctx.root)
        kept = by_target.get(target)
        if kept is None or (kept.is_symlink() and not rc.is_symlink()):
            by_target[target] = rc
    unique = [rc for rc in existing if rc in by_target.values()]
    return unique or [ctx.home / ".profile"]


def zsh_env_file(ctx: Context) -> Path:
    """The ``.zshenv`` a new zsh reads: ``$ZDOTDIR/.zshenv`` when ``ZDOTDIR`` comes with
    the environment zsh starts in (``/etc/zshenv``, pam, ``environment.d``), else
    ``~/.zshenv``.  A ``ZDOTDIR`` that ``~/.zshenv`` itself sets, the common way, comes
    too late for ``.zshenv``: zsh has read ``~/.zshenv`` by then (zsh 5.9)."""
    home_file = ctx.home / ".zshenv"
    zdotdir = ctx.env.get("ZDOTDIR", "")
    if ctx.image or not zdotdir.startswith("/") or Path(zdotdir) == ctx.home:
        return home_file  # an image's zsh does not start with this shell's ZDOTDIR
    try:
        sets_it = home_file.is_file() and b"ZDOTDIR" in home_file.read_bytes()
    except OSError:
        sets_it = False
    return home_file if sets_it else Path(zdotdir) / ".zshenv"


def _sh_block(ctx: Context, sh_file: Path) -> list[str]:
    path = _sh_path(ctx, sh_file)
    # `if` rather than `[ -f ] && .`: a missing file must not leave a failing status behind
    # for whoever sources the rc file under `set -e`.
    return [BLOCK_BEGIN, BLOCK_NOTICE, f"if [ -f {path} ]; then . {path}; fi", BLOCK_END]


def _fish_loader(ctx: Context, fish_file: Path) -> bytes:
    path = _fish_path(ctx, fish_file)
    return (
        "# Managed by envdoctor: loads the variables `envdoctor apply` wrote.\n"
        f"if test -f {path}\n    source {path}\nend\n"
    ).encode()


# --- file contents -----------------------------------------------------------------------


def _header(profile: Profile) -> str:
    return (
        f"# Managed by envdoctor (profile {profile.name}): the whole file is rewritten by\n"
        "# `envdoctor apply`; change the profile, not this file.\n"
    )


def _sh_file(profile: Profile, pairs: Exports) -> bytes:
    return (_header(profile) + render_sh(pairs)).encode()


def _fish_file(profile: Profile, pairs: Exports) -> bytes:
    return (_header(profile) + render_fish(pairs)).encode()


def _owned(
    ctx: Context, path: Path, display: str, new: bytes, owner: tuple[int, int] | None
) -> FileChange:
    return FileChange(
        NAME, path, display, read_existing(path, display, "env", root=ctx.root), new, 0o644, owner
    )


# --- notes --------------------------------------------------------------------------------


def _notes_after_block(content: bytes, pairs: Exports, display: str) -> list[str]:
    """Lines after the block that set or unset one of our variables win over it."""
    names = "|".join(re.escape(name) for name, _ in pairs)
    assignment = re.compile(
        rb"\s*(?:export\s+|readonly\s+|declare\s+(?:-\w+\s+)*)?(" + names.encode() + rb")="
    )
    unset = re.compile(rb"\s*unset\s+(?:-v\s+)?((?:\w+\s*)+)")
    notes: list[str] = []
    after = False
    for number, line in enumerate(content.split(b"\n"), 1):
        if line.strip() == BLOCK_END.encode():
            after = True
            continue
        if not after:
            continue
        match = assignment.match(line)
        found = [match.group(1).decode()] if match else []
        gone = unset.match(line)
        if gone:
            wanted = {name for name, _ in pairs}
            found += [w for w in gone.group(1).decode().split() if w in wanted]
        notes.extend(
            f"{display} line {number} sets {name} after the envdoctor block, so it wins: "
            "remove that line"
            for name in found
        )
    return notes


def _notes_current(ctx: Context, pairs: Exports) -> list[str]:
    notes: list[str] = []
    for name, value in pairs:
        current = ctx.env.get(name)
        if current is not None and current != value:
            notes.append(
                f"{name} is {mask_url(current)!r} in this environment (set outside envdoctor): "
                f"new shells get {mask_url(value)!r} unless something sets it again later"
            )
    return notes


# --- helpers ------------------------------------------------------------------------------


def _check(pairs: Exports) -> None:
    for name, value in pairs:
        if not _NAME_RE.match(name):
            raise EnvdoctorError(
                f"{name!r} is not a valid environment variable name",
                "Use letters, digits and _ only (the profile's [hf.env] table).",
            )
        if any(c in value for c in "\x00\n\r"):
            raise EnvdoctorError(
                f"the value of {name} contains a NUL or line break: {value!r}",
                "Fix the profile: shell files hold one line per variable.",
            )


def _blocks(lines: Sequence[bytes], display: str) -> list[tuple[int, int]]:
    begin_marker, end_marker = BLOCK_BEGIN.encode(), BLOCK_END.encode()
    spans: list[tuple[int, int]] = []
    begin: int | None = None
    for index, raw in enumerate(lines):
        line = raw.strip()
        if line == begin_marker:
            if begin is not None:
                _broken(display, begin, f"{BLOCK_BEGIN!r} appears again before {BLOCK_END!r}")
            begin = index
        elif line == end_marker:
            if begin is None:
                _broken(display, index, f"{BLOCK_END!r} without {BLOCK_BEGIN!r} before it")
            spans.append((begin, index))
            begin = None
    if begin is not None:
        _broken(display, begin, f"{BLOCK_BEGIN!r} has no {BLOCK_END!r} after it")
    return spans


def _broken(display: str, index: int, problem: str) -> NoReturn:
    raise EnvdoctorError(
        f"{display} line {index + 1}: {problem}",
        f"Fix or remove the envdoctor block in {display} by hand, then apply again.",
    )


def _lines(body: bytes) -> list[bytes]:
    """Lines as shells see them: ended by LF only (a lone CR is an ordinary byte)."""
    parts = body.split(b"\n")
    return [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _ending(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return b"\r\n"
    return b"\n" if line.endswith(b"\n") else b""


def _sh_path(ctx: Context, path: Path) -> str:
    """``path`` for a shell: through ``$HOME`` when inside it, so it survives sudo and images."""
    try:
        relative = path.relative_to(ctx.home).as_posix()
    except ValueError:
        return shlex.quote(ctx.system_path(path))
    if _SAFE_PATH_RE.match(relative):
        return f'"$HOME/{relative}"'
    return f'"$HOME"/{shlex.quote(relative)}'


def _fish_path(ctx: Context, path: Path) -> str:
    try:
        relative = path.relative_to(ctx.home).as_posix()
    except ValueError:
        return fish_quote(ctx.system_path(path))
    if _SAFE_PATH_RE.match(relative):
        return f'"$HOME/{relative}"'
    return f'"$HOME"/{fish_quote(relative)}'
