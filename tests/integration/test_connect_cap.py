"""A real sshd that drops connection starts (MaxStartups 2:100:2: two unauthenticated
connections at a time), both its start slots held by TCP connections that never send a
banner: `otter exec`
is dropped, tries again with backoff and runs once the slot frees; if it never frees, otter
gives up within its bounds with an error naming the host. A throwaway sshd on this machine
(the same OpenSSH as the test hosts), so no shared test host's sshd_config is touched."""
from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.deploy import otter_env
from tests.integration.test_ssh_executor import private_sshd, require_sshd
from tests.integration.test_ssh_persist import OTTERFILE  # one box over a private sshd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tight_sshd(tmp_path_factory):
    """An sshd that keeps two connections starting at a time and drops every other one.
    (Two, not one: sshd logs how many it dropped when it leaves throttling, which it does
    only below MaxStartups' first number minus one.)"""
    require_sshd()
    with private_sshd(tmp_path_factory.mktemp("tight"),
                      "MaxStartups 2:100:2\nLoginGraceTime 60\nLogLevel VERBOSE\n") as found:
        yield found


@pytest.fixture
def world(tmp_path, tight_sshd):
    runtime = Path(tempfile.mkdtemp(prefix="otter-cap-", dir="/tmp"))  # short: socket paths
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(
        port=tight_sshd["port"], key=str(tight_sshd["dir"] / "client_key"),
        known=str(tight_sshd["dir"] / "known_hosts")))
    yield {**tight_sshd, "keys": tight_sshd["dir"], "dir": tmp_path, "runtime": runtime}
    shutil.rmtree(runtime, ignore_errors=True)


@contextlib.contextmanager
def start_slots_held(port: int) -> Iterator[None]:
    """Both start slots taken by TCP connections that read sshd's banner and say nothing
    (each counts as starting until LoginGraceTime), given back at the end."""
    held: list[socket.socket] = []
    try:
        for _ in range(100):  # the fixture's probe or the test before may hold one a moment
            if len(held) == 2:
                break
            one = socket.create_connection(("127.0.0.1", port), timeout=10)
            if one.recv(64).startswith(b"SSH-2.0-"):  # accepted: a slot taken
                held.append(one)
            else:  # "Exceeded MaxStartups": not yet
                one.close()
                time.sleep(0.1)
        assert len(held) == 2, "sshd never gave both start slots"
        yield
    finally:
        for one in held:
            one.close()


def plain_ssh(world) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(world["keys"] / "client_key"), "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={world['keys'] / 'known_hosts'}", "-p", str(world["port"]),
         "root@127.0.0.1", "true"], capture_output=True, text=True, timeout=30)


def otter_exec(world, *command: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "otterfile", "-f", str(world["dir"] / "Otterfile.py"), "exec",
         "production", "--", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=world["dir"],
        env=otter_env(OTTER_SSH_PERSIST="0", XDG_RUNTIME_DIR=str(world["runtime"])))


def dropped_since(world, mark: int) -> int:
    """Connections sshd dropped in the throttling that ended after log offset `mark` (it
    says how many when a connection is next accepted with no other one starting)."""
    found = re.findall(r"exited MaxStartups throttling after \S+, (\d+) connections dropped",
                       world["log"].read_text(errors="replace")[mark:])
    assert found, "sshd has not left throttling"
    return sum(int(n) for n in found)


def drops_seen(world, mark: int, count: int, timeout: float = 60) -> None:
    """Until sshd has logged `count` dropped starts after log offset `mark` (LogLevel
    VERBOSE logs each drop as it happens)."""
    deadline = time.monotonic() + timeout
    while True:
        text = world["log"].read_text(errors="replace")[mark:]
        seen = len(re.findall(r"drop connection #\d+ .* past MaxStartups", text))
        if seen >= count:
            return
        assert time.monotonic() < deadline, f"sshd dropped {seen} starts, not {count}:\n{text}"
        time.sleep(0.1)


def log_size(world) -> int:
    return len(world["log"].read_text(errors="replace"))


def test_a_dropped_start_is_tried_again_until_the_slot_frees(world):
    mark = log_size(world)
    with start_slots_held(world["port"]):
        refused = plain_ssh(world)  # the server really drops a start now
        assert refused.returncode == 255 and "kex_exchange_identification" in refused.stderr
        otter = otter_exec(world, "echo", "through")
        drops_seen(world, mark, 1 + 2)  # plain ssh's, and otter's first two tries
        assert otter.poll() is None, otter.communicate()  # still trying
    out, err = otter.communicate(timeout=60)  # the slots are free: otter's next try gets in
    assert otter.returncode == 0, err
    assert "box | through" in out
    assert "kex_exchange_identification" not in out + err  # a dropped try says nothing
    assert dropped_since(world, mark) >= 1 + 2  # plain ssh's, and otter's first two tries


def test_a_slot_that_never_frees_ends_in_a_clear_error_within_bounds(world):
    mark = log_size(world)
    with start_slots_held(world["port"]):
        otter = otter_exec(world, "true")
        out, err = otter.communicate(timeout=90)  # bounded: no try starts after 30 s
    assert otter.returncode != 0
    assert "cannot connect to box (root@127.0.0.1:" in err, out + err  # below the table
    assert "the server closed the connection before authenticating, on each of 6 tries" in err
    assert "OTTER_SSH_STARTS" in err
    assert plain_ssh(world).returncode == 0  # accepted: sshd says how many it dropped
    assert dropped_since(world, mark) == 6  # each of otter's tries, and no more


def test_many_commands_at_once_against_one_start_slot(world):
    """Twelve threads' first commands to one host start one master (the others wait for
    it, not for sshd), so even MaxStartups 1 drops nothing."""
    from otterfile.command import cmd
    from otterfile.executors.ssh import SSHExecutor
    from otterfile.hosts import SSHHost
    mark = log_size(world)
    ex = SSHExecutor(SSHHost(hostname="127.0.0.1", port=world["port"], user="root",
                             identity_file=str(world["keys"] / "client_key"),
                             known_hosts=str(world["keys"] / "known_hosts")))
    barrier, results = threading.Barrier(12), []

    def work(i: int) -> None:
        barrier.wait()
        results.append(ex.run(cmd("echo", str(i))))
    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        ex.close()
    assert sorted(int(r.stdout) for r in results) == list(range(12))
    assert "MaxStartups" not in world["log"].read_text(errors="replace")[mark:]
