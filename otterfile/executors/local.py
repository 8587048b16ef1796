"""Run Commands on this machine as local processes, each in a process group of its own that
a stop (Ctrl-C, close()) ends as a whole; the process itself: process.py."""
from __future__ import annotations

import contextlib
import time
from typing import BinaryIO, Iterator

from otterfile.command import Command
from otterfile.errors import ExecutionError
from otterfile.hosts import Host, LocalHost
from otterfile.executors.base import HttpGet, OnOutput, OnProgress, Port, Readable, Result
from otterfile.executors.http import getter, number
from otterfile.executors.pipes import Input
from otterfile.executors.process import Processes, run_process
from otterfile.executors.streams import Session, Stream, shell_argv
from otterfile.executors.upload import chunks, open_source, upload_command


class LocalExecutor:
    """Runs Commands on this machine as local processes."""

    def __init__(self, host: Host | None = None):
        self.host = host or LocalHost()
        self._processes = Processes()

    def run(self, command: Command, *, stdin: Readable | None = None,
            on_output: OnOutput | None = None, on_progress: OnProgress | None = None,
            timeout: float | None = None) -> Result:
        """Run `command`; a `stdin` stream overrides command.stdin and is streamed."""
        data: Input = chunks(stdin, on_progress) if stdin is not None else command.stdin_bytes()
        started = time.monotonic()
        code, out, err = run_process(command.argv_values(), cwd=command.cwd,
                                     env=command.env_values(), stdin=data, on_output=on_output,
                                     timeout=timeout, processes=self._processes,
                                     own_group=True)
        return Result(command, code, out, err, time.monotonic() - started, self.host.name)

    def upload(self, source: str | BinaryIO, dest: str, *, mode: int = 0o644,
               on_progress: OnProgress | None = None) -> Result:
        """Copy a local file or stream to `dest` with `mode`, in chunks."""
        with open_source(source) as stream:
            return self.run(upload_command(dest, mode), stdin=stream, on_progress=on_progress)

    @contextlib.contextmanager
    def forward(self, remote_port: int, local_port: int = 0) -> Iterator[int]:
        """Local ports need no tunnel: yields `remote_port` itself (another `local_port`
        is an ExecutionError: nothing here would listen on it)."""
        if local_port not in (0, remote_port):
            raise ExecutionError(f"{self.host.name} is this machine: 127.0.0.1:{remote_port} "
                                 f"is reached directly, no forward from port {local_port}")
        yield remote_port

    def http(self, remote_port: Port) -> contextlib.AbstractContextManager[HttpGet]:
        """GET on this machine's 127.0.0.1:`remote_port`."""
        return getter(number(remote_port, self.host.name))

    def open_stream(self, command: Command) -> Readable:
        return Stream(*self._shell(command))

    def open_session(self, command: Command) -> Session:
        return Session(*self._shell(command))

    def _shell(self, command: Command) -> tuple[list[str], str, str, bytes]:
        argv, first = shell_argv(command, self.host.name, ["sh", "-c"])
        return argv, self.host.name, command.description, first

    def interrupt(self) -> None:
        self._processes.stop_all()

    def close(self) -> None:
        """Stop any process still running (Ctrl-C)."""
        self._processes.stop_all()
