"""The one place every path, variable and timeout comes from.

Probes and targets never call ``os.environ`` or open ``/etc/...`` directly: they ask the
``Context``.  Tests build one on ``tmp_path`` with :meth:`Context.for_root`, so nothing a
test does can touch this machine's real files.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is heavy; only the commands that render import it
    from rich.console import Console


@dataclass(frozen=True)
class Context:
    """Where envdoctor runs: a root prefix, a home, the environment, timeouts.

    ``root`` prefixes every absolute system path (``/etc``, ``/proc``, ``/sys``): ``/`` on
    a real machine, a directory for an image tree or a test.  ``home`` is the user's home
    as seen by this process (already under ``root`` where that applies).
    """

    root: Path
    home: Path
    env: Mapping[str, str]
    cwd: Path
    timeout: float | None = None
    """Per-probe timeout in seconds overriding each probe's default, or None."""
    console: Console | None = None
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    """Set when the run is interrupted or abandoned: long probes poll it and stop early."""
    memo: dict[Hashable, object] = field(default_factory=dict, compare=False, repr=False)
    """What this run parsed, keyed by what and a digest of the bytes
    (:func:`envdoctor.configfiles.memoized`): each file is parsed once per run."""
    image: bool = False
    """``root`` is an image or chroot tree the user named (``--root``), not this machine seen
    through a prefix: :meth:`display` names files where they are on this machine
    (``<root>/etc/pip.conf``), never as if they were its own ``/etc``."""

    @classmethod
    def from_environ(
        cls,
        *,
        root: Path | None = None,
        timeout: float | None = None,
        console: Console | None = None,
    ) -> Context:
        env = dict(os.environ)
        root = (root or Path("/")).resolve()
        home = Path(env.get("HOME") or Path.home())
        if root != Path("/"):
            home = root / home.relative_to("/")
        return cls(
            root=root,
            home=home,
            env=env,
            cwd=Path.cwd(),
            timeout=timeout,
            console=console,
            image=root != Path("/"),
        )

    @classmethod
    def for_root(
        cls,
        root: Path,
        *,
        env: Mapping[str, str] | None = None,
        home: Path | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
    ) -> Context:
        """A context confined to ``root`` (tests, image trees); home defaults to root/home/user."""
        home = home or root / "home" / "user"
        environ = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        environ.update(env or {})
        return cls(root=root, home=home, env=environ, cwd=cwd or home, timeout=timeout)

    def path(self, system_path: str | PurePosixPath) -> Path:
        """The real location of an absolute system path such as ``/etc/pip.conf``."""
        relative = PurePosixPath(system_path).relative_to("/")
        return self.root / relative

    def on_path(self, program: str) -> bool:
        """``program`` is on this machine's ``PATH``: looked up with ``shutil.which`` on
        the real root, else in the ``PATH`` directories under :attr:`root` (an image tree,
        a test's tmp_path)."""
        return self.program_path(program) is not None

    def program_path(self, program: str) -> Path | None:
        """Where :meth:`on_path` finds ``program`` (its links not followed), else None.
        Under an image's root, a link is followed inside the image."""
        if self.root == Path("/"):
            found = shutil.which(program, path=self.env.get("PATH"))
            return Path(found) if found is not None else None
        from envdoctor.errors import EnvdoctorError
        from envdoctor.safewrite import resolve_target

        for directory in (d for d in self.env.get("PATH", "").split(":") if d.startswith("/")):
            candidate = self.path(directory) / program
            try:
                if resolve_target(candidate, self.root).is_file():
                    return candidate
            except (EnvdoctorError, OSError):  # a link loop: not a program, as for exec
                continue
        return None

    def system_path(self, path: Path) -> str:
        """``path`` as the machine (or image) it belongs to sees it: without ``root``."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return str(path)
        return posixpath.normpath("/" + relative.as_posix())

    def display(self, path: Path) -> str:
        """A path as people know it: ``~/.config/pip/pip.conf`` under home, else the
        system path (``/etc/pip.conf``); in an :attr:`image`, the path on this machine
        (``<root>/etc/pip.conf``), since ``~`` and ``/etc`` would name this machine's files."""
        if self.image:
            return posixpath.normpath(str(path))
        try:
            relative = path.relative_to(self.home)
        except ValueError:
            return self.system_path(path)
        return "~" if relative == Path() else f"~/{relative.as_posix()}"

    def user_path(self, value: str) -> Path:
        """A path the user gave (env var, option): ``~`` expanded against our home."""
        if value == "~" or value.startswith("~/"):
            return self.home / value[2:]
        path = Path(value)
        return path if path.is_absolute() else self.cwd / path

    def _xdg(self, variable: str, default: str) -> Path:
        value = self.env.get(variable, "")
        # The XDG spec says relative values are invalid and must be ignored.
        return Path(value) if value.startswith("/") else self.home / default

    def xdg_dirs(self, variable: str) -> list[Path]:
        """An ``XDG_*_DIRS`` list as platformdirs reads it: stripped, absolute entries only."""
        entries = [entry.strip() for entry in self.env.get(variable, "").split(":")]
        return [Path(entry) for entry in entries if entry.startswith("/")]

    @property
    def xdg_config_home(self) -> Path:
        return self._xdg("XDG_CONFIG_HOME", ".config")

    @property
    def xdg_cache_home(self) -> Path:
        return self._xdg("XDG_CACHE_HOME", ".cache")

    @property
    def xdg_state_home(self) -> Path:
        return self._xdg("XDG_STATE_HOME", ".local/state")
