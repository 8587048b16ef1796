"""Schedules on a target (load/schedule.py checks them): a systemd service and timer per
schedule, `otter-<deployment>:<schedule>.{service,timer}`.

The service runs the command once in one release, named in its unit (its image, or its
folder): a deploy points it at the new release in retire's round trip, before the old one
stops, so a run that started before keeps its release to the end and the next one gets the
new. The timers are placed by the `schedules` task of each target, after every target's
lane has ended: on="all" on each, on="one" on the first target in the deployment's order
that is up in this run, and removed from the others this run reaches. The units of a
schedule the Otterfile no longer declares (the target read lists them) go in retire's
round trip, or in one of their own when the run is a no-op (`drop_stale`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from otterfile.command import Command, cmd, script
from otterfile.commands import state as states
from otterfile.render import render
from otterfile.run import kinds
from otterfile.run.results import checked
from otterfile.run.state import Release, check_name, state_dir
from otterfile.runtimes.base import ScheduleSpec
from otterfile.scripts import load

if TYPE_CHECKING:
    from otterfile.load.project import DeploymentDef
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane

UNIT_DIR = "/etc/systemd/system"
INSTALL_SCRIPT = load("schedule/install.sh")
STATUS_SCRIPT = load("schedule/status.sh")
LIST_SCRIPT = load("schedule/list.sh")
DROP_SCRIPT = load("schedule/drop.sh")
REMOVED = "schedule removed "  # drop.sh's line per schedule whose units it removed
Units = list[tuple[str, str, str]]  # (schedule, service text, timer text)


def unit_name(deployment: str, schedule: str) -> str:
    """`otter-<deployment>:<schedule>` (no release unit has a ':', no name either)."""
    return f"otter-{check_name(deployment)}:{check_name(schedule, 'schedule')}"


def leftovers_glob(deployment: str) -> str:
    """Every schedule unit of the deployment on a target, as a shell glob: a no-op decided on
    the target (run/noop.py) is refused while any is there, so retire removes those dropped."""
    return f"{UNIT_DIR}/otter-{check_name(deployment)}:*"


def lock_dir(deployment: str) -> str:
    """Where each schedule's flock file is (removed with the deployment's state)."""
    return f"{state_dir(deployment)}/schedules"


def units(dep: DeploymentDef, release: Release, has_env: bool) -> Units:
    """Each schedule's service (run in `release`, by the runtime that started it) and timer."""
    runtime = kinds.runtime_of(dep, release)
    out = []
    for sched in dep.schedules:
        spec = ScheduleSpec(dep.name, sched.name, release.id, release.digest, release.image,
                            sched.words,
                            states.env_file_path(dep.name, release.id) if has_env else None,
                            f"{lock_dir(dep.name)}/{sched.name}.lock")
        timer = render("schedule_timer.j2", deployment=dep.name, schedule=sched.name,
                       when=sched.when.replace("%", "%%"), calendar=sched.calendar,
                       service=f"{unit_name(dep.name, sched.name)}.service")
        out.append((sched.name, runtime.schedule_service(dep.runtime.value, spec).rstrip("\n"),
                    timer.rstrip("\n")))
    return out


def install(deployment: str, made: Units, places: dict[str, str], *, prune: bool) -> Command:
    """One round trip writing `made` and placing each timer ("on", "off", "keep"); `prune`:
    the units of schedules not in `made` are removed. Prints `timer NAME`, `removed NAME`."""
    args = [UNIT_DIR, lock_dir(deployment), deployment, "1" if prune else "0"]
    for name, service, timer in made:
        args += [name, service, timer, places.get(name, "keep")]
    what = ", ".join(f"{n} ({places.get(n, 'keep')})" for n, _, _ in made) or "none"
    writes = [(f"{UNIT_DIR}/{unit_name(deployment, n)}.{kind}", text) for n, service, timer
              in made for kind, text in (("service", service), ("timer", timer))
              if places.get(n, "keep") != "off"]
    return script(INSTALL_SCRIPT, args=args, writes=tuple(writes),
                  description=f"schedules of {deployment}: {what}")


def remove(deployment: str) -> Command:
    """Every schedule unit of the deployment stopped and removed (a run in progress ends)."""
    return install(deployment, [], {}, prune=True)


def listing(deployment: str) -> Command:
    """Read-only: the schedules `deployment` has units of, a name a line (the target read's
    `--- otter:schedules` part, run/target.py)."""
    return script(LIST_SCRIPT, args=[UNIT_DIR, deployment],
                  description=f"schedule units of {deployment}")


def undeclared(dep: DeploymentDef, found: tuple[str, ...] | None) -> list[str]:
    """The schedules a target has units of that `dep` no longer declares (None: not read)."""
    declared = {s.name for s in dep.schedules}
    return sorted(n for n in found or () if n not in declared)


def drop(deployment: str, names: list[str]) -> Command:
    """The units of the schedules `names` stopped and removed (a run in progress ends on
    its own); prints `schedule removed NAME` for each."""
    return script(DROP_SCRIPT, args=[UNIT_DIR, lock_dir(deployment), deployment, *names],
                  description=f"remove the schedules {deployment} no longer declares: "
                              f"{', '.join(names)}")


def drop_stale(engine: Engine, lane: Lane, task: Task) -> None:
    """A no-op run's own round trip removing the units of undeclared schedules."""
    stale = undeclared(lane.deployment, lane.schedules)
    if not stale or engine.cancel.is_set():
        return
    done = checked(engine.executor(task.host), drop(lane.deployment.name, stale),
                   "removing undeclared schedules")
    said(engine, task, done.stdout)


def said(engine: Engine, task: Task, stdout: str) -> None:
    """The `schedule removed NAME` lines of a drop, said once."""
    gone = [line.removeprefix(REMOVED) for line in stdout.splitlines()
            if line.startswith(REMOVED)]
    if gone:
        engine.emit(task, "info", "schedules no longer declared, removed: " + ", ".join(gone))


def at_switch(engine: Engine, lane: Lane) -> list[Command]:
    """The units of schedules no longer declared removed, the services pointed at the new
    release, timers as they are: retire's first steps."""
    dep = lane.deployment
    stale = undeclared(dep, lane.schedules)
    steps = [drop(dep.name, stale)] if stale else []
    if not dep.schedules or lane.release is None:
        return steps
    return steps + [install(dep.name, units(dep, lane.release, _has_env(engine, dep)), {},
                            prune=False)]


def place(engine: Engine, lane: Lane, task: Task) -> None:
    """The `schedules` task: the services on the live release, each timer placed, the units
    of schedules the Otterfile no longer names removed."""
    if engine.cancel.is_set():  # interrupted: what is up is not known, nothing moves
        return
    dep, live = lane.deployment, lane.state.live_release
    made = units(dep, live, _has_env(engine, dep)) if live else []
    first = None if engine.rollback else first_up(engine, dep)
    places = {s.name: "on" if s.on == "all" else "keep" if first is None else
              "on" if first == task.host else "off" for s in dep.schedules}
    result = checked(engine.executor(task.host), install(dep.name, made, places, prune=True),
                     "placing the schedules")
    said = [line for line in result.stdout.splitlines() if line.startswith(("timer ",
                                                                             "removed "))]
    if said:
        engine.emit(task, "info", "schedules: " + ", ".join(said))


def first_up(engine: Engine, dep: DeploymentDef) -> str | None:
    """The first host in `dep`'s order whose lane took its lock and has a live release; None
    when a host before it is not in this run (narrowed by --targets, or not reached yet):
    then on="one" timers stay where they are."""
    for host in dep.hosts:
        lane = engine.lanes.get((dep.name, host.name))
        if lane is None:
            return None
        if lane.lock is not None and lane.failed != "lock" and lane.state.live:
            return host.name
    return None


def _has_env(engine: Engine, dep: DeploymentDef) -> bool:
    return bool(engine.env.get(dep.name, dict(dep.runtime.env)))


def status(deployment: str) -> Command:
    """Each schedule unit's last run and next run (report/schedules.parse)."""
    return script(STATUS_SCRIPT, args=[UNIT_DIR, deployment],
                  description=f"schedules of {deployment}")


def journal(deployment: str, schedule: str, *, follow: bool, tail: int) -> Command:
    """A schedule's runs: systemd's start and end lines and what the command wrote."""
    unit = f"{unit_name(deployment, schedule)}.service"
    return cmd("journalctl", "-u", unit, "-n", str(tail), "--no-pager", "-q", "-o",
               "short-iso", *(["-f"] if follow else []), description=f"runs of {unit}")
