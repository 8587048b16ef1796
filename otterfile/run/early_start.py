"""A release started in the ship's round trip: the start stage's command run on the target
right after the store's receive has stored the file and checked its digest
(scripts/store/then.sh), and a first deploy's proxy site installed beside it. `planned`
says when that is allowed and builds what runs; flow.py's ship runs it and its start stage
takes the result."""
from __future__ import annotations

from typing import TYPE_CHECKING

from otterfile.run import target
from otterfile.run.fingerprint import config_of

if TYPE_CHECKING:
    from otterfile.artifacts.base import Artifact
    from otterfile.command import Command
    from otterfile.load.project import DeploymentDef
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane


def planned(engine: Engine, lane: Lane, artifact: Artifact, present: bool | None
            ) -> tuple[str, str | None, Command, Command | None] | None:
    """(release id, config, the start's command, the proxy's site installed beside it: a
    first deploy's, see `site`) when the start can run in the ship's round trip, right
    after the receive has stored the file and checked its digest (a first deploy of a file,
    or a new one): the state read said the target lacks the file, nothing runs between the
    ship and the start (a step, a recreate's stop), the start reads no secret env. None: the start stage starts it in a trip of its own."""
    dep, rt = lane.deployment, lane.runtime
    if (present is not False or engine.planned or engine.only or engine.rollback
            or lane.reused or dep.relay or dep.recreate or artifact.form != "file"
            or artifact.path is None or step_between(dep)):
        return None
    config = config_of(engine, lane, artifact.digest, lane.key)
    if target.unchanged(dep, lane.previous, config, lane.running, runtime=rt.name,
                        rollback=engine.rollback, old_sites=lane.old_sites):
        return None
    release_id = engine.release_id(artifact.digest)
    from otterfile.run.flow import start_spec  # flow imports this module
    command = rt.start(dep.runtime.value, start_spec(engine, lane, artifact, release_id))
    if command.secret_env():
        return None
    return release_id, config, command, site(lane)


def site(lane: Lane) -> Command | None:
    """A first deploy's site, installed beside the start (the proxy reloaded while the
    release boots) with no port file: it answers 502 until the switch names the port, and
    that switch needs no reload. Only where nothing of the deployment was live or served
    (no release, no other proxy's site), the site the same whatever the port (read per
    request); the abort takes it away again."""
    from otterfile.run.switching import site_for, site_of
    dep = lane.deployment
    if (not dep.proxied or dep.fleet or lane.previous is not None or lane.state.live
            or lane.old_sites or not lane.switching.per_request):
        return None
    text = site_of(lane, 1)
    if text != site_of(lane, 2):
        return None
    return lane.proxy.install_early(dep.proxy, site_for(lane, 1), text)


def step_between(dep: DeploymentDef) -> bool:
    """Whether a step runs between the ship and the start (after="ship", before="start",
    or anchored to a step anchored to either)."""
    steps = {step.name: step for step in dep.steps}
    for step in dep.steps:
        kind, anchor, chained = *step.anchor, False
        for _ in steps:  # up the chain of steps to a stage
            if anchor not in steps:
                break
            kind, anchor, chained = *steps[anchor].anchor, True
        if (kind, anchor) in (("after", "ship"), ("before", "start")) or \
                (chained and anchor in ("ship", "start")) or anchor in steps:
            return True
    return False
