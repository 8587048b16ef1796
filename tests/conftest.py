"""Marks: tests under tests/unit are `unit` (offline, fast), under tests/integration
`integration` (real sshd, Docker test hosts). `pytest -m unit` is the edit loop.

In CI (the environment has CI=true; .ci/run sets it) a skipped test FAILS, unless its reason
starts with OUTSIDE ("outside the project: ..."): something no file of this project can
install or start, e.g. `pytest.skip("outside the project: the kernel has no netem")`. What
scripts/setup.sh installs or starts (sshd, unzip, zstd, caddy, nginx, the Docker engine) is
the project's, so a test that cannot run without it fails there instead of hiding."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

# A suite started as a background job (a CI script's `cmd &`) inherits SIGINT ignored, and every
# otter it starts would ignore Ctrl-C too: the Ctrl-C tests send SIGINT as a terminal does to its
# foreground job. A handler here is reset to the default in each child at exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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


OUTSIDE = "outside the project:"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_reason(report) -> str:
    """The reason pytest.skip/skipif gave: longrepr is (path, line, "Skipped: REASON")."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def hiding(report) -> bool:
    """A skip that CI must not accept (see the module docstring)."""
    return (report.skipped and not hasattr(report, "wasxfail")
            and not skip_reason(report).startswith(OUTSIDE))


def _fail(report) -> None:
    reason = skip_reason(report)
    report.outcome = "failed"
    report.longrepr = (f"skipped in CI (CI=true) for a reason inside the project: {reason!r}; "
                       f"install or start what it needs in scripts/setup.sh, or say why it "
                       f"cannot be with a reason starting {OUTSIDE!r} (tests/conftest.py)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if in_ci() and hiding(report):
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if in_ci() and hiding(report):  # a module skipped whole (allow_module_level=True)
        _fail(report)


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "unit" in parts:
            item.add_marker(pytest.mark.unit)
        elif "integration" in parts:
            item.add_marker(pytest.mark.integration)
    items[:] = in_start_order(items)


def in_start_order(items: list) -> list:
    """The order files start in under xdist (scripts/test.sh: --dist loadfile
    --no-loadscope-reorder takes the collection's order): integration files first, those of
    more tests before, then the unit files. A worker's last file is then a short unit file,
    never an integration file of one or two long tests that keeps it busy alone while the
    others are done (xdist's own reorder, by number of tests, ran the unit files first).
    Within a file the order stays as written."""
    counts: dict[str, int] = {}
    for item in items:
        counts[str(item.fspath)] = counts.get(str(item.fspath), 0) + 1
    first = {path: index for index, path in enumerate(counts)}

    def key(item) -> tuple[int, int, int]:
        path = str(item.fspath)
        unit = "integration" not in Path(path).parts
        return (unit, -counts[path], first[path])
    return sorted(items, key=key)  # stable: a file's own tests keep their order


@pytest.fixture
def otterfile(tmp_path):
    """Write an Otterfile into a temp folder; returns its path."""
    def write(text: str, name: str = "Otterfile.py") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write
