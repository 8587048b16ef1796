"""The held tunnel: a forward plus one idle session that keeps the SSH master up; the
session's end marks the tunnel lost, and the context's end closes both. Also the local
port a forward may be given: on this machine only its own port; an SSH forward refuses a
local port something listens on (the master would silently share its own forward)."""
from __future__ import annotations

import socket
import threading

import pytest

from otterfile.errors import ExecutionError
from otterfile.executors.local import LocalExecutor
from otterfile.executors.recording import RecordingExecutor
from otterfile.executors.ssh import SSHExecutor, free_port, port_free
from otterfile.executors.tunnel import HOLD, hold
from otterfile.hosts import SSHHost

pytestmark = pytest.mark.unit


class HeldSession:
    """A session that runs until `end()` (its connection dropped) or close()."""

    def __init__(self) -> None:
        self.ended, self.closed = threading.Event(), False

    def end(self) -> None:
        self.ended.set()

    def first_line(self, timeout: float) -> str:
        self.ended.wait(timeout)
        return ""

    def failure(self) -> str:
        return "Connection to web-1 closed by remote host."

    def close(self, wait: float = 0) -> int:
        self.closed = True
        self.ended.set()
        return 0


class Held(RecordingExecutor):
    def __init__(self) -> None:
        super().__init__()
        self.session = HeldSession()
        self.held: list[str] = []

    def open_session(self, command):
        self.held.append(command.display())
        return self.session


def test_hold_forwards_and_keeps_a_session_until_it_ends():
    executor = Held()
    with hold(executor, 5432, 54321) as tunnel:
        assert tunnel.local_port == 54321 and executor.forwards == [5432]
        assert executor.held == [HOLD.display()] == ["cat"]
        assert not tunnel.lost.wait(0.05)
        executor.session.end()
        assert tunnel.lost.wait(10)
        assert tunnel.why() == "Connection to web-1 closed by remote host."
    assert executor.session.closed


def test_hold_closes_its_session_when_the_context_ends():
    executor = Held()
    with hold(executor, 80) as tunnel:
        assert tunnel.local_port == 80  # the recording executor's own port
    assert executor.session.closed and tunnel.lost.wait(10)


def test_a_local_forward_is_the_port_itself_or_refused():
    local = LocalExecutor()
    with local.forward(8080, 8080) as same, local.forward(8080) as default:
        assert same == default == 8080
    with pytest.raises(ExecutionError, match="no forward from port 8081"):
        with local.forward(8080, 8081):
            pass


def test_port_free_sees_a_listener_only():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        taken = server.getsockname()[1]
        assert not port_free(taken)
    assert port_free(free_port())


def test_an_ssh_forward_refuses_a_local_port_in_use_before_connecting(tmp_path):
    executor = SSHExecutor(SSHHost("web-1.invalid", user="deploy"), control_dir=str(tmp_path))
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        taken = server.getsockname()[1]
        with pytest.raises(ExecutionError, match=f"127.0.0.1:{taken} is in use"):
            with executor.forward(5432, taken):
                pass
    executor.close()
