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


def _kit_line(script: str) -> list[str]:
    """The kit.sh invocation in a retire script: sh -c TEXT sh BACK (VARS BEFORE SITE)x2."""
    import shlex
    words = shlex.split(script)
    at = next(i for i, word in enumerate(words) if KIT in word)
    return words[at - 2:at + 9]


def test_a_kit_made_by_another_otter_is_refused_and_the_rollback_takes_two_trips(
        tmp_path, monkeypatch, request):
    """A proxy template's bytes changed between the deploy that left the kit and the
    rollback (the digest's input monkeypatched to a copy of the templates): the rollback
    sends another digest, the real back.sh refuses the kit saying why, and the rollback
    goes on from the state read, the switch in a second round trip."""
    import shutil
    import subprocess
    import time

    from otterfile import render
    from otterfile.run import kit_code
    from otterfile.executors.base import Result
    from otterfile.scripts import load
    from tests.unit.run import test_window
    from tests.unit.run.test_flow import read_answer
    copies = tmp_path / "templates"
    shutil.copytree(render.TEMPLATES, copies)
    files = [p for p in kit_code.kit_code() if not p.startswith(str(render.TEMPLATES))]
    monkeypatch.setattr(kit_code, "kit_code", lambda: files + [
        str(copies / n) for n in kit_code.KIT_TEMPLATES])
    kit_code.code_digest.cache_clear()
    request.addfinalizer(kit_code.code_digest.cache_clear)  # the real files' digest after it
    (tmp_path / "deploy").mkdir()
    outcome, target, _ = run(tmp_path / "deploy", read(B, None, running=(B,)))
    assert outcome.ok, outcome.errors
    made = kit_code.code_digest()
    argv = _kit_line(command(target, "retire the old release").argv[2])
    d = tmp_path / "production"
    assert subprocess.run(["sh", "-c", argv[2], "sh", str(d / "back"), *argv[5:]],
                          timeout=30).returncode == 0  # the kit, as the deploy left it
    vars_text = (d / "back" / "a" / "vars").read_text()
    assert f"code={made}\n" in vars_text
    (d / "releases.json").write_text((d / "back" / "a" / "before").read_text())
    (d / "kept").mkdir()
    (d / "kept" / "release").write_text(f"{B} {int(time.time()) + 300}\n")

    template = copies / "caddy_site.j2"
    template.write_bytes(template.read_bytes() + b"\n")  # another otter's template
    kit_code.code_digest.cache_clear()
    now = kit_code.code_digest()
    assert now != made
    sig = re.search(r"^made=(\S+)$", vars_text, re.M)
    assert sig is not None
    done = subprocess.run(["sh", "-c", load("window/back.sh"), "sh", str(d), "", sig[1], now,
                           '"me"', '"now"', "echo unlocked", load("window/switch-back.sh")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 10 and done.stdout == "", (done.stdout, done.stderr)
    why = done.stderr.strip()
    assert why == (back.WHY + "it was made by another otter (its scripts or proxy templates "
                   "differ from this one's)"), why

    original = test_window.answers  # the rollback's lock trip answered as back.sh did

    def answers(state, **kw):
        made_target = original(state, **kw)

        def one(host):
            executor = made_target(host)
            executor.responses = {
                (lambda c: c.description.startswith(LOCK)): lambda: Result(
                    executor.commands[-1], 0, "status=acquired\n--- otter:locked\n"
                    + read_answer(state, "missing"), why + "\n"), **executor.responses}
            return executor
        return one
    monkeypatch.setattr(test_window, "answers", answers)
    (tmp_path / "rollback").mkdir()
    outcome, target, _ = run(tmp_path / "rollback", read(B, A), rollback=True)
    assert outcome.ok, outcome.errors
    lock = command(target, LOCK)
    assert now in lock.argv[2] and made not in lock.argv[2]  # back.sh asked with the new one
    names = verbs(target)
    assert len(target.commands) > 1 and any(n.startswith("switch caddy") for n in names), names
