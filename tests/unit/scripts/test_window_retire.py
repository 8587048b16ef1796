"""scripts/window/retire.sh, run here with sh on a folder laid out as window/arm.sh leaves
it: the kept release is stopped and removed under the deploy lock, unless it is live
(releases.json says so, or the proxy serves its port); a timer armed for an earlier window
(window/arm.sh stops it, an older otter left it to fire) does nothing before the deadline the
folder names; a removal that fails leaves the stopped release recorded as kept no more."""
from __future__ import annotations

import json
import shlex
import subprocess
import time

import pytest

from otterfile.scripts import load

pytestmark = pytest.mark.unit

KEPT, LIVE = "20240101T000000-cdcdcdcd", "20240102T000000-efefefef"


def laid_out(tmp_path, live: str, serves: str = "not", until: int = 1700000000):
    state = tmp_path / "production"
    kept = state / "kept"
    kept.mkdir(parents=True)
    (state / "releases.json").write_text(json.dumps({"live": live, "releases": []},
                                                    indent=2, sort_keys=True))
    log = tmp_path / "log"
    (kept / "retire.sh").write_text(load("window/retire.sh"))
    (kept / "release").write_text(f"{KEPT} {until}\n")
    (kept / "serves").write_text(f"echo {serves}\n")
    (kept / "stop").write_text(f"echo stop >> {shlex.quote(str(log))}\n")
    (kept / "remove").write_text(f"echo remove >> {shlex.quote(str(log))}\n")
    return state, log


def retire(state):
    return subprocess.run(["sh", str(state / "kept" / "retire.sh")], capture_output=True,
                          text=True, timeout=30)


def test_the_kept_release_is_stopped_and_removed_and_the_lock_released(tmp_path):
    state, log = laid_out(tmp_path, LIVE)
    done = retire(state)
    assert done.returncode == 0, done.stderr
    assert "retired " + KEPT in done.stdout
    assert log.read_text().split() == ["stop", "remove"]
    assert not (state / "kept" / "release").exists() and not (state / "lock").exists()
    assert retire(state).returncode == 0 and log.read_text().split() == ["stop", "remove"]


@pytest.mark.parametrize("live,serves", [(KEPT, "not"), (LIVE, "serves")])
def test_the_live_release_is_never_retired(tmp_path, live, serves):
    state, log = laid_out(tmp_path, live, serves)
    done = retire(state)
    assert done.returncode == 0, done.stderr
    assert "is live: not retired" in done.stdout and not log.exists()
    assert not (state / "kept" / "release").exists() and not (state / "lock").exists()


def test_a_held_lock_is_waited_for_and_never_taken(tmp_path):
    state, log = laid_out(tmp_path, LIVE)
    (state / "lock").mkdir()
    process = subprocess.Popen(["sh", str(state / "kept" / "retire.sh")],
                               stdout=subprocess.PIPE, text=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=2)  # it waits for the run that holds the lock
        assert not log.exists()
        (state / "lock").rmdir()  # the run ends
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert log.read_text().split() == ["stop", "remove"]


def test_a_timer_before_the_deadline_leaves_the_kept_release_alone(tmp_path):
    state, log = laid_out(tmp_path, LIVE, until=int(time.time()) + 600)
    done = retire(state)
    assert done.returncode == 0, done.stderr
    assert "a later rollback window is armed" in done.stdout and not log.exists()
    assert (state / "kept" / "release").exists() and not (state / "lock").exists()


def test_a_removal_that_fails_leaves_the_stopped_release_kept_no_more(tmp_path):
    """Stopped, it is no rollback-ready release: the record goes even when the removal
    fails (the timer's service fails, the next run's recover removes the container)."""
    state, log = laid_out(tmp_path, LIVE)
    (state / "kept" / "remove").write_text(f"echo remove >> {shlex.quote(str(log))}; exit 1\n")
    done = retire(state)
    assert done.returncode == 1 and "stopped, not removed" in done.stdout, done.stdout
    assert log.read_text().split() == ["stop", "remove"]
    assert not (state / "kept" / "release").exists() and not (state / "lock").exists()


@pytest.mark.parametrize("removed", [True, False])
def test_a_stop_that_fails_drops_the_record_only_once_removed(tmp_path, removed):
    """Not stopped (gone already, or the engine failing): the removal decides; when it
    fails too, the release may still run, and stays recorded as kept."""
    state, log = laid_out(tmp_path, LIVE)
    (state / "kept" / "stop").write_text(f"echo stop >> {shlex.quote(str(log))}; exit 1\n")
    if not removed:
        (state / "kept" / "remove").write_text(
            f"echo remove >> {shlex.quote(str(log))}; exit 1\n")
    done = retire(state)
    assert log.read_text().split() == ["stop", "remove"]
    assert done.returncode == (0 if removed else 1), done.stdout
    assert (state / "kept" / "release").exists() is not removed
    assert not (state / "lock").exists()
    if not removed:
        assert "neither stopped nor removed: still kept" in done.stdout, done.stdout
