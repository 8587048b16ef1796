"""The deploy flow's stages after the lock, written once over `Runtime` and `Proxy`: ship,
start, health and retire (recover.py reads the target in the lock's round trip, switching.py
points the proxy, abort.py takes a failed release back). Each stage is at most one round trip to its target (ship's
probe is answered by recover's read), besides moving the artifact."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from otterfile.command import Command, script, sequence
from otterfile.commands import drain as drains, files, lock as locks, state as states, store
from otterfile.runtimes.base import StartSpec
from otterfile.run import back, early_start, kinds, retire_later, schedules, space, target, window
from otterfile.run.fingerprint import config_of
from otterfile.run.health import listen_wait, wait_healthy, wait_running
from otterfile.run.results import checked, failed
from otterfile.run.state import (Release, add_release, mark_retired, prune_candidates,
                                 trim_history)
from otterfile.run.state_file import format_state

if TYPE_CHECKING:
    from otterfile.artifacts.base import Artifact
    from otterfile.executors.base import Result
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.run.state import State


def ship(engine: Engine, lane: Lane, task: Task) -> None:
    # here, not at the top: a rollback or a no-op never ships, and these bring the image
    # and layer transfer (tarfile, the relay) into its start-up
    from otterfile.run.relaying import relayed
    from otterfile.transfer.ship import ship as ship_artifact
    artifact, executor = engine.artifact_of(lane), engine.executor(task.host)
    present = _present(lane, artifact)
    if not present:  # a relayed image arrives whole: the target's layers do not count
        space.ensure_room(engine, lane, task, artifact, executor,
                          None if lane.deployment.relay else lane.layers)
    if lane.deployment.relay and not engine.planned and \
            relayed(engine, lane, task, artifact, executor, present):
        return
    then = early_start.planned(engine, lane, artifact, present)
    done = ship_artifact(artifact, lane.runtime, executor,
                         engine.images_of(lane),
                         on_progress=lambda sent, total:
                         engine.emit(task, "progress", done=sent, total=total),
                         have=lane.layers, present=present,
                         guard=lambda receive: locks.guarded(
                             receive, lane.deployment.name, engine.run_id,
                             stale_seconds=lane.lock.stale_seconds) if lane.lock else receive,
                         then=then[2] if then else None, beside=then[3] if then else None)
    if then is not None and done.then is not None:  # the start ran: its stage says so
        lane.started_early = (then[0], then[1], done.then)
        lane.site_early = done.beside
        if done.beside is not None:  # a failure leaves it to the switch, as without it
            said = done.beside.stdout.strip().replace("\n", "; ")
            engine.emit(task, "info", said if done.beside.ok else "installing the site "
                        f"beside the start failed (exit {done.beside.exited}: {said}): the "
                        "switch installs it")
        if done.then.ok:  # recorded at once: whatever fails from here takes it back
            _record_started(lane, artifact, then[0], done.then.stdout, then[1])
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
    """Start the new release beside the live one, on a free port of 127.0.0.1 (or take what
    the start in the ship's round trip did: run/early_start.py)."""
    if lane.reused:  # a rollback to the release kept for the window: it runs already
        assert lane.release is not None  # chosen at lock time
        engine.emit(task, "info", f"nothing started: {lane.release.instance} (kept) runs on "
                    f"127.0.0.1:{lane.release.port}")
        return
    dep, rt, executor = lane.deployment, lane.runtime, engine.executor(task.host)
    artifact = engine.artifact_of(lane)
    if lane.started_early is not None:
        failed(lane.started_early[2], executor.host.name, "starting the release")
        assert lane.release is not None  # the ship recorded it
        engine.emit(task, "info", f"{lane.release.instance} on 127.0.0.1:"
                    f"{lane.release.port} (started in the ship's round trip)")
        return
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
    spec = start_spec(engine, lane, artifact, release_id)
    started = checked(executor, rt.start(dep.runtime.value, spec), "starting the release")
    release = _record_started(lane, artifact, release_id, started.stdout, config)
    engine.emit(task, "info", f"{release.instance} on 127.0.0.1:{release.port}")


def start_spec(engine: Engine, lane: Lane, artifact: Artifact, release_id: str) -> StartSpec:
    """What the start stage starts `release_id` with (run/drift.py renders it to compare)."""
    dep, rt = lane.deployment, lane.runtime
    env = engine.env.get(dep.name, dict(dep.runtime.env))
    env_file = states.env_file_path(dep.name, release_id) if env else None
    return StartSpec(dep.name, release_id, artifact,
                     files.render_env_file(dict(env)) if env else None, env_file,
                     dep.stop_seconds, rt.port(dep.runtime.value) if dep.recreate else None,
                     store.started_record(dep.name, artifact.digest),
                     lane.host.private_address() if dep.fleet else None,
                     listen_wait(dep))


def _stop_for_recreate(engine: Engine, lane: Lane, task: Task, live: Release) -> None:
    """strategy="recreate": the live release stops (by the runtime that started it) before
    the new one starts on its port; it is kept, stopped, until the new one is live."""
    assert live.instance is not None  # the caller checked
    old = kinds.runtime_of(lane.deployment, live)
    lane.stopped = live
    checked(engine.executor(task.host),
            old.stop(live.instance, drain_seconds=0, stop_seconds=lane.deployment.stop_seconds),
            "stopping the old release")
    engine.emit(task, "info", f"stopped {live.instance}")


def _record_started(lane: Lane, artifact: Artifact, release_id: str, stdout: str,
                    config: str | None) -> Release:
    """The started release in lane.release and lane.state (status "starting"), from what
    the start printed."""
    lane.release = release = _started(lane, artifact, release_id,
                                      lane.runtime.parse_started(stdout), config)
    # written on the target in the switch's round trip, before the reload: a run killed
    # before that leaves an instance no state names, which the next run's recover removes
    lane.state = add_release(lane.state, release)
    return release


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
    """Stop the old release after a drain, prune artifacts past keep_releases; one trip
    (none after a rollback inside the window: the switch's round trip did it). A no-op
    removes only the units of schedules no longer declared, in a trip of its own."""
    if lane.noop:
        return schedules.drop_stale(engine, lane, task)
    if lane.back is not None:
        from otterfile.run.instant import retired
        return retired(engine, lane, task)
    switched = format_state(lane.state)  # what the switch wrote
    steps, keep = retire_steps(engine, lane)
    if _cleanup_only(lane, steps, switched):  # a first deploy: no trip of its own
        lane.at_unlock = sequence(*steps, retire_later.forget(lane.deployment.name),
                                  description="nothing to retire")
        return None
    write = _state_write(lane.deployment.name, lane.state)
    if retire_later.eligible(lane.deployment, lane):  # the unlock's round trip starts it
        assert lane.previous is not None  # eligible: a release to stop
        lane.retire_later = sequence(*steps, write, description="retire the old release")
        engine.emit(task, "info", f"{lane.previous.id} is retired in the background on "
                    f"{task.host} (drain, stop, remove), the deploy lock held until done")
        return None
    command = sequence(*steps, retire_later.forget(lane.deployment.name), write,
                       description="retire the old release")
    done = checked(engine.executor(task.host), command, "retiring")
    said_retired(engine, lane, task, keep, done)


def _cleanup_only(lane: Lane, steps: list[Command], switched: str) -> bool:
    """Whether the retire has nothing to do but remove env files (its last step): no old
    release nor kept one, nothing pruned, no schedules, no step after the retire, and the
    state as the switch wrote it. That cleanup then runs in the unlock's round trip."""
    dep = lane.deployment
    return (len(steps) == 1 and lane.previous is None and lane.kept is None
            and not dep.schedules and not dep.fleet and dep.window <= 0
            and not retire_later.after_retire(dep) and format_state(lane.state) == switched)


def retire_steps(engine: Engine, lane: Lane, kit: bool = True
                 ) -> tuple[list[Command], Release | None]:
    """The retire stage's commands before its state write (none reads stdin) and the
    release it keeps for the rollback window (with `kit`, the switch back to it left ready:
    run/back.py); lane.state becomes what to write after them."""
    assert lane.release is not None  # the start stage ran
    dep = lane.deployment
    steps = schedules.at_switch(engine, lane)  # before the old release stops
    old_steps, keep = _retire_old(lane)
    steps += old_steps
    steps += window.retire_steps(lane, keep)
    pruned = [r for r in prune_candidates(lane.state, dep.keep_releases)
              if keep is None or r.id != keep.id]  # its image runs on
    steps += kinds.prunes(dep, lane.state, pruned, lane.release, lane.started)
    for release in pruned:
        lane.state = mark_retired(lane.state, release.id)
    lane.state = trim_history(lane.state)
    steps.append(_forget_env_files(dep.name, lane.release.id, keep.id if keep else ""))
    ready = back.prepare(engine, lane, keep) if kit else None
    return steps + ([ready] if ready else []), keep


def said_retired(engine: Engine, lane: Lane, task: Task, keep: Release | None,
                 done: Result) -> None:
    """What the retire command said: the schedules' units it removed, no systemd-run there
    (retired, not kept), or kept."""
    schedules.said(engine, task, done.stdout)
    stderr = done.stderr
    for line in stderr.splitlines():
        if line.startswith("otter: warning: "):
            engine.emit(task, "info", line.removeprefix("otter: "))
    for d in drains.parse(done.stdout):
        engine.emit(task, "info", drains.said(d), drained_seconds=d.seconds, drain_left=d.left)
    if keep is not None and "otter: warning: " not in stderr:
        engine.emit(task, "info", window.said(lane.deployment, keep))


def _retire_old(lane: Lane) -> tuple[list[Command], Release | None]:
    """The release live before this run stopped after a drain, or (a rollback window) kept
    running outside the proxy: (the commands, the release kept)."""
    dep, old = lane.deployment, lane.previous
    assert lane.release is not None  # the start stage ran
    if not old or not old.instance or \
            kinds.release_key(dep, old) == kinds.release_key(dep, lane.release):
        return [], None
    rt = kinds.runtime_of(dep, old)  # the runtime that started it, whatever runs now
    if dep.recreate:
        return [rt.remove(old.instance)], None  # stopped before the start
    if dep.window > 0:
        return [], old
    drain = drains.drain(old.port, dep.drain_seconds)  # None: no port known, a timed drain
    return [*([drain] if drain else []),
            rt.stop(old.instance, drain_seconds=0 if drain else dep.drain_seconds,
                    stop_seconds=dep.stop_seconds), rt.remove(old.instance)], None


def _forget_env_files(deployment: str, live: str, kept: str = "") -> Command:
    """Env files (secrets) of releases whose instances are gone are removed (the live
    release's and the one kept for the rollback window stay)."""
    folder = states.env_file_path(deployment, live).rsplit("/", 1)[0]
    return script('cd "$1" 2>/dev/null || exit 0; for f in *.env; do '
                  '[ "$f" = "$2.env" ] || [ "$f" = "$3.env" ] || rm -f -- "$f"; done; exit 0',
                  args=[folder, live, kept], description="remove env files of retired releases")


def _state_write(deployment: str, state: State) -> Command:
    return states.write_state(deployment, format_state(state))
