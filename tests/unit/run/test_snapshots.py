"""The snapshot and restore stages against recording targets: what they send (the live
release paused, or `before` run in it; the rolled-back release's data put back after the
live one stops), what a refusal does (nothing starts), and the room the snapshot takes off
the ship stage's check. Nothing runs."""
from __future__ import annotations

import json

import pytest

from otterfile.executors.recording import RecordingExecutor
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.plan.planner import plan
from otterfile.run.deploy import execute
from otterfile.run.engine import Engine
from otterfile.run.lane import Lane
from otterfile.run.runner import FAILED
from otterfile.run.snapshots import _count_room
from otterfile.run.space import Landing
from tests.unit.run.test_flow import OLD, Images, answers, live_state

pytestmark = pytest.mark.unit

OTTERFILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime={runtime}, targets=[ssh("root@web1")], domains=["app.test"],
                      snapshots=Snapshots(keep=3{before}))
'''
DOCKER = 'docker(port=8080, volumes=["pgdata:/var/lib/pg", "/srv/x:/x"])'
LIVE = "20240101T000000-cdcdcdcd"
TAKEN = ("before=R1\nlive=20240101T000000-cdcdcdcd\ntime=1\nbytes=2048\nhow=paused\n"
         "seconds=0.25\nsources=volume-pgdata\npruned=20230101T000000-abababab\nmount=/\n")


def run(tmp_path, snapshot_answer, *, runtime=DOCKER, before="", rollback=False,
        with_data=False, state=None, restore_answer=""):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(runtime=runtime, before=before))
    project = evaluate(load(tmp_path / "Otterfile.py"))
    events = []

    def target(host):
        made = answers(state or live_state("docker", ""))(host)
        made.responses[lambda c: c.description.startswith("snapshot the data")] = \
            snapshot_answer
        made.responses[lambda c: c.description.startswith("restore the data")] = \
            restore_answer
        return made
    made = {}

    def connect(host, _folder):
        made.setdefault(host.name, target(host) if host.name != "controller"
                        else RecordingExecutor(host))
        return made[host.name]
    engine = Engine(project, events.append, connect=connect, images=Images(),
                    release_id=lambda digest: "R1", rollback=rollback)
    done = execute(plan(project, ["production"], rollback=rollback, with_data=with_data),
                   engine, None)
    return done.outcome, made["web1"], events


def described(executor, start):
    return [c for c in executor.commands if c.description.startswith(start)]


def test_the_snapshot_comes_after_the_lock_before_ship_and_pauses_the_live_release(tmp_path):
    outcome, target, events = run(tmp_path, TAKEN)
    assert outcome.ok, outcome.errors
    order = [c.description.split(" ")[0] for c in target.commands]
    assert order.index("snapshot") < order.index("look") < order.index("start")
    [take] = described(target, "snapshot the data")
    args = take.argv[4:]
    assert args[:4] == ("/var/lib/otter/production/snapshots", "R1", LIVE, "3")
    assert "pgdata" in args[4] and "/srv/x" not in args[4]  # named volumes only
    assert args[5] == f"docker pause otter-production-{LIVE}"
    assert args[6] == f"docker unpause otter-production-{LIVE}" and args[7] == ""
    said = [e for e in events if e.kind == "info" and e.task and e.task.stage == "snapshot"]
    assert said[0].message == (f"snapshot before R1: 2.0 KB (volume pgdata), {LIVE} paused "
                               "0.25s for the copy")
    assert said[0].data["pruned"] == ["20230101T000000-abababab"]


def test_before_runs_in_the_live_release_instead_of_a_pause(tmp_path):
    outcome, target, _ = run(tmp_path, TAKEN.replace("how=paused", "how=before"),
                             before=', before="pg_dump -f /var/lib/pg/dump.sql"')
    assert outcome.ok, outcome.errors
    [take] = described(target, "snapshot the data")
    assert take.argv[4 + 5:] == ("", "", f"docker exec otter-production-{LIVE} pg_dump -f "
                                 "/var/lib/pg/dump.sql")


def test_nothing_live_is_nothing_paused(tmp_path):
    outcome, target, _ = run(tmp_path, "snapshot=none\n", state="--- otter:instances\n")
    assert outcome.ok, outcome.errors
    [take] = described(target, "snapshot the data")
    assert take.argv[4 + 2] == "" and take.argv[4 + 5:] == ("", "", "")


@pytest.mark.parametrize("answer, words", [
    ("need=2048\nfree=1024\n", "needs up to 2.0 MB, 1.0 MB free in "
                               "/var/lib/otter/production/snapshots: nothing was changed"),
    ("exit=3\n", "Snapshots(before=...) failed in 20240101T000000-cdcdcdcd (exit 3)"),
    ("", "pausing otter-production-20240101T000000-cdcdcdcd for the snapshot failed"),
])
def test_a_refused_snapshot_starts_nothing(tmp_path, answer, words):
    from otterfile.command import Command
    from otterfile.commands import snapshots as snaps
    from otterfile.executors.base import Result
    code = {"need": snaps.EXIT_ROOM, "exit": snaps.EXIT_BEFORE}.get(answer.split("=")[0],
                                                                     snaps.EXIT_PAUSE)
    outcome, target, _ = run(tmp_path, Result(Command(("x",)), code, stdout=answer))
    assert outcome.status["production/snapshot@web1"] == FAILED
    assert words in str(outcome.errors["production/snapshot@web1"])
    assert not described(target, "start ") and not described(target, "look for")


def test_the_snapshot_counts_against_the_room_on_its_file_system(tmp_path):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(runtime=DOCKER, before=""))
    dep = evaluate(load(tmp_path / "Otterfile.py")).deployments["production"]
    lane = Lane(dep, dep.hosts[0], space=[Landing("archive", 5000, "/", "/var/lib/docker/tmp"),
                                          Landing("unpacked", 9000, "/data", "/data/docker")])
    _count_room(lane, "/", 2048)
    assert [landing.free for landing in lane.space] == [2952, 9000]


def rollback_state() -> str:
    """R0 previous (OLD's digest), 20240101T000000-cdcdcdcd live."""
    state = live_state("docker", "")
    first, _, rest = state.partition("\n")
    data = json.loads(first)
    data["releases"].insert(0, {**data["releases"][0], "id": "20231231T000000-cdcdcdcd",
                                "status": "previous", "instance": "otter-production-"
                                "20231231T000000-cdcdcdcd", "digest": OLD})
    return json.dumps(data) + "\n" + rest


def test_a_rollback_takes_no_snapshot_and_restores_only_with_data(tmp_path):
    outcome, target, _ = run(tmp_path, TAKEN, rollback=True, state=rollback_state())
    assert outcome.ok, outcome.errors
    assert not described(target, "snapshot") and not described(target, "restore")
    outcome, target, _ = run(tmp_path, TAKEN, rollback=True, with_data=True,
                             state=rollback_state(), restore_answer="restored=volume-pgdata\n")
    assert outcome.ok, outcome.errors
    [restore] = described(target, "restore the data")
    args = restore.argv[4:]
    assert args[:3] == ("/var/lib/otter/production/snapshots", LIVE,
                        "20231231T000000-cdcdcdcd")
    assert "volume" in args[3] and args[3].startswith("sh -c") and " 1 pgdata" in args[3]
    assert args[4] == f"docker stop -t 10 otter-production-{LIVE}"
    order = [c.description.split(" ")[0] for c in target.commands]
    assert order.index("restore") < order.index("start")


def test_a_rollback_to_other_data_is_refused_before_anything_starts(tmp_path):
    from otterfile.command import Command
    from otterfile.commands import snapshots as snaps
    from otterfile.executors.base import Result
    refused = Result(Command(("x",)), snaps.EXIT_OTHER_DATA, stdout="live=20230101T000000-ab\n")
    outcome, target, _ = run(tmp_path, TAKEN, rollback=True, with_data=True,
                             state=rollback_state(), restore_answer=refused)
    assert outcome.status["production/restore@web1"] == FAILED
    assert "holds the data of 20230101T000000-ab, not of 20231231T000000-cdcdcdcd" in \
        str(outcome.errors["production/restore@web1"])
    assert not described(target, "start ")
