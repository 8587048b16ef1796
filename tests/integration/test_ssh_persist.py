"""Kept SSH masters: `exec` and `status` after a first command reuse its connection (no new
TCP connection to sshd), a changed identity_file gets a master of its own, persistence off
leaves no master behind. Against the throwaway sshd of test_ssh_executor (this machine)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.deploy import otter_env
from tests.integration.test_ssh_executor import (_kill_once_running, _processes_mentioning,
                                                  sshd)  # noqa: F401

pytestmark = pytest.mark.integration

OTTERFILE = '''
from otterfile import *

@target
def box():
    return ssh("root@127.0.0.1:{port}", identity_file={key!r}, known_hosts={known!r})

@deployment
def production():
    return Deployment(artifact=build(path=".", command="true", image="x"),
                      runtime=docker(port=80), targets=["box"])
'''


@pytest.fixture
def world(tmp_path, sshd):  # noqa: F811
    """An Otterfile for the sshd and a private socket folder; masters started here are
    ended afterwards (they outlive otter by design)."""
    runtime = Path(tempfile.mkdtemp(prefix="otter-it-", dir="/tmp"))  # short: socket paths
    key = tmp_path / "key"
    shutil.copy(sshd["dir"] / "client_key", key)
    key.chmod(0o600)
    write(tmp_path, sshd, key)
    yield {"dir": tmp_path, "runtime": runtime, "key": key}
    for socket in (runtime / "otter-ssh").glob("*"):
        if not socket.name.endswith(".lock"):
            subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "x"],
                           capture_output=True, timeout=10)
    for pid in _processes_mentioning(str(runtime)):
        os.kill(pid, signal.SIGTERM)
    shutil.rmtree(runtime, ignore_errors=True)


def write(folder: Path, sshd, key: Path) -> None:  # noqa: F811
    (folder / "Otterfile.py").write_text(OTTERFILE.format(
        port=sshd["port"], key=str(key), known=str(sshd["dir"] / "known_hosts")))


def otter(world, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The otter command line as a user runs it: masters kept (the default, 60 s)."""
    env = {"OTTER_SSH_PERSIST": "60", **env}  # conftest turns keeping off for other tests
    return subprocess.run(
        [sys.executable, "-m", "otterfile", "-f", str(world["dir"] / "Otterfile.py"), *args],
        capture_output=True, text=True, timeout=60, cwd=world["dir"],
        env=otter_env(XDG_RUNTIME_DIR=str(world["runtime"]), **env))


def connections(port: int) -> set[str]:
    """Established TCP connections to sshd's port: each one a connection (not a session)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[-2] for line in out.splitlines() if line.strip()}


def masters(world) -> list[int]:
    return _processes_mentioning(str(world["runtime"] / "otter-ssh"))


def test_exec_and_status_reuse_a_kept_master(world, sshd):  # noqa: F811
    first = otter(world, "exec", "production", "--", "echo", "one")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "box | one" in first.stdout
    kept = connections(sshd["port"])
    assert len(kept) == 1 and len(masters(world)) == 1  # the master outlived otter
    folder = world["runtime"] / "otter-ssh"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"

    again = otter(world, "exec", "production", "--", "echo", "two")
    assert again.returncode == 0 and "box | two" in again.stdout, again.stdout + again.stderr
    status = otter(world, "status", "production")
    assert status.returncode in (0, 1) and "box" in status.stdout, status.stdout + status.stderr
    assert connections(sshd["port"]) == kept  # the same TCP connection: no new one


def test_a_changed_identity_file_gets_its_own_master(world, sshd):  # noqa: F811
    assert otter(world, "exec", "production", "--", "true").returncode == 0
    before = connections(sshd["port"])
    other = world["dir"] / "other_key"
    shutil.copy(world["key"], other)
    other.chmod(0o600)
    write(world["dir"], sshd, other)
    result = otter(world, "exec", "production", "--", "true")
    assert result.returncode == 0, result.stdout + result.stderr
    after = connections(sshd["port"])
    assert len(after) == 2 and before < after  # a second connection, the first untouched
    assert len(masters(world)) == 2


def test_persistence_off_leaves_no_master(world, sshd):  # noqa: F811
    base = connections(sshd["port"])
    for args, env in ((["--no-persist"], {}), ([], {"OTTER_SSH_PERSIST": "0"})):
        result = otter(world, *args, "exec", "production", "--", "true", **env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert masters(world) == [] and connections(sshd["port"]) == base


def test_a_master_whose_connection_died_is_replaced(world, sshd):  # noqa: F811
    assert otter(world, "exec", "production", "--", "true").returncode == 0
    (kept,) = connections(sshd["port"])
    # the server side of the kept connection goes away (as when a host restarts)
    subprocess.run(["ss", "-K", "state", "established", f"( sport = :{sshd['port']} )"],
                   capture_output=True, check=True)
    result = otter(world, "exec", "production", "--", "echo", "fresh")
    assert result.returncode == 0 and "box | fresh" in result.stdout, \
        result.stdout + result.stderr
    assert len(connections(sshd["port"])) == 1 and connections(sshd["port"]) != {kept}


def test_a_bad_persist_value_is_a_clear_error(world):
    result = otter(world, "exec", "production", "--", "true", OTTER_SSH_PERSIST="soon")
    assert result.returncode != 0
    assert "OTTER_SSH_PERSIST='soon': expected a number of seconds" in result.stderr


def test_a_killed_otter_ends_its_command_though_the_master_stays(world, sshd):  # noqa: F811
    assert otter(world, "exec", "production", "--", "true").returncode == 0  # a kept master
    marker = f"otter-kept-{time.monotonic_ns()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "otterfile", "-f", str(world["dir"] / "Otterfile.py"), "exec",
         "production", "--", f"sleep 300; : {marker}"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, cwd=world["dir"],
        env=otter_env(XDG_RUNTIME_DIR=str(world["runtime"]), OTTER_SSH_PERSIST="60"))
    _kill_once_running(process, f"sleep 300; : {marker}")
    assert len(masters(world)) == 1  # the kept master is still there for the next command
