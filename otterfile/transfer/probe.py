"""Whether a target has an artifact: the runtime's probe, one round trip (`probe`, `lacks`),
and how its last line reads (`probed`, which the deploy flow's state read and `plan --check`
use on the probe they ran themselves).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from otterfile.artifacts.base import Artifact
from otterfile.errors import OtterError
from otterfile.executors.base import Executor

if TYPE_CHECKING:
    from otterfile.runtimes.base import Runtime


def probe(remote: Executor, runtime: Runtime, artifact: Artifact,
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


def lacks(artifact: Artifact, runtime: Runtime, remote: Executor,
          known: bool | None = None) -> bool:
    """The target's probe says it lacks the image: one round trip, none when `known` (what
    the state read's probe found) answers it."""
    return not probe(remote, runtime, artifact, known)


def probed(stdout: str) -> bool | None:
    """What a runtime's probe printed last: True (`present`, `tagged`), False (`missing`),
    None (anything else)."""
    state = (stdout.strip().splitlines()[-1:] or [""])[0].strip()
    return {"present": True, "tagged": True, "missing": False}.get(state)
