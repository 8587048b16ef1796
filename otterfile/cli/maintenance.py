"""`otter maintenance NAME on|off`: the proxy answers the deployment's domains with 503."""
from __future__ import annotations

import click

from otterfile.cli.common import emit, load_project
from otterfile.cli.hosts import hosts_of, on_each
from otterfile.report.text import printable

# proxies/maintenance.py's DEFAULT_RETRY (tests/unit/cli/test_maintenance.py keeps them equal),
# not imported here: `otter --help` loads this module, and that import every proxy kind
DEFAULT_RETRY = 300


@click.command()
@click.argument("name")
@click.argument("mode", type=click.Choice(["on", "off"]))
@click.option("--message", metavar="TEXT", help="What the page says (HTML-escaped; on only).")
@click.option("--retry-after", type=int, default=DEFAULT_RETRY, show_default=True,
              metavar="SECONDS", help="The Retry-After header (on only).")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.option("--lock-wait", type=float, default=0.0, metavar="SECONDS",
              help="Wait this long for another run's deploy lock.")
@click.pass_context
def maintenance(ctx: click.Context, name: str, mode: str, message: str | None,
                retry_after: int, targets: str | None, lock_wait: float) -> None:
    """Maintenance mode: `on` makes the proxy answer NAME's domains with 503, Retry-After
    and a plain page; `off` serves the live release again. Both by graceful reload, under
    the deploy lock; no release is touched, and a deploy meanwhile keeps the page on."""
    from otterfile.errors import UsageError
    from otterfile.proxies.maintenance import check_page
    from otterfile.report.tables import table
    from otterfile.run.lock_holder import new_run_id
    from otterfile.run.maintenance import switch
    if mode == "off" and message is not None:
        raise UsageError("--message goes with `on` only")
    page = check_page(message, retry_after) if mode == "on" else None
    project = load_project(ctx)
    pairs = hosts_of(project, name, targets)
    run_id = new_run_id()
    results = on_each(pairs, lambda d, h, e: switch(d, e, page, lock_wait=lock_wait,
                                                     run_id=run_id, folder=project.folder))
    rows = [[host.name, dep.name, f"error: {r}" if isinstance(r, Exception) else r]
            for (dep, host), r in zip(pairs, results)]
    if ctx.obj["json"]:
        for row in rows:
            emit(ctx, {"event": "maintenance", "mode": mode,
                       **dict(zip(["host", "deployment", "result"], row))})
    else:
        click.echo(table(["host", "deployment", "result"], rows))
        failed = sum(isinstance(r, Exception) for r in results)
        click.echo(printable(f"\nFAILED on {failed} target(s)" if failed else
                             f"\nmaintenance {mode}"))
    if any(isinstance(r, Exception) for r in results):
        ctx.exit(1)
