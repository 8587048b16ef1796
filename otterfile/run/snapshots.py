"""Snapshots tied to releases (Deployment(snapshots=Snapshots(...))), written once over
`Runtime`: the `snapshot` stage copies a target's data before a new release starts (after
the lock, before ship and every step), the `restore` stage of `otter rollback --with-data`
puts back the one taken before the release being rolled back. One round trip each
(scripts/snapshot/); `inspect` reads what a target has for `otter snapshots`."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from otterfile.commands import snapshots as snaps
from otterfile.errors import OtterError
from otterfile.report.text import human_size
from otterfile.run import kinds, target
from otterfile.run.fingerprint import config_of
from otterfile.run.results import checked
from otterfile.run.state import Release, rollback_target

if TYPE_CHECKING:
    from otterfile.command import Command
    from otterfile.executors.base import Executor, Result
    from otterfile.load.project import DeploymentDef
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane


def snapshot(engine: Engine, lane: Lane, task: Task) -> None:
    """Copy the deployment's data into the snapshot named by the release this run starts,
    unless the run changes nothing; the live release is held still for it."""
    dep, rt, executor = lane.deployment, lane.runtime, engine.executor(task.host)
    assert dep.snapshots is not None  # the planner adds the stage only then
    data = rt.data(dep.runtime.value, dep.name)
    artifact, live = engine.artifact_of(lane), lane.previous
    if data is None:
        engine.emit(task, "info", f"no data to snapshot: the {rt.name} runtime of "
                    f"{dep.name} names no named volume")
        return
    if target.unchanged(dep, live, config_of(engine, lane, artifact.digest, lane.key),
                        lane.running, runtime=rt.name, old_sites=lane.old_sites):
        engine.emit(task, "info", "the live release stays: no snapshot")
        return
    release = engine.release_id(artifact.digest)
    pause, resume, before = _holds(lane, live)
    result = executor.run(snaps.take(dep.name, release, live=live.id if live else None,
                                     keep=dep.snapshots.keep, data=data, pause=pause,
                                     resume=resume, before=before))
    _refused(result, executor.host.name, dep, live)
    found = snaps.values(result.stdout)
    if engine.planned:  # a plan's target answers nothing
        return
    if found.get("snapshot") == "none":
        engine.emit(task, "info", "no data yet: no snapshot")
        return
    taken = snaps.parse_meta(result.stdout)
    if taken is None:
        raise OtterError(f"{executor.host.name}: the snapshot script said nothing of the "
                         f"snapshot it took: {result.stdout[-300:]!r}")
    _count_room(lane, found.get("mount", ""), taken.bytes)
    engine.emit(task, "info", said(taken, live), snapshot=taken.before, bytes=taken.bytes,
                how=taken.how, paused_seconds=taken.seconds if taken.how == "paused" else 0,
                pruned=snaps.pruned(result.stdout))


def _holds(lane: Lane, live: Release | None) -> tuple[Command | None, Command | None,
                                                        Command | None]:
    """(pause, resume, before) for the live release: `before` run in it when given (and it
    runs under the Otterfile's runtime kind), else it is paused; nothing when none runs."""
    dep = lane.deployment
    if live is None or live.instance is None or \
            kinds.release_key(dep, live) not in lane.running:
        return None, None, None
    assert dep.snapshots is not None  # the stage runs only then
    started = kinds.runtime_of(dep, live)
    if dep.snapshots.before and started.name == dep.runtime.kind.name:
        return None, None, started.exec_in(dep.runtime.value, dep.name, live.id,
                                           dep.snapshots.before)
    return started.freeze(live.instance), started.thaw(live.instance), None


def _refused(result: Result, host: str, dep: DeploymentDef, live: Release | None) -> None:
    """An OtterError for each way the snapshot script refused (nothing was changed)."""
    found = snaps.values(result.stdout)
    if result.exited == snaps.EXIT_ROOM:
        need, free = (int(found.get(k, "0")) * 1024 for k in ("need", "free"))
        raise OtterError(f"{host}: the snapshot of {dep.name} needs up to {human_size(need)}, "
                         f"{human_size(free)} free in {snaps.snapshots_dir(dep.name)}: nothing "
                         "was changed; make room there or lower Snapshots(keep=...)")
    if result.exited == snaps.EXIT_BEFORE:
        raise OtterError(f"{host}: Snapshots(before=...) failed in {live.id if live else '?'} "
                         f"(exit {found.get('exit', '?')}): {result.tail(5)}; nothing was "
                         "changed")
    if result.exited == snaps.EXIT_PAUSE:
        raise OtterError(f"{host}: pausing {live.instance if live else '?'} for the snapshot "
                         f"failed: {result.tail(5)}; nothing was changed (Snapshots(before="
                         "...) can make the copy consistent instead)")
    if not result.ok:
        raise OtterError(f"{host}: the snapshot of {dep.name} failed (exit {result.exited}): "
                         f"{result.tail(8)}; nothing was changed")


def said(taken: snaps.Snapshot, live: Release | None) -> str:
    """`snapshot before R: 1.2 MB (volume pgdata), L paused 0.31s` and the like."""
    what = ", ".join(snaps.labels(taken))
    held = {"paused": f"{live.id if live else 'the live release'} paused "
                      f"{taken.seconds:.2f}s for the copy",
            "before": "after Snapshots(before=...) ran in "
                      f"{live.id if live else 'the live release'}",
            "idle": "nothing was running"}.get(taken.how, taken.how)
    return f"snapshot before {taken.before}: {human_size(taken.bytes)} ({what}), {held}"


def _count_room(lane: Lane, mount: str, size: int) -> None:
    """The room the lock read for the ship stage, less what the snapshot took on its file
    system (run/space.py checks the artifact against what is left)."""
    lane.space = [replace(landing, free=max(0, landing.free - size))
                  if landing.mount == mount else landing for landing in lane.space]


def restore(engine: Engine, lane: Lane, task: Task) -> None:
    """`otter rollback --with-data`: the live release stopped, the data put back as it was
    before it started (the snapshot named by it), for the release the rollback starts."""
    dep, executor, live = lane.deployment, engine.executor(task.host), lane.previous
    host = executor.host.name
    if live is None:
        raise OtterError(f"{host}: {dep.name} has no live release: no data to roll back")
    back = rollback_target(lane.state, engine.rollback_to)
    data = lane.runtime.data(dep.runtime.value, dep.name, create=True)
    if data is None:
        raise OtterError(f"{host}: the {lane.runtime.name} runtime of {dep.name} names no "
                         "data to restore: nothing was changed")
    stop = kinds.runtime_of(dep, live).stop(live.instance, drain_seconds=0,
                                            stop_seconds=dep.stop_seconds) \
        if live.instance else None
    result = checked(executor, snaps.restore(dep.name, live.id, data_of=back.id, data=data,
                                             stop=stop), "restoring the snapshot")
    found = snaps.values(result.stdout)
    if result.exited == snaps.EXIT_MISSING:
        raise OtterError(f"{host}: no snapshot was taken before {live.id} here (`otter "
                         f"snapshots {dep.name}` lists them): nothing was changed")
    if result.exited == snaps.EXIT_OTHER_DATA:
        raise OtterError(f"{host}: the snapshot taken before {live.id} holds the data of "
                         f"{found.get('live') or 'no release'}, not of {back.id}: nothing was "
                         "changed; roll back to that release (--to) or without --with-data")
    if result.exited == snaps.EXIT_UNDECLARED:
        raise OtterError(f"{host}: the snapshot taken before {live.id} holds "
                         f"{found.get('label')}, which the Otterfile no longer declares: "
                         "nothing was changed")
    engine.emit(task, "info", f"stopped {live.id}, restored "
                f"{', '.join(snaps.restored(result.stdout))} as before it started",
                restored=snaps.restored(result.stdout), snapshot=live.id)


def planned(dep: DeploymentDef) -> dict[str, object]:
    """What `otter plan` says of a deployment's snapshots: where they go, how the live
    release is held still, and the command `otter rollback --with-data` would run (LIVE:
    the live release, whose snapshot it restores; PREVIOUS: the release made live)."""
    assert dep.snapshots is not None  # asked only then
    rt, value = dep.runtime.kind, dep.runtime.value
    data = rt.data(value, dep.name, create=True)
    hold = f"`{shlex.join(dep.snapshots.before)}` run in the live release first" \
        if dep.snapshots.before else "the live release paused for the copy"
    folder = snaps.snapshots_dir(dep.name)
    restore = f"stop LIVE, empty {data.description} and unpack {folder}/LIVE/ into it (the " \
        "data as it was before LIVE started), then start PREVIOUS" if data else None
    return {"folder": folder, "keep": dep.snapshots.keep, "held": hold,
            "data": data.description if data else None, "rollback_with_data": restore}


@dataclass(frozen=True)
class Found:
    """What a target has: its snapshots (oldest first), its clock, the live release and the
    one `rollback --with-data` would restore (the snapshot taken before the live one)."""

    now: int
    snapshots: list[snaps.Snapshot]
    live: str | None
    restores: snaps.Snapshot | None


def inspect(dep: DeploymentDef, executor: Executor) -> Found:
    """Read-only, two round trips: the release state and the snapshots."""
    host = executor.host.name
    read = executor.run(target.command(dep))
    if not read.ok:
        raise OtterError(f"{host}: reading the state of {dep.name} failed (exit "
                         f"{read.exited}): {read.tail(5)}")
    _, live = target.live(dep, target.parse(dep, host, read.stdout))
    now, found = snaps.parse_listing(checked(executor, snaps.listing(dep.name),
                                             "listing the snapshots").stdout)
    restores = next((s for s in found if live and s.before == live.id), None)
    return Found(now, found, live.id if live else None, restores)
