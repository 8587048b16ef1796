"""The switch stage, written once over `Proxy`: the proxy pointed at the new release in one
round trip with the state writes around it (flow.py has the other stages)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from otterfile.commands import state as states
from otterfile.errors import OtterError
from otterfile.proxies.base import EXIT_INVALID, EXIT_MISSING, EXIT_RELOAD, Site
from otterfile.run.state import mark_live
from otterfile.run.state_file import format_state
from otterfile.run import fleet, handover
from otterfile.run.fleet import fleet_of

if TYPE_CHECKING:
    from otterfile.command import Command
    from otterfile.executors.base import Result
    from otterfile.plan.graph import Task
    from otterfile.proxies.base import Proxy
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane


def site_of(lane: Lane, port: int | str) -> str:
    return lane.proxy.render(lane.deployment.proxy, site_for(lane, port))


def site_for(lane: Lane, port: int | str) -> Site:
    """What the lane's proxy serves with the release on `port` live (a fleet's site names
    it and `lane.peers`: run/fleet.py)."""
    dep = lane.deployment
    listen = None if dep.domains else lane.runtime.port(dep.runtime.value)
    return Site(dep.name, dep.domains, port, listen,
                lane.switching.per_request and not dep.fleet,
                dep.hold_seconds if dep.recreate else 0, fleet_of(lane))


def switch(engine: Engine, lane: Lane, task: Task) -> None:
    """Point the proxy at the new release (the port file renamed; the site validated and
    gracefully reloaded only when its text changed; a stopped proxy started; restored on
    failure), in one round trip with the state writes around it: the new release
    `starting` before (a run killed after the switch is recovered by the served port),
    `live` after. A rollback to the release kept for its window retires, logs and unlocks
    in that round trip too (run/instant.py)."""
    if lane.noop:
        return
    assert lane.release is not None and lane.release.port is not None  # start ran
    command = switch_command(engine, lane)
    if lane.reused and not lane.deployment.fleet:  # a fleet's retires wait for its stage
        from otterfile.run.instant import switch_back
        result = switch_back(engine, lane, task, command)
    else:
        result = engine.executor(task.host).run(command)
    took(engine, lane, task, result)


def switch_command(engine: Engine, lane: Lane, first_write: bool = True) -> Command:
    """The switch's one command: the proxy pointed at lane.release between two state
    writes (a deployment without a proxy: the state written); without `first_write`, the
    state is left as it is before the switch (run/back.py: the target checked it is)."""
    assert lane.release is not None and lane.release.port is not None  # start ran
    dep, px = lane.deployment, lane.proxy
    live = mark_live(lane.state, lane.release.id)
    if not dep.proxied:  # served on its own port of 127.0.0.1: no proxy to switch
        return states.write_state(dep.name, format_state(live))
    if dep.fleet:  # the others' releases live at lock time run on until the retires
        lane.peers = fleet.peers(engine, lane, fleet.live_at_lock)
    site = site_for(lane, lane.release.port)
    command = px.switch(dep.proxy, site, site_of(lane, lane.release.port),
                        engine.project.folder)
    if lane.old_sites:  # the proxy kind changed: the old one hands its ports over
        command = handover.switch(dep, site, command, lane.old_sites)
    return states.write_around(dep.name, command,
                               format_state(lane.state) if first_write else None,
                               format_state(live))


def took(engine: Engine, lane: Lane, task: Task, result: Result) -> None:
    """What the switch's `result` means: lane.release live, said how; or an OtterError."""
    assert lane.release is not None
    dep, px, host = lane.deployment, lane.proxy, engine.executor(task.host).host.name
    live = mark_live(lane.state, lane.release.id)
    if not dep.proxied:
        if not result.ok:
            raise OtterError(f"{host}: writing the release state failed (exit "
                             f"{result.exited}): {result.tail(8) or result.tail(8, 'stdout')}")
        lane.state = live
        return
    if result.ok or states.changed(result):  # the new release serves: never removed now
        lane.state = live
        for line in result.stdout.splitlines():  # how: "switched web to ... (no reload)"
            if line.startswith(("switched ", "started ", "set aside ")):
                engine.emit(task, "info", line)
        if lane.old_sites:
            engine.emit(task, "info", handover.said(dep, lane.old_sites))
            for line in result.stderr.splitlines():
                if line.startswith("otter: warning: "):
                    engine.emit(task, "info", line.removeprefix("otter: "))
        if not result.ok:
            raise OtterError(f"{host}: {px.name} serves {lane.release.id}, but "
                             f"writing the release state failed: {result.tail(3)}")
        return
    raise OtterError(switch_failed(host, px, lane.release.id, result))


def switch_failed(host: str, px: Proxy, release: str, result: Result) -> str:
    """What a failed switch means, naming the host and the proxy; the live release stays."""
    said = result.tail(8) or result.tail(8, "stdout")
    if result.exited == states.EXIT_STATE:
        return f"{host}: writing the release state failed; the proxy was not touched: {said}"
    if result.exited == EXIT_MISSING:
        return px.missing_message(host)
    if result.exited == EXIT_INVALID:
        return (f"{host}: {px.name} rejected the new config (exit {result.exited}); the "
                f"previous config is back: {said}")
    if result.exited == EXIT_RELOAD:
        return (f"{host}: {px.name} did not reload or start, so {release} does not serve; "
                f"the previous config and port file are back: {said}")
    return (f"{host}: switching {px.name} to {release} failed (exit {result.exited}); the "
            f"previous config and port file are back: {said}")
