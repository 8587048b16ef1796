"""Start a local process and wait for its end: `run_process` is the one place otter starts a
process (the local and SSH executors both use it), with the registry of the processes an
executor has running and the stop that ends one with everything it started (subprocess and
threads: nothing heavy to import, so `otter` starts fast; the pipes: pipes.py). The thread
that waits for a process reads its output; a thread of its own only feeds it input that
does not fit its pipe at once.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from typing import Mapping

from otterfile.executors.base import OnOutput
from otterfile.executors.pipes import HELD_AT_ONCE, Capture, Data, HeldOpen, Input, Output, feed

EXIT_TIMEOUT = 124  # what timeout(1) returns
EXIT_CANNOT_EXEC, EXIT_NOT_FOUND = 126, 127  # what a shell returns
TIMEOUT_LINGER = 2.0  # seconds to read a timed-out process's output: a child may hold the pipes


class Processes:
    """The processes an executor has running, so that close() can stop them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, subprocess.Popen[bytes]] = {}  # by id

    def add(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running[id(process)] = process

    def discard(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.pop(id(process), None)

    def stop_all(self) -> None:
        with self._lock:
            running, self._running = list(self._running.values()), {}
        for process in running:
            stop(process, signal.SIGTERM)


def stop(process: subprocess.Popen[bytes], signal_number: int) -> None:
    """Signal `process` and, when it leads a process group of its own, all it started (a
    shell's `sleep` or `docker build` would otherwise keep running, and keep its pipes)."""
    with contextlib.suppress(OSError):  # it may have ended meanwhile
        if _leads_group(process.pid):
            os.killpg(process.pid, signal_number)
        else:
            process.send_signal(signal_number)


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False


def _program(argv0: str, cwd: str | None, env: Mapping[str, str]) -> str | None:
    # a relative path is the process's own (it runs in `cwd`); a name is looked up in
    # the PATH it runs with
    if "/" in argv0:
        return os.path.join(cwd or "", argv0)
    import shutil  # only once a start failed: Popen looks the name up itself
    return shutil.which(argv0, path=env.get("PATH", os.defpath))


class _CannotStart(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _start(argv: list[str], cwd: str | None, env: dict[str, str] | None, stdin: Data | None,
           out: Capture, err: Capture, own_group: bool = False, held: bytes | None = None,
           ) -> tuple[subprocess.Popen[bytes], Output, threading.Thread | None]:
    """The process started, its output to read, and the thread that feeds its input (not
    started yet), if any. `held`: the input is held open, these bytes written first, with no
    thread: they go into the empty pipe at once and its write end stays open until the
    process has ended (run_process closes it)."""
    if cwd and not os.path.isdir(cwd):
        raise _CannotStart(EXIT_NOT_FOUND, f"cd: {cwd}: no such directory\n")
    empty = held is None and (stdin is None or stdin == b"")  # EOF at once, never our terminal
    try:  # Popen looks a name up in env's PATH itself (no lookup of ours per process)
        process = subprocess.Popen(argv, cwd=cwd, env=env,
                                   stdin=subprocess.DEVNULL if empty else subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=own_group)
    except OSError as error:  # exec failed: not found, not executable, a bad interpreter
        program = _program(argv[0], cwd, os.environ if env is None else env)
        if program is None or ("/" in argv[0] and not os.path.exists(program)):
            raise _CannotStart(EXIT_NOT_FOUND, f"{argv[0]}: command not found\n") from None
        raise _CannotStart(EXIT_CANNOT_EXEC, f"{argv[0]}: {error.strerror}\n") from None
    assert process.stdout is not None and process.stderr is not None
    output = Output([(process.stdout, out), (process.stderr, err)])
    feeder = None
    if held is not None:
        assert process.stdin is not None
        with contextlib.suppress(OSError):  # it ended already: nothing to hold
            if held:
                os.write(process.stdin.fileno(), held)  # fits the empty pipe: written whole
    elif not empty:
        feeder = threading.Thread(target=feed, args=(process.stdin, stdin), daemon=True)
    return process, output, feeder  # the caller starts it, once it has the process registered


def run_process(argv: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None,
                stdin: Input = None, on_output: OnOutput | None = None,
                timeout: float | None = None, processes: Processes | None = None,
                own_group: bool = False) -> tuple[int, str, str]:
    """Run argv to its end; returns (exit status, stdout, stderr). Never raises for
    a failing command: not found is 127, a timeout 124, a signal its negative number.
    `own_group`: in a process group of its own, which a stop ends as a whole (otter
    forwards Ctrl-C to it: a `sh -c` that takes SIGINT between two commands loses it)."""
    out, err = Capture("stdout", on_output), Capture("stderr", on_output)
    held, data = (stdin, stdin.stream()) if isinstance(stdin, HeldOpen) else (None, stdin)
    at_once = held.first if held and len(held.first) <= HELD_AT_ONCE else None
    try:
        process, output, feeder = _start(argv, cwd, {**os.environ, **env} if env else None,
                                         None if at_once is not None else data, out, err,
                                         own_group, at_once)
    except _CannotStart as error:
        if held:
            held.attach(None)
        return error.code, "", error.message
    if held:
        held.attach(process.pid)
    processes = processes or Processes()
    processes.add(process)  # before its output is read: an interrupt on its first line finds it
    if feeder:
        feeder.start()
    try:
        code = _wait(process, output, timeout, err)
    finally:
        processes.discard(process)
        if at_once is not None and process.stdin:  # the held input's end: EOF on the host
            with contextlib.suppress(OSError):
                process.stdin.close()
    return code, out.text(), err.text()


def _wait(process: subprocess.Popen[bytes], output: Output, timeout: float | None,
          err: Capture) -> int:
    """Read `process`'s output to its end and wait for it to end (killed after `timeout`,
    its output then read for TIMEOUT_LINGER more seconds: a child may hold the pipes); not
    for the input feeder (it may be blocked); its exit status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        read = output.read(deadline)
        try:
            code = process.wait(None if deadline is None
                                else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # still running at the deadline
            stop(process, signal.SIGKILL)
            process.wait()
            err.add(f"otter: timed out after {timeout}s\n")
            output.read(time.monotonic() + TIMEOUT_LINGER)
            output.close()
            return EXIT_TIMEOUT
        if not read:  # it ended in time; a child of its own holds its output: to the end
            output.read()
    except BaseException:  # Ctrl-C while waiting: the process must not outlive the run
        stop(process, signal.SIGKILL)
        output.close()
        raise
    return code
