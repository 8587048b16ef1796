"""The rollback window (`Deployment(rollback_window=SECONDS)`): after a switch the release it
superseded keeps running outside the proxy that long, so `otter rollback` inside the window
is a health check and a switch, nothing started.

The target holds the truth: the kept folder (`<state dir>/kept`) names the kept release and
its deadline (the target's clock), and a transient systemd timer (`otter-kept-NAME`) runs
scripts/window/retire.sh when the window ends, with or without a controller: under the
deploy lock, never the release the proxy serves. The next switch keeps its release under
the timer already armed when that one is due no later (it fires first and arms the next:
one timer per deployment, and no systemd call in a rollback inside the window), else arms
its own, or cancels them; then it retires the release kept before itself; recover leaves
the kept instance alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from otterfile.command import Command, script
from otterfile.run import kinds
from otterfile.proxies.base import serves_port
from otterfile.run.state import state_dir
from otterfile.scripts import load

if TYPE_CHECKING:
    from otterfile.load.project import DeploymentDef
    from otterfile.run.lane import Lane
    from otterfile.run.state import Release, State

MARK = "--- otter:kept"  # in the target read: "RELEASE UNTIL" then the target's now


@dataclass(frozen=True)
class Kept:
    """The release a target keeps running for the rollback window, and until when."""

    release: str
    until: int  # epoch seconds on the target's clock
    now: int  # the target's clock when it was read

    @property
    def left(self) -> int:
        """Seconds of the window left (0: it ended; the timer retires it)."""
        return max(0, self.until - self.now)


def parse(text: str | None) -> Kept | None:
    """What the target read printed after MARK (None: nothing kept, or not ours to trust)."""
    words = (text or "").split()
    if len(words) != 3 or not words[1].isdigit() or not words[2].isdigit():
        return None
    return Kept(words[0], int(words[1]), int(words[2]))


def kept_dir(deployment: str) -> str:
    return f"{state_dir(deployment)}/kept"


def unit(deployment: str) -> str:
    """The transient timer (and service) that retires the kept release."""
    return f"otter-kept-{deployment}"


def kept_release(state: State, kept: Kept | None) -> Release | None:
    """The kept release's record, when it is one the state knows and not the live one."""
    if kept is None or kept.release == state.live:
        return None
    return next((r for r in state.releases if r.id == kept.release), None)


def instant(lane: Lane, release: Release) -> bool:
    """Whether a rollback to `release` is a switch alone: it is the kept release, inside its
    window, and its instance runs."""
    kept = lane.kept
    return bool(kept and kept.release == release.id and kept.left > 0 and release.port and
                kinds.release_key(lane.deployment, release) in lane.running)


def arm(dep: DeploymentDef, release: Release) -> Command:
    """Keep `release` running for dep's window: the kept folder written, the timer armed
    (replacing the one before); without systemd-run, retired now."""
    assert release.instance is not None  # a release that ran
    rt = kinds.runtime_of(dep, release)
    seconds = max(1, math.ceil(dep.window))
    serves = serves_port(dep.proxy_kind, dep.name, release.port)
    return script(load("window/arm.sh"), args=[
        kept_dir(dep.name), unit(dep.name), release.id, str(seconds), serves.shell_line(),
        rt.stop(release.instance, drain_seconds=0, stop_seconds=dep.stop_seconds).shell_line(),
        rt.remove(release.instance).shell_line(), load("window/retire.sh")],
        description=f"keep {release.id} running for {seconds}s (rollback window)")


def cancel(deployment: str) -> Command:
    """Nothing kept any more: the timer cancelled, the kept folder removed."""
    return script(load("window/cancel.sh"), args=[kept_dir(deployment), unit(deployment)],
                  description=f"cancel the rollback window of {deployment}")


def retire_steps(lane: Lane, keep: Release | None) -> list[Command]:
    """The retire stage's part: `keep` kept (the timer armed anew, replacing the ones
    before) or the timer cancelled, then the release kept before stopped and removed
    (unless this run made it live again, or keeps it again). In that order: a stop or
    removal that fails leaves the kept folder naming what runs, never a stopped release."""
    dep, steps = lane.deployment, []
    if keep is not None:
        steps.append(arm(dep, keep))
    elif lane.kept is not None:
        steps.append(cancel(dep.name))
    former = kept_release(lane.state, lane.kept)
    if former and former.instance and (keep is None or former.id != keep.id) and \
            (lane.release is None or former.id != lane.release.id):
        rt = kinds.runtime_of(dep, former)  # stopped already (it crashed): removed all the same
        stop = rt.stop(former.instance, drain_seconds=0, stop_seconds=dep.stop_seconds)
        steps.append(script('sh -c "$1" </dev/null; sh -c "$2"', args=[
            stop.shell_line(), rt.remove(former.instance).shell_line()],
            description=f"retire {former.id}, kept before"))
    return steps


def said(dep: DeploymentDef, keep: Release) -> str:
    seconds = max(1, math.ceil(dep.window))
    return (f"{keep.id} kept running for {seconds}s on 127.0.0.1:{keep.port} (rollback "
            f"window): `otter rollback {dep.name}` switches back to it at once")
