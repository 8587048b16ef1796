"""The health probe (executors/http.py) against real sockets on this machine's loopback:
status codes, a peer that closes without a word (what an SSH forward does when nothing
listens), an answer that is no HTTP, a server that keeps the connection open; and no HTTP
client library imported."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from otterfile.executors.base import ProbeFailed
from otterfile.executors.http import REFUSED, getter, parse_status

pytestmark = pytest.mark.unit


def serving(answer: bytes, keep_open: float = 0.0):
    """A one-connection server on 127.0.0.1 that reads the request, sends `answer` and
    closes (after `keep_open` seconds); (its port, the request it read)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    got: list[bytes] = []

    def serve():
        connection, _ = listener.accept()
        with connection, listener:
            connection.settimeout(5)
            got.append(connection.recv(4096))
            if answer:
                connection.sendall(answer)
            time.sleep(keep_open)
    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], got


def test_the_status_code_and_the_request_sent():
    port, got = serving(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
    with getter(port) as get:
        assert get("/health?x=1") == 204
    assert got[0].startswith(b"GET /health?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nConnection: close\r\n\r\n" in got[0]


def test_a_peer_that_closes_without_a_word_is_nothing_listening():
    port, _ = serving(b"")
    with getter(port) as get, pytest.raises(ProbeFailed, match=REFUSED.replace("(", r"\(")
                                            .replace(")", r"\)")):
        get("/health")


def test_an_answer_that_is_no_http_is_said():
    port, _ = serving(b"SSH-2.0-OpenSSH_9.2\r\n")
    with getter(port) as get, pytest.raises(ProbeFailed,
                                            match="not an HTTP answer: 'SSH-2.0-OpenSSH_9.2'"):
        get("/")


def test_a_server_keeping_the_connection_open_is_left_soon():
    port, _ = serving(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", keep_open=3)
    started = time.monotonic()
    with getter(port) as get:
        assert get("/") == 200
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("line,code", [(b"HTTP/1.0 503 Service Unavailable\r", 503),
                                       (b"HTTP/1.1 200", 200)])
def test_status_lines(line, code):
    assert parse_status(line) == code


@pytest.mark.parametrize("line", [b"HTTP/1.1 2000 x", b"HTTP/1.1 OK", b"<html>", b"HTTP/1.1"])
def test_no_status_line(line):
    with pytest.raises(ProbeFailed, match="not an HTTP answer"):
        parse_status(line)


def test_a_path_with_a_space_is_not_sent():
    with getter(1) as get, pytest.raises(ProbeFailed, match="not a URL path"):
        get("/a b")


def test_the_probe_imports_no_http_client():
    code = ("import sys; from otterfile.executors.http import getter; import otterfile.run.health; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('httpx', 'httpcore', 'trio', 'rich', 'http')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
