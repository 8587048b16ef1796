"""ship decisions against a recording target and a fake image store: skip, tag, stream,
clear errors; and the probe script run against a fake engine. No docker."""
from __future__ import annotations

import io
import subprocess

import pytest

from otterfile.artifacts.base import Artifact
from otterfile.transfer.images import ControllerStore
from otterfile.transfer.probe import probed
from otterfile.transfer.ship import ship
from otterfile.transfer.shipped import ShipResult
from otterfile.commands import container
from otterfile.errors import OtterError
from otterfile.executors.recording import RecordingExecutor
from otterfile.runtimes import docker, podman, systemd
from tests.fakes import executable

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "a" * 64
ARTIFACT = Artifact("image", DIGEST, image="app:1", commit="c" * 40, ref="main", source="/r")
ARCHIVE = b"layer" * 50_000  # what the fake store's `docker save` streams


class FakeImages(ControllerStore):
    """The controller's image store: `save` streams ARCHIVE and records what was saved."""

    def __init__(self, size: int | None = len(ARCHIVE)):
        self._size, self.saved = size, []

    def size(self, image_id: str) -> int | None:
        return self._size

    def save(self, image_id: str) -> io.BytesIO:
        self.saved.append(image_id)
        return io.BytesIO(ARCHIVE)

    def decline(self, image_id: str) -> None:
        """A target had it (fanout.SharedImages stops waiting for it)."""

    def open_file(self, path):
        from otterfile.transfer.images import open_file
        return open_file(path)


class Target(RecordingExecutor):
    """A recording target that reads the stream it is given (in chunks, reporting
    progress) and answers the probe `before` until an archive arrived, `after` then; its
    load (container/load.sh) prints the probe's answer last, unless `probes` is False."""

    def __init__(self, before: str = "missing\n", after: str = "present\n", load: int = 0,
                 probes: bool = True):
        super().__init__()
        self.before, self.after, self.load = before, after, load
        self.loaded = "Loaded image ID: " + DIGEST + "\n" + (self.after if probes else "")
        self.received = b""

    def run(self, command, *, stdin=None, on_progress=None, **kwargs):
        if stdin is not None:
            while chunk := stdin.read(64 * 1024):
                self.received += chunk
                if on_progress:
                    on_progress(len(self.received))
        self.responses = {lambda c: c.description.startswith("look for"):
                          self.after if self.received else self.before,
                          lambda c: c.description.endswith(" load"):
                          self.load or self.loaded}
        return super().run(command, **kwargs)


@pytest.mark.parametrize("answer", ["present\n", "tagged\n"])
def test_target_with_the_image_id_is_skipped_in_one_round_trip(answer):
    target, images = Target(before=answer), FakeImages()
    result = ship(ARTIFACT, docker.RUNTIME, target, images)
    assert result.shipped is False and result.bytes == 0 and isinstance(result, ShipResult)
    assert [c.argv for c in target.commands] == [container.probe("docker", DIGEST,
                                                                 "app:1").argv]
    assert images.saved == []  # nothing read from the controller's engine


@pytest.mark.parametrize("runtime", [docker.RUNTIME, podman.RUNTIME], ids=lambda r: r.name)
def test_a_missing_image_is_streamed_into_the_engine_and_probed_in_that_trip(runtime):
    target, images, progress = Target(), FakeImages(), []
    result = ship(ARTIFACT, runtime, target, images,
                  on_progress=lambda sent, total: progress.append((sent, total)))
    assert result.shipped and result.bytes == len(ARCHIVE) and target.received == ARCHIVE
    assert images.saved == [DIGEST]  # saved by id: exactly what acquire identified
    probe = container.probe(runtime.name, DIGEST, "app:1")
    load = container.load(runtime.name, DIGEST, "app:1")
    assert [c.argv for c in target.commands] == [probe.argv, load.argv]
    assert probe.shell_line() in load.argv  # the load's trip runs the probe after it
    assert progress[-1] == (len(ARCHIVE), len(ARCHIVE)) and len(progress) > 1


def test_a_load_without_the_probe_s_answer_is_probed_in_a_trip_of_its_own():
    target = Target(probes=False)
    assert ship(ARTIFACT, docker.RUNTIME, target, FakeImages()).shipped
    assert [c.description for c in target.commands] == \
        ["look for app:1", "docker load", "look for app:1"]


def test_progress_without_a_known_size():
    progress = []
    ship(ARTIFACT, docker.RUNTIME, Target(), FakeImages(size=None),
         on_progress=lambda sent, total: progress.append((sent, total)))
    # unknown while it runs; once loaded, the count is the total
    assert progress[-2] == (len(ARCHIVE), None) and progress[-1] == (len(ARCHIVE),) * 2


def test_a_failed_load_is_a_clear_error():
    with pytest.raises(OtterError, match=r"docker load on local failed \(exit 1\)"):
        ship(ARTIFACT, docker.RUNTIME, Target(load=1), FakeImages())


def test_still_missing_after_the_load_is_a_clear_error():
    with pytest.raises(OtterError, match="has no image sha256:a+ .*differs from the build"):
        ship(ARTIFACT, docker.RUNTIME, Target(after="missing\n"), FakeImages())


# An engine that logs its argv; `image inspect` prints a line per name it finds, in order
# (the tag: $TAG_ID, the bare id: $HAVE_ID; docker prints "sha256:...", podman bare hex;
# empty: no such image) and exits 1 when one was not found, as both engines do.
FAKE_ENGINE = r"""#!/bin/sh
echo "$*" >> "$LOG"
case "$*" in
  "image inspect --format {{.Id}} "*)
    shift 3; status=0
    for name in "$@"; do
      case $name in
        app:1) found=$TAG_ID ;;
        "$WANT") found=$HAVE_ID ;;
        *) found="" ;;
      esac
      if [ -n "$found" ]; then echo "$found"; else status=1; fi
    done
    exit "$status" ;;
esac
"""


@pytest.mark.parametrize("engine, shown", [("docker", DIGEST),
                                           ("podman", container.bare_id(DIGEST))])
def test_probe_script_checks_id_and_tags_it(tmp_path, engine, shown):
    """Run the probe script against a fake engine to see each branch."""
    fake = tmp_path / engine
    executable(fake, FAKE_ENGINE)
    bare = container.bare_id(DIGEST)

    def probe(tag_id: str, have_id: str) -> tuple[str, str]:
        log = tmp_path / f"log{tag_id}{have_id}"
        env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "LOG": str(log), "TAG_ID": tag_id,
               "HAVE_ID": have_id, "WANT": bare}
        out = subprocess.run(container.probe(engine, DIGEST, "app:1").argv_values(), env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        return out, log.read_text()

    out, log = probe(shown, shown)
    assert out == "present" and "tag " not in log
    assert log.count("image inspect") == 1  # the id and the tag in one inspect
    out, log = probe("sha256:other", shown)
    assert out == "tagged" and f"tag {bare} app:1" in log.splitlines()
    out, log = probe("", shown)  # the id without the tag
    assert out == "tagged" and f"tag {bare} app:1" in log.splitlines()
    assert probe("", "")[0] == "missing"
    assert probe("sha256:other", "")[0] == "missing"  # the tag names another image


def test_probe_of_an_untagged_image_looks_for_the_id_only(tmp_path):
    fake = tmp_path / "docker"
    executable(fake, FAKE_ENGINE)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "LOG": str(tmp_path / "log"), "TAG_ID": "",
           "HAVE_ID": DIGEST, "WANT": container.bare_id(DIGEST)}
    out = subprocess.run(container.probe("docker", DIGEST, None).argv_values(), env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "present" and "tag " not in (tmp_path / "log").read_text()


@pytest.mark.parametrize("load_exit, last", [(0, "present"), (1, None)])
def test_the_load_script_probes_after_a_load_that_worked(tmp_path, load_exit, last):
    """container/load.sh: the engine's load, then the probe's answer as the last line; a
    failed load exits with its own status and probes nothing."""
    executable(tmp_path / "docker", FAKE_ENGINE.replace(
        'case "$*" in', f'case "$*" in\n  load) cat >/dev/null; exit {load_exit} ;;'))
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "LOG": str(tmp_path / "log"), "TAG_ID": DIGEST,
           "HAVE_ID": DIGEST, "WANT": container.bare_id(DIGEST)}
    done = subprocess.run(container.load("docker", DIGEST, "app:1").argv_values(), env=env,
                          input="archive", capture_output=True, text=True)
    assert done.returncode == load_exit
    assert probed(done.stdout) is (True if last else None)
    assert ("image inspect" in (tmp_path / "log").read_text()) is bool(last)


def test_target_without_docker_is_a_clear_error():
    target = RecordingExecutor(responses={"docker": 127})
    with pytest.raises(OtterError, match="cannot look for app:1 on local"):
        ship(ARTIFACT, docker.RUNTIME, target, FakeImages())


def test_a_file_artifact_cannot_run_in_a_container():
    target = RecordingExecutor()
    with pytest.raises(OtterError, match="the docker runtime runs images; this file is not a `docker save` archive"):
        ship(Artifact("file", "ab", source="/r"), docker.RUNTIME, target, FakeImages())
    assert target.commands == []


def test_an_image_cannot_run_under_systemd():
    with pytest.raises(OtterError, match="the systemd runtime cannot run an? image artifact"):
        ship(ARTIFACT, systemd.RUNTIME, RecordingExecutor(), FakeImages())


def test_a_file_streams_from_the_controller_cache_into_the_store(tmp_path):
    from otterfile.commands import store
    from otterfile.runtimes import systemd
    data = b"tarball" * 10_000
    kept = tmp_path / "kept"
    kept.write_bytes(data)
    digest = "sha256:" + __import__("hashlib").sha256(data).hexdigest()
    artifact = Artifact("file", digest, path=kept, source="/r")
    target, progress = Target(), []
    result = ship(artifact, systemd.RUNTIME, target, FakeImages(),
                  on_progress=lambda sent, total: progress.append((sent, total)))
    assert result.shipped and result.bytes == len(data) and target.received == data
    assert [c.argv for c in target.commands] == [store.probe(digest).argv,
                                                 store.receive(digest).argv]
    assert progress[-1] == (len(data), len(data))
    again = ship(artifact, systemd.RUNTIME, Target(before="present\n"), FakeImages())
    assert not again.shipped and again.bytes == 0
