"""Builders for the container engine commands of a release; they never run anything.

`engine` is the program to call on the target: "docker" or "podman". Image ids are given
without "sha256:" where both engines must read them (podman prints and takes bare hex).
"""
from __future__ import annotations

import math
import shlex
from typing import Sequence

from otterfile.command import Command, SecretText, cmd, script
from otterfile.errors import OtterError
from otterfile.values import PORT_RANGE, Instance, InstanceStatus
from otterfile.run.state import PORT_PLACEHOLDER, check_name
from otterfile import scripts

START_TRIES = 5
EXIT_MISSING = 3

# The start script after the function it runs (the ports something listens on).
START_SCRIPT = scripts.load("listening.sh") + scripts.load("container/start.sh")
PROBE_SCRIPT = scripts.load("container/probe.sh")
LOAD_SCRIPT = scripts.load("container/load.sh")
LAYERS_SCRIPT = scripts.load("container/layers.sh")
STATUS_SCRIPT = scripts.load("container/status.sh")
REMOVE_SCRIPT = scripts.load("container/remove.sh")
PRUNE_SCRIPT = scripts.load("container/prune.sh")

_PS_FORMAT = {
    "docker": '{{.Names}}\t{{.State}}\t{{.Label "otter.release"}}\t'
              '{{.Label "otter.digest"}}\t{{.Status}}',
    "podman": '{{.Names}}\t{{.State}}\t{{index .Labels "otter.release"}}\t'
              '{{index .Labels "otter.digest"}}\t{{.Status}}',
}


def bare_id(digest: str) -> str:
    """An image id without its "sha256:" prefix (what both engines accept)."""
    return digest.split(":", 1)[1] if digest.startswith("sha256:") else digest


def probe(engine: str, image_id: str, image: str | None) -> Command:
    """Ask a target whether it has the image; tag the id when only the tag is missing."""
    return script(PROBE_SCRIPT, args=[engine, bare_id(image_id), image or ""],
                  description=f"look for {image or image_id}")


def layer_lists(engine: str) -> Command:
    """Every image's layers (diff ids) on the target, one JSON list a line; read-only."""
    return script(LAYERS_SCRIPT, args=[engine], description=f"list {engine} image layers")


def load(engine: str, image_id: str | None = None, image: str | None = None) -> Command:
    """Read a `docker save` archive from stdin into the engine; given the image id, then
    `probe` it in the same round trip (its answer the last line)."""
    if image_id is None:
        return cmd(engine, "load", description=f"{engine} load")
    return script(LOAD_SCRIPT, args=[engine, probe(engine, image_id, image).shell_line()],
                  description=f"{engine} load")


def container_name(deployment: str, release: str) -> str:
    """The container of a release: otter-<deployment>-<release>."""
    return f"otter-{check_name(deployment)}-{check_name(release, 'release')}"


def run_options(*, deployment: str, release: str, digest: str, env_file: str | None = None,
                volumes: Sequence[str] = (), options: Sequence[str] = ()) -> list[str]:
    """The `run` options of a release container, without the port."""
    argv = ["--name", container_name(deployment, release),
            "--label", f"otter.deployment={deployment}", "--label", f"otter.release={release}",
            "--label", f"otter.digest={digest}", "--restart", "unless-stopped"]
    if env_file:
        argv += ["--env-file", env_file]
    for volume in volumes:
        argv += ["-v", volume]
    for option in options:  # "--memory 512m" is two arguments, as a user would type it
        argv += shlex.split(option)
    return argv


def _command_args(command: str | Sequence[str] | None) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else list(command)


def start_release(engine: str, *, deployment: str, release: str, digest: str, image: str,
                  container_port: int, env: str | SecretText | None = None,
                  env_file: str | None = None, volumes: Sequence[str] = (),
                  options: Sequence[str] = (), command: str | Sequence[str] | None = None,
                  init: bool = True, port_range: tuple[int, int] = PORT_RANGE,
                  tries: int = START_TRIES, record: str = "",
                  private: str | None = None) -> Command:
    """One round trip: write the `record` file (store.STARTED) and the env file from stdin
    (mode 600), pick a free port on the target's 127.0.0.1 and start the container there,
    retrying the next port on a bind clash. Prints `port=N` and `container=ID` (see
    `parse_started`); exit values.EXIT_NO_PORT: no free port. `init`: an init as PID 1
    passes SIGTERM on, so a stop takes no full timeout. `private`: the port is published
    on that address too (balance="fleet"), never on all interfaces.
    """
    if env is not None and not env_file:
        raise OtterError("start_release: env given without an env_file path")
    name = container_name(deployment, release)
    opts = run_options(deployment=deployment, release=release, digest=digest,
                       env_file=env_file if env is not None else None,
                       volumes=volumes, options=options)
    args = [engine, str(container_port), str(port_range[0]), str(port_range[1]), str(tries),
            env_file if env is not None else "", name, "1" if init else "0", record,
            bracketed(private) if private else "", *opts,
            image,
            *_command_args(command)]
    also = ["-p", f"{bracketed(private)}:{PORT_PLACEHOLDER}:{container_port}"] \
        if private else []
    shown = shlex.join([engine, "run", "-d", "-p", f"127.0.0.1:{PORT_PLACEHOLDER}:"
                        f"{container_port}", *also, *(["--init"] if init else []), *opts, image,
                        *_command_args(command)])
    return script(START_SCRIPT, args=args, stdin=env, file=env_file if env is not None else None,
                  description=f"start {name}: {shown}")


def bracketed(address: str) -> str:
    """An IP address as it goes before `:PORT`: an IPv6 one in brackets."""
    return f"[{address}]" if ":" in address else address


def parse_started(stdout: str) -> int | str:
    """The port `start_release` printed (`PORT_PLACEHOLDER` in a plan)."""
    values = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
    port = values.get("port", "").strip()
    if port == PORT_PLACEHOLDER:
        return port
    if not port.isdigit():
        raise OtterError(f"unexpected output of the start script: {stdout!r}")
    return int(port)


def container_status(engine: str, name: str, log_lines: int = 20) -> Command:
    """State, exit code, restarts and last log lines of a container, in one round trip.

    Exit 3 and `missing` when there is no such container; see `parse_status`.
    """
    return script(STATUS_SCRIPT, args=[engine, name, str(log_lines)], ok_codes=(0, 3),
                  description=f"inspect {name}")


def parse_status(stdout: str) -> InstanceStatus:
    """An InstanceStatus from what `container_status` printed."""
    first, _, logs = stdout.partition("\n")
    fields = first.split()
    if len(fields) < 4 or not all(f.lstrip("-").isdigit() for f in fields[1:3]):
        return InstanceStatus("missing")
    return InstanceStatus(fields[0], int(fields[1]), int(fields[2]), fields[3] == "true",
                          logs.rstrip("\n"))


def stop_container(engine: str, name: str, *, drain_seconds: float = 0,
                   timeout: float = 10) -> Command:
    """Stop a container after letting in-flight requests drain for `drain_seconds`; it gets
    `timeout` seconds (whole, at least 1 as the engines count) after SIGTERM."""
    seconds = str(max(1, math.ceil(timeout)))
    if drain_seconds <= 0:
        return cmd(engine, "stop", "-t", seconds, name, description=f"stop {name}")
    return script('sleep "$1"; "$2" stop -t "$3" "$4"',
                  args=[f"{drain_seconds:g}", engine, seconds, name],
                  description=f"drain {drain_seconds:g}s, stop {name}")


def remove_containers(engine: str, *names: str) -> Command:
    """Remove containers (running or not); those already gone are no error."""
    return script(REMOVE_SCRIPT, args=[engine, *names],
                  description=f"remove {', '.join(names)}")


def logs(engine: str, name: str, *, follow: bool = False, tail: int = 100) -> Command:
    """`ENGINE logs [-f] --tail N NAME`."""
    return cmd(engine, "logs", *(["-f"] if follow else []), "--tail", str(tail), name,
               description=f"logs of {name}")


def prune_images(engine: str, remove: Sequence[str], keep: Sequence[str] = ()) -> Command:
    """Remove the images in `remove` except those in `keep`; one still used by a container
    is kept (no force). Prints `removed ID` / `kept ID (in use)` lines."""
    kept = {bare_id(i) for i in keep}
    ids = [i for i in dict.fromkeys(map(bare_id, remove)) if i not in kept]
    return script(PRUNE_SCRIPT, args=[engine, *ids], description=f"prune {len(ids)} images")


def list_containers(engine: str, deployment: str) -> Command:
    """Every otter container of a deployment, running or not (see `parse_containers`)."""
    fmt = _PS_FORMAT["podman" if engine.endswith("podman") else "docker"]
    return cmd(engine, "ps", "-a", "--no-trunc", "--filter",
               f"label=otter.deployment={check_name(deployment)}", "--format", fmt,
               description=f"list containers of {deployment}")


def running_containers(engine: str, deployment: str) -> Command:
    """Every otter container of a deployment, one `NAME running` line each that runs."""
    return script(scripts.load("container/runs.sh"), args=[engine, check_name(deployment)],
                  description=f"instances of {deployment}")


def parse_containers(stdout: str) -> list[Instance]:
    """Instances from what `list_containers` printed, as listed; the deploy flow acts only on
    those named as otter names a release (`flow.named_by_otter`, for every runtime)."""
    out = []
    for line in stdout.splitlines():
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) == 5:
            name, state, release, digest, status = parts
            # podman's {{.State}} reads like a status ("Up 4 seconds ago"), docker's "running"
            running = state == "running" or state.startswith("Up ")
            out.append(Instance(name, running, release, digest, status))
    return out
