"""`otter plan NAME --check --exit-code`: the drift gate for CI. `plan --check`'s read-only
round trip per target, with what differs (run/drift.py), printed per target (changes, then
unified diffs of the generated files, secret values masked) or as JSON, and the exit status
a CI job tests: 0 every target runs what the Otterfile declares, 1 something would change,
2 an error (a target that did not answer, an artifact only a deploy can tell, a bad
Otterfile or command line)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from otterfile.errors import OtterError

if TYPE_CHECKING:
    from otterfile.load.project import Project
    from otterfile.run.check_judge import TargetCheck

IN_SYNC, CHANGED, ERROR = 0, 1, 2


class GateError(OtterError):
    """The gate could not tell (the artifact was not acquired, a secret is missing...)."""

    exit_code = ERROR


def gate(ctx: click.Context, project: Project, name: str, targets: str | None) -> None:
    """Run `plan --check` with drift; any error on the way exits 2, not 1."""
    from otterfile.cli.plan_check import plan_check
    try:
        plan_check(ctx, project, name, targets, drift=True)
    except OtterError as error:
        if error.exit_code == ERROR:
            raise
        raise GateError(str(error)) from error
    except click.exceptions.Exit:
        raise
    except Exception as error:  # a CI job reads 1 as drift: whatever else failed is 2
        if ctx.meta.get("otter.debug"):
            raise
        raise GateError(f"{type(error).__name__}: {error}") from error


def exit_code(found: list[TargetCheck]) -> int:
    """2 when a target did not answer (or could not be judged), else 1 when a run would
    change something on one, else 0."""
    if not found or any(one.error for one in found):
        return ERROR
    return CHANGED if any(one.drift is None or not one.drift.in_sync for one in found) \
        else IN_SYNC


def report(ctx: click.Context, found: list[TargetCheck]) -> None:
    """Print the drift of each target (after the check's table or records), then exit."""
    from otterfile.cli.common import emit
    from otterfile.cli.plan_check import check_record
    code = exit_code(found)
    if ctx.obj["json"]:
        for one in found:
            emit(ctx, {**check_record(one), **drift_record(one)})
        emit(ctx, summary_record(found, code))
    else:
        click.echo(drift_text(found))
    ctx.exit(code)


def drift_record(one: TargetCheck) -> dict[str, Any]:
    """The drift fields of a target's `check` object (docs/json.md); none for an error."""
    if one.drift is None:
        return {}
    return {"in_sync": one.drift.in_sync, "changes": list(one.drift.changes),
            "diffs": [{"path": d.path, "kind": d.kind, "diff": d.diff}
                      for d in one.drift.diffs]}


def summary_record(found: list[TargetCheck], code: int) -> dict[str, Any]:
    """The last object: how many targets are in sync, would change, did not answer."""
    return {"event": "drift", "in_sync": sum(bool(o.drift and o.drift.in_sync) for o in found),
            "changed": sum(bool(o.drift and not o.drift.in_sync) for o in found),
            "errors": sum(bool(o.error) for o in found), "exit": code}


def drift_text(found: list[TargetCheck]) -> str:
    """Per target: in sync, or each change and the diffs; a last line with the verdict.
    What a target holds is made printable (its files may hold escape sequences)."""
    from otterfile.report.text import printable
    out = [""]
    for one in found:
        if one.error or one.drift is None:
            out.append(f"{one.host}: error (see below)")
            continue
        title = f"{one.host} ({one.deployment})"
        if one.drift.in_sync:
            out.append(f"{title}: in sync")
            continue
        out.append(f"{title}: a run would change it")
        out += [f"  - {printable(change)}" for change in one.drift.changes]
        for diff in one.drift.diffs:
            out += ["    " + printable(line, keep="\t") for line in diff.diff.splitlines()]
    out.append(verdict(found, exit_code(found)))
    return "\n".join(out)


def verdict(found: list[TargetCheck], code: int) -> str:
    counts = summary_record(found, code)
    if code == IN_SYNC:
        return f"in sync: every target runs what the Otterfile declares (exit {code})"
    said = f"{counts['changed']} of {len(found)} would change"
    if code == ERROR:
        said += f", {counts['errors']} could not be read"
    return f"drift: {said} (exit {code})"
