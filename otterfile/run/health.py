"""The health gate: poll the new release through the target's executor until it answers."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from otterfile.errors import OtterError
from otterfile.executors.base import ProbeFailed

if TYPE_CHECKING:
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane

POLL_SECONDS = 0.5
STATUS_EVERY = 4  # look at the instance every few failed polls
DEFAULT_TIMEOUT = 30


class HealthFailed(OtterError):
    """The new release never answered healthy; it is removed and the old keeps serving."""


def wait_healthy(engine: Engine, lane: Lane, task: Task) -> None:
    """Poll until `expect_status` (or, without a health check, any answer below 500)."""
    check = lane.deployment.health_check
    path, expect = (check.path, check.expect_status) if check else ("/", None)
    limit = check.timeout_seconds if check else DEFAULT_TIMEOUT
    deadline = time.monotonic() + limit
    executor, reason, polls = engine.executor(task.host), "no answer yet", 0
    assert lane.release is not None and lane.release.port is not None  # start ran
    with executor.http(lane.release.port) as get:  # a str port: a plan's (executors.base.Port)
        while time.monotonic() < deadline and not engine.cancel.is_set():
            polls += 1
            try:
                status = get(path)
                if (status == expect) if expect else status < 500:
                    engine.emit(task, "info", f"GET {path} answered {status} "
                                f"after {polls} poll(s)")
                    return
                reason = f"GET {path} answered {status}, expected {expect or 'below 500'}"
            except ProbeFailed as error:
                reason = f"GET {path}: {error}"
            if polls % STATUS_EVERY == 1:
                _raise_if_exited(engine, lane, task, reason)
            time.sleep(POLL_SECONDS)
    if engine.cancel.is_set():
        raise OtterError("interrupted during the health check")
    _raise_if_exited(engine, lane, task, reason)
    raise HealthFailed(f"{executor.host.name}: {lane.release.instance} not healthy after "
                       f"{limit:g}s: {reason}")


def wait_running(engine: Engine, lane: Lane, task: Task, settle_seconds: float = 2.0) -> None:
    """Without a health check, a service that may speak no HTTP (a database): healthy when
    its instance is still running after `settle_seconds`."""
    assert lane.release is not None  # start ran
    time.sleep(settle_seconds)
    _raise_if_exited(engine, lane, task, "no health check given")
    engine.emit(task, "info", f"{lane.release.instance} running after {settle_seconds:g}s")


def _raise_if_exited(engine: Engine, lane: Lane, task: Task, reason: str) -> None:
    assert lane.release is not None and lane.release.instance is not None  # start ran
    executor, rt, name = engine.executor(task.host), lane.runtime, lane.release.instance
    status = rt.parse_inspect(executor.run(rt.inspect(name)).stdout)
    if not status.alive:
        logs = "\n".join("    " + line for line in status.logs.splitlines()[-10:])
        oom = ", OOM-killed: out of memory" if status.oom_killed else ""  # else a bare 137
        raise HealthFailed(f"{executor.host.name}: {name} {status.state} (exit "
                           f"{status.exit_code}{oom}, {status.restarts} restarts) before it was "
                           f"healthy; {reason}" + (f"\n  last log lines:\n{logs}" if logs else ""))
