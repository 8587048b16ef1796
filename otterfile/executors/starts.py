"""Connection starts: how many SSH handshakes one otter has in flight, and which failed
starts are tried again.

sshd drops connections that are still authenticating beyond its MaxStartups (10:30:100 by
default: from 10, 30% of new ones are dropped), so a burst of starts through one bastion or
load balancer loses some. otter keeps at most `limit` starts in flight ($OTTER_SSH_STARTS,
default PER_CPU per core of this machine: each host's sshd counts only its own start, and
the controller's cost of a start is CPU) and starts a dropped one again after a pause that
doubles (with jitter), within TRIES tries and RETRY_SECONDS. A refused key or a host key
that does not match is never tried again.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from otterfile.errors import OtterError

STARTS_ENV = "OTTER_SSH_STARTS"
# 32 per core: measured on 2 cores (bench/RESULTS.md, cold-fleet), 100 hosts started no
# faster with 128 in flight than with 64, and 8 (the old default) took 1.5x as long on 50
# hosts and 2.3x on 100
PER_CPU = 32
TRIES = 6
RETRY_SECONDS = 30.0  # no new try starts later than this after the first
FIRST_PAUSE, MAX_PAUSE = 0.25, 4.0
SSH_FAILED = 255

# What ssh says when the server closed or reset the connection before authentication.
DROPPED = ("kex_exchange_identification", "ssh_exchange_identification", "banner exchange",
           "Connection reset by peer", "Connection closed by remote host")
# Never tried again, whatever else was said: the server answered and refused us.
REFUSED = ("Permission denied", "Host key verification failed", "IDENTIFICATION HAS CHANGED",
           "host key is known", "Too many authentication failures", "differs from the key",
           "No matching host key", "no matching host key", "Unable to negotiate")


def dropped(code: int, stderr: str) -> bool:
    """Whether an ssh that exited `code` saying `stderr` was dropped before authenticating
    (worth another try), not refused."""
    if code != SSH_FAILED or any(words in stderr for words in REFUSED):
        return False
    return any(words in stderr for words in DROPPED)


def default_starts() -> int:
    """Handshakes in flight at most unless $OTTER_SSH_STARTS says: PER_CPU per core."""
    return PER_CPU * (os.cpu_count() or 1)


def start_limit() -> int:
    """Handshakes in flight at most: $OTTER_SSH_STARTS (1 or more), default_starts()."""
    value = os.environ.get(STARTS_ENV, "").strip()
    if not value:
        return default_starts()
    if not value.isdigit() or int(value) < 1:
        raise OtterError(f"{STARTS_ENV}={value!r}: expected how many SSH connections may "
                         f"be starting at once (1 or more; default {default_starts()}: "
                         f"{PER_CPU} per core; a bastion's sshd drops starts beyond its "
                         f"MaxStartups, 10 by default)")
    return int(value)


@dataclass
class Outcome:
    """How a start ended: ssh's exit status and error output, and how many tries it took."""

    code: int
    stderr: str
    tries: int = 1
    seconds: float = 0.0

    def explained(self) -> str:
        """The error output, with what otter tried when every try was dropped."""
        if not dropped(self.code, self.stderr):
            return self.stderr
        return (f"the server closed the connection before authenticating, on each of "
                f"{self.tries} tries over {self.seconds:.0f}s (is sshd running there? or too "
                f"many connections starting at once: sshd's MaxStartups; fewer at a time: "
                f"{STARTS_ENV}=N)\n"
                f"{self.stderr}")


@dataclass
class Starts:
    """The gate every connection start of one otter passes through (see the module)."""

    limit: int
    tries: int = TRIES
    budget: float = RETRY_SECONDS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _slots: threading.BoundedSemaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.limit)

    def in_flight(self) -> int:
        """Starts holding a slot now."""
        return self.limit - self._slots._value

    def attempt(self, start: Callable[[Callable[[], None]], tuple[int, str]]) -> Outcome:
        """Run `start(authenticated)` (-> exit status, stderr) holding a slot, which it may
        give back early by calling `authenticated()`; again after a pause while it is
        dropped, within the tries and seconds allowed."""
        began, pause = self.clock(), FIRST_PAUSE
        for number in range(1, self.tries + 1):
            with _Slot(self._slots) as slot:
                code, stderr = start(slot.give_back)
            waited = self.clock() - began
            if not dropped(code, stderr) or number == self.tries:
                return Outcome(code, stderr, number, waited)
            import random  # a dropped start only
            wait = pause * (1 + random.random())  # jitter: not every host again at once
            if waited + wait > self.budget:
                return Outcome(code, stderr, number, waited)
            self.sleep(wait)
            pause = min(pause * 2, MAX_PAUSE)
        raise AssertionError("unreachable")


class _Slot:
    """One slot of the gate, given back once however many times (and threads) ask."""

    def __init__(self, slots: threading.BoundedSemaphore):
        self._slots, self._lock, self._held = slots, threading.Lock(), False

    def __enter__(self) -> "_Slot":
        self._slots.acquire()
        self._held = True
        return self

    def give_back(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._slots.release()

    def __exit__(self, *_exc: object) -> None:
        self.give_back()


_shared: list[Starts] = []
_lock = threading.Lock()


def starts() -> Starts:
    """This process's gate, made on first use with start_limit()."""
    with _lock:
        if not _shared:
            _shared.append(Starts(start_limit()))
        return _shared[0]
