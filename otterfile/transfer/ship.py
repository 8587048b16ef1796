"""The ship stage: put an artifact onto a target unless it has it already.

One round trip asks the runtime on the target (`probe.probe`; the deploy flow asks in its
state read and passes the answer in as `present`); when it lacks the artifact, the
controller's image store streams it into the runtime's `receive` command through the
executor (over SSH: the connection's master), never held whole on disk or in memory.
`FORMS` maps an artifact form to how it ships: `ship_image` (a `docker save` stream, or a
registry pull by each target: `ship_pull`) and `ship_file` (the cache's file, or a download
by each target).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from otterfile.artifacts.base import Artifact, ImageStore
from otterfile.command import Command
from otterfile.errors import OtterError
from otterfile.executors.base import Executor
from otterfile.transfer.ship_file import ship_file
from otterfile.transfer.ship_image import ship_image
from otterfile.transfer.shipped import Guard, OnShipProgress, ShipResult, unguarded

if TYPE_CHECKING:
    from otterfile.runtimes.base import Runtime

FORMS = {"image": ship_image, "file": ship_file}


def ship(artifact: Artifact, runtime: Runtime, remote: Executor, images: ImageStore, *,
         on_progress: OnShipProgress | None = None,
         have: frozenset[str] | None = None, present: bool | None = None,
         guard: Guard = unguarded, then: Command | None = None,
         beside: Command | None = None) -> ShipResult:
    """Put `artifact` on the target behind `remote` for `runtime`, unless it is there.
    `have`: the layer chain ids the target holds (None: unknown); an image ships without
    them. `present`: what the runtime's probe said already (the deploy flow runs it in its
    state read, under the lock); None: ship asks, one round trip. `guard` wraps the
    runtime's receive (the deploy flow stops it on the target when the run is gone).
    `then`: a command run after a file's receive in its round trip, `beside` at the same
    time (ship_file)."""
    ship_form = FORMS.get(artifact.form)
    if ship_form is None or artifact.form not in runtime.forms:
        raise OtterError(f"the {runtime.name} runtime cannot run {_a(artifact.form)} artifact")
    if then is not None:
        if artifact.form != "file":
            raise OtterError("only a file's receive runs a command after it")
        return ship_file(artifact, runtime, remote, images, on_progress, have=have,
                         present=present, guard=guard, then=then, beside=beside)
    return ship_form(artifact, runtime, remote, images, on_progress, have=have,
                     present=present, guard=guard)


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"
