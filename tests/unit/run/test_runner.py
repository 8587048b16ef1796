import threading

from otterfile.plan.graph import Graph, Task
from otterfile.run.runner import FAILED, OK, SKIPPED, run_graph


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


def test_parallel_1_runs_one_host_at_a_time():
    ran, other_started = [], threading.Event()

    def perform(task):
        if task.host is None:
            return
        if ran and ran[-1] != task.host:
            other_started.set()
        ran.append(task.host)
        if task.stage == "lock":  # a window in which a second host, were it let in, starts
            other_started.wait(0.2)

    outcome = run_graph(graph("a", "b", "c"), perform, lambda e: None, parallel=1)
    assert outcome.ok
    hosts_in_turn = [h for i, h in enumerate(ran) if i == 0 or ran[i - 1] != h]
    assert sorted(hosts_in_turn) == ["a", "b", "c"]  # each host's lane whole, one after another


def test_without_a_bound_every_host_runs_at_once():
    meet = threading.Barrier(3, timeout=30)  # broken (the lock fails) unless all three meet

    def perform(task):
        if task.stage == "lock":
            meet.wait()

    outcome = run_graph(graph("a", "b", "c"), perform, lambda e: None)
    assert outcome.ok, outcome.errors


def test_cancel_skips_new_work_but_unlocks():
    cancel = threading.Event()

    def perform(task):
        if task.stage == "ship":
            cancel.set()

    outcome = run_graph(graph("a"), perform, lambda e: None, cancel=cancel)
    assert outcome.status["start@a"] == SKIPPED
    assert outcome.status["unlock@a"] == OK
    assert outcome.interrupted


def test_ctrl_c_stops_new_work_and_asks_what_runs_to_stop_at_once():
    """KeyboardInterrupt lands in the main thread (here: while it reports); the runner
    cancels and calls `interrupt` then, not after the running task ends by itself."""
    interrupted, raised = [], []

    def report(event):
        if event.kind == "start" and event.task.stage == "ship" and not raised:
            raised.append(True)
            raise KeyboardInterrupt

    outcomes = []  # in a thread, so that a runner which never ends fails the test
    runner = threading.Thread(target=lambda: outcomes.append(run_graph(
        graph("a"), lambda task: None, report, interrupt=lambda: interrupted.append(True))),
        daemon=True)
    runner.start()
    runner.join(30)
    assert outcomes, "the runner never ended (a task left running without a thread)"
    outcome = outcomes[0]
    assert interrupted == [True]
    assert outcome.interrupted
    assert outcome.status["start@a"] == SKIPPED
    assert outcome.status["unlock@a"] == OK


def test_threads_are_bounded_and_every_one_ends():
    """Ten acquire-like tasks of no host under parallel=1: at most two at once (the pool's
    bound, max(2, limit + 1)), all ten done, and no thread of the runner left behind."""
    tasks = {f"get{i}": Task(f"get{i}", "acquire") for i in range(10)}
    lock, now, most = threading.Lock(), [0], [0]
    before = set(threading.enumerate())

    def perform(task):
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        threading.Event().wait(0.02)
        with lock:
            now[0] -= 1

    outcome = run_graph(Graph(tasks), perform, lambda e: None, parallel=1)
    assert outcome.ok and set(outcome.status.values()) == {OK}
    assert most[0] == 2
    assert set(threading.enumerate()) <= before
