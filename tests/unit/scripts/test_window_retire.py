"""scripts/window/retire.sh, run here with sh on a folder laid out as window/arm.sh leaves
it: the kept release is stopped and removed under the deploy lock, unless it is live
(releases.json says so, or the proxy serves its port); a timer armed for an earlier window
(a later switch kept a release for longer and left it to fire first) arms the one for the
deadline the folder names and retires nothing; a removal that fails leaves the stopped release recorded as kept no more."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

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


def retire(state, *args: str, path: str | None = None):
    return subprocess.run(["sh", str(state / "kept" / "retire.sh"), *args],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, **({"PATH": path} if path else {})})


def systemd(tmp_path, fails: bool = False) -> tuple[str, Path]:
    """A PATH whose systemd-run and systemctl write down their arguments (systemd-run
    failing when `fails`); the file they write to."""
    folder, asked = tmp_path / "bin", tmp_path / "asked"
    folder.mkdir()
    for name in ("systemd-run", "systemctl"):
        (folder / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {shlex.quote(str(asked))}\n'
                                   + ("exit 1\n" if fails and name == "systemd-run" else ""))
        (folder / name).chmod(0o755)
    return f"{folder}:{os.environ['PATH']}", asked


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


def test_a_timer_before_the_deadline_arms_the_next_and_leaves_the_kept_release(tmp_path):
    """A switch inside the window kept a release for longer and armed nothing: the timer
    armed before fires first, arms the one for the new deadline (its unit named by it,
    this script its service) and retires nothing."""
    until = int(time.time()) + 600
    state, log = laid_out(tmp_path, LIVE, until=until)
    path, asked = systemd(tmp_path)
    done = retire(state, "otter-kept-production", path=path)
    assert done.returncode == 0, done.stderr
    assert f"the window ends later ({until}): its timer armed" in done.stdout
    assert not log.exists() and (state / "kept" / "release").exists()
    assert not (state / "lock").exists()
    run = asked.read_text().split()
    assert run[0] == "systemd-run" and f"--unit=otter-kept-production:{until}" in run
    assert 595 <= int(next(w for w in run if w.startswith("--on-active="))[12:-1]) <= 600
    assert run[-2:] == [str(state / "kept" / "retire.sh"), "otter-kept-production"]


def test_a_timer_of_an_older_otter_names_its_unit_by_the_folder(tmp_path):
    state, _ = laid_out(tmp_path, LIVE, until=int(time.time()) + 600)
    path, asked = systemd(tmp_path)
    assert retire(state, path=path).returncode == 0  # no unit passed
    assert f"--unit=otter-kept-production:" in asked.read_text()


def test_a_timer_that_cannot_arm_the_next_tries_again_and_retires_nothing(tmp_path):
    state, log = laid_out(tmp_path, LIVE, until=int(time.time()) + 600)
    path, _ = systemd(tmp_path, fails=True)
    done = retire(state, "otter-kept-production", path=path)
    assert done.returncode == 75 and "trying again in 30 s" in done.stdout, done.stdout
    assert not log.exists() and (state / "kept" / "release").exists()


def test_arm_arms_the_folders_deadline(tmp_path):
    """window/arm.sh's way in: `retire.sh UNIT arm` arms the timer for the deadline the
    folder names, and nothing else."""
    until = int(time.time()) + 300
    state, log = laid_out(tmp_path, LIVE, until=until)
    path, asked = systemd(tmp_path)
    done = retire(state, "otter-kept-production", "arm", path=path)
    assert done.returncode == 0 and not done.stdout, done.stdout + done.stderr
    assert f"--unit=otter-kept-production:{until}" in asked.read_text()
    assert not log.exists() and not (state / "lock").exists()


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


def arm(tmp_path, path: str, folder: Path | None = None):
    """window/arm.sh keeping KEPT for 300 s in `folder` (the kept folder), stop and remove
    writing to tmp_path/log."""
    log = tmp_path / "log"
    folder = folder or tmp_path / "production" / "kept"
    done = subprocess.run(
        ["sh", "-c", load("window/arm.sh"), "sh", str(folder), "otter-kept-production", KEPT,
         "300", "echo not", f"echo stop >> {shlex.quote(str(log))}",
         f"echo remove >> {shlex.quote(str(log))}", load("window/retire.sh")],
        capture_output=True, text=True, timeout=30, env={**os.environ, "PATH": path})
    return done, log


def test_arm_keeps_the_release_and_arms_its_timer(tmp_path):
    path, asked = systemd(tmp_path)
    done, log = arm(tmp_path, path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"kept {KEPT} until ") and not log.exists()
    kept = tmp_path / "production" / "kept"
    assert (kept / "release").read_text().split()[0] == KEPT
    assert "--unit=otter-kept-production:" in asked.read_text()


@pytest.mark.parametrize("how", ["timer", "folder"])
def test_a_release_that_cannot_be_kept_is_retired_now_not_left_running(tmp_path, how):
    """A timer that cannot be armed, or a kept folder that cannot be made: the release is
    stopped and removed at once, said as a warning, never left running with nothing to
    retire it."""
    path, _ = systemd(tmp_path, fails=how == "timer")
    folder = None
    if how == "folder":
        (tmp_path / "file").write_text("")
        folder = tmp_path / "file" / "kept"
    done, log = arm(tmp_path, path, folder)
    assert done.returncode == 0, done.stderr
    assert f"{KEPT} retired now, not kept" in done.stderr and "kept " not in done.stdout
    assert log.read_text().split() == ["stop", "remove"]
    assert not (tmp_path / "production" / "kept").exists()
