"""otter: deploy your own servers from a Python Otterfile.

An Otterfile declares artifacts, runtimes, targets and deployments with the
decorators below; `otter run NAME` deploys one.
"""

from otterfile.load.dsl import artifact, deployment, runtime, step, target
from otterfile.errors import OtterError, OtterfileError
from otterfile.hosts import local, ssh
from otterfile.load.model import (Deployment, HealthCheck, build, caddy, docker, fetch, image,
                                  nginx, podman, registry, systemd)
from otterfile.load.snapshots import Snapshots
from otterfile.load.schedule import Schedule
from otterfile.secrets import secret

__version__ = "0.1.0"

__all__ = [
    "Deployment", "HealthCheck", "OtterError", "Schedule", "OtterfileError", "artifact", "build", "caddy",
    "deployment", "docker", "fetch", "image", "local", "nginx", "podman", "registry", "runtime",
    "Snapshots", "secret", "ssh", "step", "systemd", "target",
]
