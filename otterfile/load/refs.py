"""References between an Otterfile's declarations: a deployment names its artifact, runtime,
targets and steps (and a step its deployment and anchor) either by name or by passing the
marked function itself; this module turns either into the name and words the error for a
name nothing declares."""
from __future__ import annotations

from typing import Any, Mapping

from otterfile.load.dsl import mark_of
from otterfile.load.validate import fail, got


def name_of(value: Any, kind: str, path: str) -> str:
    """The name `value` refers to: a non-empty string, or a function marked as `kind`."""
    if isinstance(value, str) and value:
        return value
    mark = mark_of(value)
    if mark is not None and mark.kind == kind:
        return mark.name
    fail(path, f"expected a {kind} name or function, {got(value)}")


def unknown(kind: str, name: Any, known: Mapping[str, Any]) -> str:
    """The message for a reference to `name` (a name or a function) that `known` lacks."""
    name = getattr(name, "__name__", name)
    return f"unknown {kind} {name!r}; known: {', '.join(sorted(known)) or 'none'}"
