"""The rollback window (run/window.py) against recording targets: a switch keeps the old
release running and arms the target's timer; a rollback to the kept release inside its
window starts nothing; after it, or with another release asked for, it starts one as
before; recover leaves the kept instance alone; bad values are refused; status shows what
is kept. Nothing runs."""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.run import window
from tests.unit.load.test_validate import BASE, DEPLOY, write
from tests.unit.run.test_flow import OLD, OTTERFILE, Images, answers, verbs

pytestmark = pytest.mark.unit

NEW = "sha256:" + "ef" * 32
A, B = "20240101T000000-cdcdcdcd", "20240102T000000-efefefef"  # old, then newer


def instance(release: str) -> str:
    return f"otter-production-{release}"


def read(live: str, kept: str | None, until: int = 1300, now: int = 1000,
         running: tuple[str, ...] = (A, B)) -> str:
    """What the state read prints: A (port 20000) and B (port 20001), `live` serving, `kept`
    named in the kept folder until `until` (the target's clock at `now`)."""
    releases = [{"id": rid, "digest": digest, "image": "app:1", "port": port,
                 "status": "live" if rid == live else "previous", "instance": instance(rid),
                 "runtime": "docker", "proxy": "caddy"}
                for rid, digest, port in ((A, OLD, 20000), (B, NEW, 20001))]
    listing = "\n".join("\t".join([instance(rid), "running" if rid in running else "exited",
                                   rid, digest, "Up"]) for rid, digest in ((A, OLD), (B, NEW)))
    port = 20000 if live == A else 20001
    text = (f"{json.dumps({'releases': releases, 'live': live})}\n--- otter:instances\n"
            f"{listing}\n--- otter:log\n--- otter:site\nreverse_proxy 127.0.0.1:{port}\n")
    return text + (f"--- otter:kept\n{kept} {until}\n{now}\n" if kept else "")


def run(tmp_path, state, *, seconds=300, rollback=False, **kw):
    """test_flow's deployment, with `rollback_window=seconds`, against a target answering
    `state` (and `kw`, see test_flow.answers)."""
    from otterfile.executors.recording import RecordingExecutor
    from otterfile.load.evaluate import evaluate
    from otterfile.load.loader import load
    from otterfile.plan.planner import plan
    from otterfile.run.deploy import execute
    from otterfile.run.engine import Engine
    text = OTTERFILE.format(runtime="docker", proxy="caddy")
    (tmp_path / "Otterfile.py").write_text(text.replace(
        "keep_releases=2)", f"keep_releases=2, rollback_window={seconds})"))
    proj = evaluate(load(tmp_path / "Otterfile.py"))
    target, made = answers(state, **kw), {}

    def connect(host, _folder):
        return made.setdefault(host.name, target(host) if host.name != "controller"
                               else RecordingExecutor(host))
    engine = Engine(proj, lambda event: None, connect=connect, images=Images(),
                    release_id=lambda digest: "R1", rollback=rollback)
    done = execute(plan(proj, ["production"], rollback=rollback), engine, None)
    return done.outcome, made["web1"], engine


def command(target, start: str):
    return next(c for c in target.commands if c.description.startswith(start))


def test_a_deploy_keeps_the_old_release_and_arms_the_timer(tmp_path):
    outcome, target, _ = run(tmp_path, read(B, None, running=(B,)))
    assert outcome.ok, outcome.errors
    retire = command(target, "retire the old release")
    script = retire.argv[2]
    assert instance(B) not in script.split("otter-kept-production")[0]  # not stopped now
    assert f"'docker stop -t 10 {instance(B)}'" in script  # what the timer runs
    assert "/var/lib/otter/production/kept otter-kept-production " \
           f"{B} 300 " in script  # the kept folder, the timer, the release, the window
    state = json.loads(retire.stdin)
    assert {r["id"]: r["status"] for r in state["releases"]}[B] == "previous"
    assert "cancel the rollback window" not in script


def test_window_0_stops_the_old_release_and_cancels_a_timer_left_armed(tmp_path):
    outcome, target, _ = run(tmp_path, read(B, A), seconds=0)
    assert outcome.ok, outcome.errors
    script = command(target, "retire the old release").argv[2]
    assert f"docker stop -t 10 {instance(B)}" in script  # today's retire: drained 2 s, stopped
    assert "otter-kept-production" in script and "rm -rf" in script  # cancelled
    assert f"{instance(A)}" in script  # the release kept before: stopped


def test_a_deploy_retires_the_release_kept_before_and_keeps_the_live_one(tmp_path):
    outcome, target, _ = run(tmp_path, read(B, A))
    assert outcome.ok, outcome.errors
    names = verbs(target)
    assert not any(n.startswith("remove otter") for n in names), names  # recover kept A
    script = command(target, "retire the old release").argv[2]
    before, arm = script.split("otter-kept-production", 1)
    assert instance(A) not in before  # B kept first, the timer armed anew (the ones before
    assert f" {B} 300 " in arm  # stopped): a failed stop or removal of A leaves B kept
    assert arm.index(f" {B} 300 ") < arm.index(f"stop -t 10 {instance(A)}")  # then A retired


def test_rollback_inside_the_window_is_a_health_check_and_a_switch(tmp_path):
    outcome, target, _ = run(tmp_path, read(B, A), rollback=True)
    assert outcome.ok, outcome.errors
    names = verbs(target)
    assert "start" not in names and "GET http://127.0.0.1:20000/health" in names, names
    switch = command(target, "switch caddy")  # with the retire (tests/unit/run/test_instant.py)
    assert "/var/lib/otter/production/upstream 20000" in switch.argv[4]
    assert f" {B} 300 " in switch.argv[5]  # the release rolled back from is kept in turn


@pytest.mark.parametrize("kept,until,running", [
    (A, 1000, (A, B)),  # the window ended (the timer is due)
    (A, 1300, (B,)),  # its instance does not run
    (None, 0, (A, B)),  # nothing kept
])
def test_rollback_otherwise_starts_the_release_again(tmp_path, kept, until, running):
    outcome, target, _ = run(tmp_path, read(B, kept, until, running=running),
                             rollback=True)
    assert outcome.ok, outcome.errors
    assert "start" in verbs(target)
    assert "GET http://127.0.0.1:20001/health" in verbs(target)  # the new instance's port


def test_a_kept_release_that_fails_its_health_check_is_left_to_its_timer(tmp_path):
    outcome, target, _ = run(tmp_path, read(B, A), rollback=True, health=503)
    assert not outcome.ok
    names = verbs(target)
    assert not any(n.startswith(("remove", "switch", "retire")) for n in names), names


def test_recover_leaves_the_kept_instance_and_removes_other_strays(tmp_path):
    state = read(B, None)  # A runs, and nothing names it kept: a stray of a killed run
    outcome, target, _ = run(tmp_path, state.replace('"previous"', '"failed"'))
    assert outcome.ok, outcome.errors
    assert any(instance(A) in c.argv_values()[-1] for c in target.commands
               if c.description.startswith("remove ")), verbs(target)


def test_kept_parse_and_the_seconds_left():
    assert window.parse(f"{A} 1300\n1000\n") == window.Kept(A, 1300, 1000)
    assert window.Kept(A, 1300, 1000).left == 300 and window.Kept(A, 900, 1000).left == 0
    assert window.parse("") is None and window.parse("x y z") is None


CASES = [("negative", "-1", r"rollback_window: expected a number of at least 0, got -1"),
         ("a string", '"5m"', r"rollback_window: expected a number .*got '5m'"),
         ("a bool", "True", r"rollback_window: expected a number .*got True"),
         ("over a week", "604801", r"rollback_window: expected at most 604800 seconds")]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_bad_window_exits_2_naming_the_field(tmp_path, case):
    name, value, error = case
    file, marker = write(tmp_path, (name, (DEPLOY, DEPLOY[:-1] + f", rollback_window={value})"),
                                    ""))
    result = CliRunner().invoke(main, ["-f", str(file), "run", "production"], env={})
    assert result.exit_code == 2, result.output
    assert re.search(r":\d+: deployment production/" + error, result.output), result.output
    assert not marker.exists()


def test_recreate_ignores_the_window_and_says_so(tmp_path):
    file = tmp_path / "Otterfile.py"
    file.write_text(BASE.format(marker=tmp_path / "m").replace(
        ', domains=["app.test"])', ', strategy="recreate", rollback_window=60)'))
    result = CliRunner().invoke(main, ["-f", str(file), "plan", "production"], env={})
    assert result.exit_code == 0, result.output
    assert 'warning: deployment production: rollback_window is ignored with ' \
           'strategy="recreate"' in result.stderr
    from otterfile.load.evaluate import evaluate
    from otterfile.load.loader import load
    dep = evaluate(load(file)).deployments["production"]
    assert dep.rollback_window == 60 and dep.window == 0


def test_status_shows_what_is_kept_and_until_when():
    from otterfile.report.status import TargetStatus, render_status, status_record
    from otterfile.run.state import Release
    live = Release(B, NEW, status="live", port=20001, instance=instance(B), runtime="docker")
    old = Release(A, OLD, status="previous", port=20000, instance=instance(A),
                  runtime="docker")
    status = TargetStatus([old, live], live, {("docker", instance(A))},
                          kept=window.Kept(A, 1700000000, 1699999900))
    record = status_record(status)["kept"]
    assert record == {"release": A, "until": "2023-11-14T22:13:20Z", "seconds_left": 100,
                      "running": True}
    dep = SimpleNamespace(name="production", proxy_kind=SimpleNamespace(name="caddy"))
    shown = render_status([(dep, SimpleNamespace(name="web1"))], [status])
    assert f"{A} (kept until 22:13:20Z)" in shown
    assert status_record(TargetStatus([live], live))["kept"] is None


def test_remove_cancels_the_timer_of_a_kept_release(tmp_path):
    from otterfile.load.evaluate import evaluate
    from otterfile.load.loader import load
    from otterfile.run.remove import Found, removal
    path = tmp_path / "Otterfile.py"
    path.write_text(OTTERFILE.format(runtime="docker", proxy="caddy"))
    dep = evaluate(load(path)).deployments["production"]
    found = Found(instances=(instance(A), instance(B)), releases=2)
    assert "otter-kept-production" not in removal(dep, found).argv[2]
    kept = removal(dep, Found(instances=(instance(A), instance(B)), releases=2, kept=True))
    assert "/var/lib/otter/production/kept otter-kept-production" in kept.argv[2]
