"""Schedules in `otter status`: each one's last run (exit code, how long) and next run on a
target, parsed from what run/schedules.status printed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from otterfile.report.tables import table

if TYPE_CHECKING:
    from otterfile.executors.base import Executor
    from otterfile.hosts import Host
    from otterfile.load.project import DeploymentDef


@dataclass(frozen=True)
class ScheduleStatus:
    """One schedule's units on one target."""

    name: str
    release: str  # the release its service runs in
    timer: bool  # the timer is enabled here
    running: bool  # a run is in progress
    last_run: str | None  # when the last run started (UTC), None: never
    exit: int | None  # its exit code (None: never ran, or running)
    seconds: float | None  # how long it took
    next_run: str | None  # when the timer fires next (None: no timer here)

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "release": self.release, "timer": self.timer,
                "running": self.running, "last_run": self.last_run, "exit": self.exit,
                "seconds": self.seconds, "next_run": self.next_run}


def read(dep: DeploymentDef, executor: Executor) -> list[ScheduleStatus]:
    """The deployment's schedules on the executor's host (one round trip); [] when it has
    none there."""
    from otterfile.errors import OtterError
    from otterfile.run.schedules import status
    result = executor.run(status(dep.name))
    if not result.ok:
        raise OtterError(f"{executor.host.name}: reading {dep.name}'s schedules failed: "
                         f"{result.tail(5)}")
    return parse(result.stdout)


def parse(stdout: str) -> list[ScheduleStatus]:
    """ScheduleStatus values from `schedule NAME RELEASE` lines, each followed by its
    service's and timer's `systemctl show` properties (the timer's prefixed `timer.`)."""
    blocks: list[tuple[str, str, dict[str, str]]] = []
    for line in stdout.splitlines():
        if line.startswith("schedule "):
            _, name, *release = line.split(" ")
            blocks.append((name, " ".join(release), {}))
        elif "=" in line and blocks:
            key, _, value = line.partition("=")
            blocks[-1][2][key] = value.strip()
    return [_status(name, release, props) for name, release, props in blocks]


def _status(name: str, release: str, props: dict[str, str]) -> ScheduleStatus:
    started = _when(props.get("ExecMainStartTimestamp", ""))
    running = props.get("ActiveState") in ("activating", "active", "deactivating")
    begin = _number(props.get("ExecMainStartTimestampMonotonic"))
    end = _number(props.get("ExecMainExitTimestampMonotonic"))
    seconds = round((end - begin) / 1e6, 3) if begin and end and end >= begin and \
        not running else None
    code = props.get("ExecMainStatus", "")
    return ScheduleStatus(name, release, props.get("timer.UnitFileState") == "enabled", running,
                          started, int(code) if code.isdigit() and started and not running
                          else None, seconds, _when(props.get("timer.NextElapseUSecRealtime",
                                                              "")))


def _when(text: str) -> str | None:
    """`Thu 2026-12-03 18:02:10 UTC` as `2026-12-03 18:02:10 UTC`; "" or "n/a": None."""
    words = text.split()
    if not words or words[0] == "n/a":
        return None
    return " ".join(words[1:] if len(words) > 2 else words)


def _number(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


def rows(dep: DeploymentDef, host: Host, found: Sequence[ScheduleStatus]) -> list[list[str]]:
    """Table rows of one target's schedules, with what the Otterfile says of each."""
    when = {s.name: s.when for s in dep.schedules}
    out = []
    for s in found:
        last = "running" if s.running else (s.last_run or "never")
        took = f"{s.seconds:.1f}s" if s.seconds is not None else ""
        out.append([host.name, dep.name, s.name, when.get(s.name, "(not in the Otterfile)"),
                    "on" if s.timer else "-", last, "" if s.exit is None else str(s.exit),
                    took, s.next_run or "-"])
    return out


def render(all_rows: list[list[str]]) -> str:
    return table(["host", "deployment", "schedule", "when", "timer", "last run", "exit",
                  "took", "next run"], all_rows)
