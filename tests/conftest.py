"""Marks: tests under tests/unit are `unit` (offline, fast), under tests/integration
`integration` (real sshd, Docker test hosts). `pytest -m unit` is the edit loop."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Under pytest-xdist (`-n 3`, scripts/test.sh) each worker is its own session with its own set
# of test hosts: worker gwN takes the Nth slot of OTTER_TESTBED_SLOTS (tests/testbed/hosts.py
# reads OTTER_TESTBED_SLOT when it is first imported, after this file).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and _WORKER[2:].isdigit():
    _SLOTS = os.environ.get("OTTER_TESTBED_SLOTS", "0 8 9").split()
    if int(_WORKER[2:]) >= len(_SLOTS):
        raise RuntimeError(f"xdist worker {_WORKER}: OTTER_TESTBED_SLOTS={' '.join(_SLOTS)} "
                           "names fewer slots than there are workers")
    os.environ["OTTER_TESTBED_SLOT"] = _SLOTS[int(_WORKER[2:])]


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "unit" in parts:
            item.add_marker(pytest.mark.unit)
        elif "integration" in parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def otterfile(tmp_path):
    """Write an Otterfile into a temp folder; returns its path."""
    def write(text: str, name: str = "Otterfile.py") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write
