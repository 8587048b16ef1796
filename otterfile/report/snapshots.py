"""Snapshots of a deployment's data for people and for JSON: the rows `otter snapshots` and
`otter status` show (the release each was taken before, whose data it holds, its size and
age, how the data was held still), and one snapshot as data."""
from __future__ import annotations

from typing import TYPE_CHECKING

from otterfile.report.text import human_size

if TYPE_CHECKING:
    from otterfile.commands.snapshots import Snapshot
    from otterfile.run.snapshots import Found

HEADERS = ["host", "taken before", "data of", "size", "age", "held still by", "holds"]


def age(seconds: int) -> str:
    """`45s`, `12m`, `5h`, `3d`: how long ago, as people say it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def held(snapshot: Snapshot) -> str:
    return {"paused": f"pause {snapshot.seconds:.2f}s", "before": "before command",
            "idle": "nothing ran"}.get(snapshot.how, snapshot.how)


def rows(host: str, found: Found) -> list[list[str]]:
    """One target's snapshots, oldest first; the one `rollback --with-data` restores is
    marked."""
    from otterfile.commands.snapshots import labels
    return [[host, s.before + (" (rollback --with-data)" if s is found.restores else ""),
             s.live or "-", human_size(s.bytes), age(found.now - s.time), held(s),
             ", ".join(labels(s))] for s in found.snapshots]


def record(found: Found, snapshot: Snapshot) -> dict[str, object]:
    """One snapshot as data (`otter snapshots --json`, `otter status --json`)."""
    return {"before": snapshot.before, "data_of": snapshot.live or None,
            "bytes": snapshot.bytes, "age_seconds": max(0, found.now - snapshot.time),
            "how": snapshot.how, "seconds": snapshot.seconds,
            "sources": list(snapshot.sources), "restored_by_rollback": snapshot is found.restores}
