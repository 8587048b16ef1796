"""Artifact sources: each kind declared in kinds.py (its checks: all that evaluating an
Otterfile needs) and handled by one module behind `base.ArtifactSource` (acquire); `KINDS`
is the table of handlers, each module imported the first time it is looked up."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otterfile.load.registry import Handlers
from otterfile.load.validate import kind_of
from otterfile.artifacts.kinds import DECLARED, SourceKind

if TYPE_CHECKING:
    from otterfile.artifacts.base import ArtifactSource

KINDS: Handlers[type, ArtifactSource] = Handlers(DECLARED)


def declared_source(value: Any) -> SourceKind:
    """The source kind of an Otterfile value as evaluation checks it (no handler imported);
    a FieldError names what is accepted."""
    return kind_of(DECLARED, value)


def source_for(value: Any) -> ArtifactSource:
    """The source kind of an Otterfile value, its handler; a FieldError names what is
    accepted."""
    return KINDS.of(declared_source(value))


__all__ = ["DECLARED", "KINDS", "declared_source", "source_for"]
