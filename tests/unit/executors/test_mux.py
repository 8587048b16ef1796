"""OpenSSH's mux protocol as otter speaks it: the exact bytes of its messages, reading the
master's answers, and one session against a master played by a thread on a Unix socket
(the real master: tests/integration/test_ssh_mux.py)."""
import os
import socket
import struct
import threading

import pytest

from otterfile.errors import OtterError
from otterfile.executors import mux
from otterfile.executors.mux import Fields, MuxError
from otterfile.executors.muxed import MuxSessions, mux_enabled, run_muxed
from otterfile.executors.pipes import HeldOpen


def u32(n):
    return struct.pack(">I", n)


def message(*parts):
    body = b"".join(parts)
    return u32(len(body)) + body


def test_hello_is_type_1_version_4_framed():
    assert mux.hello() == bytes.fromhex("00000008" "00000001" "00000004")


def test_new_session_asks_for_no_tty_no_forwarding_no_escape_and_carries_the_command():
    sent = mux.new_session(7, "uname -n")
    body = sent[4:]
    assert struct.unpack(">I", sent[:4])[0] == len(body)
    fields = Fields(body)
    assert fields.u32() == 0x10000002 and fields.u32() == 7
    assert fields.string() == b""  # reserved
    assert [fields.u32() for _ in range(4)] == [0, 0, 0, 0]  # tty, X11, agent, subsystem
    assert fields.u32() == 0xFFFFFFFF  # escape: none
    assert fields.string() == b"" and fields.string() == b"uname -n"
    assert fields.at == len(body)  # no environment strings


def test_fields_refuse_what_does_not_fit():
    with pytest.raises(MuxError, match="ended early"):
        Fields(b"\0\0").u32()
    with pytest.raises(MuxError, match="does not fit"):
        Fields(u32(9) + b"abc").string()


def test_the_masters_hello_must_be_version_4():
    mux.check_hello(Fields(u32(1) + u32(4) + u32(3) + b"ext" + u32(0)))  # extensions ignored
    with pytest.raises(MuxError, match="version 4"):
        mux.check_hello(Fields(u32(1) + u32(3)))
    with pytest.raises(MuxError, match="before its hello"):
        mux.check_hello(None)


def test_an_opened_session_gives_its_id_a_refusal_its_reason():
    assert mux.check_opened(Fields(u32(0x80000006) + u32(5) + u32(42)), 5) == 42
    refused = Fields(u32(0x80000003) + u32(5) + u32(6) + b"no way")
    with pytest.raises(MuxError, match="refused the session: no way"):
        mux.check_opened(refused, 5)
    with pytest.raises(MuxError, match="request 6, not 5"):
        mux.check_opened(Fields(u32(0x80000006) + u32(6) + u32(1)), 5)


def test_a_stdio_forward_asks_for_a_host_and_port_and_a_refused_one_is_peer_refused():
    body = mux.new_stdio_forward(3, "127.0.0.1", 8080)[4:]
    fields = Fields(body)
    assert fields.u32() == 0x10000008 and fields.u32() == 3
    assert fields.string() == b"" and fields.string() == b"127.0.0.1"  # reserved, host
    assert fields.u32() == 8080 and fields.at == len(body)
    refused = Fields(u32(0x80000003) + u32(3) + u32(28) + b"Session open refused by peer")
    with pytest.raises(mux.PeerRefused):
        mux.check_opened(refused, 3)


def test_exit_messages_carry_the_status_of_their_session_only():
    assert mux.exit_status(Fields(u32(0x80000004) + u32(3) + u32(2)), 3) == 2
    assert mux.exit_status(Fields(u32(0x80000008) + u32(3)), 3) is None
    with pytest.raises(MuxError, match="another session"):
        mux.exit_status(Fields(u32(0x80000004) + u32(4) + u32(0)), 3)


def test_receive_reads_whole_messages_and_none_at_a_clean_end():
    a, b = socket.socketpair()
    with a, b:
        a.sendall(message(u32(1), u32(4)) + message(u32(0x80000004)))
        a.shutdown(socket.SHUT_WR)
        assert mux.receive(b).u32() == 1
        assert mux.receive(b).u32() == 0x80000004
        assert mux.receive(b) is None


def test_a_message_cut_short_or_too_long_is_an_error():
    for data in (u32(8) + u32(1), u32(300 * 1024) + b"x", u32(2) + b"ab"):
        a, b = socket.socketpair()
        with a, b:
            a.sendall(data)
            a.shutdown(socket.SHUT_WR)
            with pytest.raises(MuxError):
                mux.receive(b)


class Master(threading.Thread):
    """Plays a ControlMaster for one connection: reads hello, the request and three fds
    (one per message, as ssh's mm_receive_fd), then does `act(request, fds)`."""

    def __init__(self, path, act, hello_version=4):
        super().__init__(daemon=True)
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(1)
        self.act, self.hello_version = act, hello_version
        self.commands, self.messages_with_fds = [], []
        self.start()

    def run(self):
        conn, _ = self.listener.accept()
        with conn:
            conn.sendall(message(u32(1), u32(self.hello_version)))
            assert mux.receive(conn).u32() == 1
            request = mux.receive(conn)
            assert request.u32() == 0x10000002
            rid = request.u32()
            request.string(), [request.u32() for _ in range(5)], request.string()
            self.commands.append(request.string().decode())
            fds = []
            for _ in range(3):
                data, got, _flags, _addr = socket.recv_fds(conn, 1, 3)
                self.messages_with_fds.append((data, len(got)))
                fds += got
            self.act(conn, rid, fds)
            for fd in fds:
                os.close(fd)


def opened(conn, rid):
    conn.sendall(message(u32(0x80000006), u32(rid), u32(9)))


def test_a_session_gets_its_fds_its_output_and_its_exit_status(tmp_path):
    def act(conn, rid, fds):
        opened(conn, rid)
        got = os.read(fds[0], 100)
        os.write(fds[1], b"out: " + got + b"\n")
        os.write(fds[2], b"err\n")
        conn.sendall(message(u32(0x80000004), u32(9), u32(3)))
    path = str(tmp_path / "m")
    master = Master(path, act)
    seen = []
    code, out, err = run_muxed(path, "cat", b"in", lambda s, t: seen.append((s, t)), 10,
                               MuxSessions())
    assert (code, out, err) == (3, "out: in\n", "err\n")
    assert master.commands == ["cat"]
    assert master.messages_with_fds == [(b"\0", 1)] * 3  # one descriptor per message
    assert sorted(seen) == [("stderr", "err"), ("stdout", "out: in")]


def test_a_refused_session_is_a_mux_error_and_reads_no_input(tmp_path):
    def act(conn, rid, fds):
        conn.sendall(message(u32(0x80000003), u32(rid), u32(4) + b"full"))
    path = str(tmp_path / "m")
    Master(path, act)
    chunks = iter([b"never read"])
    with pytest.raises(MuxError, match="full"):
        run_muxed(path, "cat", chunks, None, 10, MuxSessions())
    assert next(chunks) == b"never read"


def test_no_master_or_another_version_is_a_mux_error(tmp_path):
    with pytest.raises(MuxError):
        run_muxed(str(tmp_path / "none"), "true", None, None, 10, MuxSessions())
    path = str(tmp_path / "m")
    Master(path, lambda conn, rid, fds: None, hello_version=3)
    with pytest.raises(MuxError, match="version 4"):
        run_muxed(path, "true", None, None, 10, MuxSessions())


def test_a_session_ended_without_a_status_is_255_and_a_timeout_124(tmp_path):
    path = str(tmp_path / "a")
    Master(path, lambda conn, rid, fds: opened(conn, rid))
    code, _, err = run_muxed(path, "true", None, None, 10, MuxSessions())
    assert code == 255 and "without an exit status" in err
    done = threading.Event()
    path = str(tmp_path / "b")
    Master(path, lambda conn, rid, fds: (opened(conn, rid), conn.recv(1), done.set()))
    code, _, err = run_muxed(path, "sleep 9", HeldOpen(), None, 0.3, MuxSessions())
    assert code == 124 and "timed out after 0.3s" in err
    assert done.wait(5)  # the master saw the control socket close: the session's end


def test_close_ends_open_sessions(tmp_path):
    path = str(tmp_path / "m")
    sessions = MuxSessions()
    Master(path, lambda conn, rid, fds: (opened(conn, rid), conn.recv(1)))
    threading.Timer(0.3, sessions.stop_all).start()
    code, _, _ = run_muxed(path, "sleep 9", None, None, 10, sessions)
    assert code == 255


def test_mux_is_on_unless_turned_off(monkeypatch):
    monkeypatch.delenv("OTTER_SSH_MUX", raising=False)
    assert mux_enabled()
    monkeypatch.setenv("OTTER_SSH_MUX", "0")
    assert not mux_enabled()
    monkeypatch.setenv("OTTER_SSH_MUX", "no")
    with pytest.raises(OtterError, match="expected 1"):
        mux_enabled()
