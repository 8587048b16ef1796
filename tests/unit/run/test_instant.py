"""A rollback inside the rollback window in two round trips (run/instant.py) against
recording targets: the lock with the read, then one script that switches, keeps the other
release, writes the state, logs and unlocks; a failed retire part fails the retire stage
(logged and unlocked all the same); a failed switch or health check switches nothing, says
so, and unlocks in a round trip of its own. Nothing runs."""
from __future__ import annotations

import json

import pytest

from otterfile.command import cmd
from otterfile.executors.base import Result
from otterfile.run.instant import split
from otterfile.scripts import load
from tests.unit.run.test_flow import verbs
from tests.unit.run.test_window import A, B, read, run

pytestmark = pytest.mark.unit

SWITCH = "switch caddy to production's new release"
BACK = ("switched production to 127.0.0.1:20000 (no reload)\n--- otter:part switch 0\n"
        f"kept {B} until 1300\n--- otter:part retire 0\nstatus=released\n"
        "--- otter:part unlock 0\n")


def answered(switch_back):
    """test_window's run, its targets answering the switch-back script `switch_back`."""
    from tests.unit.run import test_window
    original = test_window.answers

    def answers(state, **kw):
        target = original(state, **kw)

        def made(host):
            executor = target(host)
            executor.responses = {(lambda c: c.description.startswith(SWITCH)): switch_back,
                                  **executor.responses}
            return executor
        return made
    return answers


@pytest.fixture
def back(monkeypatch):
    def use(answer):
        from tests.unit.run import test_window
        monkeypatch.setattr(test_window, "answers", answered(answer))
    return use


def args_of(target):
    """The switch-back command's arguments, by name (scripts/window/switch-back.sh)."""
    command = next(c for c in target.commands if c.description.startswith(SWITCH))
    names = ["switch", "retire", "file", "state", "logged", "failed", "unlock"]
    return dict(zip(names, command.argv[4:])), command


def test_split_reads_each_part_and_its_status():
    text = "a\n--- otter:part switch 0\nb\nc\n--- otter:part retire 91\n--- otter:part x\n"
    assert split(Result(cmd("x"), 0, text)) == {"switch": (0, "a\n"), "retire": (91, "b\nc\n")}
    assert split(Result(cmd("x"), 4, "failed\n--- otter:part switch 4\n")) == \
        {"switch": (4, "failed\n")}


def test_two_round_trips_switch_keep_log_and_unlock(tmp_path, back):
    back(BACK)
    outcome, target, engine = run(tmp_path, read(B, A), rollback=True)
    assert outcome.ok, outcome.errors
    names = verbs(target)
    assert len(names) == 3 and names[0].startswith(  # the kit's try first (run/back.py)
        "lock production; switch production back to its kept release?, else read state"), names
    assert names[1] == "GET http://127.0.0.1:20000/health", names  # the forward, no trip
    assert names[2].startswith("switch caddy to release; write state of production"), names
    args, command = args_of(target)
    assert command.stdin and "Managed by otter" in command.stdin  # the site, for the switch
    # one argument of the target's shell: far below Linux's 128 KiB (the kits are packed)
    assert len(command.shell_line()) < 64 * 1024, len(command.shell_line())
    assert "/var/lib/otter/production/upstream 20000" in args["switch"]
    assert f" {B} 300 " in args["retire"]  # the release rolled back from is kept in turn
    assert "docker stop" not in args["retire"].split("otter-kept-production")[0]
    assert args["file"] == "/var/lib/otter/production/releases.json"
    state = json.loads(args["state"])
    assert state["live"] == A and [r["id"] for r in state["releases"]] == [A, B]
    assert "deploy.log" in args["logged"] and "\"result\": \"ok\"" in args["logged"]
    assert "failed at retire" in args["failed"]
    assert 'echo "status=released"' in args["unlock"]  # lock/release.sh
    lane = engine.lanes[("production", "web1")]
    assert lane.state.live == A and lane.lock is not None and not lane.lock.held


def test_a_failed_retire_part_fails_the_retire_stage_and_is_not_unlocked_again(tmp_path,
                                                                                back):
    back(Result(cmd("x"), 0, "switched\n--- otter:part switch 0\n--- otter:part retire 1\n"
                "status=released\n--- otter:part unlock 0\n", "systemd-run: no\n"))
    outcome, target, _ = run(tmp_path, read(B, A), rollback=True)
    assert not outcome.ok
    failed = {task: str(error) for task, error in outcome.errors.items()}
    assert [t for t in failed if "retire" in t] and all("switch" not in t for t in failed)
    assert "retiring failed (exit 1): systemd-run: no" in " ".join(failed.values())
    assert len(target.commands) == 3  # no unlock of its own: the script did it


def test_a_failed_switch_switches_nothing_and_unlocks_on_its_own(tmp_path, back):
    back(Result(cmd("x"), 4, "--- otter:part switch 4\n", "caddy: bad config\n"))
    outcome, target, _ = run(tmp_path, read(B, A), rollback=True)
    assert not outcome.ok
    said = " ".join(str(e) for e in outcome.errors.values())
    assert "caddy rejected the new config" in said, said
    assert f"nothing was switched, {B} still serves" in said, said
    names = verbs(target)
    assert names[-1] == "append to the deploy log of production; unlock production", names
    assert not any(n.startswith(("remove", "retire")) for n in names), names


def test_a_kept_release_failing_its_health_check_switches_nothing_and_says_so(tmp_path,
                                                                              back):
    back(BACK)
    outcome, target, _ = run(tmp_path, read(B, A), rollback=True, health=503)
    assert not outcome.ok
    said = " ".join(str(e) for e in outcome.errors.values())
    assert f"rollback to {A} (kept for the rollback window) failed: nothing was " \
           f"switched, {B} still serves" in said, said
    assert "left running until its rollback window ends" in said
    names = verbs(target)
    assert not any(n.startswith(("remove", "switch", "retire", "start")) for n in names)


def test_the_lock_trip_of_a_rollback_ensures_the_proxy_only_where_it_does_not_serve(tmp_path,
                                                                                   back):
    back(BACK)
    outcome, target, _ = run(tmp_path, read(B, A), rollback=True)
    assert outcome.ok, outcome.errors
    lock = target.commands[0].argv[2]
    guard = load("unless-serving.sh")
    assert guard in lock and "/etc/caddy/otter.d/production.caddy caddy " in lock
    assert "ss -Hltnp" in lock  # still there, for a proxy that does not run or serve
    outcome, target, _ = run(tmp_path, read(B, A))  # a deploy looks for rivals every time
    assert guard not in target.commands[0].argv[2]
