"""The retire in the background: a run is done once the proxy serves its new release; the old
release's drain, stop and removal, the prune and the state write then run detached on the
target (scripts/retire/), holding the deploy lock until they end, so a following run,
rollback or remove waits for them (run/lock.py, `retire_wait`). What it did goes to the
deploy log; one still running, or one that failed, shows in `otter status` (`parse`).

Only where nothing of the run comes after the retire: not for fleets (every retire waits
for every target), recreate, snapshots, on_failure="rollback", the rollback window, steps
after the retire or after the deploy, schedules; there the retire stays in the run.
`OTTER_RETIRE=foreground` keeps it in the run everywhere.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from otterfile.command import Command, script
from otterfile.errors import OtterError
from otterfile.run.deploy_log import log_record
from otterfile.run.lock_holder import RETIRE_PREFIX, parse_fields
from otterfile.run.state import state_dir
from otterfile.scripts import load

if TYPE_CHECKING:
    from otterfile.load.project import DeploymentDef
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.run.state import Release

MODE_ENV = "OTTER_RETIRE"  # "foreground": every retire runs in the run, as before
MARK = "--- otter:retire"  # in the target read: the status file, then its age
STALE = 30  # seconds without a heartbeat after which the lock is a dead holder's (lock.py)
MARGIN = 60  # seconds a retire may take beyond its drain and stop bounds (remove, prune)


def eligible(dep: DeploymentDef, lane: Lane) -> bool:
    """Whether this lane's retire may run in the background: a release to stop, and
    nothing of the run after the retire (see the module's docstring)."""
    old = lane.previous
    return bool(os.environ.get(MODE_ENV, "background") != "foreground"
                and old is not None and old.instance and lane.release is not None
                and old.id != lane.release.id and not lane.noop and lane.back is None
                and not dep.fleet and not dep.recreate and dep.snapshots is None
                and dep.on_failure != "rollback" and dep.window <= 0 and not dep.schedules
                and not after_retire(dep))


def after_retire(dep: DeploymentDef) -> bool:
    """Whether a step runs after the retire (anchored to it, after the deploy, or to such
    a step): the run keeps the lock for it, and it may count on the old release gone."""
    from otterfile.plan.step_order import step_order
    late: set[str] = set()
    for step in step_order(dep):  # a step's anchor step comes first
        if step.after_deploy or step.anchor == ("after", "retire") or step.anchor[1] in late:
            late.add(step.name)
    return bool(late)


def retire_wait(dep: DeploymentDef) -> float:
    """How long a run waits for a background retire: its drain and stop bounds, and a
    margin for the removal and the prune."""
    return dep.drain_seconds + dep.stop_seconds + MARGIN


def handover(lane: Lane, retire: Command, *, run_id: str, who: str, record: str | None,
             heartbeat_seconds: float) -> Command:
    """One command: the run's deploy-log `record` appended, then the lock, which `run_id`
    holds, handed to the retire (`retire`: its commands and the state write, its stdin
    kept on the target for it), started detached; prints `status=retiring`."""
    old, dep = lane.previous, lane.deployment
    assert old is not None  # eligible
    if record is not None and "\n" in record:
        raise ValueError("a deploy-log record is one line")
    return script(load("retire/detach.sh"), args=[
        state_dir(dep.name), run_id, RETIRE_PREFIX + run_id,
        f"the background retire of {old.id} ({who})", f"{max(1, int(heartbeat_seconds)):d}",
        old.id, retire_record(who, dep.name, old), retire.shell_line(), load("retire/run.sh"),
        record or "", "0" if retire.stdin is None else "1"],
        stdin=retire.stdin, ok_codes=(0, 3), description=f"retire {old.id} in the background")


def forget(deployment: str) -> Command:
    """The status file of a background retire that failed removed (a retire in the run
    did what it left)."""
    return script('rm -f -- "$1/retire"', args=[state_dir(deployment)],
                  description="forget a failed background retire")


def retire_record(who: str, deployment: str, old: Release) -> str:
    """The retire's deploy-log record, its time, result and seconds filled in there (and
    the drain's seconds when it drained: `@DRAIN@` is `, "drain": S` or nothing)."""
    fields = json.loads(log_record(who=who, deployment=deployment, digest=old.digest,
                                   result="@RESULT@", stages={}, release=old.id,
                                   commit=old.commit))
    fields.update(when="@WHEN@", seconds={"retire": "@SECONDS@"})
    return json.dumps(fields, sort_keys=True).replace('"@SECONDS@"', "@SECONDS@@DRAIN@")


def started(stdout: str) -> bool:
    """Whether the handover's output says the retire runs."""
    return parse_fields(stdout).get("status") == "retiring"


@dataclass(frozen=True)
class Retiring:
    """A background retire a target reports: running, failed, or gone without a word
    (`interrupted`: its heartbeat stopped, and it said nothing)."""

    state: str  # "running", "failed" or "interrupted"
    release: str  # the release it retires
    since: int | None  # epoch seconds, the target's clock
    exit: int | None = None
    output: tuple[str, ...] = ()  # the last lines it printed (failed)

    def said(self, host: str, deployment: str) -> str:
        """One line for `otter status`."""
        if self.state == "running":
            return (f"{host}: {deployment}: retiring {self.release} in the background "
                    "(holding the deploy lock)")
        what = f"failed (exit {self.exit})" if self.state == "failed" else \
            "ended without a word (killed?)"
        tail = f": {' | '.join(self.output)}" if self.output else ""
        return (f"{host}: {deployment}: the background retire of {self.release} {what}"
                f"{tail}; the live release is untouched, the next run retires what is left")

    def as_data(self) -> dict[str, object]:
        return {"state": self.state, "release": self.release, "since": self.since,
                "exit": self.exit, "output": list(self.output)}


def parse(text: str | None) -> Retiring | None:
    """What the target read printed after MARK: the status file, then `age=SECONDS` since
    the retire last touched it (its heartbeat). None: no retire to tell of."""
    if not text:
        return None
    fields: dict[str, str] = {}
    output: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "output":
            output.append(value)
        elif key and key not in fields:
            fields[key] = value
    status = fields.get("status")
    if status not in ("running", "failed"):
        return None

    def number(key: str) -> int | None:
        value = fields.get(key, "")
        return int(value) if value.lstrip("-").isdigit() else None
    age = number("age")
    if status == "running" and age is not None and age > STALE:
        status = "interrupted"
    return Retiring(status, fields.get("release", "?"), number("since"), number("exit"),
                    tuple(output))


def due(lane: Lane) -> bool:
    """Whether this lane's run ends by handing its lock to a retire in the background: one
    was planned, the lock is still held here, and nothing failed."""
    return lane.retire_later is not None and lane.lock is not None and lane.lock.held and \
        not lane.failed


def finish(engine: Engine, lane: Lane, task: Task, record: str | None) -> None:
    """The run's end on a target whose retire goes to the background: the deploy-log record
    appended and the lock handed to the retire, started detached on the target, in one round
    trip; the lock released here when that did not happen."""
    assert lane.lock is not None and lane.retire_later is not None  # the caller checked
    command = handover(lane, lane.retire_later, run_id=engine.run_id, who=engine.who,
                       record=record, heartbeat_seconds=lane.lock.heartbeat_seconds)
    try:
        result = engine.executor(task.host).run(command)
    except BaseException:
        lane.lock.release()
        raise
    if result.exited != 0 or not started(result.stdout):
        lane.lock.release()
        raise OtterError(f"{task.host}: the retire did not start in the background: "
                         f"{result.tail(5) or f'exited {result.exited}'}; the new release "
                         "is live, the old one still runs (the next run retires it)")
    lane.lock.released_there()  # the retire holds it now
    engine.emit(task, "info", f"retiring in the background on {task.host}: `otter status` "
                "shows it while it runs, the deploy log what it did")
