"""`otter plan --check`: what a run would move on each target, asked before anything moves.

The artifacts are acquired on the controller (a build or a fetch into its cache: nothing
changes on a server); then each target answers, read-only and in one round trip, the
target read (run/target.py) of every deployment planned there and whether its proxy is
installed and running; the run's own rules judge it (check_judge.py). No lock is taken and
nothing is written on a target. Written over `Runtime` and `Proxy` only.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from otterfile.command import Command
from otterfile.commands import parts as parts_of
from otterfile.errors import OtterError
from otterfile.plan.graph import Graph
from otterfile.proxies import install
from otterfile.run import target
from otterfile.run.check_judge import TargetCheck, judge
from otterfile.run.drift import drifted, read as read_files
from otterfile.run.engine import Engine
from otterfile.run.fleet import peers
from otterfile.run.lane import Lane
from otterfile.run.state import Release
from otterfile.run.stages import acquire

MARK = "--- otter:check"
WORKERS = 16  # targets asked at once


def check(engine: Engine, graph: Graph, *, drift: bool = False) -> list[TargetCheck]:
    """Acquire on the controller, then ask every target of `graph` at once, one round
    trip each; the engine's executors stay open (the caller closes the engine). Every
    target is read before any is judged: a fleet's site (balance="fleet") names the other
    targets' releases. With `drift`, each answer also says what differs (run/drift.py)."""
    notes = acquire_all(engine, graph)
    by_host: dict[str, list[Lane]] = {}
    for task in graph.order():
        if task.stage == "lock" and task.host and task.deployment:
            by_host.setdefault(task.host, []).append(engine.lane(task.deployment, task.host))
    with ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(by_host)))) as pool:
        read = dict(pool.map(lambda item: (item[0], read_host(engine, item[0], item[1], drift)),
                             by_host.items()))
    fleet_peers(engine, by_host, read)
    found = [judge_host(engine, host, lanes, read[host], notes, drift)
             for host, lanes in by_host.items()]
    return [one for host in found for one in host]


def acquire_all(engine: Engine, graph: Graph) -> dict[str, str]:
    """Every artifact acquired on the controller; one built on a build host is not (that
    would change a server): its note says so, by artifact name."""
    notes = {}
    for task in graph.order():
        if task.stage != "acquire":
            continue
        if task.host is not None:
            notes[task.artifact or ""] = f"built on {task.host} at deploy (not by --check)"
            continue
        acquire(engine, task)
    return notes


Sections = dict[str, tuple[int, str]]


def read_host(engine: Engine, host: str, lanes: list[Lane],
              drift: bool = False) -> Sections | OtterError:
    """One round trip to `host` for all its lanes: what it answered, or why it did not."""
    try:
        result = engine.executor(host).run(read_command(engine, lanes, drift=drift))
        if not result.ok:
            raise OtterError(f"reading what it has failed (exit {result.exited}): "
                             f"{result.tail(4)}")
        return parse_sections(result.stdout)
    except OtterError as error:
        return error


def fleet_peers(engine: Engine, by_host: dict[str, list[Lane]],
                read: dict[str, Sections | OtterError]) -> None:
    """Each fleet lane's `peers`: the other targets' releases their proxies serve now."""
    served: dict[tuple[str, str], int] = {}
    for host, lanes in by_host.items():
        sections = read[host]
        for lane in lanes:
            if lane.deployment.fleet and not isinstance(sections, OtterError):
                dep = lane.deployment
                reading = target.parse(dep, host, sections.get(f"{dep.name}/read", (0, ""))[1])
                port = target.served_port(dep, reading)
                if port is not None:
                    served[(dep.name, host)] = port
    for lanes in by_host.values():
        for lane in lanes:
            if lane.deployment.fleet:
                lane.peers = peers(engine, lane, lambda other: _served(served, other))


def _served(served: dict[tuple[str, str], int], lane: Lane) -> Release | None:
    port = served.get((lane.deployment.name, lane.host.name))
    return None if port is None else Release("served", "", port=port)


def judge_host(engine: Engine, host: str, lanes: list[Lane], sections: Sections | OtterError,
               notes: dict[str, str], drift: bool = False) -> list[TargetCheck]:
    """Every lane of `host` judged from what it answered; an unreachable host is one error."""
    address = engine.host(host).address
    try:
        if isinstance(sections, OtterError):
            raise sections
        found = [judge(engine, lane, sections, notes) for lane in lanes]
        return [drifted(engine, lane, sections, one) for lane, one in zip(lanes, found)] \
            if drift else found
    except OtterError as error:  # one host's failure never hides the others
        text = str(error)
        return [TargetCheck(host, address, error=text if text.startswith(host) else
                            f"{host}: {text}")]


def read_command(engine: Engine, lanes: list[Lane], *, drift: bool = False) -> Command:
    """Every read for `lanes` in one script: per lane, whether the proxy is installed and
    running, then the target read (run/target.py) with the key read, not made, and the
    probe by digest alone; each part's output ends with a marker line naming the part and
    its exit status (see `parse_sections`); with `drift`, the files otter generated too."""
    parts: dict[str, Command] = {}
    for lane in lanes:
        dep, rt, px, name = lane.deployment, lane.runtime, lane.proxy, lane.deployment.name
        if dep.proxied:
            parts[f"{name}/proxy"] = install.status(px.installed)
        artifact, probe, layers = engine.artifacts.get(dep.artifact.name), None, None
        if artifact is not None and artifact.digest and artifact.pull is None:
            # by digest alone: a probe with a name would tag the image (a write)
            probe = rt.probe(replace(artifact, image=None))
            layers = rt.layers() if artifact.path is None else None
        parts[f"{name}/read"] = target.command(dep, key=target.key_read(dep), probe=probe,
                                               layers=layers,
                                               files=read_files(engine, lane) if drift else None)
    return parts_of.in_parts(parts, MARK, "what the target has (read-only)")


def parse_sections(stdout: str) -> dict[str, tuple[int, str]]:
    """Part name -> (exit status, output) from what `read_command` printed."""
    return parts_of.parse(stdout, MARK)


def failed(checks: list[TargetCheck]) -> bool:
    return any(c.error for c in checks)
