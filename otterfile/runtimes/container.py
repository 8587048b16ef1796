"""Containers as releases: docker(...) and podman(...) share this, differing by engine.

An instance is a container `otter-<deployment>-<release>` labelled with the deployment,
release and digest, published on a free port of the target's 127.0.0.1.
"""
from __future__ import annotations

import shlex
from dataclasses import replace
from typing import Any, Sequence

from otterfile.artifacts.base import Artifact
from otterfile.command import Command, cmd
from otterfile.errors import OtterError
from otterfile.commands import container as c, data, registries, space
from otterfile.runtimes.kinds import ContainerKind
from otterfile.values import PORT_RANGE, Instance, InstanceStatus, Pulled
from otterfile.runtimes.base import ScheduleSpec, StartSpec


class ContainerRuntime(ContainerKind):
    """A container engine on the target, reached through its CLI over SSH (the checks of
    its value are kinds.ContainerKind's)."""

    def instance_name(self, deployment: str, release: str) -> str:
        return c.container_name(deployment, release)

    def image_ref(self, artifact: Artifact) -> str:
        """How the engine names the image to run: its id (podman: bare hex); a registry
        image by NAME@sha256:... (its digest is the manifest's, not an image id)."""
        if artifact.image and artifact.digest and artifact.image.endswith("@" + artifact.digest):
            return artifact.image
        if not artifact.digest.startswith("sha256:"):
            return artifact.image or artifact.digest
        return c.bare_id(artifact.digest) if self.engine == "podman" else artifact.digest

    def probe(self, artifact: Artifact) -> Command:
        if artifact.form != "image":  # a file that was not a `docker save` archive
            raise OtterError(f"{artifact.source or artifact.digest}: the {self.engine} runtime "
                             "runs images; this file is not a `docker save` archive")
        return c.probe(self.engine, artifact.digest, artifact.image)

    def receive(self, artifact: Artifact) -> Command:
        """The load, then the probe's answer (the ship asks no second round trip)."""
        return c.load(self.engine, artifact.digest, artifact.image)

    def pull(self, ref: str, *, pinned: str | None = None, server: str | None = None,
             username: str | None = None, password: Any = None) -> Command:
        """The target pulls a registry image itself (see commands/registries.pull)."""
        return registries.pull(self.engine, ref, pinned=pinned, server=server, username=username,
                      password=password)

    def parse_pulled(self, stdout: str) -> Pulled:
        return registries.parse_pulled(stdout)

    def login_refused(self, exited: int) -> bool:
        return exited == registries.EXIT_LOGIN

    def relay_engine(self, artifact: Artifact) -> str | None:
        """Docker images the controller ships (not a registry's pull); podman's image ids
        (no `sha256:`) and its load were not measured on the relay's path."""
        if artifact.form != "image" or artifact.pull is not None or self.engine != "docker":
            return None
        return self.engine

    def layers(self) -> Command | None:
        return c.layer_lists(self.engine)

    def parse_layers(self, stdout: str) -> frozenset[str]:
        from otterfile.transfer.layers import chains_present
        return chains_present(stdout)

    def landing(self, deployment: str) -> Command | None:
        return space.engine_landing(self.engine)

    def start(self, value: Any, spec: StartSpec) -> Command:
        return c.start_release(
            self.engine, deployment=spec.deployment, release=spec.release,
            digest=spec.artifact.digest, image=self.image_ref(spec.artifact),
            container_port=value.port, env=spec.env, env_file=spec.env_file,
            volumes=value.volumes, options=value.options, command=value.command,
            init=value.init, record=spec.record, port_range=spec.port_range or PORT_RANGE,
            tries=1 if spec.port_range else c.START_TRIES,  # one port: no next one to try
            private=spec.private)

    def parse_started(self, stdout: str) -> int | str:
        return c.parse_started(stdout)

    def inspect(self, instance: str) -> Command:
        return c.container_status(self.engine, instance)

    def parse_inspect(self, stdout: str) -> InstanceStatus:
        return c.parse_status(stdout)

    def listing(self, deployment: str) -> Command:
        return c.list_containers(self.engine, deployment)

    def parse_listing(self, stdout: str) -> list[Instance]:
        return c.parse_containers(stdout)

    def runs(self, deployment: str) -> Command:
        return c.running_containers(self.engine, deployment)

    def stop(self, instance: str, *, drain_seconds: float, stop_seconds: float) -> Command:
        return c.stop_container(self.engine, instance, drain_seconds=drain_seconds,
                                timeout=stop_seconds)

    def remove(self, *instances: str) -> Command:
        return c.remove_containers(self.engine, *instances)

    def resume(self, instance: str) -> Command:
        return cmd(self.engine, "start", instance, description=f"start {instance} again")

    def prune(self, digests: Sequence[str], keep: Sequence[str]) -> Command:
        return c.prune_images(self.engine, digests, keep)

    def logs(self, instance: str, *, follow: bool, tail: int) -> Command:
        return c.logs(self.engine, instance, follow=follow, tail=tail)

    def data(self, value: Any, deployment: str, *, create: bool = False) -> Command | None:
        volumes = data.named_volumes(value.volumes)
        return data.volume_paths(self.engine, volumes, create=create) if volumes else None

    def own_data(self, value: Any, deployment: str) -> Any:
        return replace(value, volumes=data.volumes_of(deployment, value.volumes))

    def drop_data(self, value: Any, deployment: str) -> Command | None:
        volumes = data.named_volumes(value.volumes)
        return data.remove_volumes(self.engine, volumes) if volumes else None

    def freeze(self, instance: str) -> Command:
        return data.pause_container(self.engine, instance)

    def thaw(self, instance: str) -> Command:
        return data.unpause_container(self.engine, instance)

    def exec_in(self, value: Any, deployment: str, release: str,
                argv: Sequence[str]) -> Command:
        return data.exec_container(self.engine, self.instance_name(deployment, release), argv)

    def schedule_service(self, value: Any, spec: ScheduleSpec) -> str:
        from otterfile.artifacts.image_ref import pinned_name
        from otterfile.commands.systemd import unit_word
        from otterfile.render import render
        image = self.image_ref(Artifact("image", spec.digest,
                                        pinned_name(spec.image, spec.digest)))
        argv = [self.engine, "run", "--rm", "--label",
                f"otter.schedule={spec.deployment}/{spec.schedule}",
                "--label", f"otter.release={spec.release}", *(["--init"] if value.init else []),
                *(["--env-file", spec.env_file] if spec.env_file else [])]
        for volume in value.volumes:
            argv += ["-v", volume]
        for option in value.options:  # as the release's container gets them
            argv += shlex.split(option)
        return render("schedule_service.j2", deployment=spec.deployment,
                      schedule=spec.schedule, release=spec.release, user=None,
                      env_file=None, lock=spec.lock, hardened=False, stop_post=None,
                      exec_start=" ".join(map(unit_word, [*argv, image, *spec.words])))
