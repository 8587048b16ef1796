"""What the commands that run a graph share (`otter run`, `otter rollback`, a preview's run):
the engine factory for the command's options, and the printer of each finished run."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import click

from otterfile.errors import OtterError

if TYPE_CHECKING:
    from otterfile.command import Command
    from otterfile.hosts import Host
    from otterfile.load.project import Project
    from otterfile.report.reporters import Reporters
    from otterfile.run.deploy import Finished, OnFinished
    from otterfile.run.engine import Engine


def engines_for(ctx: click.Context, project: Project, report: Reporters, dry_run: bool,
             lock_wait: float) -> Callable[..., Engine]:
    """A factory of engines for this command: real ones, or recording ones (--dry-run)."""
    from otterfile.run.engines import planned_engine, real_engine
    if not dry_run:
        return lambda **options: real_engine(project, report, lock_wait=lock_wait, **options)
    from otterfile.run.runner import Event

    def show(host: Host, command: Command) -> None:
        shown = command.description if command.shell and command.description \
            else command.display()
        report(Event("info", None, message=f"{host.name}: would run: {shown}"))
    return lambda **options: planned_engine(project, report, show, lock_wait=lock_wait,
                                            **options)


def printer(ctx: click.Context, report: Reporters) -> OnFinished:
    """Prints each finished graph run: a summary table, or a JSON summary event (what
    prints them loads once a run has finished)."""
    def done(finished: Finished) -> None:
        from otterfile.report.json_lines import JsonReporter
        from otterfile.report.tables import summary, summary_hosts
        from otterfile.run.runner import Event
        outcome = finished.outcome
        hosts = report.hosts if isinstance(report, JsonReporter) else {}  # under --json
        if ctx.obj["json"]:
            report(Event("summary", None, "ok" if outcome.ok else "failed",
                         seconds=finished.seconds,
                         data={"tasks": outcome.status,
                               "hosts": summary_hosts(finished.graph, outcome, hosts),
                               "serving": [{"host": h, "deployment": d, "release": r}
                                           for h, d, r, _ in finished.serving]}))
        else:
            report.finish("\n" + summary(finished.graph, outcome) +
                          f"\n\n{'done' if outcome.ok else 'FAILED'} in "
                          f"{finished.seconds:.1f}s" + _serving(finished))
        if outcome.interrupted:
            raise OtterError("interrupted: locks released, connections closed")
    return done


def _serving(finished: Finished) -> str:
    """Where the run failed: what serves there now."""
    return "".join(f"\n{said}" for *_, said in finished.serving)
