"""`build(push=NAME[:TAG], pull_from=NAME)`: the built image pushed to a registry and pinned.

`kinds.check_push` checks the fields (a repository and maybe a tag to push to, the
repository as the targets reach it, the registry login). `push` runs `docker push` through the executor
(the controller's or the build host's), reads the digest the registry stored, and returns
an artifact each target pulls by that digest, like a pinned `registry(...)` (registry.Pull).
"""
from __future__ import annotations

from typing import Any

from otterfile.errors import OtterError
from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.image_ref import BadRef, parse_ref
from otterfile.artifacts.registry import Pin, Pull


def push(ctx: AcquireContext, value: Any, image_id: str, tag: str, **about: Any) -> Artifact:
    """Push the built image (tagged NAME:TAG, the build's own tag when push= has none) and
    pin it by the digest the registry stored: the targets pull exactly that."""
    from otterfile.commands import registries
    pushed = parse_ref(value.push)
    to = f"{pushed.name}:{pushed.tag or _tag_of(tag)}"
    login = Pull(pushed, value.username, value.password).login
    result = ctx.executor.run(registries.push("docker", image_id, to, **login),
                              on_output=lambda _stream, line: ctx.on_output(line))
    if not result.ok:
        reason = result.tail(4) or f"exit {result.exited}"
        doing = f"log in to {pushed.server} as {value.username}" \
            if result.exited == registries.EXIT_LOGIN else f"push {to}"
        raise OtterError(f"{ctx.executor.host.name}: cannot {doing}: {reason}")
    digest = registries.parse_pushed(result.stdout)
    if digest is None:
        raise OtterError(f"pushed {to} but the push printed no digest: {result.tail(3)}")
    pull = Pull(parse_ref(value.pull_from or pushed.name), value.username,
                value.password, Pin(digest))
    return Artifact("image", digest, image=pull.ref.pinned(digest), pull=pull, **about)


def _tag_of(image: str) -> str:
    """The tag of a built image's name (`latest` when it has none)."""
    try:
        return parse_ref(image).tag or "latest"
    except BadRef:
        return "latest"
