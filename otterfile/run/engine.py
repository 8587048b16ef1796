"""The engine: what one run holds (executors, artifacts, lanes) while it performs tasks.
lane.py holds what it knows per target, engines.py makes the real and the planned one."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager

from otterfile.artifacts.base import Artifact, ImageStore
from otterfile.errors import OtterError
from otterfile.executors.base import Executor
from otterfile.hosts import Host, LocalHost
from otterfile.load.project import Project
from otterfile.plan.graph import Task
from otterfile.run.lane import Lane
from otterfile.run.lock_holder import controller_identity, new_run_id
from otterfile.run.runner import Event, Reporter
from otterfile.run.state import new_release_id
from otterfile.run.stages import perform
from otterfile.secrets import Secret

if TYPE_CHECKING:
    from otterfile.transfer.relay_tree import Tree

Connect = Callable[[Host, str], Executor]  # (host, control folder) -> executor
ReleaseId = Callable[[str], str]  # digest -> a new release id
HostImages = Callable[[Executor], ImageStore]  # a build host's executor -> its image store
# (cache folder, where to say it waits) -> held while the build cache is used
CacheLock = Callable[[Path, Callable[[str], None]], ContextManager[None]]
Env = dict[str, str | Secret]  # a deployment's env, secrets resolved


def timed_release_id(digest: str) -> str:
    return new_release_id(digest, datetime.now(timezone.utc))


def once_per_digest(make: ReleaseId) -> ReleaseId:
    """One release id per artifact for the whole run: every target names the release alike
    (`rollback --to ID` then means the same release everywhere), whenever its start runs."""
    made: dict[str, str] = {}
    guard = threading.Lock()

    def release_id(digest: str) -> str:
        with guard:
            if digest not in made:
                made[digest] = make(digest)
            return made[digest]
    return release_id


class Engine:
    """Holds executors (one per host, one SSH master each), artifacts and lanes."""

    def __init__(self, project: Project, report: Reporter, *, connect: Connect,
                 images: ImageStore, env: dict[str, Env] | None = None,
                 sources: dict[str, Any] | None = None,
                 lock_wait: float = 0.0, cancel: threading.Event | None = None,
                 rollback: bool = False, rollback_to: str | None = None,
                 rollback_force: bool = False, rollback_with_data: bool = False,
                 only: bool = False,
                 release_id: ReleaseId = timed_release_id,
                 cache_lock: CacheLock | None = None,
                 host_images: HostImages | None = None) -> None:
        self.project, self.report = project, report
        self._given = images
        self._images: ImageStore | None = None  # shared when first asked: see images
        self._host_images = host_images or (lambda _executor: images)
        self._stores: dict[str, ImageStore] = {}
        self._connect, self.release_id = connect, once_per_digest(release_id)
        self.cache_lock: CacheLock = cache_lock or (lambda *_: contextlib.nullcontext())
        self.lock_wait, self.rollback, self.rollback_to = lock_wait, rollback, rollback_to
        self.rollback_force = rollback_force  # `rollback --force`: past a migration's contract
        self.rollback_with_data = rollback_with_data  # the data restored: nothing reused
        self.only = only  # `--only STEP`: no release is started; steps see the live one
        self.env = env or {}  # deployment name -> env with secrets resolved
        self.sources = sources or {}  # artifact name -> source with secrets resolved
        self.cancel = cancel or threading.Event()
        self.control_dir = tempfile.mkdtemp(prefix="otter-ssh-")
        self.executors: dict[str, Executor] = {}
        self.artifacts: dict[str, Artifact] = {}
        self.lanes: dict[tuple[str, str], Lane] = {}
        self._trees: dict[tuple[str | None, str], list[Tree]] = {}  # relay=True: see relay_tree
        self._guard = threading.Lock()
        self.who, self.run_id = controller_identity(), new_run_id()
        self.planned = False  # `otter plan` / --dry-run (planned_engine)
        # where the targets' fingerprint keys are kept (run/noop.py; real_engine sets it):
        # None, no no-op decided on the target
        self.keys: Path | None = None

    def host(self, name: str | None) -> Host:
        if name is None:
            return LocalHost("controller")
        host = self.project.host(name)
        if host is not None:
            return host
        raise OtterError(f"unknown host {name}")

    def executor(self, name: str | None) -> Executor:
        key = name or "controller"
        with self._guard:
            if key not in self.executors:
                self.executors[key] = self._connect(self.host(name), self.control_dir)
            return self.executors[key]

    @property
    def images(self) -> ImageStore:
        """The controller's image store, one `docker save` for every target (fanout), made
        when first asked: a rollback or a no-op never loads the transfer's modules."""
        with self._guard:
            if self._images is None:
                self._images = self._shared(self._given, None)
            return self._images

    def images_on(self, name: str | None) -> ImageStore:
        """The image store where an artifact is acquired: the controller's, or a build
        host's (build(on=...)), one per host for the run."""
        if name is None:
            return self.images
        executor = self.executor(name)
        with self._guard:
            if name not in self._stores:
                self._stores[name] = self._shared(self._host_images(executor), name)
            return self._stores[name]

    def _shared(self, store: ImageStore, host: str | None) -> ImageStore:
        """`store` streaming each image once for all the lanes that ship it (fanout)."""
        from otterfile.transfer.fanout import SharedImages
        return SharedImages(store, expected=lambda image_id: self._shipping(host, image_id),
                            on_info=lambda line: self.emit(None, "info", line))

    def _shipping(self, host: str | None, image_id: str) -> int:
        """How many lanes of the run ship the image `image_id` from `host`'s store: those
        not failed before their ship stage (lanes start as their lock does)."""
        with self._guard:
            lanes = list(self.lanes.values())
        count = 0
        for lane in lanes:
            artifact = lane.artifact or self.artifacts.get(lane.deployment.artifact.name)
            count += (artifact is not None and artifact.digest == image_id
                      and lane.deployment.artifact.build_host == host
                      and (not lane.failed or "ship" in lane.stage_seconds)
                      and not lane.closed)  # a no-op decided on the target ships nothing
        return count

    def relay_tree(self, lane: Lane, digest: str) -> Tree:
        """The relay tree (transfer.relay_tree.Tree) this lane's target joins for image `digest`:
        the one gathering now, or a new one once it is drawn (a later batch of targets)."""
        key = (lane.deployment.artifact.build_host, digest)
        with self._guard:
            trees = self._trees.setdefault(key, [])
            if not trees or trees[-1].drawn:
                from otterfile.transfer.relay_tree import Tree
                trees.append(Tree(lambda: self._relaying(key, trees[:-1])))
            return trees[-1]

    def _relaying(self, key: tuple[str | None, str], earlier: list[Tree]) -> int:
        """How many lanes of the run may still join the newest relay tree of `key`: relay=True,
        shipping that image from that store, not failed before or done with their ship, in
        no earlier tree."""
        with self._guard:
            lanes = list(self.lanes.values())
        seen = set().union(*(tree.members() for tree in earlier))
        count = 0
        for lane in lanes:
            artifact = lane.artifact or self.artifacts.get(lane.deployment.artifact.name)
            count += (lane.deployment.relay and lane.host.peer() is not None
                      and artifact is not None and artifact.digest == key[1]
                      and lane.deployment.artifact.build_host == key[0]
                      and not lane.failed and "ship" not in lane.stage_seconds
                      and lane.host.name not in seen)
        return count

    def images_of(self, lane: Lane) -> ImageStore:
        """The store a lane's artifact ships from (a rollback's is on the target already)."""
        return self.images_on(lane.deployment.artifact.build_host)

    def lane(self, deployment: str, host: str) -> Lane:
        dep = self.project.deployments[deployment]
        with self._guard:
            if (dep.name, host) not in self.lanes:
                self.lanes[(dep.name, host)] = Lane(dep, self.host(host))
            return self.lanes[(dep.name, host)]

    def artifact_of(self, lane: Lane) -> Artifact:
        """The artifact a lane deploys: its own (a rollback) or the run's."""
        return lane.artifact or self.artifacts[lane.deployment.artifact.name]

    def perform(self, task: Task) -> None:
        """Run one task; raise to fail it."""
        if self.cancel.is_set() and not task.always:
            raise OtterError("interrupted")
        perform(self, task)

    def emit(self, task: Task | None, kind: str, message: str = "", **data: Any) -> None:
        self.report(Event(kind, task, message=message, data=data))

    def interrupt(self) -> None:
        """Ctrl-C: stop the commands that run in process groups of their own (local builds
        and steps) at once; what runs over SSH got the terminal's signal itself."""
        self.cancel.set()
        for executor in list(self.executors.values()):
            try:
                executor.interrupt()
            except Exception:  # an interrupt must reach every executor
                pass

    def close(self) -> None:
        """Stop what build hosts serve, close every connection (SSH masters), whatever
        happened."""
        for store in [*filter(None, [self._images]), *self._stores.values()]:
            try:
                store.close()
            except Exception:  # closing must not hide the run's own outcome
                pass
        for executor in list(self.executors.values()):
            try:
                executor.close()
            except Exception:  # closing must not hide the run's own outcome
                pass
        shutil.rmtree(self.control_dir, ignore_errors=True)
