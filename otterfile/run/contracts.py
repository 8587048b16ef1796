"""Migration contracts on the targets. A contract step (`@step(after="deploy",
contract=True)`, the `contract` of `otterfile.stdlib.migration`) runs once per release, and
leaves a record in every target's releases.json ("contracts": the release live when it ran,
its digest, the step, when). The record is read back as untrusted data; `otter rollback` to a
release older than a contracted one is refused without --force, since the data may no longer
fit it. A release's age is its artifact's: a rollback starts an old artifact under a new id."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable

from otterfile.commands import state as states
from otterfile.errors import OtterError
from otterfile.run.results import checked
from otterfile.run.state_file import format_state

if TYPE_CHECKING:
    from otterfile.load.project import Project, StepDef
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.run.state import Release, State

KEY = "contracts"  # the key of releases.json the records are kept under
KEEP = 20  # records kept per target, newest last
_ID = re.compile(r"[0-9]{8}T[0-9]{6}-[0-9a-f]{8}")  # a release id (state.new_release_id)
_DIGEST = re.compile(r"(sha256:)?[0-9a-f]{64}")


@dataclass(frozen=True)
class Contract:
    """A contract step that ran while `release` was live on a target."""

    release: str
    digest: str  # the release's artifact
    step: str
    at: str  # UTC, ISO 8601


def contracts_of(state: State, where: str = "releases.json") -> tuple[Contract, ...]:
    """The contracts `state` records, oldest first. The file lives on a target: a malformed
    record is an OtterError naming `where` and the record."""
    records = state.extra.get(KEY, [])
    if not isinstance(records, list):
        raise OtterError(f"{where}: {KEY}: expected a list, got {_shown(records)}")
    out = []
    for index, record in enumerate(records):
        fields = record if isinstance(record, dict) else {}
        values = [fields.get(name) for name in ("release", "digest", "step", "at")]
        if not all(isinstance(v, str) for v in values) or \
                not _ID.fullmatch(str(values[0])) or not _DIGEST.fullmatch(str(values[1])):
            raise OtterError(f"{where}: {KEY}/{index}: expected an object with a release "
                             f"id, a digest, a step and a time, got {_shown(record)}")
        out.append(Contract(*(str(v) for v in values)))
    return tuple(out)


def with_contract(state: State, contract: Contract) -> State:
    """`state` recording `contract` (the same release and step once), the newest KEEP."""
    kept = [c for c in contracts_of(state) if (c.release, c.step) !=
            (contract.release, contract.step)] + [contract]
    return replace(state, extra={**state.extra, KEY: [asdict(c) for c in kept[-KEEP:]]})


def crossed(state: State, release: Release, where: str = "releases.json") -> list[Contract]:
    """The contracts a rollback to `release` would go back past: those of another artifact
    that went live after `release`'s artifact first did here."""
    first = first_release(state, release)
    return [c for c in contracts_of(state, where)
            if c.digest != release.digest and c.release > first]


def first_release(state: State, release: Release) -> str:
    """The id of the first release on the target that ran `release`'s artifact."""
    return min([r.id for r in state.releases if r.digest == release.digest] + [release.id])


def check_rollback(state: State, release: Release, *, host: str, deployment: str,
                   force: bool) -> str | None:
    """None when a rollback to `release` crosses no contract; with `force`, what it crosses
    (to say); else an OtterError naming the release and the contract."""
    past = crossed(state, release, f"{host}: {states.state_path(deployment)}")
    if not past:
        return None
    first, since = past[0], first_release(state, release)
    more = f" (and {len(past) - 1} later)" if len(past) > 1 else ""
    older = "which is older" if since == release.id else \
        f"whose artifact is older (release {since})"
    what = (f"step {first.step} contracted release {first.release} at {first.at}{more}: "
            f"the data may no longer work with release {release.id}, {older}")
    if force:
        return f"{host}: --force: rolling back past a contract: {what}"
    raise OtterError(f"{host}: rollback to {release.id} refused: {what}. Nothing was changed; "
                     f"`otter rollback {deployment} --force` rolls back anyway")


def run_contract(engine: Engine, task: Task, step: StepDef, lanes: Iterable[Lane],
                 call: Callable[[], Any]) -> Any:
    """A contract step: `call` it, then record it on every target of the run (one round
    trip each, under their deploy locks). Not again when every target records it already
    for the release live there (a run that changed nothing)."""
    live = [lane for lane in lanes if lane.state.live]
    releases = ", ".join(sorted({str(lane.state.live) for lane in live}))
    if live and all(_recorded(lane, step.name) for lane in live):
        engine.emit(task, "info", f"{releases} contracted already: {step.name} not run again")
        return None
    result = call()
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for lane in live:
        now = lane.state.get(str(lane.state.live))
        lane.state = with_contract(lane.state, Contract(now.id, now.digest, step.name, at))
        checked(engine.executor(lane.host.name), states.write_state(
            lane.deployment.name, format_state(lane.state)), "recording the contract")
    engine.emit(task, "info", f"contracted {releases} on {', '.join(l.host.name for l in live)}: "
                "a rollback to an older release now needs --force")
    return result


def held_back(project: Project, name: str, hosts: list[str] | None) -> list[str]:
    """What a run narrowed by --targets says of the contract steps it leaves out (the
    planner does): the targets it does not deploy still run the old release."""
    from otterfile.plan.planner import order
    out = []
    for dep_name, batches in order(project, [name], hosts=hosts).items():
        dep = project.deployments[dep_name]
        chosen, names = [h for batch in batches for h in batch], [h.name for h in dep.hosts]
        for step in (s for s in dep.steps if s.contract and len(chosen) < len(names)):
            out.append(f"{dep.name}: step {step.name} not run: --targets covers "
                       f"{', '.join(chosen)} of {', '.join(names)} (it runs with a run over "
                       "every target)")
    return out


def _recorded(lane: Lane, step: str) -> bool:
    where = f"{lane.host.name}: {states.state_path(lane.deployment.name)}"
    return any((c.release, c.step) == (lane.state.live, step)
               for c in contracts_of(lane.state, where))


def _shown(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
