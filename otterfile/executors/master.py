"""The one OpenSSH ControlMaster connection otter keeps to a host: where its socket lives,
the ssh command lines that use it, claiming the right to start it (one start at a time, across
threads and, for a kept master, across otters), starting it, asking it (`ssh -O`), ending it,
and the bound on sessions it carries at once (the commands themselves: ssh.py; a command whose
ssh becomes the master: first.py).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from typing import Callable

from otterfile.hosts import SSHHost
from otterfile.executors.control import connection_key, control_folder
from otterfile.executors.openssh import CONNECT_TIMEOUT, ConnectionFailed, ssh_options
from otterfile.executors.process import run_process
from otterfile.executors.starts import starts

CONTROL_PERSIST = "10m"  # how long an orphaned master (otter killed) outlives its last use
MAX_SESSIONS = 8  # below sshd's default MaxSessions (10) per connection
SOCKET_WAIT, SOCKET_TRIES = 0.02, 100  # after `ssh -f`: how long its socket may take to appear


def _release(held: list[Callable[[], None]]) -> None:
    """Give back what a start held (locks, files), once, the last taken first; two
    threads may both call it."""
    while True:
        try:
            give = held.pop()
        except IndexError:
            return
        give()


class Master:
    """The master connection to `host`. `persist` > 0: its socket is in the private
    control_folder() (or `control_dir`) and it is kept that many idle seconds after close(),
    for the next otter to reuse; 0: it lives in `control_dir` (default a temporary folder)
    and close() ends it."""

    def __init__(self, host: SSHHost, control_dir: str | None = None, persist: int = 0):
        self.host, self.persist = host, persist
        self.own_dir = control_dir is None and not persist
        if persist:
            self.dir = control_dir or control_folder()
        elif control_dir:
            self.dir = control_dir
        else:
            import tempfile  # only here: a cold start of kept masters never needs it
            self.dir = tempfile.mkdtemp(prefix="otter-ssh-")  # mkdtemp: 0700
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        # short: socket paths max ~100 bytes
        self.options = ssh_options(host)  # the host is frozen: once, not per ssh started
        self.path = os.path.join(self.dir, connection_key(host, self.options))
        self.checked = False  # whether a master found on start was seen to work
        self.lock = threading.Lock()
        self.sessions = threading.BoundedSemaphore(MAX_SESSIONS)

    def ssh(self, *args: str, master: str = "no") -> list[str]:
        """An ssh command line through this master (`master`: its ControlMaster value)."""
        return ["ssh", *self.options, "-o", f"ControlMaster={master}",
                "-o", f"ControlPath={self.path}", *args, "--", self.host.hostname]

    def keep(self) -> list[str]:
        """The options that keep a master it starts alive after its last session."""
        keep = f"{self.persist}s" if self.persist else CONTROL_PERSIST
        return ["-o", f"ControlPersist={keep}"]

    def claim(self) -> Callable[[], None] | None:
        """None when a master runs; else starting one is ours until the returned
        give_back() (idempotent). One start at a time: concurrent first commands (threads,
        other otters) must not each start a master."""
        self.lock.acquire()
        held: list[Callable[[], None]] = [self.lock.release]
        try:
            if self.persist:  # a private folder (not kept) has only this process's masters
                lock = open(self.path + ".lock", "a")
                held.append(lock.close)
                fcntl.flock(lock, fcntl.LOCK_EX)
            if self.alive():
                _release(held)
                return None
            with contextlib.suppress(FileNotFoundError):  # left by a killed master
                os.unlink(self.path)
            os.makedirs(self.dir, mode=0o700, exist_ok=True)  # again after close()
        except BaseException:
            _release(held)
            raise
        return lambda: _release(held)

    def ensure(self) -> bool:
        """Start the master unless one runs; True when it is one an earlier otter kept and
        no command of ours has used yet (its host may have gone away since)."""
        give_back = self.claim()
        if give_back is None:
            return not self.checked
        try:
            def start(_authenticated: Callable[[], None]) -> tuple[int, str]:
                code, _, err = run_process(self.ssh(*self.keep(), "-f", "-N", master="yes"),
                                           timeout=CONNECT_TIMEOUT * 2)
                return code, err
            outcome = starts().attempt(start)  # -f: returns once authenticated
            if outcome.code != 0 or not self._wait_for_socket():
                raise ConnectionFailed(self.host, outcome)
            self.checked = True
            return False
        finally:
            give_back()

    def end(self) -> None:
        """Stop the master at its socket (asked through it, else killed)."""
        code, output = self.control("check")
        self.control("exit")
        if code == 0 and "pid=" in output and self.alive():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(output.split("pid=")[1].split(")")[0]), 9)

    def alive(self) -> bool:
        # a connect, not a file test: a master killed by a signal leaves its socket file;
        # no file, no master (and no socket module to import before a cold first command)
        if not os.path.exists(self.path):
            return False
        import socket
        with socket.socket(socket.AF_UNIX) as probe:
            return probe.connect_ex(self.path) == 0

    def _wait_for_socket(self) -> bool:
        # ssh -f returns once authenticated; the socket appears a moment later
        for _ in range(SOCKET_TRIES):
            if os.path.exists(self.path):
                return True
            time.sleep(SOCKET_WAIT)
        return False

    def control(self, operation: str, *args: str) -> tuple[int, str]:
        """`ssh -O operation` on the master: check, forward, cancel, exit."""
        code, out, err = run_process(self.ssh("-O", operation, *args), timeout=CONNECT_TIMEOUT)
        return code, out + err

    def close(self) -> None:
        """End the master unless it is kept (`persist`); remove a folder of our own."""
        with self.lock:
            if not self.persist and self.alive():
                self.control("exit")
            if self.own_dir:
                import shutil
                shutil.rmtree(self.dir, ignore_errors=True)
