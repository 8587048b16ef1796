"""Run deployments: resolve secrets, build the engine, run the graph, roll back on request.

The CLI calls these and prints; the policy (secrets first, parallel counts, rolling back
switched targets) lives here.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields, replace
from typing import Callable, Sequence

from ..errors import OtterfileError
from ..graph import Graph
from ..plan import plan, task_id
from ..project import DeploymentDef, Project
from ..runner import OK, Event, Outcome, run_graph
from ..secret_store import SecretStore
from ..secrets import Secret
from .engine import Engine


@dataclass(frozen=True)
class Finished:
    """One graph run: what ran and how it ended."""

    graph: Graph
    outcome: Outcome
    seconds: float


OnFinished = Callable[[Finished], None]


def check_deployable(deployments: Sequence[DeploymentDef]) -> None:
    """What this version cannot deploy is an Otterfile error, before anything runs."""
    for dep in deployments:
        if dep.unsupported is not None:
            raise dep.unsupported


def resolve_env(project: Project, deployments: Sequence[DeploymentDef]) -> dict[str, dict]:
    """Every deployment's env with secrets read; a missing one fails before any run."""
    store = SecretStore(project.folder)
    out = {}
    for dep in deployments:
        env = {}
        for key, value in dep.runtime.env:
            if isinstance(value, Secret):
                try:
                    value = store.resolve(value)
                except OtterfileError as error:
                    raise _located(error, project, dep.runtime.line or dep.line,
                                   f"deployment {dep.name}/runtime/env/{key}")
            env[key] = value
        out[dep.name] = env
    return out


def resolve_sources(project: Project, deployments: Sequence[DeploymentDef]) -> dict:
    """Artifact sources whose secret fields (a repository token, a registry password)
    are read; by name."""
    store = SecretStore(project.folder)
    out = {}
    for dep in deployments:
        source, read = dep.artifact.source, {}
        for field in fields(source):
            value = getattr(source, field.name)
            if isinstance(value, Secret):
                try:
                    read[field.name] = store.resolve(value)
                except OtterfileError as error:
                    raise _located(error, project, dep.artifact.line or dep.line,
                                   f"deployment {dep.name}/artifact/{field.name}")
        if read:
            out[dep.artifact.name] = replace(source, **read)
    return out


def _located(error: OtterfileError, project: Project, line: int, path: str) -> OtterfileError:
    """A secret's error at the Otterfile line that asks for it, unless it came from the
    secrets file (then that file's own line)."""
    if error.file:
        return OtterfileError(error.message, file=error.file, line=error.line)
    return OtterfileError(error.message, file=str(project.file), line=line, path=path)


def parallel_of(deployments: Sequence[DeploymentDef]) -> int | None:
    """The smallest `parallel` of the deployments, percentages taken of their hosts."""
    counts = []
    for dep in deployments:
        value, hosts = dep.parallel, max(1, len(dep.hosts))
        if isinstance(value, str):
            value = max(1, math.ceil(hosts * int(value[:-1]) / 100))
        if value:
            counts.append(value)
    return min(counts) if counts else None


def execute(graph: Graph, engine: Engine, parallel: int | None) -> Finished:
    """Run the graph and close every connection, whatever happened."""
    started = time.monotonic()
    try:
        outcome = run_graph(graph, engine.perform, engine.report, parallel=parallel,
                            cancel=engine.cancel)
    finally:
        engine.close()
    return Finished(graph, outcome, time.monotonic() - started)


def deploy(project: Project, name: str, engine_for: Callable[..., Engine], *,
           hosts: list[str] | None, on_finished: OnFinished) -> bool:
    """`otter run`: deploy, then (on_failure="rollback") return switched targets. True: ok."""
    deployments = project.select(name)
    check_deployable(deployments)
    env = resolve_env(project, deployments)
    engine = engine_for(env=env, sources=resolve_sources(project, deployments))
    done = execute(plan(project, [name], hosts=hosts), engine, parallel_of(deployments))
    on_finished(done)
    rolled = _roll_back_switched(project, deployments, done.outcome, engine, engine_for,
                                 on_finished)
    return done.outcome.ok and not rolled


def rollback(project: Project, name: str, engine_for: Callable[..., Engine], *,
             hosts: list[str] | None, to: str | None, on_finished: OnFinished) -> bool:
    """`otter rollback`: make the previous (or `to`) release live again. True: ok."""
    deployments = project.select(name)
    check_deployable(deployments)
    engine = engine_for(env=resolve_env(project, deployments), rollback=True, rollback_to=to)
    done = execute(plan(project, [name], hosts=hosts, rollback=True), engine,
                   parallel_of(deployments))
    on_finished(done)
    return done.outcome.ok


def run_only(project, name: str, step: str, engine_for, *, hosts: list[str] | None,
             on_finished) -> bool:
    """`otter run NAME --only STEP`: the step alone under each target's deploy lock."""
    from ..plan import plan_step
    deployments = project.select(name)
    check_deployable(deployments)
    graph = plan_step(project, name, step, hosts=hosts)
    engine = engine_for(env=resolve_env(project, deployments), only=True)
    done = execute(graph, engine, None)
    on_finished(done)
    return done.outcome.ok


def _roll_back_switched(project, deployments, outcome: Outcome, engine: Engine,
                        engine_for, on_finished: OnFinished) -> bool:
    """on_failure="rollback": when a target failed, the targets this run switched go back
    to the release that was live before. Returns whether a rollback ran."""
    if outcome.ok or outcome.interrupted:
        return False
    rolled = False
    for dep in (d for d in deployments if d.on_failure == "rollback"):
        switched = [h.name for h in dep.hosts
                    if outcome.status.get(task_id(dep.name, "switch", h.name)) == OK
                    and _switched(engine, dep, h.name)]
        if not switched:
            continue
        engine.report(Event("info", None, message=f"{dep.name}: a target failed; rolling "
                            f"back {', '.join(switched)}"))
        back = engine_for(env=engine.env, rollback=True)
        on_finished(execute(plan(project, [dep.name], hosts=switched, rollback=True), back,
                            None))
        rolled = True
    return rolled


def _switched(engine: Engine, dep: DeploymentDef, host: str) -> bool:
    lane = engine.lanes.get((dep.name, host))
    return bool(lane and lane.previous is not None and not lane.noop)
