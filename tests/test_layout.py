"""The package's shape: one module per tool behind one Protocol, no private imports,
short modules, and a start-up that imports no tool."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import cast

import pytest

from envdoctor import mirrors, planning, tools
from envdoctor.tools import TOOL_NAMES, Tool

PACKAGE = Path(__file__).resolve().parents[1] / "envdoctor"
MAX_LINES = 800


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def private_imports(path: Path) -> list[str]:
    """``from X import _name`` and ``module._name`` uses of another module's private names.

    A package's private submodule (``envdoctor.probes._cgroup``) may be imported by the
    modules of that package only.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[str] = []
    imported_modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("envdoctor"):
            for alias in node.names:
                if not alias.name.startswith("_") or alias.name.startswith("__"):
                    imported_modules.add(alias.asname or alias.name)
                    continue
                submodule = f"{node.module}.{alias.name}"
                if node.module == package and _is_module(submodule):
                    continue  # a package-private module, used inside its package
                found.append(f"{here} imports {alias.name} from {node.module}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("envdoctor"):
                    imported_modules.add(alias.asname or alias.name.rpartition(".")[2])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in imported_modules
        ):
            found.append(f"{here} uses {node.value.id}.{node.attr}")
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def test_no_module_imports_another_modules_private_names() -> None:
    found = [problem for path in _modules() for problem in private_imports(path)]
    assert found == []


def test_the_private_import_check_catches_both_forms(tmp_path: Path) -> None:
    sample = PACKAGE / "tools" / "_layout_probe_sample.py"
    sample.write_text(
        "from envdoctor.net.session import _Progress\n"
        "from envdoctor.tools import sysctl\n"
        "sysctl._read_only\n",
        encoding="utf-8",
    )
    try:
        assert private_imports(sample) == [
            "envdoctor.tools._layout_probe_sample imports _Progress from envdoctor.net.session",
            "envdoctor.tools._layout_probe_sample uses sysctl._read_only",
        ]
    finally:
        sample.unlink()


def test_no_module_is_longer_than_800_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def _protocol_members() -> list[str]:
    members = [name for name in Tool.__annotations__]
    members += [
        name
        for name, value in vars(Tool).items()
        if inspect.isfunction(value) and not name.startswith("_")
    ]
    return members


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_every_registered_tool_meets_the_protocol(name: str) -> None:
    module = tools.load(name)
    assert name == module.NAME
    missing = [member for member in _protocol_members() if not hasattr(module, member)]
    assert missing == []
    for member, value in vars(Tool).items():
        if inspect.isfunction(value) and not member.startswith("_"):
            wanted = list(inspect.signature(value).parameters)[1:]  # without self
            have = list(inspect.signature(getattr(module, member)).parameters)
            assert have == wanted, f"{name}.{member}{tuple(have)}"


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_the_tool_lists_say_what_each_module_does(name: str) -> None:
    """``apply``'s targets and the measured targets are derived from two sets; each
    module's ``plan`` and ``pull_path`` must say the same (``-> None``: nothing of it)."""
    module = tools.load(name)
    plans = inspect.signature(module.plan).return_annotation not in ("None", None)
    pulls = inspect.signature(module.pull_path).return_annotation not in ("None", None)
    assert plans is (name not in tools.VARIABLES_ONLY), name
    assert pulls is (name not in tools.WITHOUT_MIRRORS), name
    assert (name in planning.TARGET_NAMES) is plans
    assert (name in mirrors.TARGETS) is pulls


def test_every_tool_module_is_registered() -> None:
    """A module in envdoctor/tools/ that names itself a tool is in the registry."""
    for path in sorted((PACKAGE / "tools").glob("*.py")):
        if path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        defines = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        if "NAME" in names and {"plan", "pull_path", "check_table"} <= defines:
            assert path.stem in TOOL_NAMES, f"{path.name} is a tool but not registered"


def imported_after(code: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with one of ``prefixes`` that a fresh interpreter has imported
    once it has run ``code``."""
    script = (
        f"import sys\ntry:\n{textwrap.indent(code, '    ')}\nfinally:\n"
        f"    print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return cast("list[str]", ast.literal_eval(result.stdout.strip().splitlines()[-1]))


def test_help_imports_no_tool_module() -> None:
    code = "from envdoctor.cli import cli\ncli.main(['--help'], standalone_mode=False)\n"
    heavy = ("envdoctor.tools", "envdoctor.net", "rich", "psutil", "pynvml", "tomlkit", "ruamel")
    assert imported_after(code, heavy) == []


def test_loading_every_tool_module_leaves_the_editors_unimported() -> None:
    """Checking the profiles loads every tool module, on every command: the round-trip
    editors a tool needs only to edit (configupdater, and importlib.metadata under it;
    ruamel.yaml) are imported when an edit needs them, not then (0.06-0.1 s each run)."""
    code = "from envdoctor import tools\nfor name in tools.TOOL_NAMES:\n    tools.load(name)\n"
    assert imported_after(code, ("configupdater", "ruamel", "importlib.metadata")) == []
