"""The deploy flow, written once over `Runtime` and `Proxy`: recover, ship, start, health,
switch, retire, abort. Each stage is one or two round trips to its target."""
from __future__ import annotations

import hmac
import shlex
from datetime import datetime, timezone

from ..artifacts.ship import ship as ship_artifact
from ..command import Command, script, sequence
from ..commands import files, proxy_install, state as states
from ..errors import OtterError
from ..proxies.base import EXIT_MISSING, Site
from ..runtimes.base import StartSpec
from ..state import (Release, add_release, format_state, images_to_remove, mark_failed,
                     mark_live, mark_retired, prune_candidates, trim_history)
from .health import wait_healthy, wait_running

SITE_MARK = "--- otter:site"
KEY_MARK = "--- otter:key"
LAYERS_MARK = "--- otter:layers"


def checked(executor, command: Command, what: str):
    """Run `command`; a failure raises an OtterError naming the host and `what`."""
    result = executor.run(command)
    if not result.ok:
        raise OtterError(f"{executor.host.name}: {what} failed (exit {result.exited}): "
                         f"{result.tail(8) or result.tail(8, 'stdout')}")
    return result


def recover(engine, lane, task) -> None:
    """Read state, instances and the served site in one round trip; instances of runs that
    died are removed, except the one the proxy serves."""
    executor, dep, rt, px = engine.executor(task.host), lane.deployment, lane.runtime, \
        lane.proxy
    read = states.read_state(dep.name, rt.listing(dep.name))
    key = states.fingerprint_key(dep.name)
    layers = _layers_to_read(engine, lane)
    both = script(f'site=$1 layers=$2; shift 2; {shlex.join(key.argv)} || exit 1; '
                  f'echo "{KEY_MARK}"; "$@"; echo "{SITE_MARK}"; cat "$site" 2>/dev/null; '
                  f'[ -z "$layers" ] || {{ echo "{LAYERS_MARK}"; sh -c "$layers"; }}; exit 0',
                  args=[px.site_path(dep.name), layers.shell_line() if layers else "",
                        *read.argv], description=f"read state of {dep.name}")
    # a recreate service is not behind the proxy: nothing to install for it
    stdout = _ensure_and_read(engine, task, executor, None if dep.recreate else px, both)
    lane.key, _, stdout = stdout.partition(KEY_MARK + "\n")
    text, _, served = stdout.partition(SITE_MARK + "\n")
    served, marked, listed = served.partition(LAYERS_MARK + "\n")
    # no listing (it did not run): unknown, the image ships whole; garbage lists nothing
    lane.layers = rt.parse_layers(listed) if layers and marked else None
    target = states.parse_read(text, rt.parse_listing,  # an invalid file: nothing is touched
                               f"{executor.host.name}:{states.state_path(dep.name)}",
                               lambda release_id: rt.instance_name(dep.name, release_id))
    instances = _named_by_otter(rt, dep.name, target.instances)
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


def _ensure_and_read(engine, task, executor, px, read: Command) -> str:
    """The proxy installed and running (or a clear error naming the host), then `read`:
    one round trip. What was installed or started is said. No proxy (None): only `read`."""
    if px is None:
        result = executor.run(read)
    else:
        result = executor.run(sequence(proxy_install.ensure_proxy(px.name), read,
                                       description=f"{read.description} "
                                                   f"({px.name} installed and running)"))
    if result.exited == proxy_install.EXIT_PROXY:
        raise OtterError(f"{executor.host.name}: {result.tail(8)}")
    if not result.ok:
        raise OtterError(f"{executor.host.name}: reading the release state failed (exit "
                         f"{result.exited}): {result.tail(8) or result.tail(8, 'stdout')}")
    for line in result.stderr.splitlines():
        if line.startswith(("otter: installed ", "otter: started ")):
            engine.emit(task, "info", line.removeprefix("otter: "))
    return result.stdout


def _named_by_otter(rt, deployment: str, instances: list) -> list:
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
    if lane.deployment.relay and relayed(engine, lane, task, artifact, executor):
        return
    done = ship_artifact(artifact, lane.runtime, executor,
                         engine.images_of(lane),
                         on_progress=lambda sent, total:
                         engine.emit(task, "progress", done=sent, total=total),
                         have=lane.layers)
    if done.artifact is not None:  # pinned on the way (a registry tag's digest)
        lane.artifact = done.artifact
    if done.refused:
        engine.emit(task, "info", f"{executor.host.name} refused the partial archive "
                    f"({done.refused}): sent the whole image")
    engine.emit(task, "info", done.said, bytes=done.bytes,
                **({"layers_sent": done.layers[0], "layers": done.layers[1]}
                   if done.layers else {}))


def relayed(engine, lane, task, artifact, executor) -> bool:
    """relay=True: this target's part in the run's relay tree. True: it has the image now (it
    had it, it relayed it, or its relay passed it on); False: the controller ships to it as
    without relay (alone, late, or its relay could not serve it: said)."""
    import getpass
    import time
    from ..artifacts import relay
    from ..artifacts.ship import lacks, ship_relay
    kind = relay.engine_for(lane.runtime, artifact)
    if kind is None or lane.host.peer() is None:
        engine.emit(task, "info", f"relay=True applies to docker images on ssh() hosts: "
                    f"{task.host} gets {artifact.image or artifact.digest[:19]} directly")
        return False
    started, images = time.monotonic(), engine.images_of(lane)
    tree = engine.relay_tree(lane, artifact.digest)
    if not lacks(artifact, lane.runtime, executor):
        tree.decline(task.host)
        images.decline(artifact.digest)
        engine.emit(task, "info", "artifact already there", bytes=0)
        return True
    role = tree.join(task.host, engine.cancel)
    if role.relay:  # a child: its relay's transfer, then its own probe confirms it
        images.decline(artifact.digest)
        served, why = tree.served(role.relay, task.host, engine.cancel)
        if served and not lacks(artifact, lane.runtime, executor):
            engine.emit(task, "info", f"received from {role.relay} (relay) in "
                        f"{time.monotonic() - started:.1f}s, verified by digest", bytes=0)
            return True
        engine.emit(task, "info", f"{why or role.relay + ' did not leave the image'}: "
                    "sent by the controller")
        return False
    if not role.children:
        return False
    children = {}
    for name in role.children:
        host = engine.host(name)
        address, port = host.peer()
        children[name] = relay.Child(engine.executor(name), address, port or 0,
                                     getattr(host, "user", None) or getpass.getuser())
    try:
        done, missing = ship_relay(artifact, executor, images, list(children.values()),
                                   engine=kind, run_id=engine.run_id,
                                   on_progress=lambda sent, total: engine.emit(
                                       task, "progress", done=sent, total=total))
    except relay.RelayFailed as error:
        tree.done(task.host, frozenset(n for n, c in children.items()
                                       if c not in error.missing) or None)
        raise
    except OtterError as error:  # before any byte moved (keys, folder): nobody relays
        tree.done(task.host, None)
        engine.emit(task, "info", f"cannot relay ({error}): every target gets the image "
                    "from the controller")
        return False
    except BaseException:
        tree.done(task.host, None)
        raise
    served = [n for n, c in children.items() if c not in missing]
    tree.done(task.host, frozenset(served))
    passed = f"; passed on to {', '.join(served)} (relay)" if served else \
        "; could pass it on to none of its children"
    engine.emit(task, "info", done.said + passed, bytes=done.bytes)
    return True


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
                     rt.port(dep.runtime.value) if dep.recreate else None)
    started = checked(executor, rt.start(dep.runtime.value, spec), "starting the release")
    port = rt.parse_started(started.stdout)
    lane.release = Release(release_id, artifact.digest, artifact.image or "", artifact.commit,
                           artifact.ref, datetime.now(timezone.utc).isoformat(
                               timespec="seconds"), "starting", port,
                           rt.instance_name(dep.name, release_id), config)
    lane.state = add_release(lane.state, lane.release)
    checked(executor, _state_write(dep.name, lane.state), "writing the release state")
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
    """Point the proxy at the new release (validated, graceful reload, restored on failure)."""
    if lane.noop:
        return
    dep, px, executor = lane.deployment, lane.proxy, engine.executor(task.host)
    if dep.recreate:  # served on its own port of 127.0.0.1: no proxy to switch
        lane.state = mark_live(lane.state, lane.release.id)
        checked(executor, _state_write(dep.name, lane.state), "writing the release state")
        return
    result = executor.run(px.switch(dep.proxy, _site(lane, lane.release.port),
                                    site_of(lane, lane.release.port), engine.project.folder))
    if result.exited == EXIT_MISSING:
        raise OtterError(px.missing_message(executor.host.name))
    if not result.ok:
        raise OtterError(f"{executor.host.name}: {px.name} rejected the new config (exit "
                         f"{result.exited}); the previous config is back: "
                         f"{result.tail(8) or result.tail(8, 'stdout')}")
    lane.state = mark_live(lane.state, lane.release.id)
    checked(executor, _state_write(dep.name, lane.state), "writing the release state")


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
