"""The Docker (and Podman) runtime: ship an image, start beside, gate on health, switch
Caddy, retire the old. Every stage is one or two SSH round trips."""
from __future__ import annotations

from datetime import datetime, timezone

from ..command import Command, script, sequence
from ..commands import caddy, docker as containers, files, state as states
from ..errors import OtterError
from ..state import (Release, add_release, format_state, images_to_remove, mark_failed,
                     mark_live, mark_retired, new_release_id, prune_candidates, trim_history)
from .common import checked
from .health import wait_healthy

DRAIN_SECONDS = 2
SITE_MARK = "--- otter:site"


def engine_of(dep) -> str:
    return dep.runtime.value.engine


def describe(dep, stage: str) -> list[Command]:
    runtime, name = dep.runtime.value, dep.name
    if stage == "ship":
        return [Command(("docker", "save", "<image>"), description="if missing: docker save "
                        "<image> | ssh HOST docker load")]
    if stage == "start":
        return [containers.start_release(
            engine_of(dep), deployment=name, release="RELEASE", digest="<digest>",
            image="<image-id>", container_port=runtime.port,
            env=files.render_env_file({k: str(v) for k, v in dep.runtime.env})
            if dep.runtime.env else None,
            env_file=states.env_file_path(name, "RELEASE"), volumes=runtime.volumes,
            options=runtime.options, command=runtime.command)]
    if stage == "health":
        check = dep.health_check
        path = check.path if check else "/"
        return [Command(("GET", f"http://127.0.0.1:<port>{path}"),
                        description=f"poll GET {path} through the SSH connection until "
                        f"{check.expect_status if check else 'any answer'}")]
    if stage == "switch":
        return [caddy.switch(name, _site(dep, 20000))]
    return [containers.stop_container(engine_of(dep), "<old container>",
                                      drain_seconds=DRAIN_SECONDS)]


def _site(dep, port: int) -> str:
    tls = getattr(dep.proxy, "tls", "auto")
    return caddy.render_site(dep.name, list(dep.domains), port,
                             None if dep.domains else dep.runtime.value.port, tls)


def recover(engine, lane, task) -> None:
    """Read state; containers of runs that died are removed, except the one Caddy serves."""
    executor, dep = engine.executor(task.host), lane.deployment
    read = states.read_state(dep.name, engine_of(dep))
    site = f"{caddy.CADDY_DIR}/otter.d/{dep.name}.caddy"
    both = script(f'site=$1; shift; "$@"; echo "{SITE_MARK}"; cat "$site" 2>/dev/null; exit 0',
                  args=[site, *read.argv], description=f"read state of {dep.name}")
    stdout = checked(executor, both, "reading the release state").stdout
    text, _, served = stdout.partition(SITE_MARK + "\n")
    target = states.parse_read(text)
    state, live = target.state, target.state.live_release
    served_port = _served_port(served)
    for release in state.releases:  # a run killed between reload and state write
        if release.status == "starting" and release.port == served_port and served_port:
            state, live = mark_live(state, release.id), release
    stale = [c.name for c in target.containers if not live or c.name != live.container]
    for release in state.releases:
        if release.status == "starting":
            state = mark_failed(state, release.id)
    if stale and not engine.dry_run:
        checked(executor, containers.remove_containers(engine_of(dep), *stale),
                "removing containers left by an earlier run")
        engine.emit(task, "info", f"removed {len(stale)} container(s) left by an earlier run")
    if state != target.state and not engine.dry_run:
        checked(executor, states.write_state(dep.name, format_state(state)), "writing state")
    lane.state, lane.previous = state, live
    lane.values["running"] = {c.name for c in target.containers if c.state == "running"}


def _served_port(site: str) -> int | None:
    for word in site.split():
        if word.startswith("127.0.0.1:") and word.split(":")[1].isdigit():
            return int(word.split(":")[1])
    return None


def ship(engine, lane, task) -> None:
    from ..ship import ship_image
    artifact = lane.values.get("artifact") or engine.artifacts[lane.deployment.artifact.name]
    if engine.dry_run:
        engine.emit(task, "info", f"would ship {artifact.image} unless the target has it")
        return
    done = ship_image(artifact, engine.executor(task.host), on_progress=lambda sent, total:
                      engine.emit(task, "progress", done=sent, total=total))
    engine.emit(task, "info", f"sent {done.bytes} bytes" if done.shipped else
                "image already there")


def start(engine, lane, task) -> None:
    """Start the new release beside the live one, on a free port of 127.0.0.1."""
    dep, runtime = lane.deployment, lane.deployment.runtime.value
    artifact = lane.values.get("artifact") or engine.artifacts[dep.artifact.name]
    executor = engine.executor(task.host)
    release_id = new_release_id(artifact.digest, datetime.now(timezone.utc))
    env = engine.env.get(dep.name, dict(dep.runtime.env))
    config = fingerprint(dep, artifact.digest, env)
    live = lane.previous
    if live and live.config == config and live.container in lane.values.get("running", ()) \
            and not engine.rollback:
        lane.values["noop"] = True
        lane.release = live
        engine.emit(task, "info", f"{live.id} is live with this artifact and config: "
                    "nothing to do")
        return
    env_file = states.env_file_path(dep.name, release_id)
    started = checked(executor, containers.start_release(
        engine_of(dep), deployment=dep.name, release=release_id, digest=artifact.digest,
        image=artifact.digest if artifact.digest.startswith("sha256:") else artifact.image,
        container_port=runtime.port, env=files.render_env_file(env) if env else None,
        env_file=env_file if env else None, volumes=runtime.volumes, options=runtime.options,
        command=runtime.command), "starting the container")
    port, _ = (20000, "") if engine.dry_run else containers.parse_started(started.stdout)
    lane.release = Release(release_id, artifact.digest, artifact.image or "", artifact.commit,
                           artifact.ref, datetime.now(timezone.utc).isoformat(
                               timespec="seconds"), "starting", port,
                           containers.container_name(dep.name, release_id), config)
    lane.state = add_release(lane.state, lane.release)
    _save(engine, lane, task)
    engine.emit(task, "info", f"{lane.release.container} on 127.0.0.1:{port}")


def fingerprint(dep, digest: str, env: dict) -> str:
    """What makes two releases the same: artifact, env (secrets included), runtime, proxy."""
    import hashlib
    runtime = dep.runtime.value
    values = [digest, sorted((k, v.reveal() if hasattr(v, "reveal") else v)
                             for k, v in env.items()),
              runtime.port, list(runtime.volumes), list(runtime.options), runtime.command,
              list(dep.domains), repr(dep.proxy)]
    return hashlib.sha256(repr(values).encode()).hexdigest()[:16]


def health(engine, lane, task) -> None:
    if engine.dry_run or lane.values.get("noop"):
        return
    wait_healthy(engine, lane, task)


def switch(engine, lane, task) -> None:
    """Point Caddy at the new release (validated, graceful reload, restored on failure)."""
    dep, executor = lane.deployment, engine.executor(task.host)
    if lane.values.get("noop"):
        return
    result = executor.run(caddy.switch(dep.name, _site(dep, lane.release.port)))
    if result.exited == 3:
        raise OtterError(caddy.missing_caddy_message(executor.host.name))
    if not result.ok:
        raise OtterError(f"{executor.host.name}: Caddy rejected the new config (exit "
                         f"{result.exited}); the previous config is back: "
                         f"{result.tail(8) or result.tail(8, 'stdout')}")
    lane.state = mark_live(lane.state, lane.release.id)
    _save(engine, lane, task)


def retire(engine, lane, task) -> None:
    """Stop the old release after a drain, prune images past keep_releases."""
    dep, executor = lane.deployment, engine.executor(task.host)
    if lane.values.get("noop"):
        return
    engine_name, old = engine_of(dep), lane.previous
    steps = []
    if old and old.container and old.container != lane.release.container:
        steps += [containers.stop_container(engine_name, old.container,
                                            drain_seconds=DRAIN_SECONDS),
                  containers.remove_containers(engine_name, old.container)]
    pruned = prune_candidates(lane.state, dep.keep_releases)
    remove = images_to_remove(lane.state, pruned)
    for release in pruned:
        lane.state = mark_retired(lane.state, release.id)
    if remove:
        steps.append(containers.prune_images(engine_name, remove, keep=[lane.release.digest]))
    lane.state = trim_history(lane.state)
    steps += [_forget_env_files(dep.name, lane.release.id), _state_write(lane)]
    checked(executor, sequence(*steps, description="retire the old release"), "retiring")


def abort(engine, lane, task) -> None:
    """After a failed start, health or switch: remove the new release; the old keeps serving."""
    if lane.release is None or engine.dry_run or lane.values.get("noop"):
        return
    executor = engine.executor(task.host)
    try:
        lane.state = mark_failed(lane.state, lane.release.id)
        checked(executor, sequence(
            containers.remove_containers(engine_of(lane.deployment), lane.release.container),
            files.remove_file(states.env_file_path(lane.deployment.name, lane.release.id)),
            _state_write(lane), description="remove the failed release"), "cleaning up")
    except OtterError as error:
        engine.emit(task, "info", f"cleanup failed: {error}")


def _forget_env_files(deployment: str, live: str) -> Command:
    """Env files (secrets) of releases whose containers are gone are removed."""
    folder = states.env_file_path(deployment, live).rsplit("/", 1)[0]
    return script('cd "$1" 2>/dev/null || exit 0; for f in *.env; do '
                  '[ "$f" = "$2.env" ] || rm -f -- "$f"; done; exit 0',
                  args=[folder, live], description="remove env files of retired releases")


def _state_write(lane) -> Command:
    return states.write_state(lane.deployment.name, format_state(lane.state))


def _save(engine, lane, task) -> None:
    if not engine.dry_run:
        checked(engine.executor(task.host), _state_write(lane), "writing the release state")
