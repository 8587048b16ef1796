"""The deploy lock's scripts run for real against a temp base folder with LocalExecutor."""
from __future__ import annotations

import os
import threading
import time

import pytest

from otterfile.commands import lock as commands
from otterfile.errors import ExecutionError
from otterfile.executors.local import LocalExecutor
from otterfile.run.lock import DeployLock
from otterfile.run.lock_holder import LockHeld, LockInfo, parse_fields

pytestmark = pytest.mark.unit


@pytest.fixture
def make(tmp_path):
    """Build DeployLocks on this machine under a temp base; releases them afterwards."""
    made: list[DeployLock] = []

    def build(holder: str = "ann@laptop", **kwargs) -> DeployLock:
        lock = DeployLock(LocalExecutor(), "production", holder=holder, base=str(tmp_path),
                          **kwargs)
        made.append(lock)
        return lock

    yield build
    for lock in made:
        lock._stop_heartbeat()


def lock_dir(tmp_path):
    return tmp_path / "production" / "lock"


def info(tmp_path) -> dict[str, str]:
    return parse_fields((lock_dir(tmp_path) / "info").read_text())


def make_stale(tmp_path, seconds_ago: int = 100) -> None:
    (lock_dir(tmp_path) / "heartbeat").write_text(f"{int(time.time()) - seconds_ago}\n")


def test_acquire_writes_holder_and_a_second_run_is_refused(make, tmp_path):
    first = make(run_id="run1")
    before = int(time.time())
    assert first.acquire() is None and first.held
    assert info(tmp_path) == {"holder": "ann@laptop", "pid": str(os.getpid()),
                              "since": info(tmp_path)["since"], "run": "run1"}
    with pytest.raises(LockHeld) as error:
        make("bob@ci").acquire()
    held = error.value.info
    assert held.holder == "ann@laptop" and held.run == "run1" and not held.stale
    assert before <= held.since <= int(time.time())  # this machine's clock, at acquire
    message = str(error.value)
    assert "locked by ann@laptop since" in message and "UTC" in message
    assert "otter unlock production" in message and message.startswith("local: ")


def test_wait_polls_until_the_holder_releases(make):
    first = make()
    first.acquire()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            first.release()

    told: list[LockInfo] = []
    second = make("bob@ci", sleep=sleep, on_wait=told.append)
    assert second.acquire(wait_seconds=60, poll_seconds=1) is None and second.held
    assert sleeps == [1, 1]
    assert [i.holder for i in told] == ["ann@laptop"]  # said once, naming the holder
    assert told[0].pid == str(os.getpid())


def test_wait_is_bounded(make):
    make().acquire()
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    second = make("bob@ci", sleep=sleep, clock=lambda: now[0])
    with pytest.raises(LockHeld, match=r"waited 5s"):
        second.acquire(wait_seconds=5, poll_seconds=2)
    assert now[0] == 5


def test_stale_lock_is_taken_over_and_the_old_holder_cannot_release_it(make, tmp_path):
    dead = make(run_id="dead")
    dead.acquire()
    dead._stop_heartbeat()  # its process "died"
    make_stale(tmp_path)
    taker = make("bob@ci", run_id="taker")
    took = taker.acquire()
    assert took.holder == "ann@laptop" and took.stale and took.since is not None
    assert info(tmp_path)["run"] == "taker"
    assert dead.release() is False
    assert info(tmp_path)["run"] == "taker"
    assert [n for n in os.listdir(tmp_path / "production") if n[0] != "."] == ["lock"]


def test_old_holder_not_ours_release_is_refused(tmp_path):
    run = LocalExecutor().run
    assert run(commands.acquire("production", holder="a", pid=1, run_id="one",
                                base=str(tmp_path))).exited == 0
    refused = run(commands.release("production", "two", base=str(tmp_path)))
    assert refused.exited == commands.EXIT_HELD and "not-ours" in refused.stdout
    assert lock_dir(tmp_path).is_dir()
    assert run(commands.release("production", "one", base=str(tmp_path))).exited == 0
    assert not lock_dir(tmp_path).exists()


def test_heartbeat_thread_refreshes_and_notices_a_lost_lock(make, tmp_path):
    holder = make(heartbeat_seconds=0.1, run_id="mine")
    holder.acquire()
    make_stale(tmp_path, 1000)
    deadline = time.monotonic() + 30  # a bound on the wait, not a timing claim
    while int((lock_dir(tmp_path) / "heartbeat").read_text()) < time.time() - 10:
        assert time.monotonic() < deadline, "the heartbeat was not refreshed"
        time.sleep(0.05)
    holder._stop_heartbeat()
    make_stale(tmp_path)
    make("bob@ci").acquire()
    holder._start_heartbeat()
    deadline = time.monotonic() + 30  # a bound on the wait, not a timing claim
    while not holder.lost:
        assert time.monotonic() < deadline, "the lost lock went unnoticed"
        time.sleep(0.05)
    assert holder.release() is False and info(tmp_path)["holder"] == "bob@ci"


def test_a_lock_without_heartbeat_counts_from_its_folder_time(make, tmp_path):
    lock_dir(tmp_path).mkdir(parents=True)  # a holder died between mkdir and writing info
    with pytest.raises(LockHeld) as error:
        make().acquire()
    assert error.value.info.holder == "unknown" and not error.value.info.stale
    old = time.time() - 100
    os.utime(lock_dir(tmp_path), (old, old))
    assert make().acquire().holder == "unknown"


def test_force_release_names_the_holder(make, tmp_path):
    before = int(time.time())
    make().acquire()
    removed = make("bob@laptop").force_release()
    after = int(time.time())
    assert removed.holder == "ann@laptop" and removed.age is not None
    assert 0 <= removed.age <= after - before  # from its heartbeat, on the same clock
    assert not lock_dir(tmp_path).exists()
    assert make("bob@laptop").force_release() is None


def test_only_one_of_many_contenders_wins(make, tmp_path):
    for stale in (False, True):
        if stale:
            make_stale(tmp_path)
        locks = [make(f"user{i}@host", heartbeat_seconds=10) for i in range(8)]
        outcomes: list[str] = []
        barrier = threading.Barrier(len(locks))

        def contend(lock: DeployLock) -> None:
            barrier.wait()
            try:
                lock.acquire()
                outcomes.append("won")
            except LockHeld:
                outcomes.append("held")

        threads = [threading.Thread(target=contend, args=(lock,)) for lock in locks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(outcomes) == ["held"] * 7 + ["won"], f"stale={stale}"
        winner = next(lock for lock in locks if lock.held)
        assert info(tmp_path)["run"] == winner.run_id
        for lock in locks:
            lock._stop_heartbeat()


def test_lock_info_parsing_and_command_shape():
    parsed = LockInfo.from_fields({"holder": "a@b", "since": "0", "age": "31", "stale": "1"})
    assert parsed == LockInfo("a@b", 0, "", "", 31, True)
    assert parsed.since_text == "1970-01-01 00:00:00 UTC"
    assert LockInfo.from_fields({}).since_text == "an unknown time"
    command = commands.acquire("production", holder="a b@c", pid=7, run_id="r", base="/x")
    assert command.argv[3:] == ("sh", "/x/production", "a b@c", "7", "r", "30")
    assert command.ok_codes == (0, 3)
    with pytest.raises(ValueError):
        DeployLock(LocalExecutor(), "production", stale_seconds=10, heartbeat_seconds=5)


def test_holder_is_dead_only_for_this_boot_and_a_gone_pid():
    import os
    import subprocess
    from otterfile.run.lock_holder import LockInfo, boot_tag, holder_is_dead
    done = subprocess.Popen(["true"])
    done.wait()
    mine = f"{boot_tag()}-abc"
    assert holder_is_dead(LockInfo("me@here", pid=str(done.pid), run=mine))
    assert not holder_is_dead(LockInfo("me@here", pid=str(os.getpid()), run=mine))
    assert not holder_is_dead(LockInfo("me@here", pid="1", run=mine))  # alive
    assert not holder_is_dead(LockInfo("x@elsewhere", pid=str(done.pid), run="ffffffff-abc"))


def test_a_lock_this_very_run_holds_is_no_conflict(make, tmp_path):
    first = make(run_id="00000000-samerun")
    first.acquire()
    second = make(run_id="00000000-samerun")  # the same run reaching the host again
    assert second.acquire() is None and not second.held  # only the first releases it
    with pytest.raises(LockHeld):
        make(run_id="00000000-otherrun").acquire()
    assert first.release()


# the lock and what runs under it in one round trip: acquire_then, release(first=...)

def marker_script(path, exit_code: int = 0):
    """A command that leaves `path` behind (so a test sees whether it ran) and prints."""
    from otterfile.command import script
    return script('echo ran > "$1"; printf "state=%s\\n" read; exit "$2"',
                  args=[str(path), str(exit_code)], description="read state")


def test_acquire_then_runs_the_read_only_once_the_lock_is_ours(make, tmp_path):
    first = make(run_id="run1")
    took_over, read = first.acquire_then(marker_script(tmp_path / "first"))
    assert took_over is None and first.held and (tmp_path / "first").exists()
    assert read.ok and read.stdout == "state=read\n" and read.command.description == "read state"
    with pytest.raises(LockHeld):  # refused: nothing is read, nothing changed
        make("bob@ci", run_id="run2").acquire_then(marker_script(tmp_path / "second"))
    assert not (tmp_path / "second").exists() and info(tmp_path)["run"] == "run1"
    assert first.release() and not lock_dir(tmp_path).exists()


def test_acquire_then_gives_the_reads_own_failure_and_keeps_the_lock(make, tmp_path):
    lock = make(run_id="run1")
    _, read = lock.acquire_then(marker_script(tmp_path / "ran", exit_code=4))
    assert read.exited == 4 and not read.ok and read.stdout == "state=read\n"
    assert lock.held and lock_dir(tmp_path).exists()  # the caller releases (stages.lock)
    assert lock.release() and not lock_dir(tmp_path).exists()


def test_acquire_then_after_a_stale_lock_and_a_lock_script_failure(make, tmp_path):
    make(run_id="gone").acquire()
    make_stale(tmp_path)
    late = make("bob@ci", run_id="run2")
    took_over, read = late.acquire_then(marker_script(tmp_path / "ran"))
    assert took_over.holder == "ann@laptop" and read.ok and (tmp_path / "ran").exists()
    assert late.release()
    (tmp_path / "ran").unlink()
    __import__("shutil").rmtree(tmp_path / "production")
    (tmp_path / "production").write_text("not a folder")  # mkdir of the state dir fails
    with pytest.raises(ExecutionError) as error:  # the lock script's failure, named
        make(run_id="run3").acquire_then(marker_script(tmp_path / "ran"))
    assert "lock production" in str(error.value) and not (tmp_path / "ran").exists()


def test_split_locked_needs_the_mark_on_its_own_line():
    from otterfile.executors.base import Result
    from otterfile.run.lock import split_locked
    take, then = commands.acquire("p", holder="h", pid=1, run_id="r"), marker_script("/x")
    both = commands.acquire_then(take, then)
    taken, read = split_locked(Result(both, 5, "status=acquired\n--- otter:locked\nA\n"
                                      "--- otter:locked\n", "oops", 1.5, "web1"), take, then)
    assert (taken.exited, taken.stdout, taken.ok) == (0, "status=acquired\n", True)
    assert (read.exited, read.stdout, read.stderr, read.host) == \
        (5, "A\n--- otter:locked\n", "oops", "web1")
    taken, read = split_locked(Result(both, 3, "status=held\nholder=x --- otter:locked\n"),
                               take, then)
    assert read is None and taken.exited == 3 and taken.command is take
    with pytest.raises(ValueError):
        commands.acquire_then(take, commands.release("p", "r").__class__(("cat",), stdin="x"))


def test_release_first_appends_and_releases_even_when_the_append_fails(make, tmp_path):
    from otterfile.commands import state as states
    lock = make(run_id="run1")
    lock.acquire()
    assert lock.release(first=states.append_log("production", '{"a": 1}',
                                                base=str(tmp_path)))
    assert (tmp_path / "production" / "deploy.log").read_text() == '{"a": 1}\n'
    assert not lock_dir(tmp_path).exists()
    lock = make(run_id="run2")
    lock.acquire()
    failing = marker_script(tmp_path / "appended", exit_code=1)
    assert lock.release(first=failing) and not lock_dir(tmp_path).exists()
    assert (tmp_path / "appended").exists()
    assert not lock.release(first=failing)  # not held: `first` alone, no unlock


def test_release_after_names_a_failed_first_step_as_an_argument_never_as_shell(tmp_path):
    from otterfile.command import script
    marker = tmp_path / "ran"
    first = script("exit 3", description=f"append $(touch {marker})")
    both = commands.release_after(first, script("echo released", description="unlock"))
    result = LocalExecutor().run(both)
    assert result.ok and result.stdout == "released\n"
    assert f"otter: append $(touch {marker}) failed (exit 3)" in result.stderr
    assert not marker.exists()


def test_a_release_run_by_the_caller_beats_until_released(make, tmp_path):
    """run/instant.py sends the release in a round trip of its own: the heartbeat goes on
    until `released_there`, which stops it; the lock is then free for the next run."""
    first = make(run_id="run1", stale_seconds=3, heartbeat_seconds=1)
    first.acquire()
    command = first.release_command()
    assert first.held and first._thread is not None and first._thread.is_alive()
    assert parse_fields(first.executor.run(command).stdout)["status"] == "released"
    first.released_there()
    assert not first.held and first._thread is None and not lock_dir(tmp_path).exists()
    assert make("bob@ci", run_id="run2").acquire() is None


def test_a_lock_seen_without_its_holder_is_looked_at_again_not_reported(make, tmp_path):
    """The lock went (a background retire released it) between acquire.sh's mkdir and its
    read of the holder, or is being taken: no holder is no holder. With lock_wait 0 the run
    looks again shortly on the target instead of failing on "locked by unknown" (seen in
    CI), in the same round trip."""
    lock_dir(tmp_path).mkdir(parents=True)  # a lock folder whose info is not written (yet)
    gone = threading.Timer(0.15, lock_dir(tmp_path).rmdir)  # gone: a later look takes it
    gone.start()
    sleeps: list[float] = []
    second = make("bob@ci", sleep=sleeps.append)
    try:
        assert second.acquire(wait_seconds=0) is None and second.held
    finally:
        gone.join()
    assert sleeps == [] and info(tmp_path)["holder"] == "bob@ci"


def test_a_lock_that_stays_without_a_holder_is_held_after_a_few_looks(make, tmp_path):
    lock_dir(tmp_path).mkdir(parents=True)
    started = time.monotonic()
    with pytest.raises(LockHeld, match="unknown"):
        make("bob@ci", sleep=lambda _: None).acquire(wait_seconds=0)
    assert time.monotonic() - started >= 0.5  # five looks on the target, 0.1 s apart
