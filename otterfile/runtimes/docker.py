"""docker(...): each release a Docker container (see container.py)."""
from .container import ContainerRuntime

RUNTIME = ContainerRuntime("docker")
