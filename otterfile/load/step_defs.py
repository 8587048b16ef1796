"""Steps as an Otterfile declares them: a `@step`'s options checked into a StepDef (its
deployment, exactly one of before=/after=, where it runs), and the steps a deployment
attaches (those naming it and those in its `steps=` list, a recipe's step functions
included), each anchored to a stage or to another of its steps. Errors name the file and
the step's line or the deployment's field."""
from __future__ import annotations

from typing import Any

from otterfile.errors import OtterfileError
from otterfile.load.dsl import mark_of
from otterfile.load.loader import Marked
from otterfile.load.model import DEPLOYED, STAGES
from otterfile.load.project import StepDef
from otterfile.load.refs import name_of, unknown
from otterfile.load.validate import check_bool, check_choice, fail, prefixed


def step_def(marked: Marked, file: str) -> StepDef:
    """The StepDef of a `@step` function, its options checked."""
    options, name = marked.mark.options, marked.mark.name
    try:
        dep = options.get("deployment")
        dep_name = name_of(dep, "deployment", "deployment") if dep else None
        before, after = options.get("before"), options.get("after")
        if (before is None) == (after is None):
            fail("before", "give exactly one of before=STAGE or after=STAGE")
        anchor = name_of(before or after, "step", "before" if before else "after")
        check_choice("on", options.get("on"), ("targets", "once", "controller"))
        contract = _check_run_end(name, before, anchor, options.get("contract", False))
    except OtterfileError as error:
        raise OtterfileError(error.message, file=file, line=marked.line,
                             path=prefixed(error, f"step {name}").path) from error
    return StepDef(name, marked.fn, dep_name, anchor if before else None,
                   anchor if after else None, options["on"], marked.line, contract)


def _check_run_end(name: str, before: Any, anchor: str, contract: Any) -> bool:
    """`contract`, checked: "deploy" is the end of the run (after= only, never a step's
    name), and a contract step runs there."""
    if name == DEPLOYED:
        fail("", f"{DEPLOYED!r} names the end of the run (after={DEPLOYED!r}): give the "
             "step another name")
    if before and anchor == DEPLOYED:
        fail("before", f"nothing runs before the whole deploy: use after={DEPLOYED!r} "
             "(once every target has retired its old release) or before=STAGE")
    is_contract = check_bool("contract", contract)
    if is_contract and (before or anchor != DEPLOYED):
        fail("contract", f"a contract step runs after={DEPLOYED!r}, once every target of "
             f"the run has retired the old release; got {'before' if before else 'after'}"
             f"={anchor!r}")
    return is_contract


def attached(name: str, marked: Marked, items: Any, steps: dict[str, StepDef],
             file: str) -> tuple[StepDef, ...]:
    """The steps of deployment `name` (declared by `marked`): those naming it or its group,
    then those its `steps=` list `items` gives; each anchor a stage or one of them."""
    out = [s for s in steps.values() if s.deployment in (name, marked.mark.name)]
    for path, item in _flat(items or (), "steps"):
        step = steps.get(name_of(item, "step", path))
        mark = mark_of(item)
        if step is None and mark is not None:  # a recipe's step function
            step = step_def(Marked(mark, item, marked.line), file)
        if step is None:
            fail(path, unknown("step", item, steps))
        if step not in out:
            out.append(step)
    known = set(STAGES) | {s.name for s in out}
    for step in out:
        kind, anchor = step.anchor
        if anchor not in known and not step.after_deploy:
            raise OtterfileError(f"{kind}={anchor!r} is neither a stage ({', '.join(STAGES)}"
                                 f", or after={DEPLOYED!r}) nor a step of deployment {name}",
                                 file=file, line=step.line, path=f"step {step.name}/{kind}")
    return tuple(out)


def _flat(items: Any, path: str) -> list[tuple[str, Any]]:
    """(path, item) of a `steps=` list, a recipe's tuple of steps (a migration's expand and
    contract) taken in place."""
    out: list[tuple[str, Any]] = []
    for index, item in enumerate(items):
        if isinstance(item, (list, tuple)):
            out += _flat(item, f"{path}/{index}")
        else:
            out.append((f"{path}/{index}", item))
    return out
