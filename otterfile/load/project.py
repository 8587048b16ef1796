"""The validated model an Otterfile evaluates to; everything after this is planning."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from otterfile.errors import OtterfileError
from otterfile.hosts import Host
from otterfile.load.model import Caddy, HealthCheck
from otterfile.secrets import Secret

if TYPE_CHECKING:
    from otterfile.artifacts.base import ArtifactSource
    from otterfile.artifacts.kinds import SourceKind
    from otterfile.proxies.kinds import ProxyKind
    from otterfile.runtimes.kinds import RuntimeKind
    from otterfile.load.snapshots import Snapshots
    from otterfile.load.schedule import ScheduleDef
    from otterfile.proxies.base import Proxy
    from otterfile.runtimes.base import Runtime


@dataclass(frozen=True)
class ArtifactDef:
    name: str
    source: Any  # the Otterfile value: build(...), fetch(...), registry(...)
    line: int = 0

    @property
    def declared(self) -> SourceKind:
        """The source's kind as evaluation checks it (artifacts/kinds.py): no handler."""
        from otterfile.artifacts import declared_source
        return declared_source(self.source)

    @property
    def kind(self) -> ArtifactSource:
        """The source's handler (artifacts.KINDS), its module imported when first asked."""
        from otterfile.artifacts import KINDS
        return KINDS.of(self.declared)

    @property
    def build_host(self) -> str | None:
        """The target it is built on (build(on=...)), or None: the controller."""
        return self.declared.build_host(self.source)


@dataclass(frozen=True)
class RuntimeDef:
    name: str
    value: Any  # the Otterfile value: docker(...), podman(...), systemd(...)
    env: tuple[tuple[str, str | Secret], ...] = ()
    line: int = 0

    @property
    def declared(self) -> RuntimeKind:
        """The runtime's kind as evaluation checks it (runtimes/kinds.py): no handler."""
        from otterfile.runtimes import declared_runtime
        return declared_runtime(self.value)

    @property
    def kind(self) -> Runtime:
        """The runtime's handler (runtimes.KINDS), its module imported when first asked."""
        from otterfile.runtimes import KINDS
        return KINDS.of(self.declared)


@dataclass(frozen=True)
class TargetDef:
    name: str
    hosts: tuple[Host, ...]
    line: int = 0


@dataclass(frozen=True)
class StepDef:
    name: str
    fn: Callable[[Any], Any] = field(compare=False)
    deployment: str | None
    before: str | None
    after: str | None
    on: str
    line: int = 0
    contract: bool = False  # recorded on the targets: a rollback past it is refused

    @property
    def anchor(self) -> tuple[str, str]:
        """("before" | "after", stage or step name)."""
        return ("before", self.before) if self.before else ("after", self.after or "")

    @property
    def after_deploy(self) -> bool:
        """Whether it runs once every target of the run has finished (after="deploy")."""
        from otterfile.load.model import DEPLOYED
        return self.anchor == ("after", DEPLOYED)


@dataclass(frozen=True)
class DeploymentDef:
    name: str
    group: str
    artifact: ArtifactDef
    runtime: RuntimeDef
    targets: tuple[TargetDef, ...]
    domains: tuple[str, ...] = ()
    health_check: HealthCheck | None = None
    proxy: Any = Caddy()
    keep_releases: int = 5
    parallel: int | str | None = None
    on_failure: str = "stop"
    steps: tuple[StepDef, ...] = ()
    line: int = 0
    drain_seconds: float = 2
    stop_seconds: float = 10
    strategy: str = "bluegreen"  # or "recreate" (stateful services: never two at once)
    canary: bool = False  # the first target alone first, then batches of `parallel`
    relay: bool = False  # targets lacking the image get it from another target (a tree)
    rollback_window: float = 0  # seconds the superseded release keeps running (run/window.py)
    hold_seconds: int = 30  # recreate: the proxy holds requests this long during the swap
    unsupported: OtterfileError | None = None  # why this version cannot deploy it
    snapshots: Snapshots | None = None  # the data copied before each release (checked)
    preview_domain: str | None = None  # "{label}.preview.example.com"; None: no previews
    previews: int = 3  # previews at once
    schedules: tuple[ScheduleDef, ...] = ()  # systemd timers run in the live release
    balance: str = "local"  # "fleet": every proxy forwards to every target (load/balance.py)

    @property
    def proxy_declared(self) -> ProxyKind:
        """The proxy's kind as evaluation checks it (proxies/kinds.py): no handler."""
        from otterfile.proxies import declared_proxy
        return declared_proxy(self.proxy)

    @property
    def proxy_kind(self) -> Proxy:
        """The proxy's handler (proxies.KINDS), its module imported when first asked."""
        from otterfile.proxies import KINDS
        return KINDS.of(self.proxy_declared)

    @property
    def hosts(self) -> tuple[Host, ...]:
        seen: dict[str, Host] = {}
        for target in self.targets:
            for host in target.hosts:
                seen.setdefault(host.name, host)
        return tuple(seen.values())

    @property
    def recreate(self) -> bool:
        return self.strategy == "recreate"

    @property
    def fleet(self) -> bool:
        """Whether each target's proxy also forwards to the other targets' releases."""
        return self.balance == "fleet"

    @property
    def window(self) -> float:
        """The rollback window in effect: none for recreate (never two releases at once)."""
        return 0 if self.recreate else self.rollback_window

    @property
    def proxied(self) -> bool:
        """Served by the proxy: every deployment but a recreate one without domains."""
        return not self.recreate or bool(self.domains)

    def secrets(self) -> tuple[Secret, ...]:
        return tuple(v for _, v in self.runtime.env if isinstance(v, Secret))


@dataclass(frozen=True)
class Project:
    file: Path
    artifacts: dict[str, ArtifactDef]
    runtimes: dict[str, RuntimeDef]
    targets: dict[str, TargetDef]
    deployments: dict[str, DeploymentDef]
    steps: tuple[StepDef, ...] = ()

    @property
    def folder(self) -> Path:
        return self.file.parent

    def host(self, name: str) -> Host | None:
        """The host named `name` in the run: a deployment's, or a build host that deploys
        nothing; None if there is none."""
        for hosts in [d.hosts for d in self.deployments.values()] + \
                [t.hosts for t in self.targets.values()]:
            for host in hosts:
                if host.name == name:
                    return host
        return None

    def select(self, name: str) -> tuple[DeploymentDef, ...]:
        """Deployments by name, or every deployment of a group (a function that
        returned a list)."""
        if name in self.deployments:
            return (self.deployments[name],)
        group = tuple(d for d in self.deployments.values() if d.group == name)
        if not group:
            from otterfile.errors import UsageError
            known = ", ".join(sorted(self.deployments)) or "none"
            raise UsageError(f"unknown deployment {name!r}; known: {known}")
        return group
