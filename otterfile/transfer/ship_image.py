"""Shipping an image: the controller's (or build host's) image store streams a `docker save`
archive into the runtime's `receive` on the target (`ship_image`), only the layers the
target lacks when it says which it holds, the whole image once more when its engine refuses
that archive; or to a relay, which loads it and passes it on (`ship_relay`). The archive is
streamed through the executor, never held whole on disk or in memory.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from otterfile.artifacts.base import Artifact, ImageStore
from otterfile.errors import OtterError
from otterfile.executors.base import Executor, Result
from otterfile.transfer.layers import LayerFilter, archive_diff_ids, missing
from otterfile.transfer.probe import probe, probed
from otterfile.transfer.ship_pull import ship_pull
from otterfile.transfer.shipped import (Counter, Guard, OnShipProgress, ShipResult, progress,
                                        unguarded)

if TYPE_CHECKING:
    from otterfile.runtimes.base import Runtime
    from otterfile.transfer.relay import Child


def ship_image(artifact: Artifact, runtime: Runtime, remote: Executor, images: ImageStore,
               on_progress: OnShipProgress | None,
               have: frozenset[str] | None = None, present: bool | None = None,
               guard: Guard = unguarded) -> ShipResult:
    """Stream the image into the target's engine when its probe (or `present`) says it
    lacks the id: only the layers it lacks when `have` says which it holds, the whole image
    once more when its engine refuses that archive."""
    if artifact.pull is not None:
        return ship_pull(artifact, runtime, remote, images, on_progress)
    started = time.monotonic()
    if probe(remote, runtime, artifact, present):
        images.decline(artifact.digest)  # a shared stream (fanout) need not wait for it
        return ShipResult(False, 0, time.monotonic() - started)
    stream, total, layers = archive(artifact, images, have)
    try:
        result = remote.run(guard(runtime.receive(artifact)), stdin=stream,
                            on_progress=progress(on_progress, total))
    finally:
        stream.close()
    sent = stream.count
    # an engine that refuses the partial archive exits with an error of its own; a load
    # killed by a signal (128+N), a connection lost (255) or a full disk is no refusal: no
    # second try
    refusal = (result.ok or 0 < result.exited < 128) and not _disk_full(result)
    after = probed(result.stdout) if result.ok else None  # a receive that probed (container)
    if layers and refusal and not (result.ok and probe(remote, runtime, artifact, after)):
        refused = "the image is missing after the load" if result.ok else \
            result.tail(1) or result.tail(1, "stdout") or f"exit {result.exited}"
        return _whole(artifact, runtime, remote, images, on_progress, started, sent, refused,
                      guard)
    if not result.ok:
        raise OtterError(f"{runtime.name} load on {remote.host.name} failed (exit "
                         f"{result.exited}): {result.tail(5)}")
    if not layers and not probe(remote, runtime, artifact, after):
        raise OtterError(f"after {runtime.name} load, {remote.host.name} has no image "
                         f"{artifact.digest} (what was shipped differs from the build)")
    if on_progress:  # done: the total is now known exactly
        on_progress(sent, sent)
    return ShipResult(True, sent, time.monotonic() - started, layers=layers)


def archive(artifact: Artifact, images: ImageStore, have: frozenset[str] | None,
            ) -> tuple[Counter, int | None, tuple[int, int] | None]:
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
        return Counter(source), total, None
    skip = [i for i in range(len(diff_ids)) if i not in lacking]
    return Counter(LayerFilter(source, diff_ids, skip)), None, (len(lacking), len(diff_ids))


def _disk_full(result: Result) -> bool:
    return "no space left on device" in (result.stderr + result.stdout).lower()


def _whole(artifact: Artifact, runtime: Runtime, remote: Executor, images: ImageStore,
           on_progress: OnShipProgress | None, started: float, sent: int,
           refused: str, guard: Guard) -> ShipResult:
    """After the engine refused a partial archive: the whole image, once (unless the probe
    finds the image there after all)."""
    done = ship_image(artifact, runtime, remote, images, on_progress, have=None, guard=guard)
    return ShipResult(True, sent + done.bytes, time.monotonic() - started,
                      refused=refused if done.shipped else None)


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
    stream, total, _ = archive(artifact, images, None)
    try:
        lacking = relay_image(stream, artifact.digest, remote, children, engine=engine,
                              run_id=run_id, image=artifact.image,
                              on_progress=progress(on_progress, total), on_info=on_info)
    finally:
        stream.close()
    if on_progress:
        on_progress(stream.count, stream.count)
    return ShipResult(True, stream.count, time.monotonic() - started), lacking
