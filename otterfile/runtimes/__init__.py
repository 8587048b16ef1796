"""Runtimes, one module each behind `base.Runtime`; `KINDS` is the one table."""
from __future__ import annotations

from typing import Any

from .. import model
from ..validate import kind_of
from . import docker, podman, systemd
from .base import Instance, InstanceStatus, Runtime, StartSpec

KINDS: dict[type, Runtime] = {model.Docker: docker.RUNTIME, model.Podman: podman.RUNTIME,
                              model.Systemd: systemd.RUNTIME}


def runtime_for(value: Any) -> Runtime:
    """The runtime kind of an Otterfile value; a FieldError names what is accepted."""
    return kind_of(KINDS, value, "docker(...), podman(...) or systemd(...)")


__all__ = ["Instance", "InstanceStatus", "KINDS", "Runtime", "StartSpec", "runtime_for"]
