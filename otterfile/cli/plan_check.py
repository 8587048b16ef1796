"""`otter plan NAME --check`: acquire the artifact on the controller, ask each target
(read-only, one round trip each) what it has, and say what a run would move there: the
artifact's bytes, the release, the proxy site; as a table a person reads or one JSON object
per target (docs/json.md)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, cast

import click

from otterfile.cli.common import emit, split_targets
from otterfile.report.text import human_size

if TYPE_CHECKING:
    from otterfile.load.project import Project
    from otterfile.run.check_judge import Move, TargetCheck
    from otterfile.run.runner import Event


def plan_check(ctx: click.Context, project: Project, name: str, targets: str | None,
               drift: bool = False) -> None:
    """`plan --check`: acquire on the controller, ask the targets, print; exit 1 when a
    target did not answer. With `drift` (--exit-code), cli/plan_drift.py reports and exits."""
    from otterfile.plan.planner import plan as make_plan
    from otterfile.run.check import check, failed
    from otterfile.run.deploy import check_deployable, resolve_env, resolve_sources
    from otterfile.run.engines import real_engine
    from otterfile.report.text import printable
    deployments = project.select(name)
    check_deployable(deployments)
    graph = make_plan(project, [name], hosts=split_targets(targets, project))
    engine = real_engine(project, _acquire_reporter(ctx),
                         env=resolve_env(project, deployments),
                         sources=resolve_sources(project, deployments))
    try:
        found = check(engine, graph, drift=drift)
    finally:
        engine.close()
    if ctx.obj["json"]:
        for one in found if not drift else ():  # the gate's objects carry these fields too
            emit(ctx, check_record(one))
    else:
        click.echo(check_table(found))
    for one in found:
        if one.error:
            click.echo(printable(f"error: {one.error}"), err=True)
    if drift:
        from otterfile.cli.plan_drift import report
        return report(ctx, found)
    if failed(found):
        ctx.exit(1)


def _acquire_reporter(ctx: click.Context) -> Callable[[Event], None]:
    """What acquire says goes to stderr (its build output with --debug); not with --json."""
    from otterfile.report.text import printable

    def report(event: Event) -> None:
        if ctx.obj["json"] or (event.kind == "output" and not ctx.obj["debug"]):
            return
        if event.kind in ("info", "output"):
            click.echo(printable(f"acquire {(event.task.artifact if event.task else '') or ''}: "
                                 f"{event.message}"), err=True)
    return report


MOVES = {"none": "nothing (has it)", "pull": "pulled by the target",
         "download": "downloaded by the target", "unknown": "unknown"}
RELEASES = {"none": "no-op: {live} stays", "first": "first release starts",
            "new": "new release beside {live}", "replace": "{live} stops, a new one starts",
            "unknown": "unknown until acquired"}
SITES = {"none": "- (own port)", "new": "new site", "changed": "changed",
         "unchanged": "unchanged"}


def check_table(found: list[TargetCheck]) -> str:
    """`plan --check` as a table a person reads: one row per deployment on a target."""
    from otterfile.report.tables import table
    rows: list[list[str]] = []
    for one in found:
        if one.error:
            rows.append([one.host, "", "unreachable" if "cannot connect" in one.error else "error",
                         "", ""])
            continue
        site = SITES[one.site or "none"] + {"install": " (installs the proxy)",
                                            "start": " (starts the proxy)"}.get(
            one.proxy or "", f" ({one.proxy}: a proxy kind change)" if one.proxy else "")
        if one.switch and one.switch.startswith("reload"):  # said only where it reloads
            site += f"; switches by {one.switch}"
        # an answer (no error) has a move and a release
        move, release = cast("Move", one.move), cast(str, one.release)
        rows.append([one.host, f"{one.artifact} {(one.digest or '')[7:19]}".strip(),
                     _bytes(move, one.note), RELEASES[release].format(live=one.live), site])
    from otterfile.report.text import printable
    text = table(["host", "artifact", "bytes to send", "release", "proxy site"], rows)
    return text + "".join(printable(f"\nnote: {one.host}: {one.deployment}'s schedule units of "
                          f"{', '.join(one.schedules)} are no longer declared: a run "
                          "removes them", keep="\n") for one in found if one.schedules)


def _bytes(move: Move, note: str | None = None) -> str:
    if move.how == "layers":
        size = human_size(move.bytes) if move.bytes is not None else "? bytes"
        return f"{size} ({move.layers_missing} of {move.layers} layers)"
    if move.how == "whole":
        return f"{human_size(move.bytes)} (whole)" if move.bytes is not None else "whole"
    return f"unknown: {note}" if move.how == "unknown" and note else MOVES[move.how]


def check_record(one: TargetCheck) -> dict[str, Any]:
    """One target's `plan --check` answer as a JSON object (docs/json.md)."""
    if one.error:
        return {"event": "check", "host": one.host, "address": one.address,
                "error": one.error}
    move = cast("Move", one.move)  # an answer (no error) has one

    def known(**fields: Any) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if v is not None}
    return {"event": "check", "host": one.host, "address": one.address,
            "deployment": one.deployment,
            "artifact": known(name=one.artifact, digest=one.digest, moves=move.how,
                              bytes=move.bytes, layers_missing=move.layers_missing,
                              layers=move.layers, note=one.note),
            "release": known(action=one.release, live=one.live),
            "proxy": known(site=one.site, path=one.site_path, would=one.proxy,
                           switch=one.switch),
            **({"schedules": {"remove": list(one.schedules)}} if one.schedules else {})}
