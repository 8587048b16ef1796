"""Dispatch a planned task to its stage: acquire, lock, the flow's stages, unlock, steps."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from otterfile.artifacts.base import AcquireContext
from otterfile.errors import OtterError
from otterfile.plan.graph import Task
from otterfile.run.lock import DeployLock
from otterfile.run.deploy_log import log_record
from otterfile.run import back, recover, retire_later

if TYPE_CHECKING:
    from otterfile.run.lock_holder import LockInfo
    from otterfile.runtimes.base import Runtime
    from otterfile.run.state import Release
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane

ABORTS = ("start", "health", "switch")  # a failure here removes the new release
# The stages after the lock import their modules when they first run: a no-op decided on
# the target (run/noop.py) never loads the flow, the transfer or the steps.


def acquire(engine: Engine, task: Task) -> None:
    """Build or fetch the artifact once, where the controller runs (or on its build host:
    then the cache is there, and the artifact stays there until ship streams it)."""
    from otterfile.transfer.remote_images import CACHE_DIR
    users = [d for d in engine.project.deployments.values() if d.artifact.name == task.artifact]
    art = users[0].artifact
    folder, cache = engine.project.folder, engine.project.folder / ".otter" / "cache"
    say = lambda line: engine.emit(task, "output", line)  # noqa: E731
    ctx = AcquireContext(engine.executor(task.host), engine.images_on(task.host), folder,
                         CACHE_DIR if task.host else cache, say,
                         lambda: engine.cache_lock(cache, say))
    source = engine.sources.get(art.name, art.source)
    try:
        artifact = engine.artifacts[art.name] = art.kind.acquire(source, ctx)
    except OtterError as error:  # the source names what it read; this, whose artifact it was
        raise OtterError(f"artifact {art.name} of {', '.join(d.name for d in users)}: "
                         f"{error}") from error
    engine.emit(task, "info", f"{artifact.image or artifact.path or artifact.source} "
                f"{artifact.digest[:19]}"
                + (f" commit {artifact.commit[:12]}" if artifact.commit else ""))


def lock(engine: Engine, lane: Lane, task: Task) -> None:
    """Take the deploy lock and read the target's state in one round trip (the read runs
    only once the lock is ours), then clean up what a killed run left."""
    bound = retire_later.retire_wait(lane.deployment)

    def waiting(held: LockInfo) -> None:
        wait = max(engine.lock_wait, bound) if held.retiring else engine.lock_wait
        engine.emit(task, "info", f"locked by {held.holder} since {held.since_text} (pid "
                    f"{held.pid or '?'}, run {held.run or '?'}): waiting up to "
                    f"{wait:g}s", holder=held.holder, pid=held.pid, run=held.run)
    lane.lock = DeployLock(engine.executor(task.host), lane.deployment.name,
                           run_id=engine.run_id, on_wait=waiting, retire_wait=bound)
    if engine.rollback:  # done there, in this trip: the switch back
        unless = back.command(engine, lane)
    else:  # or the no-op (imported here: a rollback never decides one)
        from otterfile.run import noop
        unless = noop.command(engine, lane)
    took_over, result = lane.lock.acquire_then(recover.state_read(engine, lane, task),
                                               wait_seconds=engine.lock_wait, unless=unless)
    if took_over:
        engine.emit(task, "info", f"took over a stale lock of {took_over.holder}")
    if unless is not None and (back.ran(engine, lane, task, result) if engine.rollback
                               else noop.settled(engine, lane, task, result)):
        return
    try:
        recover.recover(engine, lane, task, result)
        if engine.rollback:
            _choose_rollback(engine, lane, task)
        else:
            noop.keep(engine, lane)  # the next run's no-op
    except BaseException:  # unlock runs only after a lock that succeeded: release it here
        lane.lock.release()
        raise


def _choose_rollback(engine: Engine, lane: Lane, task: Task) -> None:
    """For `otter rollback`: the release to make live again becomes this lane's artifact."""
    from otterfile.artifacts.base import Artifact
    from otterfile.run import window
    from otterfile.run.contracts import check_rollback
    from otterfile.run.state import rollback_target
    release = rollback_target(lane.state, engine.rollback_to)
    if lane.previous is not None and release.id == lane.previous.id:
        raise OtterError(f"{task.host}: release {release.id} is live already")
    forced = check_rollback(lane.state, release, host=task.where,  # a migration's contract
                            deployment=lane.deployment.name, force=engine.rollback_force)
    if forced:
        engine.emit(task, "info", forced)
    # kept running for the window: a switch alone, unless its data is restored under it
    if not engine.rollback_with_data and window.instant(lane, release):
        _reuse_kept(engine, lane, task, release)
        return
    lane.starts_with = _runtime_for_rollback(lane, task, release)
    # by digest alone: the state file's image name is not trusted to re-point a tag; a
    # registry image's NAME@digest names that digest and nothing else
    from otterfile.artifacts.image_ref import pinned_name
    lane.artifact = Artifact(lane.runtime.forms[0], release.digest,
                             pinned_name(release.image, release.digest),
                             commit=release.commit, ref=release.ref)
    engine.emit(task, "info", f"rolling back to {release.id}")


def _reuse_kept(engine: Engine, lane: Lane, task: Task, release: Release) -> None:
    """A rollback to the release kept for the rollback window: its instance runs, so the
    health check and the switch are all there is to do."""
    from otterfile.artifacts.base import Artifact
    from otterfile.artifacts.image_ref import pinned_name
    from otterfile.run.kinds import runtime_of
    started = runtime_of(lane.deployment, release)  # it runs the instance: it inspects it
    lane.starts_with = None if started.name == lane.deployment.runtime.kind.name else started
    lane.reused, lane.release = True, release
    lane.artifact = Artifact(lane.runtime.forms[0], release.digest,
                             pinned_name(release.image, release.digest),
                             commit=release.commit, ref=release.ref)
    left = lane.kept.left if lane.kept else 0
    engine.emit(task, "info", f"rolling back to {release.id}, kept running on 127.0.0.1:"
                f"{release.port} ({left}s of its rollback window left): nothing to start")


def _runtime_for_rollback(lane: Lane, task: Task, release: Release) -> Runtime | None:
    """The runtime that starts `release` again: the one that started it (its artifact is in
    that runtime's store), given the Otterfile's runtime settings when it takes them
    (docker and podman); None: the Otterfile's. Else an error, before anything changed."""
    from otterfile.run.kinds import runtime_of
    dep = lane.deployment
    started = runtime_of(dep, release)
    if started.name == dep.runtime.kind.name:
        return None
    if not started.accepts(dep.runtime.value):
        raise OtterError(
            f"{task.host}: release {release.id} was started by {started.name}, and the "
            f"Otterfile's runtime is {dep.runtime.kind.name}(...), whose settings "
            f"{started.name} cannot run: nothing was changed. To roll back across the "
            f"runtime change, put {started.name}(...) back in the Otterfile and run "
            f"`otter rollback {dep.name}` again")
    return started


def unlock(engine: Engine, lane: Lane, task: Task) -> None:
    """The deploy log record and the lock's release in one round trip (after failures too)."""
    from otterfile.command import sequence
    from otterfile.commands import state as states
    if lane.back is not None and lane.back.unlocked:  # in the switch's round trip (instant.py)
        return
    text = None
    try:
        if lane.failed and lane.failed.startswith("step "):  # a step failed before switch
            from otterfile.run.abort import abort
            abort(engine, lane, task)
        artifact = lane.artifact or engine.artifacts.get(lane.deployment.artifact.name)
        if artifact is not None:
            text = log_record(
                who=engine.who, deployment=lane.deployment.name, digest=artifact.digest,
                result=f"failed at {lane.failed}" if lane.failed else "ok",
                stages=lane.stage_seconds, release=lane.release.id if lane.release else None,
                commit=artifact.commit)
    finally:
        record = states.append_log(lane.deployment.name, text) if text is not None else None
        if lane.at_unlock is not None:  # the retire's cleanup (flow.py), in this trip
            record = sequence(lane.at_unlock, record) if record else lane.at_unlock
        if retire_later.due(lane):
            retire_later.finish(engine, lane, task, text)
        elif lane.lock is not None:
            lane.lock.release(first=record)
        elif record is not None:
            engine.executor(task.host).run(record)


def _ship(engine: Engine, lane: Lane, task: Task) -> None:
    from otterfile.run import flow
    flow.ship(engine, lane, task)


def _start(engine: Engine, lane: Lane, task: Task) -> None:
    from otterfile.run import flow
    flow.start(engine, lane, task)


def _health(engine: Engine, lane: Lane, task: Task) -> None:
    from otterfile.run import flow
    flow.health(engine, lane, task)


def _switch(engine: Engine, lane: Lane, task: Task) -> None:
    from otterfile.run import switching
    switching.switch(engine, lane, task)


def _fleet(engine: Engine, lane: Lane, task: Task) -> None:
    from otterfile.run import fleet
    fleet.update(engine, lane, task)


def _retire(engine: Engine, lane: Lane, task: Task) -> None:
    from otterfile.run import flow
    flow.retire(engine, lane, task)


def _snapshot(engine: Engine, lane: Lane, task: Task) -> None:
    from otterfile.run import snapshots
    snapshots.snapshot(engine, lane, task)


def _restore(engine: Engine, lane: Lane, task: Task) -> None:
    from otterfile.run import snapshots
    snapshots.restore(engine, lane, task)


def _schedules(engine: Engine, lane: Lane, task: Task) -> None:
    from otterfile.run import schedules
    schedules.place(engine, lane, task)


LANE_STAGES = {"lock": lock, "ship": _ship, "start": _start, "health": _health,
               "switch": _switch, "fleet": _fleet, "retire": _retire, "snapshot": _snapshot,
               "restore": _restore, "schedules": _schedules}


def perform(engine: Engine, task: Task) -> None:
    """Perform one task; an exception fails it (and skips what depends on it)."""
    if task.stage == "acquire":
        return acquire(engine, task)
    if task.stage == "step":
        from otterfile.run.steps import run_step
        run_step(engine, task)  # what a step function returns is not used
        return
    lane = engine.lane(task.deployment or "", task.host or "")
    if lane.closed:  # a no-op decided on the target: logged and unlocked there, all done
        return None
    if task.stage == "unlock":
        return unlock(engine, lane, task)
    started = time.monotonic()
    try:
        LANE_STAGES[task.stage](engine, lane, task)
    except BaseException as error:
        lane.failed = lane.failed or task.stage
        from otterfile.run.abort import abort
        back = abort(engine, lane, task) if task.stage in ABORTS else None
        if back and isinstance(error, OtterError):  # recreate: the old release is back
            raise OtterError(f"{error}; {back}") from error
        raise
    finally:
        lane.stage_seconds[task.stage] = round(time.monotonic() - started, 3)
