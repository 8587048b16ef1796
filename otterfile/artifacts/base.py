"""The ArtifactSource interface and the Artifact value every source produces.

A source kind (build, fetch, registry, image) is declared in kinds.py (its checks) and
handled by one module with one object implementing `ArtifactSource`; `artifacts.KINDS` maps
the Otterfile value's type to it.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Protocol

from otterfile.executors.base import Executor, Readable
from otterfile.artifacts.kinds import SourceKind


@dataclass(frozen=True)
class Artifact:
    """What acquire produced: an image (digest = image id) or a file (digest = sha256)."""

    form: str  # "image" | "file"
    digest: str
    image: str | None = None
    path: Path | None = None
    commit: str | None = None
    ref: str | None = None
    source: str = ""
    # fetch(via="target"): each target downloads it from here (it may hold a password)
    url: str | None = field(default=None, repr=False)
    # registry(...), build(push=...): each target pulls it (artifacts.registry.Pull)
    pull: Any = field(default=None, repr=False, compare=False)


class ImageStore(Protocol):
    """The controller's own container engine (the Docker SDK; a fake for plans)."""

    def image_id(self, ref: str) -> str | None:
        """The image id (sha256:...) of a tag or id, or None when there is none."""

    def size(self, image_id: str) -> int | None:
        """About how many bytes `save` streams."""

    def layers(self, image_id: str) -> list[str]:
        """The image's layer digests (diff ids), bottom first."""

    def save(self, image_id: str) -> Readable:
        """A `docker save` archive of the image, read as a stream."""

    def decline(self, image_id: str) -> None:
        """A target has the image already and will not `save` it (fanout.SharedImages
        then stops waiting for it); nothing to do in a plain store."""

    def open_file(self, path: Path) -> tuple[Readable, int | None]:
        """A file artifact kept in this store, as a stream, and its size."""

    def archive_image_id(self, path: Path) -> str | None:
        """The image id of a `docker save` archive kept in this store, or None when the
        file is not one (only its manifest is read)."""

    def history(self, image_id: str) -> list[dict[str, Any]] | None:
        """The engine's history of the image (top first, each entry's `Size`), or None
        when this store cannot tell (layer sizes are then estimated without it)."""

    def serve(self, path: Path) -> str | None:
        """A URL the targets download a kept file from until `close` (build(on=...,
        via="url")), or None: this store serves nothing (the artifact ships as it is)."""

    def close(self) -> None:
        """Stop what the store serves (the run is over, however it ended)."""


@dataclass(frozen=True)
class AcquireContext:
    """Where and with what a source is acquired."""

    executor: Executor  # the controller's (or a build host's) executor
    images: ImageStore
    folder: Path  # the Otterfile's folder: relative paths resolve from it
    cache_dir: Path
    on_output: Callable[[str], None]
    # held while the cache is used: two otters in one folder take turns
    lock: Callable[[], ContextManager[None]] = contextlib.nullcontext


class ArtifactSource(SourceKind, Protocol):
    """An artifact source kind: its declaration (kinds.SourceKind: checks, form, build host)
    and how it is acquired."""

    def acquire(self, value: Any, ctx: AcquireContext) -> Artifact:
        """Build, fetch or resolve the artifact once; every process through ctx.executor."""
