"""otter: deploy your own servers from a Python Otterfile.

An Otterfile declares artifacts, runtimes, targets and deployments with the
decorators below; `otter run NAME` deploys one.
"""
from .dsl import artifact, deployment, runtime, step, target
from .errors import OtterError, OtterfileError
from .hosts import local, ssh
from .model import (Deployment, HealthCheck, build, caddy, docker, fetch, nginx, podman,
                    registry, systemd)
from .secrets import secret

__version__ = "0.1.0"

__all__ = [
    "Deployment", "HealthCheck", "OtterError", "OtterfileError", "artifact", "build", "caddy",
    "deployment", "docker", "fetch", "local", "nginx", "podman", "registry", "runtime",
    "secret", "ssh", "step", "systemd", "target",
]
