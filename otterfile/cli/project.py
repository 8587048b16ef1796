"""`otter list`, `plan`, `graph`, `init`: what the Otterfile says; nothing reaches a server."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import OtterError
from .common import load_project, split_targets

SAMPLE = Path(__file__).resolve().parent.parent / "templates" / "Otterfile.py.sample"


@click.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """What the Otterfile declares."""
    from ..report import table
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
    click.echo(table(["kind", "name", "what", "detail"], rows))


@click.command()
@click.argument("name")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.pass_context
def plan(ctx: click.Context, name: str, targets: str | None) -> None:
    """The task graph and the commands and files per target; nothing runs.

    RELEASE and <port> stand for the release id and the port picked at start."""
    from ..describe import describe
    from ..plan import plan as make_plan
    project = load_project(ctx)
    graph, notes = describe(project, make_plan(project, [name], hosts=split_targets(targets, project)))
    for dep in project.select(name):
        for warning in dep.artifact.kind.warnings(dep.artifact.source):
            click.echo(f"warning: artifact {dep.artifact.name}: {warning}", err=True)
    debug = ctx.obj["debug"]
    for where in dict.fromkeys(t.where for t in graph.order()):
        click.echo(f"{where}:")
        for task in (t for t in graph.order() if t.where == where):
            after = f"  (after {', '.join(task.deps)})" if debug and task.deps else ""
            click.echo(f"  {task.label}{after}")
            if task.id in notes:
                click.echo(f"    # {notes[task.id]}")
            for command in task.commands:
                _show(command, debug)


def _show(command, debug: bool) -> None:
    shown = command.description if command.shell and command.description else command.display()
    click.echo(f"    $ {shown}")
    if debug and command.shell:
        click.echo(f"      {command.display()}")
    if command.file is None:
        return
    click.echo(f"      writes {command.file}:")
    text = getattr(command.stdin, "masked", command.stdin)  # secrets as ***
    click.echo("\n".join(f"      | {line}" for line in str(text).rstrip("\n").splitlines()))


@click.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "mermaid"]), default="text",
              show_default=True)
@click.option("--targets", help="Only these hosts (comma separated).")
@click.pass_context
def graph(ctx: click.Context, name: str, fmt: str, targets: str | None) -> None:
    """The task graph as text, Graphviz dot or Mermaid."""
    from ..picture import draw
    from ..plan import plan as make_plan
    project = load_project(ctx)
    click.echo(draw(make_plan(project, [name], hosts=split_targets(targets, project)), fmt), nl=False)


@click.command()
@click.option("--force", is_flag=True, help="Overwrite an existing Otterfile.py.")
@click.pass_context
def init(ctx: click.Context, force: bool) -> None:
    """Write a starter Otterfile.py from Otterfile.py.sample."""
    target = Path(ctx.obj["file"])
    if target.exists() and not force:
        raise OtterError(f"{target} exists (use --force to overwrite)")
    target.write_text(SAMPLE.read_text())
    click.echo(f"wrote {target}: edit it, then `otter plan NAME` and `otter run NAME`")
