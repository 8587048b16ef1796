"""The drain script run for real on this machine's /proc/net/tcp: it ends at once when no
connection to the port is open, waits while one is and ends when it closes, and gives up
at its bound; the builder and the parser of its line."""
from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest

from otterfile.commands import drain as drains

pytestmark = pytest.mark.unit


def run(command) -> tuple[drains.Drained, float]:
    began = time.monotonic()
    done = subprocess.run(command.argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    found = drains.parse(done.stdout)
    assert len(found) == 1, done.stdout
    return found[0], time.monotonic() - began


@pytest.fixture
def listening():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server
    server.close()


def test_an_idle_port_drains_at_once(listening):
    port = listening.getsockname()[1]
    drained, took = run(drains.drain(port, 5))
    assert drained == drains.Drained(port, drained.seconds, 0) and drained.seconds < 0.5
    assert took < 2  # not the 5 s bound: a listening socket is no connection


def test_an_open_connection_holds_the_drain_until_it_closes(listening):
    port = listening.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listening.accept()
    closer = threading.Timer(1.0, lambda: (client.close(), accepted.close()))
    closer.start()
    try:
        drained, took = run(drains.drain(port, 8))
    finally:
        closer.cancel()
        client.close()
        accepted.close()
    assert drained.left == 0 and 0.9 <= drained.seconds < 4, drained
    assert took < 6


def test_the_bound_ends_the_drain_with_what_is_still_open(listening):
    port = listening.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listening.accept()
    try:
        drained, took = run(drains.drain(port, 0.5))
    finally:
        client.close()
        accepted.close()
    assert drained.left == 2  # both ends, on this one host
    assert 0.4 <= drained.seconds < 2 and took < 4, drained
    assert "2 connection(s) still open" in drains.said(drained)


def test_other_ports_do_not_hold_it(listening):
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen()
    client = socket.create_connection(other.getsockname())
    try:
        drained, _ = run(drains.drain(listening.getsockname()[1], 3))
    finally:
        client.close()
        other.close()
    assert drained.left == 0 and drained.seconds < 0.5


def test_no_drain_without_a_bound_or_a_port():
    assert drains.drain(20000, 0) is None
    assert drains.drain(None, 2) is None and drains.drain("<port>", 2) is None
    command = drains.drain(20000, 2.5)
    assert command is not None and command.argv[3:] == ("sh", "20000", "2.5")


def test_the_line_is_parsed_among_others():
    out = "removed abc\notter-drain port=20001 seconds=0.30 left=0\nx\n" \
          "otter-drain port=20002 seconds=2 left=unknown\notter-drain nonsense\n"
    assert drains.parse(out) == [drains.Drained(20001, 0.3, 0), drains.Drained(20002, 2, None)]
    assert drains.said(drains.parse(out)[0]) == "otter-drain: 127.0.0.1:20001 idle after 0.30s"


def test_a_connection_on_another_address_of_the_port_counts():
    """balance="fleet": other targets' proxies reach the release on the host's own address;
    the release's side of those connections is on this host (127.0.0.2 stands for it)."""
    server = socket.socket()
    server.bind(("127.0.0.2", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.2", port))
    accepted, _ = server.accept()
    try:
        drained, _ = run(drains.drain(port, 0.3))
    finally:
        client.close()
        accepted.close()
        server.close()
    assert drained.left == 1, drained  # the release's side; the client's is not 127.0.0.1
