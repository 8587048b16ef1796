"""podman(...): each release a rootful Podman container; no Docker needed on the target."""
from otterfile.runtimes.container import ContainerRuntime

RUNTIME = ContainerRuntime("podman")
