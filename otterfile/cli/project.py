"""`otter list`, `graph`, `init`: what the Otterfile says; nothing reaches a server
(`otter plan` is cli/plan.py)."""
from __future__ import annotations

from pathlib import Path

import click

from otterfile.errors import OtterError
from otterfile.cli.common import emit, load_project, split_targets

SAMPLE = Path(__file__).resolve().parent.parent / "templates" / "Otterfile.py.sample"


@click.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """What the Otterfile declares."""
    from otterfile.report.tables import table
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
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--example", is_flag=False, flag_value="", default=None, metavar="NAME",
              help="Copy the runnable example NAME beside the Otterfile; alone, list them.")
@click.pass_context
def init(ctx: click.Context, force: bool, example: str | None) -> None:
    """Write a starter Otterfile.py from Otterfile.py.sample, or copy an example."""
    target = Path(ctx.obj["file"])
    if example is not None:
        return _example(ctx, example, target.resolve().parent, force)
    if target.exists() and not force:
        raise OtterError(f"{target} exists (use --force to overwrite)")
    target.write_text(SAMPLE.read_text())
    if ctx.obj["json"]:
        return emit(ctx, {"event": "wrote", "path": str(target)})
    click.echo(f"wrote {target}: edit it, then `otter plan NAME` and `otter run NAME`")


def _example(ctx: click.Context, name: str, into: Path, force: bool) -> None:
    from otterfile.cli import examples
    from otterfile.report.tables import table
    if not name:
        known = examples.listed()
        if ctx.obj["json"]:
            for each, about in known.items():
                emit(ctx, {"event": "example", "name": each, "about": about})
            return
        click.echo(table(["example", "what it shows"], [[n, a] for n, a in known.items()]))
        click.echo("copy one with `otter init --example NAME`")
        return
    written = examples.copy(name, into, force)
    if ctx.obj["json"]:
        return emit(ctx, {"event": "wrote", "example": name, "paths": [str(p) for p in written]})
    click.echo(f"wrote example {name} ({len(written)} files) into {into}: read Otterfile.py's "
               "docstring, then `otter plan NAME` and `otter run NAME`")
