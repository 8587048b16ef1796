"""Shipping a file artifact: the controller's cache streams it into the runtime's store on
the target, which checks the digest before the file counts as stored (`ship_file`); a file
fetched with via="target" is downloaded by each target itself instead.
"""
from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from otterfile.artifacts.base import Artifact, ImageStore
from otterfile.commands import download
from otterfile.errors import OtterError
from otterfile.executors.base import Executor
from otterfile.transfer.probe import probe
from otterfile.transfer.shipped import Counter, Guard, OnShipProgress, ShipResult, unguarded

if TYPE_CHECKING:
    from otterfile.runtimes.base import Runtime


def ship_file(artifact: Artifact, runtime: Runtime, remote: Executor, images: ImageStore,
              on_progress: OnShipProgress | None, have: frozenset[str] | None = None,
              present: bool | None = None, guard: Guard = unguarded) -> ShipResult:
    """Stream a file from the controller's cache into the target's store, unless it (or
    `present`) says it is there; the target checks the digest before the file counts as
    stored."""
    started = time.monotonic()
    if probe(remote, runtime, artifact, present):
        return ShipResult(False, 0, time.monotonic() - started)
    if artifact.path is None and artifact.url:  # fetch(via="target")
        return _download(artifact, remote, started)
    if artifact.path is None:
        raise OtterError(f"{artifact.source}: no local copy to ship")
    source, total = images.open_file(artifact.path)
    sent = (lambda count: on_progress(count, total)) if on_progress else None
    with contextlib.closing(source):  # a build host's stream says here if `cat` failed
        stream = Counter(source)
        result = remote.run(guard(runtime.receive(artifact)), stdin=stream, on_progress=sent)
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
