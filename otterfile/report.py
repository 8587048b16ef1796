"""Reporters turn runner events into what a person (or CI) reads."""
from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import IO

from .graph import Graph
from .runner import FAILED, OK, SKIPPED, Event, Outcome

MARKS = {OK: "ok", FAILED: "FAILED", SKIPPED: "skipped"}
# Terminal escape sequences: CSI (colors, cursor moves, 7- or 8-bit) and OSC (titles, links).
_SEQUENCE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_CONTROL = r"\x00-\x1f\x7f-\x9f"  # C0, DEL and C1


def printable(text: str, keep: str = "\n\t") -> str:
    """`text` (from a target, so untrusted) safe for a terminal: escape sequences dropped,
    other control characters but those in `keep` shown as `\\xNN`."""
    kept = "".join(re.escape(c) for c in keep)
    control = f"[{_CONTROL}]" if not kept else f"(?![{kept}])[{_CONTROL}]"
    return re.sub(control, lambda m: f"\\x{ord(m.group()):02x}",
                  _SEQUENCE.sub("", str(text)))


class ConsoleReporter:
    """Live lines per target and stage; byte progress at most every half second."""

    def __init__(self, stream: IO[str] | None = None, *, verbose: bool = False):
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self._lock = threading.Lock()
        self._last_progress: dict[str, float] = {}

    def __call__(self, event: Event) -> None:
        line = self.format(event)
        if line is not None:  # messages and output lines carry target text
            line = printable(line)
            with self._lock:
                print(line, file=self.stream, flush=True)

    def format(self, event: Event) -> str | None:
        task = event.task
        where = f"{task.where:<24} {task.label:<10}" if task else ""
        if event.kind == "start":
            return f"  {where} ..." if self.verbose else None
        if event.kind == "end":
            mark = MARKS.get(event.status, event.status)
            detail = f"  {event.message}" if event.status == FAILED and event.message else ""
            if event.status == SKIPPED and not self.verbose:
                return None
            return f"  {where} {mark:<7} {event.seconds:6.1f}s{_indent(detail)}"
        if event.kind == "output":
            return f"  {task.where if task else ''} | {event.message}"
        if event.kind == "progress":
            return self._progress(event, where)
        return f"  {where} {event.message}".rstrip()

    def _progress(self, event: Event, where: str) -> str | None:
        key = event.task.id if event.task else ""
        now = time.monotonic()
        done, total = event.data.get("done", 0), event.data.get("total")
        final = total is not None and done >= total
        if not final and now - self._last_progress.get(key, 0) < 0.5:
            return None
        self._last_progress[key] = now
        of = f" of {_size(total)}" if total else ""
        return f"  {where} {_size(done)}{of}"


class JsonReporter:
    """One JSON object per line: for CI logs and tools."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        record = {"event": event.kind, "status": event.status or None,
                  "message": event.message or None, "seconds": round(event.seconds, 3)}
        if event.task:
            record.update(task=event.task.id, host=event.task.where, stage=event.task.label,
                          deployment=event.task.deployment)
        record.update({k: v for k, v in event.data.items() if _jsonable(v)})
        with self._lock:
            print(json.dumps({k: v for k, v in record.items() if v is not None}),
                  file=self.stream, flush=True)


def summary(graph: Graph, outcome: Outcome) -> str:
    """A table: one row per host, one column per stage, then the time and result."""
    columns: list[str] = []
    for task in graph.order():
        if task.label not in columns:
            columns.append(task.label)
    rows = []
    for where in dict.fromkeys(t.where for t in graph.order()):
        tasks = [t for t in graph.order() if t.where == where]
        cells = {t.label: MARKS.get(outcome.status[t.id], outcome.status[t.id]) for t in tasks}
        total = sum(outcome.seconds.get(t.id, 0.0) for t in tasks)
        failed = any(outcome.status[t.id] == FAILED for t in tasks)
        result = "FAILED" if failed else ("ok" if all(outcome.status[t.id] == OK for t in tasks)
                                          else "incomplete")
        rows.append([where] + [cells.get(c, "") for c in columns] + [f"{total:.1f}s", result])
    return table(["host"] + columns + ["time", "result"], rows)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain text table a person reads in a terminal or a CI log; each cell is one line,
    its control characters escaped (`printable`)."""
    headers, rows = _cells(headers), [_cells(r) for r in rows]
    widths = [max(len(r[i]) for r in [headers] + rows) for i in range(len(headers))]
    def line(cells):
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _cells(row: list) -> list[str]:
    return [printable(str(c).replace("\n", " ").replace("\t", " "), keep="") for c in row]


def _indent(text: str) -> str:
    return text.replace("\n", "\n      ")


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


def _jsonable(value: object) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, dict))
