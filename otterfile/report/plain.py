"""Plain lines for CI logs and pipes (ConsoleReporter): one line per finished stage with what
the stage said, build and step output, and at most one progress line every PROGRESS_EVERY
seconds for the transfers in flight."""
from __future__ import annotations

import sys
import threading
import time
from typing import IO, Callable

from otterfile.report.tables import MARKS
from otterfile.report.text import amount, bounded, printable
from otterfile.run.runner import FAILED, SKIPPED, Event

PROGRESS_EVERY = 3.0  # seconds between progress lines in plain output (CI logs stay short)


class ConsoleReporter:
    """Plain lines for CI logs and pipes: one per finished stage (with what the stage said),
    build and step output, and at most one progress line every PROGRESS_EVERY seconds."""

    def __init__(self, stream: IO[str] | None = None, *, verbose: bool = False,
                 every: float = PROGRESS_EVERY, clock: Callable[[], float] = time.monotonic):
        self.stream = stream or sys.stdout
        self.verbose, self.every, self.clock = verbose, every, clock
        self._lock = threading.Lock()
        self._said: dict[str, str] = {}  # task id -> its last info message
        self._moving: dict[str, tuple[str, int, int | None]] = {}  # transfers in flight
        self._last_progress = clock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            line = self.format(event)
            if line is not None:  # messages and output lines carry target text
                print(printable(line), file=self.stream, flush=True)

    def finish(self, text: str) -> None:
        """Print `text` (the summary) after the run's lines."""
        with self._lock:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to end: plain lines are already out."""

    def format(self, event: Event) -> str | None:
        task = event.task
        where = f"{task.where:<24} {task.label:<10}" if task else ""
        if event.kind == "start":
            return f"  {where} ..." if self.verbose else None
        if event.kind == "end":
            self._moving.pop(task.id if task else "", None)
            said = self._said.pop(task.id, "") if task else ""
            if event.status == SKIPPED and not self.verbose:
                return None
            mark = MARKS.get(event.status, event.status)
            detail = f"  {event.message}" if event.status == FAILED and event.message \
                else (f"  {said}" if said else "")
            return f"  {where} {mark:<7} {event.seconds:6.1f}s{_indent(detail)}"
        if event.kind == "output":
            return f"  {task.where if task else ''} | {event.message}"
        if event.kind == "progress":
            return self._progress(event)
        if event.kind == "batch":  # a header line: which targets start now
            return event.message
        if event.kind == "info" and task is not None and not self.verbose:
            before = self._said.get(task.id)  # shown on the stage's end line
            self._said[task.id] = f"{before}; {event.message}" if before else event.message
            return None
        return f"  {where} {event.message}".rstrip()

    def _progress(self, event: Event) -> str | None:
        if event.task is None:
            return None
        done, total = bounded(event.data.get("done", 0), event.data.get("total"))
        self._moving[event.task.id] = (f"{event.task.where} {event.task.label}", done, total)
        now = self.clock()
        if now - self._last_progress < self.every:
            return None
        self._last_progress = now
        return "  " + ", ".join(f"{what} {amount(done, total)}"
                                for what, done, total in self._moving.values())


def _indent(text: str) -> str:
    return text.replace("\n", "\n      ")
