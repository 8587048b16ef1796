"""build(on=..., via="url"): the build host's file server (scripts/serve_file.py) run for
real on loopback: one address, one unguessable path, 404 for everything else, and gone when
otter closes it or goes away; the store's side (remote_images.RemoteImages.serve) with a
fake session."""
from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otterfile.transfer.remote_images import RemoteImages, serve
from otterfile.errors import OtterError
from otterfile.executors.local import LocalExecutor
from otterfile.hosts import ssh
from otterfile.run.engine import Engine

BODY = b"built bytes\n" * 1000
END_WAIT = 20.0  # seconds a server gets to end once its input has (an event, bounded)


def get(url: str, path: str | None = None, method: str = "GET") -> tuple[int, bytes]:
    host, port, own = re.fullmatch(r"http://([\d.]+):(\d+)(/.*)", url).groups()
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, own if path is None else path)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def listening(address: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((address, port)) == 0


def ended(address: str, port: int) -> bool:
    """Whether nothing listens there any more, waiting up to END_WAIT for it."""
    deadline = time.monotonic() + END_WAIT
    while listening(address, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def kept(tmp_path) -> Path:
    file = tmp_path / "ab"
    file.write_bytes(BODY)
    return file


def builder(peer: str) -> RemoteImages:
    """A build host's store whose commands run here; the targets reach it at `peer`."""
    return RemoteImages(LocalExecutor(ssh("root@builder", peer=peer)))


def test_only_the_one_path_is_served_on_the_one_address(kept):
    images = builder("127.0.0.2")
    try:
        url = images.serve(kept)
        address, port, path = re.fullmatch(r"http://([\d.]+):(\d+)(/.*)", url).groups()
        assert address == "127.0.0.2" and len(path) > 40  # 32 random bytes, url-safe
        assert get(url) == (200, BODY)
        assert get(url, method="HEAD")[0] == 200
        for wrong in ("/", "/" + kept.name, path + "x", path[:-1], path + "?a=1", "/..", "//"):
            assert get(url, wrong)[0] == 404, wrong  # no listing, no other file
        assert not listening("127.0.0.1", int(port))  # that one address only
        again = images.serve(kept)
        assert again.rsplit("/", 1)[1] != path[1:]  # a new path each time
    finally:
        images.close()
    assert ended(address, int(port))
    images.close()  # once is enough


def test_the_server_ends_when_otter_goes_away_without_closing(kept, tmp_path):
    program = f"""
import os, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[3])!r})
from tests.unit.scripts.test_serve_file import builder
print(builder("127.0.0.3").serve(__import__("pathlib").Path({str(kept)!r})), flush=True)
os._exit(0)  # killed, in effect: nothing closed
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    address, port = re.fullmatch(r"http://([\d.]+):(\d+)/.*", done.stdout.strip()).groups()
    assert ended(address, int(port))


def test_an_address_the_host_does_not_have_is_a_clear_error(kept):
    images = builder("198.51.100.7")  # not this machine's (binding sends nothing)
    with pytest.raises(OtterError, match=r"cannot serve .*/ab on builder: otter: cannot "
                       r"listen on 198\.51\.100\.7: Cannot assign requested address"):
        images.serve(kept)
    images.close()


class FakeSession:
    def __init__(self, said: str):
        self.said, self.closed = said, 0

    def first_line(self, timeout: float) -> str:
        return self.said

    def failure(self) -> str:
        self.close()
        return "otter: python3 is needed to serve /x"

    def close(self) -> int:
        self.closed += 1
        return 0


class Serving:
    """A build host that opens sessions (never `run`s anything)."""

    host = ssh("root@builder", peer="10.0.0.7")

    def __init__(self, said: str):
        self.session, self.opened = FakeSession(said), []

    def open_session(self, command):
        self.opened.append(command.argv_values())
        return self.session

    def close(self) -> None:
        pass


def test_the_store_asks_for_the_targets_address_and_builds_the_url():
    host = Serving("otter-serving address=10.0.0.7 port=35841 path=/Tok_en-1")
    images = RemoteImages(host)
    path = Path("/var/cache/otter/build/artifacts/sha256/ff")
    assert images.serve(path) == "http://10.0.0.7:35841/Tok_en-1"
    assert host.opened[0][-3:-1] == [str(path), "10.0.0.7"]
    assert host.opened[0][-1].startswith('"""Serve one file over HTTP')  # the program
    assert serve(path).argv_values()[-2] == ""  # no peer=: the default route's address
    images.close()
    images.close()
    assert host.session.closed == 1


def test_a_server_that_never_listens_is_an_error_and_is_stopped():
    host = Serving("")
    with pytest.raises(OtterError, match="cannot serve .* on builder: otter: python3 is"):
        RemoteImages(host).serve(Path("/x"))
    assert host.session.closed == 1


def test_the_engines_close_stops_the_servers_whatever_happened(tmp_path):
    from tests.unit.transfer.test_remote_images import write
    from otterfile.load.evaluate import evaluate
    from otterfile.load.loader import load
    from otterfile.transfer.images import PlannedImages
    host = Serving("otter-serving address=10.0.0.7 port=1 path=/p")
    engine = Engine(evaluate(load(write(tmp_path, 'on="builder"'))), lambda event: None,
                    images=PlannedImages(), host_images=RemoteImages,
                    connect=lambda _host, _folder: host)
    engine.images_on("builder").store.serve(Path("/x"))
    engine.close()
    assert host.session.closed == 1
