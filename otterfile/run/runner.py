"""Run a task graph by its dependencies: targets concurrently, failures contained per target."""
from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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
    order = graph.order()
    status = {t.id: PENDING for t in order}
    errors: dict[str, BaseException] = {}
    seconds: dict[str, float] = {}
    active: set[str] = set()
    host_tasks = {h: {t.id for t in order if t.host == h} for h in graph.hosts()}
    limit = parallel or max(1, len(host_tasks))
    running: dict[Future[None], Task] = {}

    def timed(task: Task) -> None:
        started = time.monotonic()
        try:
            perform(task)
        finally:
            seconds[task.id] = time.monotonic() - started

    def finish(task: Task, state: str, error: BaseException | None = None) -> None:
        status[task.id] = state
        if error is not None:
            errors[task.id] = error
        report(Event("end", task, state, _message(error), seconds.get(task.id, 0.0)))
        if task.host and all(status[i] in (OK, FAILED, SKIPPED) for i in host_tasks[task.host]):
            active.discard(task.host)

    with ThreadPoolExecutor(max_workers=max(2, limit + 1)) as pool:
        interrupted = False
        while any(s in (PENDING, RUNNING) for s in status.values()):
            try:
                moved = _start_ready(order, status, active, limit, cancel, pool, running, timed,
                                     finish, report)
                if not running:
                    if not moved:  # nothing can ever start: a scheduling bug, not a hang
                        for task in order:
                            if status[task.id] == PENDING:
                                finish(task, SKIPPED)
                    continue
                done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    task = running.pop(future)
                    error = future.exception()
                    finish(task, FAILED if error else OK, error)
            except KeyboardInterrupt:
                interrupted = True
                cancel.set()
                if interrupt:  # what runs on otter's behalf stops now, not at its end
                    interrupt()
    return Outcome(status, errors, seconds, interrupted or cancel.is_set())


def _start_ready(order: Sequence[Task], status: dict[str, str], active: set[str], limit: int,
                 cancel: threading.Event, pool: ThreadPoolExecutor,
                 running: dict[Future[None], Task], timed: Perform,
                 finish: Callable[[Task, str], None], report: Reporter) -> int:
    moved = 0
    for task in order:
        if status[task.id] != PENDING:
            continue
        if any(status[d] in (PENDING, RUNNING) for d in task.deps):
            continue
        blocked = any(status[d] != OK for d in task.required)
        if blocked or (cancel.is_set() and not task.always) or \
                (not task.always and any(status[d] != OK for d in task.deps)):
            finish(task, SKIPPED)
            moved += 1
            continue
        if task.host and task.host not in active:
            if len(active) >= limit:
                continue
            active.add(task.host)
        # reported before it counts as running: a Ctrl-C that lands in `report` leaves it
        # pending (then skipped), never running without a thread
        report(Event("start", task, RUNNING))
        status[task.id] = RUNNING
        running[pool.submit(timed, task)] = task
        moved += 1
    return moved


def _message(error: BaseException | None) -> str:
    if error is None:
        return ""
    return str(error) or type(error).__name__
