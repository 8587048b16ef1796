"""otter: deploy your own servers from a Python Otterfile.

An Otterfile declares artifacts, runtimes, targets and deployments with the
decorators below; `otter run NAME` deploys one.
"""
import os as _os

from otterfile.load.dsl import artifact, deployment, runtime, step, target
from otterfile.artifacts.image import image
from otterfile.errors import OtterError, OtterfileError
from otterfile.hosts import local, ssh
from otterfile.load.model import (Deployment, HealthCheck, build, caddy, docker, fetch, nginx, podman,
                    registry, systemd)
from otterfile.secrets import secret

__version__ = "0.1.0"

__all__ = [
    "Deployment", "HealthCheck", "OtterError", "OtterfileError", "artifact", "build", "caddy",
    "deployment", "docker", "fetch", "image", "local", "nginx", "podman", "registry", "runtime",
    "secret", "ssh", "step", "systemd", "target",
]

# In a checkout `otterfile.stdlib` is the top-level stdlib/ folder (setup.cfg's package_dir
# maps it so in a wheel): found from this package's path, before an installed copy.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(_os.path.dirname(__file__), "stdlib")) and \
        _os.path.isfile(_os.path.join(_root, "stdlib", "__init__.py")):
    __path__.append(_root)
