"""What `otter plan` shows: the deploy performed against recording executors that answer
as fresh targets, so the commands and generated files are the ones `run` would use, with
placeholders only for the release id and the port picked at start. Nothing runs."""
from __future__ import annotations

from dataclasses import replace

from .command import Command
from .graph import Graph, Task
from .project import Project
from .runner import Event


def describe(project: Project, graph: Graph) -> tuple[Graph, dict[str, str]]:
    """The graph with each task's commands filled in, and a note per task that could not
    be described (a deployment this version cannot deploy, a step's own code)."""
    from .run.engine import planned_engine
    recorded: list[Command] = []
    engine = planned_engine(project, _quiet, on_command=lambda _h, c: recorded.append(c),
                            env={d.name: masked_env(d) for d in project.deployments.values()},
                            sources={a.name: masked_source(a.source)
                                     for a in _artifacts(project)})
    tasks, notes = {}, {}
    try:
        for task in graph.order():
            del recorded[:]
            note = _perform(project, engine, task)
            if note:
                notes[task.id] = note
            tasks[task.id] = replace(task, commands=tuple(recorded))
    finally:
        engine.close()
    return Graph(tasks), notes


def _perform(project: Project, engine, task: Task) -> str:
    dep = project.deployments.get(task.deployment or "")
    if dep is not None and dep.unsupported is not None:
        return f"not deployable: {dep.unsupported.message}"
    if task.stage == "step":
        return "runs the step's Python function"
    try:
        engine.perform(task)
    except Exception as error:  # a plan shows what would fail rather than failing
        return f"would fail: {error}"
    return ""


def masked_env(dep) -> dict:
    """The deployment's env with each secret standing as *** (plans never read secrets)."""
    from .secrets import MASK, Secret
    return {k: Secret(v.name, MASK) if isinstance(v, Secret) else v for k, v in dep.runtime.env}


def masked_source(source):
    """The source with each secret (a token, a password) standing as ***."""
    from dataclasses import fields
    from .secrets import MASK, Secret
    masked = {f.name: Secret(v.name, MASK) for f in fields(source)
              if isinstance(v := getattr(source, f.name), Secret)}
    return replace(source, **masked) if masked else source


def _artifacts(project: Project):
    return {d.artifact.name: d.artifact for d in project.deployments.values()}.values()


def _quiet(_event: Event) -> None:
    """Plans print their own table, not the engine's events."""
