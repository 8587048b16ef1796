"""A rollback inside the window in the lock's round trip (run/back.py) against recording
targets: the switch that keeps a release leaves the kit of the switch back (and of the way
back again); a rollback whose lock trip ran the kit is one round trip, said as the two-trip
way says it; a kit whose switch failed fails the rollback, nothing more sent. Nothing runs."""
from __future__ import annotations

import base64
import gzip
import json
import re

import pytest

from otterfile.run import back
from otterfile.run.state import Release
from tests.unit.run.test_flow import verbs
from tests.unit.run.test_window import A, B, command, read, run

pytestmark = pytest.mark.unit
KIT = 'new="$back.new.$$"'  # scripts/window/kit.sh (sent without its comments)

LOCK = "lock production; switch production back"


def answering(monkeypatch, stdout: str, stderr: str = ""):
    """test_window's targets, the lock trip answered as back.sh running its kit."""
    from otterfile.executors.base import Result
    from tests.unit.run import test_window
    original = test_window.answers

    def answers(state, **kw):
        target = original(state, **kw)

        def made(host):
            executor = target(host)
            executor.responses = {
                (lambda c: c.description.startswith(LOCK)):
                    lambda: Result(executor.commands[-1], 0, "status=acquired\n--- otter:"
                                   "locked\n" + stdout, stderr), **executor.responses}
            return executor
        return made
    monkeypatch.setattr(test_window, "answers", answers)


def test_a_deploy_leaves_the_switch_back_ready_both_ways(tmp_path):
    outcome, target, _ = run(tmp_path, read(B, None, running=(B,)))
    assert outcome.ok, outcome.errors
    script = command(target, "retire the old release").argv[2]
    assert KIT in script
    packed = [gzip.decompress(base64.b64decode(word)).decode()
              for word in re.findall(r"[A-Za-z0-9+/=]{200,}", script)]
    assert len(packed) == 2, len(packed)  # to B (keeping R1), then the way back (keeping B)
    assert f"release={B}\n" in packed[0] and "keeps='R1 20001'" in packed[0]
    assert "release=R1\n" in packed[1] and f"keeps='{B} 20001'" in packed[1]


def test_no_window_no_kit(tmp_path):
    outcome, target, _ = run(tmp_path, read(B, A), seconds=0)
    assert outcome.ok, outcome.errors
    assert KIT not in command(target, "retire the old release").argv[2]


def test_a_rollback_the_target_did_is_one_round_trip(tmp_path, monkeypatch):
    answering(monkeypatch, f"--- otter:back {A} {B} 20001\nswitched production to 127.0.0.1"
              f":20000 (no reload)\n--- otter:part switch 0\nkept {B} until 1300\n--- otter"
              ":part retire 0\nstatus=released\n--- otter:part unlock 0\n")
    outcome, target, engine = run(tmp_path, read(B, A), rollback=True)
    assert outcome.ok, outcome.errors
    assert len(target.commands) == 1, verbs(target)
    lane = engine.lanes[("production", "web1")]
    assert lane.closed and lane.lock is not None and not lane.lock.held


def test_a_kit_whose_switch_failed_fails_and_sends_nothing_more(tmp_path, monkeypatch):
    answering(monkeypatch, f"--- otter:back {A} {B} 20001\n--- otter:part switch 4\n",
              "caddy: bad config\n")
    outcome, target, _ = run(tmp_path, read(B, A), rollback=True)
    assert not outcome.ok
    said = " ".join(str(e) for e in outcome.errors.values())
    assert "caddy rejected the new config" in said, said
    assert f"nothing was switched, {B} still serves" in said, said
    assert len(target.commands) == 1, verbs(target)


def test_the_log_records_leave_who_and_when_to_the_target():
    text = back._record("production", Release(A, "sha256:ab"), "ok")
    filled = text.replace(back.WHEN, '"now"').replace(back.WHO, '"me"')
    assert json.loads(filled)["who"] == "me" and json.loads(filled)["release"] == A


def test_a_kit_not_used_is_said_and_the_state_read_goes_on():
    from otterfile.command import cmd
    from otterfile.executors.base import Result

    class Engine:
        said: list[str] = []

        def emit(self, task, kind, message, **fields):
            self.said.append(message)
    engine = Engine()
    result = Result(cmd("x"), 0, '{"live": "A"}\n',
                    back.WHY + "GET /health answered 404\n")
    assert back.ran(engine, None, None, result) is False  # type: ignore[arg-type]
    assert engine.said == ["no switch back left ready for this: GET /health answered 404; "
                           "the rollback goes on from the state read"]
