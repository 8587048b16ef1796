"""The deploy log on a target: one JSON line per run (who, when, what, result, timings),
written by `log_record` and read back by `parse_log`, which skips what does not parse."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any


def log_record(*, who: str, deployment: str, digest: str, result: str,
               stages: dict[str, float], release: str | None = None,
               commit: str | None = None, when: datetime | None = None) -> str:
    """One deploy-log line (JSON, no newline inside): who, when, what, result, timings."""
    when = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
    record = {"when": when.isoformat(timespec="seconds"), "who": who,
              "deployment": deployment, "release": release, "digest": digest,
              "commit": commit, "result": result,
              "seconds": {k: round(v, 3) for k, v in stages.items()}}
    return json.dumps(record, sort_keys=True)


def parse_log(text: str) -> list[dict[str, Any]]:
    """Deploy-log records from JSON lines; a torn or foreign line, or a record whose known
    fields have the wrong types, is skipped."""
    records = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict) and _log_record_ok(value):
            records.append(value)
    return records


_LOG_TEXT = ("when", "who", "deployment", "release", "digest", "commit", "result")


def _log_record_ok(record: dict[str, Any]) -> bool:
    seconds, texts = record.get("seconds", {}), [record.get(k) for k in _LOG_TEXT]
    return (all(text is None or isinstance(text, str) for text in texts)
            and isinstance(seconds, dict) and all(map(_finite, seconds.values())))


def _finite(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too big for a float
        return False
