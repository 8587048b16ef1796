"""systemd(...): the artifact unpacked into a release folder, run as a generated unit.

Each release is a unit `otter-<deployment>@<release>.service` rendered from
templates/systemd_unit.j2, running as `otter-<deployment>` (or `user=`) on a free port of
127.0.0.1 beside the live one (see commands/systemd.py).
"""
from __future__ import annotations

import shlex
from typing import Any, Sequence

from otterfile.artifacts.base import Artifact
from otterfile.command import Command, cmd
from otterfile import scripts
from otterfile.commands import data, space, store, systemd as s, systemd_status
from otterfile.commands.state import env_file_path
from otterfile.errors import OtterError
from otterfile.render import render
from otterfile.run.state import PORT_PLACEHOLDER
from otterfile.runtimes.kinds import SystemdKind
from otterfile.values import PORT_RANGE, Instance, InstanceStatus
from otterfile.runtimes.base import ScheduleSpec, StartSpec



class SystemdRuntime(SystemdKind):
    """The units and release folders of systemd(...) (its checks: kinds.SystemdKind)."""

    def instance_name(self, deployment: str, release: str) -> str:
        return s.unit_name(deployment, release)

    def probe(self, artifact: Artifact) -> Command:
        if artifact.form != "file":
            raise OtterError(f"the systemd runtime runs files; {artifact.digest} is an image")
        return store.probe(artifact.digest)

    def receive(self, artifact: Artifact) -> Command:
        # a tar archive is unpacked as it arrives too: the start checks and takes that tree
        from otterfile.transfer.unpacked import on_arrival
        return store.receive(artifact.digest, unpack=on_arrival(artifact.path))

    def pull(self, ref: str, *, pinned: str | None = None, server: str | None = None,
             username: str | None = None, password: Any = None) -> Command:
        raise OtterError(f"the systemd runtime runs files; it cannot pull the image {ref}")

    def parse_pulled(self, stdout: str) -> Any:
        raise OtterError("the systemd runtime pulls no images")

    def login_refused(self, exited: int) -> bool:
        return False

    def relay_engine(self, artifact: Artifact) -> str | None:
        return None  # files ship from the controller's store

    def layers(self) -> Command | None:
        return None  # a file ships whole; the target store skips what it has

    def parse_layers(self, stdout: str) -> frozenset[str]:
        return frozenset()

    def landing(self, deployment: str) -> Command | None:
        # the file lands in the store, then each start unpacks it into a release folder
        return space.paths_landing(store.STORE, s.releases_dir(deployment))

    def unit_text(self, value: Any, spec: StartSpec) -> str:
        """The unit of a release as the controller renders it; the start script fills in
        the port and, for a bare program name, where the target has it."""
        dep, release = spec.deployment, spec.release
        # systemd's own SIGKILL deadline (at shutdown, in `remove`); `stop` keeps its own
        stop_seconds = spec.stop_seconds
        return render("systemd_unit.j2", deployment=dep, release=release,
                      digest=spec.artifact.digest, user=self.user(value, dep),
                      release_dir=s.release_dir(dep, release), data_dir=s.data_dir(dep),
                      port=PORT_PLACEHOLDER,
                      env_file=spec.env_file if spec.env is not None else None,
                      exec_start=s.exec_start(shlex.split(value.command), dep, release),
                      stop_seconds=f"{stop_seconds:g}s")

    @staticmethod
    def user(value: Any, deployment: str) -> str:
        """The user a release runs as: `user=`, else the deployment's own system user."""
        return value.user or s.default_user(deployment)

    def start(self, value: Any, spec: StartSpec) -> Command:
        words = shlex.split(value.command)
        return s.start_unit(
            deployment=spec.deployment, release=spec.release, digest=spec.artifact.digest,
            unit_text=self.unit_text(value, spec), program=words[0],
            single=s.single_name(words),
            user=self.user(value, spec.deployment), make_user=value.user is None,
            env=spec.env, env_file=spec.env_file, max_unpacked=value.max_unpacked,
            max_files=value.max_files, record=spec.record,
            port_range=spec.port_range or PORT_RANGE, listen_seconds=spec.listen_seconds)

    def parse_started(self, stdout: str) -> int | str:
        return s.parse_started(stdout)

    def inspect(self, instance: str) -> Command:
        return systemd_status.unit_status(instance)

    def parse_inspect(self, stdout: str) -> InstanceStatus:
        return systemd_status.parse_status(stdout)

    def listing(self, deployment: str) -> Command:
        return systemd_status.list_units(deployment)

    def parse_listing(self, stdout: str) -> list[Instance]:
        return systemd_status.parse_units(stdout)

    def runs(self, deployment: str) -> Command:
        return systemd_status.running_units(deployment)

    def stop(self, instance: str, *, drain_seconds: float, stop_seconds: float) -> Command:
        return s.stop_unit(instance, drain_seconds=drain_seconds, stop_seconds=stop_seconds)

    def remove(self, *instances: str) -> Command:
        return s.remove_units(*instances)

    def resume(self, instance: str) -> Command:
        s.split_unit(instance)
        return cmd("systemctl", "start", "--", instance, description=f"start {instance} again")

    def prune(self, digests: Sequence[str], keep: Sequence[str]) -> Command:
        return s.prune(digests, keep)

    def logs(self, instance: str, *, follow: bool, tail: int) -> Command:
        return s.logs(instance, follow=follow, tail=tail)

    def data(self, value: Any, deployment: str, *, create: bool = False) -> Command | None:
        return data.folder_path("data", s.data_dir(deployment), create=create)

    def own_data(self, value: Any, deployment: str) -> Any:
        return value  # the data folder is the deployment's own (s.data_dir)

    def drop_data(self, value: Any, deployment: str) -> Command | None:
        return data.remove_folder(s.data_dir(deployment))

    def freeze(self, instance: str) -> Command:
        return data.freeze_unit(instance)

    def thaw(self, instance: str) -> Command:
        return data.thaw_unit(instance)

    def exec_in(self, value: Any, deployment: str, release: str,
                argv: Sequence[str]) -> Command:
        return data.exec_unit(argv, user=self.user(value, deployment),
                              folder=s.release_dir(deployment, release),
                              env_file=env_file_path(deployment, release))

    def schedule_service(self, value: Any, spec: ScheduleSpec) -> str:
        """Run in the release folder, holding a shared flock on it: retire leaves a folder
        a run works in, and the run's end removes it (scripts/schedule/retired.sh)."""
        dep, release = spec.deployment, spec.release
        folder = s.release_dir(dep, release)
        retired = " ".join(line for line in scripts.load("schedule/retired.sh").splitlines()
                           if not line.startswith("#"))
        return render("schedule_service.j2", deployment=dep, schedule=spec.schedule,
                      release=release, user=self.user(value, dep), workdir=folder,
                      env_file=spec.env_file, lock=spec.lock, hardened=True,
                      data_dir=s.data_dir(dep),
                      exec_start=f"/usr/bin/flock -s {folder} "
                                 + s.exec_start(spec.words, dep, release),
                      stop_post=" ".join(map(s.unit_word, ["/bin/sh", "-c", retired, "sh",
                                                             s.releases_dir(dep)])))


RUNTIME = SystemdRuntime()
