"""Relay (Deployment(relay=True)): the controller streams an image to a few targets, which
load it and pass the same bytes on to the other targets over SSH, so the controller uploads
about one copy for all of them (relay_tree: which target feeds which, and the lanes of a run
agreeing on it). Each copy is verified by digest: the controller asks every host, over its
own connection, for the image id afterwards.

How the relay host authenticates to the next one: for one transfer, the controller makes an
ed25519 key pair (here, with ssh-keygen), appends the public half to each child's
authorized_keys restricted to one command (`restrict,command="docker load"`: no shell, no
forwarding, no pty), writes the private half (0600) and the children's host keys, taken
from the controller's own known_hosts (so the relay checks them as strictly as the
controller does), into a private folder on the relay host, and removes all of it afterwards,
whatever happened. The relay can only feed `docker load` on those children, only meanwhile.

A child that cannot be reached or whose load fails does not stop the others (the relay
drains its share); `relay_image` returns which children lack the image, for the controller
to ship to directly; when the relay's own load fails, RelayFailed says which children it
left without the image (its subtree goes back to the controller).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, Callable

from ..command import Command, cmd, script
from ..errors import OtterError
from ..executors.base import Executor
from ..executors.local import LocalExecutor


@dataclass(frozen=True)
class Child:
    """A target the relay host passes the image on to."""

    executor: Executor  # the controller's own connection to it: authorize, verify, clean up
    address: str  # how the relay host reaches it (a name on their network: target2); "":
    # the address its sshd saw the controller's connection arrive at
    port: int = 22  # 0: the port its sshd saw the controller's connection arrive at
    user: str = "root"


# $1 the folder (key, known_hosts), $2 the engine, then USER HOST PORT per child. Each child
# reads a fifo through ssh; once its ssh ended the rest of its share is drained, so a dead
# child never holds tee. Prints `otter-relay N STATUS LAST-LINES` per child.
RELAY_SCRIPT = r"""
d=$1; engine=$2; shift 2; n=0
while [ $# -ge 3 ]; do
  n=$((n+1)); mkfifo "$d/c$n"
  { ssh -T -i "$d/key" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
      -o UserKnownHostsFile="$d/known_hosts" -o ConnectTimeout=15 \
      -o ServerAliveInterval=15 -o ServerAliveCountMax=4 -p "$3" -l "$1" "$2" \
      >"$d/o$n" 2>&1; echo $? >"$d/s$n"; cat >/dev/null; } <"$d/c$n" &
  shift 3
done
i=0; for _ in $(seq "$n"); do i=$((i+1)); set -- "$@" "$d/c$i"; done
tee -p "$@" | "$engine" load >"$d/own" 2>&1; s=$?
wait
i=0; for _ in $(seq "$n"); do i=$((i+1))
  echo "otter-relay $i $(cat "$d/s$i" 2>/dev/null || echo 255) $(tail -n 2 "$d/o$i" | tr '\n' ' ')"
done
[ "$s" = 0 ] || tail -n 3 "$d/own" >&2
exit "$s"
"""

# then says where its sshd was reached (server address and port of the controller's session)
AUTHORIZE = ('mkdir -p ~/.ssh && chmod 700 ~/.ssh && printf "%s\\n" "$1" >> ~/.ssh/authorized_keys'
             ' || exit 1; set -- $SSH_CONNECTION; echo "otter-peer ${3:-} ${4:-}"')
# drops the lines that end with $1 (this transfer's key), keeping the file and its mode
UNAUTHORIZE = ('f=~/.ssh/authorized_keys; [ -f "$f" ] || exit 0; '
               'grep -v -- " $1\\$" "$f" > "$f.otter"; cat "$f.otter" > "$f"; rm -f "$f.otter"')


def relay_image(stream: BinaryIO, digest: str, relay: Executor, children: list[Child], *,
                engine: str = "docker", run_id: str = "relay",
                on_progress: Callable[[int], None] | None = None) -> list[Child]:
    """Load `stream` on `relay` and, through it, on every child; the children that do not
    have image `digest` afterwards (the controller then ships to them itself)."""
    everyone = children
    marker = f"otter-relay-{run_id}"
    with tempfile.TemporaryDirectory(prefix="otter-relay-") as local:
        key = Path(local) / "key"
        _must(LocalExecutor(), cmd("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", marker,
                                   "-f", str(key), description="make the relay's key"))
        line = f'restrict,command="{engine} load" {key.with_suffix(".pub").read_text().strip()}'
        folder = None
        try:
            reached = []
            for child in children:
                said = _must(child.executor, script(AUTHORIZE, args=[line],
                                                    description="authorize the relay"))
                reached.append(where(child, said))
            children = [child for child in reached if child.address and child.port]
            folder = _must(relay, cmd("mktemp", "-d", description="relay folder")).strip()
            _must(relay, cmd("chmod", "700", folder))
            relay.upload(BytesIO(key.read_bytes()), f"{folder}/key", mode=0o600)
            relay.upload(BytesIO(known_hosts(children).encode()), f"{folder}/known_hosts",
                         mode=0o600)
            result = relay.run(relay_command(folder, engine, children), stdin=stream,
                               on_progress=on_progress)
        finally:
            if folder:
                relay.run(cmd("rm", "-rf", "--", folder, description="remove relay folder"))
            for child in everyone:
                child.executor.run(script(UNAUTHORIZE, args=[marker],
                                          description="remove the relay's key"))
    missing = [child for child in everyone if not has_image(child.executor, engine, digest)]
    if not result.ok or not has_image(relay, engine, digest):
        raise RelayFailed(f"{engine} load on the relay {relay.host.name} failed (exit "
                          f"{result.exited}): {result.tail(3)}", missing)
    return missing


class RelayFailed(OtterError):
    """The relay host's own load failed; `missing`: its children that lack the image too
    (the controller takes them back)."""

    def __init__(self, message: str, missing: list[Child]):
        super().__init__(message)
        self.missing = missing


def where(child: Child, said: str) -> Child:
    """`child` with the address and port its sshd said it was reached at filled in where
    they were left to it ("" and 0)."""
    words = next((ln.split()[1:] for ln in said.splitlines()
                  if ln.startswith("otter-peer")), [])
    address = child.address or (words[0] if words else "")
    port = child.port or (int(words[1]) if len(words) > 1 and words[1].isdigit() else 0)
    return replace(child, address=address, port=port)


def relay_command(folder: str, engine: str, children: list[Child]) -> Command:
    args = [folder, engine]
    for child in children:
        args += [child.user, child.address, str(child.port)]
    return script(RELAY_SCRIPT, args=args, description=f"{engine} load and relay")


def known_hosts(children: list[Child]) -> str:
    """The children's host keys as the controller knows them, under the relay's names."""
    lines = []
    for child in children:
        host = child.executor.host
        name = f"[{host.hostname}]:{host.port}" if getattr(host, "port", None) \
            else host.hostname
        where = getattr(host, "known_hosts", None) or str(Path("~/.ssh/known_hosts")
                                                          .expanduser())
        found = LocalExecutor().run(cmd("ssh-keygen", "-F", name, "-f",
                                        str(Path(where).expanduser()), ok_codes=(0, 1))).stdout
        keys = [ln.split()[1:3] for ln in found.splitlines()
                if ln.strip() and not ln.startswith("#")]
        if not keys:
            raise OtterError(f"no host key of {name} in {where}: the relay could not check it")
        alias = child.address if child.port == 22 else f"[{child.address}]:{child.port}"
        lines += [f"{alias} {kind} {value}" for kind, value in keys]
    return "\n".join(lines) + "\n"


def has_image(executor: Executor, engine: str, digest: str) -> bool:
    """Verified by digest: the host's engine has an image with exactly this id."""
    result = executor.run(cmd(engine, "image", "inspect", "--format", "{{.Id}}", digest,
                              ok_codes=(0, 1), description=f"verify {digest[:19]}"))
    return result.ok and result.stdout.strip() == digest


def _must(executor: Executor, command: Command) -> str:
    result = executor.run(command)
    if not result.ok:
        raise OtterError(f"{command.description} on {executor.host.name} failed "
                         f"(exit {result.exited}): {result.tail(3)}")
    return result.stdout


def engine_for(runtime, artifact) -> str | None:
    """The engine whose `load` a relay feeds, or None: this artifact does not relay (a file,
    a registry pull, a runtime without an engine). Docker only: podman's image ids (no
    `sha256:`) and its load were not measured on the relay's path."""
    engine = getattr(runtime, "engine", None)
    if artifact.form != "image" or artifact.pull is not None or engine != "docker":
        return None
    return engine
