"""docker(...): each release a Docker container (see container.py)."""
from otterfile.runtimes.container import ContainerRuntime

RUNTIME = ContainerRuntime("docker")
