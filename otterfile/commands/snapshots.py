"""Builders for a deployment's snapshots on a target (take, restore, list) and the parsers
of what they print; they never run anything. A snapshot is the folder
/var/lib/otter/<deployment>/snapshots/<release>/ (the release it was taken before): one
`LABEL.tar.gz` per data source and a `meta` file of `key=value` lines."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from otterfile import scripts
from otterfile.command import Command, script
from otterfile.run.state import DEFAULT_BASE, check_name, state_dir

TAKE_SCRIPT = scripts.load("snapshot/take.sh")
RESTORE_SCRIPT = scripts.load("snapshot/restore.sh")
LIST_SCRIPT = scripts.load("snapshot/list.sh")
EXIT_ROOM, EXIT_BEFORE, EXIT_PAUSE = 5, 6, 7  # take.sh
EXIT_MISSING, EXIT_OTHER_DATA, EXIT_UNDECLARED = 3, 8, 9  # restore.sh
MARK = "--- otter:snapshot"


@dataclass(frozen=True)
class Snapshot:
    """One snapshot on a target, as its meta file says."""

    before: str  # the release it was taken before (its name)
    live: str = ""  # the release whose data it holds ("": none was live)
    time: int = 0  # when it was taken (seconds since the epoch, the target's clock)
    bytes: int = 0  # its size on disk (compressed)
    how: str = ""  # "before" (the command ran first), "paused", "idle" (nothing ran)
    seconds: float = 0.0  # how long the copy took (the live release paused that long)
    sources: tuple[str, ...] = ()  # the labels it holds: volume-NAME, data


def snapshots_dir(deployment: str, base: str = DEFAULT_BASE) -> str:
    """Where a deployment's snapshots live on a target."""
    return f"{state_dir(deployment, base)}/snapshots"


def take(deployment: str, release: str, *, live: str | None, keep: int, data: Command,
         pause: Command | None, resume: Command | None, before: Command | None) -> Command:
    """One round trip: the data `data` lists copied into the snapshot named `release`, held
    still by `before` (run first) or `pause`/`resume` around the copy; the oldest past
    `keep` removed. See scripts/snapshot/take.sh for its output and exits."""
    args = [snapshots_dir(deployment), check_name(release, "release"), live or "", str(keep),
            data.shell_line(), pause.shell_line() if pause else "",
            resume.shell_line() if resume else "", before.shell_line() if before else ""]
    return script(TAKE_SCRIPT, args=args, ok_codes=(0, EXIT_ROOM, EXIT_BEFORE, EXIT_PAUSE),
                  description=f"snapshot the data of {deployment} before {release}")


def restore(deployment: str, release: str, *, data_of: str, data: Command,
            stop: Command | None) -> Command:
    """One round trip: the snapshot taken before `release` checked (it holds `data_of`'s
    data), `stop` run, then each source emptied and unpacked. See restore.sh."""
    args = [snapshots_dir(deployment), check_name(release, "release"), data_of,
            data.shell_line(), stop.shell_line() if stop else ""]
    return script(RESTORE_SCRIPT, args=args,
                  ok_codes=(0, EXIT_MISSING, EXIT_OTHER_DATA, EXIT_UNDECLARED),
                  description=f"restore the data of {deployment} from before {release}")


def listing(deployment: str) -> Command:
    """The deployment's snapshots, read-only (see `parse_listing`)."""
    return script(LIST_SCRIPT, args=[snapshots_dir(deployment)],
                  description=f"list the snapshots of {deployment}")


def values(stdout: str) -> dict[str, str]:
    """`key=value` lines as a dict (the last of a key wins; other lines are left out)."""
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def parse_meta(text: str) -> Snapshot | None:
    """A Snapshot from a meta file's lines; None when it names no release."""
    found = values(text)
    if not found.get("before"):
        return None
    return Snapshot(found["before"], found.get("live", ""), _int(found.get("time")),
                    _int(found.get("bytes")), found.get("how", ""),
                    _float(found.get("seconds")),
                    tuple(s for s in found.get("sources", "").split(",") if s))


def parse_listing(stdout: str) -> tuple[int, list[Snapshot]]:
    """(the target's time, its snapshots oldest first) from what `listing` printed."""
    head, *parts = stdout.split(MARK + "\n")
    found = [parse_meta(part) for part in parts]
    return _int(values(head).get("now")), [s for s in found if s is not None]


def pruned(stdout: str) -> list[str]:
    """The snapshots `take` removed past keep."""
    return [line.split("=", 1)[1] for line in stdout.splitlines() if line.startswith("pruned=")]


def restored(stdout: str) -> list[str]:
    """The labels `restore` unpacked."""
    return [line.split("=", 1)[1] for line in stdout.splitlines()
            if line.startswith("restored=")]


def _int(text: str | None) -> int:
    return int(text) if text and text.strip().isdigit() else 0


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def labels(snapshot: Snapshot) -> Sequence[str]:
    """What a snapshot holds, as people read it: `volume pgdata`, `data folder`."""
    return [f"volume {s.removeprefix('volume-')}" if s.startswith("volume-") else
            "data folder" if s == "data" else s for s in snapshot.sources]
