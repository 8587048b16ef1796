"""The one small interface every executor implements, and its Result value."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Protocol

from otterfile.command import Command
from otterfile.hosts import Host

# Called with ("stdout" | "stderr", line) as output arrives.
OnOutput = Callable[[str, str], None]
# Called with the count of bytes sent so far.
OnProgress = Callable[[int], None]
# GET a path on a host's port: the status code (see Executor.http).
HttpGet = Callable[[str], int]
# A release's port; a str is a plan's placeholder (run.state.PORT_PLACEHOLDER), which only
# a planned executor is asked to probe (executors.http.number turns it away elsewhere)
Port = int | str


class Readable(Protocol):
    """A byte stream read in chunks (a `docker save`, a kept file, a filter over either):
    what `Executor.run` sends as stdin. `close` ends it; a stream whose producer failed
    raises OtterError there, and one with nothing to end does nothing."""

    def read(self, size: int = ..., /) -> bytes:
        """Up to `size` bytes (all, when negative); b"" at the end."""
        ...

    def close(self) -> None:
        """End the stream (idempotent)."""
        ...


class Session(Protocol):
    """A command that runs until otter closes it (see Executor.open_session)."""

    def first_line(self, timeout: float) -> str:
        """The first line it printed; "" when it ended or said nothing in time."""
        ...

    def failure(self) -> str:
        """How it ended: exit status and last lines."""
        ...

    def close(self, wait: float = ...) -> int:
        """End it (idempotent); its exit status."""
        ...


class ProbeFailed(Exception):
    """An HTTP probe got no answer; the message says why in a person's words."""


@dataclass(frozen=True)
class Result:
    """What one command did: exit status and captured output."""

    command: Command
    exited: int
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    host: str = ""

    @property
    def ok(self) -> bool:
        return self.exited in self.command.ok_codes

    def tail(self, lines: int = 10, stream: str = "stderr") -> str:
        text = getattr(self, stream) or (self.stdout if stream == "stderr" else "")
        return "\n".join(text.rstrip("\n").splitlines()[-lines:])


class Executor(Protocol):
    """Runs commands on one host. Implementations: local, ssh, recording."""

    @property
    def host(self) -> Host:
        """The host it reaches (read-only: an SSH executor's is an SSHHost)."""
        ...

    def run(self, command: Command, *, stdin: Readable | None = None,
            on_output: OnOutput | None = None, on_progress: OnProgress | None = None,
            timeout: float | None = None) -> Result:
        """Run `command`; `stdin` (a binary stream) overrides command.stdin and is
        streamed in chunks, never held whole in memory."""
        ...

    def upload(self, source: str | BinaryIO, dest: str, *, mode: int = 0o644,
               on_progress: OnProgress | None = None) -> Result:
        """Copy a local file or stream to `dest` on the host, streamed in chunks."""
        ...

    def forward(self, remote_port: int,
                local_port: int = 0) -> contextlib.AbstractContextManager[int]:
        """A local port (`local_port`, or a free one when 0) that reaches
        127.0.0.1:`remote_port` on the host; ExecutionError when it cannot be had."""
        ...

    def http(self, remote_port: Port) -> contextlib.AbstractContextManager[HttpGet]:
        """`get(path)` -> status code of GET http://127.0.0.1:`remote_port`PATH on the host,
        for as long as the context lasts; raises ProbeFailed when nothing answers."""
        ...

    def open_stream(self, command: Command) -> Readable:
        """`command` started on the host, its stdout read as it comes (`docker save` on a
        build host); `close()` waits for it and raises OtterError when it failed."""
        ...

    def open_session(self, command: Command) -> Session:
        """`command` started on the host, running until the Session is closed (a file
        server); it sees its stdin end when otter closes it or goes away."""
        ...

    def interrupt(self) -> None:
        """Ctrl-C: stop the commands that run in a process group of their own now (local
        builds and steps; a terminal's Ctrl-C reaches the others itself)."""
        ...

    def close(self) -> None:
        """Release connections (the SSH master)."""
        ...
