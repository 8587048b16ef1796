"""Files on the controller: the local artifact cache keyed by digest, and `docker save`
archives recognised by their manifest (so a built or fetched archive ships as an image)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from otterfile import scripts
from otterfile.command import Command, script

KEEP_SCRIPT = scripts.load("keep-file.sh")


def keep(file: Path, cache: Path) -> Command:
    """Copy a built file into the artifact cache under its digest; prints the hex."""
    return script(KEEP_SCRIPT, args=[str(file), str(cache)], description=f"keep {file.name}")


_DIGEST_NAME = re.compile(r"[0-9a-f]{64}")
_NOT_AN_IMAGE = "-"


def image_id_of(path: Path) -> str | None:
    """The image id of a `docker save` archive (its config's digest), or None when the
    file is not one. Reads only the small manifest, never the layers; but a compressed
    archive is read whole to find it, so for a file the cache keeps under its digest (its
    content never changes) the answer is kept beside it, in `.HEX.image`, and read from
    there the next time."""
    kept = path.with_name(f".{path.name}.image") if _DIGEST_NAME.fullmatch(path.name) else None
    if kept is not None:
        try:
            said = kept.read_text().strip()
        except OSError:
            said = ""
        if said == _NOT_AN_IMAGE:
            return None
        if re.fullmatch(r"sha256:[0-9a-f]{64}", said):
            return said
    try:
        found = _read_image_id(path)
    except OSError:
        return None  # unreadable now: nothing kept
    if kept is not None:
        try:
            temporary = kept.with_name(f"{kept.name}.{os.getpid()}.tmp")
            temporary.write_text((found or _NOT_AN_IMAGE) + "\n")
            temporary.replace(kept)
        except OSError:
            pass  # a cache that cannot be written is read again next time
    return found


def _read_image_id(path: Path) -> str | None:
    """image_id_of read from the archive itself; OSError when it cannot be read."""
    import tarfile  # here: loading an Otterfile imports this module, only acquire reads one
    try:
        with tarfile.open(path) as archive:
            member = archive.extractfile("manifest.json")
            manifest = json.load(member) if member else None
    except (tarfile.TarError, KeyError, ValueError):
        return None
    if not isinstance(manifest, list) or len(manifest) != 1:
        return None
    config = str(manifest[0].get("Config", "")) if isinstance(manifest[0], dict) else ""
    found = re.search(r"([0-9a-f]{64})(\.json)?$", config)
    return f"sha256:{found.group(1)}" if found else None
