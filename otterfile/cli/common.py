"""What every `otter` command shares: errors to exit codes, loading, reporters."""
from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Any

import click

from otterfile.errors import OtterError

if TYPE_CHECKING:
    from otterfile.load.project import Project
    from otterfile.report.reporters import Reporters


class OtterGroup(click.Group):
    """Turns OtterError into a clean message and its exit code (traceback with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OtterError as error:
            if ctx.meta.get("otter.debug"):
                traceback.print_exc()
            # a target's words may hold escape sequences
            from otterfile.report.text import printable
            json_error(ctx, str(error), error.exit_code)
            click.echo(printable(f"error: {error}"), err=True)
            ctx.exit(error.exit_code)
        except click.exceptions.Exit:
            raise
        except click.ClickException as error:
            json_error(ctx, error.format_message(), error.exit_code)
            raise
        except click.Abort:
            raise
        except BrokenPipeError:  # `otter plan x | head`: the reader left, nothing to say
            import os
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except Exception:
            if ctx.meta.get("otter.debug"):
                raise
            json_error(ctx, traceback.format_exc(limit=0).strip(), 1)
            click.echo(f"error: {traceback.format_exc(limit=0).strip()} "
                       "(run with --debug for the traceback)", err=True)
            ctx.exit(1)


def load_project(ctx: click.Context) -> Project:
    """Load and evaluate the Otterfile named by -f."""
    from otterfile.load.evaluate import evaluate
    from otterfile.load.loader import load
    return evaluate(load(ctx.obj["file"]))


def warn(project: Project, name: str) -> None:
    """What `plan` and `run` warn about, on stderr, once each: an unpinned download, a
    service run as root."""
    said: list[str] = []
    for dep in project.select(name):
        said += [f"artifact {dep.artifact.name}: {w}"
                 for w in dep.artifact.declared.warnings(dep.artifact.source)]
        named = project.runtimes.get(dep.runtime.name) is dep.runtime
        said += [f"runtime {dep.runtime.name}: {w}" if named else
                 f"deployment {dep.name}/runtime: {w}"
                 for w in dep.runtime.declared.warnings(dep.runtime.value)]
        if dep.recreate and dep.rollback_window:  # never two releases at once
            said.append(f"deployment {dep.name}: rollback_window is ignored with "
                        'strategy="recreate": the old release stops before the new starts')
    for line in dict.fromkeys(said):
        click.echo(f"warning: {line}", err=True)


def json_error(ctx: click.Context, message: str, code: int) -> None:
    """Under --json, an error is also an object on stdout (the exit code follows it)."""
    if (ctx.obj or {}).get("json"):
        from otterfile.report.json_lines import json_line
        click.echo(json_line({"event": "error", "message": message, "exit": code}))


def reporter(ctx: click.Context, project: Project | None = None) -> Reporters:
    """Where a run's events go: JSON lines, a live view on a terminal, or plain lines."""
    from otterfile.report.reporters import addresses, console_reporter
    if ctx.obj["json"]:
        from otterfile.report.json_lines import JsonReporter
        return JsonReporter(hosts=addresses(project) if project is not None else None)
    return console_reporter(verbose=ctx.obj["debug"])


def emit(ctx: click.Context, record: dict[str, Any]) -> None:
    """Print one JSON object (docs/json.md) for a command's --json output."""
    from otterfile.report.json_lines import json_line
    click.echo(json_line(record))


def trace_commands() -> None:
    """--debug: each command on stderr as it starts, `HOST $ COMMAND`, secrets as ***."""
    import threading
    from otterfile.executors import trace_commands as trace
    from otterfile.report.text import printable
    lock = threading.Lock()

    def show(host: str, text: str) -> None:
        with lock:
            click.echo(printable(f"{host} $ {text}"), err=True)
    trace(show)


def split_targets(value: str | None, project: Project | None = None) -> list[str] | None:
    """--targets a,b as host names: a host's name, a target's name (its hosts) or an
    address spelled any way (`root@H:22` is the host at h)."""
    from otterfile.host_names import chosen, spelled
    given = [v.strip() for v in value.split(",") if v.strip()] if value else None
    if given is None:
        return None
    if project is None:
        return list(dict.fromkeys(given + [spelled(g) for g in given]))
    hosts = [h for d in project.deployments.values() for h in d.hosts]
    return chosen(given, hosts, {t.name: t.hosts for t in project.targets.values()})
