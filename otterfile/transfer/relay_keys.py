"""A relay transfer's key on each child (relay.py): the commands that add it to the child's
authorized_keys and remove it again (scripts/relay-keys.sh), and what the key may do there
(scripts/relay-receive.sh, its forced command: load one image id, undo anything else).

The line added, one per transfer and child (one line in the file):
    restrict,command="sh ~/.ssh/otter-relay/TOKEN.sh docker sha256:... TAG EXPIRES"
    ssh-ed25519 KEY otter-relay run=RUN expires=EXPIRES
EXPIRES is the child's clock plus `TTL`: after it the forced command refuses, and the next
authorize on that host (any run) removes the line (a run killed before its cleanup).
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from otterfile import scripts
from otterfile.command import Command, script
from otterfile.errors import OtterError

# seconds a key is accepted: the relay logs in right after every child authorized it (the
# transfer itself goes on in that session, however long)
TTL = 900

_RUN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/:-]*")
_KEY = re.compile(r"(ssh-ed25519) ([A-Za-z0-9+/]+={0,2})(?: .*)?")


@dataclass(frozen=True)
class Grant:
    """One transfer's public key and what its forced command accepts."""

    token: str  # names this transfer's line and script on every child
    run: str
    engine: str
    digest: str
    tag: str  # the one tag the archive may set ("-": none)
    key_type: str
    key: str

    def args(self, action: str, when: str) -> list[str]:
        return [action, self.token, self.run, when, self.engine, self.digest, self.tag,
                self.key_type, self.key]


def grant(public_key: str, *, run_id: str, engine: str, digest: str,
          image: str | None = None) -> Grant:
    """The grant for `public_key` (an ssh-keygen .pub line) to load image `digest` tagged at
    most as `image` into `engine`."""
    found = _KEY.fullmatch(public_key.strip())
    if not found:
        raise OtterError("the relay's key is no ssh-ed25519 public key")
    if not _DIGEST.fullmatch(digest) or not engine.isalpha():
        raise OtterError(f"relay: cannot relay image {digest!r} with {engine!r}")
    run = run_id if _RUN.fullmatch(run_id) else re.sub(r"[^A-Za-z0-9._-]", "-", run_id)[:64]
    return Grant(secrets.token_hex(8), run or "run", engine, digest, loaded_name(image),
                 found.group(1), found.group(2))


def loaded_name(image: str | None) -> str:
    """How `docker load` names a tag of `image` ("app" -> "app:latest"); "-" for no tag."""
    if not image or "@" in image:
        return "-"
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/",
                   "index.docker.io/"):
        if image.startswith(prefix):
            image = image[len(prefix):]
            break
    if ":" not in image.rsplit("/", 1)[-1]:
        image += ":latest"
    return image if _TAG.fullmatch(image) else "-"


def authorize(g: Grant, ttl: int = TTL) -> Command:
    """Add the key (after sweeping expired ones); prints `otter-authorized EXPIRES` and
    `otter-peer ADDRESS PORT` (see `authorized`)."""
    return script(scripts.load("relay-keys.sh"), args=g.args("authorize", str(ttl)),
                  stdin=scripts.load("relay-receive.sh"), description="authorize the relay")


def unauthorize(g: Grant, expires: str | None) -> Command:
    """Remove exactly the line `authorize` added (None: its expiry is unknown, then this
    transfer's line whatever its expiry)."""
    return script(scripts.load("relay-keys.sh"), args=g.args("unauthorize", expires or ""),
                  description="remove the relay's key")


def authorized(said: str) -> str | None:
    """The expiry `authorize` printed."""
    words = next((ln.split()[1:] for ln in said.splitlines()
                  if ln.startswith("otter-authorized ")), [])
    return words[0] if words and words[0].isdigit() else None
