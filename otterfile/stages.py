"""Dispatch a planned task: acquire, lock and unlock, a runtime driver's stage, a step."""
from __future__ import annotations

from typing import Iterable

from .command import Command
from .graph import Task

def driver_for(dep):
    """The module that performs a runtime's stages."""
    from .drivers import container
    return container


def check_supported(dep, file: str) -> None:
    """What this version cannot deploy yet is an Otterfile error before anything runs."""
    from .errors import OtterfileError
    from .model import Build, Nginx, Podman, Systemd

    def refuse(path: str, message: str) -> None:
        raise OtterfileError(message, file=file, line=dep.line,
                             path=f"deployment {dep.name}/{path}")

    runtime, source = dep.runtime.value, dep.artifact.source
    if isinstance(dep.proxy, Nginx):
        refuse("proxy", "nginx() cannot be deployed by this version of otter yet; use caddy(...)")
    if isinstance(runtime, (Podman, Systemd)):
        refuse("runtime", f"the {type(runtime).__name__.lower()} runtime cannot be deployed "
               "by this version of otter yet; use docker(...)")
    if not isinstance(source, Build):
        refuse("artifact", f"{type(source).__name__.lower()}(...) artifacts cannot be deployed "
               "by this version of otter yet; use build(...)")
    for field in ("output", "on", "push"):
        if getattr(source, field) is not None:
            refuse(f"artifact/{field}", "not supported by this version of otter yet (a docker "
                   "runtime deploys the built image from the controller)")


def describe(dep, stage: str, host: str | None) -> Iterable[Command]:
    """The commands `otter plan` shows for one stage of `dep` on `host`."""
    from .drivers import common
    if stage in ("acquire", "lock", "unlock"):
        return common.describe(dep, stage)
    return driver_for(dep).describe(dep, stage)


def perform(engine, task: Task) -> None:
    """Perform one task; an exception fails it (and skips what depends on it)."""
    from .drivers import common
    if task.stage == "acquire":
        return common.acquire(engine, task)
    if task.stage == "step":
        return common.run_step(engine, task)
    lane = engine.lane(task)
    if task.stage == "lock":
        return _recorded(lane, task, lambda: common.lock(engine, lane, task))
    if task.stage == "unlock":
        return common.unlock(engine, lane, task)
    driver = driver_for(lane.deployment)
    try:
        _recorded(lane, task, lambda: getattr(driver, task.stage)(engine, lane, task))
    except BaseException:
        lane.failed = lane.failed or task.stage
        if task.stage in ("start", "health", "switch"):
            driver.abort(engine, lane, task)
        raise


def _recorded(lane, task: Task, work) -> None:
    import time
    started = time.monotonic()
    try:
        work()
    except BaseException:
        lane.failed = lane.failed or task.stage
        raise
    finally:
        lane.stage_seconds[task.stage] = round(time.monotonic() - started, 3)
