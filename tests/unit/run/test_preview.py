"""Preview commands on a target, as data: the listing and what it reads back, the refusal
past `previews`, the expiry armed with the removal as an argument (never in the script's
text), run under the preview's lock (expire.sh for real here), and its disarming."""
from __future__ import annotations

import json

import pytest

from otterfile.command import script
from otterfile.run.preview import (ARM_SCRIPT, LIST_SCRIPT, Preview, arm, disarm, expiry,
                                   listing, parse, refused)

pytestmark = pytest.mark.unit


class Dep:
    name = "production--pr-1"
    domains = ("pr-1.preview.example.com",)


def test_listing_runs_the_script_with_base_and_name():
    command = listing(Dep())
    assert command.argv == ("sh", "-c", LIST_SCRIPT, "sh", "/var/lib/otter", "production--pr-1")


def test_parse_reads_labels_and_their_meta():
    out = ('pr-1\t{"label": "pr-1", "domain": "pr-1.p.test", "expires": 1800000000}\n'
           "pr-2\tnot json\n")
    assert parse(out) == [Preview("pr-1", "pr-1.p.test", 1800000000), Preview("pr-2")]


def test_refused_past_the_limit_with_the_list():
    assert refused([], "a", 1) is None
    assert refused(["a"], "a", 1) is None  # a redeploy of the same label
    assert refused(["a", "b"], "c", 3) is None
    assert refused(["b", "a"], "c", 2) == (
        "2 previews already run (previews=2): a, b; remove one first with "
        "`otter remove NAME --preview LABEL`")


def test_arm_passes_every_value_as_an_argument():
    removal = script('rm -rf -- "$1"', args=["/var/lib/otter/production--pr-1"])
    command = arm(Dep(), removal, 3600, "pr-1", now=1000)
    assert command.argv[:3] == ("sh", "-c", ARM_SCRIPT)
    folder, unit, seconds, meta, line, retry = command.argv[4:]
    assert (folder, unit, seconds) == ("/var/lib/otter/production--pr-1",
                                       "otter-expire-production--pr-1", "3600")
    assert json.loads(meta) == {"label": "pr-1", "domain": "pr-1.preview.example.com",
                                "expires": 4600}
    assert line == removal.shell_line() and retry == "30"


def test_disarm_stops_the_timer_by_name():
    command = disarm("production--pr-1")
    assert command.argv[-1] == "otter-expire-production--pr-1"
    assert 'systemctl stop "$1.timer" "$1.service"' in command.argv[2]


@pytest.fixture
def expire(tmp_path):
    """expire.sh run here for real (the real lock scripts, under tmp_path): a removal that
    notes it ran and exits `fail`; returns (exit, stdout)."""
    from otterfile.executors.local import LocalExecutor

    def run(fail: int = 0) -> tuple[int, str]:
        removal = script('echo "$2" >> "$1"; exit "$3"', args=[str(tmp_path / "ran"),
                                                               "removal", str(fail)])
        after = script('echo after >> "$1"', args=[str(tmp_path / "ran")])
        done = LocalExecutor().run(expiry("production--pr-1", removal, after,
                                          base=str(tmp_path)))
        return done.exited, done.stdout
    return run


def ran(tmp_path) -> list[str]:
    path = tmp_path / "ran"
    return path.read_text().split() if path.exists() else []


def test_the_expiry_removes_under_the_lock_and_releases_it(tmp_path, expire):
    assert expire()[0] == 0
    assert ran(tmp_path) == ["removal", "after"]
    assert not (tmp_path / "production--pr-1" / "lock").exists()


def test_the_expiry_waits_out_a_held_lock_with_75_and_removes_nothing(tmp_path, expire):
    """A deploy of the preview holds its lock: the expiry exits 75 (systemd starts it
    again later), the removal does not run and the deploy keeps its lock."""
    from otterfile.commands import lock
    from otterfile.executors.local import LocalExecutor
    held = LocalExecutor().run(lock.acquire("production--pr-1", holder="ci@laptop", pid=1,
                                            run_id="deploy-1", base=str(tmp_path)))
    assert held.exited == 0, held.stderr
    code, out = expire()
    assert code == 75 and "locked by another run" in out and "holder=ci@laptop" in out
    assert ran(tmp_path) == []
    info = (tmp_path / "production--pr-1" / "lock" / "info").read_text()
    assert "run=deploy-1" in info
    LocalExecutor().run(lock.release("production--pr-1", "deploy-1", base=str(tmp_path)))
    assert expire()[0] == 0 and ran(tmp_path) == ["removal", "after"]


def test_a_failed_removal_releases_the_lock_and_keeps_the_folder(tmp_path, expire):
    assert expire(fail=4)[0] == 4
    assert ran(tmp_path) == ["removal"]
    assert not (tmp_path / "production--pr-1" / "lock").exists()


def fake_systemctl(tmp_path, substate: str):
    """A `systemctl` on PATH that answers `show` with SubState `substate` and notes every
    call; `systemd-run` notes its call too."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("systemctl", f'[ "$1" = show ] && {{ echo {substate}; exit 0; }}\n'),
                       ("systemd-run", "")):
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{tmp_path}/calls"\n{body}exit 0\n')
        path.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("substate,code", [("running", 75), ("auto-restart", 0), ("dead", 0)])
def test_arming_never_stops_an_expiry_that_is_removing(tmp_path, monkeypatch, substate, code):
    """The timer stops first; an expiry service already running (it holds the preview's
    lock, removing it) is left to finish and the arm exits 75; one waiting to retry is
    stopped and the timer armed anew."""
    import os
    from otterfile.executors.local import LocalExecutor
    monkeypatch.setenv("PATH", f"{fake_systemctl(tmp_path, substate)}:{os.environ['PATH']}")
    folder = tmp_path / "production--pr-1"
    folder.mkdir()
    dep_like = type("D", (), {"name": "production--pr-1", "domains": ("pr-1.p.test",)})()
    done = LocalExecutor().run(arm(dep_like, script("true"), 60, "pr-1", now=0,
                                   base=str(tmp_path)))
    calls = (tmp_path / "calls").read_text().splitlines()
    assert done.exited == code, done.stderr
    assert calls[0] == "systemctl stop otter-expire-production--pr-1.timer"
    stops_service = "systemctl stop otter-expire-production--pr-1.service" in calls
    armed = any(c.startswith("systemd-run") for c in calls)
    assert (stops_service, armed) == ((False, False) if code else (True, True))
    assert (folder / "expire.sh").exists() == (code == 0)
