"""The `registry(IMAGE_REF)` source: an image each target pulls from a container registry.

Nothing runs on the controller at acquire. At ship, the first target pulls the reference by
its tag and reads the digest the registry served (the repo digest: the sha256 of the
manifest); every other target then pulls `NAME@sha256:...`, so all of them run the same
bytes, and that digest is what the release records. A reference written with `@sha256:...`
is pinned from the start; `build(push=...)` pins it with the digest its push printed.

Credentials (`username=`, `password=secret(...)`) go to `docker login`/`podman login` on
stdin (`--password-stdin`), into a temporary config on the target that is removed after the
pull: never on a command line, never in a plan, never left behind on the target.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

from otterfile.errors import OtterError
from otterfile.secrets import Secret
from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.kinds import RegistryKind
from otterfile.artifacts.image_ref import Ref, familiar, parse_ref


class Pin:
    """The digest a run deploys, shared by the targets of the run: the first target to
    ship resolves the tag while the others wait, then they pull by that digest."""

    def __init__(self, digest: str | None = None):
        self.digest, self.lock = digest, threading.Lock()


@dataclass(frozen=True)
class Pull:
    """How the targets get a registry image: the reference as they name it, the login,
    and the pin of this run."""

    ref: Ref
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    pin: Pin = field(default_factory=Pin, compare=False, repr=False)

    @property
    def login(self) -> dict[str, Any]:
        """The login arguments of the runtime's `pull` command (empty: anonymous)."""
        if self.password is None:
            return {}
        return {"server": self.ref.server, "username": self.username or "",
                "password": self.password}

    def choose(self, pulled: Any, host: str) -> str:
        """The digest the registry served for the tag, from what `pull` printed."""
        if pulled.digests:  # docker: the `Digest:` line of the pull
            return str(pulled.digests[-1])
        mine = familiar(self.ref.name)
        found = [d for name, d in pulled.repo_digests if familiar(name) == mine]
        found = list(dict.fromkeys(found))
        if len(found) > 1 and pulled.own in found:  # podman, a list: the list's digest
            found.remove(pulled.own)
        if not found:
            raise OtterError(f"{host}: pulled {self.ref.by_tag} from {self.ref.server} but "
                             "cannot tell its digest (the engine lists no repo digest)")
        return str(found[0])

    def had(self, pulled: Any, digest: str) -> bool:
        """Whether the target had this repository at `digest` before the pull (then the
        pull moved nothing but a manifest)."""
        mine = familiar(self.ref.name)
        return any(d == digest and familiar(name) == mine for name, d in pulled.before)

    def failure(self, host: str, what: str, reason: str, *, login: bool = False) -> str:
        """A failed pull (or login) as one message naming the reference and the registry."""
        if login:
            return (f"{host}: the registry {self.ref.server} refused the login as "
                    f"{self.username} (pulling {what}): {reason}")
        return f"{host}: cannot pull {what} from the registry {self.ref.server}: {reason}"


class RegistrySource(RegistryKind):
    """registry(...) pinned and pulled: the checks are kinds.RegistryKind's."""

    def acquire(self, value: Any, ctx: AcquireContext) -> Artifact:
        """Nothing to fetch on the controller: the targets pull at ship. The digest is
        known here only when the reference is pinned with @sha256:."""
        ref = parse_ref(value.ref)
        pull = Pull(ref, value.username, value.password, Pin(ref.digest))
        if ref.digest:
            ctx.on_output(f"{ref}: pinned by its digest")
            return Artifact("image", ref.digest, image=ref.pinned(ref.digest), source=str(ref),
                            pull=pull)
        ctx.on_output(f"{ref.by_tag}: the first target to pull it pins its digest")
        return Artifact("image", "", image=ref.by_tag, source=str(ref), pull=pull)


SOURCE = RegistrySource()


def pulled_artifact(artifact: Artifact, digest: str) -> Artifact:
    """`artifact` pinned: the digest the registry served, the name every target runs."""
    return replace(artifact, digest=digest, image=artifact.pull.ref.pinned(digest))

