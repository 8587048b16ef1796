"""The ship stage: put an artifact onto a target unless it has it already.

One round trip asks the runtime on the target (`probe`; the deploy flow asks in its state
read and passes the answer in as `present`); when it lacks the artifact, the
controller's image store streams it (`docker save` through the Docker SDK) into the
runtime's `receive` command through the executor (over SSH: the connection's master),
never held whole on disk or in memory. `FORMS` maps an artifact form to how it ships.
Two forms reach a target without the controller's bytes: a file each target downloads
(fetch via="target") and an image each target pulls from a registry (`ship_pull`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Callable

from otterfile.command import Command
from otterfile.commands import download
from otterfile.errors import OtterError
from otterfile.executors.base import Executor
from otterfile.report.text import human_size
from otterfile.artifacts.base import Artifact, ImageStore
from otterfile.transfer.layers import LayerFilter, archive_diff_ids, missing

if TYPE_CHECKING:
    from otterfile.executors.base import Result
    from otterfile.runtimes.base import Runtime
    from otterfile.artifacts.registry import Pull
    from otterfile.transfer.relay import Child

OnShipProgress = Callable[[int, "int | None"], None]
Guard = Callable[[Command], Command]  # wraps what reads the stream on the target


def _unguarded(receive: Command) -> Command:
    return receive


@dataclass(frozen=True)
class ShipResult:
    """Whether the artifact moved, how many bytes were sent, how long the stage took."""

    shipped: bool
    bytes: int
    seconds: float
    # what the target now has, when shipping pinned it (a registry tag resolved to a digest)
    artifact: Artifact | None = None
    # (layers sent, layers of the image) when the target had some of them
    layers: tuple[int, int] | None = None
    refused: str | None = None  # why the target's engine refused the partial archive

    @property
    def said(self) -> str:
        """What the ship stage says: `sent 1258291 bytes (1.2 MB: 3 of 7 layers; the target
        had the rest)`, `artifact already there`, ..."""
        if not self.shipped:
            return "artifact already there"
        if not self.bytes:
            return "downloaded by the target itself"
        if not self.layers:
            return f"sent {self.bytes} bytes"
        return (f"sent {self.bytes} bytes ({human_size(self.bytes)}: {self.layers[0]} of "
                f"{self.layers[1]} layers; the target had the rest)")


def ship(artifact: Artifact, runtime: Runtime, remote: Executor, images: ImageStore, *,
         on_progress: OnShipProgress | None = None,
         have: frozenset[str] | None = None, present: bool | None = None,
         guard: Guard = _unguarded) -> ShipResult:
    """Put `artifact` on the target behind `remote` for `runtime`, unless it is there.
    `have`: the layer chain ids the target holds (None: unknown); an image ships without
    them. `present`: what the runtime's probe said already (the deploy flow runs it in its
    state read, under the lock); None: ship asks, one round trip. `guard` wraps the
    runtime's receive (the deploy flow stops it on the target when the run is gone)."""
    ship_form = FORMS.get(artifact.form)
    if ship_form is None or artifact.form not in runtime.forms:
        raise OtterError(f"the {runtime.name} runtime cannot run {_a(artifact.form)} artifact")
    return ship_form(artifact, runtime, remote, images, on_progress, have=have,
                     present=present, guard=guard)


def ship_image(artifact: Artifact, runtime: Runtime, remote: Executor, images: ImageStore,
               on_progress: OnShipProgress | None,
               have: frozenset[str] | None = None, present: bool | None = None,
               guard: Guard = _unguarded) -> ShipResult:
    """Stream the image into the target's engine when its probe (or `present`) says it
    lacks the id: only the layers it lacks when `have` says which it holds, the whole image
    once more when its engine refuses that archive."""
    if artifact.pull is not None:
        return ship_pull(artifact, runtime, remote, images, on_progress)
    started = time.monotonic()
    if _probe(remote, runtime, artifact, present):
        images.decline(artifact.digest)  # a shared stream (fanout) need not wait for it
        return ShipResult(False, 0, time.monotonic() - started)
    stream, total, layers = _archive(artifact, images, have)
    progress = (lambda sent: on_progress(sent, total if total and sent <= total else None)) \
        if on_progress else None
    try:
        # _Counter reads like a file; BinaryIO declares more than a reader uses
        result = remote.run(guard(runtime.receive(artifact)),
                            stdin=stream, on_progress=progress)  # type: ignore[arg-type]
    finally:
        stream.close()
    sent = stream.count
    # an engine that refuses the partial archive exits with an error of its own; a load
    # killed by a signal (128+N), a connection lost (255) or a full disk is no refusal: no
    # second try
    refusal = (result.ok or 0 < result.exited < 128) and not _disk_full(result)
    if layers and refusal and not (result.ok and _probe(remote, runtime, artifact)):
        refused = "the image is missing after the load" if result.ok else \
            result.tail(1) or result.tail(1, "stdout") or f"exit {result.exited}"
        return _whole(artifact, runtime, remote, images, on_progress, started, sent, refused,
                      guard)
    if not result.ok:
        raise OtterError(f"{runtime.name} load on {remote.host.name} failed (exit "
                         f"{result.exited}): {result.tail(5)}")
    if not layers and not _probe(remote, runtime, artifact):
        raise OtterError(f"after {runtime.name} load, {remote.host.name} has no image "
                         f"{artifact.digest} (what was shipped differs from the build)")
    if on_progress:  # done: the total is now known exactly
        on_progress(sent, sent)
    return ShipResult(True, sent, time.monotonic() - started, layers=layers)


def _archive(artifact: Artifact, images: ImageStore, have: frozenset[str] | None,
             ) -> tuple[_Counter, int | None, tuple[int, int] | None]:
    """The `docker save` archive to send, counted: whole, or without the layers the target
    holds (`have`). Returns (stream, its size or None, (layers sent, layers) or None)."""
    if artifact.path is not None:  # a `docker save` archive built or fetched as a file
        source, total = images.open_file(artifact.path)
        # the diff ids of a file on the controller are cheap to read; a build host's: not
        diff_ids = archive_diff_ids(source) if have else []
    else:
        # the engine's image size is of the unpacked layers; the saved archive (tar headers)
        # runs a little past it, so it is an estimate: past it, the total is unknown
        diff_ids = images.layers(artifact.digest) if have else []
        total, source = images.size(artifact.digest), images.save(artifact.digest)
    lacking = missing(diff_ids, have) if have and diff_ids else []
    if len(lacking) == len(diff_ids):
        return _Counter(source), total, None
    skip = [i for i in range(len(diff_ids)) if i not in lacking]
    # LayerFilter reads like a file; BinaryIO declares more than _Counter uses
    return _Counter(LayerFilter(source, diff_ids, skip)), None, (  # type: ignore[arg-type]
        len(lacking), len(diff_ids))


def _disk_full(result: Result) -> bool:
    return "no space left on device" in (result.stderr + result.stdout).lower()


def lacks(artifact: Artifact, runtime: Runtime, remote: Executor,
          known: bool | None = None) -> bool:
    """The target's probe says it lacks the image: one round trip, none when `known` (what
    the state read's probe found) answers it."""
    return not _probe(remote, runtime, artifact, known)


def ship_relay(artifact: Artifact, remote: Executor, images: ImageStore,
               children: list[Child], *, engine: str, run_id: str,
               on_progress: OnShipProgress | None = None,
               on_info: Callable[[str], None] | None = None) -> tuple[ShipResult, list[Child]]:
    """Stream the WHOLE image to the relay behind `remote`, which loads it and passes it on to
    `children` (relay.Child): its children may lack any layer, so none is left out. Returns
    (ShipResult, the children that lack the image after it); raises relay.RelayFailed when
    the relay's own load failed. `on_info` hears what went wrong on a child."""
    from otterfile.transfer.relay import relay_image
    started = time.monotonic()
    stream, total, _ = _archive(artifact, images, None)
    progress = (lambda sent: on_progress(sent, total if total and sent <= total else None)) \
        if on_progress else None
    try:
        missing = relay_image(stream, artifact.digest,  # type: ignore[arg-type] # a reader
                              remote, children, engine=engine,
                              run_id=run_id, image=artifact.image, on_progress=progress,
                              on_info=on_info)
    finally:
        stream.close()
    if on_progress:
        on_progress(stream.count, stream.count)
    return ShipResult(True, stream.count, time.monotonic() - started), missing


def _whole(artifact: Artifact, runtime: Runtime, remote: Executor, images: ImageStore,
           on_progress: OnShipProgress | None, started: float, sent: int,
           refused: str, guard: Guard) -> ShipResult:
    """After the engine refused a partial archive: the whole image, once (unless the probe
    finds the image there after all)."""
    done = ship_image(artifact, runtime, remote, images, on_progress, have=None, guard=guard)
    return ShipResult(True, sent + done.bytes, time.monotonic() - started,
                      refused=refused if done.shipped else None)


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _probe(remote: Executor, runtime: Runtime, artifact: Artifact,
           known: bool | None = None) -> bool:
    """One round trip: is the image there (and its tag pointed at it)? `known`: the answer
    of a probe that already ran (no round trip)."""
    if known is not None:
        return known
    result = remote.run(runtime.probe(artifact))
    found = probed(result.stdout)
    if not result.ok or found is None:
        raise OtterError(f"cannot look for {artifact.image or artifact.digest} on "
                         f"{remote.host.name} (exit {result.exited}): {result.tail(3)}")
    return found


def probed(stdout: str) -> bool | None:
    """What a runtime's probe printed last: True (`present`, `tagged`), False (`missing`),
    None (anything else)."""
    state = (stdout.strip().splitlines()[-1:] or [""])[0].strip()
    return {"present": True, "tagged": True, "missing": False}.get(state)


class _Counter:
    """Counts the bytes read through it."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.count = stream, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.count += len(chunk)
        return chunk

    def close(self) -> None:
        close = getattr(self.stream, "close", None)
        if close:
            close()


def ship_file(artifact: Artifact, runtime: Runtime, remote: Executor, images: ImageStore,
              on_progress: OnShipProgress | None, have: frozenset[str] | None = None,
              present: bool | None = None, guard: Guard = _unguarded) -> ShipResult:
    """Stream a file from the controller's cache into the target's store, unless it (or
    `present`) says it is there; the target checks the digest before the file counts as
    stored."""
    started = time.monotonic()
    if _probe(remote, runtime, artifact, present):
        return ShipResult(False, 0, time.monotonic() - started)
    if artifact.path is None and artifact.url:  # fetch(via="target")
        return _download(artifact, remote, started)
    if artifact.path is None:
        raise OtterError(f"{artifact.source}: no local copy to ship")
    source, total = images.open_file(artifact.path)
    progress = (lambda sent: on_progress(sent, total)) if on_progress else None
    with source:
        stream = _Counter(source)
        result = remote.run(guard(runtime.receive(artifact)),
                            stdin=stream,  # type: ignore[arg-type]  # a reader, not a BinaryIO
                            on_progress=progress)
    if not result.ok:
        raise OtterError(f"storing {artifact.digest[:19]} on {remote.host.name} failed (exit "
                         f"{result.exited}): {result.tail(5)}")
    return ShipResult(True, stream.count, time.monotonic() - started)


def _download(artifact: Artifact, remote: Executor, started: float) -> ShipResult:
    """The target downloads the file itself into its store, verified there."""
    if artifact.url is None:
        raise OtterError(f"{artifact.source}: no URL for {remote.host.name} to download")
    result = remote.run(download.fetch_into_store(artifact.url, artifact.digest,
                                                  artifact.source))
    if not result.ok:
        raise OtterError(download.failure(result, remote.host.name, artifact.source))
    return ShipResult(True, 0, time.monotonic() - started)


def ship_pull(artifact: Artifact, runtime: Runtime, remote: Executor, images: ImageStore,
              on_progress: OnShipProgress | None, have: frozenset[str] | None = None,
              present: bool | None = None, guard: Guard = _unguarded) -> ShipResult:
    """The target pulls the image from its registry. The first target of the run pulls the
    tag and pins the digest the registry served while the others wait; they then pull
    NAME@sha256:... (nothing, when they have it). The result carries the pinned artifact:
    the digest the release records and the name the runtime runs."""
    from otterfile.artifacts.registry import pulled_artifact
    started, pull = time.monotonic(), artifact.pull
    with pull.pin.lock:
        first = pull.pin.digest is None
        if first:
            digest, moved = _pull(runtime, remote, pull, None)
            pull.pin.digest = digest
    if not first:
        digest, moved = _pull(runtime, remote, pull, pull.pin.digest)
    return ShipResult(moved, 0, time.monotonic() - started, pulled_artifact(artifact, digest))


def _pull(runtime: Runtime, remote: Executor, pull: Pull, digest: str | None) -> tuple[str, bool]:
    """Pull by digest (or by tag when `digest` is None): (the digest, whether it moved)."""
    pinned = pull.ref.pinned(digest) if digest else None
    what = pinned or pull.ref.by_tag
    result = remote.run(runtime.pull(pull.ref.by_tag, pinned=pinned, **pull.login))
    if not result.ok:
        reason = result.tail(4) or result.tail(4, "stdout") or f"exit {result.exited}"
        raise OtterError(pull.failure(remote.host.name, what, reason,
                                      login=runtime.login_refused(result.exited)))
    pulled = runtime.parse_pulled(result.stdout)
    if pulled.present:
        return digest or "", False
    if digest:
        return digest, True
    digest = pull.choose(pulled, remote.host.name)
    return digest, not pull.had(pulled, digest)


FORMS = {"image": ship_image, "file": ship_file}
