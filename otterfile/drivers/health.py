"""The health gate: poll the new release through the SSH connection until it answers."""
from __future__ import annotations

import time

from ..commands import docker as containers
from ..errors import OtterError

POLL_SECONDS = 0.5
STATUS_EVERY = 4  # look at the container every few failed polls


class HealthFailed(OtterError):
    """The new release never answered healthy; it is removed and the old keeps serving."""


def wait_healthy(engine, lane, task) -> None:
    """Poll until `expect_status` (or, without a health check, any answer below 500)."""
    import httpx
    check = lane.deployment.health_check
    path, expect = (check.path, check.expect_status) if check else ("/", None)
    deadline = time.monotonic() + (check.timeout_seconds if check else 30)
    executor, reason, polls = engine.executor(task.host), "no answer yet", 0
    with executor.forward(lane.release.port) as port, httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline and not engine.cancel.is_set():
            polls += 1
            try:
                status = client.get(f"http://127.0.0.1:{port}{path}").status_code
                if (status == expect) if expect else status < 500:
                    engine.emit(task, "info", f"GET {path} answered {status} "
                                f"after {polls} poll(s)")
                    return
                reason = f"GET {path} answered {status}, expected {expect or 'below 500'}"
            except httpx.HTTPError as error:
                reason = f"GET {path}: {_why(error)}"
            if polls % STATUS_EVERY == 1:
                _raise_if_exited(engine, lane, task, reason)
            time.sleep(POLL_SECONDS)
    if engine.cancel.is_set():
        raise OtterError("interrupted during the health check")
    _raise_if_exited(engine, lane, task, reason)
    limit = check.timeout_seconds if check else 30
    raise HealthFailed(f"{executor.host.name}: {lane.release.container} not healthy after "
                       f"{limit:g}s: {reason}")


def _raise_if_exited(engine, lane, task, reason: str) -> None:
    executor = engine.executor(task.host)
    name = lane.release.container
    result = executor.run(containers.container_status(
        lane.deployment.runtime.value.engine, name))
    status = containers.parse_status(result.stdout)
    if status.state not in ("running", "created") or status.restarts > 0:
        logs = "\n".join("    " + line for line in status.logs.splitlines()[-10:])
        raise HealthFailed(f"{executor.host.name}: {name} {status.state} (exit "
                           f"{status.exit_code}, {status.restarts} restarts) before it was "
                           f"healthy; {reason}" + (f"\n  last log lines:\n{logs}" if logs else ""))


def _why(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if "refused" in text.lower() or "reset" in text.lower() or "disconnect" in text.lower():
        return "connection refused (nothing listening yet)"
    return text
