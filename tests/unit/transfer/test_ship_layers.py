"""Shipping only the layers a target lacks, against fake targets: what is sent, what is
said, and the whole image once more when the engine refuses the partial archive. Also the
flow around it: the layer listing rides in recover's one round trip. No docker."""
from __future__ import annotations

import io
import json
import tarfile
from types import SimpleNamespace

import pytest

from otterfile.artifacts.base import Artifact
from otterfile.transfer.images import ControllerStore
from otterfile.transfer.layers import chain_ids
from otterfile.transfer.ship import ship
from otterfile.transfer.shipped import ShipResult
from otterfile.commands import container
from otterfile.errors import OtterError
from otterfile.executors.base import Result
from otterfile.executors.recording import RecordingExecutor
from otterfile.hosts import LocalHost
from otterfile.plan.planner import plan
from otterfile.run import recover, target as reads
from otterfile.run.deploy import execute
from otterfile.run.engine import Engine
from otterfile.runtimes import docker, podman, systemd
from tests.unit.run.test_flow import KEY, project
from tests.unit.transfer.test_layers import archive

pytestmark = pytest.mark.unit

BASE, APP = b"base layer " * 20_000, b"app v2"
ARCHIVE, DIFFS = archive([BASE, APP])
DIGEST = "sha256:" + "ab" * 32
ARTIFACT = Artifact("image", DIGEST, image="app:1", source="/r")
HAS_BASE = frozenset(chain_ids(DIFFS)[:1])


class Images(ControllerStore):
    """The controller's engine: `save` streams ARCHIVE, whose layers are DIFFS."""

    def __init__(self):
        self.saved = 0

    def image_id(self, ref):
        return DIGEST

    def decline(self, image_id):  # ship tells a shared stream (fanout) it need not wait
        pass

    def size(self, image_id):
        return len(ARCHIVE)

    def layers(self, image_id):
        return list(DIFFS)

    def save(self, image_id):
        self.saved += 1
        return io.BytesIO(ARCHIVE)

    def decline(self, image_id):
        self.declined = image_id

    def open_file(self, path):
        from otterfile.transfer.images import open_file
        return open_file(path)


class Target(RecordingExecutor):
    """A target that reads each archive it is sent; its engine refuses an archive with an
    emptied layer when `refuses`, and has the image once an accepted archive arrived."""

    def __init__(self, refuses: bool = False, host: str = "web1"):
        super().__init__(LocalHost(host))
        self.refuses, self.archives, self.has = refuses, [], False

    def run(self, command, *, stdin=None, on_progress=None, **kwargs):
        self.commands.append(command)
        if stdin is not None:
            data = b""
            while chunk := stdin.read(64 * 1024):
                data += chunk
                if on_progress:
                    on_progress(len(data))
            self.archives.append(data)
            partial = any(m.size == 0 for m in tarfile.open(fileobj=io.BytesIO(data))
                          if m.name.endswith("layer.tar"))
            if partial and self.refuses:
                return Result(command, 125, stderr="Error: some layer tarfiles are missing\n",
                              host=self.host.name)
            self.has = True
            return Result(command, 0, stdout="Loaded image\n", host=self.host.name)
        if command.description.startswith("look for"):
            return Result(command, 0, stdout="present\n" if self.has else "missing\n",
                          host=self.host.name)
        return self._answer(command)  # canned, for the flow's other round trips


def layer_sizes(data: bytes) -> list[int]:
    return sorted(m.size for m in tarfile.open(fileobj=io.BytesIO(data))
                  if m.name.endswith("layer.tar"))


@pytest.mark.parametrize("runtime", [docker.RUNTIME, podman.RUNTIME], ids=lambda r: r.name)
def test_only_the_missing_layer_is_sent(runtime):
    target, progress = Target(), []
    done = ship(ARTIFACT, runtime, target, Images(), have=HAS_BASE,
                on_progress=lambda sent, total: progress.append((sent, total)))
    [sent] = target.archives
    assert layer_sizes(sent) == [0, len(APP)] and len(sent) < len(BASE)
    assert done.shipped and done.bytes == len(sent) and done.layers == (1, 2)
    assert done.refused is None
    assert [c.description for c in target.commands] == \
        ["look for app:1", f"{runtime.name} load", "look for app:1"]
    assert progress[-1] == (len(sent), len(sent))  # the total is unknown until the end


def test_unknown_layers_send_the_whole_image():
    for have in (None, frozenset()):
        target = Target()
        done = ship(ARTIFACT, docker.RUNTIME, target, Images(), have=have)
        assert target.archives == [ARCHIVE] and done.layers is None
        assert done.bytes == len(ARCHIVE)


def test_an_image_the_target_has_sends_nothing_whatever_its_layers():
    target = Target()
    target.has = True
    done = ship(ARTIFACT, docker.RUNTIME, target, Images(), have=HAS_BASE)
    assert not done.shipped and done.bytes == 0 and target.archives == []


def test_a_refused_partial_archive_is_followed_by_the_whole_image():
    target, images = Target(refuses=True), Images()
    done = ship(ARTIFACT, docker.RUNTIME, target, images, have=HAS_BASE)
    partial, whole = target.archives
    assert whole == ARCHIVE and images.saved == 2
    assert done.shipped and done.bytes == len(partial) + len(ARCHIVE)
    assert done.refused == "Error: some layer tarfiles are missing" and done.layers is None
    assert [c.description for c in target.commands] == \
        ["look for app:1", "docker load", "look for app:1", "docker load", "look for app:1"]


def test_a_partial_load_that_leaves_no_image_falls_back_too():
    class Forgetful(Target):  # the load says yes, the probe still finds nothing once
        def run(self, command, **kwargs):
            result = super().run(command, **kwargs)
            if len(self.archives) == 1 and command.description.endswith("load"):
                self.has = False
            return result
    target = Forgetful()
    done = ship(ARTIFACT, docker.RUNTIME, target, Images(), have=HAS_BASE)
    assert len(target.archives) == 2 and target.archives[1] == ARCHIVE
    assert done.refused == "the image is missing after the load"


def test_a_kept_archive_file_is_filtered_too(tmp_path):
    path = tmp_path / "app.tar"
    path.write_bytes(ARCHIVE)
    target = Target()
    done = ship(Artifact("image", DIGEST, image="app:1", path=path, source="/r"),
                docker.RUNTIME, target, Images(), have=HAS_BASE)
    assert layer_sizes(target.archives[0]) == [0, len(APP)] and done.layers == (1, 2)


def test_what_the_ship_stage_says():
    def said(**fields):
        return ShipResult(**{"shipped": True, "bytes": 0, "seconds": 1, **fields}).said
    assert said(shipped=False) == "artifact already there"
    assert said(bytes=2_000_000) == "sent 2000000 bytes"
    assert said(bytes=1_258_291, layers=(3, 7)) == \
        "sent 1258291 bytes (1.2 MB: 3 of 7 layers; the target had the rest)"


# the flow: recover asks for the layers in its one round trip, ship uses them

def listing(diffs) -> str:
    return f"{reads.LAYERS_MARK}\n{json.dumps(diffs)}\nnot json\n"


def deploy(tmp_path, state: str, target: Target):
    proj, events = project(tmp_path, "docker", "caddy"), []
    read = KEY + "\n--- otter:instances\n--- otter:log\n" + reads.SITE_MARK + "\n" + state
    target.responses = {lambda c: c.description.startswith("read state"): read,
                        lambda c: c.description.startswith("start "): "port=20001\n",
                        lambda c: c.description.startswith(("lock ", "unlock ")):
                        "status=acquired\n"}
    engine = Engine(proj, events.append, images=Images(), release_id=lambda _: "R1",
                    connect=lambda host, _f: target if host.name == "web1"
                    else RecordingExecutor(host))
    outcome = execute(plan(proj, ["production"]), engine, None).outcome
    ship_said = [e.message for e in events if e.kind == "info" and e.task
                 and e.task.stage == "ship"]
    return outcome, ship_said, engine.lanes[("production", "web1")]


def test_recover_reads_the_layers_in_its_round_trip_and_ship_sends_the_rest(tmp_path):
    target = Target()
    outcome, said, lane = deploy(tmp_path, listing(DIFFS[:1]), target)
    assert outcome.ok, outcome.errors
    assert lane.layers == HAS_BASE
    read = [c for c in target.commands if c.description.startswith("read state")]
    assert len(read) == 1 and "RootFS.Layers" in " ".join(read[0].argv_values())
    assert said == [f"sent {len(target.archives[0])} bytes "
                    f"({len(target.archives[0]) / 1024:.1f} KB: 1 of 2 layers; "
                    "the target had the rest)"]


def test_a_refusal_is_said_naming_the_host(tmp_path):
    target = Target(refuses=True)
    outcome, said, _ = deploy(tmp_path, listing(DIFFS[:1]), target)
    assert outcome.ok, outcome.errors
    assert said[0] == "web1 refused the partial archive (Error: some layer tarfiles are " \
                      "missing): sent the whole image"
    assert said[1] == f"sent {len(target.archives[0]) + len(ARCHIVE)} bytes"


@pytest.mark.parametrize("listed, layers", [
    ("", None),  # no marker: the listing never ran (unknown)
    (f"{reads.LAYERS_MARK}\ndocker: garbage\n", frozenset()),  # nothing readable in it
], ids=["unknown", "unreadable"])
def test_a_target_without_a_readable_listing_gets_the_whole_image(tmp_path, listed, layers):
    target = Target()
    outcome, said, lane = deploy(tmp_path, listed, target)
    assert outcome.ok and lane.layers == layers and target.archives == [ARCHIVE]
    assert said == [f"sent {len(ARCHIVE)} bytes"]


def lane_for(runtime, artifact: Artifact | None, rollback: bool = False):
    engine = SimpleNamespace(artifacts={"web": artifact} if artifact else {},
                             rollback=rollback)
    lane = SimpleNamespace(deployment=SimpleNamespace(artifact=SimpleNamespace(name="web")),
                           runtime=runtime)
    return engine, lane


@pytest.mark.parametrize("runtime, artifact, rollback, asked", [
    (docker.RUNTIME, ARTIFACT, False, True),
    (podman.RUNTIME, ARTIFACT, False, True),
    (docker.RUNTIME, Artifact("image", DIGEST, image="r/app@" + DIGEST, pull=object()),
     False, False),  # a registry pull: the registry sends what is missing
    (docker.RUNTIME, ARTIFACT, True, False),  # a rollback ships nothing
    (systemd.RUNTIME, Artifact("file", DIGEST, source="/r"), False, False),
], ids=["docker", "podman", "registry", "rollback", "systemd"])
def test_which_lanes_ask_for_layers(runtime, artifact, rollback, asked):
    command = recover.layers_to_read(*lane_for(runtime, artifact, rollback))
    assert (command == container.layer_lists(runtime.name)) if asked else command is None



@pytest.mark.parametrize("exited", [137, 255])
def test_a_load_killed_or_cut_off_is_no_refusal_and_is_not_tried_again(exited):
    class Killed(Target):  # `docker load` killed (128+9) or the connection lost (255)
        def run(self, command, *, stdin=None, **kwargs):
            if stdin is not None:
                stdin.read(1024)
                self.archives.append(b"cut")
                return Result(command, exited, stderr="Killed\n", host=self.host.name)
            return super().run(command, **kwargs)
    target, images = Killed(), Images()
    with pytest.raises(OtterError, match=f"docker load on web1 failed \\(exit {exited}\\)"):
        ship(ARTIFACT, docker.RUNTIME, target, images, have=HAS_BASE)
    assert target.archives == [b"cut"] and images.saved == 1


def test_a_full_disk_is_no_refusal_and_the_whole_image_is_not_sent_after_it():
    full = "Error processing tar file(exit status 1): write /x/layer.tar: no space left on device"

    class Full(Target):  # the engine's temporary archive hit a full file system
        def run(self, command, *, stdin=None, **kwargs):
            if stdin is not None:
                stdin.read(1024)
                self.archives.append(b"partial")
                return Result(command, 1, stderr=full + "\n", host=self.host.name)
            return super().run(command, **kwargs)
    target, images = Full(), Images()
    with pytest.raises(OtterError, match="docker load on web1 failed \\(exit 1\\): .*no space "
                       "left on device"):
        ship(ARTIFACT, docker.RUNTIME, target, images, have=HAS_BASE)
    assert target.archives == [b"partial"] and images.saved == 1
