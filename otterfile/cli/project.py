"""`otter list`, `plan`, `graph`, `init`: what the Otterfile says; nothing reaches a server."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, cast

import click

from otterfile.errors import OtterError
from otterfile.report.text import human_size
from otterfile.cli.common import emit, load_project, split_targets, warn

if TYPE_CHECKING:
    from otterfile.load.project import Project
    from otterfile.run.check_judge import Move, TargetCheck
    from otterfile.run.runner import Event

SAMPLE = Path(__file__).resolve().parent.parent / "templates" / "Otterfile.py.sample"


@click.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """What the Otterfile declares."""
    from otterfile.report.reporters import table
    project = load_project(ctx)
    rows = [["artifact", a.name, a.kind.name, ""] for a in project.artifacts.values()]
    rows += [["runtime", r.name, r.kind.name, f"port {r.kind.port(r.value)}"]
             for r in project.runtimes.values()]
    rows += [["target", t.name, ", ".join(h.introduced(t.name) for h in t.hosts), ""]
             for t in project.targets.values()]
    rows += [["deployment", d.name, ", ".join(t.name for t in d.targets),
              " ".join(d.domains) + (" (not deployable yet)" if d.unsupported else "")]
             for d in project.deployments.values()]
    rows += [["step", s.name, f"{s.anchor[0]} {s.anchor[1]} on {s.on}", s.deployment or ""]
             for s in project.steps]
    if ctx.obj["json"]:
        for kind, name, what, detail in rows:
            emit(ctx, {"event": "declared", "kind": kind, "name": name, "what": what,
                       "detail": detail or None})
        return
    click.echo(table(["kind", "name", "what", "detail"], rows))


@click.command()
@click.argument("name")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.option("--check", is_flag=True,
              help="Ask each target (read-only, one round trip each) what it has, and say "
                   "what a run would move: bytes to send, release, proxy site. Acquires "
                   "the artifact on the controller first (a build or a fetch into the local "
                   "cache); nothing changes on any server.")
@click.pass_context
def plan(ctx: click.Context, name: str, targets: str | None, check: bool) -> None:
    """Per target: the runtime's settings, the files otter writes (proxy site, unit, env
    file), what happens to the live release, and each stage's commands; nothing runs.

    RELEASE and <port> stand for the release id and the port picked at start.

    With --check instead: a table of what a run would move on each target (the artifact's
    bytes, the release, the proxy site), from what the targets say they have."""
    from otterfile.plan.describe import describe, stage, targets as described
    from otterfile.plan.planner import plan as make_plan
    from otterfile.run.deploy import check_deployable
    project = load_project(ctx)
    if check:
        return _check(ctx, project, name, targets)
    check_deployable(project.select(name))  # exit 2, as `run` refuses it
    graph, notes = describe(project, make_plan(project, [name], hosts=split_targets(targets, project)))
    warn(project, name)
    debug = ctx.obj["debug"]
    builders: dict[str | None, list[dict[str, Any]]] = {}  # the controller, or a build host's acquire
    for task in graph.order():
        if task.host is None or task.stage == "acquire":
            builders.setdefault(task.host, []).append(stage(task, notes, debug))
    plans = _batches(ctx, project, name, split_targets(targets, project),
                     described(project, graph, notes, debug))
    if ctx.obj["json"]:
        for host, stages in builders.items():
            emit(ctx, {"event": "plan", "host": host or "controller",
                       "address": _address(project, host),
                       "stages": stages})
        for one in plans:
            emit(ctx, {"event": "plan", **one})
        return
    for host, stages in builders.items():
        click.echo(f"{host or 'controller'}:")
        _stages(stages)
    for one in plans:
        _target(one)


def _address(project: Project, name: str | None) -> str:
    """Where a build host is reached; the controller is `local`."""
    host = project.host(name) if name is not None else None
    return host.address if host is not None else "local"


def _batches(ctx: click.Context, project: Project, name: str, hosts: list[str] | None,
             plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order targets deploy in: as text (when more than one batch) before the plans;
    in JSON, each target's plan gets `batch` and `of` (and `canary`)."""
    from otterfile.run.deploy import batch_event
    from otterfile.plan.planner import order
    batches = order(project, [name], hosts=hosts)
    for dep_name, groups in batches.items():
        if len(groups) > 1 and not ctx.obj["json"]:
            click.echo(f"{dep_name}: {len(groups)} batches, each once the one before is live "
                       "on all its targets; a failure stops before the next")
            for index in range(len(groups)):
                click.echo("  " + batch_event(project.deployments[dep_name], groups,
                                              index).message.split(": ", 1)[1])
    for one in plans:
        groups = batches.get(one["deployment"], [])
        index = next((i for i, g in enumerate(groups) if one["host"] in g), 0)
        one.update(batch=index + 1, of=len(groups),
                   canary=project.deployments[one["deployment"]].canary and index == 0)
    return plans


def _check(ctx: click.Context, project: Project, name: str, targets: str | None) -> None:
    """`plan --check`: acquire on the controller, ask the targets, print; exit 1 when a
    target did not answer."""
    from otterfile.plan.planner import plan as make_plan
    from otterfile.run.check import check, failed
    from otterfile.run.deploy import check_deployable, resolve_env, resolve_sources
    from otterfile.run.engines import real_engine
    from otterfile.report.text import printable
    deployments = project.select(name)
    check_deployable(deployments)
    graph = make_plan(project, [name], hosts=split_targets(targets, project))
    engine = real_engine(project, _acquire_reporter(ctx),
                         env=resolve_env(project, deployments),
                         sources=resolve_sources(project, deployments))
    try:
        found = check(engine, graph)
    finally:
        engine.close()
    if ctx.obj["json"]:
        for one in found:
            emit(ctx, check_record(one))
    else:
        click.echo(check_table(found))
    for one in found:
        if one.error:
            click.echo(printable(f"error: {one.error}"), err=True)
    if failed(found):
        ctx.exit(1)


def _acquire_reporter(ctx: click.Context) -> Callable[[Event], None]:
    """What acquire says goes to stderr (its build output with --debug); not with --json."""
    from otterfile.report.text import printable

    def report(event: Event) -> None:
        if ctx.obj["json"] or (event.kind == "output" and not ctx.obj["debug"]):
            return
        if event.kind in ("info", "output"):
            click.echo(printable(f"acquire {getattr(event.task, 'artifact', '') or ''}: "
                                 f"{event.message}"), err=True)
    return report


MOVES = {"none": "nothing (has it)", "pull": "pulled by the target",
         "download": "downloaded by the target", "unknown": "unknown"}
RELEASES = {"none": "no-op: {live} stays", "first": "first release starts",
            "new": "new release beside {live}", "replace": "{live} stops, a new one starts",
            "unknown": "unknown until acquired"}
SITES = {"none": "- (own port)", "new": "new site", "changed": "changed",
         "unchanged": "unchanged"}


def check_table(found: list[TargetCheck]) -> str:
    """`plan --check` as a table a person reads: one row per deployment on a target."""
    from otterfile.report.reporters import table
    rows: list[list[str]] = []
    for one in found:
        if one.error:
            rows.append([one.host, "", "unreachable" if "cannot connect" in one.error else "error",
                         "", ""])
            continue
        site = SITES[one.site or "none"] + {"install": " (installs the proxy)",
                                            "start": " (starts the proxy)"}.get(
            one.proxy or "", f" ({one.proxy}: a proxy kind change)" if one.proxy else "")
        if one.switch and one.switch.startswith("reload"):  # said only where it reloads
            site += f"; switches by {one.switch}"
        # an answer (no error) has a move and a release
        move, release = cast("Move", one.move), cast(str, one.release)
        rows.append([one.host, f"{one.artifact} {(one.digest or '')[7:19]}".strip(),
                     _bytes(move, one.note), RELEASES[release].format(live=one.live), site])
    return table(["host", "artifact", "bytes to send", "release", "proxy site"], rows)


def _bytes(move: Move, note: str | None = None) -> str:
    if move.how == "layers":
        size = human_size(move.bytes) if move.bytes is not None else "? bytes"
        return f"{size} ({move.layers_missing} of {move.layers} layers)"
    if move.how == "whole":
        return f"{human_size(move.bytes)} (whole)" if move.bytes is not None else "whole"
    return f"unknown: {note}" if move.how == "unknown" and note else MOVES[move.how]


def check_record(one: TargetCheck) -> dict[str, Any]:
    """One target's `plan --check` answer as a JSON object (docs/json.md)."""
    if one.error:
        return {"event": "check", "host": one.host, "address": one.address,
                "error": one.error}
    move = cast("Move", one.move)  # an answer (no error) has one

    def known(**fields: Any) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if v is not None}
    return {"event": "check", "host": one.host, "address": one.address,
            "deployment": one.deployment,
            "artifact": known(name=one.artifact, digest=one.digest, moves=move.how,
                              bytes=move.bytes, layers_missing=move.layers_missing,
                              layers=move.layers, note=one.note),
            "release": known(action=one.release, live=one.live),
            "proxy": known(site=one.site, path=one.site_path, would=one.proxy,
                           switch=one.switch)}


def _target(one: dict[str, Any]) -> None:
    """One target's plan as text."""
    click.echo(f"{one['host']} ({one['deployment']}):")
    runtime = dict(one["runtime"])
    env = runtime.pop("env", {})
    click.echo(f"  {runtime.pop('kind')}: " + ", ".join(f"{k}={v}" for k, v in runtime.items()))
    if env:
        click.echo("  env: " + " ".join(f"{k}={v}" for k, v in env.items()))
    click.echo(f"  live release: {one['live']}")
    click.echo("  files otter writes:")
    for file in one["files"]:
        click.echo(f"    {file['path']}" + ("" if file["text"] is not None else
                                             "  (release state, written as it changes)"))
        if file["text"] is not None:
            click.echo("\n".join(f"      | {line}" for line in
                                  file["text"].rstrip("\n").splitlines()))
    click.echo("  stages:")
    _stages(one["stages"], indent="    ")


def _stages(stages: list[dict[str, Any]], indent: str = "  ") -> None:
    for one in stages:
        after = f"  (after {', '.join(one['after'])})" if one.get("after") else ""
        click.echo(f"{indent}{one['stage']}{after}")
        if one.get("note"):
            click.echo(f"{indent}  # {one['note']}")
        for command, script in zip(one["commands"], one.get("scripts") or [None] * 99):
            click.echo(f"{indent}  $ {command}")
            if script:
                click.echo(f"{indent}    {script}")


@click.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "mermaid"]), default="text",
              show_default=True)
@click.option("--targets", help="Only these hosts (comma separated).")
@click.pass_context
def graph(ctx: click.Context, name: str, fmt: str, targets: str | None) -> None:
    """The task graph as text, Graphviz dot or Mermaid."""
    from otterfile.plan.picture import draw
    from otterfile.plan.planner import plan as make_plan
    project = load_project(ctx)
    tasks = make_plan(project, [name], hosts=split_targets(targets, project))
    if ctx.obj["json"]:
        for task in tasks.order():
            emit(ctx, {"event": "task", "task": task.id, "stage": task.label,
                       "host": task.where, "deployment": task.deployment,
                       "deps": list(task.deps)})
        return
    click.echo(draw(tasks, fmt), nl=False)


@click.command()
@click.option("--force", is_flag=True, help="Overwrite an existing Otterfile.py.")
@click.pass_context
def init(ctx: click.Context, force: bool) -> None:
    """Write a starter Otterfile.py from Otterfile.py.sample."""
    target = Path(ctx.obj["file"])
    if target.exists() and not force:
        raise OtterError(f"{target} exists (use --force to overwrite)")
    target.write_text(SAMPLE.read_text())
    if ctx.obj["json"]:
        return emit(ctx, {"event": "wrote", "path": str(target)})
    click.echo(f"wrote {target}: edit it, then `otter plan NAME` and `otter run NAME`")
