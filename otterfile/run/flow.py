"""The deploy flow, written once over `Runtime` and `Proxy`: recover, ship, start, health,
switch (switching.py), retire, abort. Each stage is at most one round trip to its target
(recover runs in the lock's; ship's probe is answered by recover's read), besides moving the
artifact."""
from __future__ import annotations

import hmac
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from otterfile.transfer.probe import probed
from otterfile.transfer.ship import ship as ship_artifact
from otterfile.command import Command, script, sequence
from otterfile.commands import files, lock as locks, state as states, store
from otterfile.errors import OtterError
from otterfile.proxies import install
from otterfile.runtimes.base import StartSpec
from otterfile.scripts import load
from otterfile.run.state import (Release, add_release, format_state, mark_failed, mark_live,
                     mark_retired, prune_candidates, trim_history, upstream_dir)
from otterfile.run import handover, kinds, space, target
from otterfile.run.health import wait_healthy, wait_running
from otterfile.run.kinds import named_by_otter
from otterfile.run.relaying import relayed

if TYPE_CHECKING:
    from otterfile.artifacts.base import Artifact
    from otterfile.executors.base import Executor, Result
    from otterfile.plan.graph import Task
    from otterfile.load.project import DeploymentDef
    from otterfile.proxies.base import Switching
    from otterfile.run.state import State
    from otterfile.run.engine import Engine, Env, Lane
    from otterfile.run.target import Reading

def checked(executor: Executor, command: Command, what: str) -> Result:
    """Run `command`; a failure raises an OtterError naming the host and `what`."""
    result = executor.run(command)
    if not result.ok:
        raise OtterError(f"{executor.host.name}: {what} failed (exit {result.exited}): "
                         f"{result.tail(8) or result.tail(8, 'stdout')}")
    return result


def state_read(engine: Engine, lane: Lane, task: Task) -> Command:
    """What `recover` reads (target.command): the fingerprint key (made the first time), and,
    for an artifact the ship stage will send, whether the target has it, which image layers
    it holds and the room where it lands; behind a proxy, the proxy installed and running
    first. The lock stage runs it in the round trip that takes the lock."""
    dep = lane.deployment
    probe = _probe_of(engine, lane)
    both = target.command(dep, key=states.fingerprint_key(dep.name),
                          probe=probe[1] if probe else None, layers=_layers_to_read(engine, lane),
                          room=space.read_line(lane.runtime, dep.name) if probe else "")
    # a recreate service is not behind the proxy: nothing to install for it
    if dep.recreate:
        return both
    return sequence(handover.ensure(dep), both,
                    description=f"{both.description} ({lane.proxy.name} installed and running)")


def recover(engine: Engine, lane: Lane, task: Task, read: Result | None = None) -> None:
    """From what `state_read` printed (`read`, its Result; None: run it now, one round
    trip): instances of runs that died are removed, except the one the proxy serves."""
    executor, dep = engine.executor(task.host), lane.deployment
    if read is None:
        read = executor.run(state_read(engine, lane, task))
    # an invalid file: nothing is touched
    reading = target.parse(dep, executor.host.name, _read_output(engine, task, executor, read))
    _take_reading(engine, lane, task, reading)
    reading = target.complete(dep, executor, reading)
    note = kinds.assumed_note(dep, executor.host.name, reading.target)
    if note:
        engine.emit(task, "info", note)
    instances = named_by_otter(lane.runtime, dep.name, reading.target.instances)
    state, live = target.live(dep, reading)
    serving = live and kinds.release_key(dep, live)
    stale = [i for i in instances if kinds.key(dep, i) != serving]
    for release in state.releases:
        if release.status == "starting":
            state = mark_failed(state, release.id)
    if stale:
        checked(executor, kinds.remove_instances(dep, stale),
                "removing instances left by an earlier run")
        engine.emit(task, "info", f"removed {len(stale)} instance(s) left by an earlier run")
    if state != reading.state:
        checked(executor, _state_write(dep.name, state), "writing state")
    lane.state, lane.previous = state, live
    lane.running = frozenset(kinds.key(dep, i) for i in instances if i.running)
    lane.started = store.started(list(reading.started), [i.digest for i in instances])


def _take_reading(engine: Engine, lane: Lane, task: Task, reading: Reading) -> None:
    """What the ship and switch stages use of the read: the key, old proxy sites, the room,
    the layers held and the probe's answer."""
    lane.key, lane.old_sites = reading.key, reading.old_sites
    lane.space = space.parse(reading.space or "")  # none: there, or not sent
    # no listing (it did not run): unknown, the image ships whole; garbage lists nothing
    lane.layers = lane.runtime.parse_layers(reading.layers) \
        if _layers_to_read(engine, lane) and reading.layers is not None else None
    probe = _probe_of(engine, lane)
    found = probed(reading.probe) if probe and reading.probe is not None else None
    lane.probed = (probe[0], found) if probe and found is not None else None
    switching = target.switching(lane.deployment, reading)
    if switching is not None:
        _take_switching(engine, lane, task, switching)


def _take_switching(engine: Engine, lane: Lane, task: Task, switching: Switching) -> None:
    """How the proxy switches on this target; said when the host makes it reload (nginx
    without njs), as the user who chose `switch="file"` expects no reload."""
    dep = lane.deployment
    lane.switching = switching
    if not lane.switching.per_request and dep.proxy.switch == "file":
        engine.emit(task, "info", f"{lane.proxy.name} switches by reload here: "
                    f"{lane.switching.why}")


def _layers_to_read(engine: Engine, lane: Lane) -> Command | None:
    """The runtime's listing of the image layers a target holds, when this lane ships an
    image from the controller or a build host (not a registry pull, not a rollback)."""
    artifact = engine.artifacts.get(lane.deployment.artifact.name)
    if engine.rollback or artifact is None or artifact.form != "image" or \
            artifact.pull is not None:
        return None
    return lane.runtime.layers()


def _probe_of(engine: Engine, lane: Lane) -> tuple[str, Command] | None:
    """(digest, the runtime's probe) of the artifact this lane's ship stage will send, so
    the state read answers the probe; None for a rollback or a registry pull (ship asks)."""
    artifact = engine.artifacts.get(lane.deployment.artifact.name)
    if engine.rollback or artifact is None or artifact.pull is not None or \
            artifact.form not in lane.runtime.forms:
        return None
    try:
        return artifact.digest, lane.runtime.probe(artifact)
    except OtterError:  # an artifact this runtime cannot run: ship says so
        return None


def _read_output(engine: Engine, task: Task, executor: Executor, result: Result) -> str:
    """The state read's stdout, or a clear error naming the host (the proxy missing and
    not installable, the read failed). What was installed or started is said."""
    if result.exited == install.EXIT_PROXY:
        raise OtterError(f"{executor.host.name}: {result.tail(8)}")
    if not result.ok:
        raise OtterError(f"{executor.host.name}: reading the release state failed (exit "
                         f"{result.exited}): {result.tail(8) or result.tail(8, 'stdout')}")
    for line in result.stderr.splitlines():  # what the proxy's ensure did, or could not
        if line.startswith("otter: "):
            engine.emit(task, "info", line.removeprefix("otter: "))
    return result.stdout


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
        old = kinds.runtime_of(dep, live)  # by the runtime that started it
        checked(executor, sequence(
            old.stop(live.instance, drain_seconds=0, stop_seconds=dep.stop_seconds),
            old.remove(live.instance), description=f"stop {live.instance}"),
            "stopping the old release")
        engine.emit(task, "info", f"stopped {live.instance}")
    release_id = engine.release_id(artifact.digest)
    env_file = states.env_file_path(dep.name, release_id) if env else None
    spec = StartSpec(dep.name, release_id, artifact,
                     files.render_env_file(dict(env)) if env else None, env_file, dep.stop_seconds,
                     rt.port(dep.runtime.value) if dep.recreate else None,
                     store.started_record(dep.name, artifact.digest))
    started = checked(executor, rt.start(dep.runtime.value, spec), "starting the release")
    port = rt.parse_started(started.stdout)
    lane.release = Release(release_id, artifact.digest, artifact.image or "", artifact.commit,
                           artifact.ref, datetime.now(timezone.utc).isoformat(
                               timespec="seconds"), "starting", port,
                           rt.instance_name(dep.name, release_id), config, rt.name,
                           kinds.proxy_name(dep))
    # written on the target in the switch's round trip, before the reload: a run killed
    # before that leaves an instance no state names, which the next run's recover removes
    lane.state = add_release(lane.state, lane.release)
    engine.emit(task, "info", f"{lane.release.instance} on 127.0.0.1:{port}")


def config_of(engine: Engine, lane: Lane, digest: str, key: str) -> str | None:
    """The fingerprint a run gives its release of `digest` on a target with `key` (None: no
    key yet, no release was ever made there)."""
    dep = lane.deployment
    if not key.strip():
        return None
    return fingerprint(dep, digest, engine.env.get(dep.name, dict(dep.runtime.env)), key,
                       lane.proxy.shipped_digest(dep.proxy, engine.project.folder))


def fingerprint(dep: DeploymentDef, digest: str, env: Env, key: str,
                proxy_files: str | None = None) -> str:
    """What makes two releases the same: artifact, env (secrets included), runtime, proxy
    (and the digest of files it ships: a renewed certificate is a change); keyed with the
    target's root-only key, so the stored value reveals no secret."""
    values = [digest, sorted((k, v.reveal() if hasattr(v, "reveal") else v)
                             for k, v in env.items()),
              dep.runtime.kind.settings(dep.runtime.value), list(dep.domains), repr(dep.proxy)]
    if dep.proxy.switch != "file":  # only then: fingerprints made before it stay the same
        values.append(f"switch={dep.proxy.switch}")
    if proxy_files:
        values.append(proxy_files)
    return hmac.new(key.strip().encode(), repr(values).encode(), "sha256").hexdigest()[:16]


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
    steps = []
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
