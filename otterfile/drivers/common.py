"""Stages every runtime shares: acquire, lock (with recovery), unlock, custom steps."""
from __future__ import annotations

from pathlib import Path

from ..command import Command, cmd
from ..errors import OtterError


def describe(dep, stage: str) -> list[Command]:
    from ..commands import lock as locks
    from ..commands import state as states
    source = dep.artifact.source
    if stage == "acquire":
        return [cmd("sh", "-c", source.command or "", description=f"build: {source.command}")]
    if stage == "lock":
        return [locks.acquire(dep.name, holder="<you>", pid=0, run_id="<run>"),
                states.read_state(dep.name)]
    return [states.append_log(dep.name, "<record>"), locks.release(dep.name, "<run>")]


def acquire(engine, task) -> None:
    """Build or fetch the artifact once, on the controller."""
    from ..acquire import Artifact, acquire as do_acquire
    art = engine.project.artifacts.get(task.artifact) or next(
        d.artifact for d in engine.project.deployments.values()
        if d.artifact.name == task.artifact)
    if engine.dry_run:
        engine.emit(task, "info", f"would build: {getattr(art.source, 'command', '')}")
        engine.artifacts[art.name] = Artifact("image", "sha256:" + "0" * 64, "<image>")
        return
    folder = engine.project.folder
    engine.artifacts[art.name] = do_acquire(
        art.source, executor=engine.executor(None), folder=folder,
        cache_dir=Path(folder) / ".otter" / "cache",
        on_output=lambda line: engine.emit(task, "output", line))
    artifact = engine.artifacts[art.name]
    engine.emit(task, "info", f"{artifact.image or artifact.path} {artifact.digest[:19]}"
                + (f" commit {artifact.commit[:12]}" if artifact.commit else ""))


def lock(engine, lane, task) -> None:
    """Take the deploy lock, read the target's state, clean up what a killed run left."""
    from ..lock import DeployLock
    executor = engine.executor(task.host)
    lane.lock = DeployLock(executor, lane.deployment.name, run_id=engine.run_id)
    took_over = lane.lock.acquire(wait_seconds=engine.lock_wait)
    if took_over:
        engine.emit(task, "info", f"took over a stale lock of {took_over.holder}")
    from . import container
    container.recover(engine, lane, task)
    if engine.rollback:
        choose_rollback(engine, lane, task)


def choose_rollback(engine, lane, task) -> None:
    """For `otter rollback`: the release to make live again becomes this lane's artifact."""
    from ..acquire import Artifact
    from ..state import rollback_target
    release = rollback_target(lane.state, engine.rollback_to)
    if lane.previous is not None and release.id == lane.previous.id:
        raise OtterError(f"{task.host}: release {release.id} is live already")
    lane.values["artifact"] = Artifact("image", release.digest, release.image or None,
                                       commit=release.commit, ref=release.ref)
    engine.artifacts.setdefault(lane.deployment.artifact.name, lane.values["artifact"])
    engine.emit(task, "info", f"rolling back to {release.id}")


def unlock(engine, lane, task) -> None:
    """Write the deploy log record and release the lock (runs after failures too)."""
    from ..commands import state as states
    from ..state import log_record
    executor = engine.executor(task.host)
    try:
        artifact = engine.artifacts.get(lane.deployment.artifact.name)
        if artifact is not None and not engine.dry_run:
            record = log_record(
                who=engine.who, deployment=lane.deployment.name, digest=artifact.digest,
                result=f"failed at {lane.failed}" if lane.failed else "ok",
                stages=lane.stage_seconds, release=getattr(lane.release, "id", None),
                commit=artifact.commit)
            executor.run(states.append_log(lane.deployment.name, record))
    finally:
        if lane.lock is not None:
            lane.lock.release()


def run_step(engine, task) -> None:
    """Call a custom step's function with its ctx."""
    from ..context import StepContext
    dep = engine.project.deployments[task.deployment]
    step = next(s for s in dep.steps if s.name == task.step)
    lane = engine.lanes.get((dep.name, task.host or "")) if task.host else None
    if lane is None and dep.hosts:
        lane = engine.lanes.get((dep.name, dep.hosts[0].name))
    step.fn(StepContext(engine, task, lane))


def checked(executor, command: Command, what: str):
    """Run `command`; a failure raises an OtterError naming the host and `what`."""
    result = executor.run(command)
    if not result.ok:
        raise OtterError(f"{executor.host.name}: {what} failed (exit {result.exited}): "
                         f"{result.tail(8) or result.tail(8, 'stdout')}")
    return result

