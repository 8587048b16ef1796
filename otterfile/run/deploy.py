"""Run deployments: resolve secrets, build the engine, run the graph, roll back on request.

The CLI calls these and prints; the policy (secrets first, batches, rolling back
switched targets) lives here. Batches are edges of the plan (plan.batches): a batch's locks
wait for every target of the batch before, so a failure there skips the rest.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Sequence

from otterfile.errors import OtterfileError
from otterfile.plan.graph import Graph
from otterfile.plan.planner import batch_size, order, plan, task_id
from otterfile.load.project import DeploymentDef, Project
from otterfile.run.runner import OK, Event, Outcome, Reporter, run_graph
from otterfile.run.secret_store import SecretStore
from otterfile.secrets import Secret
from otterfile.run.engine import Engine, Env


@dataclass(frozen=True)
class Finished:
    """One graph run: what ran and how it ended."""

    graph: Graph
    outcome: Outcome
    seconds: float
    # (host, deployment, release serving, a line saying so) where the run failed after the
    # lock (run/abort.py)
    serving: tuple[tuple[str, str, str | None, str], ...] = ()


OnFinished = Callable[[Finished], None]


def check_deployable(deployments: Sequence[DeploymentDef]) -> None:
    """What this version cannot deploy is an Otterfile error, before anything runs."""
    for dep in deployments:
        if dep.unsupported is not None:
            raise dep.unsupported


def resolve_env(project: Project, deployments: Sequence[DeploymentDef]) -> dict[str, Env]:
    """Every deployment's env with secrets read; a missing one fails before any run."""
    store = SecretStore(project.folder)
    out = {}
    for dep in deployments:
        env: Env = {}
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


def resolve_sources(project: Project, deployments: Sequence[DeploymentDef]) -> dict[str, Any]:
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
    """The smallest `parallel` of the deployments, percentages taken of their hosts: how
    many targets a rollback works on at once (a deploy goes by batches instead)."""
    counts = [batch_size(d.parallel, max(1, len(d.hosts))) for d in deployments]
    return min((c for c in counts if c), default=None)


def execute(graph: Graph, engine: Engine, parallel: int | None,
            report: Reporter | None = None) -> Finished:
    """Run the graph and close every connection, whatever happened; events go to `report`
    (default: the engine's reporter)."""
    started = time.monotonic()
    try:
        outcome = run_graph(graph, engine.perform, report or engine.report, parallel=parallel,
                            cancel=engine.cancel, interrupt=engine.interrupt)
    finally:
        engine.close()
    from otterfile.run.abort import still_live
    return Finished(graph, outcome, time.monotonic() - started,
                    tuple(still_live(engine.lanes.values())))


def deploy(project: Project, name: str, engine_for: Callable[..., Engine], *,
           hosts: list[str] | None, on_finished: OnFinished) -> bool:
    """`otter run`: deploy in batches (one after another, each after the last succeeded),
    then (on_failure="rollback") return switched targets. True: ok."""
    deployments = project.select(name)
    check_deployable(deployments)
    env = resolve_env(project, deployments)
    engine = engine_for(env=env, sources=resolve_sources(project, deployments))
    batches = order(project, [name], hosts=hosts)
    from otterfile.run.contracts import held_back  # migrations: what a deploy holds back
    for line in held_back(project, name, hosts):
        engine.report(Event("info", None, message=line))
    done = execute(plan(project, [name], hosts=hosts), engine, None,
                   announcing(engine.report, project, batches))
    on_finished(done)
    rolled = _roll_back_switched(project, deployments, done.outcome, engine, engine_for,
                                 on_finished)
    return done.outcome.ok and not rolled


def rollback(project: Project, name: str, engine_for: Callable[..., Engine], *,
             hosts: list[str] | None, to: str | None, on_finished: OnFinished,
             with_data: bool = False, force: bool = False) -> bool:
    """`otter rollback`: make the previous (or `to`) release live again (`with_data`: its
    data too, from the snapshot taken before the live release; past a migration's contract
    only with `force`). True: ok."""
    deployments = project.select(name)
    check_deployable(deployments)
    engine = engine_for(env=resolve_env(project, deployments), rollback=True, rollback_to=to,
                        rollback_force=force, rollback_with_data=with_data)
    done = execute(plan(project, [name], hosts=hosts, rollback=True, with_data=with_data),
                   engine, parallel_of(deployments))
    on_finished(done)
    return done.outcome.ok


def run_only(project: Project, name: str, step: str, engine_for: Callable[..., Engine], *,
             hosts: list[str] | None, on_finished: OnFinished) -> bool:
    """`otter run NAME --only STEP`: the step alone under each target's deploy lock."""
    from otterfile.plan.planner import plan_step
    deployments = project.select(name)
    check_deployable(deployments)
    graph = plan_step(project, name, step, hosts=hosts)
    engine = engine_for(env=resolve_env(project, deployments), only=True)
    done = execute(graph, engine, None)
    on_finished(done)
    return done.outcome.ok


def announcing(report: Reporter, project: Project,
               batches: dict[str, list[list[str]]]) -> Reporter:
    """`report`, with a `batch` event before the first target of each batch starts (for
    deployments deployed in more than one batch)."""
    said: set[tuple[str | None, int | None]] = set()
    guard = threading.Lock()  # events come from the runner's and the lanes' threads

    def announce(event: Event) -> None:
        task = event.task
        if event.kind == "start" and task is not None and task.stage == "lock":
            groups = batches.get(task.deployment or "", [])
            found = batch_of(groups, task.host)
            with guard:
                new = found is not None and len(groups) > 1 and \
                    (task.deployment, found) not in said
                said.add((task.deployment, found))
            if new and task.deployment is not None and found is not None:
                report(batch_event(project.deployments[task.deployment], groups, found))
        report(event)
    return announce


def batch_of(batches: list[list[str]], host: str | None) -> int | None:
    """The index of the batch `host` is in, or None."""
    return next((i for i, batch in enumerate(batches) if host in batch), None)


def batch_event(dep: DeploymentDef, batches: list[list[str]], index: int) -> Event:
    """`production: batch 2 of 5: a, b, c, d` (the canary says so), with the data for JSON."""
    canary = dep.canary and index == 0
    hosts = batches[index]
    return Event("batch", None, message=f"{dep.name}: batch {index + 1} of {len(batches)}"
                 f"{' (canary)' if canary else ''}: {', '.join(hosts)}",
                 data={"deployment": dep.name, "batch": index + 1, "of": len(batches),
                       "hosts": list(hosts), "canary": canary})


def _roll_back_switched(project: Project, deployments: Sequence[DeploymentDef],
                        outcome: Outcome, engine: Engine, engine_for: Callable[..., Engine],
                        on_finished: OnFinished) -> bool:
    """on_failure="rollback": when a target failed, the targets this run switched (the
    canary, every earlier batch, and the ones of the failing batch that made it) go back
    to the release that was live before, through the health gate. Returns whether a
    rollback ran."""
    if outcome.ok or outcome.interrupted:
        return False
    rolled = False
    for dep in (d for d in deployments if d.on_failure == "rollback"):
        made_it = [h.name for h in dep.hosts
                   if outcome.status.get(task_id(dep.name, "switch", h.name)) == OK]
        switched = [h for h in made_it if _switched(engine, dep, h)]
        fresh = [h for h in made_it if _fresh(engine, dep, h)]
        if fresh:
            engine.report(Event("info", None, message=f"{dep.name}: {', '.join(fresh)} had "
                                "no release before this run: left on the new one"))
        if not switched:
            continue
        engine.report(Event("info", None, message=f"{dep.name}: a target failed; rolling "
                            f"back {', '.join(switched)} to the release live before this "
                            "run (through the health gate)"))
        back = engine_for(env=engine.env, rollback=True)
        on_finished(execute(plan(project, [dep.name], hosts=switched, rollback=True), back,
                            None))
        rolled = True
    return rolled


def _switched(engine: Engine, dep: DeploymentDef, host: str) -> bool:
    lane = engine.lanes.get((dep.name, host))
    return bool(lane and lane.previous is not None and not lane.noop)


def _fresh(engine: Engine, dep: DeploymentDef, host: str) -> bool:
    lane = engine.lanes.get((dep.name, host))
    return bool(lane and lane.previous is None and not lane.noop)
