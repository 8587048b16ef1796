"""`otter maintenance NAME on|off` on one target, under the deploy lock: one round trip
(proxies/maintenance.py) that writes or removes the flag and gracefully reloads the proxy.
No release, no port file and no state record is touched."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from otterfile.errors import OtterError
from otterfile.proxies import NAMED as PROXIES
from otterfile.proxies.base import EXIT_INVALID, EXIT_RELOAD, Site
from otterfile.proxies.maintenance import EXIT_NOT_INCLUDED, Page, command
from otterfile.run import target as reads
from otterfile.run.lock import DeployLock
from otterfile.run.retire_later import retire_wait

if TYPE_CHECKING:
    from otterfile.command import Command
    from otterfile.executors.base import Executor
    from otterfile.load.project import DeploymentDef


def rewrite_site(dep: DeploymentDef, executor: Executor, folder: Path) -> None:
    """The deployment's site rendered and switched as a run would, to the port it serves
    now (the proxy's switch: checked, gracefully reloaded, restored on failure)."""
    host, px = executor.host.name, dep.proxy_kind
    read = executor.run(reads.command(dep, sites=False))
    if not read.ok:
        raise OtterError(f"{host}: reading {dep.name} failed (exit {read.exited}): "
                         f"{read.tail(5)}")
    reading = reads.parse(dep, host, read.stdout)
    port, switching = reads.served_port(dep, reading), reads.switching(dep, reading)
    if port is None or switching is None:
        raise OtterError(f"{host}: {px.name} serves no release of {dep.name} here")
    listen = None if dep.domains else dep.runtime.kind.port(dep.runtime.value)
    site = Site(dep.name, dep.domains, port, listen, switching.per_request)
    result = executor.run(px.switch(dep.proxy, site, px.render(dep.proxy, site), folder))
    if not result.ok:
        raise OtterError(f"{host}: writing the {px.name} site of {dep.name} anew (an older "
                         f"otter wrote it, without the maintenance page) failed (exit "
                         f"{result.exited}); the previous is back: {result.tail(5)}")


def toggle(dep: DeploymentDef, page: Page | None) -> Command:
    """On with `page` (a snippet for every proxy kind, so a later change of kind keeps it),
    or off (None), checked and reloaded by the deployment's proxy."""
    px = dep.proxy_kind
    snippets = None if page is None else \
        {kind: proxy.maintenance(dep.name, page) for kind, proxy in PROXIES.items()}
    return command(dep.name, snippets, px.site_path(dep.name), px.validate(),
                   px.installed.unit, page.message if page else "")


def switch(dep: DeploymentDef, executor: Executor, page: Page | None, *,
           lock_wait: float = 0, run_id: str | None = None, folder: Path | None = None) -> str:
    """Maintenance on (`page`) or off on the executor's host; what the target said. A site
    an older otter wrote (it pulls no page in) is first written anew, as a run would, when
    `folder` (the Otterfile's, for files the proxy ships) is given."""
    if not dep.proxied:
        raise OtterError(f"{dep.name}: a strategy=\"recreate\" service without domains is "
                         "not behind the proxy, so it has no maintenance page")
    host, px = executor.host.name, dep.proxy_kind
    lock = DeployLock(executor, dep.name, run_id=run_id, retire_wait=retire_wait(dep))
    lock.acquire(wait_seconds=lock_wait)
    try:
        result = executor.run(toggle(dep, page))
        if result.exited == EXIT_NOT_INCLUDED and folder is not None:
            rewrite_site(dep, executor, folder)
            result = executor.run(toggle(dep, page))
    finally:
        lock.release()
    said = result.tail(5) or result.tail(5, "stdout")
    if result.exited == EXIT_NOT_INCLUDED:
        raise OtterError(f"{host}: the {px.name} site of {dep.name} does not pull the "
                         "maintenance page in (an older otter wrote it); nothing changed")
    if result.exited == EXIT_INVALID:
        raise OtterError(f"{host}: {px.name} rejected the config with the maintenance page; "
                         f"nothing changed: {said}")
    if result.exited == EXIT_RELOAD:
        raise OtterError(f"{host}: {px.name} did not reload; the previous state is back: "
                         f"{said}")
    if not result.ok:
        raise OtterError(f"{host}: maintenance {'on' if page else 'off'} for {dep.name} "
                         f"failed (exit {result.exited}): {said}")
    return (result.stdout.strip().splitlines() or [""])[-1]
