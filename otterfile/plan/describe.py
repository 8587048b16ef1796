"""What `otter plan` shows: the deploy performed against recording executors that answer
as fresh targets, so the commands and generated files are the ones `run` would use, with
placeholders only for the release id and the port picked at start. Nothing runs."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterable

from otterfile.command import Command
from otterfile.plan.graph import Graph, Task
from otterfile.load.project import Project
from otterfile.run.runner import Event
from otterfile.run.state import upstream_dir

if TYPE_CHECKING:
    from otterfile.load.project import ArtifactDef, DeploymentDef
    from otterfile.run.engine import Engine
    from otterfile.secrets import Secret


def describe(project: Project, graph: Graph) -> tuple[Graph, dict[str, str]]:
    """The graph with each task's commands filled in, and a note per task that could not
    be described (a deployment this version cannot deploy, a step's own code)."""
    from otterfile.run.engines import planned_engine
    recorded: list[Command] = []
    engine = planned_engine(project, _quiet, on_command=lambda _h, c: recorded.append(c),
                            env={d.name: masked_env(d) for d in project.deployments.values()},
                            sources={a.name: masked_source(a.source)
                                     for a in _artifacts(project)})
    tasks: dict[str, Task] = {}
    notes: dict[str, str] = {}
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


def _perform(project: Project, engine: Engine, task: Task) -> str:
    dep = project.deployments.get(task.deployment or "")
    if dep is not None and dep.unsupported is not None:
        return f"not deployable: {dep.unsupported.message}"
    if task.stage == "step":
        return step_note(dep, task)
    try:
        engine.perform(task)
    except Exception as error:  # a plan shows what would fail rather than failing
        return f"would fail: {error}"
    return ""


def step_note(dep: DeploymentDef | None, task: Task) -> str:
    """What a plan says of a step: its Python function (what its docstring says first), and
    when it runs if that is once the whole deploy is done (a migration's contract)."""
    step = next((s for s in dep.steps if s.name == task.step), None) if dep else None
    doc = (step.fn.__doc__ or "").strip().splitlines() if step else []
    note = "runs the step's Python function" + (f": {doc[0]}" if doc else "")
    if step is not None and step.after_deploy:
        note += ("; once every target of the run has retired its old release (not after a "
                 "failure or a stopped canary)")
    if step is not None and step.contract:
        note += ("; a contract: not in a run narrowed by --targets, recorded on every "
                 "target (`otter rollback` to an older release then needs --force)")
    return note


def masked_env(dep: DeploymentDef) -> dict[str, str | Secret]:
    """The deployment's env with each secret standing as *** (plans never read secrets)."""
    from otterfile.secrets import MASK, Secret
    return {k: Secret(v.name, MASK) if isinstance(v, Secret) else v for k, v in dep.runtime.env}


def masked_source(source: Any) -> Any:
    """The source with each secret (a token, a password) standing as ***."""
    from dataclasses import fields
    from otterfile.secrets import MASK, Secret
    masked = {f.name: Secret(v.name, MASK) for f in fields(source)
              if isinstance(v := getattr(source, f.name), Secret)}
    return replace(source, **masked) if masked else source


def _artifacts(project: Project) -> Iterable[ArtifactDef]:
    return {d.artifact.name: d.artifact for d in project.deployments.values()}.values()


def _quiet(_event: Event) -> None:
    """Plans print their own table, not the engine's events."""


def targets(project: Project, graph: Graph, notes: dict[str, str],
            debug: bool = False) -> list[dict[str, Any]]:
    """What `otter plan` shows per deployment and host, as data: the runtime's settings
    (secret values masked), the files otter writes (with their text), the proxy site, what
    happens to the live release, and each stage's commands."""
    from otterfile.report.reporters import addresses
    where = addresses(project)
    out = []
    for dep in project.deployments.values():
        for host in dep.hosts:
            tasks = [t for t in graph.order() if t.deployment == dep.name
                     and t.host == host.name and t.stage != "acquire"]  # shown where built
            if not tasks:
                continue
            files = {path: text for t in tasks for c in t.commands for path, text in _files(c)}
            site = dep.proxy_kind.site_path(dep.name)
            out.append({"deployment": dep.name, "host": host.name,
                        "address": where.get(host.name, host.name),
                        "runtime": settings(dep), "files": [
                            {"path": path, "text": text} for path, text in files.items()],
                        "site": {"proxy": dep.proxy_kind.name, "path": site,
                                 "text": files.get(site)},
                        "live": live_release(dep),
                        "maintenance": maintenance_page(dep),
                        "stages": [stage(t, notes, debug) for t in tasks]})
    return out


def stage(task: Task, notes: dict[str, str], debug: bool = False) -> dict[str, Any]:
    """One task of a plan as data; with `debug`, what it waits for and each script whole."""
    out: dict[str, Any] = {"stage": task.label,
                           "commands": [shown(c) for c in task.commands]}
    if task.id in notes:
        out["note"] = notes[task.id]
    if debug:
        out.update(after=list(task.deps),
                   scripts=[c.display() if c.shell else None for c in task.commands])
    return out


def settings(dep: DeploymentDef) -> dict[str, Any]:
    """The runtime's settings from the Otterfile: image, port, volumes, options, command;
    env by name, each secret value as ***."""
    from dataclasses import fields, is_dataclass
    value = dep.runtime.value
    out: dict[str, Any] = {"kind": dep.runtime.kind.name}
    if is_dataclass(value):
        out.update({f.name: getattr(value, f.name) for f in fields(value) if f.name != "env"})
    out["image"] = out.get("image") or dep.artifact.kind.named_image(dep.artifact.source)
    out["env"] = {k: str(v) for k, v in masked_env(dep).items()}
    return {k: v for k, v in out.items() if v not in (None, [], (), {})}


def live_release(dep: DeploymentDef) -> str:
    """What a run does to the release that is live (a fresh target has none)."""
    check = dep.health_check
    health = f"{check.path} answers" if check else "it answers on /"
    if check and check.min_ready_seconds:
        health += f" and keeps answering so for {check.min_ready_seconds:g}s (min_ready_seconds)"
    if dep.recreate:
        return _recreated(dep, health if check else "it still runs 2s after it started")
    if dep.fleet:
        return _fleet(dep, health)
    how = "by a graceful reload" if dep.proxy.switch == "reload" else (
        f"without a reload (RELEASE's port file in {upstream_dir(dep.name)}, read per "
        "request; by a graceful reload where the proxy cannot read it: nginx without njs)")
    return (f"the live release (if any) keeps serving until RELEASE starts beside it on "
            f"127.0.0.1:<port> and {health}; then {dep.proxy_kind.name} switches to RELEASE "
            f"{how}, "
            f"the old release drains {dep.drain_seconds:g}s and is stopped (killed after "
            f"{dep.stop_seconds:g}s); the last {dep.keep_releases} releases are kept for "
            f"rollback. If RELEASE fails, it is removed and the live release stays"
            + ("; other targets switched by this run roll back." if dep.on_failure == "rollback"
               else "."))


def _fleet(dep: DeploymentDef, health: str) -> str:
    """What a balance="fleet" run does to the live release."""
    return (f"the live release (if any) keeps serving until RELEASE starts beside it on "
            f"127.0.0.1:<port> and the private address and {health}; then "
            f"{dep.proxy_kind.name} switches to RELEASE by a graceful reload, still naming "
            "the other targets' live releases; once every target has switched (stage fleet),"
            " each proxy names every target's new release, and only then do the old "
            f"releases drain {dep.drain_seconds:g}s and stop (killed after "
            f"{dep.stop_seconds:g}s); the last {dep.keep_releases} releases are kept for "
            "rollback. If RELEASE fails on any target, no old release is stopped anywhere.")


def _recreated(dep: DeploymentDef, health: str) -> str:
    """What a recreate run does to the live release."""
    held = (f"; {dep.proxy_kind.name} holds requests up to {dep.hold_seconds}s meanwhile"
            if dep.proxied else "")
    return (f"the live release (if any) gets SIGTERM (killed after {dep.stop_seconds:g}s), "
            f"then RELEASE starts on 127.0.0.1:{dep.runtime.kind.port(dep.runtime.value)} "
            f"and {health}{held}; the old release is removed. If RELEASE fails, it is "
            "removed and the old release started again.")


def maintenance_page(dep: DeploymentDef) -> dict[str, Any] | None:
    """What `otter maintenance NAME on` (default page) would make the site pull in, or None
    for a service that is not behind the proxy."""
    if not dep.proxied:
        return None
    from otterfile.proxies.maintenance import Page, include_glob
    return {"path": include_glob(dep.name, dep.proxy_kind.name).rstrip("*"),
            "text": dep.proxy_kind.maintenance(dep.name, Page())}


def shown(command: Command) -> str:
    """A command as a plan prints it: our scripts by their description."""
    return command.description if command.shell and command.description \
        else command.display()


def _files(command: Command) -> list[tuple[str, str | None]]:
    out = list(command.writes)
    if command.file is not None:
        out.insert(0, (command.file, str(getattr(command.stdin, "masked", command.stdin))))
    return out
