"""`build(push=NAME[:TAG], pull_from=NAME)`: the built image pushed to a registry and pinned.

`check_push` checks the fields (a repository and maybe a tag to push to, the repository as
the targets reach it, the registry login). `push` runs `docker push` through the executor
(the controller's or the build host's), reads the digest the registry stored, and returns
an artifact each target pulls by that digest, like a pinned `registry(...)` (registry.Pull).
"""
from __future__ import annotations

from typing import Any

from otterfile.errors import OtterError
from otterfile.load.validate import fail
from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.image_ref import BadRef, checked_ref, parse_ref
from otterfile.artifacts.registry import Pin, Pull, check_login


def check_push(value: Any) -> None:
    """push=NAME[:TAG], pull_from=NAME (the same repository as the targets reach it), and
    the registry login; only for an image."""
    if value.push is None:
        if value.pull_from is not None:
            fail("pull_from", "pull_from= names where the targets pull what push= pushed; "
                 "give push= too")
        check_login(value, needs="push")
        return
    if value.output:
        fail("push", "push= pushes an image; this build makes a file (output=)")
    pushed = checked_ref("push", value.push, "a repository to push to")
    if pushed.digest:
        fail("push", f"{value.push!r}: a push names a repository and maybe a tag; the "
             "registry gives the digest")
    if value.pull_from is not None:
        pulled = checked_ref("pull_from", value.pull_from, "a repository")
        if pulled.tag or pulled.digest:
            fail("pull_from", f"{value.pull_from!r}: a repository without tag or digest (the "
                 "targets pull what was pushed, by its digest)")
    check_login(value, needs="push")


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
