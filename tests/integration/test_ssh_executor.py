"""The SSH executor against a throwaway sshd on 127.0.0.1, run as the current user."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from otterfile.command import cmd, script
from otterfile.executors.openssh import ConnectionFailed
from otterfile.executors.ssh import SSHExecutor, free_port
from otterfile.hosts import SSHHost

pytestmark = pytest.mark.integration

SSHD = "/usr/sbin/sshd"
ROOT = Path(__file__).resolve().parents[2]


def _wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    for _ in range(100):  # up to 10 s
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} does not listen on {port}")


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@contextlib.contextmanager
def private_sshd(tmp: Path, extra: str = "") -> Iterator[dict]:
    """An sshd on a free port of 127.0.0.1 with its host key, a client key it accepts and a
    matching known_hosts in `tmp`; `extra` lines end its config. Its log: tmp/sshd.log."""
    host_pub = _keygen(tmp / "host_key")
    (tmp / "authorized_keys").write_text(_keygen(tmp / "client_key") + "\n")
    port = free_port()
    (tmp / "sshd_config").write_text(textwrap.dedent(f"""\
        Port {port}
        ListenAddress 127.0.0.1
        HostKey {tmp}/host_key
        PidFile {tmp}/sshd.pid
        AuthorizedKeysFile {tmp}/authorized_keys
        StrictModes no
        UsePAM no
        PermitRootLogin prohibit-password
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        """) + textwrap.dedent(extra))
    (tmp / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    log = open(tmp / "sshd.log", "wb")
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(tmp / "sshd_config")],
                               stdout=log, stderr=log)
    try:
        _wait_for_port(port, process, "sshd")
        yield {"dir": tmp, "port": port, "log": tmp / "sshd.log"}
    finally:
        for pid in _processes_mentioning(str(tmp / "client_key")):  # masters a failed test left
            os.kill(pid, signal.SIGTERM)
        process.terminate()
        process.wait(timeout=10)
        log.close()


def require_sshd() -> None:
    """A failure, not a skip: scripts/setup.sh installs sshd, and the tests run as root."""
    if not os.path.exists(SSHD) or os.geteuid() != 0:
        pytest.fail(f"a private sshd needs {SSHD} (openssh-server: scripts/setup.sh) and root")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A private sshd: its host key, a client key it accepts, and a matching known_hosts."""
    require_sshd()
    with private_sshd(tmp_path_factory.mktemp("sshd"), "AllowTcpForwarding local\n") as found:
        yield found


def _host(sshd, **changes) -> SSHHost:
    fields = dict(hostname="127.0.0.1", port=sshd["port"],
                  identity_file=str(sshd["dir"] / "client_key"),
                  known_hosts=str(sshd["dir"] / "known_hosts"))
    return SSHHost(**{**fields, **changes})


@pytest.fixture
def executor(sshd):
    ex = SSHExecutor(_host(sshd))
    yield ex
    ex.close()


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line mentions `text` (the master renames itself "ssh: PATH [mux]")."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in line:
                pids.append(int(entry.name))
    return pids


def _running(pid: int) -> bool:
    try:  # a zombie (state Z) has ended: here nobody may reap orphans
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_exit_codes_stdout_and_stderr(executor):
    result = executor.run(script("echo out; echo err >&2; exit 3"))
    assert (result.exited, result.stdout) == (3, "out\n")
    # the end only: root's ~/.bashrc here (pyenv rehash) may complain under concurrent logins
    assert result.stderr.endswith("err\n")
    assert not result.ok and result.host == executor.host.name
    assert executor.run(cmd("true")).ok


def test_a_command_exiting_255_is_not_a_connection_failure(executor):
    assert executor.run(script("exit 255")).exited == 255


def test_cwd_and_env(executor, tmp_path):
    result = executor.run(cmd("sh", "-c", 'pwd; echo "$GREETING"', cwd=str(tmp_path),
                              env={"GREETING": "hello world"}))
    assert result.stdout == f"{tmp_path}\nhello world\n"


def test_awkward_arguments_arrive_unchanged(executor):
    awkward = ["two words", "it's", 'say "hi"', "$HOME", "a;b", "`id`", "*", "back\\slash", ""]
    result = executor.run(cmd("printf", "[%s]\\n", *awkward))
    assert result.stdout == "".join(f"[{a}]\n" for a in awkward)


def test_stdin_bytes_and_stream(executor):
    assert executor.run(cmd("cat", stdin=b"from bytes")).stdout == "from bytes"
    seen = []
    result = executor.run(cmd("wc", "-c"), stdin=io.BytesIO(b"x" * 300_000),
                          on_progress=seen.append)
    assert result.stdout.strip() == "300000" and seen[-1] == 300_000


def test_concurrent_commands_share_one_master(sshd):
    ex = SSHExecutor(_host(sshd))
    count = 12  # more than sshd's MaxSessions (10) at once: the executor must queue them
    barrier, results = threading.Barrier(count), []

    def work(i):
        barrier.wait()  # every thread's first command races for the master
        results.append(ex.run(script('sleep 0.3; echo "$1"', args=[str(i)])))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(int(r.stdout) for r in results) == list(range(count))
        # ssh falls back to a connection of its own when the master refuses a session
        assert [r for r in results if "mux_client" in r.stderr] == []
        assert len(_processes_mentioning(ex.control_path)) == 1
        assert ex._control("check")[0] == 0
    finally:
        ex.close()


def test_close_ends_the_master(sshd):
    ex = SSHExecutor(_host(sshd))
    ex.run(cmd("true"))
    code, output = ex._control("check")
    assert code == 0, output
    ex.close()
    assert not os.path.exists(ex.control_path)
    for _ in range(300):  # the master exits just after answering (bounded: 30 s)
        if not _processes_mentioning(ex.control_path):
            break
        time.sleep(0.1)
    assert _processes_mentioning(ex.control_path) == []


# VmHWM, not ru_maxrss: a forked child's ru_maxrss starts at its parent's (pytest's) size.
def test_close_stops_a_running_command(sshd):
    ex = SSHExecutor(_host(sshd))
    results = []
    worker = threading.Thread(target=lambda: results.append(ex.run(cmd("sleep", "30"))))
    worker.start()
    for _ in range(600):  # until the ssh client runs (bounded: 30 s)
        if ex._processes._running:
            break
        time.sleep(0.05)
    assert ex._processes._running, "the command never started"
    ex.close()
    worker.join(10)
    assert results and not results[0].ok
    assert not os.path.exists(ex.control_path)


def test_a_killed_master_is_started_again(executor):
    assert executor.run(cmd("true")).ok
    code, output = executor._control("check")
    pid = int(output.split("pid=")[1].split(")")[0])
    os.kill(pid, signal.SIGKILL)  # leaves its socket file behind
    for _ in range(300):  # until the kill took (bounded: 30 s)
        if not _running(pid):
            break
        time.sleep(0.1)
    assert not _running(pid)
    assert os.path.exists(executor.control_path)
    assert executor.run(cmd("echo", "again")).stdout == "again\n"
    code, output = executor._control("check")
    assert code == 0 and f"pid={pid})" not in output


UPLOAD_CHILD = """
import json, sys, time
from otterfile.executors.ssh import SSHExecutor
from otterfile.hosts import SSHHost
host = SSHHost(**json.loads(sys.argv[1]))
ex = SSHExecutor(host)
started = time.monotonic()
result = ex.upload(sys.argv[2], sys.argv[3], mode=0o640)
seconds = time.monotonic() - started
ex.close()
peak = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")]
print(json.dumps({"exited": result.exited, "stderr": result.stderr, "seconds": seconds,
                  "peak_kb": int(peak[0])}))
"""


def test_upload_of_100_mb_streams_with_small_memory(sshd, tmp_path):
    size = 100 * 1024 * 1024
    source = tmp_path / "big.bin"
    with open(source, "wb") as out:  # sparse, with a few marks that a bad copy would lose
        for offset in range(0, size, 7 * 1024 * 1024):
            out.seek(offset)
            out.write(os.urandom(4096))
        out.truncate(size)
    digest = hashlib.sha256()
    with open(source, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    dest = tmp_path / "far" / "big.copy"
    dest.parent.mkdir()
    fields = {k: v for k, v in vars(_host(sshd)).items()}
    child = subprocess.run([sys.executable, "-c", UPLOAD_CHILD, json.dumps(fields),
                            str(source), str(dest)], capture_output=True, text=True,
                           timeout=300, cwd=ROOT)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    print(f"\n100 MB upload: {report['seconds']:.2f}s, peak RSS {report['peak_kb'] / 1024:.1f} MB")
    assert report["exited"] == 0, report["stderr"]
    assert report["peak_kb"] < 60 * 1024
    ex = SSHExecutor(_host(sshd))
    try:
        far = ex.run(cmd("sha256sum", str(dest))).stdout.split()[0]
        mode = ex.run(cmd("stat", "-c", "%a", str(dest))).stdout.strip()
    finally:
        ex.close()
    assert far == digest.hexdigest()
    assert mode == "640"
    assert os.listdir(dest.parent) == ["big.copy"]  # no temporary file left behind
    dest.unlink()  # pytest keeps recent tmp folders: do not keep 100 MB in each


def test_host_key_mismatch_is_refused(sshd, tmp_path):
    other = _keygen(tmp_path / "other_key")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd['port']} {other}\n")
    for checking in ("yes", "accept-new"):  # accept-new never accepts a changed key
        ex = SSHExecutor(_host(sshd, known_hosts=str(known), host_key_checking=checking))
        with pytest.raises(ConnectionFailed) as failure:
            ex.run(cmd("true"))
        ex.close()
        message = str(failure.value)
        assert "host key does not match" in message and "127.0.0.1" in message
        assert "Host key verification failed" in message


def test_unknown_host_refused_unless_accept_new(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    ex = SSHExecutor(_host(sshd, known_hosts=str(known)))
    with pytest.raises(ConnectionFailed, match="host key is unknown"):
        ex.run(cmd("true"))
    ex.close()
    ex = SSHExecutor(_host(sshd, known_hosts=str(known), host_key_checking="accept-new"))
    try:
        assert ex.run(cmd("true")).ok
    finally:
        ex.close()
    assert known.read_text().strip()  # the key was recorded: "yes" now connects
    ex = SSHExecutor(_host(sshd, known_hosts=str(known)))
    try:
        assert ex.run(cmd("true")).ok
    finally:
        ex.close()


def test_unreachable_port_is_a_connection_failure(sshd):
    ex = SSHExecutor(_host(sshd, port=free_port()))
    with pytest.raises(ConnectionFailed, match="Connection refused"):
        ex.run(cmd("true"))
    ex.close()


def test_forward_reaches_a_server_on_the_far_side(executor, tmp_path):
    port = free_port()
    (tmp_path / "health").write_text("ok")
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port),
                               "--bind", "127.0.0.1", "--directory", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, server, "http.server")
        with executor.forward(port) as local_port:
            assert local_port != port
            response = httpx.get(f"http://127.0.0.1:{local_port}/health", timeout=10)
            assert (response.status_code, response.text) == (200, "ok")
        with pytest.raises(httpx.ConnectError):  # the forward was cancelled
            httpx.get(f"http://127.0.0.1:{local_port}/health", timeout=5)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _remote_pids(marker: str) -> list[int]:
    """Processes on the (local) sshd's side whose command line holds `marker`."""
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def _gone_within(marker: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _remote_pids(marker):
            return True
        time.sleep(0.2)
    return False

def _kill_once_running(process: subprocess.Popen, command: str) -> None:
    """SIGKILL `process` (an otter) once `command` runs on the host; the command must end
    with it (the executor's remote-stop watcher)."""
    try:
        deadline = time.monotonic() + 20
        while not _remote_pids(command) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _remote_pids(command), "the command never started"
    finally:
        process.kill()  # SIGKILL: otter gets no chance to clean up
        process.wait(10)
    assert _gone_within(command, 15), "the remote command outlived otter"



def test_a_timed_out_command_ends_on_the_host_too(executor):
    marker = f"otter-timeout-{os.getpid()}-{time.monotonic_ns()}"
    result = executor.run(script(f'sleep 300; : {marker}', description="long"), timeout=1)
    assert result.exited == 124
    assert _gone_within(marker, 10), "the remote command outlived the timeout"


def test_a_sigkilled_otter_leaves_no_remote_command_running(sshd):
    marker = f"otter-killed-{os.getpid()}-{time.monotonic_ns()}"
    host = _host(sshd)
    code = textwrap.dedent(f"""
        from otterfile.command import script
        from otterfile.executors.ssh import SSHExecutor
        from otterfile.hosts import SSHHost
        SSHExecutor(SSHHost(**{dict(hostname=host.hostname, port=host.port,
                                    identity_file=host.identity_file,
                                    known_hosts=host.known_hosts)!r})).run(
            script('sleep 300; : {marker}', description="long"))
        """)
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    _kill_once_running(process, f"sleep 300; : {marker}")
    for pid in _processes_mentioning(str(sshd["dir"] / "client_key")):  # its orphaned master
        os.kill(pid, signal.SIGTERM)


def test_a_command_with_input_still_gets_all_of_it_and_ends(executor):
    data = os.urandom(3 * 1024 * 1024)
    result = executor.run(cmd("sha256sum"), stdin=io.BytesIO(data))
    assert result.ok and result.stdout.split()[0] == hashlib.sha256(data).hexdigest()
