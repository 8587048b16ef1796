"""An executor that runs nothing: it records what it is asked and answers from a script.

`otter run --dry-run` uses it to print what would run; unit tests use it to compare commands.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Mapping, Union

from otterfile.command import Command
from otterfile.hosts import Host, LocalHost
from otterfile.executors.base import HttpGet, OnOutput, OnProgress, Port, Readable, Result
from otterfile.executors.upload import upload_command

# A canned answer: a whole Result, its stdout, or its exit status.
Response = Union[Result, str, int]
Matcher = Union[str, Callable[[Command], bool]]


@dataclass(frozen=True)
class Upload:
    """One recorded upload; `data` is kept only for in-memory sources (BytesIO)."""

    source: str
    dest: str
    mode: int
    data: bytes | None = None


class RecordingExecutor:
    """Records every Command, upload and forward; returns canned Results.

    `responses` maps a substring of the displayed command, or a predicate on the
    Command, to a Response; the first match wins, else exit 0 with no output.
    """

    def __init__(self, host: Host | None = None,
                 responses: Mapping[Matcher, Response] | None = None, http_status: int = 200):
        self.host = host or LocalHost()
        self.responses = dict(responses or {})
        self.http_status = http_status
        self.commands: list[Command] = []
        self.uploads: list[Upload] = []
        self.forwards: list[Port] = []
        self.closed = self.interrupted = False

    def run(self, command: Command, *, stdin: Readable | None = None,
            on_output: OnOutput | None = None, on_progress: OnProgress | None = None,
            timeout: float | None = None) -> Result:
        """Record `command` and return its canned Result; `stdin` is not read."""
        self.commands.append(command)
        result = self._answer(command)
        if on_output:
            for name in ("stdout", "stderr"):
                for line in getattr(result, name).splitlines():
                    on_output(name, line)
        return result

    def _answer(self, command: Command) -> Result:
        shown = command.display()
        for matcher, response in self.responses.items():
            hit = matcher in shown if isinstance(matcher, str) else matcher(command)
            if hit:
                return _result(response, command, self.host.name)
        return Result(command, 0, host=self.host.name)

    def upload(self, source: str | BinaryIO, dest: str, *, mode: int = 0o644,
               on_progress: OnProgress | None = None) -> Result:
        """Record the upload without reading a file; an in-memory stream's bytes are kept."""
        data = source.getvalue() if hasattr(source, "getvalue") else None
        named = isinstance(source, (str, os.PathLike))
        name = source if named else getattr(source, "name", "<stream>")
        self.uploads.append(Upload(str(name), dest, mode, data))
        return self.run(upload_command(dest, mode))

    @contextlib.contextmanager
    def forward(self, remote_port: int, local_port: int = 0) -> Iterator[int]:
        """Record the forward and yield `local_port`, or `remote_port` itself when 0."""
        self.forwards.append(remote_port)
        yield local_port or remote_port

    @contextlib.contextmanager
    def http(self, remote_port: Port) -> Iterator[HttpGet]:
        """Record each GET as a command and answer `http_status`."""
        self.forwards.append(remote_port)

        def get(path: str) -> int:
            url = f"http://127.0.0.1:{remote_port}{path}"
            self.run(Command(("GET", url), description=f"GET {url}"))
            return self.http_status
        yield get

    def open_stream(self, command: Command) -> Readable:
        """Record `command`; its canned stdout is the stream."""
        return io.BytesIO(self.run(command).stdout.encode())

    def open_session(self, command: Command) -> "RecordedSession":
        """Record `command`; the session says its canned stdout's first line."""
        return RecordedSession(self.run(command))

    def interrupt(self) -> None:
        self.interrupted = True

    def close(self) -> None:
        self.closed = True

    def lines(self) -> list[str]:
        """The recorded commands as displayed (secrets masked), in order."""
        return [command.display() for command in self.commands]


class RecordedSession:
    """A Session that says a canned Result (see streams.Session)."""

    def __init__(self, result: Result):
        self.result, self.closed = result, False

    def first_line(self, timeout: float) -> str:
        return (self.result.stdout.splitlines() or [""])[0].strip()

    def failure(self) -> str:
        self.close()
        return self.result.tail(3) or f"exit {self.result.exited}"

    def close(self, wait: float = 0) -> int:
        self.closed = True
        return self.result.exited


def _result(response: Response, command: Command, host: str) -> Result:
    if isinstance(response, Result):
        return dataclasses.replace(response, command=command, host=host)
    if isinstance(response, bool) or not isinstance(response, (str, int)):
        raise TypeError(f"a response is a Result, stdout text or exit status, got {response!r}")
    if isinstance(response, int):
        return Result(command, response, host=host)
    return Result(command, 0, stdout=response, host=host)
