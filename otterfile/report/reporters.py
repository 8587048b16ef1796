"""Reporters turn runner events into what a person (or CI) reads."""
from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any, Callable, Mapping, TypeAlias

from otterfile.plan.graph import CONTROLLER, Graph
from otterfile.run.runner import FAILED, OK, SKIPPED, Event, Outcome
from otterfile.report.text import amount, bounded, printable

if TYPE_CHECKING:
    from otterfile.hosts import Host
    from otterfile.report.live import LiveReporter
    from otterfile.load.project import Project

MARKS = {OK: "ok", FAILED: "FAILED", SKIPPED: "skipped"}
PROGRESS_JSON_EVERY = 0.25  # seconds between one task's progress objects in --json
PROGRESS_EVERY = 3.0  # seconds between progress lines in plain output (CI logs stay short)
SCHEMA = 1  # the "v" of every JSON object otter prints (docs/json.md)


def host_label(host: Host) -> str:
    """How output names a host: the name the run knows it by (unique in a run)."""
    return host.name


def host_address(host: Host) -> str:
    """Where a host is reached: `user@host:port` for SSH, `local` for this machine."""
    return host.address


def addresses(project: Project) -> dict[str, str]:
    """Each host's address by the name tasks carry, for JSON events."""
    return {host_label(h): host_address(h) for d in project.deployments.values()
            for h in d.hosts}


def is_terminal(stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """Whether `stream` is a terminal that takes cursor movement: not a pipe or file, not
    TERM=dumb, and NO_COLOR unset (then output stays plain text)."""
    import os
    env = os.environ if environ is None else environ
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and env.get("TERM", "") not in ("", "dumb") \
        and "NO_COLOR" not in env


def console_reporter(stream: IO[str] | None = None, *,
                     verbose: bool = False) -> LiveReporter | ConsoleReporter:
    """A live view on a terminal, plain lines elsewhere."""
    stream = stream or sys.stdout
    if is_terminal(stream):
        from otterfile.report.live import LiveReporter  # rich loads only when a deploy runs on a terminal
        return LiveReporter(stream, verbose=verbose)
    return ConsoleReporter(stream, verbose=verbose)


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


class JsonReporter:
    """One JSON object per line (docs/json.md): for CI logs and tools."""

    def __init__(self, stream: IO[str] | None = None, hosts: dict[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream or sys.stdout
        self.hosts = hosts or {}  # host name -> address
        self._lock = threading.Lock()
        self._clock = clock
        self._progressed: dict[str, float] = {}  # task id -> when its last progress went

    def __call__(self, event: Event) -> None:
        if event.kind == "progress" and event.task and not self._due(event):
            return
        record: dict[str, Any] = {"event": event.kind, "status": event.status or None,
                  "message": event.message or None, "seconds": round(event.seconds, 3)}
        if event.task:
            task = event.task
            record.update(task=task.id, host=task.where, stage=task.label,
                          deployment=task.deployment,
                          address=self.hosts.get(task.host, task.where) if task.host else "local")
        record.update({k: v for k, v in event.data.items() if _jsonable(v)})
        self.emit(record)

    def _due(self, event: Event) -> bool:
        """At most one progress object per task every PROGRESS_JSON_EVERY seconds, and
        always the last one (done == total): a 20 MB ship is a few lines, not a thousand."""
        if event.task is None:  # __call__ asks only about a task's progress
            return True
        now, done = self._clock(), event.data.get("done")
        last = self._progressed.get(event.task.id)
        if last is not None and now - last < PROGRESS_JSON_EVERY and \
                done != event.data.get("total"):
            return False
        self._progressed[event.task.id] = now
        return True

    def emit(self, record: dict[str, Any]) -> None:
        """Print one object with the schema version first; None values are left out."""
        line = json_line(record)
        with self._lock:
            print(line, file=self.stream, flush=True)

    def finish(self, text: str) -> None:
        """JSON output has no table: the summary is an event."""

    def close(self) -> None:
        """Nothing to end."""


# What a command reports a run to: a live view, plain lines or JSON lines
Reporters: TypeAlias = "LiveReporter | ConsoleReporter | JsonReporter"


def json_line(record: dict[str, Any]) -> str:
    """`record` as one line of JSON, `"v"` first, None values left out."""
    return json.dumps({"v": SCHEMA, **{k: v for k, v in record.items() if v is not None}})


def summary(graph: Graph, outcome: Outcome) -> str:
    """A table: one row per host, one column per stage, then the time and result; then
    the targets a failure kept from starting (a later batch), if any."""
    columns: list[str] = []
    for task in graph.order():
        if task.label not in columns:
            columns.append(task.label)
    rows, waiting = [], not_started(graph, outcome)
    for where in dict.fromkeys(t.where for t in graph.order()):
        tasks = [t for t in graph.order() if t.where == where]
        cells = {t.label: MARKS.get(outcome.status[t.id], outcome.status[t.id]) for t in tasks}
        total = sum(outcome.seconds.get(t.id, 0.0) for t in tasks)
        failed = any(outcome.status[t.id] == FAILED for t in tasks)
        result = "FAILED" if failed else ("ok" if all(outcome.status[t.id] == OK for t in tasks)
                                          else "incomplete")
        if where in waiting:  # a row of "skipped" cells says less than one word
            cells, result = {}, "not started"
        rows.append([where] + [cells.get(c, "") for c in columns] + [f"{total:.1f}s", result])
    text = table(["host"] + columns + ["time", "result"], rows)
    if waiting:
        why = "interrupted" if outcome.interrupted else "after a failure"
        text += f"\n\nnot started ({why}): {', '.join(printable(h, keep='') for h in waiting)}"
    return text


def not_started(graph: Graph, outcome: Outcome) -> list[str]:
    """The targets none of whose tasks ran (skipped after a failure or an interrupt)."""
    hosts = dict.fromkeys(t.host for t in graph.order() if t.host)
    return [h for h in hosts if all(outcome.status[t.id] == SKIPPED for t in graph.for_host(h))]


def summary_hosts(graph: Graph, outcome: Outcome,
                  hosts: dict[str, str]) -> list[dict[str, Any]]:
    """The summary as data: per host its address, result, seconds and stage statuses."""
    out = []
    waiting = not_started(graph, outcome)
    for where in dict.fromkeys(t.where for t in graph.order()):
        tasks = [t for t in graph.order() if t.where == where]
        states = [outcome.status[t.id] for t in tasks]
        out.append({"host": where, "address": hosts.get(where, where) if where != CONTROLLER
                    else "local",
                    "result": "failed" if FAILED in states else
                    ("ok" if all(s == OK for s in states) else "incomplete"),
                    "started": where not in waiting,
                    "seconds": round(sum(outcome.seconds.get(t.id, 0.0) for t in tasks), 3),
                    "stages": {t.label: outcome.status[t.id] for t in tasks}})
    return out


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain text table a person reads in a terminal or a CI log; each cell is one line,
    its control characters escaped (`printable`)."""
    headers, rows = _cells(headers), [_cells(r) for r in rows]
    widths = [max(len(r[i]) for r in [headers] + rows) for i in range(len(headers))]
    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _cells(row: list[Any]) -> list[str]:
    return [printable(str(c).replace("\n", " ").replace("\t", " "), keep="") for c in row]


def _indent(text: str) -> str:
    return text.replace("\n", "\n      ")


def _jsonable(value: object) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, dict))
