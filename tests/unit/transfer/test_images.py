"""The controller's image store: which engine it talks to, and the save stream reader."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from otterfile.errors import OtterError
from otterfile.transfer import images

pytestmark = pytest.mark.unit


class FakeDocker:
    """The parts of the docker SDK `_client` uses; records how it connected."""

    def __init__(self, context):
        self.made = []
        self.context = SimpleNamespace(
            ContextAPI=SimpleNamespace(get_current_context=lambda: context))

    def DockerClient(self, **options):  # noqa: N802 - the SDK's name
        self.made.append(("context", options))
        return "context-client"

    def from_env(self):
        self.made.append(("env", {}))
        return "env-client"


@pytest.fixture
def fake(monkeypatch):
    def make(context):
        docker = FakeDocker(context)
        monkeypatch.setitem(__import__("sys").modules, "docker.context", docker.context)
        return docker
    return make


def test_the_current_docker_context_is_followed(fake, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    docker = fake(SimpleNamespace(name="colima", Host="unix:///tmp/colima.sock",
                                  TLSConfig=None))
    assert images._client(docker) == "context-client"
    assert docker.made == [("context", {"base_url": "unix:///tmp/colima.sock", "tls": None})]


@pytest.mark.parametrize("context", [None, SimpleNamespace(name="default", Host="x")])
def test_the_default_context_uses_the_environment(fake, monkeypatch, context):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    docker = fake(context)
    assert images._client(docker) == "env-client"


def test_docker_host_wins_over_a_context(fake, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    docker = fake(SimpleNamespace(name="colima", Host="unix:///x", TLSConfig=None))
    assert images._client(docker) == "env-client"


def test_chunk_reader_reads_any_size_across_chunks():
    reader = images.ChunkReader(iter([b"abc", b"", b"defgh", b"i"]))
    assert reader.read(2) == b"ab"
    assert reader.read(4) == b"cdef"
    assert reader.read(-1) == b"ghi"
    assert reader.read(5) == b""


def test_a_stream_that_breaks_off_ends_and_close_names_why():
    """A `docker save` cut off mid-stream: the bytes before it, then the end, and close
    raises what broke (the ship names it, not the target's truncated load)."""
    def chunks():
        yield b"abc"
        raise ConnectionError("Connection broken: IncompleteRead(64 bytes read)")
    reader = images.ChunkReader(chunks(), "docker save sha256:1234 on the controller")
    assert reader.read(2) == b"ab" and reader.read(10) == b"c" and reader.read(10) == b""
    with pytest.raises(OtterError, match=r"^docker save sha256:1234 on the controller broke "
                                         r"off: Connection broken: IncompleteRead"):
        reader.close()
    reader.close()  # told once


def test_planned_images_have_a_placeholder_and_an_empty_stream():
    store = images.PlannedImages()
    assert store.image_id("app:1") == "sha256:<digest>"
    assert store.save(store.DIGEST).read() == b""
