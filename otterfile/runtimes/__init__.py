"""Runtimes, one module each behind `base.Runtime`; `KINDS` is the one table."""
from __future__ import annotations

from typing import Any

from otterfile.load import model
from otterfile.load.validate import kind_of
from otterfile.runtimes import docker, podman, systemd
from otterfile.values import Instance, InstanceStatus
from otterfile.runtimes.base import Runtime, StartSpec

KINDS: dict[type, Runtime] = {model.Docker: docker.RUNTIME, model.Podman: podman.RUNTIME,
                              model.Systemd: systemd.RUNTIME}
NAMED: dict[str, Runtime] = {kind.name: kind for kind in KINDS.values()}  # as state records


def runtime_for(value: Any) -> Runtime:
    """The runtime kind of an Otterfile value; a FieldError names what is accepted."""
    return kind_of(KINDS, value)


def runtime_named(name: str) -> Runtime:
    """The runtime kind a release record names (parse_state checked it is one of NAMED)."""
    return NAMED[name]


__all__ = ["Instance", "InstanceStatus", "KINDS", "NAMED", "Runtime", "StartSpec",
           "runtime_for", "runtime_named"]
