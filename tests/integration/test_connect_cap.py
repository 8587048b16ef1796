"""A real sshd that drops connection starts (MaxStartups 2:100:2: two unauthenticated
connections at a time), both its start slots held by TCP connections that never send a
banner: `otter exec`
is dropped, tries again with backoff and runs once the slot frees; if it never frees, otter
gives up within its bounds with an error naming the host. A throwaway sshd on this machine
(the same OpenSSH as the test hosts), so no shared test host's sshd_config is touched.

sshd counts a start as ended a moment after the client sees it authenticated (its child
tells the listener), longer on a loaded machine; so the tests count sshd's own log lines
(each dropped start, each authenticated connection) between marks taken while nothing of
another test can still be starting, rather than expecting sshd's throttling summary."""
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

from otterfile.executors.ssh import free_port
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


def drops(world, mark: int, end: int | None = None) -> int:
    """Starts sshd dropped (LogLevel VERBOSE logs each) between log offsets `mark` and `end`."""
    text = world["log"].read_text(errors="replace")[mark:end]
    return len(re.findall(r"drop connection #\d+ .* past MaxStartups", text))


def accepted(world, mark: int) -> int:
    """Connections that authenticated after log offset `mark`."""
    return world["log"].read_text(errors="replace")[mark:].count("Accepted publickey")


def drops_seen(world, mark: int, count: int, timeout: float = 60) -> None:
    """Until sshd has logged `count` dropped starts after log offset `mark` (LogLevel
    VERBOSE logs each drop as it happens)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = drops(world, mark)
        if seen >= count:
            return
        assert time.monotonic() < deadline, \
            f"sshd dropped {seen} starts, not {count}:\n{world['log'].read_text()[mark:]}"
        time.sleep(0.1)


def log_size(world) -> int:
    return len(world["log"].read_text(errors="replace"))


def test_a_dropped_start_is_tried_again_until_the_slot_frees(world):
    with start_slots_held(world["port"]):
        mark = log_size(world)  # after the holding: a probe of it may have been dropped
        refused = plain_ssh(world)  # the server really drops a start now
        assert refused.returncode == 255 and "kex_exchange_identification" in refused.stderr
        otter = otter_exec(world, "echo", "through")
        drops_seen(world, mark, 1 + 2)  # plain ssh's, and otter's first two tries
        assert otter.poll() is None, otter.communicate()  # still trying
    out, err = otter.communicate(timeout=60)  # the slots are free: otter's next try gets in
    assert otter.returncode == 0, err
    assert "box | through" in out
    assert "kex_exchange_identification" not in out + err  # a dropped try says nothing
    assert accepted(world, mark) == 1  # otter's try that got in, and no other


def test_a_slot_that_never_frees_ends_in_a_clear_error_within_bounds(world):
    with start_slots_held(world["port"]):
        mark = log_size(world)
        otter = otter_exec(world, "true")
        out, err = otter.communicate(timeout=90)  # bounded: no try starts after 30 s
        end = log_size(world)  # sshd logs a drop before it closes: every try is in
    assert otter.returncode != 0
    assert "cannot connect to box (root@127.0.0.1:" in err, out + err  # below the table
    assert "the server closed the connection before authenticating, on each of 6 tries" in err
    assert "OTTER_SSH_STARTS" in err
    assert drops(world, mark, end) == 6  # each of otter's tries, and no more
    assert accepted(world, mark) == 0


def test_many_commands_at_once_against_one_start_slot(world):
    """Twelve threads' first commands to one host start one master (the others wait for
    it, not for sshd): one connection authenticates, however sshd's slots were left."""
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
    assert accepted(world, mark) == 1


HOSTS = 8
FLEET = '''
from otterfile import *

@target
def fleet():
    return [ssh(f"root@127.0.0.1:{{port}}", identity_file={key!r}, known_hosts={known!r})
            for port in {ports!r}]

@deployment
def production():
    return Deployment(artifact=build(path=".", command="true", image="x"),
                      runtime=docker(port=80), targets=["fleet"])
'''


@pytest.fixture(scope="module")
def wide_sshd(tmp_path_factory):
    """One sshd listening on HOSTS ports (HOSTS hosts to otter) that keeps three
    connections starting at a time and drops every other one."""
    require_sshd()
    ports = [free_port() for _ in range(HOSTS - 1)]
    extra = "".join(f"Port {port}\n" for port in ports)
    with private_sshd(tmp_path_factory.mktemp("wide"),
                      "MaxStartups 3:100:3\nLogLevel VERBOSE\n" + extra) as found:
        ports.insert(0, found["port"])
        host_key = (found["dir"] / "host_key.pub").read_text().strip()
        known = found["dir"] / "known_fleet"
        known.write_text("".join(f"[127.0.0.1]:{port} {host_key}\n" for port in ports))
        yield {**found, "ports": ports, "known": known}


def test_the_start_cap_holds_against_a_fleet(tmp_path, wide_sshd):
    """OTTER_SSH_STARTS=2 against sshd's three start slots: HOSTS hosts at once, and sshd
    drops (next to) nothing. Without the cap the first burst alone is dropped HOSTS - 3
    times. One drop is allowed: sshd may count an authenticated start a moment longer than
    the client does (its listener learns it from a pipe), and a loaded machine stretches
    that moment."""
    keys = wide_sshd["dir"]
    (tmp_path / "Otterfile.py").write_text(FLEET.format(
        key=str(keys / "client_key"), known=str(wide_sshd["known"]), ports=wide_sshd["ports"]))
    world = {"dir": tmp_path, "runtime": Path(tempfile.mkdtemp(prefix="otter-cap-", dir="/tmp")),
             "log": wide_sshd["log"]}
    mark = log_size(world)
    try:
        otter = subprocess.Popen(
            [sys.executable, "-m", "otterfile", "-f", str(tmp_path / "Otterfile.py"), "exec",
             "production", "--", "echo", "in"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=tmp_path,
            env=otter_env(OTTER_SSH_PERSIST="0", OTTER_SSH_STARTS="2",
                          XDG_RUNTIME_DIR=str(world["runtime"])))
        out, err = otter.communicate(timeout=120)
    finally:
        shutil.rmtree(world["runtime"], ignore_errors=True)
    assert otter.returncode == 0, out + err
    assert out.count("| in") == HOSTS
    assert accepted(world, mark) == HOSTS
    assert drops(world, mark) <= 1, world["log"].read_text()[mark:]
