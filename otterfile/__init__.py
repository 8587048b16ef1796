"""otter: deploy your own servers from a Python Otterfile.

An Otterfile declares artifacts, runtimes, targets and deployments with the
decorators below; `otter run NAME` deploys one.

The names load when first used (`from otterfile import *` in an Otterfile, or
`otterfile.ssh`): the `otter` command itself imports this package, and a command that
reads no Otterfile (`otter --help`) does not pay for the DSL's modules. Type checkers
see the imports below.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otterfile.errors import OtterError, OtterfileError
    from otterfile.hosts import local, ssh
    from otterfile.load.dsl import artifact, deployment, runtime, step, target
    from otterfile.load.model import (Deployment, HealthCheck, build, caddy, docker, fetch,
                                      image, nginx, podman, registry, systemd)
    from otterfile.load.schedule import Schedule
    from otterfile.load.snapshots import Snapshots
    from otterfile.secrets import secret

__version__ = "0.1.0"

__all__ = [
    "Deployment", "HealthCheck", "OtterError", "Schedule", "OtterfileError", "artifact", "build", "caddy",
    "deployment", "docker", "fetch", "image", "local", "nginx", "podman", "registry", "runtime",
    "Snapshots", "secret", "ssh", "step", "systemd", "target",
]

# each name of __all__ -> the module that defines it
_MODULES = {
    **dict.fromkeys(["OtterError", "OtterfileError"], "otterfile.errors"),
    **dict.fromkeys(["local", "ssh"], "otterfile.hosts"),
    **dict.fromkeys(["artifact", "deployment", "runtime", "step", "target"], "otterfile.load.dsl"),
    **dict.fromkeys(["Deployment", "HealthCheck", "build", "caddy", "docker", "fetch", "image",
                     "nginx", "podman", "registry", "systemd"], "otterfile.load.model"),
    "Schedule": "otterfile.load.schedule", "Snapshots": "otterfile.load.snapshots",
    "secret": "otterfile.secrets",
}

if not TYPE_CHECKING:  # for type checkers the names above are plain imports
    def __getattr__(name: str) -> Any:
        """A name of __all__, imported from its module the first time it is asked for."""
        module = _MODULES.get(name)
        if module is None:
            raise AttributeError(f"module 'otterfile' has no attribute {name!r}")
        import importlib
        value = vars(importlib.import_module(module))[name]
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
