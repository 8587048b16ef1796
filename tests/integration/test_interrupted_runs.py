"""Runs that do not end as planned, on real test hosts: a held deploy lock waited for,
refused, unlocked or taken over from a dead holder; a run SIGKILLed at each stage boundary;
Ctrl-C in the middle of a build. The live release keeps serving and the next run succeeds.
(Out of test_deploy.py, the longest file: xdist gives each file to one worker.)"""
from __future__ import annotations

import pytest

from otterfile.executors import executor_for
from tests.integration.deploy import (assert_one_container, finish, kill_after, otter, served,
                                      start_otter, write_app, write_otterfile)


def test_lock_contention_wait_and_unlock(project, two):
    from otterfile.run.lock import DeployLock
    executor = executor_for(two[0].host)
    lock = DeployLock(executor, "production", holder="alice@laptop")
    lock.acquire()
    try:
        held = otter(project, "run", "production")
        assert held.returncode == 1
        assert "locked by alice@laptop" in held.stdout
        assert served(two[1]) == "200 v1"  # the other target deployed
    finally:
        lock.release()
        executor.close()
    executor = executor_for(two[0].host)
    DeployLock(executor, "production", holder="bob@ci").acquire()
    executor.close()  # bob's heartbeat stops with him; `otter unlock` frees it by hand
    freed = otter(project, "unlock", "production")
    assert "released (held by bob@ci" in freed.stdout
    assert otter(project, "run", "production").returncode == 0
    assert served(two[0]) == "200 v1"


STAGES = ["ship", "start", "health", "switch", "retire"]


@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_sigkill_at_a_stage_boundary_leaves_the_live_release_serving(project, two, runtime):
    """A run SIGKILLed as each stage ends, one stage after the other: the release the last
    run left live (v1 first) keeps serving, and the next run takes over the dead run's lock
    and finishes. One first deploy for the five kills: each kill's run starts from the
    release the run before it finished."""
    write_otterfile(project, two, runtime=runtime)
    assert otter(project, "run", "production").returncode == 0
    live = "200 v1"
    for stage in STAGES:
        write_app(project / "app", f"v2-{stage}")
        kill_after(project, stage)
        for t in two:
            assert served(t) in (live, f"200 v2-{stage}"), stage
        again = otter(project, "run", "production")  # takes over the dead run's lock itself
        assert again.returncode == 0, f"after a kill at {stage}: {again.stdout}{again.stderr}"
        live = f"200 v2-{stage}"
        assert [served(t) for t in two] == [live] * 2, stage
        assert_one_container(two, runtime)


def test_ctrl_c_stops_cleanly_and_releases_the_lock(project, two):
    import os
    import signal
    import time
    assert otter(project, "run", "production").returncode == 0
    write_app(project / "app", "v2-slow")
    text = (project / "Otterfile.py").read_text()
    slow = text.replace("command='docker build",
                        "command='echo otter-test-building && sleep 120 && docker build")
    assert slow != text  # the build really is slow (the command is written with repr)
    (project / "Otterfile.py").write_text(slow)
    # its own process group, as a terminal's foreground job: Ctrl-C reaches the build too
    process = start_otter(project, "run", "production", start_new_session=True)
    deadline, seen = time.monotonic() + 60, []
    while time.monotonic() < deadline:  # until the build says it runs (its output event)
        line = process.stdout.readline()
        seen.append(line)
        if not line or "otter-test-building" in line:
            break
    assert "otter-test-building" in seen[-1], seen  # inside the build
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C on a terminal does
    out, err = finish(process, 60)
    out = "".join(seen) + out
    assert process.returncode == 1, out + err
    assert "interrupted" in err
    assert [served(t) for t in two] == ["200 v1", "200 v1"]
    (project / "Otterfile.py").write_text(text)  # the build of 120 s once is enough
    again = otter(project, "run", "production")  # no lock left behind, no unlock needed
    assert again.returncode == 0, again.stdout + again.stderr


def test_lock_wait_and_stale_takeover(project, two):
    from otterfile.commands import lock as locks
    from otterfile.run.lock import DeployLock
    executor = executor_for(two[0].host)
    try:
        lock = DeployLock(executor, "production", holder="alice@laptop")
        lock.acquire()
        waiting = start_otter(project, "run", "production", "--lock-wait", "120")
        seen = []
        for line in waiting.stdout:  # released once otter says it waits, not after a guess
            seen.append(line)
            if "locked by alice@laptop since" in line and "waiting up to 120s" in line:
                break
        assert "waiting up to 120s" in seen[-1], "".join(seen)
        lock.release()
        out, err = waiting.communicate(timeout=240)
        assert waiting.returncode == 0, "".join(seen) + out + err
        # a holder on another machine that died: no heartbeat after taking the lock
        executor.run(locks.acquire("production", holder="carol@elsewhere", pid=1,
                                   run_id="ffffffff-dead"))
        stale = otter(project, "run", "production", "--lock-wait", "60")
        assert stale.returncode == 0, stale.stdout + stale.stderr
        assert "took over a stale lock of carol@elsewhere" in stale.stdout
    finally:
        executor.close()
