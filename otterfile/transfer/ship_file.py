"""Shipping a file artifact: the controller's cache streams it into the runtime's store on
the target, which checks the digest before the file counts as stored (`ship_file`); a file
fetched with via="target" is downloaded by each target itself instead.
"""
from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from otterfile.artifacts.base import Artifact, ImageStore
from otterfile.command import Command
from otterfile.commands import download, store
from otterfile.errors import OtterError
from otterfile.executors.base import Executor, Readable, Result
from otterfile.transfer.probe import probe
from otterfile.transfer.shipped import Counter, Guard, OnShipProgress, ShipResult, unguarded

if TYPE_CHECKING:
    from otterfile.runtimes.base import Runtime


def ship_file(artifact: Artifact, runtime: Runtime, remote: Executor, images: ImageStore,
              on_progress: OnShipProgress | None, have: frozenset[str] | None = None,
              present: bool | None = None, guard: Guard = unguarded,
              then: Command | None = None, beside: Command | None = None) -> ShipResult:
    """Stream a file from the controller's cache into the target's store, unless it (or
    `present`) says it is there; the target checks the digest before the file counts as
    stored. `then` (the start of a release) runs in the same round trip once the file is
    stored, its digest checked; its Result is ShipResult.then (None: it did not run, the
    file was there or is fetched by the target); `beside` at the same time as `then`
    (ShipResult.beside)."""
    started = time.monotonic()
    if probe(remote, runtime, artifact, present):
        return ShipResult(False, 0, time.monotonic() - started)
    if artifact.path is None and artifact.url:  # fetch(via="target")
        return _download(artifact, remote, started)
    if artifact.path is None:
        raise OtterError(f"{artifact.source}: no local copy to ship")
    source, total = images.open_file(artifact.path)
    sent = (lambda count: on_progress(count, total)) if on_progress else None
    after: Result | None = None
    aside: Result | None = None
    with contextlib.closing(source):  # a build host's stream says here if `cat` failed
        stream = Counter(source)
        receive = guard(runtime.receive(artifact))
        if then is None:
            result = remote.run(receive, stdin=stream, on_progress=sent)
        else:
            both, first = store.receive_then(receive, then, beside)
            shift = (lambda count: sent(max(0, count - len(first)))) if sent else None
            result, after = _parted(remote.run(both, stdin=_Prefixed(first, stream),
                                               on_progress=shift), receive, then)
            if after is not None and beside is not None:
                after, aside = _beside(after, beside)
    if not result.ok:
        raise OtterError(f"storing {artifact.digest[:19]} on {remote.host.name} failed (exit "
                         f"{result.exited}): {result.tail(5)}")
    return ShipResult(True, stream.count, time.monotonic() - started,
                      then=after, beside=aside)


class _Prefixed:
    """`stream` read after `first` (the next command's input, sent before the file)."""

    def __init__(self, first: bytes, stream: Readable):
        self.first, self.stream = first, stream

    def read(self, size: int = -1) -> bytes:
        if not self.first:
            return self.stream.read(size)
        cut = len(self.first) if size < 0 else size
        chunk, self.first = self.first[:cut], self.first[cut:]
        return chunk

    def close(self) -> None:
        self.stream.close()


def _beside(after: Result, beside: Command) -> tuple[Result, Result | None]:
    """`then`'s Result parted from what ran beside it (None: it did not run)."""
    out, mark, rest = after.stdout.partition("\n" + store.BESIDE)
    if not mark and after.stdout.startswith(store.BESIDE):
        out, mark, rest = "", "\n", after.stdout[len(store.BESIDE):]
    status, _, said = rest.partition("\n")
    if not mark or not status.isdigit():
        return after, None
    return (Result(after.command, after.exited, out + "\n" if out else "", after.stderr,
                   after.duration, after.host),
            Result(beside, int(status), said, said, after.duration, after.host))


def _parted(result: Result, receive: Command, then: Command) -> tuple[Result, Result | None]:
    """A receive_then's Result as (the receive's, the next command's: None when the file
    was not stored and it never ran), parted at the STORED lines."""
    marker = store.STORED + "\n"
    out, err = result.stdout.partition(marker), result.stderr.partition(marker)
    if not out[1]:
        return result, None
    stored = Result(receive, 0, out[0], err[0], result.duration, result.host)
    return stored, Result(then, result.exited, out[2], err[2] if err[1] else result.stderr,
                          result.duration, result.host)


def _download(artifact: Artifact, remote: Executor, started: float) -> ShipResult:
    """The target downloads the file itself into its store, verified there."""
    if artifact.url is None:
        raise OtterError(f"{artifact.source}: no URL for {remote.host.name} to download")
    result = remote.run(download.fetch_into_store(artifact.url, artifact.digest,
                                                  artifact.source))
    if not result.ok:
        raise OtterError(download.failure(result, remote.host.name, artifact.source))
    return ShipResult(True, 0, time.monotonic() - started)
