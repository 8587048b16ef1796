"""fanout.SharedImages: one store stream read by every target, with fake streams."""
from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest

from otterfile.transfer.fanout import SharedImages
from otterfile.transfer.fanout_reader import CHUNK
from otterfile.transfer.images import ControllerStore
from otterfile.errors import OtterError

pytestmark = pytest.mark.unit

IMAGE = "sha256:" + "b" * 64
ARCHIVE = bytes(range(256)) * (4 * CHUNK // 256 + 123)  # a little over 4 chunks


class Source:
    """A `docker save` stream of ARCHIVE that counts what was read of it."""

    def __init__(self, data: bytes = ARCHIVE, fail_at_close: str | None = None):
        self.data, self.at, self.closed = data, 0, False
        self.fail_at_close = fail_at_close

    def read(self, size: int = -1) -> bytes:
        size = len(self.data) if size < 0 else size
        chunk, self.at = self.data[self.at:self.at + size], self.at + size
        return chunk

    def close(self) -> None:
        self.closed = True
        if self.fail_at_close:
            raise OtterError(self.fail_at_close)


class Store(ControllerStore):
    """An image store whose every `save` is a new Source (counted)."""

    def __init__(self, **source):
        self.sources: list[Source] = []
        self.source = source

    def save(self, image_id: str) -> Source:
        self.sources.append(Source(**self.source))
        return self.sources[-1]


def shared(store: Store, expected: int, **options) -> tuple[SharedImages, list[str]]:
    said: list[str] = []
    options = {"gather": 10.0, "stall": 1.0, "buffer": 2 * CHUNK, "idle": 30.0, **options}
    return SharedImages(store, expected=lambda _id: expected, on_info=said.append,
                        **options), said


def drain(reader, into: dict, name: str, size: int = 64 * 1024) -> None:
    """What an executor does with a stdin stream: read it in chunks, then close it."""
    got = bytearray()
    try:
        while chunk := reader.read(size):
            got += chunk
    finally:
        try:
            reader.close()
        except OtterError as error:
            into[name + " error"] = str(error)
    into[name] = bytes(got)


def in_threads(work: dict, timeout: float = 30.0) -> None:
    threads = [threading.Thread(target=fn, daemon=True) for fn in work.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a reader never finished"


def test_one_save_feeds_three_readers_the_same_bytes():
    store, got = Store(), {}
    images, said = shared(store, expected=3)
    readers = [images.save(IMAGE) for _ in range(3)]
    in_threads({i: (lambda r=r, i=i: drain(r, got, f"t{i}")) for i, r in enumerate(readers)})
    assert len(store.sources) == 1 and store.sources[0].closed
    assert [got[f"t{i}"] for i in range(3)] == [ARCHIVE] * 3
    assert said == [f"one docker save stream for 3 targets ({IMAGE[:19]})"]


def test_a_target_that_has_the_image_is_not_waited_for():
    store, got = Store(), {}
    images, said = shared(store, expected=3, gather=60.0)  # 60s: a wait would time out below
    first, second = images.save(IMAGE), images.save(IMAGE)
    images.decline(IMAGE)
    in_threads({"a": lambda: drain(first, got, "a"), "b": lambda: drain(second, got, "b")},
               timeout=20)
    assert got["a"] == got["b"] == ARCHIVE and len(store.sources) == 1


def test_the_only_target_reads_the_store_directly():
    store = Store()
    images, said = shared(store, expected=1)
    assert images.save(IMAGE) is store.sources[0] and said == []


def test_a_reader_that_stops_reading_is_cut_loose_and_goes_on_alone():
    store, got = Store(), {}
    images, said = shared(store, expected=3, stall=0.5)
    fast = [images.save(IMAGE) for _ in range(2)]
    slow = images.save(IMAGE)
    first = slow.read(1000)  # then it stops reading while the others go on
    in_threads({i: (lambda r=r, i=i: drain(r, got, f"fast{i}")) for i, r in enumerate(fast)})
    assert got["fast0"] == got["fast1"] == ARCHIVE
    assert len(store.sources) == 1  # the slow one held nobody beyond the bound
    drain(slow, got, "slow")  # it comes back: its own stream, after the bytes it had
    assert first + got["slow"] == ARCHIVE and "slow error" not in got
    assert len(store.sources) == 2
    assert any("goes on with its own docker save" in line for line in said)


def test_a_reader_cut_loose_fails_when_a_second_save_differs():
    store, got = Store(), {}
    images, _ = shared(store, expected=2, stall=0.3)
    fast, slow = images.save(IMAGE), images.save(IMAGE)
    slow.read(10)
    drain(fast, got, "fast")
    store.source = {"data": b"x" * len(ARCHIVE)}  # the store now saves other bytes
    drain(slow, got, "slow")
    assert got["fast"] == ARCHIVE
    assert "gave other bytes than the first" in got["slow error"]


def test_a_reader_whose_target_died_is_dropped_and_the_others_finish():
    store, got = Store(), {}
    images, _ = shared(store, expected=3, stall=60.0)  # a leak would stall 60s: timeout
    readers = [images.save(IMAGE) for _ in range(3)]

    def dies():
        readers[2].read(5000)
        raise ConnectionError("ssh exited")  # what ship's `finally` closes after

    def dying():
        try:
            dies()
        except ConnectionError:
            readers[2].close()

    in_threads({0: lambda: drain(readers[0], got, "a"), 1: lambda: drain(readers[1], got, "b"),
                2: dying}, timeout=20)
    assert got["a"] == got["b"] == ARCHIVE and len(store.sources) == 1


def test_a_late_reader_gets_its_own_stream():
    store, got = Store(), {}
    images, said = shared(store, expected=2)
    first, second = images.save(IMAGE), images.save(IMAGE)
    assert first.read(10) == ARCHIVE[:10]  # the stream has started
    late = images.save(IMAGE)
    in_threads({"a": lambda: drain(first, got, "a"), "b": lambda: drain(second, got, "b"),
                "late": lambda: drain(late, got, "late")})
    assert ARCHIVE[:10] + got["a"] == got["b"] == got["late"] == ARCHIVE
    assert len(store.sources) == 2 and late is store.sources[1]
    assert any("came late" in line for line in said)


def test_after_a_stream_ended_the_next_batch_shares_a_new_one():
    store, got = Store(), {}
    images, _ = shared(store, expected=2)
    batch = [images.save(IMAGE), images.save(IMAGE)]
    in_threads({i: (lambda r=r, i=i: drain(r, got, f"{i}")) for i, r in enumerate(batch)})
    images.expected = lambda _id: 4
    batch = [images.save(IMAGE), images.save(IMAGE)]
    in_threads({i: (lambda r=r, i=i: drain(r, got, f"{i}")) for i, r in enumerate(batch)})
    assert len(store.sources) == 2 and got["0"] == got["1"] == ARCHIVE


def test_a_failed_save_fails_every_reader_at_close():
    store, got = Store(fail_at_close="docker save failed (exit 1): no space"), {}
    images, _ = shared(store, expected=2)
    readers = [images.save(IMAGE), images.save(IMAGE)]
    in_threads({i: (lambda r=r, i=i: drain(r, got, f"t{i}")) for i, r in enumerate(readers)})
    assert got["t0 error"] == got["t1 error"] == "docker save failed (exit 1): no space"


def test_a_target_that_never_comes_is_waited_for_a_bounded_time():
    store, got = Store(), {}
    images, said = shared(store, expected=3, gather=0.3)
    readers = [images.save(IMAGE), images.save(IMAGE)]  # the third never asks
    in_threads({i: (lambda r=r, i=i: drain(r, got, f"t{i}")) for i, r in enumerate(readers)})
    assert hashlib.sha256(got["t0"]).digest() == hashlib.sha256(ARCHIVE).digest()
    assert got["t1"] == ARCHIVE and said[0].startswith("one docker save stream for 2 targets")


def test_the_store_s_other_methods_pass_through():
    class Full(Store):
        def image_id(self, ref):
            return IMAGE

        def serve(self, path):
            return "http://x/y"

    images, _ = shared(Full(), expected=1)
    assert images.image_id("app") == IMAGE and images.serve("p") == "http://x/y"
    assert images.history(IMAGE) is None and images.archive_image_id(Path("p")) is None
    images.decline(IMAGE)  # a target that has it: nothing to stream
    images.close()


ENGINE_OTTERFILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime=docker(port=8080),
                      targets=[ssh("root@web1"), ssh("root@web2"), ssh("root@web3")],
                      domains=["app.test"], proxy=caddy())
'''


def test_the_engine_expects_every_lane_that_has_not_failed_before_ship(tmp_path):
    from otterfile.artifacts.base import Artifact
    from otterfile.load.evaluate import evaluate
    from otterfile.executors.recording import RecordingExecutor
    from otterfile.load.loader import load
    from otterfile.run.engine import Engine
    (tmp_path / "Otterfile.py").write_text(ENGINE_OTTERFILE)
    engine = Engine(evaluate(load(tmp_path / "Otterfile.py")), lambda event: None,
                    connect=lambda host, _folder: RecordingExecutor(host), images=Store())
    try:
        assert isinstance(engine.images, SharedImages) and engine.images.store is not None
        lanes = [engine.lane("production", host) for host in ("web1", "web2", "web3")]
        assert engine.images.expected(IMAGE) == 0  # nothing acquired yet
        name = lanes[0].deployment.artifact.name
        engine.artifacts[name] = Artifact("image", IMAGE, image="app:1")
        assert engine.images.expected(IMAGE) == 3
        lanes[0].failed = "lock"  # it never ships
        lanes[1].failed, lanes[1].stage_seconds["ship"] = "health", 1.0  # it shipped
        assert engine.images.expected(IMAGE) == 2
        assert engine.images.expected("sha256:" + "c" * 64) == 0
    finally:
        engine.close()


def test_a_stream_stopped_midway_fails_its_readers_instead_of_ending_short():
    store, got = Store(), {}
    images, _ = shared(store, expected=2, buffer=CHUNK)
    first, second = images.save(IMAGE), images.save(IMAGE)
    first.read(10)  # started; both buffers fill, nobody reads on
    images.close()  # the run ends (engine.close)
    in_threads({"a": lambda: drain(first, got, "a"), "b": lambda: drain(second, got, "b")})
    assert "was stopped" in got["a error"] and "was stopped" in got["b error"]
    assert len(got["b"]) < len(ARCHIVE) and store.sources[0].closed


FAKE_SSH = '''#!/bin/sh
# the last argument is the host; a host named "down" cannot be reached
for host; do :; done
[ "$host" = down ] && { echo "ssh: connect to host down: Connection refused" >&2; exit 255; }
cat > "$OUT/$host"
'''
FAKE_ENGINE = '''#!/bin/sh
[ "$1" = load ] && cat > "$OUT/relay" && exit "${LOAD_EXIT:-0}"
'''


def test_the_relay_script_feeds_every_child_and_reports_each(tmp_path, monkeypatch):
    import os

    from otterfile.transfer.relay import Child, relay_command
    from otterfile.executors.local import LocalExecutor
    from otterfile.executors.recording import RecordingExecutor
    from tests.fakes import executable
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    executable(bin_ / "ssh", FAKE_SSH)
    executable(bin_ / "fakedocker", FAKE_ENGINE)
    out = tmp_path / "out"
    out.mkdir()
    children = [Child(RecordingExecutor(), name) for name in ("target2", "down", "target3")]
    command = relay_command(str(tmp_path), "fakedocker", children)
    monkeypatch.setenv("OUT", str(out))
    monkeypatch.setenv("PATH", f"{bin_}:{os.environ['PATH']}")
    result = LocalExecutor().run(command, stdin=io.BytesIO(ARCHIVE))
    assert result.ok, result.stderr
    for name in ("relay", "target2", "target3"):
        assert (out / name).read_bytes() == ARCHIVE, name  # one stream, every copy whole
    lines = [line.split()[:3] for line in result.stdout.splitlines()]
    assert lines == [["otter-relay", "1", "0"], ["otter-relay", "2", "255"],
                     ["otter-relay", "3", "0"]]
    assert "Connection refused" in result.stdout


def test_the_relay_checks_the_childrens_host_keys_as_the_controller_knows_them(tmp_path):
    from otterfile.transfer.relay import Child, known_hosts
    from otterfile.executors.recording import RecordingExecutor
    from otterfile.hosts import SSHHost
    known = tmp_path / "known_hosts"
    known.write_text("[127.0.0.1]:2202 ssh-ed25519 AAAAkey2\n"
                     "web3.example ssh-ed25519 AAAAkey3\n")
    two = RecordingExecutor(SSHHost("127.0.0.1", port=2202, known_hosts=str(known)))
    three = RecordingExecutor(SSHHost("web3.example", known_hosts=str(known)))
    assert known_hosts([Child(two, "target2"), Child(three, "10.0.0.3", port=2222)]) == \
        "target2 ssh-ed25519 AAAAkey2\n[10.0.0.3]:2222 ssh-ed25519 AAAAkey3\n"
    with pytest.raises(OtterError, match="no host key of unknown"):
        known_hosts([Child(RecordingExecutor(SSHHost("unknown", known_hosts=str(known))),
                           "x")])
