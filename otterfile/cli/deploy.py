"""`otter run` and `otter rollback`: the commands that change what targets serve."""
from __future__ import annotations

import click

from otterfile.errors import UsageError
from otterfile.cli.common import load_project, reporter, split_targets, warn
from otterfile.cli.engines import engines_for, printer


@click.command()
@click.argument("name")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.option("--dry-run", is_flag=True, help="Print what would run; run nothing.")
@click.option("--lock-wait", type=float, default=0.0, metavar="SECONDS",
              help="Wait this long for another run's deploy lock.")
@click.option("--only", metavar="STEP", help="Run this step of NAME alone, under the "
              "deploy lock (no release is started).")
@click.option("--preview", metavar="LABEL", help="Deploy NAME's artifact as the preview "
              "NAME--LABEL under its preview_domain.")
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE",
              help="With --preview: an env value over the runtime's (repeatable).")
@click.option("--ttl", default=None, metavar="DURATION",
              help="With --preview: remove it after this long (default 72h; s, m, h, d).")
@click.pass_context
def run(ctx: click.Context, name: str, targets: str | None, dry_run: bool,
        lock_wait: float, only: str | None, preview: str | None, env: tuple[str, ...],
        ttl: str | None) -> None:
    """Deploy NAME: acquire, ship, start, health, switch, retire on every target."""
    from otterfile.run.deploy import deploy, run_only
    if preview is not None or env or ttl is not None:
        from otterfile.cli.preview import run_preview
        from otterfile.load.previews import DEFAULT_TTL
        if preview is None or dry_run or only is not None:
            raise UsageError("--env and --ttl go with --preview, and --preview not with "
                             "--dry-run or --only")
        return run_preview(ctx, name, preview, env, ttl or DEFAULT_TTL, targets, lock_wait)
    project = load_project(ctx)
    warn(project, name)
    report = reporter(ctx, project)
    engines = engines_for(ctx, project, report, dry_run, lock_wait)
    hosts = split_targets(targets, project)
    try:
        if only is not None:
            ok = run_only(project, name, only, engines, hosts=hosts,
                          on_finished=printer(ctx, report))
        else:
            ok = deploy(project, name, engines, hosts=hosts, on_finished=printer(ctx, report))
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
@click.option("--force", is_flag=True, help="Roll back past a migration's contract (the "
              "data may no longer fit the older release).")
@click.pass_context
def rollback(ctx: click.Context, name: str, to: str | None, targets: str | None,
             lock_wait: float, with_data: bool, yes: bool, force: bool) -> None:
    """Make the previous (or given) release live again: start, health, switch, retire.
    With --with-data the live release is stopped first and the data put back as it was
    before it started."""
    from otterfile.run.deploy import rollback as roll_back
    project = load_project(ctx)
    if with_data:
        from otterfile.cli.snapshots import confirm_restore
        confirm_restore(project, name, targets, yes)
    report = reporter(ctx, project)
    engines = engines_for(ctx, project, report, False, lock_wait)
    try:
        ok = roll_back(project, name, engines, hosts=split_targets(targets, project), to=to,
                       on_finished=printer(ctx, report), with_data=with_data, force=force)
    finally:
        report.close()
    if not ok:
        ctx.exit(1)
