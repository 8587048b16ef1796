"""The deploy flow's stages after the lock, written once over `Runtime` and `Proxy`: ship,
start, health, retire and abort (recover.py reads the target in the lock's round trip,
switching.py points the proxy). Each stage is at most one round trip to its target (ship's
probe is answered by recover's read), besides moving the artifact."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from otterfile.command import Command, script, sequence
from otterfile.commands import files, lock as locks, state as states, store
from otterfile.errors import OtterError
from otterfile.runtimes.base import StartSpec
from otterfile.scripts import load
from otterfile.run import kinds, schedules, space, target
from otterfile.run.fingerprint import config_of
from otterfile.run.health import wait_healthy, wait_running
from otterfile.run.relaying import relayed
from otterfile.run.results import checked
from otterfile.run.state import (Release, add_release, mark_failed, mark_live, mark_retired,
                                 prune_candidates, trim_history, upstream_dir)
from otterfile.run.state_file import format_state
from otterfile.transfer.ship import ship as ship_artifact

if TYPE_CHECKING:
    from otterfile.artifacts.base import Artifact
    from otterfile.executors.base import Executor
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.run.state import State


def ship(engine: Engine, lane: Lane, task: Task) -> None:
    artifact, executor = engine.artifact_of(lane), engine.executor(task.host)
    present = _present(lane, artifact)
    if not present:  # a relayed image arrives whole: the target's layers do not count
        space.ensure_room(engine, lane, task, artifact, executor,
                          None if lane.deployment.relay else lane.layers)
    if lane.deployment.relay and not engine.planned and \
            relayed(engine, lane, task, artifact, executor, present):
        return
    done = ship_artifact(artifact, lane.runtime, executor,
                         engine.images_of(lane),
                         on_progress=lambda sent, total:
                         engine.emit(task, "progress", done=sent, total=total),
                         have=lane.layers, present=present,
                         guard=lambda receive: locks.guarded(
                             receive, lane.deployment.name, engine.run_id,
                             stale_seconds=lane.lock.stale_seconds) if lane.lock else receive)
    if done.artifact is not None:  # pinned on the way (a registry tag's digest)
        lane.artifact = done.artifact
    if done.refused:
        engine.emit(task, "info", f"{executor.host.name} refused the partial archive "
                    f"({done.refused}): sent the whole image")
    engine.emit(task, "info", done.said, bytes=done.bytes,
                **({"layers_sent": done.layers[0], "layers": done.layers[1]}
                   if done.layers else {}))


def _present(lane: Lane, artifact: Artifact) -> bool | None:
    """What the state read's probe said of `artifact` (None: not asked, ship asks)."""
    if lane.probed is None or lane.probed[0] != artifact.digest:
        return None
    return lane.probed[1]


def start(engine: Engine, lane: Lane, task: Task) -> None:
    """Start the new release beside the live one, on a free port of 127.0.0.1."""
    dep, rt, executor = lane.deployment, lane.runtime, engine.executor(task.host)
    artifact = engine.artifact_of(lane)
    env = engine.env.get(dep.name, dict(dep.runtime.env))
    config = config_of(engine, lane, artifact.digest, lane.key)
    live = lane.previous
    if target.unchanged(dep, live, config, lane.running, runtime=rt.name,
                        rollback=engine.rollback, old_sites=lane.old_sites):
        assert live is not None  # unchanged: there is a live release
        lane.noop, lane.release = True, live
        engine.emit(task, "info", f"{live.id} is live with this artifact and config: "
                    "nothing to do")
        return
    if dep.recreate and live and live.instance:  # never two side by side: stop the old
        _stop_for_recreate(engine, lane, task, live)
    release_id = engine.release_id(artifact.digest)
    env_file = states.env_file_path(dep.name, release_id) if env else None
    spec = StartSpec(dep.name, release_id, artifact,
                     files.render_env_file(dict(env)) if env else None, env_file, dep.stop_seconds,
                     rt.port(dep.runtime.value) if dep.recreate else None,
                     store.started_record(dep.name, artifact.digest))
    started = checked(executor, rt.start(dep.runtime.value, spec), "starting the release")
    lane.release = _started(lane, artifact, release_id, rt.parse_started(started.stdout), config)
    # written on the target in the switch's round trip, before the reload: a run killed
    # before that leaves an instance no state names, which the next run's recover removes
    lane.state = add_release(lane.state, lane.release)
    engine.emit(task, "info", f"{lane.release.instance} on 127.0.0.1:{lane.release.port}")


def _stop_for_recreate(engine: Engine, lane: Lane, task: Task, live: Release) -> None:
    """strategy="recreate": the live release stops (by the runtime that started it) before
    the new one starts on its port."""
    assert live.instance is not None  # the caller checked
    old = kinds.runtime_of(lane.deployment, live)
    checked(engine.executor(task.host), sequence(
        old.stop(live.instance, drain_seconds=0, stop_seconds=lane.deployment.stop_seconds),
        old.remove(live.instance), description=f"stop {live.instance}"),
        "stopping the old release")
    engine.emit(task, "info", f"stopped {live.instance}")


def _started(lane: Lane, artifact: Artifact, release_id: str, port: int | str,
             config: str | None) -> Release:
    """The record of the release the start stage started (status "starting")."""
    dep, rt = lane.deployment, lane.runtime
    return Release(release_id, artifact.digest, artifact.image or "", artifact.commit,
                   artifact.ref, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "starting", port, rt.instance_name(dep.name, release_id), config, rt.name,
                   kinds.proxy_name(dep))


def health(engine: Engine, lane: Lane, task: Task) -> None:
    if lane.noop:
        return
    if lane.deployment.recreate and lane.deployment.health_check is None:
        return wait_running(engine, lane, task)
    wait_healthy(engine, lane, task)


def retire(engine: Engine, lane: Lane, task: Task) -> None:
    """Stop the old release after a drain, prune artifacts past keep_releases; one trip."""
    if lane.noop:
        return
    assert lane.release is not None  # the start stage ran
    dep, old = lane.deployment, lane.previous
    steps = schedules.at_switch(engine, lane)  # before the old release stops
    if old and old.instance and kinds.release_key(dep, old) != \
            kinds.release_key(dep, lane.release) and not dep.recreate:  # recreate: stopped
        rt = kinds.runtime_of(dep, old)  # the runtime that started it, whatever runs now
        steps += [rt.stop(old.instance, drain_seconds=dep.drain_seconds,
                          stop_seconds=dep.stop_seconds), rt.remove(old.instance)]
    pruned = prune_candidates(lane.state, dep.keep_releases)
    steps += kinds.prunes(dep, lane.state, pruned, lane.release, lane.started)
    for release in pruned:
        lane.state = mark_retired(lane.state, release.id)
    lane.state = trim_history(lane.state)
    steps += [_forget_env_files(dep.name, lane.release.id), _state_write(dep.name, lane.state)]
    checked(engine.executor(task.host), sequence(*steps, description="retire the old release"),
            "retiring")


def abort(engine: Engine, lane: Lane, task: Task) -> None:
    """After a failed start, health or switch: remove the new release; the old keeps serving.
    After a switch whose answer was lost (the connection dropped), a release the proxy
    already serves is recorded live instead: removing it would leave nothing to serve."""
    if lane.release is None or lane.noop or lane.state.live == lane.release.id:
        return
    assert lane.release.instance is not None  # the start stage named it
    dep, executor = lane.deployment, engine.executor(task.host)
    try:
        if task.stage == "switch" and not dep.recreate and _serves(executor, lane):
            lane.state = mark_live(lane.state, lane.release.id)
            checked(executor, _state_write(dep.name, lane.state), "writing state")
            engine.emit(task, "info", f"the switch went through after all: "
                        f"{lane.release.id} serves, recorded live (the old release is "
                        "removed by the next run)")
            return
        lane.state = mark_failed(lane.state, lane.release.id)
        checked(executor, sequence(
            kinds.runtime_of(dep, lane.release).remove(lane.release.instance),
            files.remove_file(states.env_file_path(dep.name, lane.release.id)),
            _state_write(dep.name, lane.state), description="remove the failed release"),
            "cleaning up")
    except OtterError as error:
        engine.emit(task, "info", f"cleanup failed: {error}")


def _serves(executor: Executor, lane: Lane) -> bool:
    """Whether the proxy serves the new release's port on the target now (one round trip;
    an unanswered question counts as not: removing is what a failed switch does)."""
    dep = lane.deployment
    assert lane.release is not None  # the start stage ran
    result = executor.run(script(load("serves-port.sh"), args=[
        lane.proxy.site_path(dep.name), upstream_dir(dep.name), str(lane.release.port)],
        description=f"does {lane.proxy.name} serve {lane.release.id}"))
    return result.ok and result.stdout.strip() == "serves"


def _forget_env_files(deployment: str, live: str) -> Command:
    """Env files (secrets) of releases whose instances are gone are removed."""
    folder = states.env_file_path(deployment, live).rsplit("/", 1)[0]
    return script('cd "$1" 2>/dev/null || exit 0; for f in *.env; do '
                  '[ "$f" = "$2.env" ] || rm -f -- "$f"; done; exit 0',
                  args=[folder, live], description="remove env files of retired releases")


def _state_write(deployment: str, state: State) -> Command:
    return states.write_state(deployment, format_state(state))
