"""`otter run NAME --preview LABEL` and `otter remove NAME --preview LABEL`: NAME's artifact
as its own deployment NAME--LABEL under `preview_domain`, armed to expire (`otter status
NAME` lists the previews: report/previews.py)."""
from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

import click

from otterfile.cli.common import emit, load_project, reporter, split_targets, warn
from otterfile.cli.engines import engines_for, printer
from otterfile.cli.hosts import hosts_of, on_each
from otterfile.errors import OtterError, UsageError
from otterfile.report.text import printable

if TYPE_CHECKING:
    from otterfile.hosts import Host
    from otterfile.load.project import DeploymentDef, Project
    from otterfile.run.preview import Preview


def one(project: Project, name: str) -> DeploymentDef:
    deployments = project.select(name)
    if len(deployments) > 1:
        raise UsageError(f"{name} is a group of deployments "
                         f"({', '.join(d.name for d in deployments)}); name one of them")
    return deployments[0]


def with_preview(project: Project, name: str, label: str,
                 env: dict[str, str]) -> tuple[Project, DeploymentDef, DeploymentDef]:
    """(the project with NAME's preview LABEL added, NAME, the preview)."""
    from otterfile.load.previews import preview_of
    dep = one(project, name)
    preview = preview_of(dep, label, env)
    for other in project.deployments.values():  # the Otterfile's own names and domains win
        if other.name == preview.name or preview.domains[0] in other.domains:
            raise UsageError(f"preview {label} of {dep.name}: deployment {other.name} "
                             f"already has the name {preview.name} or the domain "
                             f"{preview.domains[0]}")
    return replace(project, deployments={**project.deployments, preview.name: preview}), \
        dep, preview


def previews_of(dep: DeploymentDef) -> list[tuple[str, list[Preview] | OtterError]]:
    """(host name, its previews of `dep` or why they could not be read), per host."""
    from otterfile.run import preview as previews
    pairs = [(dep, h) for h in dep.hosts]
    results = on_each(pairs, lambda d, h, e: previews.read(d, e))
    return [(h.name, r) for (_, h), r in zip(pairs, results)]


def _labels(dep: DeploymentDef) -> list[str]:
    labels: set[str] = set()
    for _, found in previews_of(dep):
        if isinstance(found, OtterError):
            raise found
        labels |= {p.label for p in found}
    return sorted(labels)


def run_preview(ctx: click.Context, name: str, label: str, env_items: Sequence[str],
                ttl: str, targets: str | None, lock_wait: float) -> None:
    """Deploy NAME's preview LABEL, then arm its expiry on every host it went to."""
    from otterfile.load.previews import env_overrides, ttl_seconds
    from otterfile.run import preview as previews
    from otterfile.run.deploy import deploy
    seconds, env = ttl_seconds(ttl), env_overrides(env_items)
    project, dep, preview = with_preview(load_project(ctx), name, label, env)
    why = previews.refused(_labels(dep), label, dep.previews)
    if why is not None:
        raise OtterError(f"preview {label} of {dep.name} refused: {why}")
    warn(project, preview.name)
    report = reporter(ctx, project)
    hosts = split_targets(targets, project)
    try:
        ok = deploy(project, preview.name, engines_for(ctx, project, report, False, lock_wait),
                    hosts=hosts, on_finished=printer(ctx, report))
    finally:
        report.close()
    if not ok:
        ctx.exit(1)
    pairs = hosts_of(project, preview.name, targets)
    armed = on_each(pairs, lambda d, h, e: previews.arm_after_deploy(d, e, seconds, label))
    _said(ctx, preview, label, pairs, armed)


def _said(ctx: click.Context, preview: DeploymentDef, label: str,
          pairs: Sequence[tuple[DeploymentDef, Host]], armed: Sequence[float | OtterError]
          ) -> None:
    hosts = [h.name for _, h in pairs]
    expires = max((a for a in armed if not isinstance(a, OtterError)), default=0.0)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires))
    if ctx.obj["json"]:
        emit(ctx, {"event": "preview", "deployment": preview.name, "label": label,
                   "domain": preview.domains[0], "hosts": hosts, "expires": when})
    else:
        click.echo(printable(f"preview {preview.name}: {preview.domains[0]} on "
                             f"{', '.join(hosts)}; removed at {when}"))
    for (_, host), result in zip(pairs, armed):
        if isinstance(result, OtterError):
            click.echo(printable(f"error: {result}"), err=True)
    if any(isinstance(r, OtterError) for r in armed):
        ctx.exit(1)
