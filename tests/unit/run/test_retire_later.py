"""The background retire's scripts run for real against a temp state folder (LocalExecutor):
the lock handed over and released when done, the deploy-log record, the status file
(running, failed); a following lock waits for it with --lock-wait 0; the dead-holder check
never takes it for a dead otter; which deployments retire in the background."""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace

import pytest

from otterfile.command import script
from otterfile.executors.local import LocalExecutor
from otterfile.run import retire_later
from otterfile.run.deploy_log import parse_log
from otterfile.run.lock import DeployLock
from otterfile.run.lock_holder import LockHeld, LockInfo, boot_tag, holder_is_dead, parse_fields
from otterfile.scripts import load

pytestmark = pytest.mark.unit


def handover(folder, run: str, line: str, stdin: str | None = None, runlog: str = "",
             path: str | None = None):
    """detach.sh as the unlock's trip runs it, against `folder` (with `path` as PATH)."""
    record = '{"release": "r1", "result": "@RESULT@", "seconds": {"retire": @SECONDS@@DRAIN@}, ' \
             '"when": "@WHEN@"}'
    command = script(load("retire/detach.sh"), args=[
        str(folder), run, "retire-" + run, "the background retire of r1", "1", "r1", record,
        line, load("retire/run.sh"), runlog, "0" if stdin is None else "1"], stdin=stdin,
        ok_codes=(0, 3))
    return LocalExecutor().run(replace(command, env={"PATH": path}) if path else command)


def until_gone(path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not path.exists(), path


def held(tmp_path, run: str = "run1"):
    lock = DeployLock(LocalExecutor(), "production", holder="ann@laptop", run_id=run,
                      base=str(tmp_path))
    lock.acquire()
    lock.released_there()  # the heartbeat stops; the lock stays on disk
    return tmp_path / "production"


def test_the_lock_goes_to_the_retire_which_logs_and_releases_it(tmp_path):
    folder = held(tmp_path)
    done = handover(folder, "run1", "sleep 1; echo drained")
    assert done.exited == 0 and retire_later.started(done.stdout), done.stdout
    info = parse_fields((folder / "lock" / "info").read_text())
    assert info["run"] == "retire-run1" and info["holder"] == "the background retire of r1"
    status = parse_fields((folder / "retire").read_text())
    assert status["status"] == "running" and status["release"] == "r1"
    until_gone(folder / "lock")
    assert not (folder / "retire").exists()  # done: nothing to tell
    [record] = parse_log((folder / "deploy.log").read_text())
    assert record["result"] == "retired" and 1 <= record["seconds"]["retire"] < 5
    assert (folder / "retire.out").read_text() == "drained\n"


def test_the_retire_reads_the_stdin_of_the_handover_and_the_run_is_logged_first(tmp_path):
    folder = held(tmp_path)
    run = '{"release": "r2", "result": "ok", "seconds": {}, "when": "2026-12-04T20:00:00+00:00"}'
    done = handover(folder, "run1", f'cat > "{tmp_path}/state.json"', stdin='{"live": "r2"}\n',
                    runlog=run)
    assert retire_later.started(done.stdout), done.stdout + done.stderr
    until_gone(folder / "lock")
    assert (tmp_path / "state.json").read_text() == '{"live": "r2"}\n'  # the state write's
    assert not (folder / "retire.in").exists()
    assert [r["result"] for r in parse_log((folder / "deploy.log").read_text())] == \
        ["ok", "retired"]


def test_a_failed_retire_is_told_and_the_lock_released(tmp_path):
    folder = held(tmp_path)
    assert handover(folder, "run1", "echo stopping; echo refused >&2; exit 4").exited == 0
    until_gone(folder / "lock")
    text = (folder / "retire").read_text()
    retiring = retire_later.parse(text + "age=0\n")
    assert retiring == retire_later.Retiring("failed", "r1", retiring.since, 4,
                                             ("stopping", "refused"))
    assert "failed (exit 4): stopping | refused" in retiring.said("web1", "production")
    [record] = parse_log((folder / "deploy.log").read_text())
    assert record["result"] == "retire failed (exit 4)"


@pytest.mark.parametrize("line,result", [("true", "retired"),
                                         ("exit 4", "retire failed (exit 4)")])
def test_the_record_is_in_the_log_before_the_status_says_the_retire_ended(tmp_path, line,
                                                                            result):
    """Whoever sees the status file gone (or failed) finds the retire's record: a `sed`
    that takes 0.3 s would leave a reader between the two a log without it."""
    folder = held(tmp_path)
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "sed").write_text(f'#!/bin/sh\nsleep 0.3\nexec {shutil.which("sed")} "$@"\n')
    (shims / "sed").chmod(0o755)
    assert handover(folder, "run1", line, path=f"{shims}:{os.environ['PATH']}").exited == 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = (folder / "retire").read_text() if (folder / "retire").exists() else ""
        if "status=running" not in status:
            break
        time.sleep(0.01)
    log = folder / "deploy.log"
    assert [r["result"] for r in parse_log(log.read_text() if log.exists() else "")] == \
        [result]
    until_gone(folder / "lock")


def test_a_lock_not_held_by_the_run_starts_nothing(tmp_path):
    folder = held(tmp_path, run="someone-else")
    done = handover(folder, "run1", "touch ran")
    assert done.exited == 3 and not retire_later.started(done.stdout)
    assert parse_fields((folder / "lock" / "info").read_text())["run"] == "someone-else"
    assert not (folder / "retire").exists()


def test_a_retire_whose_heartbeat_stopped_reads_as_interrupted():
    text = "status=running\nrun=retire-x\nrelease=r1\nsince=100\n"
    assert retire_later.parse(text + "age=3\n").state == "running"
    assert retire_later.parse(text + "age=300\n").state == "interrupted"
    assert retire_later.parse("") is None and retire_later.parse("status=odd\n") is None


def test_the_next_lock_waits_for_the_retire_with_lock_wait_0(tmp_path):
    folder = held(tmp_path)
    assert handover(folder, "run1", "sleep 1.5").exited == 0
    told: list[LockInfo] = []
    second = DeployLock(LocalExecutor(), "production", run_id="run2", base=str(tmp_path),
                        retire_wait=20, on_wait=told.append)
    try:
        assert second.acquire() is None and second.held
        # it waited for the retire to end: the retire's record is written before its release
        assert [r["result"] for r in parse_log((folder / "deploy.log").read_text())] == \
            ["retired"]
    finally:
        second.release()
    assert told and told[0].retiring
    # bounded: a retire that outlasts retire_wait is a held lock
    folder = held(tmp_path, run="run3")
    assert handover(folder, "run3", "sleep 3").exited == 0
    with pytest.raises(LockHeld):
        DeployLock(LocalExecutor(), "production", run_id="run4", base=str(tmp_path),
                   retire_wait=0.5).acquire()
    until_gone(folder / "lock")


def test_a_retiring_holder_is_never_taken_for_a_dead_otter():
    dead = 2 ** 22 + 12345  # past pid_max here: no such process
    assert holder_is_dead(LockInfo("ann@laptop", pid=str(dead), run=f"{boot_tag()}-abc"))
    assert not holder_is_dead(LockInfo("the background retire of r1", pid=str(dead),
                                       run=f"retire-{boot_tag()}-abc"))


@pytest.mark.parametrize("change, background", [
    ({}, True), ({"recreate": True}, False), ({"fleet": True}, False),
    ({"snapshots": object()}, False), ({"on_failure": "rollback"}, False),
    ({"window": 30}, False), ({"schedules": ("nightly",)}, False),
    ({"late_step": True}, False), ({"foreground": True}, False),
    ({"first": True}, False)])
def test_which_runs_retire_in_the_background(monkeypatch, change, background):
    from types import SimpleNamespace
    monkeypatch.setenv(retire_later.MODE_ENV, "foreground" if change.get("foreground")
                       else "background")
    steps = [SimpleNamespace(name="after", anchor=("after", "retire"), after_deploy=False)] \
        if change.get("late_step") else []
    dep = SimpleNamespace(fleet=change.get("fleet", False),
                          recreate=change.get("recreate", False),
                          snapshots=change.get("snapshots"),
                          on_failure=change.get("on_failure", "stop"),
                          window=change.get("window", 0), schedules=change.get("schedules", ()),
                          steps=steps, name="production")
    old = None if change.get("first") else SimpleNamespace(id="r1", instance="otter-production-r1")
    lane = SimpleNamespace(previous=old, release=SimpleNamespace(id="r2"), noop=False,
                           back=None)
    assert retire_later.eligible(dep, lane) is background  # type: ignore[arg-type]


def test_the_retire_is_waited_for_within_its_bounds():
    from types import SimpleNamespace
    dep = SimpleNamespace(drain_seconds=2, stop_seconds=10)
    assert retire_later.retire_wait(dep) == 2 + 10 + retire_later.MARGIN  # type: ignore[arg-type]


def test_the_record_is_a_deploy_log_line_once_filled_in():
    from types import SimpleNamespace
    old = SimpleNamespace(id="r1", digest="sha256:" + "a" * 64, commit=None)
    text = retire_later.retire_record("ann@laptop", "production", old)  # type: ignore[arg-type]
    filled = text.replace("@WHEN@", "2026-12-04T20:00:00+00:00").replace(
        "@RESULT@", "retired").replace("@SECONDS@", "0.812")
    [record] = parse_log(filled.replace("@DRAIN@", ""))
    assert record["release"] == "r1" and record["seconds"] == {"retire": 0.812}
    [record] = parse_log(filled.replace("@DRAIN@", ', "drain": 0.3'))
    assert record["seconds"] == {"retire": 0.812, "drain": 0.3}
    assert "\n" not in text


def test_the_record_carries_the_drains_seconds(tmp_path):
    """The drain's line in the retire's output (scripts/drain.sh) goes into the record."""
    folder = held(tmp_path)
    line = "echo otter-drain port=20001 seconds=0.40 left=0; echo stopped"
    assert handover(folder, "run1", line).exited == 0
    until_gone(folder / "lock")
    [record] = parse_log((folder / "deploy.log").read_text())
    assert record["seconds"]["drain"] == 0.4 and record["result"] == "retired"
