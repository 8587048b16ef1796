"""The `otter` command line. Imports stay light: heavy libraries load when used."""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from .errors import OtterError


class OtterGroup(click.Group):
    """Turns OtterError into a clean message and its exit code (traceback with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OtterError as error:
            if ctx.meta.get("otter.debug"):
                traceback.print_exc()
            click.echo(f"error: {error}", err=True)
            ctx.exit(error.exit_code)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # `otter plan x | head`: the reader left, nothing to say
            import os
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except Exception:
            if ctx.meta.get("otter.debug"):
                raise
            click.echo(f"error: {traceback.format_exc(limit=0).strip()} "
                       "(run with --debug for the traceback)", err=True)
            ctx.exit(1)


@click.group(cls=OtterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--file", "file", default="Otterfile.py", show_default=True,
              help="The Otterfile to read.")
@click.option("--debug", is_flag=True, help="Show tracebacks and every command.")
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line (for CI).")
@click.version_option(package_name="otterfile", prog_name="otter")
@click.pass_context
def main(ctx: click.Context, file: str, debug: bool, as_json: bool) -> None:
    """otter deploys artifacts to your own servers from a Python Otterfile."""
    ctx.meta["otter.debug"] = debug
    ctx.obj = {"file": file, "debug": debug, "json": as_json}


def load_project(ctx: click.Context):
    """Load and evaluate the Otterfile named by -f."""
    from .evaluate import evaluate
    from .loader import load
    return evaluate(load(ctx.obj["file"]))


def reporter(ctx: click.Context):
    from .report import ConsoleReporter, JsonReporter
    if ctx.obj["json"]:
        return JsonReporter()
    return ConsoleReporter(verbose=ctx.obj["debug"])


def split_targets(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@main.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """What the Otterfile declares."""
    from .report import table
    project = load_project(ctx)
    rows = [["artifact", a.name, type(a.source).__name__.lower(), ""]
            for a in project.artifacts.values()]
    rows += [["runtime", r.name, type(r.value).__name__.lower(), f"port {r.value.port}"]
             for r in project.runtimes.values()]
    rows += [["target", t.name, ", ".join(h.name for h in t.hosts), ""]
             for t in project.targets.values()]
    rows += [["deployment", d.name, ", ".join(t.name for t in d.targets), " ".join(d.domains)]
             for d in project.deployments.values()]
    rows += [["step", s.name, f"{s.anchor[0]} {s.anchor[1]} on {s.on}", s.deployment or ""]
             for s in project.steps]
    click.echo(table(["kind", "name", "what", "detail"], rows))


@main.command()
@click.argument("name")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.pass_context
def plan(ctx: click.Context, name: str, targets: str | None) -> None:
    """The task graph and the commands per target; nothing runs."""
    from .plan import describe_graph, plan as make_plan
    from .stages import describe
    project = load_project(ctx)
    graph = describe_graph(make_plan(project, [name], hosts=split_targets(targets)),
                           project, describe)
    for where in dict.fromkeys(t.where for t in graph.order()):
        click.echo(f"{where}:")
        for task in (t for t in graph.order() if t.where == where):
            after = f"  (after {', '.join(task.deps)})" if ctx.obj["debug"] and task.deps else ""
            click.echo(f"  {task.label}{after}")
            for command in task.commands:
                shown = command.description if command.shell else command.display()
                click.echo(f"    $ {shown}")
                if ctx.obj["debug"] and command.shell:
                    click.echo(f"      {command.display()}")


@main.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "mermaid"]), default="text",
              show_default=True)
@click.option("--targets", help="Only these hosts (comma separated).")
@click.pass_context
def graph(ctx: click.Context, name: str, fmt: str, targets: str | None) -> None:
    """The task graph as text, Graphviz dot or Mermaid."""
    from .plan import plan as make_plan
    from .picture import draw
    project = load_project(ctx)
    click.echo(draw(make_plan(project, [name], hosts=split_targets(targets)), fmt), nl=False)


@main.command()
@click.option("--force", is_flag=True, help="Overwrite an existing Otterfile.py.")
@click.pass_context
def init(ctx: click.Context, force: bool) -> None:
    """Write a starter Otterfile.py from Otterfile.py.sample."""
    target = Path(ctx.obj["file"])
    if target.exists() and not force:
        raise OtterError(f"{target} exists (use --force to overwrite)")
    sample = Path(__file__).parent / "templates" / "Otterfile.py.sample"
    target.write_text(sample.read_text())
    click.echo(f"wrote {target}: edit it, then `otter plan NAME` and `otter run NAME`")


from . import cli_run  # noqa: E402  (registers run, exec, status, rollback, logs, unlock)

del cli_run

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
