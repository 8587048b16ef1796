"""A host's first command, run by an ssh that becomes the host's master as it connects
(ControlMaster=auto, ControlPersist): no separate master process to start and wait for. The
start is given back once the master's socket appears; a start the server dropped is tried
again (nothing ran), and what ssh said before it authenticated is shown only for the try that
got through (a dropped try's words are not the command's).
"""
from __future__ import annotations

import os
import threading
from typing import Callable

from otterfile.executors.base import OnOutput
from otterfile.executors.master import Master
from otterfile.executors.openssh import ConnectionFailed
from otterfile.executors.pipes import HeldOpen, Input
from otterfile.executors.process import Processes, run_process
from otterfile.executors.starts import SSH_FAILED, starts

# how often a start looks for its master's socket: soon at first (a near host answers in
# milliseconds), then less often (on 50 hosts, 50 threads waking every 10 ms for a second of
# handshakes took CPU the handshakes needed: bench/RESULTS.md, cold-fleet)
SOCKET_POLL, SOCKET_POLL_MAX = 0.01, 0.1


def run_first(master: Master, line: str, held: bytes | None, data: Input,
              on_output: OnOutput | None, timeout: float | None,
              give_back: Callable[[], None], processes: Processes) -> tuple[int, str, str]:
    """Run `line` on `master`'s host by the ssh that starts the master; (exit status,
    stdout, stderr). `give_back`: the claim on starting it (master.claim()). `held`: not
    None when stdin is held open after sending those bytes (a secret env preamble, or
    none); else `data` is sent (it can be sent again)."""
    ran: list[tuple[int, str, str]] = [(SSH_FAILED, "", "")]
    argv = master.ssh("-T", "-e", "none", *master.keep(), master="auto") + [line]

    def start(authenticated: Callable[[], None]) -> tuple[int, str]:
        attempt = _Try(master.path, authenticated, give_back, on_output)
        ran[0] = attempt.run(argv, data if held is None else HeldOpen(held), timeout,
                             processes)
        return attempt.outcome(ran[0])
    try:
        with master.sessions:
            outcome = starts().attempt(start)
    finally:
        give_back()
    if outcome.code == SSH_FAILED and outcome.stderr:  # never authenticated
        raise ConnectionFailed(master.host, outcome)
    master.checked = True
    return ran[0]


class _Try:
    """One try: ssh's words are held back until the master's socket shows it authenticated
    (or the command writes to stdout), then passed on in order."""

    def __init__(self, path: str, authenticated: Callable[[], None],
                 give_back: Callable[[], None], on_output: OnOutput | None):
        self.path, self.on_output = path, on_output
        self.authenticated, self.give_back = authenticated, give_back
        self.up, self.ended, self.order = threading.Event(), threading.Event(), threading.Lock()
        self.pending: list[tuple[str, str]] = []  # ssh's words before authenticating

    def ready(self) -> bool:
        """Whether the master's socket is there (the first time: the start is over)."""
        if not self.up.is_set() and os.path.exists(self.path):
            self.up.set()
            self.authenticated()
            self.give_back()
        return self.up.is_set()

    def show(self, stream: str, text: str) -> None:
        with self.order:  # called from two reader threads
            if self.ready() or stream == "stdout":
                self._flush()
                self._pass(stream, text)
            else:
                self.pending.append((stream, text))

    def _flush(self) -> None:
        for item in self.pending:
            self._pass(*item)
        self.pending.clear()

    def _pass(self, stream: str, text: str) -> None:
        if self.on_output:
            self.on_output(stream, text)

    def run(self, argv: list[str], stdin: Input, timeout: float | None,
            processes: Processes) -> tuple[int, str, str]:
        """Run the ssh, watching for the master's socket meanwhile."""
        watcher = threading.Thread(target=_poll, args=(self.ready, self.ended), daemon=True)
        watcher.start()
        try:
            return run_process(argv, stdin=stdin, on_output=self.show if self.on_output else None,
                               timeout=timeout, processes=processes)
        finally:
            self.ended.set()
            watcher.join()

    def outcome(self, ran: tuple[int, str, str]) -> tuple[int, str]:
        """What the try says about the start: once authenticated, whatever failed later was
        not the start (no error output for it)."""
        if self.ready():
            self._flush()
            return ran[0], ""
        return ran[0], ran[2]


def _poll(ready: Callable[[], bool], ended: threading.Event) -> None:
    """Call `ready` until it says yes or `ended` is set: after SOCKET_POLL seconds, then
    half as often again each time, up to every SOCKET_POLL_MAX."""
    pause = SOCKET_POLL
    while not ready() and not ended.wait(pause):
        pause = min(pause * 1.5, SOCKET_POLL_MAX)
