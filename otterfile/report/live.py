"""The live view of a deploy on a terminal: one line per target (and the controller) redrawn
in place by rich, while build and step output scrolls above it. Loaded only when a deploy
runs on a terminal (report.console_reporter), so `otter --help` never imports rich."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import IO, Callable

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from otterfile.plan.graph import Task
from otterfile.run.runner import FAILED, OK, SKIPPED, Event
from otterfile.report.text import amount, human_size, printable

REFRESH = 8  # redraws per second: smooth enough, cheap on a shared CI runner
LAST = ("unlock",)  # a lane's last stage: when it ends well, the target is done


@dataclass
class Row:
    """What one target's line shows."""

    where: str
    started: float
    stage: str = ""
    running: bool = False
    done: int | None = None  # bytes shipped so far, while shipping
    total: int | None = None
    moving_since: float = 0.0
    failed: str = ""  # "stage: reason" once a stage failed
    finished: float | None = None
    said: str = ""  # the last thing a stage said (sent N bytes, the new instance)
    skipped: bool = False  # never started: a failure came before its batch


class LiveReporter:
    """Rows updated in place; call `finish(text)` to end the region and print the summary."""

    def __init__(self, stream: IO[str], *, verbose: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 console: Console | None = None):
        self.console = console or Console(file=stream, force_terminal=True, highlight=False,
                                          soft_wrap=False)
        self.verbose, self.clock = verbose, clock
        self.rows: dict[str, Row] = {}
        self._lock = threading.RLock()
        self._live: Live | None = None

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._begin()
            above = self.apply(event)
        if above is not None:  # output scrolls above the live lines
            self.console.print(Text(printable(above)), markup=False, highlight=False)

    def apply(self, event: Event) -> str | None:
        """Update the rows with `event`; the line to print above them, if any."""
        task, now = event.task, self.clock()
        if task is None:
            return f"  {event.message}" if event.message else None
        row = self.rows.get(task.where)
        if row is None:
            row = self.rows[task.where] = Row(task.where, now)
            row.skipped = event.kind == "end" and event.status == SKIPPED
        if event.kind == "start":
            row.stage, row.running = task.label, True
            row.skipped = False
            row.said = ""
            row.done = row.total = None
            row.finished = None
        elif event.kind == "progress":
            if row.done is None:
                row.moving_since = now
            row.done, row.total = event.data.get("done", 0), event.data.get("total")
        elif event.kind == "end":
            return self._end(row, task, event, now)
        elif event.kind == "output":
            return f"  {task.where} | {event.message}"
        elif event.kind == "info":
            row.said = event.message.split("\n", 1)[0]
            return f"  {task.where} {task.label} {event.message}" if self.verbose else None
        return None

    def _end(self, row: Row, task: Task, event: Event, now: float) -> str | None:
        if event.status == SKIPPED:
            return None
        row.running, row.done = False, None
        if event.status == FAILED:
            if not row.failed:
                first = event.message.splitlines()[0] if event.message else ""
                row.failed = f"{task.label}: {first}"
            row.finished = now
            return f"  {task.where} {task.label} FAILED: {event.message}"
        if event.status == OK and task.label in LAST or task.where == "controller":
            row.finished = now
        return None

    def render(self) -> Table:
        """The live lines as a rich table (one row per target)."""
        now = self.clock()
        with self._lock:
            rows = [self._cells(row, now) for row in self.rows.values()]
        # the host, the stage and the time keep their width on a narrow terminal (three
        # hosts cut to "127.0.0…" cannot be told apart); only the detail is cut
        widths = [max((c.cell_len for c in column), default=0) for column in zip(*rows)]
        room = max(self.console.width - sum(widths[:3]) - 2 * 3, 1)
        grid = Table.grid(padding=(0, 2))
        for index in range(4):
            grid.add_column(no_wrap=True, justify="right" if index == 2 else "left")
        for *cells, detail in rows:
            detail.truncate(room, overflow="ellipsis")
            grid.add_row(*cells, detail)
        return grid

    def _cells(self, row: Row, now: float) -> list[Text]:
        elapsed = Text(f"{(row.finished or now) - row.started:.1f}s")
        where = Text(printable(row.where, keep=""), style="bold")
        if row.skipped:
            return [where, Text("not started", style="yellow"), Text(""), Text("")]
        if row.failed:
            return [where, Text("FAILED", style="bold red"), elapsed,
                    Text(printable(row.failed, keep=""))]
        if row.running:
            detail = ""
            if row.done is not None:
                seconds = max(now - row.moving_since, 1e-3)
                detail = f"{amount(row.done, row.total)}  {human_size(int(row.done / seconds))}/s"
            return [where, Text(row.stage, style="cyan"), elapsed, Text(detail)]
        if row.finished is not None:
            return [where, Text("ok", style="green"), elapsed,
                    Text(printable(row.said, keep=""))]
        return [where, Text(f"{row.stage} ok" if row.stage else "waiting"), elapsed,
                Text(printable(row.said, keep=""))]

    def finish(self, text: str) -> None:
        """End the live region (its last state stays on screen), then print `text`."""
        self.close()
        self.console.file.write(text + "\n")  # as it is: a table wider than the screen
        self.console.file.flush()               # wraps in the terminal, not in rich

    def close(self) -> None:
        """Stop redrawing; the next event starts a new region (a rollback after a run)."""
        with self._lock:
            live, self._live = self._live, None
            for row in self.rows.values():
                if row.finished is None:
                    row.finished, row.running = self.clock(), False
        if live is not None:
            live.refresh()
            live.stop()
        with self._lock:
            self.rows = {}

    def _begin(self) -> None:
        if self._live is None:
            self._live = Live(get_renderable=self.render, console=self.console,
                              refresh_per_second=REFRESH, transient=False,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start()
