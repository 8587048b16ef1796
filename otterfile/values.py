"""The values the seams exchange: what a runtime reports about its instances and pulls,
where an artifact lands on a target (the state read says), the range a start picks a
release's port from and the exit code when none there is free. A leaf (it imports nothing
of otter), so the command builders and the kinds behind them both read it without
importing each other."""
from __future__ import annotations

from dataclasses import dataclass

PORT_RANGE = (20000, 29999)  # where a release's port on the target's 127.0.0.1 is picked
EXIT_NO_PORT = 4  # start: no free port on 127.0.0.1 in PORT_RANGE


@dataclass(frozen=True)
class Instance:
    """One instance of a deployment that a target runs (or has stopped)."""

    name: str
    running: bool
    release: str = ""
    digest: str = ""
    status: str = ""  # the runtime's own words ("Up 3 minutes")
    kind: str = ""  # the runtime kind that lists it (docker, podman, systemd)


@dataclass(frozen=True)
class InstanceStatus:
    """How an instance is doing, for the health gate's report."""

    state: str  # "running", "exited", "restarting", ..., "missing"
    exit_code: int | None = None
    restarts: int = 0
    oom_killed: bool = False
    logs: str = ""

    @property
    def alive(self) -> bool:
        return self.state in ("running", "created", "activating") and self.restarts == 0


@dataclass(frozen=True)
class Pulled:
    """What a container engine's `pull` printed."""

    present: bool  # pinned and there already: nothing pulled
    before: tuple[tuple[str, str], ...] = ()  # (name, digest) the engine had before
    digests: tuple[str, ...] = ()  # docker's `Digest:` lines
    repo_digests: tuple[tuple[str, str], ...] = ()  # (name, digest) after the pull
    own: str | None = None  # podman: the digest of the image's own manifest


@dataclass(frozen=True)
class Landing:
    """Where one part of an artifact lands: its role, the bytes free on its file system."""

    role: str  # "archive" (what is sent) or "unpacked" (what it becomes)
    free: int
    mount: str
    path: str
