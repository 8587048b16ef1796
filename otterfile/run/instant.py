"""A rollback inside the rollback window in two round trips per target: the lock's (with
the target read), then one script (scripts/window/switch-back.sh) that switches to the
kept release, does what the retire stage does (the release live until now kept for the
window, the timer armed anew, the state written), appends the deploy-log record and unlocks. The retire and
unlock stages then only say what it did. A switch that failed ends the script before the
rest: the run goes on as after any failed switch (the kept release left running, the
unlock in a round trip of its own)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from otterfile.command import Command, script, sequence
from otterfile.commands import state as states
from otterfile.errors import OtterError
from otterfile.executors.base import Result
from otterfile.run.deploy_log import log_record
from otterfile.run.flow import retire_steps, said_retired
from otterfile.run.state import mark_live
from otterfile.run.state_file import format_state
from otterfile.scripts import load

if TYPE_CHECKING:
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.run.state import Release, State

PART = "--- otter:part "  # switch-back.sh: `--- otter:part NAME RC` ends each part


@dataclass(frozen=True)
class SwitchedBack:
    """What the switch's round trip did after the switch: the retire part's result, the
    state it wrote and the release it keeps, and whether the lock was released."""

    retire: Result
    state: State
    keep: Release | None
    unlocked: bool


def switch_back(engine: Engine, lane: Lane, task: Task, switch: Command) -> Result:
    """Run `switch` (from switching.switch_command) and the rest in one round trip; the
    switch part's Result (switching.took reads it), lane.back set when it went through."""
    assert lane.release is not None and lane.lock is not None  # chosen under the lock
    before = lane.state
    lane.state = mark_live(lane.state, lane.release.id)  # what retire works from
    steps, keep = retire_steps(engine, lane)
    retire = sequence(*steps, description="retire the old release")
    after, lane.state = lane.state, before
    path = states.state_path(lane.deployment.name)
    command = script(load("window/switch-back.sh"), args=[
        switch.shell_line(), retire.shell_line(), path, format_state(after),
        _log(engine, lane, "ok").shell_line(),
        _log(engine, lane, "failed at retire").shell_line(),
        lane.lock.release_command().shell_line()], stdin=switch.stdin, file=switch.file,
        description=f"{switch.description}; {retire.description}; log; unlock",
        writes=tuple(dict.fromkeys((*switch.writes, *retire.writes, (path, None)))))
    result = engine.executor(task.host).run(command)
    parts = split(result)
    if "switch" not in parts or parts["switch"][0] != 0:  # the lock is still held
        code, out = parts.get("switch", (result.exited, result.stdout))
        return Result(switch, code, out, result.stderr, result.duration, result.host)
    unlocked = parts.get("unlock", (-1, ""))[0] in (0, 3)  # 3: not ours any more
    if unlocked:
        lane.lock.released_there()
    code, out = parts.get("retire", (result.exited, ""))
    lane.back = SwitchedBack(Result(retire, code, out, result.stderr, result.duration,
                                    result.host), after, keep, unlocked)
    return Result(switch, 0, parts["switch"][1], result.stderr, result.duration, result.host)


def split(result: Result) -> dict[str, tuple[int, str]]:
    """The parts of switch-back.sh's stdout: name -> (exit status, what it printed)."""
    parts: dict[str, tuple[int, str]] = {}
    lines: list[str] = []
    for line in result.stdout.splitlines(keepends=True):
        words = line.removeprefix(PART).split()
        if line.startswith(PART) and len(words) == 2 and words[1].lstrip("-").isdigit():
            parts[words[0]] = (int(words[1]), "".join(lines))
            lines = []
        else:
            lines.append(line)
    return parts


def _log(engine: Engine, lane: Lane, result: str) -> Command:
    """The deploy-log append of this rollback (stage times so far)."""
    assert lane.artifact is not None and lane.release is not None  # chosen at lock time
    return states.append_log(lane.deployment.name, log_record(
        who=engine.who, deployment=lane.deployment.name, digest=lane.artifact.digest,
        result=result, stages=lane.stage_seconds, release=lane.release.id,
        commit=lane.artifact.commit))


def retired(engine: Engine, lane: Lane, task: Task) -> None:
    """The retire stage after switch_back: what its retire part did, or its failure."""
    back = lane.back
    assert back is not None
    lane.state = back.state
    if not back.retire.ok:  # as the retire stage's own round trip says it (results.checked)
        said = back.retire.tail(8) or back.retire.tail(8, "stdout")
        raise OtterError(f"{engine.executor(task.host).host.name}: retiring failed (exit "
                         f"{back.retire.exited}): {said}")
    said_retired(engine, lane, task, back.keep, back.retire)
