"""Run a task graph by its dependencies: targets concurrently, failures contained per target."""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from otterfile.plan.graph import Graph, Task

PENDING, RUNNING, OK, FAILED, SKIPPED = "pending", "running", "ok", "failed", "skipped"


@dataclass(frozen=True)
class Event:
    """What the runner tells a reporter: a task started, finished, or said something."""

    kind: str  # "start" | "end" | "output" | "progress" | "info"
    task: Task | None
    status: str = ""
    message: str = ""
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


Reporter = Callable[[Event], None]
Perform = Callable[[Task], None]


@dataclass
class Outcome:
    """Every task's status and error, kept per host so no failure hides another."""

    status: dict[str, str]
    errors: dict[str, BaseException]
    seconds: dict[str, float]
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(s == OK for s in self.status.values())


def run_graph(graph: Graph, perform: Perform, report: Reporter, *, parallel: int | None = None,
              cancel: threading.Event | None = None,
              interrupt: Callable[[], None] | None = None) -> Outcome:
    """Run every task once its dependencies are done. A failed task skips what depends on
    it, except `always` tasks (unlock) whose `needs` succeeded. At most `parallel` hosts are
    worked on at once (hosts admitted in graph order: a window, used by rollbacks; a deploy's
    batches are edges of its graph, see plan.batches)."""
    cancel = cancel or threading.Event()
    run = _Run(graph, perform, report, parallel, cancel)
    interrupted = False
    pool = _Pool(run._timed, max(2, run.limit + 1))
    try:
        while run.unfinished():
            try:
                run.step(pool)
            except KeyboardInterrupt:
                interrupted = True
                cancel.set()
                if interrupt:  # what runs on otter's behalf stops now, not at its end
                    interrupt()
    finally:
        pool.close()
    return Outcome(run.status, run.errors, run.seconds, interrupted or cancel.is_set())


class _Pool:
    """Up to `most` threads that perform tasks, one more started whenever every thread is
    busy (the rest wait their turn), each task's end (the task, its error or None) put on
    `ended`. What concurrent.futures'
    pool does here, without its import (logging with it): a rollback's start-up counts."""

    def __init__(self, perform: Perform, most: int) -> None:
        self.perform, self.most = perform, most
        self.todo: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self.ended: queue.SimpleQueue[tuple[Task, BaseException | None]] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.busy = 0  # tasks given and not ended (the main thread alone counts)

    def submit(self, task: Task) -> None:
        if self.busy >= len(self.threads) < self.most:
            thread = threading.Thread(target=self._work, name=f"otter-{len(self.threads)}")
            thread.start()
            self.threads.append(thread)
        self.busy += 1
        self.todo.put(task)

    def next_ended(self, timeout: float) -> list[tuple[Task, BaseException | None]]:
        """The tasks that ended, waiting up to `timeout` for the first."""
        try:
            ended = [self.ended.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                ended.append(self.ended.get_nowait())
            except queue.Empty:
                break
        self.busy -= len(ended)
        return ended

    def _work(self) -> None:
        while (task := self.todo.get()) is not None:
            try:
                self.perform(task)
                self.ended.put((task, None))
            except BaseException as error:  # noqa: B036 (contained per target, as a future's)
                self.ended.put((task, error))

    def close(self) -> None:
        """Wait for what runs (a Ctrl-C already set the cancel), then end the threads."""
        for _ in self.threads:
            self.todo.put(None)
        for thread in self.threads:
            thread.join()


class _Run:
    """One `run_graph`: every task's status, error and time, the hosts being worked on and
    the tasks running in the pool."""

    def __init__(self, graph: Graph, perform: Perform, report: Reporter, parallel: int | None,
                 cancel: threading.Event) -> None:
        self.order: Sequence[Task] = graph.order()
        self.perform, self.report, self.cancel = perform, report, cancel
        self.status = {t.id: PENDING for t in self.order}
        self.errors: dict[str, BaseException] = {}
        self.seconds: dict[str, float] = {}
        self.active: set[str] = set()
        self.host_tasks = {h: {t.id for t in self.order if t.host == h} for h in graph.hosts()}
        self.limit = parallel or max(1, len(self.host_tasks))
        self.running: set[str] = set()  # the ids of the tasks in the pool

    def unfinished(self) -> bool:
        return any(s in (PENDING, RUNNING) for s in self.status.values())

    def step(self, pool: _Pool) -> None:
        """Start what is ready, then wait a moment for a running task to end."""
        moved = self._start_ready(pool)
        if not self.running:
            if not moved:  # nothing can ever start: a scheduling bug, not a hang
                for task in self.order:
                    if self.status[task.id] == PENDING:
                        self._finish(task, SKIPPED)
            return
        for task, error in pool.next_ended(0.2):
            self.running.discard(task.id)
            self._finish(task, FAILED if error else OK, error)

    def _timed(self, task: Task) -> None:
        started = time.monotonic()
        try:
            self.perform(task)
        finally:
            self.seconds[task.id] = time.monotonic() - started

    def _finish(self, task: Task, state: str, error: BaseException | None = None) -> None:
        self.status[task.id] = state
        if error is not None:
            self.errors[task.id] = error
        self.report(Event("end", task, state, _message(error), self.seconds.get(task.id, 0.0)))
        if task.host and all(self.status[i] in (OK, FAILED, SKIPPED)
                             for i in self.host_tasks[task.host]):
            self.active.discard(task.host)

    def _start_ready(self, pool: _Pool) -> int:
        """Start every pending task whose dependencies are done (skip it when one failed),
        within the limit of hosts; how many tasks moved."""
        moved = 0
        for task in self.order:
            if self.status[task.id] != PENDING or \
                    any(self.status[d] in (PENDING, RUNNING) for d in task.deps):
                continue
            if self._blocked(task):
                self._finish(task, SKIPPED)
                moved += 1
                continue
            if task.host and task.host not in self.active:
                if len(self.active) >= self.limit:
                    continue
                self.active.add(task.host)
            # reported before it counts as running: a Ctrl-C that lands in `report` leaves
            # it pending (then skipped), never running without a thread
            self.report(Event("start", task, RUNNING))
            self.status[task.id] = RUNNING
            self.running.add(task.id)
            pool.submit(task)
            moved += 1
        return moved

    def _blocked(self, task: Task) -> bool:
        """Whether a task whose dependencies are done is skipped: a `needs` failed, the run
        was cancelled, or (not an `always` task) a dependency failed."""
        if any(self.status[d] != OK for d in task.required):
            return True
        if task.always:
            return False
        return self.cancel.is_set() or any(self.status[d] != OK for d in task.deps)


def _message(error: BaseException | None) -> str:
    if error is None:
        return ""
    return str(error) or type(error).__name__
