"""The deploy flow, written once over `Runtime` and `Proxy`: recover, ship, start, health,
switch (switching.py), retire, abort. Each stage is at most one round trip to its target
(recover runs in the lock's; ship's probe is answered by recover's read), besides moving the
artifact."""
from __future__ import annotations

import hmac
from datetime import datetime, timezone

from ..artifacts.ship import probed, ship as ship_artifact
from ..command import Command, script, sequence
from ..commands import files, lock as locks, state as states, store
from ..errors import OtterError
from ..proxies import install
from ..proxies.base import parse_switching, served_port as served_port_of
from ..runtimes.base import StartSpec
from ..scripts import load
from ..state import (Release, add_release, format_state, mark_failed, mark_live,
                     mark_retired, prune_candidates, trim_history, upstream_dir)
from . import handover, kinds, space
from .health import wait_healthy, wait_running
from .kinds import named_by_otter
from .relaying import relayed

KEY_MARK = "--- otter:key"
SITE_MARK = "--- otter:site"
UPSTREAM_MARK = "--- otter:upstream"
STARTED_MARK = "--- otter:started"
SWITCH_MARK = "--- otter:switch"
PROBE_MARK = "--- otter:probe"
LAYERS_MARK = "--- otter:layers"
MARKS = (KEY_MARK, SITE_MARK, UPSTREAM_MARK, STARTED_MARK, SWITCH_MARK, handover.MARK, PROBE_MARK,
         LAYERS_MARK, space.SPACE_MARK)


def checked(executor, command: Command, what: str):
    """Run `command`; a failure raises an OtterError naming the host and `what`."""
    result = executor.run(command)
    if not result.ok:
        raise OtterError(f"{executor.host.name}: {what} failed (exit {result.exited}): "
                         f"{result.tail(8) or result.tail(8, 'stdout')}")
    return result


def state_read(engine, lane, task) -> Command:
    """What `recover` reads, as one command: the proxy installed and running, the
    fingerprint key, state, instances (of every runtime kind the state names), the served
    site and its port file, how the proxy switches there, other proxy kinds' sites of the
    deployment and, for an artifact the ship stage will send, whether the target has it and
    which image layers it holds. The lock stage runs it in the round trip that takes the
    lock."""
    dep, px = lane.deployment, lane.proxy
    read = kinds.read_state(dep)
    key = states.fingerprint_key(dep.name)
    layers, probe = _layers_to_read(engine, lane), _probe_of(engine, lane)
    both = script(load("state-read.sh"),
                  args=[px.site_path(dep.name), upstream_dir(dep.name), key.shell_line(),
                        "" if dep.recreate else px.switch_probe(dep.proxy).shell_line(),
                        "" if dep.recreate else handover.read(dep).shell_line(),
                        layers.shell_line() if layers else "",
                        probe[1].shell_line() if probe else "",
                        space.read_line(lane.runtime, dep.name) if probe else "",
                        store.started_dir(dep.name), *read.argv],
                  description=f"read state of {dep.name}")
    # a recreate service is not behind the proxy: nothing to install for it
    if dep.recreate:
        return both
    return sequence(handover.ensure(dep), both,
                    description=f"{both.description} ({px.name} installed and running)")


def sections(stdout: str, marks: tuple[str, ...] = MARKS) -> dict[str, str]:
    """The parts of what `state_read` printed, by the marker line before each ("": what
    came before the first)."""
    out, mark, lines = dict[str, str](), "", list[str]()
    for line in stdout.splitlines(keepends=True):
        if line.rstrip("\n") in marks:
            out[mark], mark, lines = "".join(lines), line.rstrip("\n"), []
        else:
            lines.append(line)
    out[mark] = "".join(lines)
    return out


def recover(engine, lane, task, read=None) -> None:
    """From what `state_read` printed (`read`, its Result; None: run it now, one round
    trip): instances of runs that died are removed, except the one the proxy serves."""
    executor, dep, rt, px = engine.executor(task.host), lane.deployment, lane.runtime, \
        lane.proxy
    if read is None:
        read = executor.run(state_read(engine, lane, task))
    parts = sections(_read_output(engine, task, executor, read))
    lane.key, text = parts[""], parts.get(KEY_MARK, "")
    lane.old_sites = handover.parse(parts.get(handover.MARK, ""))
    lane.space = space.parse(parts.get(space.SPACE_MARK, ""))  # none: there, or not sent
    # no listing (it did not run): unknown, the image ships whole; garbage lists nothing
    lane.layers = rt.parse_layers(parts[LAYERS_MARK]) \
        if _layers_to_read(engine, lane) and LAYERS_MARK in parts else None
    probe = _probe_of(engine, lane)
    found = probed(parts[PROBE_MARK]) if probe and PROBE_MARK in parts else None
    lane.probed = (probe[0], found) if probe and found is not None else None
    if not dep.recreate:
        _take_switching(engine, lane, task, parts.get(SWITCH_MARK, ""))
    # an invalid file: nothing is touched
    target = kinds.complete(dep, executor, kinds.parse_read(dep, executor.host.name, text))
    note = kinds.assumed_note(dep, executor.host.name, target)
    if note:
        engine.emit(task, "info", note)
    instances = named_by_otter(rt, dep.name, target.instances)
    state, live = target.state, target.state.live_release
    served_port = served_port_of(px, parts.get(SITE_MARK, ""), parts.get(UPSTREAM_MARK, ""))
    for release in state.releases:  # a run killed between the switch and the state write
        if release.status == "starting" and served_port and release.port == served_port:
            state, live = mark_live(state, release.id), release
    serving = live and kinds.release_key(dep, live)
    stale = [i for i in instances if kinds.key(dep, i) != serving]
    for release in state.releases:
        if release.status == "starting":
            state = mark_failed(state, release.id)
    if stale:
        checked(executor, kinds.remove_instances(dep, stale),
                "removing instances left by an earlier run")
        engine.emit(task, "info", f"removed {len(stale)} instance(s) left by an earlier run")
    if state != target.state:
        checked(executor, _state_write(dep.name, state), "writing state")
    lane.state, lane.previous = state, live
    lane.running = frozenset(kinds.key(dep, i) for i in instances if i.running)
    lane.started = store.started(parts.get(STARTED_MARK, "").split(),
                                 [i.digest for i in instances])


def _take_switching(engine, lane, task, probe: str) -> None:
    """How the proxy switches on this target; said when the host makes it reload (nginx
    without njs), as the user who chose `switch="file"` expects no reload."""
    dep = lane.deployment
    lane.switching = parse_switching(probe, dep.proxy.switch)
    if not lane.switching.per_request and dep.proxy.switch == "file":
        engine.emit(task, "info", f"{lane.proxy.name} switches by reload here: "
                    f"{lane.switching.why}")


def _layers_to_read(engine, lane) -> Command | None:
    """The runtime's listing of the image layers a target holds, when this lane ships an
    image from the controller or a build host (not a registry pull, not a rollback)."""
    artifact = engine.artifacts.get(lane.deployment.artifact.name)
    if engine.rollback or artifact is None or artifact.form != "image" or \
            artifact.pull is not None:
        return None
    return lane.runtime.layers()


def _probe_of(engine, lane) -> tuple[str, Command] | None:
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


def _read_output(engine, task, executor, result) -> str:
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


def ship(engine, lane, task) -> None:
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


def _present(lane, artifact) -> bool | None:
    """What the state read's probe said of `artifact` (None: not asked, ship asks)."""
    if lane.probed is None or lane.probed[0] != artifact.digest:
        return None
    return lane.probed[1]


def start(engine, lane, task) -> None:
    """Start the new release beside the live one, on a free port of 127.0.0.1."""
    dep, rt, executor = lane.deployment, lane.runtime, engine.executor(task.host)
    artifact = engine.artifact_of(lane)
    env = engine.env.get(dep.name, dict(dep.runtime.env))
    config = fingerprint(dep, artifact.digest, env, lane.key,
                         lane.proxy.shipped_digest(dep.proxy, engine.project.folder))
    live = lane.previous
    if live and live.config == config and live.runtime == rt.name and \
            kinds.release_key(dep, live) in lane.running and not engine.rollback and \
            not lane.old_sites:
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
                     files.render_env_file(env) if env else None, env_file, dep.stop_seconds,
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


def fingerprint(dep, digest: str, env: dict, key: str, proxy_files: str | None = None) -> str:
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


def health(engine, lane, task) -> None:
    if lane.noop:
        return
    if lane.deployment.recreate and lane.deployment.health_check is None:
        return wait_running(engine, lane, task)
    wait_healthy(engine, lane, task)


def retire(engine, lane, task) -> None:
    """Stop the old release after a drain, prune artifacts past keep_releases; one trip."""
    if lane.noop:
        return
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


def abort(engine, lane, task) -> None:
    """After a failed start, health or switch: remove the new release; the old keeps serving.
    After a switch whose answer was lost (the connection dropped), a release the proxy
    already serves is recorded live instead: removing it would leave nothing to serve."""
    if lane.release is None or lane.noop or lane.state.live == lane.release.id:
        return
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


def _serves(executor, lane) -> bool:
    """Whether the proxy serves the new release's port on the target now (one round trip;
    an unanswered question counts as not: removing is what a failed switch does)."""
    dep = lane.deployment
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


def _state_write(deployment: str, state) -> Command:
    return states.write_state(deployment, format_state(state))
