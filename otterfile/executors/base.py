"""The one small interface every executor implements, and its Result value."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Protocol

from ..command import Command
from ..hosts import Host

# Called with ("stdout" | "stderr", line) as output arrives.
OnOutput = Callable[[str, str], None]
# Called with the count of bytes sent so far.
OnProgress = Callable[[int], None]


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

    host: Host

    def run(self, command: Command, *, stdin: BinaryIO | None = None,
            on_output: OnOutput | None = None, on_progress: OnProgress | None = None,
            timeout: float | None = None) -> Result:
        """Run `command`; `stdin` (a binary stream) overrides command.stdin and is
        streamed in chunks, never held whole in memory."""
        ...

    def upload(self, source: str | BinaryIO, dest: str, *, mode: int = 0o644,
               on_progress: OnProgress | None = None) -> Result:
        """Copy a local file or stream to `dest` on the host, streamed in chunks."""
        ...

    def forward(self, remote_port: int) -> contextlib.AbstractContextManager[int]:
        """A local port that reaches 127.0.0.1:`remote_port` on the host."""
        ...

    def close(self) -> None:
        """Release connections (the SSH master)."""
        ...


class CommandFailed(Exception):
    """Raised by `check` when a command exits outside its ok codes."""

    def __init__(self, result: Result):
        self.result = result
        what = result.command.description or result.command.display()
        tail = result.tail(5)
        super().__init__(f"{what}: exited {result.exited}" + (f"\n{tail}" if tail else ""))


def check(result: Result) -> Result:
    if not result.ok:
        raise CommandFailed(result)
    return result


@contextlib.contextmanager
def no_forward(port: int) -> Iterator[int]:
    yield port
