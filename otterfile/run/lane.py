"""The lane: what one run knows about one deployment on one target, shared by the tasks
of that target (lock, ship, start, health, switch, retire). Stages read it and write into
it; the engine (engine.py) makes one per (deployment, host) and keeps them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from otterfile.proxies.base import Switching
from otterfile.run.state import State
from otterfile.values import Landing

if TYPE_CHECKING:
    from otterfile.artifacts.base import Artifact
    from otterfile.command import Command
    from otterfile.executors.base import Result
    from otterfile.hosts import Host
    from otterfile.load.project import DeploymentDef
    from otterfile.proxies.base import Proxy
    from otterfile.run.handover import OldSite
    from otterfile.run.instant import SwitchedBack
    from otterfile.run.lock import DeployLock
    from otterfile.run.state import Release
    from otterfile.run.window import Kept
    from otterfile.runtimes.base import Runtime


@dataclass
class Lane:
    """What one run knows about one deployment on one host, shared by its tasks."""

    deployment: DeploymentDef
    host: Host
    artifact: Artifact | None = None  # what this lane deploys (a rollback: the release's)
    state: State = field(default_factory=State)  # read at lock time, kept current
    previous: Release | None = None  # the release that was live before this run
    release: Release | None = None  # the release this run starts (or the live one: no-op)
    # (runtime kind, name) of the instances running when the lock was taken
    running: frozenset[tuple[str, str]] = frozenset()
    noop: bool = False  # the live release already is this artifact and config
    # the target decided the no-op, logged it and released the lock (run/noop.py)
    closed: bool = False
    key: str = ""  # the target's fingerprint key (read at lock time)
    # chain ids of the image layers the target holds (read at lock time); None: unknown
    layers: frozenset[str] | None = None
    # (digest, whether the target has it): the ship probe's answer, read at lock time
    probed: tuple[str, bool] | None = None
    switching: Switching = field(default_factory=Switching)  # how the proxy switches there
    # where the artifact lands and the room there (values.Landing), read at lock time
    space: list[Landing] = field(default_factory=list)
    # the artifacts otter started this deployment from here (a record, an instance's label):
    # the only ones retire or a prune for room removes, whatever releases.json names
    started: frozenset[str] = frozenset()
    lock: DeployLock | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    failed: str | None = None  # the first stage that failed
    # other proxy kinds' sites of this deployment (run/handover.py), read at lock time
    old_sites: tuple[OldSite, ...] = ()
    # a rollback to a release another runtime kind started: that kind starts it again
    starts_with: Runtime | None = None
    kept: Kept | None = None  # the release kept for the rollback window (run/window.py)
    reused: bool = False  # a rollback to the kept release: nothing started, its instance serves
    back: SwitchedBack | None = None  # its switch's round trip retired, logged, unlocked
    # the schedules the target had units of at lock time (run/schedules.py); None: not read
    schedules: tuple[str, ...] | None = None
    # strategy="recreate": the live release this run stopped (started again on a failure)
    stopped: Release | None = None
    # balance="fleet": the other targets' releases its proxy site names, ADDRESS:PORT
    # (run/fleet.py: set at the switch, the fleet stage and by `plan --check`)
    peers: tuple[str, ...] = ()
    # the retire the unlock's round trip starts in the background (run/retire_later.py)
    retire_later: Command | None = None
    # a retire with nothing to stop, prune nor write: its cleanup, in the unlock's round trip
    at_unlock: Command | None = None
    # the start run in the ship's round trip (flow._start_with_ship): (release id, config,
    # what it did), for the start stage to take
    started_early: tuple[str, str | None, Result] | None = None
    # the proxy's site a first deploy installed beside that start (flow._site_early)
    site_early: Result | None = None

    @property
    def runtime(self) -> Runtime:
        """The runtime this run starts its release with: the Otterfile's, or `starts_with`."""
        return self.starts_with or self.deployment.runtime.kind

    @property
    def proxy(self) -> Proxy:
        return self.deployment.proxy_kind
