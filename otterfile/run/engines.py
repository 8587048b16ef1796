"""The two engines a command makes: `real_engine` reaches the hosts (SSH, local processes)
and the Docker engine; `planned_engine` runs nothing, for `otter plan` and `--dry-run`
(every executor records and answers as a fresh target, images are placeholders)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from otterfile.run.engine import Engine

if TYPE_CHECKING:
    from otterfile.command import Command
    from otterfile.hosts import Host
    from otterfile.load.project import Project
    from otterfile.run.runner import Reporter

RELEASE_PLACEHOLDER = "RELEASE"  # the release id `otter plan` and --dry-run show


def real_engine(project: Project, report: Reporter, **options: Any) -> Engine:
    """An engine that reaches the hosts (SSH, local processes) and the Docker engine."""
    from otterfile.artifacts.cache_lock import cache_lock
    from otterfile.transfer.images import DockerImages
    from otterfile.transfer.remote_images import RemoteImages
    from otterfile.executors import executor_for
    from otterfile.run.fingerprint import KEYS
    engine = Engine(project, report, images=DockerImages(), cache_lock=cache_lock,
                    host_images=RemoteImages,
                    connect=lambda host, folder: executor_for(host, control_dir=folder),
                    **options)
    engine.keys = project.folder / KEYS  # a no-op redeploy is decided on the target
    return engine


def planned_engine(project: Project, report: Reporter,
                   on_command: Callable[[Host, Command], None] | None = None,
                   **options: Any) -> Engine:
    """An engine that runs nothing: every executor records and answers as a fresh target,
    images are placeholders. `otter plan` and `--dry-run` use it."""
    from otterfile.transfer.images import PlannedImages
    from otterfile.executors.planned import PlannedExecutor
    engine = Engine(project, report, images=PlannedImages(),
                    connect=lambda host, _folder: PlannedExecutor(host, on_command),
                    release_id=lambda _digest: RELEASE_PLACEHOLDER, **options)
    engine.planned = True  # nothing real to relay: no keys made, each target ships directly
    return engine
