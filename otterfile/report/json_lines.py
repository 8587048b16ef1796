"""JSON lines for CI and tools (docs/json.md): JsonReporter turns each runner event into one
object, progress thinned to one per task every PROGRESS_JSON_EVERY seconds; json_line puts
the schema version first and leaves None values out, for every object otter prints."""
from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO, Any, Callable

from otterfile.run.runner import Event

PROGRESS_JSON_EVERY = 0.25  # seconds between one task's progress objects in --json
SCHEMA = 1  # the "v" of every JSON object otter prints (docs/json.md)


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


def json_line(record: dict[str, Any]) -> str:
    """`record` as one line of JSON, `"v"` first, None values left out."""
    return json.dumps({"v": SCHEMA, **{k: v for k, v in record.items() if v is not None}})


def _jsonable(value: object) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, dict))
