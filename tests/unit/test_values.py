"""otterfile/values.py: the leaf the seams exchange values through, which keeps the command
builders from importing the kinds that use them (the commands -> runtimes circle)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import otterfile

pytestmark = pytest.mark.unit

PACKAGE = Path(otterfile.__file__).parent
COMMANDS = sorted(p.stem for p in (PACKAGE / "commands").glob("*.py") if p.stem != "__init__")


def otter_imports(path: Path) -> set[str]:
    """The otterfile modules a file imports (relative imports resolved), TYPE_CHECKING too."""
    package = ["otterfile", *path.parent.relative_to(PACKAGE).parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            found.add(".".join(base + ([node.module] if node.module else [])))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("otterfile")}


def test_the_values_module_is_a_leaf():
    assert otter_imports(PACKAGE / "values.py") == set()


@pytest.mark.parametrize("name", COMMANDS)
def test_no_command_builder_imports_a_kind(name):
    kinds = ("otterfile.runtimes", "otterfile.proxies", "otterfile.artifacts")
    imported = otter_imports(PACKAGE / "commands" / f"{name}.py")
    assert not {m for m in imported if m.startswith(kinds)}, imported
    loaded = "print(*sorted(m for m in sys.modules if m.startswith('otterfile.runtimes')))"
    script = f"import sys, otterfile.commands.{name}; {loaded}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "", f"otterfile.commands.{name} loads {done.stdout}"


def test_the_runtime_interface_imports_no_command_builder():
    assert not {m for m in otter_imports(PACKAGE / "runtimes" / "base.py")
                if m.startswith("otterfile.commands")}
