"""`ctx`, what a custom step function receives."""
from __future__ import annotations

from typing import Any

from .command import Command
from .errors import OtterError
from .executors.base import Result


class StepFailed(OtterError):
    """A command of a custom step exited non-zero."""


class StepContext:
    """Run commands where the step runs; `{container}`, `{release}`, `{port}`, `{image}`,
    `{digest}`, `{host}` and `{deployment}` in a command are filled in."""

    def __init__(self, engine, task, lane=None):
        self._engine, self._task, self._lane = engine, task, lane
        self.deployment = task.deployment
        self.host = task.host or "controller"
        release = getattr(lane, "release", None)
        artifact = engine.artifacts.get(getattr(lane, "deployment", None) and
                                        lane.deployment.artifact.name)
        self.release = getattr(release, "id", None)
        self.container = getattr(release, "container", None)
        self.port = getattr(release, "port", None)
        self.digest = getattr(artifact, "digest", None)
        self.image = getattr(artifact, "image", None)
        self.commit = getattr(artifact, "commit", None)
        self.dry_run = engine.dry_run

    @property
    def values(self) -> dict[str, Any]:
        return {k: ("" if v is None else v) for k, v in vars(self).items()
                if not k.startswith("_")}

    def run(self, command: str, *, check: bool = True) -> Result:
        """Run a shell command on this step's host (the controller for on="controller")."""
        return self._run(self._task.host, command, check)

    def local(self, command: str, *, check: bool = True) -> Result:
        """Run a shell command on the controller."""
        return self._run(None, command, check)

    def log(self, message: str) -> None:
        self._engine.emit(self._task, "info", message)

    def _run(self, host: str | None, command: str, check: bool) -> Result:
        line = command.format_map(self.values)
        job = Command(("sh", "-c", line), description=line)
        result = self._engine.executor(host).run(
            job, on_output=lambda _s, text: self._engine.emit(self._task, "output", text))
        if check and not result.ok:
            raise StepFailed(f"{line!r} exited {result.exited}: {result.tail(5)}")
        return result
