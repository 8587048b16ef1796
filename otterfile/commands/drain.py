"""The drain of a release taken out of the proxy: wait until no connection to its port on
127.0.0.1 is open (the proxy's and the release's sockets, as the host sees them), at most
`drain_seconds`, instead of always waiting the whole bound. `parse` reads the line the
script prints (the run reports the time drained)."""
from __future__ import annotations

from dataclasses import dataclass

from otterfile.command import Command, script
from otterfile.scripts import load

SCRIPT = load("drain.sh")
MARK = "otter-drain "  # the line the script prints: `otter-drain port=P seconds=S left=N`


@dataclass(frozen=True)
class Drained:
    """What one drain saw: the port, the seconds it waited, the connections still open when
    it stopped waiting (0: drained; None: not counted, the host has no /proc/net/tcp)."""
    port: int
    seconds: float
    left: int | None


def drain(port: int | str | None, seconds: float) -> Command | None:
    """Wait for `port`'s connections to end, at most `seconds`; None when there is nothing
    to wait for (no drain asked, or no port known: then the caller stops at once)."""
    if seconds <= 0 or not isinstance(port, int):
        return None
    return script(SCRIPT, args=[str(port), f"{seconds:g}"],
                  description=f"drain 127.0.0.1:{port} (at most {seconds:g}s)")


def parse(stdout: str) -> list[Drained]:
    """Every drain line in `stdout` (a sequence's output), in order; other lines skipped."""
    found = []
    for line in stdout.splitlines():
        if not line.startswith(MARK):
            continue
        fields = dict(f.partition("=")[::2] for f in line[len(MARK):].split())
        try:
            left = fields.get("left", "")
            found.append(Drained(int(fields["port"]), float(fields["seconds"]),
                                 int(left) if left.isdigit() else None))
        except (KeyError, ValueError):
            continue
    return found


def said(drained: Drained) -> str:
    """The run's line for one drain: `otter-drain: 127.0.0.1:P idle after 0.10s`, or what
    was still open when the bound was reached."""
    where = f"otter-drain: 127.0.0.1:{drained.port}"
    if drained.left == 0:
        return f"{where} idle after {drained.seconds:.2f}s"
    if drained.left is None:
        return f"{where} waited {drained.seconds:g}s (connections not countable here)"
    return (f"{where} {drained.left} connection(s) still open after {drained.seconds:.2f}s "
            "(drain_seconds): stopping it")
