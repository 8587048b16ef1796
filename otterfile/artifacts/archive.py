"""Files on the controller: the local artifact cache keyed by digest, and `docker save`
archives recognised by their manifest (so a built or fetched archive ships as an image)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from otterfile import scripts
from otterfile.command import Command, script

KEEP_SCRIPT = scripts.load("keep-file.sh")


def keep(file: Path, cache: Path) -> Command:
    """Copy a built file into the artifact cache under its digest; prints the hex."""
    return script(KEEP_SCRIPT, args=[str(file), str(cache)], description=f"keep {file.name}")


def image_id_of(path: Path) -> str | None:
    """The image id of a `docker save` archive (its config's digest), or None when the
    file is not one. Reads only the small manifest, never the layers."""
    import tarfile  # here: loading an Otterfile imports this module, only acquire reads one
    try:
        with tarfile.open(path) as archive:
            member = archive.extractfile("manifest.json")
            manifest = json.load(member) if member else None
    except (tarfile.TarError, KeyError, OSError, ValueError):
        return None
    if not isinstance(manifest, list) or len(manifest) != 1:
        return None
    config = str(manifest[0].get("Config", "")) if isinstance(manifest[0], dict) else ""
    found = re.search(r"([0-9a-f]{64})(\.json)?$", config)
    return f"sha256:{found.group(1)}" if found else None
