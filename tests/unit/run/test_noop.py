"""The no-op decided on the target (run/noop.py): lock/unchanged.sh and live.awk run by the
local sh over a state folder as otter writes it, the answer read back, the keys kept."""
from __future__ import annotations

import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from otterfile.command import script
from otterfile.commands import lock as locks
from otterfile.executors.base import Result
from otterfile.run import noop, schedules
from otterfile.run.state import Release, State
from otterfile.run.state_file import format_state

pytestmark = pytest.mark.unit

LIVE_ID, OLD_ID = "20261204T101010-0a1b2c3d", "20261203T101010-0a1b2c3d"
DIGEST = "sha256:" + "a" * 64
INSTANCE = f"otter-web-{LIVE_ID}"


def release(release_id: str, status: str, port: int, config: str = "f00d") -> Release:
    return Release(release_id, DIGEST, "web:1", status=status, port=port,
                   instance=f"otter-web-{release_id}", config=config, runtime="docker",
                   proxy="caddy")


def folder(tmp_path: Path, *releases: Release, port: str = "30001") -> Path:
    """A deployment's state folder: releases.json, the upstream port file, a site."""
    d = tmp_path / "web"
    (d / "upstream").mkdir(parents=True)
    (d / "upstream" / port).write_text("")
    state = State(tuple(releases), next((r.id for r in releases if r.status == "live"), None))
    (d / "releases.json").write_text(format_state(state))
    (tmp_path / "site.caddy").write_text("app.test {\n  import upstream\n}\n")
    return d


def decide(tmp_path: Path, d: Path, *, want: str = "f00d",
           runs: str = f"echo '{INSTANCE} running'", others: tuple[str, ...] = ()):
    """unchanged.sh as the lock's trip runs it; the log and the release write files."""
    record = shlex.quote('{"release": "@otter-live-release@"}')
    log = f"echo {record} >> {shlex.quote(str(tmp_path / 'deploy.log'))}"
    free = f"touch {shlex.quote(str(tmp_path / 'released'))}"
    done = subprocess.run(["sh", "-c", noop.SCRIPT, "sh", str(d), want, "docker", noop.AWK,
                           runs, "", str(tmp_path / "site.caddy"), log, free, *others],
                          capture_output=True, text=True, timeout=20)
    return done, (tmp_path / "deploy.log"), (tmp_path / "released")


def test_the_same_release_is_decided_there_logged_and_unlocked(tmp_path):
    d = folder(tmp_path, release(OLD_ID, "previous", 30000), release(LIVE_ID, "live", 30001))
    done, log, released = decide(tmp_path, d)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [noop.MARK, LIVE_ID]
    assert log.read_text() == f'{{"release": "{LIVE_ID}"}}\n'  # the target put the id in
    assert released.exists()
    assert noop.answer(Result(script("x"), 0, done.stdout, "")) == LIVE_ID


@pytest.mark.parametrize("why", ["config", "starting", "alone", "stopped", "port", "kept",
                                 "other proxy", "no state", "dropped schedule"])
def test_anything_different_runs_the_read(tmp_path, why):
    releases = [release(LIVE_ID, "live", 30001)]
    if why == "starting":  # recover settles it: the old path
        releases.append(release(OLD_ID, "starting", 30002))
    d = folder(tmp_path, *releases, port="30009" if why == "port" else "30001")
    runs = {"alone": f"echo '{INSTANCE} running'; echo 'otter-web-{OLD_ID} exited'",
            "stopped": f"echo '{INSTANCE} exited'"}.get(why, f"echo '{INSTANCE} running'")
    if why == "kept":
        (d / "kept").mkdir()
        (d / "kept" / "release").write_text(OLD_ID)
    if why == "no state":
        (d / "releases.json").unlink()
    other = tmp_path / "nginx-site"
    if why == "other proxy":
        other.write_text("server {}")
    units = tmp_path / "units"
    units.mkdir()
    if why == "dropped schedule":  # a schedule no longer declared: retire removes its units
        (units / "otter-web:backup.timer").write_text("")
    leftovers = schedules.leftovers_glob("web").replace(schedules.UNIT_DIR, str(units))
    done, log, released = decide(tmp_path, d, want="beef" if why == "config" else "f00d",
                                 runs=runs, others=(str(other), leftovers))
    assert done.returncode == locks.EXIT_CHANGED, (done.stdout, done.stderr)
    assert done.stdout == "" and not log.exists() and not released.exists()
    assert noop.answer(Result(script("x"), 0, "--- otter:key\n", "")) is None


def test_the_gate_runs_before_the_read_under_the_lock():
    take, read = script("echo took", description="lock"), script("echo read", description="read")
    gate = script("exit 10", description="same?")
    both = locks.acquire_then(take, read, gate)
    done = subprocess.run(["sh", "-c", both.shell_line()], capture_output=True, text=True)
    assert done.stdout.splitlines() == ["took", locks.LOCKED_MARK, "read"]
    said = locks.acquire_then(take, read, script("echo same", description="same?"))
    done = subprocess.run(["sh", "-c", said.shell_line()], capture_output=True, text=True)
    assert done.stdout.splitlines() == ["took", locks.LOCKED_MARK, "same"]  # no read


def test_keys_are_kept_root_only(tmp_path):
    keys = tmp_path / ".otter" / "keys"
    assert noop.read_key(keys, "web", "root@203.0.113.10:22") == ""
    noop.keep_key(keys, "web", "root@203.0.113.10:22", "c0ffee\n")
    path = noop.key_path(keys, "web", "root@203.0.113.10:22")
    assert noop.read_key(keys, "web", "root@203.0.113.10:22") == "c0ffee"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for part in (keys.parent, keys, path.parent):
        assert stat.S_IMODE(part.stat().st_mode) == 0o700
    assert path.parent.parent == keys and "/" not in path.name
    assert noop.key_path(keys, "web", "a/b") != noop.key_path(keys, "web", "a_b")


@pytest.mark.parametrize("state", ["running", "Up 4 seconds ago"])  # docker's, podman's
def test_a_container_engine_says_running_alike(tmp_path, state):
    from otterfile.commands.container import running_containers
    engine = tmp_path / "engine"
    engine.write_text(f"#!/bin/sh\necho '{INSTANCE} {state}'\necho 'otter-web-old Exited (0)'\n")
    engine.chmod(0o755)
    done = subprocess.run(["sh", "-c", running_containers(str(engine), "web").shell_line()],
                          capture_output=True, text=True)
    assert done.stdout.splitlines() == [f"{INSTANCE} running", "otter-web-old Exited (0)"]


def scripted_run(tmp_path, lock_answer: str | None):
    """`otter run production` (test_flow's project and scripted target) with the keys kept
    in tmp_path/.otter/keys; `lock_answer`: what the lock's trip prints when it carries the
    no-op question (None: the question must not be asked)."""
    from otterfile.executors.recording import RecordingExecutor
    from otterfile.plan.planner import plan
    from otterfile.run.deploy import execute
    from otterfile.run.engine import Engine
    from tests.unit.run.test_flow import Images, Scripted, answers, project
    proj, made, events = project(tmp_path, "docker", "caddy"), {}, []
    fresh = answers()

    def connect(host, _folder):
        if host.name == "controller":
            return made.setdefault(host.name, RecordingExecutor(host))
        target = fresh(host)
        if lock_answer is not None:
            target.responses = {(lambda c: "unchanged?" in c.description): lock_answer,
                                **target.responses}
        return made.setdefault(host.name, target)
    engine = Engine(proj, events.append, connect=connect, images=Images(),
                    release_id=lambda digest: "R1")
    engine.keys = tmp_path / ".otter" / "keys"
    done = execute(plan(proj, ["production"]), engine, None)
    assert isinstance(made["web1"], Scripted)
    return done.outcome, made["web1"], engine, events


def test_with_the_key_kept_the_target_decides_in_one_round_trip(tmp_path):
    from otterfile.run.fingerprint import config_of
    noop.keep_key(tmp_path / ".otter" / "keys", "production", "web1", "f00dkey")
    answer = f"status=acquired\n{locks.LOCKED_MARK}\n{noop.MARK}\n{LIVE_ID}\n"
    outcome, target, engine, events = scripted_run(tmp_path, answer)
    assert outcome.ok, outcome.errors
    assert len(target.commands) == 1  # the lock's trip: no unlock, nothing else
    lane = engine.lanes[("production", "web1")]
    assert lane.noop and lane.closed and lane.lock is not None and not lane.lock.held
    expected = config_of(engine, lane, engine.artifact_of(lane).digest, "f00dkey")
    sent = target.commands[0].shell_line()
    assert expected is not None and expected in sent and noop.LIVE in sent
    assert any(f"{LIVE_ID} is live" in e.message for e in events)


def test_without_a_key_kept_the_run_reads_it_and_keeps_it(tmp_path):
    outcome, target, _, _ = scripted_run(tmp_path, None)
    assert outcome.ok, outcome.errors
    assert all("unchanged?" not in c.description for c in target.commands)
    assert noop.read_key(tmp_path / ".otter" / "keys", "production", "web1") == "f00dkey"
