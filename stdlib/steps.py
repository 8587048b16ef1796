"""Step recipes for `Deployment(steps=[...])`: a migration and a backup before deploying."""
from __future__ import annotations

import shlex
from typing import Callable

from otterfile import step


def migration(command: str, *, name: str = "migrate", before: str = "switch",
              on: str = "once") -> Callable:
    """A step running `command` once (on the first target) after the new release is healthy
    and before it takes traffic; a failure keeps the old release live. Placeholders such as
    `{container}` are filled in: `migration("docker exec {container} ./manage migrate")`.
    `otter run NAME --only migrate` runs it alone."""
    def run(ctx):
        ctx.run(command)
    run.__doc__ = f"run {command!r}"
    return step(name, before=before, on=on)(run)


def backup(command: str, *, folder: str = "/var/backups/otter", name: str = "backup",
           keep: int = 7, on: str = "once") -> Callable:
    """A step before `start`: `command`'s stdout (a dump) saved on the target as
    FOLDER/DEPLOYMENT-TIME.bak, keeping the newest `keep`; a failure stops the deploy
    before anything changes. `{previous}` and `{deployment}` are filled in."""
    def run(ctx):
        where = shlex.quote(folder)
        ctx.run(f"mkdir -p {where} && umask 077 && f={where}/{{deployment}}-$(date +%Y%m%dT%H%M%S)"
                f".bak && ({command}) > \"$f\" && "
                f"ls -1t {where}/{{deployment}}-*.bak | tail -n +{keep + 1} | xargs -r rm -f --")
    run.__doc__ = f"back up with {command!r}"
    return step(name, before="start", on=on)(run)
