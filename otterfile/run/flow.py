"""The deploy flow, written once over `Runtime` and `Proxy`: recover, ship, start, health,
switch, retire, abort. Each stage is at most one round trip to its target (recover runs in
the lock's; ship's probe is answered by recover's read), besides moving the artifact."""
from __future__ import annotations

import hmac
import shlex
from datetime import datetime, timezone

from ..artifacts.ship import probed, ship as ship_artifact
from ..command import Command, script, sequence
from ..commands import files, proxy_install, state as states, store
from ..errors import OtterError
from ..proxies.base import EXIT_MISSING, Site
from ..runtimes.base import StartSpec
from ..state import (Release, add_release, format_state, images_to_remove, mark_failed,
                     mark_live, mark_retired, prune_candidates, trim_history)
from .health import wait_healthy, wait_running
from .relaying import relayed

SITE_MARK = "--- otter:site"
KEY_MARK = "--- otter:key"
LAYERS_MARK = "--- otter:layers"
PROBE_MARK = "--- otter:probe"


def checked(executor, command: Command, what: str):
    """Run `command`; a failure raises an OtterError naming the host and `what`."""
    result = executor.run(command)
    if not result.ok:
        raise OtterError(f"{executor.host.name}: {what} failed (exit {result.exited}): "
                         f"{result.tail(8) or result.tail(8, 'stdout')}")
    return result


def state_read(engine, lane, task) -> Command:
    """What `recover` reads, as one command: the proxy installed and running, the
    fingerprint key, state, instances, the served site and, for an artifact the ship stage
    will send, whether the target has it and which image layers it holds. The lock stage
    runs it in the round trip that takes the lock."""
    dep, rt, px = lane.deployment, lane.runtime, lane.proxy
    read = states.read_state(dep.name, rt.listing(dep.name))
    key = states.fingerprint_key(dep.name)
    layers, probe = _layers_to_read(engine, lane), _probe_of(engine, lane)
    both = script(f'site=$1 layers=$2 probe=$3; shift 3; {shlex.join(key.argv)} || exit 1; '
                  f'echo "{KEY_MARK}"; "$@"; echo "{SITE_MARK}"; cat "$site" 2>/dev/null; '
                  f'found=; [ -z "$probe" ] || {{ echo "{PROBE_MARK}"; '
                  'p=$(sh -c "$probe" 2>/dev/null) && found=$(printf "%s\\n" "$p" | '
                  'tail -n 1) && printf "%s\\n" "$found"; }; '
                  # the target has the artifact: nothing ships, its layers are not needed
                  'case "$found" in present|tagged) layers= ;; esac; '
                  f'[ -z "$layers" ] || {{ echo "{LAYERS_MARK}"; sh -c "$layers"; }}; exit 0',
                  args=[px.site_path(dep.name), layers.shell_line() if layers else "",
                        probe[1].shell_line() if probe else "", *read.argv],
                  description=f"read state of {dep.name}")
    # a recreate service is not behind the proxy: nothing to install for it
    if dep.recreate:
        return both
    return sequence(proxy_install.ensure_proxy(px.name), both,
                    description=f"{both.description} ({px.name} installed and running)")


def recover(engine, lane, task, read=None) -> None:
    """From what `state_read` printed (`read`, its Result; None: run it now, one round
    trip): instances of runs that died are removed, except the one the proxy serves."""
    executor, dep, rt, px = engine.executor(task.host), lane.deployment, lane.runtime, \
        lane.proxy
    if read is None:
        read = executor.run(state_read(engine, lane, task))
    stdout = _read_output(engine, task, executor, read)
    lane.key, _, stdout = stdout.partition(KEY_MARK + "\n")
    text, _, served = stdout.partition(SITE_MARK + "\n")
    served, marked, listed = served.partition(LAYERS_MARK + "\n")
    served, probe_marked, answer = served.partition(PROBE_MARK + "\n")
    # no listing (it did not run): unknown, the image ships whole; garbage lists nothing
    lane.layers = rt.parse_layers(listed) if _layers_to_read(engine, lane) and marked \
        else None
    probe = _probe_of(engine, lane)
    found = probed(answer) if probe and probe_marked else None
    lane.probed = (probe[0], found) if probe and found is not None else None
    target = states.parse_read(text, rt.parse_listing,  # an invalid file: nothing is touched
                               f"{executor.host.name}:{states.state_path(dep.name)}",
                               lambda release_id: rt.instance_name(dep.name, release_id))
    instances = named_by_otter(rt, dep.name, target.instances)
    state, live = target.state, target.state.live_release
    served_port = px.served_port(served)
    for release in state.releases:  # a run killed between reload and state write
        if release.status == "starting" and served_port and release.port == served_port:
            state, live = mark_live(state, release.id), release
    stale = [i.name for i in instances if not live or i.name != live.instance]
    for release in state.releases:
        if release.status == "starting":
            state = mark_failed(state, release.id)
    if stale:
        checked(executor, rt.remove(*stale), "removing instances left by an earlier run")
        engine.emit(task, "info", f"removed {len(stale)} instance(s) left by an earlier run")
    if state != target.state:
        checked(executor, _state_write(dep.name, state), "writing state")
    lane.state, lane.previous = state, live
    lane.running = frozenset(i.name for i in instances if i.running)


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
    if result.exited == proxy_install.EXIT_PROXY:
        raise OtterError(f"{executor.host.name}: {result.tail(8)}")
    if not result.ok:
        raise OtterError(f"{executor.host.name}: reading the release state failed (exit "
                         f"{result.exited}): {result.tail(8) or result.tail(8, 'stdout')}")
    for line in result.stderr.splitlines():
        if line.startswith(("otter: installed ", "otter: started ")):
            engine.emit(task, "info", line.removeprefix("otter: "))
    return result.stdout


def named_by_otter(rt, deployment: str, instances: list) -> list:
    """The instances whose name is the one otter derives from their release label; one
    labelled by hand under another name is never removed."""
    def ours(instance) -> bool:
        try:
            return bool(instance.release) and \
                instance.name == rt.instance_name(deployment, instance.release)
        except OtterError:  # a release label otter never writes
            return False
    return [i for i in instances if ours(i)]


def ship(engine, lane, task) -> None:
    artifact, executor = engine.artifact_of(lane), engine.executor(task.host)
    present = _present(lane, artifact)
    if lane.deployment.relay and not engine.planned and \
            relayed(engine, lane, task, artifact, executor, present):
        return
    done = ship_artifact(artifact, lane.runtime, executor,
                         engine.images_of(lane),
                         on_progress=lambda sent, total:
                         engine.emit(task, "progress", done=sent, total=total),
                         have=lane.layers, present=present)
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
    if live and live.config == config and live.instance in lane.running and \
            not engine.rollback:
        lane.noop, lane.release = True, live
        engine.emit(task, "info", f"{live.id} is live with this artifact and config: "
                    "nothing to do")
        return
    if dep.recreate and live and live.instance:  # never two side by side: stop the old
        checked(executor, sequence(
            rt.stop(live.instance, drain_seconds=0, stop_seconds=dep.stop_seconds),
            rt.remove(live.instance), description=f"stop {live.instance}"),
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
                           rt.instance_name(dep.name, release_id), config)
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
    if proxy_files:
        values.append(proxy_files)
    return hmac.new(key.strip().encode(), repr(values).encode(), "sha256").hexdigest()[:16]


def health(engine, lane, task) -> None:
    if lane.noop:
        return
    if lane.deployment.recreate and lane.deployment.health_check is None:
        return wait_running(engine, lane, task)
    wait_healthy(engine, lane, task)


def site_of(lane, port) -> str:
    return lane.proxy.render(lane.deployment.proxy, _site(lane, port))


def _site(lane, port) -> Site:
    dep = lane.deployment
    listen = None if dep.domains else lane.runtime.port(dep.runtime.value)
    return Site(dep.name, dep.domains, port, listen)


def switch(engine, lane, task) -> None:
    """Point the proxy at the new release (validated, graceful reload, restored on failure),
    in one round trip with the state writes around it: the new release `starting` before the
    reload (a run killed after the reload is recovered by the served port), `live` after."""
    if lane.noop:
        return
    dep, px, executor = lane.deployment, lane.proxy, engine.executor(task.host)
    live = mark_live(lane.state, lane.release.id)
    if dep.recreate:  # served on its own port of 127.0.0.1: no proxy to switch
        checked(executor, _state_write(dep.name, live), "writing the release state")
        lane.state = live
        return
    result = executor.run(states.write_around(
        dep.name, px.switch(dep.proxy, _site(lane, lane.release.port),
                            site_of(lane, lane.release.port), engine.project.folder),
        format_state(lane.state), format_state(live)))
    if result.ok or states.changed(result):  # the new release serves: never removed now
        lane.state = live
        if not result.ok:
            raise OtterError(f"{executor.host.name}: {px.name} serves {lane.release.id}, but "
                             f"writing the release state failed: {result.tail(3)}")
        return
    if result.exited == states.EXIT_STATE:
        raise OtterError(f"{executor.host.name}: writing the release state failed; the "
                         f"proxy was not touched: {result.tail(3)}")
    if result.exited == EXIT_MISSING:
        raise OtterError(px.missing_message(executor.host.name))
    if not result.ok:
        raise OtterError(f"{executor.host.name}: {px.name} rejected the new config (exit "
                         f"{result.exited}); the previous config is back: "
                         f"{result.tail(8) or result.tail(8, 'stdout')}")


def retire(engine, lane, task) -> None:
    """Stop the old release after a drain, prune artifacts past keep_releases; one trip."""
    if lane.noop:
        return
    dep, rt, old = lane.deployment, lane.runtime, lane.previous
    steps = []
    if old and old.instance and old.instance != lane.release.instance and \
            not dep.recreate:  # recreate: stopped before the start
        steps += [rt.stop(old.instance, drain_seconds=dep.drain_seconds,
                          stop_seconds=dep.stop_seconds), rt.remove(old.instance)]
    pruned = prune_candidates(lane.state, dep.keep_releases)
    remove = images_to_remove(lane.state, pruned)
    for release in pruned:
        lane.state = mark_retired(lane.state, release.id)
    if remove:
        steps.append(rt.prune(remove, [lane.release.digest]))
    lane.state = trim_history(lane.state)
    steps += [_forget_env_files(dep.name, lane.release.id), _state_write(dep.name, lane.state)]
    checked(engine.executor(task.host), sequence(*steps, description="retire the old release"),
            "retiring")


def abort(engine, lane, task) -> None:
    """After a failed start, health or switch: remove the new release; the old keeps serving."""
    if lane.release is None or lane.noop or lane.state.live == lane.release.id:
        return
    dep, executor = lane.deployment, engine.executor(task.host)
    try:
        lane.state = mark_failed(lane.state, lane.release.id)
        checked(executor, sequence(
            lane.runtime.remove(lane.release.instance),
            files.remove_file(states.env_file_path(dep.name, lane.release.id)),
            _state_write(dep.name, lane.state), description="remove the failed release"),
            "cleaning up")
    except OtterError as error:
        engine.emit(task, "info", f"cleanup failed: {error}")


def _forget_env_files(deployment: str, live: str) -> Command:
    """Env files (secrets) of releases whose instances are gone are removed."""
    folder = states.env_file_path(deployment, live).rsplit("/", 1)[0]
    return script('cd "$1" 2>/dev/null || exit 0; for f in *.env; do '
                  '[ "$f" = "$2.env" ] || rm -f -- "$f"; done; exit 0',
                  args=[folder, live], description="remove env files of retired releases")


def _state_write(deployment: str, state) -> Command:
    return states.write_state(deployment, format_state(state))
