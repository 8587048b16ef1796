"""Room on a target before ship: the bytes the ship stage will send (and what they unpack
to) against the free space where they land, read in the state read's round trip. Short of
room, what keep_releases lets go is pruned first (one round trip that reads the space
again); still short, the ship stage stops before sending a byte, naming the host, what it
needs and what is free where."""
from __future__ import annotations

import os.path
from dataclasses import dataclass
from typing import TYPE_CHECKING

from otterfile.command import Command, script, sequence
from otterfile.commands import space as spaces, state as states, store
from otterfile.errors import OtterError
from otterfile.run.results import checked
from otterfile.run.state import State, images_to_remove, mark_retired, prune_candidates
from otterfile.run.state_file import format_state
from otterfile.report.text import human_size
from otterfile.values import Landing

if TYPE_CHECKING:
    from otterfile.artifacts.base import Artifact
    from otterfile.transfer.sizes import Footprint
    from otterfile.executors.base import Executor
    from otterfile.plan.graph import Task
    from otterfile.runtimes.base import Runtime
    from otterfile.run.state import Release
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane

SPACE_MARK = "--- otter:space"


@dataclass(frozen=True)
class Shortfall:
    """A file system with less room than the artifact needs there."""

    path: str
    need: int
    free: int

    def message(self, host: str) -> str:
        return f"{host}: needs {human_size(self.need)}, {human_size(self.free)} free on {self.path}"


def read_line(runtime: Runtime, deployment: str) -> str:
    """The state read's shell line that prints where the artifact lands and the room there
    (empty: the runtime does not say)."""
    landing = runtime.landing(deployment)
    return spaces.space_line(landing) if landing is not None else ""


def parse(stdout: str) -> list[Landing]:
    """The landings `free-space.sh` printed; lines that do not parse are left out."""
    found = []
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[1].isdigit() and parts[0] in ("archive", "unpacked"):
            found.append(Landing(parts[0], int(parts[1]) * 1024, parts[2], parts[3]))
    return found


def shortfalls(landings: list[Landing], needs: dict[str, int]) -> list[Shortfall]:
    """The file systems where the bytes `needs` (per role) exceed the free space; roles on
    one file system add up, named by their common folder."""
    mounts: dict[str, tuple[int, int, list[str]]] = {}
    for landing in landings:
        need = needs.get(landing.role, 0)
        if need <= 0:
            continue
        total, free, paths = mounts.get(landing.mount, (0, landing.free, []))
        mounts[landing.mount] = (total + need, min(free, landing.free), paths + [landing.path])
    return [Shortfall(os.path.commonpath(paths), need, free)
            for need, free, paths in mounts.values() if need > free]


def prunable(state: State, keep: int, keep_digests: list[str],
             started: frozenset[str]) -> tuple[list[Release], list[str]]:
    """What may go to make room before a new release: the releases the retire stage would
    prune once it is live (past keep_releases counting it) and their artifacts, with those
    of failed releases, among those otter started the deployment from (`started`, hex);
    never the live release's nor `keep_digests`."""
    pruned = prune_candidates(state, max(keep - 1, 1))
    digests = [d for d in images_to_remove(state, pruned)
               if d not in keep_digests and store.hex_or_none(d) in started]
    return pruned, digests


def ensure_room(engine: Engine, lane: Lane, task: Task, artifact: Artifact,
                executor: Executor, have: frozenset[str] | None) -> None:
    """Before ship: stop with a clear error when the target lacks room for `artifact`, after
    pruning what keep_releases allows. Nothing is asked when the state read said nothing
    of the space there (the artifact is there, or this runtime does not say)."""
    if not lane.space:
        return
    from otterfile.transfer.sizes import footprint  # what a ship sends: tarfile, layers
    need = footprint(artifact, engine.images_of(lane), have,
                     local=lane.deployment.artifact.build_host is None,
                     limit=max(landing.free for landing in lane.space))
    short = shortfalls(lane.space, need.by_role()) if need else []
    if not short:
        return
    live = lane.state.live_release
    pruned, digests = prunable(lane.state, lane.deployment.keep_releases,
                               [artifact.digest] + ([live.digest] if live else []),
                               lane.started)
    if digests and need:  # short is empty without a need
        short = _prune(engine, lane, task, executor, pruned, digests, need)
    if short:
        after = f" (after pruning {len(digests)} old artifact(s))" if digests else ""
        raise OtterError(f"{short[0].message(executor.host.name)}{after}: nothing was sent; "
                         "make room there or lower keep_releases")


def _prune(engine: Engine, lane: Lane, task: Task, executor: Executor,
           pruned: list[Release], digests: list[str],
           need: Footprint) -> list[Shortfall]:
    """One round trip: the artifacts are removed, the space is read again, the state marks
    `pruned` retired. Returns what is still short."""
    state = lane.state
    for release in pruned:
        state = mark_retired(state, release.id)
    result = checked(executor, sequence(  # the state last, as retire writes it
        lane.runtime.prune(digests, []), store.forget_started(lane.deployment.name, digests),
        _read_again(lane),
        states.write_state(lane.deployment.name, format_state(state)),
        description="prune old releases to make room"), "pruning to make room")
    lane.state = state
    engine.emit(task, "info", f"pruned {len(pruned)} old release(s) and {len(digests)} "
                "artifact(s) to make room")
    lane.space = parse(result.stdout.partition(SPACE_MARK + "\n")[2])
    return shortfalls(lane.space, need.by_role())


def _read_again(lane: Lane) -> Command:
    return script(f'echo "{SPACE_MARK}"; sh -c "$1"',
                  args=[read_line(lane.runtime, lane.deployment.name)],
                  description="read the free space again")
