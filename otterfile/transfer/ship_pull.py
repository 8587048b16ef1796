"""Shipping a registry image: each target pulls it from the registry itself (`ship_pull`).
The first target of the run pulls the tag and pins the digest the registry served; the
others pull that digest, so every target runs the same image.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from otterfile.artifacts.base import Artifact, ImageStore
from otterfile.errors import OtterError
from otterfile.executors.base import Executor
from otterfile.transfer.shipped import Guard, OnShipProgress, ShipResult, unguarded

if TYPE_CHECKING:
    from otterfile.artifacts.registry import Pull
    from otterfile.runtimes.base import Runtime


def ship_pull(artifact: Artifact, runtime: Runtime, remote: Executor, images: ImageStore,
              on_progress: OnShipProgress | None, have: frozenset[str] | None = None,
              present: bool | None = None, guard: Guard = unguarded) -> ShipResult:
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
