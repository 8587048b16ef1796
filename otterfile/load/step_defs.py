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
from otterfile.load.model import STAGES
from otterfile.load.project import StepDef
from otterfile.load.refs import name_of, unknown
from otterfile.load.validate import check_choice, fail, prefixed


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
    except OtterfileError as error:
        raise OtterfileError(error.message, file=file, line=marked.line,
                             path=prefixed(error, f"step {name}").path) from error
    return StepDef(name, marked.fn, dep_name, anchor if before else None,
                   anchor if after else None, options["on"], marked.line)


def attached(name: str, marked: Marked, items: Any, steps: dict[str, StepDef],
             file: str) -> tuple[StepDef, ...]:
    """The steps of deployment `name` (declared by `marked`): those naming it or its group,
    then those its `steps=` list `items` gives; each anchor a stage or one of them."""
    out = [s for s in steps.values() if s.deployment in (name, marked.mark.name)]
    for index, item in enumerate(items or ()):
        step = steps.get(name_of(item, "step", f"steps/{index}"))
        mark = mark_of(item)
        if step is None and mark is not None:  # a recipe's step function
            step = step_def(Marked(mark, item, marked.line), file)
        if step is None:
            fail(f"steps/{index}", unknown("step", item, steps))
        if step not in out:
            out.append(step)
    known = set(STAGES) | {s.name for s in out}
    for step in out:
        kind, anchor = step.anchor
        if anchor not in known:
            raise OtterfileError(f"{kind}={anchor!r} is neither a stage ({', '.join(STAGES)}) "
                                 f"nor a step of deployment {name}", file=file,
                                 line=step.line, path=f"step {step.name}/{kind}")
    return tuple(out)
