"""Builders for the deploy lock: a folder `<state dir>/lock` made with an atomic mkdir.

It holds `info` (holder, pid, since, run id) and `heartbeat` (epoch seconds on the
target, refreshed by the holder). Times are the target's clock, so no skew.
Every script prints `key=value` lines; see `otterfile.lock.parse_fields`.
"""
from __future__ import annotations

from dataclasses import replace

from ..command import Command, script
from ..scripts import load
from ..state import DEFAULT_BASE, state_dir

EXIT_HELD = 3  # acquire: held by another run; heartbeat/release: the lock is not ours
LOCKED_MARK = "--- otter:locked"  # acquire_then: the lock is ours; what follows is `then`'s

_COMMON = r"""
lock="$d/lock"
field() { sed -n "s/^$1=//p" "$2/info" 2>/dev/null | head -n 1; }
describe() {  # the run id first: a heartbeat read later can only be as new or newer
  old_run=$(field run "$lock") old_holder=$(field holder "$lock")
  old_since=$(field since "$lock") old_pid=$(field pid "$lock")
  beat=$(cat "$lock/heartbeat" 2>/dev/null)
  case "$beat" in ''|*[!0-9]*) beat=$(stat -c %Y "$lock" 2>/dev/null || echo "$now") ;; esac
  age=$((now - beat))
}
report() {
  stale=0; [ "$age" -gt "${1:-30}" ] && stale=1
  printf 'holder=%s\npid=%s\nsince=%s\nrun=%s\nage=%s\nstale=%s\n' \
    "$old_holder" "$old_pid" "$old_since" "$old_run" "$age" "$stale"
}
"""

# $1 state dir, $2 holder, $3 pid, $4 run id, $5 stale seconds. Exit 0 taken, 3 held.
ACQUIRE_SCRIPT = r"""
d=$1 holder=$2 pid=$3 run=$4 limit=$5
umask 022; mkdir -p "$d" || exit 1; now=$(date +%s)
""" + _COMMON + r"""
take() {
  mkdir "$lock" 2>/dev/null || return 1
  printf 'holder=%s\npid=%s\nsince=%s\nrun=%s\n' "$holder" "$pid" "$now" "$run" \
    > "$lock/info" && echo "$now" > "$lock/heartbeat" || return 1
  printf 'status=acquired\nsince=%s\n' "$now"
}
take && exit 0
describe
if [ "$age" -gt "$limit" ]; then
  # take over one at a time (flock ends with its holder); look again once inside
  exec 9>"$d/.lock-takeover"; command -v flock >/dev/null 2>&1 && flock -w 10 9
  take && exit 0
  describe
  grave="$d/lock.stale.$run.$$"
  # rename the stale folder away (atomic), then mkdir as usual
  if [ "$age" -gt "$limit" ] && mv "$lock" "$grave" 2>/dev/null; then
    if [ "$(field run "$grave")" = "$old_run" ]; then
      rm -rf "$grave"
      if take; then
        printf 'took_over=%s\ntook_over_since=%s\n' "$old_holder" "$old_since"; exit 0
      fi
    elif [ ! -e "$lock" ]; then
      mv "$grave" "$lock"  # a fresh lock, not the stale one we saw: put it back
    fi
    describe
  fi
fi
echo "status=held"; report "$limit"
exit 3
"""

# $1 state dir, $2 run id. Exit 3 when the lock is no longer ours.
HEARTBEAT_SCRIPT = r"""
lock="$1/lock"
grep -qxF "run=$2" "$lock/info" 2>/dev/null || { echo "status=lost"; exit 3; }
date +%s > "$lock/heartbeat.tmp" && mv -f "$lock/heartbeat.tmp" "$lock/heartbeat"
"""

# $1 state dir, $2 run id. Exit 3 when another run holds it.
RELEASE_SCRIPT = r"""
lock="$1/lock"
[ -d "$lock" ] || { echo "status=free"; exit 0; }
grep -qxF "run=$2" "$lock/info" 2>/dev/null || { echo "status=not-ours"; exit 3; }
grave="$1/lock.released.$2.$$"
mv "$lock" "$grave" && rm -rf "$grave" && echo "status=released"
"""

# $1 state dir, $2 stale seconds. Prints the holder (if any) before removing the lock.
FORCE_SCRIPT = r"""
d=$1; now=$(date +%s)
""" + _COMMON + r"""
[ -d "$lock" ] || { echo "status=free"; exit 0; }
describe; report "$2"
grave="$d/lock.forced.$$"
mv "$lock" "$grave" && rm -rf "$grave" && echo "status=released"
"""

def acquire(deployment: str, *, holder: str, pid: int, run_id: str, stale_seconds: int = 30,
            base: str = DEFAULT_BASE) -> Command:
    """Take the lock, or take over one whose heartbeat is older than `stale_seconds`.
    Exit 0 `status=acquired` (+ `took_over=...`), exit 3 `status=held` with the holder."""
    return script(ACQUIRE_SCRIPT, ok_codes=(0, EXIT_HELD),
                  args=[state_dir(deployment, base), holder, str(pid), run_id,
                        str(int(stale_seconds))],
                  description=f"lock {deployment}")


def acquire_then(take: Command, then: Command) -> Command:
    """One round trip: `take` (from `acquire`) and, only when it took the lock, `then`
    after a `LOCKED_MARK` line; the exit status is `take`'s until the mark, then `then`'s
    (see `otterfile.lock.split_locked`). Held or failed: `then` never runs."""
    if then.stdin is not None:
        raise ValueError("the command run under a lock reads no stdin")
    return script(f'{take.shell_line()} </dev/null; rc=$?; [ "$rc" -eq 0 ] || exit "$rc"; '
                  f'echo "{LOCKED_MARK}"; {then.shell_line()}',
                  ok_codes=tuple(dict.fromkeys(take.ok_codes + then.ok_codes)),
                  description=f"{take.description}; {then.description}", writes=then.writes)


def release_after(first: Command, release_lock: Command) -> Command:
    """One round trip: `first` (a deploy-log append: its failure is said on stderr, not
    fatal), then `release_lock` whatever `first` did; the exit status is the release's."""
    if first.stdin is not None:
        raise ValueError("the command run before the unlock reads no stdin")
    return script(f'{first.shell_line()} </dev/null || echo "otter: {first.description} '
                  f'failed (exit $?)" >&2; {release_lock.shell_line()}',
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
    return replace(script(load("receive-guard.sh"),
                          args=[f"{state_dir(deployment, base)}/lock", run_id,
                                str(int(stale_seconds)), "sh", "-c", receive.shell_line()],
                          description=receive.description),
                   stdin=receive.stdin, ok_codes=receive.ok_codes, file=receive.file,
                   writes=receive.writes)
