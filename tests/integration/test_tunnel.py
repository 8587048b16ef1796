"""`otter tunnel` on real hosts, over the SSH master otter keeps: a GET through the tunnel
reaches a deployed release's port on the chosen target; Ctrl-C closes the local port and
leaves the (kept) master without a forward; a connection that goes away ends the tunnel
with exit 1 and closes its port too."""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from otterfile.executors.ssh import free_port
from tests.integration.deploy import finish, otter, otter_env, write_otterfile


@pytest.fixture
def control() -> Iterator[str]:
    """A private folder for the kept masters of this test's otters (XDG_RUNTIME_DIR); the
    masters left there are ended afterwards."""
    folder = tempfile.mkdtemp(prefix="ot-tun-")  # short: socket paths max ~100 bytes
    yield folder
    for socket_path in glob.glob(os.path.join(folder, "otter-ssh", "*")):
        if not socket_path.endswith(".lock"):
            subprocess.run(["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "x"],
                           capture_output=True, timeout=30)
    shutil.rmtree(folder, ignore_errors=True)


def start_tunnel(project: Path, control: str, *args: str) -> tuple[subprocess.Popen, dict]:
    """`otter --json tunnel ARGS` with masters kept (so that a forward left behind would
    stay listening), and its one `tunnel` event once the port is open."""
    env = otter_env(OTTER_SSH_PERSIST="120", XDG_RUNTIME_DIR=control)
    process = subprocess.Popen([sys.executable, "-m", "otterfile", "-f",
                                str(project / "Otterfile.py"), "--json", "tunnel", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=project)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        out, err = finish(process, 60)
        raise AssertionError(f"otter tunnel printed nothing: {out}{err}")
    return process, json.loads(line)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def master(control: str) -> tuple[str, int]:
    """(socket path, pid) of the one master kept in `control`."""
    sockets = [p for p in glob.glob(os.path.join(control, "otter-ssh", "*"))
               if not p.endswith(".lock")]
    assert len(sockets) == 1, sockets
    check = subprocess.run(["ssh", "-o", f"ControlPath={sockets[0]}", "-O", "check", "x"],
                           capture_output=True, text=True, timeout=30)
    found = re.search(r"pid=(\d+)", check.stdout + check.stderr)
    assert check.returncode == 0 and found, check.stderr
    return sockets[0], int(found.group(1))


def listeners_of(pid: int) -> list[str]:
    """The TCP ports process `pid` listens on (the master's forwards)."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if f"pid={pid}," in line]


def test_tunnel_to_a_release_port_and_ctrl_c_leaves_nothing(project, two, control):
    done = otter(project, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    status = otter(project, "--json", "status", "production")
    second = two[1].host.name
    ports = [e["live"]["port"] for e in map(json.loads, status.stdout.splitlines())
             if e.get("event") == "status" and e["host"] == second]
    assert len(ports) == 1, status.stdout + status.stderr
    local = free_port()

    process, event = start_tunnel(project, control, "production", str(ports[0]),
                                  "--target", second, "--local", str(local))
    try:
        assert event == {"v": 1, "event": "tunnel", "deployment": "production",
                         "host": second, "address": two[1].host.address,
                         "local": f"127.0.0.1:{local}", "local_port": local,
                         "remote_port": ports[0], "forwarded": True}
        answer = httpx.get(f"http://127.0.0.1:{local}/", timeout=10)
        assert (answer.status_code, answer.text.strip()) == (200, "v1")
        assert httpx.get(f"http://127.0.0.1:{local}/health", timeout=10).status_code == 200
        _, pid = master(control)
        assert listeners_of(pid) == [f"127.0.0.1:{local}"]
    finally:
        process.send_signal(signal.SIGINT)
        out, err = finish(process, 60)
    assert process.returncode == 0, out + err
    assert not listening(local)
    _, pid_after = master(control)  # the kept master lives on, with no forward left
    assert pid_after == pid and listeners_of(pid) == []


def test_a_lost_connection_ends_the_tunnel(tmp_path, clean_target, control):
    write_otterfile(tmp_path, [clean_target])
    process, event = start_tunnel(tmp_path, control, "production", "22")
    local = event["local_port"]
    try:
        with socket.create_connection(("127.0.0.1", local), timeout=10) as through:
            assert through.recv(64).startswith(b"SSH-2.0-")  # the host's own sshd
        path, _ = master(control)
        subprocess.run(["ssh", "-o", f"ControlPath={path}", "-O", "exit", "x"],
                       capture_output=True, timeout=30, check=True)
    finally:
        out, err = finish(process, 60)
    assert process.returncode == 1, out + err
    assert "lost the connection to" in err and "tunnel is closed" in err
    assert not listening(local)
