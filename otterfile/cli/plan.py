"""`otter plan NAME`: per target, the runtime's settings, the files otter writes, what happens
to the live release and each stage's commands, from the deploy performed against recording
executors (plan/describe.py), as text or JSON, with the order targets deploy in; nothing
reaches a server. `--check` hands over to cli/plan_check.py."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from otterfile.cli.common import emit, load_project, split_targets, warn
from otterfile.cli.plan_check import plan_check
from otterfile.cli.plan_drift import gate
from otterfile.errors import UsageError

if TYPE_CHECKING:
    from otterfile.load.project import Project


@click.command()
@click.argument("name")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.option("--check", is_flag=True,
              help="Ask each target (read-only, one round trip each) what it has, and say "
                   "what a run would move: bytes to send, release, proxy site. Acquires "
                   "the artifact on the controller first (a build or a fetch into the local "
                   "cache); nothing changes on any server.")
@click.option("--exit-code", "exit_code", is_flag=True,
              help="With --check, the drift gate for CI: per target what a run would "
                   "change, with unified diffs of the generated files (secret values "
                   "masked); exit 0 when every target runs what the Otterfile declares, 1 "
                   "when something would change, 2 on an error (a target that did not "
                   "answer).")
@click.pass_context
def plan(ctx: click.Context, name: str, targets: str | None, check: bool,
         exit_code: bool) -> None:
    """Per target: the runtime's settings, the files otter writes (proxy site, unit, env
    file), what happens to the live release, and each stage's commands; nothing runs.

    RELEASE and <port> stand for the release id and the port picked at start.

    With --check instead: a table of what a run would move on each target (the artifact's
    bytes, the release, the proxy site), from what the targets say they have; with
    --exit-code also what differs, and an exit status for CI (0 in sync, 1 drift, 2 error)."""
    from otterfile.plan.describe import describe, stage, targets as described
    from otterfile.plan.planner import plan as make_plan
    from otterfile.run.deploy import check_deployable
    if exit_code and not check:
        raise UsageError("--exit-code goes with --check: otter plan NAME --check --exit-code")
    project = load_project(ctx)
    if exit_code:
        return gate(ctx, project, name, targets)
    if check:
        return plan_check(ctx, project, name, targets)
    check_deployable(project.select(name))  # exit 2, as `run` refuses it
    graph, notes = describe(project, make_plan(project, [name],
                                               hosts=split_targets(targets, project)))
    warn(project, name)
    debug = ctx.obj["debug"]
    # the controller, or a build host's acquire
    builders: dict[str | None, list[dict[str, Any]]] = {}
    for task in graph.order():
        if task.host is None or task.stage == "acquire":
            builders.setdefault(task.host, []).append(stage(task, notes, debug))
    plans = _batches(ctx, project, name, split_targets(targets, project),
                     described(project, graph, notes, debug))
    if ctx.obj["json"]:
        for host, stages in builders.items():
            emit(ctx, {"event": "plan", "host": host or "controller",
                       "address": _address(project, host),
                       "stages": stages})
        for one in plans:
            emit(ctx, {"event": "plan", **one})
        return
    for host, stages in builders.items():
        click.echo(f"{host or 'controller'}:")
        click.echo("\n".join(_stages(stages)))
    shown: dict[tuple[str, str], str] = {}  # (deployment, plan text) -> the host it was for
    for one in plans:  # a target planned as one before it says so in one line
        text = "\n".join(_target(one))
        first = shown.setdefault((one["deployment"], text), one["host"])
        click.echo(f"{one['host']} ({one['deployment']}):" + (
            f" the same as {first}" if first != one["host"] else f"\n{text}"))


def _address(project: Project, name: str | None) -> str:
    """Where a build host is reached; the controller is `local`."""
    host = project.host(name) if name is not None else None
    return host.address if host is not None else "local"


def _batches(ctx: click.Context, project: Project, name: str, hosts: list[str] | None,
             plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order targets deploy in: as text (when more than one batch) before the plans;
    in JSON, each target's plan gets `batch` and `of` (and `canary`)."""
    from otterfile.run.deploy import batch_event
    from otterfile.plan.planner import order
    batches = order(project, [name], hosts=hosts)
    for dep_name, groups in batches.items():
        if len(groups) > 1 and not ctx.obj["json"]:
            click.echo(f"{dep_name}: {len(groups)} batches, each once the one before is live "
                       "on all its targets; a failure stops before the next")
            for index in range(len(groups)):
                click.echo("  " + batch_event(project.deployments[dep_name], groups,
                                              index).message.split(": ", 1)[1])
    from otterfile.run.snapshots import planned
    for one in plans:
        dep = project.deployments[one["deployment"]]
        if dep.snapshots is not None:
            one["snapshots"] = planned(dep)
        groups = batches.get(one["deployment"], [])
        index = next((i for i, g in enumerate(groups) if one["host"] in g), 0)
        one.update(batch=index + 1, of=len(groups),
                   canary=project.deployments[one["deployment"]].canary and index == 0)
    return plans


def _target(one: dict[str, Any]) -> list[str]:
    """One target's plan as lines of text (under its `HOST (DEPLOYMENT):` line)."""
    out = []
    runtime = dict(one["runtime"])
    env = runtime.pop("env", {})
    out.append(f"  {runtime.pop('kind')}: " + ", ".join(f"{k}={v}" for k, v in runtime.items()))
    if env:
        out.append("  env: " + " ".join(f"{k}={v}" for k, v in env.items()))
    out += [f"  live release: {one['live']}", "  files otter writes:"]
    for file in one["files"]:
        out.append(f"    {file['path']}" + ("" if file["text"] is not None else
                                             "  (release state, written as it changes)"))
        if file["text"] is not None:
            out += [f"      | {line}" for line in file["text"].rstrip("\n").splitlines()]
    if one.get("maintenance"):
        page = one["maintenance"]
        out += [f"  maintenance page (only while `otter maintenance {one['deployment']} on`;"
                " --message changes the text):", f"    {page['path']}"]
        out += [f"      | {line}" for line in page["text"].rstrip("\n").splitlines()]
    if one.get("snapshots"):
        snap = one["snapshots"]
        out += [f"  snapshots: {snap['data'] or 'no data'} into {snap['folder']} before "
                f"each release (keep {snap['keep']}), {snap['held']}",
                f"  `otter rollback {one['deployment']} --with-data` would "
                f"{snap['rollback_with_data'] or 'restore nothing (no data)'}"]
    return out + ["  stages:", *_stages(one["stages"], indent="    ")]


def _stages(stages: list[dict[str, Any]], indent: str = "  ") -> list[str]:
    out = []
    for one in stages:
        after = f"  (after {', '.join(one['after'])})" if one.get("after") else ""
        out.append(f"{indent}{one['stage']}{after}")
        if one.get("note"):
            out.append(f"{indent}  # {one['note']}")
        for command, script in zip(one["commands"], one.get("scripts") or [None] * 99):
            out.append(f"{indent}  $ {command}")
            if script:
                out.append(f"{indent}    {script}")
    return out
