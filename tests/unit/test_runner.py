import threading
import time

from otterfile.graph import Graph, Task
from otterfile.runner import FAILED, OK, SKIPPED, run_graph


def chain(host, stages=("lock", "ship", "start", "unlock")):
    tasks, previous = [], "acquire"
    for stage in stages:
        task_id = f"{stage}@{host}"
        if stage == "unlock":
            tasks.append(Task(task_id, stage, host, deps=(previous,), always=True,
                              needs=(f"lock@{host}",)))
        else:
            tasks.append(Task(task_id, stage, host, deps=(previous,)))
        previous = task_id
    return tasks


def graph(*hosts):
    tasks = [Task("acquire", "acquire")]
    for host in hosts:
        tasks += chain(host)
    return Graph({t.id: t for t in tasks})


def test_failure_on_one_host_is_contained_and_unlock_runs():
    events, ran = [], []

    def perform(task):
        ran.append(task.id)
        if task.id == "ship@b":
            raise RuntimeError("disk full")

    outcome = run_graph(graph("a", "b"), perform, events.append)
    assert outcome.status["start@a"] == OK and outcome.status["unlock@a"] == OK
    assert outcome.status["ship@b"] == FAILED
    assert outcome.status["start@b"] == SKIPPED
    assert outcome.status["unlock@b"] == OK  # the cleanup path
    assert "start@b" not in ran
    assert str(outcome.errors["ship@b"]) == "disk full"
    assert not outcome.ok
    ends = [(e.task.id, e.status) for e in events if e.kind == "end"]
    assert ("ship@b", FAILED) in ends and ("start@b", SKIPPED) in ends


def test_failed_acquire_skips_everything_and_no_lock_means_no_unlock():
    outcome = run_graph(graph("a"), lambda t: (_ for _ in ()).throw(RuntimeError("x"))
                        if t.id == "acquire" else None, lambda e: None)
    assert outcome.status == {"acquire": FAILED, "lock@a": SKIPPED, "ship@a": SKIPPED,
                              "start@a": SKIPPED, "unlock@a": SKIPPED}


def test_parallel_bounds_hosts_at_once():
    active, peak, guard = set(), [0], threading.Lock()

    def perform(task):
        if task.host is None:
            return
        with guard:
            active.add(task.host)
            peak[0] = max(peak[0], len(active))
        time.sleep(0.01)
        if task.stage == "unlock":
            with guard:
                active.discard(task.host)

    outcome = run_graph(graph("a", "b", "c"), perform, lambda e: None, parallel=1)
    assert outcome.ok and peak[0] == 1
    outcome = run_graph(graph("a", "b", "c"), perform, lambda e: None)
    assert outcome.ok and peak[0] >= 2


def test_cancel_skips_new_work_but_unlocks():
    cancel = threading.Event()

    def perform(task):
        if task.stage == "ship":
            cancel.set()

    outcome = run_graph(graph("a"), perform, lambda e: None, cancel=cancel)
    assert outcome.status["start@a"] == SKIPPED
    assert outcome.status["unlock@a"] == OK
    assert outcome.interrupted
