"""Builders for the deploy lock: a folder `<state dir>/lock` made with an atomic mkdir.

It holds `info` (holder, pid, since, run id) and `heartbeat` (epoch seconds on the
target, refreshed by the holder). Times are the target's clock, so no skew.
Every script prints `key=value` lines; see `otterfile.run.lock_holder.parse_fields`.
"""
from __future__ import annotations

from dataclasses import replace

from otterfile.command import Command, script
from otterfile.scripts import load
from otterfile.run.state import DEFAULT_BASE, state_dir

EXIT_HELD = 3  # acquire: held by another run; heartbeat/release: the lock is not ours
EXIT_CHANGED = 10  # acquire_then's `unless`: the target differs, `then` runs
LOCKED_MARK = "--- otter:locked"  # acquire_then: the lock is ours; what follows is `then`'s

_COMMON = load("lock/common.sh")  # the functions the acquire and force scripts include
ACQUIRE_SCRIPT = _COMMON + load("lock/acquire.sh")
HEARTBEAT_SCRIPT = load("lock/heartbeat.sh")
RELEASE_SCRIPT = load("lock/release.sh")
FORCE_SCRIPT = _COMMON + load("lock/force.sh")


def acquire(deployment: str, *, holder: str, pid: int, run_id: str, stale_seconds: int = 30,
            base: str = DEFAULT_BASE) -> Command:
    """Take the lock, or take over one whose heartbeat is older than `stale_seconds`.
    Exit 0 `status=acquired` (+ `took_over=...`), exit 3 `status=held` with the holder."""
    return script(ACQUIRE_SCRIPT, ok_codes=(0, EXIT_HELD),
                  args=[state_dir(deployment, base), holder, str(pid), run_id,
                        str(int(stale_seconds))],
                  description=f"lock {deployment}")


def acquire_then(take: Command, then: Command, unless: Command | None = None) -> Command:
    """One round trip: `take` (from `acquire`) and, only when it took the lock, `then`
    after a `LOCKED_MARK` line; the exit status is `take`'s until the mark, then `then`'s
    (see `otterfile.run.lock.split_locked`). Held or failed: `then` never runs. `unless`
    (run/noop.py) runs first under the lock: its exit 10 runs `then`, any other ends the
    trip with its output and status (0: the target found nothing to do)."""
    if then.stdin is not None:
        raise ValueError("the command run under a lock reads no stdin")
    gate = "" if unless is None else \
        f'{unless.shell_line()} </dev/null; rc=$?; [ "$rc" -eq {EXIT_CHANGED} ] || exit "$rc"; '
    return script(f'{take.shell_line()} </dev/null; rc=$?; [ "$rc" -eq 0 ] || exit "$rc"; '
                  f'echo "{LOCKED_MARK}"; {gate}{then.shell_line()}',
                  ok_codes=tuple(dict.fromkeys(take.ok_codes + then.ok_codes)),
                  description=f"{take.description}; "
                              f"{unless.description + ', else ' if unless else ''}"
                              f"{then.description}", writes=then.writes)


def release_after(first: Command, release_lock: Command) -> Command:
    """One round trip: `first` (a deploy-log append: its failure is said on stderr, not
    fatal), then `release_lock` whatever `first` did; the exit status is the release's."""
    if first.stdin is not None:
        raise ValueError("the command run before the unlock reads no stdin")
    return script(f'{first.shell_line()} </dev/null || echo "otter: $1 failed (exit $?)" >&2; '
                  f'{release_lock.shell_line()}', args=[first.description],
                  ok_codes=release_lock.ok_codes,
                  description=f"{first.description}; {release_lock.description}",
                  writes=first.writes)


def heartbeat(deployment: str, run_id: str, *, base: str = DEFAULT_BASE) -> Command:
    """Refresh the lock's heartbeat if `run_id` still holds it (else exit 3)."""
    return script(HEARTBEAT_SCRIPT, args=[state_dir(deployment, base), run_id],
                  ok_codes=(0, EXIT_HELD), description=f"lock heartbeat {deployment}")


def release(deployment: str, run_id: str, *, base: str = DEFAULT_BASE) -> Command:
    """Remove the lock if `run_id` holds it (exit 3 `status=not-ours` otherwise)."""
    return script(RELEASE_SCRIPT, args=[state_dir(deployment, base), run_id],
                  ok_codes=(0, EXIT_HELD), description=f"unlock {deployment}")


def force_release(deployment: str, *, stale_seconds: int = 30,
                  base: str = DEFAULT_BASE) -> Command:
    """Remove the lock whoever holds it (`otter unlock`); prints who held it."""
    return script(FORCE_SCRIPT, args=[state_dir(deployment, base), str(int(stale_seconds))],
                  description=f"force unlock {deployment}")


def guarded(receive: Command, deployment: str, run_id: str, *, stale_seconds: int = 30,
            base: str = DEFAULT_BASE) -> Command:
    """`receive` (it reads what the ship stage streams) stopped when the run `run_id` is
    gone: its lock on `deployment` another's, or its heartbeat older than `stale_seconds`.
    A connection lost without a word leaves no load waiting on its input for hours."""
    return replace(script(load("feed-watch.sh") + load("receive-guard.sh"),
                          args=[f"{state_dir(deployment, base)}/lock", run_id,
                                str(int(stale_seconds)), "sh", "-c", receive.shell_line()],
                          description=receive.description),
                   stdin=receive.stdin, ok_codes=receive.ok_codes, file=receive.file,
                   writes=receive.writes)
