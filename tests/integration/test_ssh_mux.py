"""Commands as sessions of the kept master, asked for from otter's own process (executors/mux.py)
on the real test hosts: no ssh client per command, the same results as through an ssh client
(exit codes, signals, stdin, secrets, large output, timeouts), a master that answers otherwise
falls back to the ssh client, and `otter exec` and steps with mux on and off."""
from __future__ import annotations

import contextlib
import io
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from otterfile.command import Command
from otterfile.executors.ssh import SSHExecutor
from otterfile.secrets import Secret
from tests.integration.deploy import otter_env

pytestmark = pytest.mark.integration

BIG = 6 * 1024 * 1024


def ssh_children() -> list[int]:
    """This process's child processes that are ssh clients."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)
            name = fields[0].split("(", 1)[1]
            parent = int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and name == "ssh":
            found.append(int(entry))
    return found


def executor(target, tmp_path: Path, mux: str) -> SSHExecutor:
    """The executor with mux on ("1") or off ("0"); its control sockets in a short folder of
    /tmp (a socket's path has at most 107 bytes, which pytest's tmp_path under xdist outgrows)."""
    os.environ["OTTER_SSH_MUX"] = mux
    short = Path(tempfile.mkdtemp(prefix=f"om{mux}-", dir="/tmp"))
    try:
        return SSHExecutor(target.host, control_dir=str(short))
    finally:
        del os.environ["OTTER_SSH_MUX"]


def test_commands_after_the_first_start_no_ssh_client(target, tmp_path):
    for mux, clients in (("1", 0), ("0", 1)):
        ex = executor(target, tmp_path, mux)
        try:
            assert ex.run(Command(("true",))).ok  # the master starts
            seen: list[int] = []
            running = threading.Thread(target=ex.run, args=(Command(("sleep", "1")),))
            running.start()
            deadline = time.monotonic() + 0.8
            while time.monotonic() < deadline and not seen:
                seen = ssh_children()
                time.sleep(0.02)
            running.join()
            assert len(seen) == clients, (mux, seen)
        finally:
            ex.close()


CASES = [
    (Command(("sh", "-c", "echo out; echo err >&2; exit 7")), None),
    (Command(("sh", "-c", "kill -TERM $$")), None),  # watched: the wrapper reports 143
    (Command(("sh", "-c", "kill -KILL $$"), stdin=b"x"), None),  # sshd: exit-signal, 255
    (Command(("cat",), stdin=b"bytes in\n"), None),
    (Command(("sh", "-c", "wc -c; echo \"$TOKEN\"")), io.BytesIO(b"z" * BIG)),
    (Command(("sh", "-c", f"head -c {BIG} /dev/zero | tr '\\0' a; echo; echo e >&2")), None),
    (Command(("sh", "-c", "echo \"$TOKEN\" \"$PLAIN\""), env=(
        ("TOKEN", Secret("T", "s3cret")), ("PLAIN", "p"))), None),
]


def test_mux_and_the_ssh_client_give_the_same_results(target, tmp_path):
    results = {}
    for mux in ("1", "0"):
        ex = executor(target, tmp_path, mux)
        try:
            ex.run(Command(("true",)))
            results[mux] = []
            for command, stream in CASES:
                if stream is not None:
                    stream.seek(0)
                result = ex.run(command, stdin=stream)
                results[mux].append((result.exited, result.stdout, result.stderr))
        finally:
            ex.close()
    codes = [r[0] for r in results["1"]]
    assert codes == [7, 143, 255, 0, 0, 0, 0]
    assert results["1"][0][1:] == ("out\n", "err\n")
    assert results["1"][3][1] == "bytes in\n"
    assert results["1"][4][1] == f"{BIG}\n\n"
    assert len(results["1"][5][1]) == BIG + 1 and results["1"][5][2] == "e\n"
    assert results["1"][6][1] == "s3cret p\n"
    for with_mux, without in zip(results["1"], results["0"]):
        assert with_mux[:2] == without[:2]
        if with_mux[0] != 255:  # mux says why a session ended without a status
            assert with_mux[2] == without[2]


def test_a_timeout_ends_the_command_on_the_host(target, tmp_path):
    ex = executor(target, tmp_path, "1")
    try:
        ex.run(Command(("true",)))
        seconds = f"60.{os.getpid()}"  # a sleep of its own, to look for
        started = time.monotonic()
        result = ex.run(Command(("sleep", seconds)), timeout=1)
        assert result.exited == 124 and "timed out after 1s" in result.stderr
        assert time.monotonic() - started < 5
        for _ in range(50):
            left = ex.run(Command(("sh", "-c", f"pgrep -f '[s]leep {seconds}' || true"))).stdout.strip()
            if not left:
                break
            time.sleep(0.2)
        assert not left
    finally:
        ex.close()


class Stranger(threading.Thread):
    """A Unix socket where the master's would be, answering the mux hello with version 3."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(8)
        self.calls = 0
        self.start()

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.calls += 1
            with conn, contextlib.suppress(OSError):  # otter's alive() probe just connects
                conn.sendall(struct.pack(">III", 8, 1, 3))
                conn.recv(4096)


def test_a_master_that_answers_otherwise_falls_back_to_the_ssh_client(target, tmp_path):
    ex = executor(target, tmp_path, "1")
    stranger = Stranger(ex.master.path)  # seen as a running master: no master is started
    try:
        result = ex.run(Command(("sh", "-c", "echo fell back; exit 3")))
        assert (result.exited, result.stdout) == (3, "fell back\n")
        assert stranger.calls >= 3  # alive(), otter's own hello, the ssh client's own try
        assert ex.run(Command(("cat",), stdin=b"again")).stdout == "again"
    finally:
        stranger.listener.close()
        ex.close()


EXEC_OTTERFILE = '''
from otterfile import *

HOSTS = {hosts!r}

@target
def servers():
    return [ssh(address, identity_file=key, known_hosts=known) for address, key, known in HOSTS]

@deployment
def production():
    return Deployment(artifact=build(path=".", command="true", image="x"),
                      runtime=docker(port=80), targets=["servers"])
'''


def test_otter_exec_with_mux_on_and_off(targets, tmp_path):
    hosts = [(f"root@127.0.0.1:{t.ssh_port}", t.host.identity_file, t.host.known_hosts)
             for t in targets]
    (tmp_path / "Otterfile.py").write_text(EXEC_OTTERFILE.format(hosts=hosts))
    outputs = {}
    for mux in ("1", "0", "1"):  # the last: warm, masters kept by the runs before
        done = subprocess.run(
            [sys.executable, "-m", "otterfile", "exec", "production", "--",
             "uname -n; echo err >&2"], capture_output=True, text=True, timeout=120,
            cwd=tmp_path, env=otter_env(OTTER_SSH_MUX=mux, OTTER_SSH_PERSIST="30",
                                        XDG_RUNTIME_DIR=str(tmp_path)))
        assert done.returncode == 0, done.stdout + done.stderr
        outputs[mux] = sorted(line for line in done.stdout.splitlines() if "target" in line)
    assert len(outputs["1"]) == len(targets)
    assert outputs["1"] == outputs["0"]
    assert done.stderr.count("| err") == len(targets)
    for path in (tmp_path / "otter-ssh").glob("*"):  # end the kept masters
        if not path.name.endswith(".lock"):
            subprocess.run(["ssh", "-o", f"ControlPath={path}", "-O", "exit", "x"],
                           capture_output=True, timeout=10)


def test_an_interrupt_ends_running_sessions_as_ctrl_c_ends_ssh_clients(target, tmp_path):
    ex = executor(target, tmp_path, "1")
    try:
        ex.run(Command(("true",)))
        seconds = f"50.{os.getpid()}"
        ended: list = []
        running = threading.Thread(target=lambda: ended.append(
            ex.run(Command(("sleep", seconds)))))
        running.start()
        time.sleep(1.0)
        started = time.monotonic()
        ex.interrupt()
        running.join(20)
        assert ended and ended[0].exited == 255 and time.monotonic() - started < 10
        for _ in range(50):  # the held input closed: the host stops the command
            left = ex.run(Command(("sh", "-c", f"pgrep -f '[s]leep {seconds}' || true")))
            if not left.stdout.strip():
                break
            time.sleep(0.2)
        assert not left.stdout.strip()
        assert ex.run(Command(("echo", "after"))).stdout == "after\n"  # the next one runs
    finally:
        ex.close()


def test_http_probes_are_connections_asked_of_the_master_with_no_ssh_client(target, tmp_path):
    """The health probe's GET (executor.http) through a stdio forward of the master (as
    `ssh -W`, asked for from otter's process): the status of a server on the host, a port
    nothing listens on refused at once, and no `ssh -O forward` or `cancel` started; with mux
    off, the forward of before gives the same answers."""
    from otterfile.executors.base import ProbeFailed
    up = "import socket; socket.create_connection(('127.0.0.1', 18777), timeout=1).close()"
    serve = Command(("sh", "-c", "mkdir -p /tmp/om-www && echo ok > /tmp/om-www/health && "
                     "(setsid python3 -m http.server 18777 --bind 127.0.0.1 --directory "
                     "/tmp/om-www >/dev/null 2>&1 &) && i=0 && "
                     "until python3 -c \"$1\" 2>/dev/null; do i=$((i + 1)); "
                     "[ $i -lt 200 ] || exit 1; sleep 0.1; done", "sh", up))
    try:
        for mux in ("1", "0"):
            ex = executor(target, tmp_path, mux)
            try:
                assert ex.run(serve).ok
                controls: list[tuple[str, ...]] = []
                control = ex.master.control
                ex.master.control = lambda *args: controls.append(args) or control(*args)
                with ex.http(18777) as get:
                    assert [get("/health"), get("/none"), get("/health")] == [200, 404, 200]
                with ex.http(18778) as get, pytest.raises(ProbeFailed, match="refused"):
                    get("/health")
                assert [c[0] for c in controls] == ([] if mux == "1" else
                                                    ["forward", "cancel"] * 2), controls
            finally:
                ex.close()
    finally:
        ex = executor(target, tmp_path, "1")
        ex.run(Command(("sh", "-c", "pkill -f 'http.server 18777'; exit 0")))
        ex.close()
