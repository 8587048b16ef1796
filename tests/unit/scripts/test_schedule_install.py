"""scripts/schedule/install.sh run here against a folder, with a fake `systemctl` that logs
what it is asked: units written only when they change, timers placed (on, off, keep), the
units of schedules gone removed, a run's release folder kept by systemd/remove.sh."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from otterfile import scripts

pytestmark = pytest.mark.unit

FAKE = """#!/bin/sh
echo "$*" >> "$LOG"
for a; do last=$a; done
case "$1" in is-active) [ -e "$ACTIVE/$last" ] ;; esac
"""


@pytest.fixture
def host(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "systemctl").write_text(FAKE)
    (bin_ / "systemctl").chmod(0o755)
    units, locks, active = tmp_path / "units", tmp_path / "locks", tmp_path / "active"
    units.mkdir()
    active.mkdir()
    log = tmp_path / "log"

    def install(*args: str, prune: str = "1") -> list[str]:
        log.write_text("")
        done = subprocess.run(
            ["sh", "-c", scripts.load("schedule/install.sh"), "sh", str(units), str(locks),
             "web", prune, *args], capture_output=True, text=True,
            env={**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "LOG": str(log),
                 "ACTIVE": str(active)})
        assert done.returncode == 0, done.stderr
        return [line for line in log.read_text().splitlines()] + \
            [f"said {line}" for line in done.stdout.splitlines()]
    return install, units, locks, active


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_on_writes_and_starts_keep_rewrites_off_removes(host):
    install, units, locks, active = host
    said = install("clean", "S1", "T1", "on", "report", "S2", "T2", "off")
    assert names(units) == ["otter-web:clean.service", "otter-web:clean.timer"]
    assert (units / "otter-web:clean.service").read_text() == "S1\n"
    assert names(locks) == ["clean.lock"]
    assert said == ["daemon-reload", "enable -q -- otter-web:clean.timer",
                    "restart -- otter-web:clean.timer", "said timer clean"]

    (active / "otter-web:clean.timer").write_text("")
    assert install("clean", "S1", "T1", "on") == ["is-active -q -- otter-web:clean.timer",
                                                  "said timer clean"]  # nothing changed
    said = install("clean", "S2", "T1", "keep", prune="0")  # a deploy: the service moves
    assert (units / "otter-web:clean.service").read_text() == "S2\n"
    assert said == ["is-active -q -- otter-web:clean.timer", "daemon-reload"]
    said = install("clean", "S2", "T1", "off")
    assert names(units) == []
    assert said == ["disable --now -q -- otter-web:clean.timer", "daemon-reload",
                    "said removed clean"]


def test_prune_removes_what_the_otterfile_no_longer_names(host):
    install, units, locks, _ = host
    install("clean", "S1", "T1", "on", "old", "S", "T", "on")
    (units / "otter-webapp:x.timer").write_text("another deployment's\n")
    said = install("clean", "S1", "T1", "keep")
    assert names(units) == ["otter-web:clean.service", "otter-web:clean.timer",
                            "otter-webapp:x.timer"]
    assert "said removed old" in said and names(locks) == ["clean.lock"]
    install()  # `otter remove`: everything of web goes, the lock folder too
    assert names(units) == ["otter-webapp:x.timer"] and not locks.exists()


def test_retire_keeps_a_release_folder_a_run_holds_and_the_run_end_removes_it(tmp_path):
    releases = tmp_path / "releases"
    (releases / "R1").mkdir(parents=True)
    (releases / "R1" / "app").write_text("")
    units = tmp_path / "units"
    units.mkdir()
    remove = ["sh", "-c", scripts.load("systemd/remove.sh"), "sh", str(units),
              "otter-web@R1.service", str(releases / "R1")]
    env = {**os.environ, "PATH": f"{tmp_path}/bin:{os.environ['PATH']}", "LOG": "/dev/null",
           "ACTIVE": str(tmp_path)}
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "systemctl").write_text(FAKE)
    (tmp_path / "bin" / "systemctl").chmod(0o755)
    held = tmp_path / "held"
    run = subprocess.Popen(["flock", "-s", str(releases / "R1"), "sh", "-c",
                            f"touch {held}; read x"], stdin=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10  # until the run holds its shared flock
        while not held.exists():
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.01)
        done = subprocess.run(remove, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert "kept" in done.stdout and names(releases) == ["R1", "R1.retired"]
    finally:
        run.communicate("\n", timeout=10)
    line = [x for x in scripts.load("schedule/retired.sh").splitlines()
            if not x.startswith("#")][0]
    assert subprocess.run(["sh", "-c", line, "sh", str(releases)]).returncode == 0
    assert names(releases) == []


def test_drop_removes_only_the_named_schedules_units_and_lock_files(host, tmp_path):
    """schedule/drop.sh (a schedule the Otterfile no longer declares): its timer disabled,
    both files and its flock file gone, the others kept; one not there says nothing; the
    lock folder goes with its last schedule."""
    install, units, locks, _ = host
    install("clean", "S1", "T1", "on", "report", "S2", "T2", "on")
    log = tmp_path / "log"
    log.write_text("")

    def drop(*names: str) -> list[str]:
        done = subprocess.run(
            ["sh", "-c", scripts.load("schedule/drop.sh"), "sh", str(units), str(locks),
             "web", *names], capture_output=True, text=True,
            env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
                 "LOG": str(log)})
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()
    assert drop("report", "gone") == ["schedule removed report"]
    assert names(units) == ["otter-web:clean.service", "otter-web:clean.timer"]
    assert names(locks) == ["clean.lock"]
    assert log.read_text().splitlines() == ["disable --now -q -- otter-web:report.timer",
                                            "daemon-reload"]
    log.write_text("")
    assert drop("gone") == [] and log.read_text() == ""  # nothing there: no reload
    assert drop("clean") == ["schedule removed clean"]
    assert names(units) == [] and not locks.exists()


def test_list_names_each_schedule_once_and_no_other_deployments(tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    for name in ("otter-web:b.timer", "otter-web:b.service", "otter-web:a.service",
                 "otter-web--pr-1:c.timer", "otter-webx:d.timer", "otter-web-1.service"):
        (units / name).touch()
    done = subprocess.run(["sh", "-c", scripts.load("schedule/list.sh"), "sh", str(units),
                           "web"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "a\nb\n"
    empty = subprocess.run(["sh", "-c", scripts.load("schedule/list.sh"), "sh",
                            str(tmp_path / "none"), "web"], capture_output=True, text=True)
    assert empty.returncode == 0 and empty.stdout == ""
