"""Runtimes: each kind declared in kinds.py (its checks: all that evaluating an Otterfile
needs) and handled by one module behind `base.Runtime`; `KINDS` (by the Otterfile value's
type) and `NAMED` (by the name a release records) are the tables of handlers, each module
imported the first time it is looked up."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otterfile.load.registry import Handlers
from otterfile.load.validate import kind_of
from otterfile.runtimes.kinds import DECLARED, RuntimeKind
from otterfile.values import Instance, InstanceStatus

if TYPE_CHECKING:
    from otterfile.runtimes.base import Runtime

KINDS: Handlers[type, Runtime] = Handlers(DECLARED)
NAMED: Handlers[str, Runtime] = Handlers(  # as state records
    {declared.name: declared for declared in DECLARED.values()})


def declared_runtime(value: Any) -> RuntimeKind:
    """The runtime kind of an Otterfile value as evaluation checks it (no handler
    imported); a FieldError names what is accepted."""
    return kind_of(DECLARED, value)


def runtime_for(value: Any) -> Runtime:
    """The runtime kind of an Otterfile value, its handler; a FieldError names what is
    accepted."""
    return KINDS.of(declared_runtime(value))


def runtime_named(name: str) -> Runtime:
    """The runtime kind a release record names (parse_state checked it is one of NAMED)."""
    return NAMED[name]


__all__ = ["DECLARED", "Instance", "InstanceStatus", "KINDS", "NAMED", "declared_runtime",
           "runtime_for", "runtime_named"]
