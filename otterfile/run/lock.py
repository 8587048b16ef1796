"""The deploy lock of one deployment on one target, held for a whole run.

A background thread refreshes its heartbeat while held; a lock whose heartbeat is
older than `stale_seconds` (its holder died) is taken over by the next run. Who holds it,
and the error a held lock raises, are in lock_holder.py.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable

from otterfile.command import Command
from otterfile.commands import lock as commands
from otterfile.errors import ExecutionError
from otterfile.executors.base import Executor, Result
from otterfile.run.lock_holder import (LockHeld, LockInfo, controller_identity, holder_is_dead,
                                       new_run_id, parse_fields)
from otterfile.run.state import DEFAULT_BASE

RETIRE_POLL = 0.25  # seconds between looks while a background retire holds the lock


def split_locked(result: Result, take: Command, then: Command) -> tuple[Result, Result | None]:
    """What `commands.acquire_then` did, as the results of its two halves: the lock's, and
    `then`'s (None when the lock was not taken: held, or the lock script failed)."""
    lines = result.stdout.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if line.rstrip("\n") == commands.LOCKED_MARK:
            before, after = "".join(lines[:number]), "".join(lines[number + 1:])
            return (Result(take, 0, before, "", result.duration, result.host),
                    Result(then, result.exited, after, result.stderr, result.duration,
                           result.host))
    return Result(take, result.exited, result.stdout, result.stderr, result.duration,
                  result.host), None


class DeployLock:
    """The deploy lock of `deployment` on the host `executor` reaches."""

    def __init__(self, executor: Executor, deployment: str, *, holder: str | None = None,
                 run_id: str | None = None, base: str = DEFAULT_BASE, stale_seconds: int = 30,
                 heartbeat_seconds: float = 5, retire_wait: float = 0,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 on_wait: Callable[[LockInfo], None] | None = None):
        if heartbeat_seconds * 3 > stale_seconds:
            raise ValueError("heartbeat_seconds must be at most a third of stale_seconds")
        self.executor, self.deployment, self.base = executor, deployment, base
        self.holder = holder or controller_identity()
        self.run_id = run_id or new_run_id()
        self.stale_seconds, self.heartbeat_seconds = stale_seconds, heartbeat_seconds
        # how long a run waits for the background retire of the run before it, whatever
        # --lock-wait says (run/retire_later.py: its bound)
        self.retire_wait = retire_wait
        self._sleep, self._clock, self._on_wait = sleep, clock, on_wait  # told once per wait
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.held = False
        self.took_over: LockInfo | None = None  # a dead holder's lock released for us
        self.lost = False  # set when a heartbeat found the lock taken from us

    @property
    def host(self) -> str:
        return self.executor.host.name

    def _run(self, command: Command) -> Result:
        return self._checked(self.executor.run(command, timeout=60), command)

    def _checked(self, result: Result, command: Command) -> Result:
        if not result.ok:
            what = result.tail(5) or f"exited {result.exited}"
            raise ExecutionError(f"{self.host}: {command.description}: {what}")
        return result

    def acquire(self, wait_seconds: float = 0, poll_seconds: float = 2) -> LockInfo | None:
        """Take the lock, polling up to `wait_seconds` while another run holds it.

        Returns the dead holder's info when a stale lock was taken over, else None.
        Raises LockHeld naming the holder and since when.
        """
        return self._acquire(None, wait_seconds, poll_seconds)[0]

    def acquire_then(self, then: Command, wait_seconds: float = 0,
                     poll_seconds: float = 2, unless: Command | None = None
                     ) -> tuple[LockInfo | None, Result]:
        """`acquire`, and run `then` once the lock is ours, in the same round trip: (the
        dead holder's info or None, `then`'s result, which the caller checks). `then` never
        runs without the lock; a held lock raises LockHeld as `acquire` does. `unless`
        (commands.lock.acquire_then) runs before `then` and may answer instead of it."""
        took_over, result = self._acquire(then, wait_seconds, poll_seconds, unless)
        if result is None:  # this very run held it already: `then` on its own
            result = self.executor.run(then)
        return took_over, result

    def _acquire(self, then: Command | None, wait_seconds: float, poll_seconds: float,
                 unless: Command | None = None) -> tuple[LockInfo | None, Result | None]:
        command = commands.acquire(self.deployment, holder=self.holder, pid=os.getpid(),
                                   run_id=self.run_id, stale_seconds=self.stale_seconds,
                                   base=self.base)
        both = commands.acquire_then(command, then, unless) if then is not None else None
        started, told = self._clock(), False
        while True:
            if both is None or then is None:
                taken, after = self._run(command), None
            else:
                taken, after = split_locked(self.executor.run(both, timeout=60), command, then)
                self._checked(taken, command)
            fields = parse_fields(taken.stdout)
            if fields.get("status") == "acquired":
                self._start_heartbeat()
                if self.took_over is not None:
                    return self.took_over, after
                if "took_over" not in fields:
                    return None, after
                return LockInfo.from_fields({"holder": fields["took_over"], "stale": "1",
                                             "since": fields.get("took_over_since", "")}), after
            held = LockInfo.from_fields(fields)
            if held.run == self.run_id:  # this very run holds it: never a conflict
                return None, None
            if holder_is_dead(held):  # killed on this machine: no need to wait 30 s
                self._run(commands.release(self.deployment, held.run, base=self.base))
                self.took_over = held
                continue
            waited = self._clock() - started
            # the run before retires its old release in the background: wait for it
            limit = max(wait_seconds, self.retire_wait) if held.retiring else wait_seconds
            if waited >= limit:
                raise LockHeld(self.deployment, self.host, held, waited)
            if self._on_wait is not None and not told:
                self._on_wait(held)
                told = True
            poll = min(poll_seconds, RETIRE_POLL) if held.retiring else poll_seconds
            self._sleep(min(poll, limit - waited))

    def _start_heartbeat(self) -> None:
        self.held, self.lost = True, False
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name=f"otter-lock-{self.deployment}-{self.host}")
        self._thread.start()

    def _beat(self) -> None:
        command = commands.heartbeat(self.deployment, self.run_id, base=self.base)
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                result = self.executor.run(command, timeout=self.heartbeat_seconds * 2)
            except Exception:  # a transient connection problem: the next beat retries
                continue
            if result.exited == commands.EXIT_HELD:
                self.lost = True
                return

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_seconds * 2 + 5)
            self._thread = None

    def release(self, first: Command | None = None) -> bool:
        """Remove the lock if this run still holds it; False when it was not ours. `first`
        (a deploy-log append) runs before, in the same round trip, whatever it does; when
        the lock is not held, on its own."""
        self._stop_heartbeat()
        if not self.held:
            if first is not None:
                self.executor.run(first)
            return False
        self.held = False
        release = commands.release(self.deployment, self.run_id, base=self.base)
        result = self._run(commands.release_after(first, release) if first else release)
        return parse_fields(result.stdout).get("status") in ("released", "free")

    def release_command(self) -> Command:
        """The command that removes the lock, for a caller that runs it in a round trip
        of its own and then calls `released_there` (the heartbeat beats on until then: the
        round trip may take a while, and a beat after the removal changes nothing)."""
        return commands.release(self.deployment, self.run_id, base=self.base)

    def released_there(self) -> None:
        """The target released the lock itself: in the round trip that took it (a no-op
        decided there, run/noop.py) or in one of the caller's (`release_command`); the
        heartbeat stops, nothing is sent."""
        self._stop_heartbeat()
        self.held = False

    def force_release(self) -> LockInfo | None:
        """Remove the lock whoever holds it (`otter unlock`); returns who held it."""
        result = self._run(commands.force_release(self.deployment, base=self.base,
                                                  stale_seconds=self.stale_seconds))
        fields = parse_fields(result.stdout)
        return LockInfo.from_fields(fields) if "holder" in fields else None

    def __enter__(self) -> DeployLock:
        if not self.held:
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
