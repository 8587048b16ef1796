"""Who holds a deploy lock: this controller's identity and run ids (`user@host`, boot tag),
the holder as a lock script prints it (`key=value` lines, LockInfo), whether that holder is
a process of this machine that is gone, and the error a held lock raises (LockHeld)."""
from __future__ import annotations

import getpass
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from otterfile.errors import OtterError


RETIRE_PREFIX = "retire-"  # the run id of a background retire: retire-<the run's id>


def controller_identity() -> str:
    """`user@host` of the machine otter runs on: who holds a lock, who deployed."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def boot_tag() -> str:
    """Eight hex of this machine's boot id: run ids start with it, so a later run on the
    same machine and boot can tell that a lock's holder process is gone."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as source:
            return source.read().strip().replace("-", "")[:8]
    except OSError:
        return "00000000"


def new_run_id() -> str:
    return f"{boot_tag()}-{uuid.uuid4().hex[:12]}"


def holder_is_dead(info: LockInfo) -> bool:
    """True only when the holder ran on this machine in this boot and its pid is gone. A
    background retire is a process of the target, never of this machine: its own heartbeat
    says whether it lives (a stale one is taken over as any other)."""
    if info.retiring or not info.run.startswith(boot_tag() + "-") or not info.pid.isdigit():
        return False
    pid = int(info.pid)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def parse_fields(stdout: str) -> dict[str, str]:
    """The `key=value` lines a lock script printed."""
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


@dataclass(frozen=True)
class LockInfo:
    """Who holds (or held) a lock; times from the target's clock."""

    holder: str
    since: int | None = None
    pid: str = ""
    run: str = ""
    age: int | None = None  # seconds since the last heartbeat
    stale: bool = False

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> LockInfo:
        def number(key: str) -> int | None:
            return int(fields[key]) if fields.get(key, "").lstrip("-").isdigit() else None
        return cls(fields.get("holder") or "unknown", number("since"), fields.get("pid", ""),
                   fields.get("run", ""), number("age"), fields.get("stale") == "1")

    @property
    def retiring(self) -> bool:
        """Held by a run's background retire on the target (run/retire_later.py)."""
        return self.run.startswith(RETIRE_PREFIX)

    @property
    def since_text(self) -> str:
        if self.since is None:
            return "an unknown time"
        return datetime.fromtimestamp(self.since, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class LockHeld(OtterError):
    """Another run holds the deploy lock."""

    def __init__(self, deployment: str, host: str, info: LockInfo, waited: float = 0):
        self.deployment, self.host, self.info = deployment, host, info
        waited_text = f" (waited {waited:.0f}s)" if waited else ""
        stale = (f"; its heartbeat stopped {info.age}s ago" if info.stale else "")
        super().__init__(
            f"{host}: deployment {deployment} is locked by {info.holder} since "
            f"{info.since_text} (pid {info.pid or '?'}, run {info.run or '?'}){stale}"
            f"{waited_text}. Wait with --lock-wait SECONDS, or if that run is gone: "
            f"otter unlock {deployment}")
