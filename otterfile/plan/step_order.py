"""Where a deployment's steps go in its graph: in an order that places each step's anchor
step first, and which of them wait for the whole run (after="deploy", a migration's contract)."""
from __future__ import annotations

from otterfile.errors import OtterfileError
from otterfile.load.project import DeploymentDef, StepDef
from otterfile.plan.graph import find_cycle


def step_order(dep: DeploymentDef, file: str | None = None) -> list[StepDef]:
    """Steps ordered so a step's anchor step is placed first; a cycle is an error naming
    `file` (the Otterfile) and the line of the cycle's first step."""
    steps = {s.name: s for s in dep.steps}
    edges = {s.name: [s.anchor[1]] if s.anchor[1] in steps else [] for s in dep.steps}
    cycle = find_cycle(edges)
    if cycle:
        first = steps[cycle[0]]
        raise OtterfileError("cycle among steps: " + " -> ".join(cycle), file=file,
                             line=first.line, path=f"deployment {dep.name}/steps")
    ordered: list[StepDef] = []
    while len(ordered) < len(steps):
        for step in dep.steps:
            if step not in ordered and all(steps[a] in ordered for a in edges[step.name]):
                ordered.append(step)
    return ordered


def run_end(steps: list[StepDef], no_contract: bool) -> dict[str, bool]:
    """Steps placed once the targets' lanes are complete: after="deploy" ones and those
    anchored to them, by name: True to place it, False to leave it out (a contract step,
    and what hangs on it, in a rollback or a run narrowed by --targets: `no_contract`)."""
    late: dict[str, bool] = {}
    for step in steps:  # anchors come first (step_order)
        anchor = step.anchor[1]
        if step.after_deploy:
            late[step.name] = not (step.contract and no_contract)
        elif anchor in late:
            late[step.name] = late[anchor]
    return late
