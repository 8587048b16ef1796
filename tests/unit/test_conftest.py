"""The CI rule of tests/conftest.py, run in a pytest of its own: with CI=true a skip fails
unless its reason starts "outside the project:"; without CI a skip stays a skip."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
TESTS = '''
import pytest

def test_needs_a_tool_setup_installs():
    pytest.skip("no caddy binary")

@pytest.mark.skipif(True, reason="no nginx")
def test_marked():
    pass

def test_needs_what_no_file_can_install():
    pytest.skip("outside the project: the kernel has no netem")

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_expected_to_fail():
    assert False

def test_passes():
    pass
'''


def outcomes(tmp_path, env: dict[str, str]) -> dict[str, str]:
    folder = tmp_path / "tests"
    folder.mkdir(exist_ok=True)
    shutil.copy(CONFTEST, folder / "conftest.py")
    (folder / "test_sample.py").write_text(TESTS)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v",
                           str(folder)], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", **env})
    found = {}
    for line in done.stdout.splitlines():  # "tests/test_sample.py::test_x FAILED  [ 20%]"
        if line.startswith("tests/test_sample.py::"):
            name, outcome = line.split("::", 1)[1].split()[:2]
            found[name] = outcome
    return found


def test_in_ci_a_skip_fails_unless_it_names_something_outside_the_project(tmp_path):
    assert outcomes(tmp_path, {"CI": "true"}) == {
        "test_needs_a_tool_setup_installs": "FAILED", "test_marked": "ERROR",
        "test_needs_what_no_file_can_install": "SKIPPED", "test_expected_to_fail": "XFAIL",
        "test_passes": "PASSED"}


def test_outside_ci_a_skip_is_a_skip(tmp_path):
    assert outcomes(tmp_path, {}) == {
        "test_needs_a_tool_setup_installs": "SKIPPED", "test_marked": "SKIPPED",
        "test_needs_what_no_file_can_install": "SKIPPED", "test_expected_to_fail": "XFAIL",
        "test_passes": "PASSED"}


def test_integration_files_start_first_those_of_more_tests_before():
    """xdist takes the collection's order (--no-loadscope-reorder): long integration files
    first, the short unit files last to fill the workers' ends; a file's tests keep theirs."""
    from tests.conftest import in_start_order

    class Item:
        def __init__(self, path: str, name: str):
            self.fspath, self.name = path, name

    items = [Item("/r/tests/unit/test_a.py", n) for n in ("a1", "a2", "a3", "a4")]
    items += [Item("/r/tests/integration/test_one.py", "one1")]
    items += [Item("/r/tests/integration/test_two.py", n) for n in ("two2", "two1")]
    items += [Item("/r/tests/unit/test_b.py", "b1")]
    assert [i.name for i in in_start_order(items)] == [
        "two2", "two1", "one1", "a1", "a2", "a3", "a4", "b1"]
