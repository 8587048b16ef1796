"""What flows through a local process's pipes: the input otter writes to it (bytes, chunks,
or an input held open until the process ends, which is how an SSH command without input lets
the far side see otter go away), and its output read line by line into a bounded capture
that passes every line on as it comes (run_process in process.py starts the process).
"""
from __future__ import annotations

import contextlib
import os
import select
import selectors
import threading
import time
from typing import IO, BinaryIO, Iterable, Iterator

from otterfile.executors.base import OnOutput

CHUNK = 64 * 1024
CAPTURE_LIMIT = 16 * 1024 * 1024  # characters kept per stream in a Result; on_output sees all
HOLD_POLL = 0.05  # without pidfd: how often a held-open input looks for its process's end
HELD_AT_ONCE = 4096  # a held input's first bytes up to this go into its pipe at once (PIPE_BUF)


class HeldOpen:
    """An input that sends nothing and stays open until its process ends (then EOF): what
    an SSH command without input gets, so the far side sees otter go away (see ssh.py)."""

    def __init__(self, first: bytes = b"") -> None:
        self.pid: int | None = None
        self.started = threading.Event()
        self.first = first  # sent before it holds (a remote command's secret env)

    def attach(self, pid: int | None) -> None:
        self.pid = pid
        self.started.set()

    def stream(self) -> Iterator[bytes]:
        """A generator (what the input feeder reads) that ends when the process has
        exited."""
        if self.first:
            yield self.first
        self.started.wait()
        if self.pid is not None:
            _wait_exit(self.pid)
        return
        yield b""  # a generator without output


def _wait_exit(pid: int) -> None:
    """Block until `pid` exits (a pidfd wakes at once; else poll), without reaping it."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+, or already gone
        while os.path.exists(f"/proc/{pid}") and _state(pid) != "Z":
            time.sleep(HOLD_POLL)
        return
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


Data = bytes | Iterable[bytes]  # what a process is sent: bytes, or chunks as they come
Input = Data | HeldOpen | None


class Capture:
    """One output stream: passes each line on and keeps up to CAPTURE_LIMIT of it."""

    def __init__(self, name: str, on_output: OnOutput | None):
        self.name, self.on_output = name, on_output
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def add(self, line: str) -> None:
        if self.on_output:
            self.on_output(self.name, line.rstrip("\n"))
        if self.size + len(line) > CAPTURE_LIMIT:
            self.dropped += len(line)
            return
        self.parts.append(line)
        self.size += len(line)

    def text(self) -> str:
        note = f"\n[otter: {self.dropped} more characters not kept]\n" if self.dropped else ""
        return "".join(self.parts) + note


def feed(pipe: BinaryIO, stdin: Data) -> None:
    """Write `stdin` (bytes or chunks) to the process, then close its input."""
    try:
        for chunk in [stdin] if isinstance(stdin, bytes) else stdin:
            pipe.write(chunk)
            pipe.flush()
    except (BrokenPipeError, ValueError, OSError):  # it stopped reading (or ended)
        pass
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


class Output:
    """A process's output, passed on line by line as it is read; one reader, so lines keep
    the order they were written in across stdout and stderr (as far as the pipes tell). The
    thread that waits for the process or session reads it (run_process, muxed.run_muxed: no
    reader thread per command)."""

    def __init__(self, pipes: list[tuple[IO[bytes], Capture]]):
        self._waiting = {pipe.fileno(): (pipe, capture, bytearray()) for pipe, capture in pipes}
        self._selector = selectors.DefaultSelector()
        for fd in self._waiting:
            self._selector.register(fd, selectors.EVENT_READ)

    def read(self, until: float | None = None) -> bool:
        """Read until both pipes close (True) or time.monotonic() passes `until` (False)."""
        while self._waiting:
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:
                return False
            for key, _ in sorted(self._selector.select(left), key=lambda event: event[0].fd):
                pipe, capture, partial = self._waiting[key.fd]
                chunk = os.read(key.fd, CHUNK)
                if chunk:
                    _split(partial, chunk, capture)
                    continue
                if partial:  # a last line without its newline
                    capture.add(partial.decode("utf-8", "replace"))
                self._selector.unregister(key.fd)
                pipe.close()
                del self._waiting[key.fd]
        self._selector.close()
        return True

    def close(self) -> None:
        """Stop reading (what is left unread is lost)."""
        for pipe, _, _ in self._waiting.values():
            pipe.close()
        self._waiting.clear()
        self._selector.close()


def _split(partial: bytearray, chunk: bytes, capture: Capture) -> None:
    """Add `chunk` to `partial`, pass its whole lines on and keep the rest in `partial`."""
    partial += chunk
    *lines, rest = partial.split(b"\n")
    for line in lines:
        capture.add(line.decode("utf-8", "replace") + "\n")
    partial[:] = rest
