"""`otter status`'s schedules: what run/schedules.status printed on a target, parsed, and
shown as a table and as JSON."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from otterfile.report.schedules import parse, render, rows

pytestmark = pytest.mark.unit

# as a test host printed it (systemd 252)
RAN = """schedule tick 20261203T182703-477bc21f
Result=exit-code
ExecMainStartTimestamp=Thu 2026-12-03 18:27:36 UTC
ExecMainStartTimestampMonotonic=38866936646
ExecMainExitTimestamp=Thu 2026-12-03 18:27:37 UTC
ExecMainExitTimestampMonotonic=38867663603
ExecMainStatus=1
ActiveState=failed
timer.NextElapseUSecRealtime=Fri 2026-12-04 03:00:00 UTC
timer.UnitFileState=enabled
"""
NEVER_NO_TIMER = """schedule clean R2
Result=success
ExecMainStartTimestamp=
ExecMainStartTimestampMonotonic=0
ExecMainExitTimestamp=
ExecMainExitTimestampMonotonic=0
ExecMainStatus=0
ActiveState=inactive
"""
RUNNING = """schedule long R2
Result=success
ExecMainStartTimestamp=Thu 2026-12-03 18:27:36 UTC
ExecMainStartTimestampMonotonic=38866936646
ExecMainExitTimestamp=
ExecMainExitTimestampMonotonic=0
ExecMainStatus=0
ActiveState=activating
timer.NextElapseUSecRealtime=
timer.UnitFileState=enabled
"""


def test_last_run_exit_duration_and_next_run():
    [tick] = parse(RAN)
    assert tick.record() == {
        "name": "tick", "release": "20261203T182703-477bc21f", "timer": True,
        "running": False, "last_run": "2026-12-03 18:27:36 UTC", "exit": 1,
        "seconds": 0.727, "next_run": "2026-12-04 03:00:00 UTC"}


def test_never_ran_running_and_no_timer_here():
    clean, long = parse(NEVER_NO_TIMER + RUNNING)
    assert (clean.last_run, clean.exit, clean.seconds, clean.timer, clean.next_run) == \
        (None, None, None, False, None)
    assert (long.running, long.exit, long.seconds) == (True, None, None)


def test_the_table_names_each_schedule_with_its_when():
    dep = SimpleNamespace(name="production", schedules=[SimpleNamespace(name="tick",
                                                                       when="0 3 * * *")])
    host = SimpleNamespace(name="web1")
    found = parse(RAN + NEVER_NO_TIMER + RUNNING)
    shown = render(rows(dep, host, found))
    lines = shown.splitlines()
    assert lines[0].split() == ["host", "deployment", "schedule", "when", "timer", "last",
                                "run", "exit", "took", "next", "run"]
    assert "0 3 * * *" in lines[2] and " 1 " in lines[2] and "0.7s" in lines[2]
    assert "(not in the Otterfile)" in lines[3] and "never" in lines[3]
    assert "running" in lines[4]
