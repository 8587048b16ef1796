"""The engine: performs one planned task at a time with the right executor and driver."""
from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

from .errors import OtterError
from .executors import executor_for
from .executors.base import Executor
from .graph import Task
from .hosts import Host, LocalHost
from .project import DeploymentDef, Project
from .runner import Event, Reporter


@dataclass
class Lane:
    """What one run knows about one deployment on one host, shared by its tasks."""

    deployment: DeploymentDef
    host: Host
    release: Any = None  # the release being started (state.Release)
    previous: Any = None  # the release that was live before (state.Release)
    state: Any = None  # state.State read at lock time
    lock: Any = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    failed: str | None = None  # the first stage that failed
    values: dict[str, Any] = field(default_factory=dict)


class Engine:
    """Holds executors (one per host, one SSH master each), artifacts and lanes."""

    def __init__(self, project: Project, report: Reporter, *, dry_run: bool = False,
                 lock_wait: float = 0.0, env: dict[str, dict] | None = None,
                 cancel: threading.Event | None = None, rollback: bool = False,
                 rollback_to: str | None = None):
        self.project, self.report, self.dry_run = project, report, dry_run
        self.lock_wait = lock_wait
        self.rollback, self.rollback_to = rollback, rollback_to
        self.env = env or {}  # deployment name -> env with secrets resolved
        self.cancel = cancel or threading.Event()
        self.control_dir = tempfile.mkdtemp(prefix="otter-ssh-")
        self.executors: dict[str, Executor] = {}
        self.artifacts: dict[str, Any] = {}
        self.lanes: dict[tuple[str, str], Lane] = {}
        self._guard = threading.Lock()
        from .lock import controller_identity, new_run_id
        self.who, self.run_id = controller_identity(), new_run_id()

    def host(self, name: str | None) -> Host:
        if name is None:
            return LocalHost("controller")
        for dep in self.project.deployments.values():
            for host in dep.hosts:
                if host.name == name:
                    return host
        raise OtterError(f"unknown host {name}")

    def executor(self, name: str | None) -> Executor:
        key = name or "controller"
        with self._guard:
            if key not in self.executors:
                host = self.host(name)
                if self.dry_run:
                    self.executors[key] = self._dry_executor(host)
                else:
                    self.executors[key] = executor_for(host, control_dir=self.control_dir)
            return self.executors[key]

    def _dry_executor(self, host: Host) -> Executor:
        """Answers as a fresh target would, and shows each command instead of running it."""
        from .executors.recording import RecordingExecutor
        engine = self

        class DryRun(RecordingExecutor):
            def run(self, command, **kwargs):
                engine.report(Event("info", None, message=f"{host.name}: would run: "
                                    f"{command.description or command.display()}"))
                return super().run(command, **kwargs)

        return DryRun(host, responses={lambda c: c.description.startswith("lock "):
                                       "status=acquired\n"})

    def lane(self, task: Task) -> Lane:
        dep = self.project.deployments[task.deployment or ""]
        key = (dep.name, task.host or "")
        with self._guard:
            if key not in self.lanes:
                self.lanes[key] = Lane(dep, self.host(task.host))
            return self.lanes[key]

    def perform(self, task: Task) -> None:
        """Run one task; raise to fail it."""
        from . import stages
        if self.cancel.is_set() and not task.always:
            raise OtterError("interrupted")
        stages.perform(self, task)

    def emit(self, task: Task | None, kind: str, message: str = "", **data: Any) -> None:
        self.report(Event(kind, task, message=message, data=data))

    def close(self) -> None:
        """Close every connection (SSH masters), whatever happened."""
        for executor in list(self.executors.values()):
            try:
                executor.close()
            except Exception:  # closing must not hide the run's own outcome
                pass
        shutil.rmtree(self.control_dir, ignore_errors=True)
