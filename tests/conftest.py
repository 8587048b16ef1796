"""Marks: tests under tests/unit are `unit` (offline, fast), under tests/integration
`integration` (real sshd, Docker test hosts). `pytest -m unit` is the edit loop."""
from __future__ import annotations

from pathlib import Path

import pytest


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
