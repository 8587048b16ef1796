"""The ship stage for images: stream `docker save` into the target's `docker load`.

One round trip first asks the target for the image id; when it has it, nothing moves. The
archive is streamed from a `docker save` process on the controller straight into the
executor's stdin (over SSH: the connection's master), never held whole on disk or in memory.

Why a `docker save` process rather than the Docker SDK's `get_image` chunks: the CLI talks
to the same engine as the user's `docker build` command did (it honours `docker context`
and DOCKER_HOST alike; the SDK reads only DOCKER_HOST), and its stdout is a plain pipe with
backpressure, so a slow target simply slows the reader.
"""
from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from .acquire import Artifact
from .commands import image as images
from .errors import OtterError
from .executors.base import Executor
from .executors.local import LocalExecutor

OnShipProgress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class ShipResult:
    """Whether the image moved, how many bytes were sent, how long the stage took."""

    shipped: bool
    bytes: int
    seconds: float


@dataclass(frozen=True)
class _Probe:
    """What the target has. `layers` is the seam for shipping only missing layers:
    once the probe lists the target's layer digests, `_archive` leaves those out."""

    present: bool
    layers: frozenset[str] = frozenset()


def ship_image(artifact: Artifact, remote: Executor, *,
               on_progress: OnShipProgress | None = None) -> ShipResult:
    """Put the artifact's image on the target behind `remote`, unless it is there already.

    `on_progress(bytes_sent, total)` follows the transfer; `total` is the image size as the
    controller's engine reports it (an estimate of the archive's size), or None.
    """
    started = time.monotonic()
    if artifact.kind != "image":
        raise OtterError(f"ship_image: {artifact.source} is a {artifact.kind}, not an image")
    if _probe(remote, artifact).present:
        return ShipResult(False, 0, time.monotonic() - started)
    total = _local_size(artifact.digest)
    with _archive(artifact, have=frozenset()) as stream:
        counted = _Counter(stream)
        progress = (lambda sent: on_progress(sent, total)) if on_progress else None
        result = remote.run(images.load(), stdin=counted, on_progress=progress)
        stream.finish()
    if not result.ok:
        raise OtterError(f"docker load on {remote.host.name} failed (exit {result.exited}): "
                         f"{result.tail(5)}")
    if not _probe(remote, artifact).present:
        raise OtterError(f"after docker load, {remote.host.name} has no image "
                         f"{artifact.digest} (what was shipped differs from the build)")
    return ShipResult(True, counted.count, time.monotonic() - started)


def _probe(remote: Executor, artifact: Artifact) -> _Probe:
    """One round trip: is the image id there (and its tag pointed at it)?"""
    result = remote.run(images.probe(artifact.digest, artifact.image))
    state = result.stdout.strip().splitlines()[-1:] or [""]
    if not result.ok or state[0] not in ("present", "tagged", "missing"):
        raise OtterError(f"cannot look for image {artifact.image or artifact.digest} on "
                         f"{remote.host.name} (exit {result.exited}): {result.tail(3)}")
    return _Probe(present=state[0] != "missing")


@contextlib.contextmanager
def _archive(artifact: Artifact, *, have: frozenset[str]) -> Iterator["_SaveStream"]:
    """A `docker save` archive of the image, read as a stream.

    Saved by id, so the target receives exactly the digest acquire recorded even if the
    tag has moved since; the probe after the load points the tag at it. `have` (layers the
    target holds) is not used yet: a later version drops those layer tarballs from the
    stream, which `docker load` accepts (TESTBED.md).
    """
    # The one process otter starts outside an executor: executors return a finished
    # Result, and this output must be read while the process runs.
    with tempfile.TemporaryFile() as errors:  # a file, so a chatty stderr cannot block it
        process = subprocess.Popen(images.save(artifact.digest).argv_values(),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=errors)
        stream = _SaveStream(process, artifact.digest, errors)
        try:
            yield stream
        finally:
            stream.close()


class _SaveStream:
    """The stdout of a `docker save` process; `finish` checks how the process ended."""

    def __init__(self, process: subprocess.Popen, image: str, errors: BinaryIO):
        self.process, self.image, self.errors = process, image, errors

    def read(self, size: int = -1) -> bytes:
        return self.process.stdout.read(size)

    def finish(self) -> None:
        """Raise when `docker save` failed (an empty or cut archive is its fault, not load's)."""
        self.process.stdout.close()
        if self.process.wait() != 0:
            self.errors.seek(0)
            error = self.errors.read().decode(errors="replace").strip()
            raise OtterError(f"docker save {self.image} failed on the controller: {error}")

    def close(self) -> None:
        if self.process.poll() is None:  # the target went away mid-stream
            self.process.kill()
        self.process.stdout.close()
        self.process.wait()


class _Counter:
    """Counts the bytes read through it."""

    def __init__(self, stream: BinaryIO | _SaveStream):
        self.stream, self.count = stream, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.count += len(chunk)
        return chunk


def _local_size(image: str) -> int | None:
    """The image's size on the controller's engine, or None when it cannot say."""
    result = LocalExecutor().run(images.image_size(image))
    size = result.stdout.strip()
    return int(size) if result.ok and size.isdigit() else None
