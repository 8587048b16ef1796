"""Fixtures every unit test gets."""
from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def commands_untraced():
    """`otter --debug` run in-process turns command tracing on for the whole process
    (executors.trace_commands): off again after each test, so no later test is traced."""
    yield
    executors = sys.modules.get("otterfile.executors")  # not imported: nothing to turn off
    if executors is not None:
        executors.trace_commands(None)


@pytest.fixture(autouse=True)
def retire_in_the_run(monkeypatch):
    """The retire stays in the run (OTTER_RETIRE=foreground), as the tests of exact command
    sequences expect; tests of the background retire (run/retire_later.py) unset it."""
    monkeypatch.setenv("OTTER_RETIRE", "foreground")
