"""Dispatch a planned task: acquire, lock and unlock, a runtime driver's stage, a step."""
from __future__ import annotations

from typing import Iterable

from .command import Command
from .errors import OtterError
from .graph import Task

DRIVER_STAGES = ("ship", "start", "health", "switch", "retire")


def driver_for(dep):
    """The module that performs a runtime's stages."""
    from .drivers import container
    return container


def check_supported(dep) -> None:
    """What this version cannot deploy yet is an Otterfile error before anything runs."""
    from .errors import OtterfileError
    from .model import Build, Nginx, Podman, Systemd
    problems = []
    if isinstance(dep.proxy, Nginx):
        problems.append(("proxy", "nginx() cannot be deployed by this version of otter yet; "
                         "use caddy(...)"))
    runtime, source = dep.runtime.value, dep.artifact.source
    if isinstance(runtime, (Podman, Systemd)):
        problems.append(("runtime", f"the {type(runtime).__name__.lower()} runtime cannot be "
                         "deployed by this version of otter yet; use docker(...)"))
    if not isinstance(source, Build):
        problems.append(("artifact", f"{type(source).__name__.lower()}(...) artifacts cannot "
                         "be deployed by this version of otter yet; use build(...)"))
    elif source.output or source.on is not None or source.push:
        field = "output" if source.output else ("on" if source.on is not None else "push")
        problems.append((f"artifact/{field}", "not supported by this version of otter yet "
                         "(a docker runtime deploys the built image from the controller)"))
    if problems:
        path, message = problems[0]
        raise OtterfileError(message, file=None, line=None,
                             path=f"deployment {dep.name}/{path}")


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
