"""`otter maintenance NAME on|off` on one target, under the deploy lock: one round trip
(proxies/maintenance.py) that writes or removes the flag and gracefully reloads the proxy.
No release, no port file and no state record is touched."""
from __future__ import annotations

from typing import TYPE_CHECKING

from otterfile.errors import OtterError
from otterfile.proxies import NAMED as PROXIES
from otterfile.proxies.base import EXIT_INVALID, EXIT_RELOAD
from otterfile.proxies.maintenance import EXIT_NOT_INCLUDED, Page, command
from otterfile.run.lock import DeployLock

if TYPE_CHECKING:
    from otterfile.command import Command
    from otterfile.executors.base import Executor
    from otterfile.load.project import DeploymentDef


def toggle(dep: DeploymentDef, page: Page | None) -> Command:
    """On with `page` (a snippet for every proxy kind, so a later change of kind keeps it),
    or off (None), checked and reloaded by the deployment's proxy."""
    px = dep.proxy_kind
    snippets = None if page is None else \
        {kind: proxy.maintenance(dep.name, page) for kind, proxy in PROXIES.items()}
    return command(dep.name, snippets, px.site_path(dep.name), px.validate(),
                   px.installed.unit, page.message if page else "")


def switch(dep: DeploymentDef, executor: Executor, page: Page | None, *,
           lock_wait: float = 0, run_id: str | None = None) -> str:
    """Maintenance on (`page`) or off on the executor's host; what the target said."""
    if dep.recreate:
        raise OtterError(f"{dep.name}: a strategy=\"recreate\" service is not behind the "
                         "proxy, so it has no maintenance page")
    host, px = executor.host.name, dep.proxy_kind
    lock = DeployLock(executor, dep.name, run_id=run_id)
    lock.acquire(wait_seconds=lock_wait)
    try:
        result = executor.run(toggle(dep, page))
    finally:
        lock.release()
    said = result.tail(5) or result.tail(5, "stdout")
    if result.exited == EXIT_NOT_INCLUDED:
        raise OtterError(f"{host}: the {px.name} site of {dep.name} was written by an otter "
                         "without maintenance mode; deploy a new release once, then try again")
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
