"""otter's types hold: the package ships py.typed and its `[mypy]` config, and every example
Otterfile type-checks against the DSL as a user's mypy sees an installed otter (offline)."""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
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


def mypy(file: Path, site: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    # --check-untyped-defs: an Otterfile's functions carry no annotations, their calls count
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file=", "--check-untyped-defs",
         "--python-version=3.10", f"--cache-dir={cache}", "--no-error-summary", str(file)],
        capture_output=True, text=True, cwd=file.parent, timeout=300,
        env={**os.environ, "MYPYPATH": str(site)})


def test_package_ships_py_typed() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert (ROOT / "otterfile" / "py.typed").is_file()
    assert "py.typed" in config["options.package_data"]["otterfile"]


@pytest.mark.parametrize("file", OTTERFILES, ids=lambda f: f.parent.name if
                         f.name == "Otterfile.py" else f.name)
def test_example_otterfile_type_checks(file: Path, installed: Path,
                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.getbasetemp() / "mypy-cache"  # shared: later files are fast
    result = mypy(file, installed, cache)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_dsl_call_is_a_type_error(installed: Path, tmp_path: Path) -> None:
    """The check above can fail: a port given as a string is reported, with its line."""
    bad = tmp_path / "Otterfile.py"
    bad.write_text("from otterfile import docker, runtime\n\n\n@runtime\n"
                   "def web():\n    return docker(port='8080')\n")
    result = mypy(bad, installed, tmp_path / "cache")
    assert result.returncode == 1
    assert 'Otterfile.py:6: error: Argument "port" to "docker" has incompatible type "str"' \
        in result.stdout, result.stdout


def test_image_is_exported_to_mypy_through_import_star(installed: Path, tmp_path: Path) -> None:
    """`from otterfile import *` gives mypy the image() source (a static __all__): a good
    call checks, a wrong one is reported with its line."""
    file = tmp_path / "Otterfile.py"
    file.write_text("from otterfile import *\n\n\n@artifact\ndef web():\n"
                    "    return image('app:1.4')\n\n\n@artifact\ndef bad():\n"
                    "    return image(14)\n")
    result = mypy(file, installed, tmp_path / "cache")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.strip().splitlines() == [
        f'{file.name}:11: error: Argument 1 to "image" has incompatible type "int"; '
        'expected "str"  [arg-type]'], result.stdout
