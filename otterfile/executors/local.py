"""Run Commands as local processes, streaming input and output (subprocess and threads:
nothing heavy to import, so `otter` starts fast).

`run_process` is the one place otter starts a process; the SSH executor uses it too.
"""
from __future__ import annotations

import contextlib
import os
import select
import selectors
import shutil
import signal
import subprocess
import threading
import time
from typing import BinaryIO, Iterable, Iterator


from otterfile.command import Command, script
from otterfile.hosts import Host, LocalHost
from otterfile.executors.base import HttpGet, OnOutput, OnProgress, Readable, Result
from otterfile.executors.http import getter
from otterfile.executors.streams import Session, Stream, shell_argv

CHUNK = 64 * 1024
CAPTURE_LIMIT = 16 * 1024 * 1024  # characters kept per stream in a Result; on_output sees all
EXIT_TIMEOUT = 124  # what timeout(1) returns
EXIT_CANNOT_EXEC, EXIT_NOT_FOUND = 126, 127  # what a shell returns

# Written to a private temporary name, then renamed: a reader never sees half a file.
UPLOAD_SCRIPT = ('umask 077; t="$1.otter-tmp.$$"; '
                 'if cat > "$t" && chmod "$2" "$t" && mv -f "$t" "$1"; then exit 0; fi; '
                 'rm -f "$t"; exit 1')

HOLD_POLL = 0.05  # without pidfd: how often a held-open input looks for its process's end


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


Input = bytes | Iterable[bytes] | HeldOpen | None


def upload_command(dest: str, mode: int = 0o644) -> Command:
    """The command that writes its stdin to `dest` with `mode`, atomically."""
    return script(UPLOAD_SCRIPT, args=[dest, f"{mode:o}"], description=f"upload {dest}")


def chunks(stream: Readable, on_progress: OnProgress | None = None) -> Iterator[bytes]:
    """Read `stream` CHUNK bytes at a time, reporting the running byte count."""
    sent = 0
    while chunk := stream.read(CHUNK):
        yield chunk
        sent += len(chunk)
        if on_progress:
            on_progress(sent)


@contextlib.contextmanager
def open_source(source: str | os.PathLike[str] | BinaryIO) -> Iterator[BinaryIO]:
    """A binary stream for a path or an already open stream (left open)."""
    if isinstance(source, (str, os.PathLike)):
        with open(os.path.expanduser(source), "rb") as stream:
            yield stream
    else:
        yield source


class _Capture:
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


def _program(argv0: str, cwd: str | None, env: dict[str, str]) -> str | None:
    # a relative path is the process's own (it runs in `cwd`); a name is looked up in
    # the PATH it runs with
    if "/" in argv0:
        return os.path.join(cwd or "", argv0)
    return shutil.which(argv0, path=env.get("PATH", os.defpath))


class _CannotStart(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _feed(pipe: BinaryIO, stdin: Input) -> None:
    """Write `stdin` (bytes or chunks) to the process, then close its input."""
    try:
        for chunk in [stdin] if isinstance(stdin, bytes) else stdin:  # type: ignore[union-attr]
            pipe.write(chunk)
            pipe.flush()
    except (BrokenPipeError, ValueError, OSError):  # it stopped reading (or ended)
        pass
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


def _drain(pipes: list[tuple[BinaryIO, _Capture]]) -> None:
    """Pass the process's output on, line by line, until both pipes close; one reader, so
    lines keep the order they were written in across stdout and stderr (as far as the
    pipes tell)."""
    waiting = {pipe.fileno(): (pipe, capture, bytearray()) for pipe, capture in pipes}
    with selectors.DefaultSelector() as selector:
        for fd in waiting:
            selector.register(fd, selectors.EVENT_READ)
        while waiting:
            for key, _ in sorted(selector.select(), key=lambda event: event[0].fd):
                pipe, capture, partial = waiting[key.fd]
                chunk = os.read(key.fd, CHUNK)
                if chunk:
                    partial += chunk
                    *lines, rest = partial.split(b"\n")
                    for line in lines:
                        capture.add(line.decode("utf-8", "replace") + "\n")
                    partial[:] = rest
                    continue
                if partial:  # a last line without its newline
                    capture.add(partial.decode("utf-8", "replace"))
                selector.unregister(key.fd)
                pipe.close()
                del waiting[key.fd]


def _start(argv: list[str], cwd: str | None, env: dict[str, str], stdin: Input,
           out: _Capture, err: _Capture, own_group: bool = False,
           ) -> tuple[subprocess.Popen[bytes], list[threading.Thread]]:
    if cwd and not os.path.isdir(cwd):
        raise _CannotStart(EXIT_NOT_FOUND, f"cd: {cwd}: no such directory\n")
    program = _program(argv[0], cwd, env)
    if program is None or ("/" in argv[0] and not os.path.exists(program)):
        raise _CannotStart(EXIT_NOT_FOUND, f"{argv[0]}: command not found\n")
    empty = stdin is None or stdin == b""  # EOF at once, never our terminal
    try:
        process = subprocess.Popen([program, *argv[1:]], cwd=cwd, env=env,
                                   stdin=subprocess.DEVNULL if empty else subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=own_group)
    except OSError as error:  # exec failed: not executable, a bad interpreter
        raise _CannotStart(EXIT_CANNOT_EXEC, f"{argv[0]}: {error.strerror}\n") from None
    pipes = [(process.stdout, out), (process.stderr, err)]
    threads = [threading.Thread(target=_drain, args=(pipes,), daemon=True)]
    if not empty:
        threads.append(threading.Thread(target=_feed, args=(process.stdin, stdin),
                                        daemon=True))
    return process, threads  # started by the caller, once it has the process registered


def run_process(argv: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None,
                stdin: Input = None, on_output: OnOutput | None = None,
                timeout: float | None = None, processes: Processes | None = None,
                own_group: bool = False) -> tuple[int, str, str]:
    """Run argv to its end; returns (exit status, stdout, stderr). Never raises for
    a failing command: not found is 127, a timeout 124, a signal its negative number.
    `own_group`: in a process group of its own, which a stop ends as a whole (otter
    forwards Ctrl-C to it: a `sh -c` that takes SIGINT between two commands loses it)."""
    out, err = _Capture("stdout", on_output), _Capture("stderr", on_output)
    held = stdin if isinstance(stdin, HeldOpen) else None
    try:
        process, threads = _start(argv, cwd, {**os.environ, **(env or {})},
                                  held.stream() if held else stdin, out, err, own_group)
    except _CannotStart as error:
        if held:
            held.attach(None)
        return error.code, "", error.message
    if held:
        held.attach(process.pid)
    processes = processes or Processes()
    processes.add(process)  # before its output is read: an interrupt on its first line finds it
    for thread in threads:
        thread.start()
    try:
        linger = None  # how long to wait for its output once it ended: to the end
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(process, signal.SIGKILL)
            process.wait()
            code, linger = EXIT_TIMEOUT, 2.0  # a child it left may hold the pipes open
            err.add(f"otter: timed out after {timeout}s\n")
        until = None if linger is None else time.monotonic() + linger
        for thread in threads[:1]:  # all its output (the input feeder may be blocked)
            thread.join(None if until is None else max(0.0, until - time.monotonic()))
    except BaseException:  # Ctrl-C while waiting: the process must not outlive the run
        stop(process, signal.SIGKILL)
        raise
    finally:
        processes.discard(process)
    return code, out.text(), err.text()


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
    def forward(self, remote_port: int) -> Iterator[int]:
        """Local ports need no tunnel: yields `remote_port` itself."""
        yield remote_port

    def http(self, remote_port: int) -> contextlib.AbstractContextManager[HttpGet]:
        """GET on this machine's 127.0.0.1:`remote_port`."""
        return getter(remote_port)

    def open_stream(self, command: Command) -> BinaryIO:
        return Stream(*self._shell(command))  # type: ignore[return-value]

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
