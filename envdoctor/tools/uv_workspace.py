"""Where uv reads a project's settings: the root of the workspace the project is in.

uv (``main.rs``) discovers the workspace of the working directory first
(``Workspace::discover``) and reads the settings of its root
(``FilesystemOptions::find(workspace.install_path())``), so a workspace member's own
``[tool.uv]`` is not what ``uv lock`` or ``uv sync`` use.  Discovery: the nearest
``pyproject.toml`` is the project; if it has ``[tool.uv.workspace]`` it is the root;
if it has a ``[project]``, the first parent with ``[tool.uv.workspace]`` whose
``members`` take it (and whose ``exclude`` does not) is; else the project is a
workspace of its own.  A ``pyproject.toml`` with neither is no workspace: uv then reads
the settings nearest the working directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

Load = Callable[[Path], "dict[str, object] | None"]
"""Reads a ``pyproject.toml`` as TOML: None when it is not one."""


def settings_start(cwd: Path, ancestors: Callable[[Path], Iterable[Path]], load: Load) -> Path:
    """The directory uv looks for ``uv.toml`` and ``[tool.uv]`` from: the workspace
    root of ``cwd``'s project, else ``cwd``."""
    project = next((d for d in ancestors(cwd) if (d / "pyproject.toml").is_file()), None)
    if project is None:
        return cwd
    data = load(project / "pyproject.toml") or {}
    if _workspace(data) is not None:
        return project
    if not isinstance(data.get("project"), dict):
        return cwd
    for parent in list(ancestors(project))[1:]:
        if not (parent / "pyproject.toml").is_file():
            continue
        workspace = _workspace(load(parent / "pyproject.toml") or {})
        if workspace is None:
            continue
        if _matches(parent, project, workspace.get("exclude")):
            return project  # excluded: a workspace of its own
        return parent if _matches(parent, project, workspace.get("members")) else project
    return project


def _workspace(data: dict[str, object]) -> dict[str, object] | None:
    tool = data.get("tool")
    uv = tool.get("uv") if isinstance(tool, dict) else None
    workspace = uv.get("workspace") if isinstance(uv, dict) else None
    return workspace if isinstance(workspace, dict) else None


def _matches(root: Path, project: Path, globs: object) -> bool:
    """Whether one of ``globs`` (relative to ``root``, as uv's ``members`` and ``exclude``
    are) names ``project``."""
    if not isinstance(globs, list):
        return False
    target = PurePosixPath(project.as_posix())
    for glob in globs:
        if isinstance(glob, str) and glob.strip():
            pattern = PurePosixPath(root.as_posix(), glob.strip().rstrip("/"))
            if len(pattern.parts) == len(target.parts) and target.match(str(pattern)):
                return True
    return False
