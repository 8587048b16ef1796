"""Custom steps: `ctx`, what a step function receives, and running a step task."""
from __future__ import annotations

import re
import shlex
from typing import Any

from ..command import Command
from ..errors import OtterError
from ..executors.base import Result

PLACEHOLDERS = ("container", "instance", "release", "port", "image", "digest", "commit",
                "host", "deployment")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


class StepFailed(OtterError):
    """A command of a custom step exited non-zero."""


class StepContext:
    """Run commands where the step runs; `{container}`, `{release}`, `{port}`, `{image}`,
    `{digest}`, `{commit}`, `{host}` and `{deployment}` in a command are filled in, quoted;
    other braces are left alone (awk, docker --format)."""

    def __init__(self, engine, task, lane=None):
        self._engine, self._task, self._lane = engine, task, lane
        self.deployment = task.deployment
        self.host = task.host or "controller"
        release = getattr(lane, "release", None)
        artifact = engine.artifact_of(lane) if lane is not None and \
            (lane.artifact or lane.deployment.artifact.name in engine.artifacts) else None
        self.release = getattr(release, "id", None)
        self.instance = self.container = getattr(release, "instance", None)
        self.port = getattr(release, "port", None)
        self.digest = getattr(artifact, "digest", None)
        self.image = getattr(artifact, "image", None)
        self.commit = getattr(artifact, "commit", None)

    def fill(self, command: str) -> str:
        """`command` with the known placeholders replaced by their quoted values."""
        def value(match: re.Match) -> str:
            found = getattr(self, match.group(1))
            return shlex.quote("" if found is None else str(found))
        return _PLACEHOLDER.sub(value, command)

    def run(self, command: str, *, check: bool = True) -> Result:
        """Run a shell command on this step's host (the controller for on="controller")."""
        return self._run(self._task.host, command, check)

    def local(self, command: str, *, check: bool = True) -> Result:
        """Run a shell command on the controller."""
        return self._run(None, command, check)

    def log(self, message: str) -> None:
        self._engine.emit(self._task, "info", message)

    def _run(self, host: str | None, command: str, check: bool) -> Result:
        line = self.fill(command)
        job = Command(("sh", "-c", line), description=line)
        result = self._engine.executor(host).run(
            job, on_output=lambda _s, text: self._engine.emit(self._task, "output", text))
        if check and not result.ok:
            raise StepFailed(f"{line!r} exited {result.exited}: {result.tail(5)}")
        return result


def run_step(engine, task) -> Any:
    """Call a custom step's function with its ctx (the lane of its host, or the first's)."""
    dep = engine.project.deployments[task.deployment]
    step = next(s for s in dep.steps if s.name == task.step)
    host = task.host or (dep.hosts[0].name if dep.hosts else None)
    lane = engine.lanes.get((dep.name, host or ""))
    return step.fn(StepContext(engine, task, lane))
