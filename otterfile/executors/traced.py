"""An executor that says each command before running it (`otter --debug`), secrets masked."""
from __future__ import annotations

import contextlib
from typing import BinaryIO, Callable

from otterfile.command import Command
from otterfile.executors.base import (Executor, HttpGet, OnOutput, OnProgress, Port, Readable,
                                      Result, Session)

# Called with (host name, the command as a person reads it).
Show = Callable[[str, str], None]


class TracedExecutor:
    """Wraps an Executor: `show(host, text)` before every command and upload."""

    def __init__(self, inner: Executor, show: Show):
        self.inner, self.host, self._show = inner, inner.host, show

    def run(self, command: Command, *, stdin: Readable | None = None,
            on_output: OnOutput | None = None, on_progress: OnProgress | None = None,
            timeout: float | None = None) -> Result:
        self._show(self.host.name, command.display())  # display(): every secret as ***
        return self.inner.run(command, stdin=stdin, on_output=on_output,
                              on_progress=on_progress, timeout=timeout)

    def upload(self, source: str | BinaryIO, dest: str, *, mode: int = 0o644,
               on_progress: OnProgress | None = None) -> Result:
        what = source if isinstance(source, str) else "a stream"
        self._show(self.host.name, f"upload {what} to {dest} (mode {mode:o})")
        return self.inner.upload(source, dest, mode=mode, on_progress=on_progress)

    def open_stream(self, command: Command) -> Readable:
        self._show(self.host.name, command.display() + "  (read as a stream)")
        return self.inner.open_stream(command)

    def open_session(self, command: Command) -> Session:
        self._show(self.host.name, command.display() + "  (until otter is done)")
        return self.inner.open_session(command)

    def forward(self, remote_port: int,
                local_port: int = 0) -> contextlib.AbstractContextManager[int]:
        return self.inner.forward(remote_port, local_port)

    def http(self, remote_port: Port) -> contextlib.AbstractContextManager[HttpGet]:
        return self.inner.http(remote_port)

    def interrupt(self) -> None:
        self.inner.interrupt()

    def close(self) -> None:
        self.inner.close()
