"""The health gate: poll the new release through the target's executor until it answers."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from otterfile.errors import OtterError
from otterfile.executors.base import HttpGet, ProbeFailed

if TYPE_CHECKING:
    from otterfile.load.project import DeploymentDef
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane

POLL_SECONDS = 0.5
FIRST_POLL_SECONDS = 0.05  # the wait after the first failed poll, doubled up to POLL_SECONDS
STATUS_EVERY = 4  # look at the instance every few failed polls
DEFAULT_TIMEOUT = 30
LISTEN_WAIT = 2.0  # at most this long the start waits on the target for the port to listen
RUNNING = ("running", "activating")
Poll = Callable[[], "tuple[int | None, str]"]  # one GET: (the status when healthy, why not)


class HealthFailed(OtterError):
    """The new release never answered healthy; it is removed and the old keeps serving."""


def listen_wait(deployment: DeploymentDef) -> float:
    """How long the start may wait on the target, in its own round trip, for the new
    release to listen on its port (systemd's start does; the others ignore it): the
    gate's first poll then finds it, instead of a poll, a sleep and another poll. Without
    an HTTP check: 0 (recreate without a health check: a service that may speak no HTTP)."""
    check = deployment.health_check
    if deployment.recreate and check is None:
        return 0
    return min(LISTEN_WAIT, check.timeout_seconds if check else DEFAULT_TIMEOUT)


def wait_healthy(engine: Engine, lane: Lane, task: Task) -> None:
    """Poll until `expect_status` (or, without a health check, any answer below 500); with
    `min_ready_seconds`, keep polling that long after the first healthy answer."""
    check = lane.deployment.health_check
    path, expect = (check.path, check.expect_status) if check else ("/", None)
    stable = check.min_ready_seconds if check else 0
    assert lane.release is not None and lane.release.port is not None  # start ran
    # a str port: a plan's placeholder (executors.base.Port)
    with engine.executor(task.host).http(lane.release.port) as get:
        poll = _poller(get, path, expect)
        said = _until_healthy(engine, lane, task, poll)
        if stable > 0:
            watched = _stay_healthy(engine, lane, task, poll, stable)
            said += f", then stayed healthy for {watched:.1f}s"
    engine.emit(task, "info", said)


def _poller(get: HttpGet, path: str, expect: int | None) -> Poll:
    def poll() -> tuple[int | None, str]:
        try:
            status = get(path)
        except ProbeFailed as error:
            return None, f"GET {path}: {error}"
        if (status == expect) if expect else status < 500:
            return status, ""
        return None, f"GET {path} answered {status}, expected {expect or 'below 500'}"
    return poll


def _until_healthy(engine: Engine, lane: Lane, task: Task, poll: Poll) -> str:
    """Poll until the first healthy answer; what it was, or HealthFailed."""
    assert lane.release is not None
    check = lane.deployment.health_check
    limit = check.timeout_seconds if check else DEFAULT_TIMEOUT
    deadline, reason, polls = time.monotonic() + limit, "no answer yet", 0
    while time.monotonic() < deadline and not engine.cancel.is_set():
        polls += 1
        status, reason = poll()
        if status is not None:
            path = check.path if check else "/"
            return f"GET {path} answered {status} after {polls} poll(s)"
        if polls % STATUS_EVERY == 0:  # not at once: a just-started service is rarely gone
            _raise_if_exited(engine, lane, task, reason)
        time.sleep(poll_wait(polls))
    if engine.cancel.is_set():
        raise OtterError("interrupted during the health check")
    _raise_if_exited(engine, lane, task, reason)
    raise HealthFailed(f"{_host(engine, task)}: {lane.release.instance} not healthy after "
                       f"{limit:g}s: {reason}")


def poll_wait(polls: int) -> float:
    """The wait after `polls` failed polls: short at first (most services answer within a
    few tenths of a second of their start), then POLL_SECONDS."""
    return min(POLL_SECONDS, FIRST_POLL_SECONDS * float(2 ** min(polls - 1, 8)))


def _stay_healthy(engine: Engine, lane: Lane, task: Task, poll: Poll, seconds: float) -> float:
    """Healthy at every poll for `seconds` after the first healthy answer, its instance never
    exited nor restarted (the runtime's restart count: an exit between two polls shows);
    the seconds watched, or HealthFailed."""
    assert lane.release is not None
    first, polls = time.monotonic(), 0
    while (elapsed := time.monotonic() - first) < seconds:
        if engine.cancel.is_set():
            raise OtterError("interrupted during the health check")
        time.sleep(min(POLL_SECONDS, seconds - elapsed))
        polls += 1
        status, reason = poll()
        when = _since(first, seconds)
        if status is None:
            _raise_if_exited(engine, lane, task, reason, when)
            raise HealthFailed(f"{_host(engine, task)}: {lane.release.instance} not healthy "
                               f"{when}: {reason}")
        if polls % STATUS_EVERY == 0:
            _raise_if_exited(engine, lane, task, "it answered healthy until then", when)
    watched, when = time.monotonic() - first, _since(first, seconds)
    _raise_if_exited(engine, lane, task, "it answered healthy until then", when)
    return watched


def _since(first: float, seconds: float) -> str:
    return (f"{time.monotonic() - first:.1f}s after it was first healthy "
            f"(min_ready_seconds={seconds:g})")


def wait_running(engine: Engine, lane: Lane, task: Task, settle_seconds: float = 2.0) -> None:
    """Without a health check, a service that may speak no HTTP (a database): healthy when
    its instance is still running after `settle_seconds`."""
    assert lane.release is not None  # start ran
    time.sleep(settle_seconds)
    _raise_if_exited(engine, lane, task, "no health check given")
    engine.emit(task, "info", f"{lane.release.instance} running after {settle_seconds:g}s")


def _raise_if_exited(engine: Engine, lane: Lane, task: Task, reason: str,
                     when: str = "before it was healthy") -> None:
    assert lane.release is not None and lane.release.instance is not None  # start ran
    executor, rt, name = engine.executor(task.host), lane.runtime, lane.release.instance
    status = rt.parse_inspect(executor.run(rt.inspect(name)).stdout)
    if not status.alive:
        logs = "\n".join("    " + line for line in status.logs.splitlines()[-10:])
        oom = ", OOM-killed: out of memory" if status.oom_killed else ""  # else a bare 137
        # a restart policy started it again: an exit all the same (its code is the new run's)
        how = f"exited and restarted ({status.restarts} restarts{oom})" \
            if status.restarts and status.state in RUNNING else \
            f"{status.state} (exit {status.exit_code}{oom}, {status.restarts} restarts)"
        raise HealthFailed(f"{executor.host.name}: {name} {how} {when}; {reason}"
                           + (f"\n  last log lines:\n{logs}" if logs else ""))


def _host(engine: Engine, task: Task) -> str:
    return engine.executor(task.host).host.name
