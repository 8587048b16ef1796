"""Every remote script under otterfile/scripts/ parses as POSIX sh (`sh -n`) and passes
shellcheck with no finding; each is shipped as package data and found by `load`."""
from __future__ import annotations

import configparser
import fnmatch
import shutil
import subprocess
from pathlib import Path

import pytest

from otterfile import scripts
from otterfile.scripts.compact import compact

pytestmark = pytest.mark.unit

ROOT = Path(scripts.__file__).parent
NAMES = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.sh"))


def test_there_are_scripts_in_subfolders_too():
    assert "systemd/start.sh" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_script_parses_as_posix_sh(name):
    done = subprocess.run(["sh", "-n", str(ROOT / name)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", NAMES)
def test_script_is_shellcheck_clean(name):
    assert shutil.which("shellcheck"), "shellcheck is missing: run scripts/setup.sh"
    done = subprocess.run(["shellcheck", "-s", "sh", str(ROOT / name)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("name", NAMES)
def test_script_is_package_data(name):
    config = configparser.ConfigParser()
    config.read(ROOT.parents[1] / "setup.cfg")
    patterns = [p.strip() for p in config["options.package_data"]["otterfile.scripts"]
                .split(",")]
    assert any(fnmatch.fnmatch(name, p) and p.count("/") == name.count("/")
               for p in patterns), f"{name}: not in setup.cfg's package_data"
    assert scripts.load(name) == compact((ROOT / name).read_text(), name)  # comments left out


def test_a_disabled_check_says_why():
    for name in NAMES:
        for number, line in enumerate((ROOT / name).read_text().splitlines(), 1):
            if "shellcheck disable=" in line:
                reason = line.partition("disable=")[2].partition("#")[2].strip()
                assert reason, f"{name}:{number}: a disabled check needs a one-line reason"
