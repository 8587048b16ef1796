"""A host's first command, run by an ssh that becomes the host's master as it connects
(ControlMaster=auto, ControlPersist): no separate master process to start and wait for. The
start is given back once the master's socket appears (one thread looks for every start's
socket: a thread per host woke as often for nothing); a start the server dropped is tried
again (nothing ran), and what ssh said before it authenticated is shown only for the try that
got through (a dropped try's words are not the command's).
"""
from __future__ import annotations

import math
import os
import threading
import time
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
TICK = 0.005  # checks fall due on a shared 5 ms grid: one wake-up serves every start due then


def _on_tick(when: float) -> float:
    """`when`, rounded up to the next TICK (starts begun within a tick are checked together)."""
    return math.ceil(when / TICK) * TICK


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
        self.up, self.order = threading.Event(), threading.Lock()
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
        _WATCHER.watch(self)
        try:
            return run_process(argv, stdin=stdin, on_output=self.show if self.on_output else None,
                               timeout=timeout, processes=processes)
        finally:
            _WATCHER.forget(self)

    def outcome(self, ran: tuple[int, str, str]) -> tuple[int, str]:
        """What the try says about the start: once authenticated, whatever failed later was
        not the start (no error output for it)."""
        if self.ready():
            self._flush()
            return ran[0], ""
        return ran[0], ran[2]


class _Watcher:
    """One thread calling each watched try's ready() until it says yes or the try is
    forgotten: after SOCKET_POLL seconds, then half as often again each time, up to every
    SOCKET_POLL_MAX. ready() runs under the watcher's lock, so once forget() returns it is
    never called for that try again (a later try's socket must not end an earlier one)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._due: dict[_Try, tuple[float, float]] = {}  # try -> (when next, pause)
        self._thread: threading.Thread | None = None
        self._wakes: float | None = None  # when the thread wakes by itself (None: never)

    def watch(self, attempt: _Try) -> None:
        when = _on_tick(time.monotonic() + SOCKET_POLL)
        with self._changed:
            self._due[attempt] = (when, SOCKET_POLL)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="otter-ssh-starts")
                self._thread.start()
            elif self._wakes is None or self._wakes > when:  # else it wakes in time: a
                self._changed.notify()  # burst of starts does not wake it once per start

    def forget(self, attempt: _Try) -> None:
        with self._changed:
            self._due.pop(attempt, None)

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for attempt, (when, pause) in list(self._due.items()):
                    if when > now:
                        continue
                    if attempt.ready():
                        del self._due[attempt]
                    else:
                        pause = min(pause * 1.5, SOCKET_POLL_MAX)
                        self._due[attempt] = (_on_tick(now + pause), pause)
                self._wakes = min((when for when, _ in self._due.values()), default=None)
                self._changed.wait(None if self._wakes is None
                                   else max(0.0, self._wakes - now))


_WATCHER = _Watcher()
