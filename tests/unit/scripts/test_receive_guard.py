"""The guard around what receives a ship on a target (scripts/receive-guard.sh), run for
real with sh on this machine: it passes the stream and the exit status through, and stops
feeding a receiver whose run is gone (its lock's heartbeat stale, or the lock another's),
so the receiver sees the end of its input instead of waiting for hours."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from otterfile.command import script
from otterfile.commands.lock import guarded

pytestmark = pytest.mark.unit


def lock_folder(tmp_path, run: str = "r1", beat_age: int = 0):
    lock = tmp_path / "production" / "lock"
    lock.mkdir(parents=True)
    (lock / "info").write_text(f"holder=ann@laptop\npid=1\nsince=0\nrun={run}\n")
    (lock / "heartbeat").write_text(f"{int(time.time()) - beat_age}\n")
    return lock


def start(command, stdin) -> subprocess.Popen:
    return subprocess.Popen(command.argv_values(), stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def receive(tmp_path):
    return guarded(script('wc -c; exit 3', description="docker load"), "production", "r1",
                   base=str(tmp_path))


def test_the_stream_and_the_exit_status_pass_through(tmp_path):
    lock_folder(tmp_path)
    command = receive(tmp_path)
    assert command.description == "docker load"
    done = subprocess.run(command.argv_values(), input=b"x" * 3_000_000, capture_output=True,
                          timeout=60)
    assert (done.returncode, done.stdout.strip()) == (3, b"3000000")


@pytest.mark.parametrize("run,age", [("r1", 100), ("r2", 0)], ids=["quiet", "another's"])
def test_a_receiver_whose_run_is_gone_sees_the_end_of_its_input(tmp_path, run, age):
    lock_folder(tmp_path, run=run, beat_age=age)
    read, write = os.pipe()  # a connection that stays open and sends nothing more
    os.write(write, b"partial")
    process = start(receive(tmp_path), read)
    os.close(read)
    try:
        out, err = process.communicate(timeout=60)
    finally:
        os.close(write)
    assert process.returncode == 3 and int(out) <= 7  # fed no more: the end
    assert b"went quiet and no byte came for 2 s: receiving stopped" in err


def test_bytes_still_arriving_are_received_however_late_the_heartbeat(tmp_path):
    """A controller short of CPU beats late while its stream flows: nothing is cut."""
    import threading
    lock_folder(tmp_path, beat_age=100)
    read, write = os.pipe()
    process = start(receive(tmp_path), read)
    os.close(read)

    def send() -> None:
        for _ in range(12):  # 6 s of a slow stream, past three of the guard's polls
            os.write(write, b"x" * 4096)
            time.sleep(0.5)
        os.close(write)
    sender = threading.Thread(target=send)
    sender.start()
    out, _ = process.communicate(timeout=60)
    sender.join()
    assert (process.returncode, int(out)) == (3, 12 * 4096)


def test_a_live_run_keeps_feeding(tmp_path):
    lock_folder(tmp_path)
    read, write = os.pipe()
    process = start(receive(tmp_path), read)
    os.close(read)
    os.write(write, b"first ")
    os.write(write, b"second")
    os.close(write)
    out, _ = process.communicate(timeout=60)
    assert (process.returncode, out.strip()) == (3, b"12")


def test_the_flow_guards_what_receives_the_ship(tmp_path):
    from tests.unit.run.test_flow import answers, deploy
    outcome, target, engine = deploy(tmp_path, "docker", "caddy", answers())
    assert outcome.ok, outcome.errors
    load = next(c for c in target.commands if c.description == "docker load")
    args = load.argv_values()
    assert "went quiet" in args[2]  # the guard script
    assert args[4:7] == ["/var/lib/otter/production/lock", engine.run_id, "30"]
    from otterfile.runtimes.docker import RUNTIME
    artifact = next(iter(engine.artifacts.values()))  # the load, then the probe (load.sh)
    assert args[-1] == RUNTIME.receive(artifact).shell_line() and "docker" in args[-1]


def store_receive(tmp_path, data: bytes):
    """The store's receive of `data` (a tarball: unpacked as it arrives), guarded: it reads
    the stream itself and watches its own feed."""
    import hashlib
    from otterfile.commands import store
    from otterfile.transfer.unpacked import on_arrival
    source = tmp_path / "shipped.tgz"
    source.write_bytes(data)
    return guarded(store.receive(hashlib.sha256(data).hexdigest(), str(tmp_path / "store"),
                                 unpack=on_arrival(source)), "production", "r1",
                   base=str(tmp_path))


def test_the_store_receive_reads_the_stream_itself(tmp_path):
    from tests.unit.runtimes.test_systemd import APP, tar_gz
    lock_folder(tmp_path)
    data = tar_gz([APP, ("big", "file", "x" * 3_000_000)])
    command = store_receive(tmp_path, data)
    assert "OTTER_GUARD_LOCK" in command.argv_values()[9]  # the receive: told the lock
    done = subprocess.run(command.argv_values(), input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    stored = [p for p in (tmp_path / "store").iterdir() if p.is_file()]
    assert [p.read_bytes() for p in stored] == [data]


@pytest.mark.parametrize("run,age", [("r1", 100), ("r2", 0)], ids=["quiet", "another's"])
def test_a_store_receive_whose_run_is_gone_stops_and_leaves_nothing(tmp_path, run, age):
    from tests.unit.runtimes.test_systemd import APP, tar_gz
    lock_folder(tmp_path, run=run, beat_age=age)
    data = tar_gz([APP, ("big", "file", "x" * 3_000_000)])
    read, write = os.pipe()  # a connection that stays open and sends nothing more
    os.write(write, data[:5000])
    process = start(store_receive(tmp_path, data), read)
    os.close(read)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        os.close(write)
    assert process.returncode == 1
    assert b"went quiet and no byte came for 2 s: receiving stopped" in err
    store = tmp_path / "store"
    assert [p.name for p in store.iterdir()] == [".unpacked"]
    assert list((store / ".unpacked").iterdir()) == []
