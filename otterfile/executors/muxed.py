"""A command run as one session of a host's kept ControlMaster, asked for by otter's own process
(the protocol: mux.py): the session's pipes, its input fed and its output read as with a local
ssh client (pipes.py), its end, a timeout, and the registry that close() stops. On by default;
OTTER_SSH_MUX=0 runs every command through an ssh client instead.
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Iterator

from otterfile.executors.base import OnOutput
from otterfile.executors.control import MUX_ENV, mux_enabled
from otterfile.executors.mux import MuxError, open_session, wait_exit
from otterfile.executors.pipes import HELD_AT_ONCE, Capture, Data, HeldOpen, Input, Output, feed
from otterfile.executors.process import EXIT_TIMEOUT, TIMEOUT_LINGER
from otterfile.executors.starts import SSH_FAILED

__all__ = ["MUX_ENV", "MuxSessions", "mux_enabled", "run_muxed"]

class MuxSessions:
    """The sessions an executor has open, so that close() can end them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    @contextlib.contextmanager
    def held(self, sock: socket.socket) -> Iterator[None]:
        with self._lock:
            self._open.add(sock)
        try:
            yield
        finally:
            with self._lock:
                self._open.discard(sock)

    def stop_all(self) -> None:
        """End every open session: its master sees its control socket close."""
        with self._lock:
            running, self._open = list(self._open), set()
        for sock in running:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _held(first: bytes, ended: threading.Event) -> Iterator[bytes]:
    """A held-open input: `first`, then nothing until the session ended (see HeldOpen)."""
    if first:
        yield first
    ended.wait()


class _Input:
    """The session's stdin: /dev/null for no input, else a pipe otter writes to. A held-open
    input with little to send first needs no thread: those bytes go into the pipe now and
    its write end stays open until finish() (the session's end)."""

    def __init__(self, stdin: Input, ended: threading.Event) -> None:
        self.data: Data | None = None
        self.read, self.write = -1, -1
        if isinstance(stdin, HeldOpen) and len(stdin.first) <= HELD_AT_ONCE:
            self.read, self.write = os.pipe()
            if stdin.first:
                os.write(self.write, stdin.first)  # fits the empty pipe: written whole
            return
        if isinstance(stdin, HeldOpen):
            self.data = _held(stdin.first, ended)
        elif stdin is not None and stdin != b"":
            self.data = stdin
        if self.data is None:
            self.read = os.open(os.devnull, os.O_RDONLY)
        else:
            self.read, self.write = os.pipe()

    def start(self) -> threading.Thread | None:
        """Feed it (from now on: nothing is read before the session opened)."""
        if self.data is None:
            return None
        pipe = os.fdopen(self.write, "wb", buffering=0)
        self.write = -1  # the feeder closes it
        thread = threading.Thread(target=feed, args=(pipe, self.data), daemon=True)
        thread.start()
        return thread

    def finish(self) -> None:
        """The session ended: a held input's end (EOF on the host, if it still reads)."""
        if self.write >= 0:
            os.close(self.write)
            self.write = -1

    def discard(self) -> None:
        for fd in (self.read, self.write):
            if fd >= 0:
                os.close(fd)


def run_muxed(path: str, line: str, stdin: Input, on_output: OnOutput | None,
              timeout: float | None, sessions: MuxSessions) -> tuple[int, str, str]:
    """Run `line` as a session of the master at `path`: (exit status, stdout, stderr) as an
    ssh client would give them (255 when the session ended without a status). MuxError when
    no session opened: nothing ran and no input was read."""
    ended = threading.Event()
    given = _Input(stdin, ended)
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        sock, session = open_session(path, line, (given.read, out_write, err_write))
    except MuxError:
        given.discard()
        for fd in (out_read, out_write, err_read, err_write):
            os.close(fd)
        raise
    for fd in (given.read, out_write, err_write):  # the master holds its own copies now
        os.close(fd)
    out, err = Capture("stdout", on_output), Capture("stderr", on_output)
    output = Output([(os.fdopen(out_read, "rb", buffering=0), out),
                     (os.fdopen(err_read, "rb", buffering=0), err)])
    given.start()
    try:
        with sessions.held(sock):
            code = _wait(sock, session, timeout, output, err, ended)
    finally:
        given.finish()
    return code, out.text(), err.text()


def _wait(sock: socket.socket, session: int, timeout: float | None, output: Output,
          err: Capture, ended: threading.Event) -> int:
    """Read the session's output until the master closes its pipes, then its exit status,
    in this thread (no reader thread per session); a timeout or Ctrl-C ends the session
    (closing the control socket closes its channel, and then its pipes)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        try:
            if not output.read(deadline):
                raise TimeoutError
            status = wait_exit(sock, session, deadline)
        except TimeoutError:
            sock.close()
            err.add(f"otter: timed out after {timeout}s\n")
            status = EXIT_TIMEOUT
            output.read(time.monotonic() + TIMEOUT_LINGER)
    finally:
        ended.set()
        sock.close()
        output.close()
    if status is None:
        err.add("otter: the session ended without an exit status (a signal, or the "
                "connection broke)\n")
        return SSH_FAILED
    return status
