"""Relay (Deployment(relay=True)): the controller streams an image to a few targets, which
load it and pass the same bytes on to the other targets over SSH, so the controller uploads
about one copy for all of them (relay_tree: which target feeds which, and the lanes of a run
agreeing on it). Each copy is verified by digest: the controller asks every host, over its
own connection, for the image id afterwards.

How the relay host authenticates to the next one: for one transfer, the controller makes an
ed25519 key pair (here, with ssh-keygen) and adds the public half to each child's
authorized_keys (relay_keys: one exact line, removed afterwards, verified, written
atomically; its forced command loads only the image id the relay announced and undoes
anything else the archive held or tagged), writes the private half (0600) and the children's
host keys, taken from the controller's own known_hosts (so the relay checks them as
strictly as the controller does), into a private folder on the relay host, and removes all
of it afterwards, whatever happened. The relay can only feed that one image to those
children, only meanwhile.

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
from typing import Callable

from otterfile import scripts
from otterfile.command import Command, cmd, script
from otterfile.errors import OtterError
from otterfile.executors.base import Executor, Readable
from otterfile.executors.local import LocalExecutor
from otterfile.peers import peer_problem
from otterfile.transfer import relay_keys as keys


@dataclass(frozen=True)
class Child:
    """A target the relay host passes the image on to."""

    executor: Executor  # the controller's own connection to it: authorize, verify, clean up
    address: str  # how the relay host reaches it (a name on their network: target2); "":
    # the address its sshd saw the controller's connection arrive at
    port: int = 22  # 0: the port its sshd saw the controller's connection arrive at
    user: str = "root"


def relay_image(stream: Readable, digest: str, relay: Executor, children: list[Child], *,
                engine: str = "docker", run_id: str = "relay", image: str | None = None,
                on_progress: Callable[[int], None] | None = None,
                on_info: Callable[[str], None] | None = None) -> list[Child]:
    """Load `stream` on `relay` and, through it, on every child; the children that do not
    have image `digest` afterwards (the controller then ships to them itself). `image`: the
    one tag the archive may set; `on_info` hears what went wrong on a child."""
    say = on_info or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="otter-relay-") as local:
        key = Path(local) / "key"
        _must(LocalExecutor(), cmd("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                                   "otter-relay", "-f", str(key),
                                   description="make the relay's key"))
        grant = keys.grant(key.with_suffix(".pub").read_text(), run_id=run_id, engine=engine,
                           digest=digest, image=image)
        expiry: dict[int, str | None] = {}  # child index -> the expiry its authorize printed
        folder = None
        try:
            sending = _authorize(children, grant, expiry)
            folder = _must(relay, cmd("mktemp", "-d", description="relay folder")).strip()
            _must(relay, cmd("chmod", "700", folder))
            relay.upload(BytesIO(key.read_bytes()), f"{folder}/key", mode=0o600)
            relay.upload(BytesIO(known_hosts(sending).encode()), f"{folder}/known_hosts",
                         mode=0o600)
            result = relay.run(relay_command(folder, engine, sending), stdin=stream,
                               on_progress=on_progress)
            for message in refusals(result.stdout, sending, relay.host.name):
                say(message)
        finally:
            if folder:
                relay.run(cmd("rm", "-rf", "--", folder, description="remove relay folder"))
            _unauthorize(children, grant, expiry, say)
    missing = [child for child in children if not has_image(child.executor, engine, digest)]
    if not result.ok or not has_image(relay, engine, digest):
        raise RelayFailed(f"{engine} load on the relay {relay.host.name} failed (exit "
                          f"{result.exited}): {result.tail(3)}", missing)
    return missing


def _authorize(children: list[Child], grant: keys.Grant,
               expiry: dict[int, str | None]) -> list[Child]:
    """Each child accepts the key (`expiry` records which did, for the cleanup); the
    children the relay can reach (where their sshd says it was reached, unless given)."""
    reached = []
    for index, child in enumerate(children):
        expiry[index] = None  # before it runs: a lost answer is cleaned up too
        said = _must(child.executor, keys.authorize(grant))
        expiry[index] = keys.authorized(said)
        reached.append(where(child, said))
    return [child for child in reached if child.address and child.port]


def _unauthorize(children: list[Child], grant: keys.Grant, expiry: dict[int, str | None],
                 say: Callable[[str], None]) -> None:
    """Each child that was asked to accept the key removes it; what failed is said."""
    for index, expires in expiry.items():
        try:
            left = children[index].executor.run(keys.unauthorize(grant, expires))
            why = "" if left.ok else left.tail(2) or f"exit {left.exited}"
        except Exception as error:  # one child's lost connection must not keep the others'
            why = str(error)
        if why:
            say(f"{_name(children[index])}: the relay's key is still in its authorized_keys "
                f"({why}); it is refused after {expires or 'a few minutes'} and removed by "
                "the next relay to it")


class RelayFailed(OtterError):
    """The relay host's own load failed; `missing`: its children that lack the image too
    (the controller takes them back)."""

    def __init__(self, message: str, missing: list[Child]):
        super().__init__(message)
        self.missing = missing


def where(child: Child, said: str) -> Child:
    """`child` with the address and port its sshd said it was reached at filled in where
    they were left to it ("" and 0); raises when the result could be read as anything but
    a host and port (an ssh option or pattern)."""
    words = next((ln.split()[1:] for ln in said.splitlines()
                  if ln.startswith("otter-peer")), [])
    address = child.address or (words[0] if words else "")
    port = child.port or (words[1] if len(words) > 1 else 0)
    if not address:
        return replace(child, address="", port=0)  # unknown: the controller ships to it
    why = peer_problem(address, port or None) or ("" if port else "no port")
    if why:
        raise OtterError(f"{_name(child)}: the relay cannot reach it at {address!r} port "
                         f"{port!r}: {why} (set ssh(peer='host:port'))")
    return replace(child, address=address, port=int(port))


def relay_command(folder: str, engine: str, children: list[Child]) -> Command:
    args = [folder, engine]
    for child in children:
        args += [child.user, child.address, str(child.port)]
    return script(scripts.load("relay-send.sh"), args=args,
                  description=f"{engine} load and relay")


def refusals(said: str, children: list[Child], relay: str) -> list[str]:
    """What the relay's `otter-relay N STATUS LAST-LINES` lines say went wrong on a child."""
    messages = []
    for line in said.splitlines():
        words = line.split(maxsplit=3)
        if len(words) >= 3 and words[0] == "otter-relay" and words[1].isdigit() \
                and words[2] != "0" and 0 < int(words[1]) <= len(children):
            child = children[int(words[1]) - 1]
            messages.append(f"{_name(child)}: the transfer from {relay} ended with exit "
                            f"{words[2]}: {words[3] if len(words) > 3 else ''}".rstrip(": "))
    return messages


def _name(child: Child) -> str:
    return child.executor.host.name or child.address or "a child"


def known_hosts(children: list[Child]) -> str:
    """The children's host keys as the controller knows them, under the relay's names."""
    lines = []
    for child in children:
        entry = child.executor.host.known_host()
        if entry is None:  # relaying.py picks children with a peer(): SSH hosts
            raise OtterError(f"{_name(child)} has no host key: a relay reaches only ssh() hosts")
        name, where = entry[0], entry[1] or str(Path("~/.ssh/known_hosts").expanduser())
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

