"""How many bytes an artifact puts on a target, known before it ships: what is sent (the
whole image or file, or only the image layers the target lacks) and what that becomes there
(image layers unpacked by the engine, an archive unpacked into a release folder).

Estimates from the controller's engine and files, read without sending anything; None
where they cannot be known (a file that targets download or pull themselves, a file kept
on a build host)."""
from __future__ import annotations

import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otterfile.artifacts.base import Artifact, ImageStore
from otterfile.errors import OtterError
from otterfile.transfer.layers import chain_ids, layer_index, missing
from otterfile.transfer.unpacked import unpacked_size

EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


@dataclass(frozen=True)
class Footprint:
    """What shipping an artifact takes on the target: `sent` bytes arrive (the engine's
    temporary archive, the store's file), which become `unpacked` bytes (image layers, the
    release folder)."""

    sent: int
    unpacked: int

    def by_role(self) -> dict[str, int]:
        """Bytes per landing role (see Runtime.landing): `archive` and `unpacked`."""
        return {"archive": self.sent, "unpacked": self.unpacked}


def footprint(artifact: Artifact, images: ImageStore, have: frozenset[str] | None, *,
              local: bool = True, limit: int | None = None) -> Footprint | None:
    """What shipping `artifact` puts on a target that holds the layer chains `have` (None:
    unknown, the whole image ships). `local`: a file artifact is a file on the controller
    (not on a build host). `limit`: an archive's unpacked size is counted no further."""
    if artifact.pull is not None or (artifact.path is None and artifact.url):
        return None  # the target pulls or downloads it: its size is not known here
    if artifact.form == "image":
        if artifact.path is not None:  # a `docker save` archive kept as a file
            sent = archive_bytes(artifact.path, have) if local else None
        else:
            sent = image_bytes(artifact.digest, images, have)
        return None if sent is None else Footprint(sent, sent)
    if artifact.path is None or not local:
        return None
    try:
        size = Path(artifact.path).stat().st_size
    except OSError:
        return None
    unpacked = _unpacked(artifact.digest, Path(artifact.path), limit)
    return Footprint(size, size if unpacked is None else unpacked)


def image_bytes(digest: str, images: ImageStore, have: frozenset[str] | None) -> int | None:
    """The bytes of an image in the controller's (or a build host's) engine that a target
    lacks: its whole size, or the sizes of the layers missing from `have`; the whole size
    when the layers' sizes cannot be told apart."""
    whole = images.size(digest)
    if not have:
        return whole
    diff_ids = images.layers(digest)
    sizes = layer_sizes(history_of(images, digest), diff_ids)
    if sizes is None:
        return whole
    return sum(sizes[i] for i in missing(diff_ids, have))


def archive_bytes(path: Path, have: frozenset[str] | None) -> int | None:
    """The bytes of a `docker save` archive on the controller that a target holding `have`
    is sent: the file, less the layer tarballs of the layers it has."""
    try:
        size = Path(path).stat().st_size
        if not have:
            return size
        with tarfile.open(path, mode="r:") as archive:
            return size - sum(_held_layers(archive, have, path))
    except (OSError, tarfile.TarError, KeyError, TypeError, ValueError):
        return None


def _held_layers(archive: tarfile.TarFile, have: frozenset[str], path: Path) -> list[int]:
    """Sizes of the layer tarballs in `archive` (the file `path`) whose layer the target
    holds (what the ship stage leaves out of the stream)."""
    manifest = _json(archive, "manifest.json", path)
    if not isinstance(manifest, list) or len(manifest) != 1:
        return []
    config = _json(archive, manifest[0]["Config"], path)
    diff_ids = config["rootfs"]["diff_ids"]
    chains, lacking = chain_ids(diff_ids), set(missing(diff_ids, have))
    held = []
    for member in archive.getmembers():
        folder, _, leaf = member.name.rpartition("/")
        if leaf != "layer.tar" or not folder:
            continue
        data = archive.extractfile(f"{folder}/json")
        index = layer_index(data.read(), chains) if data else None
        if index is not None and index not in lacking:
            held.append(member.size)
    return held


def _json(archive: tarfile.TarFile, name: str, path: Path) -> Any:
    """The member `name` of `archive` (the file `path`) read as JSON."""
    import json
    found = archive.extractfile(name)  # None: not a regular file (a folder, a device)
    if found is None:
        raise OtterError(f"{path}: {name} in this docker save archive is not a file")
    return json.load(found)


def layer_sizes(history: list[dict[str, Any]] | None, diff_ids: list[str]) -> list[int] | None:
    """Each layer's size (bottom first) from the engine's image history (top first; the
    entries that made no layer have size 0); None when they cannot be matched up."""
    if history is None:
        return None
    sized = [int(e.get("Size") or 0) for e in reversed(history) if e.get("Size")]
    solid = [i for i, diff in enumerate(diff_ids) if diff != EMPTY_LAYER]
    if len(sized) == len(diff_ids):
        return sized
    if len(sized) != len(solid):
        return None
    sizes = [0] * len(diff_ids)
    for index, size in zip(solid, sized):
        sizes[index] = size
    return sizes


def history_of(images: ImageStore, digest: str) -> list[dict[str, Any]] | None:
    """The image's history from the store's engine, or None."""
    try:
        return images.history(digest)
    except Exception:  # noqa: BLE001 (sizes are an estimate: unknown rather than a failure)
        return None


_counted: dict[str, int | None] = {}  # file digest -> its exact unpacked size
_counting = threading.Lock()  # lanes that ship one file count it once


def _unpacked(digest: str, path: Path, limit: int | None) -> int | None:
    """`unpacked_size` of a file artifact, counted once per run for all its targets (a
    count stopped at `limit` is not kept)."""
    with _counting:
        if digest in _counted:
            return _counted[digest]
        size, exact = unpacked_size(path, limit)
        if exact:
            _counted[digest] = size
        return size
