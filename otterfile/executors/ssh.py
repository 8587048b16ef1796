"""Run Commands on a server through the system OpenSSH client, one multiplexed master per host.

The user's ~/.ssh/config and agent apply (no -F); host keys are always checked. A master may
outlive otter (`persist` seconds idle) for the next command to reuse (control.py: where its
socket lives and what its name hashes).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import tempfile
import threading
import time
from typing import BinaryIO, Callable, Iterator

from otterfile.command import Command
from otterfile.errors import ExecutionError
from otterfile.hosts import SSHHost
from otterfile.executors.base import HttpGet, OnOutput, OnProgress, Readable, Result
from otterfile.executors.control import connection_key, control_folder
from otterfile.executors.http import getter
from otterfile.executors.local import (HeldOpen, Input, Processes, chunks, open_source, run_process,
                    upload_command)
from otterfile.executors.openssh import CONNECT_TIMEOUT, ConnectionFailed, ssh_options, watched
from otterfile.executors.preamble import preamble
from otterfile.executors.starts import SSH_FAILED, starts
from otterfile.executors.streams import Session, Stream, shell_argv

__all__ = ["ConnectionFailed", "SSHExecutor", "free_port", "ssh_options", "watched"]
CONTROL_PERSIST = "10m"  # how long an orphaned master (otter killed) outlives its last use
MAX_SESSIONS = 8  # below sshd's default MaxSessions (10) per connection
SOCKET_POLL = 0.01  # how often a start looks for its master's socket

def _release(held: list[Callable[[], None]]) -> None:
    """Give back what a start held (locks, files), once, the last taken first; two
    threads may both call it."""
    while True:
        try:
            give = held.pop()
        except IndexError:
            return
        give()


def _poll(ready: Callable[[], bool], ended: threading.Event) -> None:
    """Call `ready` every SOCKET_POLL seconds until it says yes or `ended` is set."""
    while not ready() and not ended.wait(SOCKET_POLL):
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SSHExecutor:
    """Runs Commands on an SSH host; all of them share one ControlMaster connection.

    `persist` > 0: the master lives in the private control_folder() (or `control_dir`) and
    is kept that many idle seconds after close(), for the next otter to reuse; 0: it lives
    in `control_dir` (default a temporary folder) and close() ends it."""

    def __init__(self, host: SSHHost, control_dir: str | None = None, persist: int = 0):
        self.host, self.persist = host, persist
        self._own_dir = control_dir is None and not persist
        if persist:
            self._dir = control_dir or control_folder()
        else:
            self._dir = control_dir or tempfile.mkdtemp(prefix="otter-ssh-")  # mkdtemp: 0700
        os.makedirs(self._dir, mode=0o700, exist_ok=True)
        # short: socket paths max ~100 bytes
        self.control_path = os.path.join(self._dir, connection_key(host, ssh_options(host)))
        self._checked = False  # whether a master found on start was seen to work
        self._lock = threading.Lock()
        self._sessions = threading.BoundedSemaphore(MAX_SESSIONS)
        self._processes = Processes()
        self._closes = 0  # close() calls so far: a command that close() stopped did not fail

    def _ssh(self, *args: str, master: str = "no") -> list[str]:
        return ["ssh", *ssh_options(self.host), "-o", f"ControlMaster={master}",
                "-o", f"ControlPath={self.control_path}", *args, "--", self.host.hostname]

    def _keep(self) -> list[str]:
        keep = f"{self.persist}s" if self.persist else CONTROL_PERSIST
        return ["-o", f"ControlPersist={keep}"]

    def _claim(self) -> Callable[[], None] | None:
        """None when a master runs; else starting one is ours until the returned
        give_back() (idempotent). One start at a time: concurrent first commands (threads,
        other otters) must not each start a master."""
        self._lock.acquire()
        held: list[Callable[[], None]] = [self._lock.release]
        try:
            if self.persist:  # a private folder (not kept) has only this process's masters
                lock = open(self.control_path + ".lock", "a")
                held.append(lock.close)
                fcntl.flock(lock, fcntl.LOCK_EX)
            if self._master_alive():
                _release(held)
                return None
            with contextlib.suppress(FileNotFoundError):  # left by a killed master
                os.unlink(self.control_path)
            os.makedirs(self._dir, mode=0o700, exist_ok=True)  # again after close()
        except BaseException:
            _release(held)
            raise
        return lambda: _release(held)

    def _ensure_master(self) -> bool:
        """Start the master unless one runs; True when it is one an earlier otter kept and
        no command of ours has used yet (its host may have gone away since)."""
        give_back = self._claim()
        if give_back is None:
            return not self._checked
        try:
            def start(_authenticated: Callable[[], None]) -> tuple[int, str]:
                code, _, err = run_process(self._ssh(*self._keep(), "-f", "-N", master="yes"),
                                           timeout=CONNECT_TIMEOUT * 2)
                return code, err
            outcome = starts().attempt(start)  # -f: returns once authenticated
            if outcome.code != 0 or not self._wait_for_socket():
                raise ConnectionFailed(self.host, outcome)
            self._checked = True
            return False
        finally:
            give_back()

    def _run_first(self, line: str, held: bytes | None, data: Input,
                   on_output: OnOutput | None, timeout: float | None,
                   give_back: Callable[[], None]) -> tuple[int, str, str]:
        """Run `line` by an ssh that becomes the host's master as it connects
        (ControlMaster=auto, ControlPersist): no separate master process to start and wait
        for. The start is given back once the master's socket appears; a start the server
        dropped is tried again (nothing ran). `held`: not None when stdin is held open
        after sending those bytes (a secret env preamble, or none)."""
        ran: list[tuple[int, str, str]] = [(SSH_FAILED, "", "")]

        def start(authenticated: Callable[[], None]) -> tuple[int, str]:
            up, ended, order = threading.Event(), threading.Event(), threading.Lock()
            pending: list[tuple[str, str]] = []  # ssh's words before authenticating

            def ready() -> bool:
                if not up.is_set() and os.path.exists(self.control_path):
                    up.set()
                    authenticated()
                    give_back()
                return up.is_set()

            def show(stream: str, text: str) -> None:  # from two reader threads
                with order:
                    if ready() or stream == "stdout":
                        for item in pending:
                            on_output(*item)  # type: ignore[misc]
                        pending.clear()
                        on_output(stream, text)  # type: ignore[misc]
                    else:
                        pending.append((stream, text))
            watcher = threading.Thread(target=_poll, args=(ready, ended), daemon=True)
            watcher.start()
            try:
                argv = self._ssh("-T", "-e", "none", *self._keep(), master="auto") + [line]
                ran[0] = run_process(argv, stdin=data if held is None else HeldOpen(held),
                                     on_output=show if on_output else None, timeout=timeout,
                                     processes=self._processes)
            finally:
                ended.set()
                watcher.join()
            if ready():  # authenticated: whatever failed later was not the start
                for item in pending:
                    on_output(*item)  # type: ignore[misc]
                return ran[0][0], ""
            return ran[0][0], ran[0][2]
        try:
            with self._sessions:
                outcome = starts().attempt(start)
        finally:
            give_back()
        if outcome.code == SSH_FAILED and outcome.stderr:  # never authenticated
            raise ConnectionFailed(self.host, outcome)
        self._checked = True
        return ran[0]

    def _end_master(self) -> None:
        """Stop the master at control_path (asked through its socket, else killed)."""
        code, output = self._control("check")
        self._control("exit")
        if code == 0 and "pid=" in output and self._master_alive():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(output.split("pid=")[1].split(")")[0]), 9)

    def _master_alive(self) -> bool:
        # a connect, not a file test: a master killed by a signal leaves its socket file
        with socket.socket(socket.AF_UNIX) as probe:
            return probe.connect_ex(self.control_path) == 0

    def _wait_for_socket(self) -> bool:
        # ssh -f returns once authenticated; the socket appears a moment later
        for _ in range(100):
            if os.path.exists(self.control_path):
                return True
            time.sleep(0.02)
        return False

    def _control(self, operation: str, *args: str) -> tuple[int, str]:
        """`ssh -O operation` on the master: check, forward, cancel, exit."""
        code, out, err = run_process(self._ssh("-O", operation, *args), timeout=CONNECT_TIMEOUT)
        return code, out + err

    def run(self, command: Command, *, stdin: Readable | None = None,
            on_output: OnOutput | None = None, on_progress: OnProgress | None = None,
            timeout: float | None = None) -> Result:
        """Run `command` on the host; a `stdin` stream is sent in chunks through ssh, after
        the command's secret env values (preamble.py: never on its command line)."""
        data: Input = chunks(stdin, on_progress) if stdin is not None else command.stdin_bytes()
        line, held = command.shell_line(without_secret_env=True), data is None
        if held:  # nothing to send: hold stdin open so the host sees otter go away
            line = watched(line)
        first = preamble(command, self.host.name)
        line, data = first.line(line), first.before(data)  # type: ignore[arg-type]
        again = held or isinstance(data, bytes)  # input that can be sent a second time
        for attempt in (1, 2):
            started, closes = time.monotonic(), self._closes
            give_back = self._claim() if again else None
            if give_back is not None:  # no master yet: this command's ssh becomes it
                kept = False
                code, out, err = self._run_first(line, first.data if held else None, data,
                                                 on_output, timeout, give_back)
            else:
                kept = not self._checked if again else self._ensure_master()
                with self._sessions:
                    code, out, err = run_process(
                        self._ssh("-T", "-e", "none") + [line],
                        stdin=HeldOpen(first.data) if held else data, on_output=on_output,
                        timeout=timeout, processes=self._processes)
            if code == SSH_FAILED and closes == self._closes and self._control("check")[0] != 0:
                if kept and attempt == 1 and not out and again:
                    self._end_master()  # a kept master whose host went away: a fresh one
                    continue
                # the connection, not the command, failed: it connected, then broke
                raise ConnectionFailed(self.host, err,
                                       during=command.description or command.display())
            self._checked = True
            return Result(command, code, out, err, time.monotonic() - started, self.host.name)
        raise AssertionError("unreachable")

    def open_stream(self, command: Command) -> BinaryIO:
        return Stream(*self._session(command))  # type: ignore[return-value]

    def open_session(self, command: Command) -> Session:
        return Session(*self._session(command))

    def _session(self, command: Command) -> tuple[list[str], str, str, bytes]:
        """One more session on the master (started first when none runs)."""
        self._ensure_master()
        argv, first = shell_argv(command, self.host.name, self._ssh("-T", "-e", "none"))
        return argv, self.host.name, command.description, first

    def upload(self, source: str | BinaryIO, dest: str, *, mode: int = 0o644,
               on_progress: OnProgress | None = None) -> Result:
        """Stream a local file or stream to `dest` on the host, written atomically."""
        with open_source(source) as stream:
            return self.run(upload_command(dest, mode), stdin=stream, on_progress=on_progress)

    @contextlib.contextmanager
    def forward(self, remote_port: int) -> Iterator[int]:
        """A local port tunnelled to 127.0.0.1:`remote_port` on the host, for its lifetime."""
        self._ensure_master()
        spec, output = "", ""
        for _ in range(3):  # the free port may be taken before ssh binds it
            spec = f"127.0.0.1:{free_port()}:127.0.0.1:{remote_port}"
            code, output = self._control("forward", "-L", spec)
            if code == 0:
                break
        else:
            raise ExecutionError(f"{self.host.name}: cannot forward port {remote_port}: "
                                 f"{output.strip()}")
        try:
            yield int(spec.split(":")[1])
        finally:
            self._control("cancel", "-L", spec)

    @contextlib.contextmanager
    def http(self, remote_port: int) -> Iterator[HttpGet]:
        """GET on the host's 127.0.0.1:`remote_port` through one forward of the master."""
        with self.forward(remote_port) as local, getter(local) as get:
            yield get

    def interrupt(self) -> None:
        """Nothing: its ssh clients share otter's process group, so a terminal's Ctrl-C
        reaches them, and an unlock that runs after it must not be cut."""

    def close(self) -> None:
        """Stop running commands; end the master connection unless it is kept (`persist`)."""
        self._closes += 1
        self._processes.stop_all()
        with self._lock:
            if not self.persist and self._master_alive():
                self._control("exit")
            if self._own_dir:
                shutil.rmtree(self._dir, ignore_errors=True)
