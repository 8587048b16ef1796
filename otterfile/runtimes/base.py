"""The Runtime interface: how a release is started, watched and stopped on a target.

A release is one artifact started on one target as an *instance* (a container, or a
systemd unit with its release folder) listening on its own port of 127.0.0.1 beside the
live one. A runtime kind is declared in kinds.py (its checks) and handled by one module with one object
implementing `Runtime`; `runtimes.KINDS` maps the Otterfile value's type to it. Methods build Commands and parse
their output; nothing here runs a process.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from otterfile.artifacts.base import Artifact
from otterfile.command import Command, SecretText
from otterfile.values import Instance, InstanceStatus, Pulled
from otterfile.runtimes.kinds import RuntimeKind


@dataclass(frozen=True)
class StartSpec:
    """A new release to start: its names, its artifact, its environment file."""

    deployment: str
    release: str
    artifact: Artifact
    env: str | SecretText | None = None  # the env file's text, or None without env
    env_file: str | None = None
    stop_seconds: float = 10  # how long a stop waits before it kills
    host_port: int | None = None  # strategy="recreate": this port of 127.0.0.1, no other
    # written first: the store's record that this deployment started the artifact (see
    # commands/store.STARTED); "" writes none
    record: str = ""
    # balance="fleet": the port is published on this private address too (the other
    # targets' proxies reach it there); None: on 127.0.0.1 alone
    private: str | None = None
    # the health check polls its port: the start may wait this long for it to listen (on
    # the target, in the start's round trip), so that the first poll finds it; 0: no wait
    listen_seconds: float = 0

    @property
    def port_range(self) -> tuple[int, int] | None:
        return (self.host_port, self.host_port) if self.host_port else None


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule's command to run once in a release (run/schedules.py): the release by id,
    digest and image, its env file (None: no env), the flock file that keeps runs apart."""

    deployment: str
    schedule: str
    release: str
    digest: str
    image: str
    words: tuple[str, ...]
    env_file: str | None
    lock: str


class Runtime(RuntimeKind, Protocol):
    """A runtime kind (docker, podman, systemd): its declaration (kinds.RuntimeKind: checks,
    port, env, settings) and the commands that start, watch and stop its releases."""

    def instance_name(self, deployment: str, release: str) -> str:
        """The instance of a release: a container or unit name derived from both."""

    def probe(self, artifact: Artifact) -> Command:
        """Does the target have the artifact? Prints `present`, `tagged` or `missing`."""

    def receive(self, artifact: Artifact) -> Command:
        """Reads the artifact (as its form's stream) on stdin into the target."""

    def pull(self, ref: str, *, pinned: str | None = None, server: str | None = None,
             username: str | None = None, password: Any = None) -> Command:
        """The target pulls a registry image: `pinned` (NAME@sha256:..., nothing when it
        has it) or, before the run's digest is known, `ref` by its tag; logged in first
        when a password is given. Parsed by `parse_pulled`; `login_refused` reads its exit.
        A runtime that runs no images raises OtterError."""

    def parse_pulled(self, stdout: str) -> Pulled:
        """What `pull` printed: whether it was there, the digests the registry served."""

    def login_refused(self, exited: int) -> bool:
        """Whether `pull` exited because the registry refused the login."""

    def relay_engine(self, artifact: Artifact) -> str | None:
        """The engine whose `load` a relay (Deployment(relay=True)) feeds with `artifact`
        on this runtime's targets, or None: it does not relay (see transfer/relay.py)."""

    def layers(self) -> Command | None:
        """What image layers the target holds (read-only), or None: this runtime ships
        whole artifacts. Parsed by `parse_layers`."""

    def parse_layers(self, stdout: str) -> frozenset[str]:
        """The chain ids of the layers `layers` listed."""

    def landing(self, deployment: str) -> Command | None:
        """Where an artifact shipped for `deployment` lands (read-only): `ROLE PATH` lines,
        `archive` where the bytes sent are written, `unpacked` where they become files or
        layers (commands/space.py); None: not checked before ship."""

    def start(self, value: Any, spec: StartSpec) -> Command:
        """One round trip: write the env file, pick a free port on 127.0.0.1, start the
        instance there. Prints `port=N` (see `parse_started`); exit values.EXIT_NO_PORT: none."""

    def parse_started(self, stdout: str) -> int | str:
        """The port `start` printed."""

    def inspect(self, instance: str) -> Command:
        """State, exit code, restarts and last log lines of an instance (`parse_inspect`)."""

    def parse_inspect(self, stdout: str) -> InstanceStatus: ...

    def listing(self, deployment: str) -> Command:
        """Every instance of the deployment, running or not (`parse_listing`)."""

    def parse_listing(self, stdout: str) -> list[Instance]: ...

    def runs(self, deployment: str) -> Command:
        """Read-only, for a no-op decided on the target (lock/unchanged.sh): one line per
        instance of the deployment, `NAME running` for one that runs (another word else)."""

    def stop(self, instance: str, *, drain_seconds: float, stop_seconds: float) -> Command:
        """Stop after `drain_seconds` of serving in-flight requests; kill it when it has not
        stopped `stop_seconds` after being asked to."""

    def remove(self, *instances: str) -> Command:
        """Remove instances (running or not); those already gone are no error."""

    def resume(self, instance: str) -> Command:
        """Start a stopped instance again as it was (a recreate's old release, when the
        release that replaced it failed)."""

    def prune(self, digests: Sequence[str], keep: Sequence[str]) -> Command:
        """Remove the artifacts of releases past keep_releases (never those in use)."""

    def logs(self, instance: str, *, follow: bool, tail: int) -> Command:
        """The instance's log lines."""

    def data(self, value: Any, deployment: str, *, create: bool = False) -> Command | None:
        """Where the deployment's data lives on a target, as `LABEL PATH` lines (a named
        volume's mount point, the data folder); read-only, unless `create` makes what is
        missing (a restore). None: it keeps no data otter copies (Snapshots, run/snapshots.py)."""

    def own_data(self, value: Any, deployment: str) -> Any:
        """The Otterfile value with its data under names of `deployment`'s own (a preview's:
        it must never share production's named volumes), or `value` where the data already
        belongs to each deployment (a systemd data folder)."""

    def drop_data(self, value: Any, deployment: str) -> Command | None:
        """Delete the deployment's data (a preview's, when it is removed); None: it keeps
        none of its own."""

    def freeze(self, instance: str) -> Command:
        """Pause a running instance for a consistent copy of its data (`thaw` resumes it)."""

    def thaw(self, instance: str) -> Command:
        """Resume an instance `freeze` paused."""

    def exec_in(self, value: Any, deployment: str, release: str,
                argv: Sequence[str]) -> Command:
        """Run `argv` in a running release, as the release runs (Snapshots(before=...))."""

    def schedule_service(self, value: Any, spec: ScheduleSpec) -> str:
        """The systemd service unit that runs a schedule's command once in `spec`'s release
        (a one-off container of its image with its env and volumes; or in its folder as its
        user, hardened as its unit)."""
