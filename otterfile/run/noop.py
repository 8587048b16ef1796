"""A no-op redeploy in one round trip per target, decided on the target.

The lock stage sends, with the lock script, the fingerprint the run would give its release
(run/fingerprint.py, keyed with the target's key the controller keeps in `.otter/keys/`).
Once the lock is ours, scripts/lock/unchanged.sh compares it with the live release: the
same (and its instance runs alone, the proxy serves it, nothing left for recover): it
appends the deploy-log record, releases the lock and answers `unchanged`; else it runs the
state read and the deploy goes on as before. A run that has no key yet for a target (the
first one from this folder), an artifact whose digest the targets learn (a registry tag),
and deployments with steps, schedules, snapshots or relay take the old path: lock and
read, then log and unlock.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from otterfile.command import Command, script
from otterfile.commands import lock as locks, state as states
from otterfile.run import handover, schedules
from otterfile.run.deploy_log import log_record
from otterfile.run.fingerprint import config_of
from otterfile.run.state import state_dir
from otterfile.scripts import load

if TYPE_CHECKING:
    from otterfile.executors.base import Result
    from otterfile.run.engine import Engine
    from otterfile.plan.graph import Task
    from otterfile.run.lane import Lane

LIVE = "@otter-live-release@"  # in the log record: the target puts the live release's id
MARK = "--- otter:unchanged"  # unchanged.sh: the release id follows
SCRIPT = load("unit-runs.sh") + load("lock/unchanged.sh")
AWK = load("lock/live.awk")


def eligible(engine: Engine, lane: Lane) -> bool:
    """Whether this lane may be decided on the target: a plain `otter run` (no rollback,
    no `--only`, no plan) of a deployment without steps, schedules, snapshots or relay
    (those keep the old path: their stages ask more of the target than a fingerprint)."""
    dep = lane.deployment
    return not (engine.keys is None or engine.rollback or engine.only or engine.planned or
                dep.steps or dep.schedules or dep.snapshots is not None or dep.relay)


def key_path(keys: Path, deployment: str, host: str) -> Path:
    """Where the controller keeps the target's fingerprint key of `deployment`."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", host)[:40]
    return keys / deployment / f"{safe}-{hashlib.sha256(host.encode()).hexdigest()[:8]}"


def read_key(keys: Path, deployment: str, host: str) -> str:
    """The key kept for this target, or "" (none yet, or unreadable)."""
    try:
        return key_path(keys, deployment, host).read_text().strip()
    except OSError:
        return ""


def keep_key(keys: Path, deployment: str, host: str, key: str) -> None:
    """Keep the key the target's read gave (mode 600 in folders of mode 700); a kept key
    that is the same is not written again. A key that cannot be kept only costs the next
    run its one-trip no-op."""
    key = key.strip()
    if not key or read_key(keys, deployment, host) == key:
        return
    path = key_path(keys, deployment, host)
    try:
        for part in (keys.parent, keys, path.parent):
            part.mkdir(mode=0o700, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key + "\n")
        os.replace(temporary, path)
    except OSError:
        pass


def command(engine: Engine, lane: Lane) -> Command | None:
    """What the lock's round trip runs once the lock is ours, before the state read: the
    no-op decided on the target (exit 10: the read runs); None when this lane takes the old
    path (not eligible, no key kept, no artifact)."""
    dep = lane.deployment
    if engine.keys is None or not eligible(engine, lane):
        return None
    key = read_key(engine.keys, dep.name, lane.host.name)
    artifact = engine.artifacts.get(dep.artifact.name)
    if not key or artifact is None or not artifact.digest:  # a registry tag: pinned at ship
        return None
    config = config_of(engine, lane, artifact.digest, key)
    if config is None:
        return None
    record = states.append_log(dep.name, log_record(
        who=engine.who, deployment=dep.name, digest=artifact.digest, result="ok",
        stages={}, release=LIVE, commit=artifact.commit))
    assert lane.lock is not None  # the lock stage made it
    free = locks.release(dep.name, lane.lock.run_id)
    px = dep.proxy_kind
    others = [p.site_path(dep.name) for p in handover.others(dep)] if dep.proxied else []
    others.append(schedules.leftovers_glob(dep.name))  # units of schedules dropped: retire's
    return script(SCRIPT, args=[
        state_dir(dep.name), config, lane.runtime.name, AWK,
        lane.runtime.runs(dep.name).shell_line(), px.installed.unit if dep.proxied else "",
        px.site_path(dep.name) if dep.proxied and not dep.recreate else "",
        record.shell_line(), free.shell_line(), *others],
        ok_codes=(0, locks.EXIT_CHANGED), description=f"{dep.name} unchanged?")


def settled(engine: Engine, lane: Lane, task: Task, result: Result | None) -> bool:
    """Whether the target found nothing to change in the lock's trip (it released the
    lock): the lane is done, and says so. False: the state read ran."""
    live = answer(result)
    if live is None:
        return False
    assert lane.lock is not None  # the lock stage made it
    lane.lock.released_there()
    lane.noop = lane.closed = True
    engine.emit(task, "info", f"{live} is live with this artifact and config: nothing to do "
                "(decided on the target, which released the lock)")
    return True


def keep(engine: Engine, lane: Lane) -> None:
    """The key the target's read gave, kept for the next run's no-op where one may be
    decided (keep_key)."""
    if engine.keys is not None and eligible(engine, lane):
        keep_key(engine.keys, lane.deployment.name, lane.host.name, lane.key)


def answer(result: Result | None) -> str | None:
    """The live release's id when the target found nothing to change (it released the
    lock), else None (the state read ran: `result` is its result)."""
    if result is None or not result.ok:
        return None
    lines = result.stdout.splitlines()
    if len(lines) >= 2 and lines[0] == MARK:
        return lines[1].strip()
    return None
