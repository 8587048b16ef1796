"""`plan --check`'s judgement of one deployment on one target, from what the target answered:
the release by the flow's own rules (target.live, target.unchanged, the fingerprint), the
proxy site, the proxy's install or start, and what moves for the artifact and how many
bytes. The values it makes (TargetCheck, Move) are what the CLI prints."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from otterfile.run import schedules, target
from otterfile.run.fingerprint import config_of
from otterfile.run.state import PORT_PLACEHOLDER
from otterfile.run.switching import site_of
from otterfile.transfer.layers import missing
from otterfile.transfer.probe import probed
from otterfile.transfer.sizes import history_of, layer_sizes

if TYPE_CHECKING:
    from pathlib import Path

    from otterfile.artifacts.base import Artifact
    from otterfile.load.project import DeploymentDef
    from otterfile.run.drift import Drift
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.run.state import Release


@dataclass(frozen=True)
class Move:
    """How the artifact reaches a target: `how` is `none` (it has it), `layers` (the image
    layers it lacks), `whole` (the whole image or file), `pull` (the target pulls it from a
    registry), `download` (the target downloads it) or `unknown`; `bytes` None: unknown."""

    how: str
    bytes: int | None = None
    layers_missing: int | None = None
    layers: int | None = None


@dataclass(frozen=True)
class TargetCheck:
    """What one deployment on one target would do; `error` set: the target did not answer."""

    host: str
    address: str
    deployment: str | None = None
    artifact: str | None = None
    digest: str | None = None
    move: Move | None = None
    release: str | None = None  # `none` (no-op), `first`, `new`, `replace`, `unknown`
    live: str | None = None  # the live release's id
    site: str | None = None  # `new`, `changed`, `unchanged`, `none` (no proxy)
    site_path: str | None = None
    proxy: str | None = None  # `install` or `start` (the run would), else None
    switch: str | None = None  # how the proxy switches there: Switching.said
    note: str | None = None
    error: str | None = None
    drift: Drift | None = None  # what differs (plan --check --exit-code: run/drift.py)
    # schedules the target has units of that the Otterfile no longer declares (a run
    # removes them, a no-op run too)
    schedules: tuple[str, ...] = ()


def judge(engine: Engine, lane: Lane, sections: dict[str, tuple[int, str]],
          notes: dict[str, str]) -> TargetCheck:
    """What the run would do on this lane's target, from what it answered: the release by
    the flow's own rules (target.live, target.unchanged)."""
    dep, px, host = lane.deployment, lane.proxy, lane.host.name
    reading = target.parse(dep, host, sections.get(f"{dep.name}/read", (0, ""))[1])
    _, live = target.live(dep, reading)
    lane.switching = target.switching(dep, reading) or lane.switching
    artifact = engine.artifacts.get(dep.artifact.name)
    digest = artifact.digest if artifact is not None else None
    known = bool(digest)
    config = config_of(engine, lane, digest, reading.key) if digest else None
    same = target.unchanged(dep, live, config, target.running(dep, reading),
                            runtime=lane.runtime.name, rollback=engine.rollback,
                            old_sites=reading.old_sites)
    action = release_action(live, same, known=known, recreate=dep.recreate)
    return TargetCheck(host, lane.host.address, dep.name, dep.artifact.name,
                       digest or None,
                       artifact_move(engine, lane, artifact, reading), action,
                       live.id if live else None, _site(lane, reading, action),
                       px.site_path(dep.name) if dep.proxied else None,
                       _proxy_would(dep, sections, reading),
                       lane.switching.said if dep.proxied else None,
                       notes.get(dep.artifact.name),
                       schedules=tuple(schedules.undeclared(dep, reading.schedules)))


def _site(lane: Lane, reading: target.Reading, action: str) -> str:
    dep = lane.deployment
    if not dep.proxied:
        return "none"
    if action == "none" and not dep.fleet:  # a fleet site names the others: they may move
        return "unchanged"
    port = target.served_port(dep, reading)
    return site_change(reading.site, site_of(lane, port or PORT_PLACEHOLDER))


def _proxy_would(dep: DeploymentDef, sections: dict[str, tuple[int, str]],
                 reading: target.Reading) -> str | None:
    """`install` or `start` (the run would), `take over from KIND`, or None."""
    if not dep.proxied:
        return None
    status = sections.get(f"{dep.name}/proxy", (0, ""))[1].split()
    would = None if "running" in status else "start" if "installed" in status else "install"
    active = [o.kind for o in reading.old_sites if o.active]
    return f"take over from {active[0]}" if active else would  # see run/handover.py


def release_action(live: Release | None, same: bool, *, known: bool = True, recreate: bool = False) -> str:
    """`none`: the run changes nothing (target.unchanged said so); else a new release:
    `first` (nothing live), `new` (beside the live one), `replace` (recreate: the live one
    stops first), `unknown` (the digest is known only at deploy)."""
    if live is None:
        return "first"
    if not known:
        return "unknown"
    if same:
        return "none"
    return "replace" if recreate else "new"


def site_change(served: str, generated: str | None) -> str:
    """`new` (no site served), `unchanged` (the same but for the upstream port), or
    `changed`; `generated` is rendered with the served port (a placeholder when none could
    be read: a site reading the port file names none)."""
    if not served.strip():
        return "new"
    return "unchanged" if generated is not None and generated == served else "changed"


def artifact_move(engine: Engine, lane: Lane, artifact: Artifact | None,
                  reading: target.Reading) -> Move:
    """What moves to the target for its artifact, and how many bytes."""
    rt = lane.runtime
    if artifact is None:
        return Move("unknown")
    if artifact.pull is not None:
        return Move("pull")
    if reading.probe is not None and probed(reading.probe):
        return Move("none", 0)
    if artifact.path is None and artifact.url:  # fetch(via="target")
        return Move("download")
    if artifact.path is not None:
        return Move("whole", _file_size(artifact.path))
    images = engine.images_of(lane)
    if rt.layers() is None or reading.layers is None:
        return Move("whole", images.size(artifact.digest))
    diff_ids = images.layers(artifact.digest)
    have = rt.parse_layers(reading.layers)
    lacking = missing(diff_ids, have)
    sizes = layer_sizes(history_of(images, artifact.digest), diff_ids)
    count = sum(sizes[i] for i in lacking) if sizes is not None else None
    return Move("layers", count, len(lacking), len(diff_ids))


def _file_size(path: Path) -> int | None:
    return path.stat().st_size if path.exists() else None
