"""`otter snapshots NAME`: each target's snapshots of NAME's data; and the question
`otter rollback NAME --with-data` asks before it restores one."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Sequence

import click

from otterfile.cli.common import emit, load_project
from otterfile.cli.hosts import Pair, hosts_of, on_each
from otterfile.errors import OtterError, UsageError
from otterfile.report.reporters import host_address, host_label
from otterfile.report.snapshots import HEADERS, age, record, rows
from otterfile.report.text import human_size, printable

if TYPE_CHECKING:
    from otterfile.load.project import Project


@click.command()
@click.argument("name")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.pass_context
def snapshots(ctx: click.Context, name: str, targets: str | None) -> None:
    """The snapshots of NAME's data on each target (Deployment(snapshots=...)): the release
    each was taken before, whose data it holds, its size and age; the one `otter rollback
    NAME --with-data` would restore is marked. Read-only."""
    from otterfile.report.tables import table
    from otterfile.run.snapshots import inspect
    project = load_project(ctx)
    pairs = hosts_of(project, name, targets)
    results = on_each(pairs, lambda d, h, e: inspect(d, e))
    if ctx.obj["json"]:
        for (dep, host), found in zip(pairs, results):
            where = {"deployment": dep.name, "host": host_label(host),
                     "address": host_address(host)}
            if isinstance(found, Exception):
                emit(ctx, {"event": "error", **where, "message": str(found)})
                continue
            for one in found.snapshots:
                emit(ctx, {"event": "snapshot", **where, **record(found, one)})
    else:
        lines = [row for (_, host), found in zip(pairs, results)
                 if not isinstance(found, Exception) for row in rows(host.name, found)]
        click.echo(table(HEADERS, lines) if lines else "no snapshots")
        for (_, host), found in zip(pairs, results):
            if isinstance(found, Exception):
                click.echo(printable(f"error: {found}"), err=True)
    if any(isinstance(r, Exception) for r in results):
        ctx.exit(1)


def confirm_restore(project: Project, name: str, targets: str | None, yes: bool) -> None:
    """`rollback --with-data` asks first, after listing what each target would restore
    (read-only); without a terminal only --yes goes on. Nothing changes before this."""
    pairs = hosts_of(project, name, targets)
    undeclared = sorted({d.name for d, _ in pairs if d.snapshots is None})
    if undeclared:
        raise UsageError(f"{', '.join(undeclared)} declares no Deployment(snapshots="
                         "Snapshots(...)): there is no data to roll back")
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("otter rollback --with-data asks before it replaces the data, and "
                         "there is no terminal to ask on; pass --yes to restore without "
                         "asking (nothing was changed)")
    click.echo(printable(restore_text(pairs)))
    if not click.confirm("Stop the live release and restore its data?", default=False):
        raise OtterError("nothing was changed")


def restore_text(pairs: Sequence[Pair]) -> str:
    """Per target, the snapshot a rollback with data would restore."""
    from otterfile.run.snapshots import inspect
    lines = ["This stops the live release, puts the data back as it was before it started, "
             "then rolls back (the deployment does not serve in between):"]
    for (dep, host), found in zip(pairs, on_each(pairs, lambda d, h, e: inspect(d, e))):
        if isinstance(found, Exception):
            lines.append(f"  {host.name} ({dep.name}): cannot read it: {found}")
        elif found.restores is None:
            lines.append(f"  {host.name} ({dep.name}): no snapshot taken before "
                         f"{found.live or 'a live release'}: this target will refuse")
        else:
            s = found.restores
            lines.append(f"  {host.name} ({dep.name}): stop {found.live}, restore the data of "
                         f"{s.live or 'no release'} ({human_size(s.bytes)}, taken "
                         f"{age(found.now - s.time)} ago)")
    return "\n".join(lines)
