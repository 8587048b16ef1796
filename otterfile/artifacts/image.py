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
from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.kinds import FULL_ID, ImageKind
from otterfile.artifacts.source_checks import target_name
from otterfile.load.model import Image, image

_SHORT_ID = re.compile(r"[0-9a-f]{12,63}")  # an id's prefix, or a repository named so
__all__ = ["Image", "ImageSource", "SOURCE", "image", "target_name"]  # Image, image: load/model.py


class ImageSource(ImageKind):
    """image(ref) found in the controller's engine: the checks are kinds.ImageKind's."""

    def acquire(self, value: Any, ctx: AcquireContext) -> Artifact:
        """The image id of the reference in the controller's engine; nothing is built."""
        found = ctx.images.image_id(value.ref)
        if not found:
            raise OtterError(f"image({value.ref!r}): the controller's Docker engine has no "
                             "such image; build it (docker build -t NAME .) or `docker load` "
                             "it there first, then run again")
        by_id = FULL_ID.fullmatch(value.ref) or (
            _SHORT_ID.fullmatch(value.ref) and found.removeprefix("sha256:")
            .startswith(value.ref))
        return Artifact("image", found, image=None if by_id else target_name(value.ref),
                        source=value.ref)


SOURCE = ImageSource()
