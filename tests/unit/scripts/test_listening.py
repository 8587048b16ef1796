"""scripts/listening.sh for real on this machine: `listening` (the ports a start must not
pick) read by the shell from the kernel's socket tables says what `ss -ltn` says, a socket
bound but not listening is not in it, and `listens PORT` agrees."""
from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from otterfile import scripts

pytestmark = pytest.mark.unit

LISTENING = scripts.load("listening.sh")


def sh(line: str) -> str:
    done = subprocess.run(["sh", "-c", LISTENING + line], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_listening_names_a_listening_port_and_not_a_bound_one():
    with socket.socket() as listener, socket.socket() as bound, \
            socket.socket(socket.AF_INET6) as six:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        bound.bind(("127.0.0.1", 0))  # bound, never listening: free for the kernel's table
        six.bind(("::1", 0))
        six.listen()
        ports = sh("listening").split()
        port, idle, v6 = (s.getsockname()[1] for s in (listener, bound, six))
        assert str(port) in ports and str(v6) in ports
        assert str(idle) not in ports
        assert all(p.isdigit() for p in ports)
        assert sh(f"listens {port} && echo yes; listens {idle} || echo no").split() \
            == ["yes", "no"]


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss is not installed here")
def test_listening_says_what_ss_says():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        for _ in range(3):  # another process may open or close one between the two reads
            ss = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
            want = {line.split()[3].rsplit(":", 1)[1] for line in ss.splitlines()}
            if set(sh("listening").split()) == want:
                return
        assert set(sh("listening").split()) == want
