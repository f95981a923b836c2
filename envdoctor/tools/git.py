"""git clones of model repositories: ``url.<mirror>/.insteadOf https://huggingface.co/`` in
the user's git config, so ``git clone https://huggingface.co/<repo>`` (and git-lfs, which
follows the rewritten remote) goes to the Hugging Face mirror the profile names.

The edit is made by git itself (``git config --file`` on a copy of the file), so git's own
writer formats it and every other line stays; other rewrites of ``https://huggingface.co/``
are removed (git would use the longest match, not the newest).  The check asks git which
rewrites it applies (``git config --show-origin --get-regexp '^url\\.'``), with the
Context's home and system file.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from envdoctor.checkup import Checkup, Finding, Remedies, Row, add_problems, drift, tool_details
from envdoctor.configfiles import (
    ConfigProblem,
    Setting,
    Source,
    ToolConfig,
    env_path,
    normalise_endpoint,
    read_existing,
)
from envdoctor.context import Context
from envdoctor.errors import EnvdoctorError
from envdoctor.net.session import PullPath
from envdoctor.planning import ApplyOptions, Scope
from envdoctor.profile_checks import (
    ProfileFile,
    add_allow_http,
    any_http,
    check_url_table,
    toml_table,
)
from envdoctor.profiles import Profile
from envdoctor.redact import mask_url
from envdoctor.results import FileChange, Status, TargetPlan
from envdoctor.tools import PullOptions

NAME = "git"
TITLE = "git (model repositories)"
HF_UPSTREAM = "https://huggingface.co/"
GIT_TIMEOUT_S = 5.0

_GIT_DEFAULT = Source("default", "git")


def git_program(ctx: Context) -> str | None:
    return shutil.which("git", path=ctx.env.get("PATH"))


def git_env(ctx: Context) -> dict[str, str]:
    """The environment git runs with: the Context's home, XDG directory and system file."""
    env = dict(ctx.env)
    env["HOME"] = str(ctx.home)
    env.setdefault("GIT_CONFIG_SYSTEM", str(ctx.path("/etc/gitconfig")))
    env["LC_ALL"] = "C"
    return env


NO_REPOSITORY = "/nonexistent/envdoctor-no-repository"
"""``GIT_DIR`` for reading what a clone reads: system, global and ``GIT_CONFIG_*``
settings, not those of a repository the command happens to run in."""


def _run(
    ctx: Context, args: list[str], cwd: Path | None = None, *, as_clone: bool = False
) -> subprocess.CompletedProcess[str]:
    program = git_program(ctx)
    if program is None:
        raise FileNotFoundError("git")
    env = git_env(ctx)
    if as_clone:
        env["GIT_DIR"] = NO_REPOSITORY
    return subprocess.run(
        [program, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or (ctx.cwd if ctx.cwd.is_dir() else ctx.home),
        timeout=GIT_TIMEOUT_S,
        check=False,
    )


@dataclass(frozen=True)
class Rewrite:
    """One ``url.<base>.insteadOf <prefix>`` git applies."""

    base: str
    prefix: str
    origin: str


def parse_rewrites(output: str) -> list[Rewrite]:
    """``git config --show-origin --get-regexp '^url\\.'`` output, insteadOf entries only."""
    found: list[Rewrite] = []
    for line in output.splitlines():
        origin, _, rest = line.partition("\t")
        key, _, value = rest.partition(" ")
        if not key.lower().endswith(".insteadof") or not key.lower().startswith("url."):
            continue
        base = key[len("url.") : -len(".insteadof")]
        found.append(Rewrite(base, value, origin.removeprefix("file:")))
    return found


def rewrite(url: str, rewrites: list[Rewrite]) -> tuple[str, Rewrite | None]:
    """``url`` as git rewrites it: the longest matching ``insteadOf`` prefix wins."""
    matching = [r for r in rewrites if url.startswith(r.prefix)]
    if not matching:
        return url, None
    best = max(matching, key=lambda r: len(r.prefix))
    return best.base + url[len(best.prefix) :], best


def resolve_git(ctx: Context) -> ToolConfig | None:
    """The rewrites git applies, and where ``https://huggingface.co/`` ends up; None when
    git is not installed."""
    if git_program(ctx) is None:
        return None
    problems: list[ConfigProblem] = []
    try:
        # A clone reads no repository's .git/config: not even the one envdoctor runs in.
        result = _run(ctx, ["config", "--show-origin", "--get-regexp", r"^url\."], as_clone=True)
    except (OSError, subprocess.SubprocessError) as exc:
        problems.append(ConfigProblem("git", None, f"git config could not run: {exc}"))
        result = None
    if result is not None and result.returncode not in (0, 1):
        problems.append(ConfigProblem("git", None, result.stderr.strip().splitlines()[-1]))
    rewrites = parse_rewrites(result.stdout) if result is not None else []
    target, used = rewrite(HF_UPSTREAM, rewrites)
    source = _GIT_DEFAULT if used is None else Source("file", used.origin, f'url "{used.base}"')
    settings = {
        "huggingface.co": Setting(
            "huggingface.co",
            mask_url(target),
            source,
            ((HF_UPSTREAM, _GIT_DEFAULT),) if used is not None else (),
        ),
        "rewrites": Setting(
            "rewrites",
            [
                {"url": mask_url(r.base), "insteadOf": mask_url(r.prefix), "file": r.origin}
                for r in rewrites
            ],
            _GIT_DEFAULT,
        ),
    }
    files = list(dict.fromkeys(r.origin for r in rewrites))
    return ToolConfig(NAME, settings, problems, files)


# --- the check ------------------------------------------------------------------------


def _git_row(ctx: Context, config: ToolConfig, remedies: Remedies, hf_endpoint: str) -> Row:
    setting = config.settings["huggingface.co"]
    target = str(setting.value)
    if setting.source.kind == "default":
        summary = f"no rewrite: git clones from {HF_UPSTREAM}"
    else:
        summary = f"{HF_UPSTREAM} -> {target} ({ctx.display(Path(setting.source.location))})"
    row = Row(NAME, summary, tool_details(ctx, config))
    add_problems(row, ctx, config)
    rewrites = cast("list[dict[str, str]]", config.value("rewrites"))
    for entry in rewrites:
        row.findings.append(
            Finding(Status.OK, f"{entry['insteadOf']} -> {entry['url']} ({entry['file']})")
        )
    mirror = normalise_endpoint(hf_endpoint)
    if mirror != normalise_endpoint(HF_UPSTREAM) and normalise_endpoint(target) != mirror:
        row.warn(
            f"HF_ENDPOINT is {mirror} but git clones of {HF_UPSTREAM} go to "
            f"{normalise_endpoint(target)}",
            remedies.apply(NAME)
            or f'git config --global url."{mirror}/".insteadOf "{HF_UPSTREAM}"',
        )
    if (
        setting.source.kind != "default"
        and shutil.which("git-lfs", path=ctx.env.get("PATH")) is None
    ):
        row.findings.append(
            Finding(Status.OK, "git-lfs is not installed: clones get pointer files, not weights")
        )
    profile = remedies.profile
    if profile is not None and profile.git is not None:
        drift(
            row,
            profile,
            "huggingface.co",
            normalise_endpoint(target),
            normalise_endpoint(profile.git.huggingface),
            remedies.apply(NAME),
        )
    return row


# --- the plan -------------------------------------------------------------------------


def config_path(ctx: Context, scope: Scope) -> Path:
    """The file ``git config --global`` (or ``--system``) writes."""
    if scope == "system":
        named = ctx.env.get("GIT_CONFIG_SYSTEM")
        return env_path(ctx, named) if named else ctx.path("/etc/gitconfig")
    named = ctx.env.get("GIT_CONFIG_GLOBAL")
    if named:
        return env_path(ctx, named)
    home_file = ctx.home / ".gitconfig"
    relative = ctx.env.get("XDG_CONFIG_HOME", "")
    if relative and not relative.startswith("/"):
        # git reads <relative>/git/config from the directory it runs in (git 2.39), a
        # different file in each: ~/.gitconfig, read in every one, and read after it.
        return home_file
    xdg = ctx.xdg_config_home / "git" / "config"
    return xdg if not home_file.exists() and xdg.exists() else home_file


def edit(ctx: Context, data: bytes, mirror: str, display: str) -> bytes:
    """``data`` (a git config's bytes) with ``https://huggingface.co/`` rewritten to
    ``mirror`` only (or to nothing when ``mirror`` is the Hub itself), by git itself."""
    base = mirror.rstrip("/") + "/"
    upstream = normalise_endpoint(base) == normalise_endpoint(HF_UPSTREAM)
    with tempfile.TemporaryDirectory(prefix="envdoctor-git-") as scratch:
        copy = Path(scratch) / "config"
        copy.write_bytes(data)
        listed = _git_file(ctx, copy, display, ["--get-regexp", r"^url\..*\.insteadof$"], ok=(0, 1))
        present = False
        for line in listed.splitlines():
            key, _, value = line.partition(" ")
            if value.rstrip("/") != HF_UPSTREAM.rstrip("/"):
                continue
            found_base = key[len("url.") : -len(".insteadof")]
            if found_base == base and not upstream and not present:
                present = True
                continue
            _git_file(
                ctx,
                copy,
                display,
                ["--fixed-value", "--unset-all", f"url.{found_base}.insteadOf", value],
            )
        if not upstream and not present:
            _git_file(ctx, copy, display, ["--add", f"url.{base}.insteadOf", HF_UPSTREAM])
        return copy.read_bytes()


def _git_file(
    ctx: Context, path: Path, display: str, args: list[str], ok: tuple[int, ...] = (0,)
) -> str:
    try:
        result = _run(ctx, ["config", "--file", str(path), *args], cwd=path.parent)
    except (OSError, subprocess.SubprocessError) as exc:
        raise EnvdoctorError(
            f"git config could not edit a copy of {display}: {exc}",
            "Check that git runs (git --version), then run apply again.",
        ) from None
    if result.returncode not in ok:
        message = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise EnvdoctorError(
            f"{display}: git cannot read it ({message.removeprefix('fatal: ')})",
            f"Fix {display} (git config --file {display} --list shows where), then apply again.",
        )
    return result.stdout


def plan(ctx: Context, profile: Profile, options: ApplyOptions) -> TargetPlan:
    if profile.git is None:
        return TargetPlan(NAME, skipped="the profile does not set git")
    if git_program(ctx) is None:
        return TargetPlan(NAME, skipped="git is not installed: nothing clones")
    variable = "GIT_CONFIG_SYSTEM" if options.scope == "system" else "GIT_CONFIG_GLOBAL"
    if ctx.env.get(variable) == "":  # git 2.39: no such file read, and --global fails
        which = "system" if options.scope == "system" else "global"
        return TargetPlan(
            NAME,
            skipped=f"{variable} is set and empty: git reads no {which} file, so nothing "
            f"written for the {options.scope} scope reaches a clone; unset {variable} (or "
            "name a file in it) and apply again",
        )
    path = config_path(ctx, options.scope)
    display = ctx.display(path)
    old = read_existing(path, display, "git", root=ctx.root)
    new: bytes | None = edit(ctx, old or b"", profile.git.huggingface, display)
    if old is None and new == b"":
        new = None
    owner = options.owner if options.scope == "user" else None
    change = FileChange(NAME, path, display, old, new, owner=owner)
    notes: list[str] = []
    if shutil.which("git-lfs", path=ctx.env.get("PATH")) is None:
        notes.append("git-lfs is not installed: clones of model repositories get pointer files")
    return TargetPlan(NAME, (change,) if change.changed or old is not None else (), tuple(notes))


def env_variables(profile: Profile) -> list[tuple[str, str]]:
    return []


def command_variables(ctx: Context, profile: Profile) -> list[tuple[str, str]]:
    """The same rewrite for one command, through git's ``GIT_CONFIG_COUNT`` variables."""
    if profile.git is None:
        return []
    base = profile.git.huggingface.rstrip("/") + "/"
    if normalise_endpoint(base) == normalise_endpoint(HF_UPSTREAM):
        return []
    return [
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", f"url.{base}.insteadOf"),
        ("GIT_CONFIG_VALUE_0", HF_UPSTREAM),
    ]


# --- the Tool protocol ------------------------------------------------------------------

TABLE_KEYS = ("huggingface", "allow-http")
REQUIRED = ("huggingface", 'huggingface = "https://huggingface.co"')


@dataclass(frozen=True)
class GitSettings:
    huggingface: str
    """Where ``https://huggingface.co/`` clones go (no trailing ``/``)."""
    allow_http: bool = False


def check_table(file: ProfileFile, table: Mapping[str, Any]) -> dict[str, Any]:
    checked = check_url_table(file, NAME, table, TABLE_KEYS, ("huggingface",))
    if "huggingface" in checked:
        checked["huggingface"] = checked["huggingface"].rstrip("/")
    return checked


def settings(table: Mapping[str, Any]) -> GitSettings:
    return GitSettings(table["huggingface"], allow_http=any_http([table["huggingface"]]))


def settings_json(value: GitSettings) -> dict[str, Any]:
    return {"huggingface": value.huggingface, "allow_http": value.allow_http}


def settings_toml(value: GitSettings) -> Any:
    table = toml_table({"huggingface": value.huggingface})
    add_allow_http(table, value.allow_http)
    return table


def endpoints(value: GitSettings) -> list[str]:
    return [value.huggingface]


def settings_from_url(url: str) -> GitSettings:
    return GitSettings(url.rstrip("/"), allow_http=url.startswith("http://"))


def resolve(ctx: Context) -> ToolConfig | None:
    return resolve_git(ctx)


def mirrors(config: ToolConfig) -> list[str]:
    url = config.value("huggingface.co")  # a Masked one keeps its credentials
    return [url if isinstance(url, str) else str(url)]


def canonical(url: str) -> str:
    return normalise_endpoint(url)


def diagnose(ctx: Context, configs: Mapping[str, ToolConfig], checkup: Checkup) -> Row | None:
    config = configs.get(NAME)
    if config is None:
        return None
    hf = configs.get("hf")
    endpoint = str(hf.value("HF_ENDPOINT")) if hf is not None else HF_UPSTREAM
    return _git_row(ctx, config, checkup.remedies, endpoint)


PROBE_REPO = "openai-community/gpt2"


def pull_path(base_url: str, options: PullOptions | None = None) -> PullPath:
    """git's first request of a clone, ``<repo>.git/info/refs?service=git-upload-pack``
    (smart HTTP), and the repository's weights (what git-lfs then downloads) to time."""
    base = base_url.strip().rstrip("/")
    return PullPath(
        base_url,
        NAME,
        f"{base}/{PROBE_REPO}.git/info/refs?service=git-upload-pack",
        f"{base}/{PROBE_REPO}/resolve/main/model.safetensors",
    )
