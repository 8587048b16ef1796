"""After a failed start, health check or switch: the new release removed (or recorded live
when a switch whose answer was lost went through), and for strategy="recreate" the old
release, stopped for it, started again. What was live stays live."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from otterfile.command import sequence
from otterfile.commands import files, state as states
from otterfile.errors import OtterError
from otterfile.proxies.base import serves_port
from otterfile.run import kinds
from otterfile.run.results import checked
from otterfile.run.state import mark_failed, mark_live
from otterfile.run.state_file import format_state

if TYPE_CHECKING:
    from otterfile.executors.base import Executor
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane


def abort(engine: Engine, lane: Lane, task: Task) -> str | None:
    """After a failed start, health or switch: remove the new release; the old keeps serving
    (strategy="recreate": the old one, stopped for it, is started again; a rollback to the
    release kept for its window switches nothing: what to add to the error is returned)."""
    if lane.reused and lane.release is not None and lane.state.live != lane.release.id:
        return _kept(lane)
    _remove_new(engine, lane, task)
    _remove_early_site(engine, lane, task)
    old = lane.stopped
    if old is None or old.instance is None or lane.state.live != old.id:
        return None
    lane.stopped = None
    try:
        result = engine.executor(task.host).run(
            kinds.runtime_of(lane.deployment, old).resume(old.instance))
        failed = "" if result.ok else f"exit {result.exited}: {result.tail(3)}"
    except OtterError as error:
        failed = str(error)
    said = f"starting the old release {old.id} again failed ({failed})" if failed else \
        f"the old release {old.id} was started again"
    engine.emit(task, "info", said)
    return said


def _kept(lane: Lane) -> str:
    """A rollback to the kept release that failed before its switch: no other release is
    tried; the kept one (otter did not start it) is left to its timer."""
    assert lane.release is not None
    live = lane.previous.id if lane.previous else "the live release"
    return (f"rollback to {lane.release.id} (kept for the rollback window) failed: nothing "
            f"was switched, {live} still serves; {lane.release.id} is left running until "
            "its rollback window ends")


def _remove_new(engine: Engine, lane: Lane, task: Task) -> None:
    """Remove the new release. After a switch whose answer was lost (the connection
    dropped), a release the proxy already serves is recorded live instead: removing it
    would leave nothing to serve."""
    if lane.release is None or lane.noop or lane.state.live == lane.release.id:
        return
    assert lane.release.instance is not None  # the start stage named it
    dep, executor = lane.deployment, engine.executor(task.host)
    try:
        if task.stage == "switch" and not dep.recreate and _serves(executor, lane):
            lane.state = mark_live(lane.state, lane.release.id)
            checked(executor, states.write_state(dep.name, format_state(lane.state)), "writing state")
            engine.emit(task, "info", f"the switch went through after all: "
                        f"{lane.release.id} serves, recorded live (the old release is "
                        "removed by the next run)")
            return
        lane.state = mark_failed(lane.state, lane.release.id)
        rt = kinds.runtime_of(dep, lane.release)
        # recreate: it took requests; they finish as on any stop (a dead one stops at once)
        stop = [rt.stop(lane.release.instance, drain_seconds=0, stop_seconds=dep.stop_seconds)
                ] if dep.recreate and dep.proxied else []
        checked(executor, sequence(
            *stop, rt.remove(lane.release.instance),
            files.remove_file(states.env_file_path(dep.name, lane.release.id)),
            states.write_state(dep.name, format_state(lane.state)), description="remove the failed release"),
            "cleaning up")
    except OtterError as error:
        engine.emit(task, "info", f"cleanup failed: {error}")


def _remove_early_site(engine: Engine, lane: Lane, task: Task) -> None:
    """A first deploy's site, installed beside its start (run/flow._site_early), taken away
    when no release of it went live: the domain is served by nothing again."""
    if lane.site_early is None or not lane.site_early.ok or lane.state.live is not None \
            or lane.site_early.stdout.startswith("the site of "):  # there before: left
        return
    try:
        checked(engine.executor(task.host), lane.proxy.remove(lane.deployment.name),
                "removing the site")
        lane.site_early = None
    except OtterError as error:
        engine.emit(task, "info", f"cleanup failed: {error}")


def _serves(executor: Executor, lane: Lane) -> bool:
    """Whether the proxy serves the new release's port on the target now (one round trip;
    an unanswered question counts as not: removing is what a failed switch does)."""
    dep = lane.deployment
    assert lane.release is not None  # the start stage ran
    result = executor.run(serves_port(lane.proxy, dep.name, lane.release.port))
    return result.ok and result.stdout.strip() == "serves"


def still_live(lanes: Iterable[Lane]) -> list[tuple[str, str, str | None, str]]:
    """(host, deployment, the release that serves there, a line saying so) for each target
    where this run failed after its lock was taken (before it, otter read nothing there)."""
    out = []
    read = [lane for lane in lanes if lane.failed and lane.failed != "lock" and
            "lock" in lane.stage_seconds]
    for lane in sorted(read, key=_in_order):
        live, where = lane.state.live, f"{lane.host.name}: {lane.deployment.name}"
        if live is None:
            said = f"{where}: nothing was live before this run; nothing serves"
        elif lane.release is not None and live == lane.release.id and \
                (lane.previous is None or lane.previous.id != live):
            said = f"{where} serves the new release {live} (the run failed after its switch)"
        elif lane.deployment.recreate:
            said = f"{where} serves {live} again (started again after the new release failed)"
        else:
            said = f"{where} still serves {live} (the new release took no traffic)"
        out.append((lane.host.name, lane.deployment.name, live, said))
    return out


def _in_order(lane: Lane) -> tuple[str, int]:
    """A lane's place: its deployment, then its host in the Otterfile's order."""
    names = [host.name for host in lane.deployment.hosts]
    return lane.deployment.name, names.index(lane.host.name) if lane.host.name in names else 0
