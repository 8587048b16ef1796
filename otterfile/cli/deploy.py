"""`otter run` and `otter rollback`: the commands that change what targets serve."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import click

from otterfile.errors import OtterError
from otterfile.cli.common import load_project, reporter, split_targets, warn

if TYPE_CHECKING:
    from otterfile.command import Command
    from otterfile.hosts import Host
    from otterfile.load.project import Project
    from otterfile.report.reporters import Reporters
    from otterfile.run.deploy import Finished, OnFinished
    from otterfile.run.engine import Engine


def _engines(ctx: click.Context, project: Project, report: Reporters, dry_run: bool,
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


def _printer(ctx: click.Context, report: Reporters) -> OnFinished:
    """Prints each finished graph run: a summary table, or a JSON summary event."""
    from otterfile.report.json_lines import JsonReporter
    from otterfile.report.tables import summary, summary_hosts
    from otterfile.run.runner import Event

    def done(finished: Finished) -> None:
        outcome = finished.outcome
        hosts = report.hosts if isinstance(report, JsonReporter) else {}  # under --json
        if ctx.obj["json"]:
            report(Event("summary", None, "ok" if outcome.ok else "failed",
                         seconds=finished.seconds,
                         data={"tasks": outcome.status,
                               "hosts": summary_hosts(finished.graph, outcome, hosts)}))
        else:
            report.finish("\n" + summary(finished.graph, outcome) +
                          f"\n\n{'done' if outcome.ok else 'FAILED'} in "
                          f"{finished.seconds:.1f}s")
        if outcome.interrupted:
            raise OtterError("interrupted: locks released, connections closed")
    return done


@click.command()
@click.argument("name")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.option("--dry-run", is_flag=True, help="Print what would run; run nothing.")
@click.option("--lock-wait", type=float, default=0.0, metavar="SECONDS",
              help="Wait this long for another run's deploy lock.")
@click.option("--only", metavar="STEP", help="Run this step of NAME alone, under the "
              "deploy lock (no release is started).")
@click.pass_context
def run(ctx: click.Context, name: str, targets: str | None, dry_run: bool,
        lock_wait: float, only: str | None) -> None:
    """Deploy NAME: acquire, ship, start, health, switch, retire on every target."""
    from otterfile.run.deploy import deploy, run_only
    project = load_project(ctx)
    warn(project, name)
    report = reporter(ctx, project)
    engines = _engines(ctx, project, report, dry_run, lock_wait)
    hosts = split_targets(targets, project)
    try:
        if only is not None:
            ok = run_only(project, name, only, engines, hosts=hosts,
                          on_finished=_printer(ctx, report))
        else:
            ok = deploy(project, name, engines, hosts=hosts, on_finished=_printer(ctx, report))
    finally:
        report.close()
    if not ok:
        ctx.exit(1)


@click.command()
@click.argument("name")
@click.option("--to", "to", metavar="RELEASE", help="The release to make live (default: "
              "the previous healthy one).")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.option("--lock-wait", type=float, default=0.0, metavar="SECONDS")
@click.option("--with-data", is_flag=True, help="Also restore the data from the snapshot "
              "taken before the live release (Snapshots); asks first.")
@click.option("-y", "--yes", is_flag=True, help="With --with-data: do not ask.")
@click.pass_context
def rollback(ctx: click.Context, name: str, to: str | None, targets: str | None,
             lock_wait: float, with_data: bool, yes: bool) -> None:
    """Make the previous (or given) release live again: start, health, switch, retire.
    With --with-data the live release is stopped first and the data put back as it was
    before it started."""
    from otterfile.run.deploy import rollback as roll_back
    project = load_project(ctx)
    if with_data:
        from otterfile.cli.snapshots import confirm_restore
        confirm_restore(project, name, targets, yes)
    report = reporter(ctx, project)
    engines = _engines(ctx, project, report, False, lock_wait)
    try:
        ok = roll_back(project, name, engines, hosts=split_targets(targets, project), to=to,
                       on_finished=_printer(ctx, report), with_data=with_data)
    finally:
        report.close()
    if not ok:
        ctx.exit(1)
