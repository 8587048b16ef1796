"""`Snapshots(keep=5, before=None)`: the deployment's data copied on each target before a new
release starts (run/snapshots.py takes them), and its check."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otterfile.load.validate import check_int, check_str, check_str_list, check_words, fail, got


@dataclass(frozen=True)
class Snapshots:
    """Before each new release starts, copy the deployment's data (a container runtime's
    named volumes, a systemd unit's data folder) into /var/lib/otter/NAME/snapshots/ on
    each target, keeping the newest `keep`. Consistent: `before` (a command run in the live
    release first, such as a database dump into the data), else the live release is paused
    for the copy. `otter rollback NAME --with-data` restores one."""

    keep: Any = 5
    before: Any = None  # a command line (split as a shell would) or an argv list


def check_snapshots(value: Any) -> Snapshots | None:
    """None, or a Snapshots with `keep` an int of at least 1 and `before` an argv tuple."""
    if value is None:
        return None
    if not isinstance(value, Snapshots):
        fail("", f"expected Snapshots(keep=..., before=...), {got(value)}")
    keep = check_int("keep", value.keep, 1, 1000)
    before = value.before
    if isinstance(before, str):
        check_str("before", before)
        if any(ord(c) < 32 for c in before):
            fail("before", "a control character (a newline?) cannot be in a command")
        before = check_words("before", before)
    elif before is not None:
        before = check_str_list("before", before)
    if before is not None and not before:
        fail("before", "expected a command to run, got an empty one")
    return Snapshots(keep, tuple(before) if before is not None else None)
