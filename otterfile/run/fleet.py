"""Deployment(balance="fleet"): the releases each target's proxy forwards to besides its
own, and the `fleet` stage. A switch names the other targets' releases that were live when
the run locked them (they run until the retires); once every target of the run has
switched, the fleet stage points every target's proxy at every target's new release. The
planner makes every retire wait for every fleet task: a failure there retires nothing, so
no proxy ever names a release that was stopped."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from otterfile.errors import OtterError
from otterfile.proxies.base import Fleet

if TYPE_CHECKING:
    from otterfile.hosts import Host
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.run.state import Release


def upstream(host: Host, port: int | str) -> str:
    """How the other targets' proxies name a release of `host` on `port`: ADDRESS:PORT
    (an IPv6 address in brackets)."""
    address = host.private_address()
    if address is None:  # load/balance.py refused such a deployment
        raise OtterError(f"{host.name}: no address the other targets reach it at")
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def fleet_of(lane: Lane) -> Fleet | None:
    """What the lane's proxy site names besides its own release; None: balance="local"."""
    dep = lane.deployment
    if not dep.fleet:
        return None
    check = dep.health_check
    return Fleet(lane.peers, check.path if check else "/",
                 int(check.expect_status) if check else None)


def peers(engine: Engine, lane: Lane, release: Callable[[Lane], Release | None]
          ) -> tuple[str, ...]:
    """The other targets' releases, `release` of each lane, in the deployment's order."""
    dep, out = lane.deployment, []
    for host in dep.hosts:
        if host.name == lane.host.name:
            continue
        chosen = release(engine.lane(dep.name, host.name))
        if chosen is not None and chosen.port is not None:
            out.append(upstream(host, chosen.port))
    return tuple(out)


def live_at_lock(lane: Lane) -> Release | None:
    """A lane's release that serves until the fleet stage: the one live before the run
    (the live one itself when the run changes nothing there)."""
    return lane.release if lane.noop else lane.previous


def new_live(lane: Lane) -> Release | None:
    """A lane's release after its switch."""
    return lane.release


def update(engine: Engine, lane: Lane, task: Task) -> None:
    """Every target has switched: this target's proxy names its own live release and every
    other target's new one (a graceful reload when the list changed; nothing otherwise)."""
    from otterfile.run.switching import site_for, site_of, switch_failed  # it imports this
    dep = lane.deployment
    if lane.release is None or lane.release.port is None:
        raise OtterError(f"{task.host}: no live release to forward to")
    lane.peers = peers(engine, lane, new_live)
    site = site_for(lane, lane.release.port)
    command = replace(lane.proxy.switch(dep.proxy, site, site_of(lane, lane.release.port),
                                        engine.project.folder),
                      description=f"point {lane.proxy.name} at every target's release of "
                                  f"{dep.name}")
    result = engine.executor(task.host).run(command)
    if not result.ok:
        raise OtterError(switch_failed(lane.host.name, lane.proxy, lane.release.id, result)
                         + "; no old release is retired")
    reloaded = [line for line in result.stdout.splitlines() if line.startswith("switched ")]
    engine.emit(task, "info", "forwards to " + ", ".join((f"127.0.0.1:{lane.release.port}",
                                                          *lane.peers))
                + (f" ({reloaded[-1].rpartition('(')[2]}" if reloaded else ""))
