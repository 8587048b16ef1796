"""Rolling deploys: the batches a plan puts targets in (counts, percentages, canary), the
runner going by them with a fake perform (a failure stops before the next batch), the
fleet rollback of what this run switched, the output, and the canary field's errors."""
from __future__ import annotations

import io
import threading
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.load.evaluate import evaluate
from otterfile.report.live import LiveReporter
from otterfile.load.loader import load
from otterfile.plan.planner import batch_size, batches, order, plan
from otterfile.report.json_lines import JsonReporter
from otterfile.report.plain import ConsoleReporter
from otterfile.report.tables import summary
from otterfile.run.deploy import announcing, deploy, execute
from otterfile.run.runner import FAILED, OK, SKIPPED, Event

pytestmark = pytest.mark.unit

FILE = '''
from otterfile import *

@artifact
def web():
    return build(path=".", command="docker build -t app .")

@target
def fleet():
    return [ssh("root@" + name) for name in {hosts!r}]

@deployment
def production():
    return Deployment(artifact=web, runtime=docker(port=80), targets=[fleet], {options})
'''
FIVE = ["a", "b", "c", "d", "e"]


def project(otterfile, options: str, hosts=FIVE):
    return evaluate(load(otterfile(FILE.format(hosts=hosts, options=options))))


def dep(parallel=None, canary=False, hosts=5):
    return SimpleNamespace(parallel=parallel, canary=canary, hosts=[object()] * hosts)


@pytest.mark.parametrize("parallel,canary,expected", [
    (None, False, [FIVE]),
    (2, False, [["a", "b"], ["c", "d"], ["e"]]),
    (1, False, [["a"], ["b"], ["c"], ["d"], ["e"]]),
    (5, False, [FIVE]),
    (10, False, [FIVE]),                            # more than the hosts: one batch
    ("40%", False, [["a", "b"], ["c", "d"], ["e"]]),
    ("25%", False, [["a", "b"], ["c", "d"], ["e"]]),  # 1.25 rounds up to 2
    ("1%", False, [["a"], ["b"], ["c"], ["d"], ["e"]]),  # never below 1
    ("100%", False, [FIVE]),
    (None, True, [["a"], ["b", "c", "d", "e"]]),    # canary alone, then the rest at once
    (2, True, [["a"], ["b", "c"], ["d", "e"]]),
    (1, True, [["a"], ["b"], ["c"], ["d"], ["e"]]),
    ("50%", True, [["a"], ["b", "c", "d"], ["e"]]),  # a percentage of all the hosts
])
def test_batches(parallel, canary, expected):
    assert batches(dep(parallel, canary), FIVE) == expected


def test_one_host_is_one_batch_whatever_the_settings():
    for parallel in (None, 1, 3, "10%", "100%"):
        for canary in (False, True):
            assert batches(dep(parallel, canary, hosts=1), ["a"]) == [["a"]]


def test_batch_size():
    assert batch_size(None, 20) is None
    assert batch_size(3, 20) == 3
    assert (batch_size("25%", 20), batch_size("25%", 3), batch_size("33%", 10)) == (5, 1, 4)


def test_targets_narrow_the_batches_but_a_percentage_is_of_the_deployment(otterfile):
    proj = project(otterfile, 'parallel="40%", canary=True')
    assert order(proj, ["production"]) == {"production": [["a"], ["b", "c"], ["d", "e"]]}
    assert order(proj, ["production"], hosts=["b", "d", "e"]) == {
        "production": [["b"], ["d", "e"]]}


def test_each_batch_waits_for_the_last_tasks_of_the_batch_before(otterfile):
    graph = plan(project(otterfile, "parallel=2, canary=True"), ["production"])
    assert graph.tasks["production/lock@a"].deps == ("acquire:web",)
    assert graph.tasks["production/lock@b"].deps == ("acquire:web", "production/retire@a")
    assert graph.tasks["production/lock@d"].deps == (
        "acquire:web", "production/retire@b", "production/retire@c")
    # a rollback (and a deploy without parallel or canary) goes all at once
    rollback = plan(project(otterfile, "parallel=2, canary=True"), ["production"],
                    rollback=True)
    locks = [t for t in rollback.order() if t.stage == "lock"]
    assert len(locks) == 5 and all(t.deps == () for t in locks)
    plain = plan(project(otterfile, "domains=[]"), ["production"])
    locks = [t for t in plain.order() if t.stage == "lock"]
    assert len(locks) == 5 and all(t.deps == ("acquire:web",) for t in locks)


def test_a_once_step_runs_on_the_canary_and_later_batches_still_wait(otterfile):
    extra = '''
@step(deployment="production", before="switch", on="once")
def migrate(ctx):
    pass
'''
    path = otterfile(FILE.format(hosts=FIVE, options="parallel=2, canary=True") + extra)
    graph = plan(evaluate(load(path)), ["production"])
    assert graph.tasks["production/step:migrate"].host == "a"
    assert "production/step:migrate" in graph.tasks["production/switch@e"].deps
    assert "production/retire@a" in graph.tasks["production/lock@b"].deps


class Perform:
    """A fake perform: records what ran and at most how many hosts were between their lock
    and their retire (or unlock) at once; fails the task ids in `failing`."""

    def __init__(self, *failing: str):
        self.failing, self.ran = set(failing), []
        self.active, self.peak, self.guard = set(), 0, threading.Lock()

    def __call__(self, task):
        with self.guard:
            self.ran.append(task.id)
            if task.host and task.stage == "lock":
                self.active.add(task.host)
                self.peak = max(self.peak, len(self.active))
            if task.stage in ("retire", "unlock"):
                self.active.discard(task.host)
        if task.id in self.failing:
            raise RuntimeError("health check failed")


def run(proj, perform, events=None):
    engine = SimpleNamespace(perform=perform, report=(events if events is not None else []).append,
                             cancel=threading.Event(), close=lambda: None,
                             interrupt=lambda: None, lanes={})
    report = announcing(engine.report, proj, order(proj, ["production"]))
    return execute(plan(proj, ["production"]), engine, None, report)


def test_a_failure_in_batch_2_stops_batch_3_from_starting(otterfile):
    proj = project(otterfile, "parallel=2")
    perform, events = Perform("production/health@c"), []
    done = run(proj, perform, events)
    status = done.outcome.status
    assert not done.outcome.ok
    assert all(status[f"production/retire@{h}"] == OK for h in "ab")  # batch 1
    assert status["production/health@c"] == FAILED
    assert status["production/switch@c"] == SKIPPED and status["production/unlock@c"] == OK
    assert status["production/retire@d"] == OK  # already running: it finishes
    assert not [t for t in perform.ran if t.endswith("@e")]  # batch 3 never started
    on_e = [s for t, s in status.items() if t.endswith("@e")]
    assert on_e and all(s == SKIPPED for s in on_e)
    assert perform.peak <= 2
    said = [e.message for e in events if e.kind == "batch"]
    assert said == ["production: batch 1 of 3: a, b", "production: batch 2 of 3: c, d"]
    text = summary(done.graph, done.outcome)
    assert text.endswith("not started (after a failure): e")
    assert [line for line in text.splitlines() if line.startswith("e ")][0].endswith(
        "0.0s  not started")


def test_a_failing_canary_stops_everything(otterfile):
    proj = project(otterfile, "parallel=2, canary=True")
    perform, events = Perform("production/health@a"), []
    done = run(proj, perform, events)
    assert {t.split("@")[1] for t in perform.ran if "@" in t} == {"a"}
    assert summary(done.graph, done.outcome).endswith("not started (after a failure): "
                                                      "b, c, d, e")
    assert [e.data["batch"] for e in events if e.kind == "batch"] == [1]
    assert events[[e.kind for e in events].index("batch")].data == {
        "deployment": "production", "batch": 1, "of": 3, "hosts": ["a"], "canary": True}


def test_all_batches_succeed_in_order(otterfile):
    proj = project(otterfile, 'parallel="40%", canary=True')
    perform = Perform()
    assert run(proj, perform).outcome.ok
    locks = [t.split("@")[1] for t in perform.ran if "/lock@" in t]
    assert locks[0] == "a" and set(locks[1:3]) == {"b", "c"} and set(locks[3:]) == {"d", "e"}
    assert perform.peak <= 2


class FakeEngine:
    """What deploy() asks of an engine; every lane had a previous release."""

    def __init__(self, perform, rollback=False, fresh=()):
        self.perform, self.rollback, self.env = perform, rollback, {}
        self.events, self.cancel = [], threading.Event()
        self.lanes = {("production", h): SimpleNamespace(
            previous=None if h in fresh else "v1", noop=False, failed=None) for h in FIVE}

    def report(self, event):
        self.events.append(event)

    def interrupt(self):
        self.cancel.set()

    def close(self):
        pass


def test_rollback_returns_the_canary_and_every_earlier_batch(otterfile):
    proj = project(otterfile, 'parallel=2, canary=True, on_failure="rollback"')
    failing = Perform("production/health@d")  # batch 3: d, e (e still finishes)
    engines: list[FakeEngine] = []

    def engine_for(**options):
        engines.append(FakeEngine(failing if not options.get("rollback") else Perform(),
                                  options.get("rollback", False), fresh=("e",)))
        return engines[-1]
    runs = []
    assert deploy(proj, "production", engine_for, hosts=None, on_finished=runs.append) is False
    assert [e.rollback for e in engines] == [False, True]
    back = runs[1].graph
    assert sorted(back.hosts()) == ["a", "b", "c"]  # e had nothing before: left as it is
    assert not [t for t in back.order() if t.stage == "ship"]  # through start, health, switch
    said = [e.message for e in engines[0].events if e.kind == "info"]
    assert "production: a target failed; rolling back a, b, c to the release live before " \
           "this run (through the health gate)" in said
    assert "production: e had no release before this run: left on the new one" in said


def test_stop_leaves_switched_targets_alone(otterfile):
    proj = project(otterfile, "parallel=2")
    engines = []

    def engine_for(**options):
        engines.append(FakeEngine(Perform("production/health@c")))
        return engines[-1]
    assert deploy(proj, "production", engine_for, hosts=None, on_finished=lambda d: None) \
        is False
    assert len(engines) == 1


def test_plain_and_json_output_of_a_batch():
    event = Event("batch", None, message="production: batch 2 of 5: a, b, c, d",
                  data={"deployment": "production", "batch": 2, "of": 5,
                        "hosts": ["a", "b", "c", "d"], "canary": False})
    out = io.StringIO()
    ConsoleReporter(out)(event)
    assert out.getvalue() == "production: batch 2 of 5: a, b, c, d\n"
    out = io.StringIO()
    JsonReporter(out)(event)
    assert out.getvalue() == (
        '{"v": 1, "event": "batch", "message": "production: batch 2 of 5: a, b, c, d", '
        '"seconds": 0.0, "deployment": "production", "batch": 2, "of": 5, '
        '"hosts": ["a", "b", "c", "d"], "canary": false}\n')


def test_plan_shows_the_batches(otterfile):
    path = otterfile(FILE.format(hosts=FIVE, options="parallel=2, canary=True"))
    result = CliRunner().invoke(main, ["-f", str(path), "plan", "production"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "production: 3 batches, each once the one before is live on all its targets; a "
        "failure stops before the next\n  batch 1 of 3 (canary): a\n  batch 2 of 3: b, c\n"
        "  batch 3 of 3: d, e\ncontroller:\n")
    result = CliRunner().invoke(main, ["-f", str(path), "--json", "plan", "production"])
    import json
    plans = [json.loads(line) for line in result.output.splitlines()]
    assert [(p["host"], p["batch"], p["of"], p["canary"]) for p in plans[1:]] == [
        ("a", 1, 3, True), ("b", 2, 3, False), ("c", 2, 3, False), ("d", 3, 3, False),
        ("e", 3, 3, False)]


@pytest.mark.parametrize("options,message", [
    ('canary="yes"', "deployment production/canary: expected True or False, got 'yes'"),
    ("canary=1", "deployment production/canary: expected True or False, got 1"),
    ("canary=None", "deployment production/canary: expected True or False, got None"),
    ('parallel="0%", canary=True', "deployment production/parallel: expected a count"),
])
def test_a_bad_canary_or_parallel_names_file_line_and_field(otterfile, options, message):
    path = otterfile(FILE.format(hosts=FIVE, options=options))
    result = CliRunner().invoke(main, ["-f", str(path), "run", "production"])
    assert result.exit_code == 2
    assert f"{path}:12: {message}" in result.output
    assert "Traceback" not in result.output


def test_the_live_view_shows_a_batch_line_and_targets_not_started(otterfile):
    proj = project(otterfile, "parallel=2")
    report = LiveReporter(io.StringIO(), clock=lambda: 0.0)
    done = run(proj, Perform("production/health@c"), events := [])
    above = [report.apply(event) for event in events]
    assert "  production: batch 2 of 3: c, d" in above
    cells = {name: [str(c) for c in report._cells(row, 0.0)] for name, row in report.rows.items()}
    assert cells["e"][1] == "not started" and cells["c"][1] == "FAILED"
    assert cells["a"][1] == cells["d"][1] == "ok"
    assert not done.outcome.ok
