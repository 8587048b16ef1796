"""A case: one way of doing a workload, timed as one process (wall time)."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable

from .stats import Measured

TIMEOUT = 600


@dataclass
class Case:
    measured: Measured
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    setup: Callable[[], None] | None = None  # untimed, before every run
    derive: list[tuple[Measured, Callable[[str], float]]] = field(default_factory=list)

    def once(self, keep: bool) -> None:
        """Run once; with `keep` the time (and derived figures) are recorded."""
        if self.setup:
            self.setup()
        started = time.perf_counter()
        done = subprocess.run(self.argv, capture_output=True, text=True, timeout=TIMEOUT,
                              env={**os.environ, **self.env}, cwd=self.cwd)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
            raise RuntimeError(f"exit {done.returncode}: {' / '.join(tail)[:300]}")
        if keep:
            self.measured.values.append(elapsed)
            for target, function in self.derive:
                target.values.append(function(done.stdout))


def parallel(lines: list[str]) -> list[str]:
    """One bash running `lines` at once; fails if any fails."""
    body = "".join(f"( {line} ) & p=\"$p $!\"\n" for line in lines)
    return ["bash", "-c", f"p=\n{body}for x in $p; do wait $x || exit 1; done"]


def sh(argv: list[str]) -> str:
    return shlex.join(argv)


def stage_seconds(stage: str) -> Callable[[str], float]:
    """From `otter --json` output: the longest `stage` over the hosts."""
    def longest(stdout: str) -> float:
        found = [e.get("seconds", 0.0) for e in map(json.loads, (
            line for line in stdout.splitlines() if line.startswith("{")))
            if e.get("event") == "end" and e.get("stage") == stage]
        if not found:
            raise RuntimeError(f"no end of stage {stage} in otter's output")
        return max(found)
    return longest


def round_trips(debug: str, hosts: list[str]) -> dict[str, int]:
    """Remote commands per host in `otter --debug --json` output (stdout and stderr in
    order): each `HOST $ COMMAND` line is one round trip; the deploy lock's heartbeat
    (its script names heartbeat.tmp) is no stage's trip and is not counted."""
    lines = debug.splitlines()
    counts = dict.fromkeys(hosts, 0)
    for index, line in enumerate(lines):
        line = _event(line)[1]
        host, mark, _ = line.partition(" $ ")
        if mark and host in counts and not _heartbeat(lines[index:index + 6]):
            counts[host] += 1
    return counts


HEARTBEAT = 'echo "status=lost"'  # scripts/lock/heartbeat.sh's, in its first lines


def _heartbeat(first: list[str]) -> bool:
    """Whether the command starting at first[0] is the lock's heartbeat (a line of its
    script's first few; the lock script's own functions also name heartbeat.tmp, so that
    cannot tell)."""
    for number, line in enumerate(first):
        if number and (" $ " in line or line.startswith('{"v": ')):
            return False
        if HEARTBEAT in line:
            return True
    return False


def events(output: str) -> list[dict]:
    """The events of `otter --json` output (a --debug line may follow one on its line)."""
    return [event for event, _ in map(_event, output.splitlines()) if event is not None]


def _event(line: str) -> tuple[dict | None, str]:
    """A line's event, if it starts with one, and the rest of the line."""
    if not line.startswith('{"v": '):
        return None, line
    try:
        event, end = json.JSONDecoder().raw_decode(line)
    except ValueError:
        return None, line
    return event, line[end:]
