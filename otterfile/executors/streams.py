"""Processes on a host that outlive one `run` call: a Stream whose stdout otter reads as it
comes (`docker save`, `cat` on a build host), and a Session that runs until otter is done
with it (the file server of build(via="url")). The executors start them (`open_stream`,
`open_session`): one more session on the SSH master, or a local process; a command's secret
env goes first on its stdin (preamble.py), never on its command line.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
from typing import IO, Any

from otterfile.command import Command
from otterfile.errors import OtterError
from otterfile.executors.preamble import preamble

STOP_WAIT = 10.0  # seconds a closed session gets to end by itself before it is stopped


def shell_argv(command: Command, host: str, prefix: list[str]) -> tuple[list[str], bytes]:
    """(the argv that runs `command` through `prefix`: `sh -c` here or an ssh session;
    the bytes to send on its stdin first: its secret env)."""
    first = preamble(command, host)
    return prefix + [first.line(command.shell_line(without_secret_env=True))], first.data


def _pipe(pipe: IO[bytes] | None) -> IO[bytes]:
    """One of a process's pipes that Popen was asked for (subprocess.PIPE): always there."""
    assert pipe is not None
    return pipe


def _tail(stderr: IO[bytes], lines: int = 3) -> list[str]:
    if stderr.closed:
        return []
    stderr.seek(0)
    text = stderr.read().decode(errors="replace").strip().splitlines()[-lines:]
    stderr.close()
    return text


class Stream:
    """A process's stdout read as a file; `close` waits for it and raises when it failed,
    naming the host and what ran, with its last lines of stderr."""

    def __init__(self, argv: list[str], host: str, what: str, first: bytes = b""):
        self.host, self.what = host, what
        self._stderr, self._eof = tempfile.TemporaryFile(), False
        self._process = subprocess.Popen(argv, stdin=subprocess.PIPE if first else
                                         subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=self._stderr)
        self._out = _pipe(self._process.stdout)
        if first:  # a few bytes: the pipe takes them at once
            stdin = _pipe(self._process.stdin)
            stdin.write(first)
            stdin.close()

    def read(self, size: int = -1) -> bytes:
        chunk = self._out.read(size)
        self._eof = self._eof or (not chunk and size != 0)
        return chunk

    def close(self) -> None:
        process, stopped = self._process, False
        if not self._out.closed:
            if not self._eof and process.poll() is None:  # the reader gave up: stop it
                process.terminate()
                stopped = True
            self._out.close()
        code = process.wait()
        tail = _tail(self._stderr)
        if code != 0 and not stopped:
            raise OtterError(f"{self.what} on {self.host} failed (exit {code})"
                             + (f": {' '.join(tail)}" if tail else ""))

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


class Session:
    """A process on a host that runs until `close`: otter holds its stdin open and never
    writes to it (beyond `first`), so the process sees its input end when otter closes it
    or when otter goes away, however it ends (the SSH session closes with it)."""

    def __init__(self, argv: list[str], host: str, what: str, first: bytes = b""):
        self.host, self.what = host, what
        self._stderr = tempfile.TemporaryFile()
        # its own process group: a stop reaches whatever it started, not only its shell
        self._process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._stderr, start_new_session=True)
        self._in, self._out = _pipe(self._process.stdin), _pipe(self._process.stdout)
        if first:
            self._in.write(first)
            self._in.flush()

    def first_line(self, timeout: float) -> str:
        """The first line the process prints; "" when it ended or said nothing in time."""
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(self._out.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        return got[0].decode(errors="replace").strip() if got else ""

    def failure(self) -> str:
        """How it ended, once it has (or been stopped): exit status and last lines."""
        code = self.close()
        tail = _tail(self._stderr)
        return " ".join(tail) if tail else f"exit {code}"

    def close(self, wait: float = STOP_WAIT) -> int:
        """End it: close its input, give it `wait` seconds to stop, then stop it. Returns
        its exit status. Idempotent."""
        process = self._process
        if not self._in.closed:
            try:
                self._in.close()
            except OSError:  # it had gone: nothing to flush
                pass
        try:
            code = process.wait(wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            code = process.wait()
        self._out.close()  # after its end: a reader of it has returned
        return code
