"""Artifact sources, one module each behind `base.ArtifactSource`; `KINDS` is the table."""
from __future__ import annotations

from typing import Any

from otterfile.load import model
from otterfile.load.validate import kind_of
from otterfile.artifacts import build, fetch, image, registry
from otterfile.artifacts.base import AcquireContext, Artifact, ArtifactSource

KINDS: dict[type, ArtifactSource] = {model.Build: build.SOURCE, model.Fetch: fetch.SOURCE,
                                     model.Registry: registry.SOURCE, image.Image: image.SOURCE}


def source_for(value: Any) -> ArtifactSource:
    """The source kind of an Otterfile value; a FieldError names what is accepted."""
    return kind_of(KINDS, value)


__all__ = ["AcquireContext", "Artifact", "ArtifactSource", "KINDS", "source_for"]
