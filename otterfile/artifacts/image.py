"""The `image(REF)` source: an image already in the controller's Docker engine.

The user's CI or their own `docker build` made it, or `docker load` brought it in; otter
neither builds nor pulls it. Acquire asks the controller's engine for its image id, which is
the artifact's digest (a missing image stops the run there, before any server is touched);
from then on it ships as a built image does: only the layers a target lacks, one save
stream for every target (fan-out), and `relay=True`.
"""
from __future__ import annotations

import re
from typing import Any

from otterfile.errors import OtterError
from otterfile.load.validate import check_str
from otterfile.artifacts.base import AcquireContext, Artifact, OnController
from otterfile.artifacts.image_ref import checked_ref, parse_ref
from otterfile.load.model import Image, image

_FULL_ID = re.compile(r"(?:sha256:[0-9a-f]{64}|[0-9a-f]{64})")  # never a repository name
_SHORT_ID = re.compile(r"[0-9a-f]{12,63}")  # an id's prefix, or a repository named so
__all__ = ["Image", "ImageSource", "SOURCE", "image", "target_name"]  # Image, image: load/model.py


class ImageSource(OnController):
    """image(ref)."""

    name = "image"

    def check(self, value: Any) -> Any:
        check_str("ref", value.ref)
        if not _FULL_ID.fullmatch(value.ref):
            checked_ref("ref", value.ref, "an image name[:tag] or id")
        return value

    def named_image(self, value: Any) -> str | None:
        return None if _FULL_ID.fullmatch(value.ref) else target_name(value.ref)

    def form(self, value: Any) -> str:
        return "image"

    def acquire(self, value: Any, ctx: AcquireContext) -> Artifact:
        """The image id of the reference in the controller's engine; nothing is built."""
        found = ctx.images.image_id(value.ref)
        if not found:
            raise OtterError(f"image({value.ref!r}): the controller's Docker engine has no "
                             "such image; build it (docker build -t NAME .) or `docker load` "
                             "it there first, then run again")
        by_id = _FULL_ID.fullmatch(value.ref) or (
            _SHORT_ID.fullmatch(value.ref) and found.removeprefix("sha256:")
            .startswith(value.ref))
        return Artifact("image", found, image=None if by_id else target_name(value.ref),
                        source=value.ref)


SOURCE = ImageSource()


def target_name(ref: str) -> str | None:
    """The name the targets tag the image with: the reference without a digest (None when
    it has only a digest: the targets then run the image by its id)."""
    parsed = parse_ref(ref)
    if parsed.digest and not parsed.tag:
        return None
    return f"{parsed.name}:{parsed.tag}" if parsed.tag else parsed.name
