"""Step recipes for `Deployment(steps=[...])`: a migration (one step, or expand and contract)
and a backup before deploying."""
from __future__ import annotations

import shlex
from typing import Any, Callable

from otterfile import step


def migration(command: str | None = None, *, expand: str | None = None,
              contract: str | None = None, name: str = "migrate", before: str = "switch",
              on: str = "once", rollback: bool = True) -> Any:
    """A step running `command` once (on the first target) after the new release is healthy
    and before it takes traffic; a failure keeps the old release live. Placeholders such as
    `{container}` are filled in: `migration("docker exec {container} ./manage migrate")`.
    `otter run NAME --only migrate` runs it alone.

    Two-phase: `migration(expand=CMD, contract=CMD)` returns two steps, NAME-expand (as
    above: once, before the switch, in the new release) and NAME-contract: once, only after
    every target of the run has retired the old release (never after a failure, a stopped
    canary or a run narrowed by --targets), recorded on every target, so that `otter
    rollback` to a release older than the contracted one is refused without --force.

    A rollback starts an earlier release, and the step (or NAME-expand) runs in it as in a
    deploy; `rollback=False` skips it there (an `upgrade head` in old code would fail the
    rollback), saying so in the run's output."""
    if not isinstance(rollback, bool):
        raise TypeError(f"migration(rollback=...): expected True or False, got {rollback!r}")
    if command is not None:
        if expand is not None or contract is not None:
            raise TypeError("migration: give a command, or expand= and contract=, not both")
        return _command_step(name, _command("command", command), rollback, before=before,
                             on=on)
    if expand is None and contract is None:
        raise TypeError("migration: give a command, or expand= and/or contract=")
    steps = []
    if expand is not None:
        steps.append(_command_step(f"{name}-expand", _command("expand", expand), rollback,
                                   before=before, on=on))
    if contract is not None:
        steps.append(_command_step(f"{name}-contract", _command("contract", contract), True,
                                   after="deploy", on=on, contract=True))
    return tuple(steps)


def _command(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"migration({field}=...): expected a shell command, got {value!r}")
    return value


def _command_step(name: str, command: str, in_rollback: bool, **options: Any) -> Callable:
    """A step named `name` running `command` with ctx.run (placeholders filled in); in a
    rollback only if `in_rollback`."""
    def run(ctx):
        if ctx.rollback and not in_rollback:
            ctx.log(f"{name}: skipped in a rollback (rollback=False)")
            return
        ctx.run(command)
    run.__doc__ = f"run {command!r}"
    return step(name, **options)(run)


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
