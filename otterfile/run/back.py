"""A rollback inside the rollback window in one round trip per target: the lock's.

The switch that keeps a release for the window also leaves on the target, beside the kept
folder, what a rollback to it will run (the "kit", `<state dir>/back`): the proxy pointed
at it between the two state writes, the retire (the release live until then kept, its
timer armed), the state after, the deploy-log records; and the same for the way back, so
a rollback leaves the kit of the next one. All of it is rendered on the controller at that
switch, from the state it writes. `otter rollback` sends scripts/window/back.sh with the
lock script: once the lock is ours it checks that the kit was made for this very state
(releases.json byte for byte), this Otterfile's settings, by an otter with these very
remote scripts and proxy templates (run/kit_code.py), for this release and an open window,
GETs the kept release's health check on the target, and runs the kit, logs and unlocks.
Anything else (no kit, another state or otter, a health check that did not pass at once,
no HTTP client there) exits 10: the state read runs and the rollback goes on as before
(run/instant.py: the health gate from the controller, the switch in a second trip).
"""
from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import shlex
from dataclasses import astuple, is_dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from otterfile.command import Command, script
from otterfile.errors import OtterError
from otterfile.proxies.base import Switching
from otterfile.run.deploy_log import log_record
from otterfile.run.kit_code import code_digest
from otterfile.run.state import state_dir
from otterfile.scripts import load

if TYPE_CHECKING:
    from otterfile.executors.base import Result
    from otterfile.load.project import DeploymentDef
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.run.state import Release, State

MARK = "--- otter:back"  # back.sh: "--- otter:back RELEASE KEPT PORT" when it ran the kit
WHY = "otter: no switch back left ready for this: "  # back.sh, on stderr: why not
WHO, WHEN = "@otter-who@", "@otter-when@"  # in the kit's log records: back.sh fills them
RESULTS = ("ok", "failed at switch", "failed at retire")
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
PROBE_SECONDS = 2  # the one GET on the target; a slower answer takes the health gate


def usable(dep: DeploymentDef) -> bool:
    """Whether a deployment's rollbacks may take the one-trip way: a window; no steps,
    schedules, snapshots, fleet, relay nor min_ready_seconds (their stages ask more)."""
    check = dep.health_check  # min_ready_seconds: watched that long by the health gate
    return bool(dep.window > 0 and not dep.recreate and not dep.fleet and not dep.steps
                and not dep.schedules and dep.snapshots is None and not dep.relay
                and not (check and check.min_ready_seconds))


def signature(lane: Lane) -> str:
    """What the kit depends on in the Otterfile (what the proxy's site is rendered from,
    the window, the health check, the runtime's stop): a kit made under others is not run
    (otter's own code that renders it: run/kit_code.py). Nothing is rendered: the template
    engine stays unloaded."""
    from otterfile.run.switching import site_for
    dep, check = lane.deployment, lane.deployment.health_check
    probe = copy.copy(lane)
    probe.switching = Switching()
    proxy = dep.proxy  # its fields, those out of its repr too (Caddy's switch)
    settings = astuple(proxy) if is_dataclass(proxy) and not isinstance(proxy, type) \
        else repr(proxy)
    parts = [dep.name, repr(site_for(probe, 1)), type(dep.proxy).__name__,
             settings, lane.proxy.name, lane.runtime.name, dep.window,
             dep.keep_releases, dep.stop_seconds, dep.drain_seconds,
             (check.path, check.expect_status, check.min_ready_seconds) if check else None]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def prepare(engine: Engine, lane: Lane, keep: Release | None) -> Command | None:
    """The kit of a rollback to `keep` (the release this switch keeps for the window) and
    of the way back, written in the retire's round trip; None: the next rollback takes the
    two-trip way (not usable here, or nothing to keep)."""
    from otterfile.run import kinds
    live, dep = lane.release, lane.deployment
    if keep is None or live is None or not usable(dep) or lane.old_sites or \
            engine.planned or lane.starts_with is not None:
        return None
    if any(kinds.runtime_of(dep, r).name != lane.runtime.name for r in (keep, live)):
        return None
    try:
        there = _one_way(engine, lane, lane.state, live, keep)
        again = _one_way(engine, lane, there[0], keep, live)
    except (OtterError, ValueError, AssertionError):  # a contract, a secret: the two trips
        return None
    folder = state_dir(dep.name)
    return script(load("window/kit.sh"), args=[f"{folder}/back", *there[1], *again[1]],
                  description=f"leave the switch back to {keep.id} ready (rollback window)")


def _one_way(engine: Engine, lane: Lane, state: State, live: Release,
             keep: Release) -> tuple[State, list[str]]:
    """The state after a rollback from `live` to `keep` (kept), and the kit's three files:
    the variables back.sh sources (one file: no process to read it; gzipped, base64), the
    state it was made for, the proxy's site (the switch's stdin)."""
    from otterfile.command import sequence
    from otterfile.run.contracts import check_rollback
    from otterfile.run.flow import retire_steps
    from otterfile.run.state import mark_live, rollback_target
    from otterfile.run.state_file import format_state
    from otterfile.run.switching import switch_command
    from otterfile.run.window import Kept
    dep = lane.deployment
    if check_rollback(state, keep, host="", deployment=dep.name, force=False):
        raise ValueError("a contract to say")  # said by the two-trip way
    default = rollback_target(state, None).id == keep.id
    hypo = copy.copy(lane)
    hypo.state, hypo.previous, hypo.release, hypo.reused = state, live, keep, True
    hypo.kept, hypo.peers, hypo.stage_seconds = Kept(keep.id, 1, 0), (), {}
    switch = switch_command(engine, hypo, first_write=False)  # back.sh compared it
    if switch.stdin is not None and not isinstance(switch.stdin, str):
        raise ValueError("a switch whose stdin is not text")
    hypo.state = mark_live(state, keep.id)
    steps, kept = retire_steps(engine, hypo, kit=False)
    if kept is None or kept.id != live.id:
        raise ValueError("the way back keeps no release")
    check = dep.health_check
    values = {
        "made": signature(lane), "code": code_digest(), "release": keep.id,
        "keeps": f"{live.id} {live.port}",
        "default": "1" if default else "", "port": str(keep.port),
        "path": check.path if check else "/",
        "expect": str(check.expect_status or "") if check else "",
        "timeout": str(min(PROBE_SECONDS, check.timeout_seconds) if check else PROBE_SECONDS),
        "switch": switch.shell_line(),
        "retire": sequence(*steps, description="retire the old release").shell_line(),
        "after": format_state(hypo.state),
        **{"log_" + result.split()[-1]: _record(dep.name, keep, result) for result in RESULTS}}
    text = "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())
    # packed: the retire's round trip nests it in shell lines (quotes would multiply)
    packed = base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()
    return hypo.state, [packed, format_state(state), str(switch.stdin or "")]


def _record(deployment: str, release: Release, result: str) -> str:
    """A deploy-log record with who and when left for back.sh to fill in."""
    text = log_record(who=WHO, deployment=deployment, digest=release.digest, result=result,
                      stages={}, release=release.id, commit=release.commit, when=EPOCH)
    return text.replace(json.dumps(EPOCH.isoformat(timespec="seconds")), WHEN) \
        .replace(json.dumps(WHO), WHO)


def command(engine: Engine, lane: Lane) -> Command | None:
    """What the lock's round trip of `otter rollback` runs once the lock is ours (exit 10:
    the state read runs and the rollback takes the two-trip way); None: not this lane."""
    dep = lane.deployment
    if not engine.rollback or engine.rollback_with_data or engine.planned or \
            engine.only or not usable(dep):
        return None
    assert lane.lock is not None  # the lock stage made it
    from otterfile.commands import lock as locks
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return script(load("window/back.sh"), args=[
        state_dir(dep.name), engine.rollback_to or "", signature(lane), code_digest(),
        json.dumps(engine.who), json.dumps(when),
        locks.release(dep.name, lane.lock.run_id).shell_line(), load("window/switch-back.sh")],
        ok_codes=(0, locks.EXIT_CHANGED),
        description=f"switch {dep.name} back to its kept release?")


def answer(result: Result | None) -> tuple[str, str, str] | None:
    """(the release made live, the one kept, its port) when back.sh ran the kit, else
    None (the state read ran)."""
    if result is None:
        return None
    first = result.stdout.split("\n", 1)[0].split()
    if len(first) == 5 and " ".join(first[:2]) == MARK:
        return first[2], first[3], first[4]
    return None


def ran(engine: Engine, lane: Lane, task: Task, result: Result) -> bool:
    """Whether back.sh ran the kit in the lock's trip (the lane is then done: said as the
    two-trip way says it, or its failure raised); False: the state read ran."""
    ids = answer(result)
    if ids is None:
        for line in (result.stderr if result else "").splitlines():
            if line.startswith(WHY):
                engine.emit(task, "info", f"{line.removeprefix('otter: ')}; the rollback "
                            "goes on from the state read")
        return False
    _done(engine, lane, task, result, ids)
    return True


def _done(engine: Engine, lane: Lane, task: Task, result: Result,
          ids: tuple[str, str, str]) -> None:
    """What the kit did, said; or its failure raised (the target released the lock)."""
    from otterfile.run.instant import split
    from otterfile.run.state import Release
    from otterfile.run.switching import switch_failed
    from otterfile.run.window import said
    assert lane.lock is not None
    lane.lock.released_there()
    lane.closed = True
    host, (release, kept, port) = engine.executor(task.host).host.name, ids
    parts = split(result)
    code, out = parts.get("switch", (result.exited, result.stdout))
    if code != 0:
        lane.failed = "switch"
        raise OtterError(  # as abort.py says it after the two-trip way's failed switch
            f"{switch_failed(host, lane.proxy, release, replace(result, exited=code, stdout=out))}"
            f"; rollback to {release} (kept for the rollback window) failed: nothing was "
            f"switched, {kept} still serves; {release} is left running until its rollback "
            "window ends")
    engine.emit(task, "info", f"rolled back to {release}, kept running for the rollback "
                "window: nothing to start; health-checked and switched on the target in the "
                "lock's round trip")
    for line in out.splitlines():
        if line.startswith(("switched ", "started ", "set aside ")):
            engine.emit(task, "info", line)
    code, out = parts.get("retire", (-1, ""))
    if code != 0:
        lane.failed = "retire"
        said_there = result.tail(8) or out[-800:]
        raise OtterError(f"{host}: retiring failed (exit {code}): {said_there}")
    for line in result.stderr.splitlines():
        if line.startswith("otter: warning: "):
            engine.emit(task, "info", line.removeprefix("otter: "))
    if "otter: warning: " not in result.stderr:
        engine.emit(task, "info", said(lane.deployment, Release(kept, "", port=port)))
