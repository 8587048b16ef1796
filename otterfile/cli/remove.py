"""`otter remove`: take a deployment off its targets, after asking (or with --yes)."""
from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Sequence

import click

from otterfile.errors import OtterError, UsageError
from otterfile.report.text import printable
from otterfile.cli.common import load_project
from otterfile.cli.hosts import Pair, hosts_of, on_each

if TYPE_CHECKING:
    from otterfile.command import Command
    from otterfile.load.project import DeploymentDef
    from otterfile.run.remove import Found

HEADERS = ["host", "deployment", "instances", "proxy site", "artifacts pruned", "releases",
           "result"]


def _terminal() -> bool:
    return sys.stdin.isatty()


def _confirm(pairs: Sequence[Pair], yes: bool) -> None:
    """Ask on the terminal, after reading (read-only) and listing what goes on each
    target; without a terminal, only --yes goes on."""
    from otterfile.run import remove as removal
    if yes:
        return
    if not _terminal():
        raise UsageError("otter remove asks before it removes anything, and there is no "
                         "terminal to ask on; pass --yes to remove without asking")
    names = ", ".join(dict.fromkeys(d.name for d, _ in pairs))
    hosts = ", ".join(dict.fromkeys(h.name for _, h in pairs))
    found = on_each(pairs, lambda d, h, e: removal.inspect(d, e))
    click.echo(f"This removes {names} from {hosts}:")
    for (dep, host), one in zip(pairs, found):
        click.echo(printable(f"  {host.name} ({dep.name}):"))
        lines = [f"cannot read it: {one}"] if isinstance(one, Exception) else \
            removal.deletes(dep, one)
        click.echo(printable("\n".join(f"    {line}" for line in lines)))
    if not click.confirm("Remove?", default=False):
        raise OtterError("nothing removed")


def _rows(pairs: Sequence[Pair], results: Sequence[Found | OtterError],
          verb: str) -> list[list[str]]:
    from otterfile.run.remove import describe
    rows: list[list[str]] = []
    for (dep, host), found in zip(pairs, results):
        if isinstance(found, Exception):
            rows.append([host.name, dep.name, "", "", "", "", f"error: {found}"])
        else:
            rows.append([host.name, dep.name, *describe(found),
                         "nothing there" if found.empty else verb])
    return rows


def _disarm(dep: DeploymentDef, preview: str | None) -> Command | None:
    """A preview's expiry timer, stopped before it is removed by hand."""
    from otterfile.run.preview import disarm
    return disarm(dep.name) if preview is not None else None


@click.command()
@click.argument("name")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask (for scripts).")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.option("--lock-wait", type=float, default=0.0, metavar="SECONDS",
              help="Wait this long for another run's deploy lock.")
@click.option("--preview", metavar="LABEL", help="Remove NAME's preview LABEL instead, with "
              "its own volumes or data folder.")
@click.pass_context
def remove(ctx: click.Context, name: str, targets: str | None, yes: bool, dry_run: bool,
           lock_wait: float, preview: str | None) -> None:
    """Take NAME off its targets: instances, proxy site (graceful reload), state, env files
    and artifacts only it used; the other deployments on those hosts keep serving."""
    from otterfile.run.lock_holder import new_run_id
    from otterfile.report.tables import table
    from otterfile.run import remove as removal
    project = load_project(ctx)
    if preview is not None:  # NAME--LABEL, as `run --preview` deployed it
        from otterfile.cli.preview import with_preview
        project, _, previewed = with_preview(project, name, preview, {})
        name = previewed.name
    pairs = hosts_of(project, name, targets)
    if dry_run:
        results = on_each(pairs, lambda d, h, e: removal.inspect(d, e))
        verb = "would remove"
    else:
        _confirm(pairs, yes)
        run_id = new_run_id()
        results = on_each(pairs, lambda d, h, e: removal.remove(d, e, lock_wait=lock_wait,
                                                                 run_id=run_id,
                                                                 first=_disarm(d, preview),
                                                                 with_data=preview is not None))
        verb = "removed"
    rows = _rows(pairs, results, verb)
    if ctx.obj["json"]:
        for row in rows:
            click.echo(json.dumps({"event": "remove", **dict(zip(HEADERS, row))}))
    else:
        click.echo(table(HEADERS, rows))
        failed = sum(isinstance(r, Exception) for r in results)
        click.echo(printable(f"\n{'FAILED on ' + str(failed) + ' target(s)' if failed else verb}"
                             + (" (dry run: nothing changed)" if dry_run else "")))
    if any(isinstance(r, Exception) for r in results):
        ctx.exit(1)
