"""otter's types hold: the package type-checks strict, ships py.typed and its `[mypy]` config, and every example
Otterfile type-checks against the DSL as a user's mypy sees an installed otter (offline).
One mypy run checks them all, with the wrong files that prove the check can fail."""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="outside the project: mypy is missing (pip install -e "
                                   "'.[test]', scripts/setup.sh, installs it)")

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "otterfile" / "templates" / "Otterfile.py.sample"  # what `otter init` writes
OTTERFILES = sorted(ROOT.glob("examples/*/Otterfile.py")) + [SAMPLE]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as a wheel lays it out (setup.cfg's package_dir puts stdlib/ at
    otterfile/stdlib): each entry of otterfile/ linked, plus stdlib/ under it."""
    root = tmp_path_factory.mktemp("site")
    package = root / "otterfile"
    package.mkdir()
    for entry in (ROOT / "otterfile").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "stdlib").symlink_to(ROOT / "stdlib")
    return root


# Files the shared mypy run must flag, each with the one error it must report (the checks can fail).
WRONG_PORT = ("from otterfile import docker, runtime\n\n\n@runtime\n"
              "def web():\n    return docker(port='8080')\n")
# `from otterfile import *` gives mypy the image() source (a static __all__): the good call
# checks, the wrong one is reported with its line
# the package loads its names lazily (a module __getattr__ hidden from type checkers): a
# name it does not export is still an error
WRONG_NAME = "import otterfile\n\notterfile.sssh('web1')\n"
STAR_IMAGE = ("from otterfile import *\n\n\n@artifact\ndef web():\n"
              "    return image('app:1.4')\n\n\n@artifact\ndef bad():\n"
              "    return image(14)\n")


def module_name(file: Path) -> str:
    """The name of `file`'s copy in the one run: every example is an Otterfile.py, and mypy
    refuses two modules of one name."""
    stem = file.parent.name if file.name == "Otterfile.py" else file.name.split(".")[0]
    return "otterfile_" + stem.replace("-", "_").replace(".", "_")


@dataclass(frozen=True)
class Checked:
    """One mypy run over every file: its exit status and its messages by file name."""

    returncode: int
    output: str
    messages: dict[str, list[str]]

    def of(self, name: str) -> list[str]:
        return self.messages.get(name + ".py", [])

    def stray(self, names: set[str]) -> list[str]:
        """Messages about files that are none of `names` (the otterfile package itself)."""
        return [line for file, lines in self.messages.items()
                if file.removesuffix(".py") not in names for line in lines]


@pytest.fixture(scope="module")
def checked(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Checked:
    """mypy once over copies of the example Otterfiles and the two wrong files (one process,
    one cache: each file alone paid the whole package's check again)."""
    folder = tmp_path_factory.mktemp("otterfiles")
    for file in OTTERFILES:
        (folder / f"{module_name(file)}.py").write_text(file.read_text())
    (folder / "wrong_port.py").write_text(WRONG_PORT)
    (folder / "star_image.py").write_text(STAR_IMAGE)
    (folder / "wrong_name.py").write_text(WRONG_NAME)
    # --check-untyped-defs: an Otterfile's functions carry no annotations, their calls count
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file=", "--check-untyped-defs",
         "--python-version=3.10", f"--cache-dir={folder / '.mypy_cache'}", "--no-error-summary",
         *sorted(path.name for path in folder.glob("*.py"))],
        capture_output=True, text=True, cwd=folder, timeout=300,
        env={**os.environ, "MYPYPATH": str(installed)})
    # 1: errors found (the wrong files have some); 2 would be a crash or bad usage
    assert result.returncode == 1, result.stdout + result.stderr
    messages: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        messages.setdefault(line.split(":", 1)[0], []).append(line)
    return Checked(result.returncode, result.stdout + result.stderr, messages)


def test_the_package_type_checks_strict() -> None:
    """0 errors over the whole package at setup.cfg's `[mypy]` (strict): CI fails on one. A
    test rather than a step before the suite, so it runs beside the integration tests."""
    result = subprocess.run([sys.executable, "-m", "mypy", "otterfile"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_ships_py_typed() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert (ROOT / "otterfile" / "py.typed").is_file()
    assert "py.typed" in config["options.package_data"]["otterfile"]


@pytest.mark.parametrize("file", OTTERFILES, ids=lambda f: f.parent.name if
                         f.name == "Otterfile.py" else f.name)
def test_example_otterfile_type_checks(file: Path, checked: Checked) -> None:
    assert checked.of(module_name(file)) == [], checked.output
    # an error inside the package, reached through the example's imports, fails it too
    assert checked.stray({module_name(f) for f in OTTERFILES} | {"wrong_port", "star_image", "wrong_name"}) \
        == [], checked.output


def test_a_wrong_dsl_call_is_a_type_error(checked: Checked) -> None:
    """The check above can fail: a port given as a string is reported, with its line."""
    assert any(line.startswith('wrong_port.py:6: error: Argument "port" to "docker" has '
                               'incompatible type "str"') for line in checked.of("wrong_port")), \
        checked.output


def test_image_is_exported_to_mypy_through_import_star(checked: Checked) -> None:
    """`from otterfile import *` gives mypy the image() source (a static __all__): a good
    call checks, a wrong one is reported with its line."""
    assert checked.of("star_image") == [
        'star_image.py:11: error: Argument 1 to "image" has incompatible type "int"; '
        'expected "str"  [arg-type]'], checked.output


def test_a_name_the_package_does_not_export_is_a_type_error(checked: Checked) -> None:
    """otterfile/__init__.py's lazy __getattr__ is not seen by mypy: `otterfile.sssh` is an
    error, as it was when every name was imported eagerly."""
    assert any(line.startswith('wrong_name.py:3: error: Module has no attribute "sssh"')
               for line in checked.of("wrong_name")), checked.output
