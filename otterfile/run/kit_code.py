"""What of otter's own renders the switch back a rollback window leaves on a target (the
kit, run/back.py), as a digest: a kit made by another otter (a remote script or a proxy
site template changed since, whatever the version number says) is not run. Read once per
process, when first asked: only a switch that keeps a release and `otter rollback` ask
(about 1 ms: 92 files, 150 KB)."""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache

KIT_TEMPLATES = ("caddy_site.j2", "nginx_site.j2")  # the sites a kit holds, rendered


def kit_code() -> list[str]:
    """The files of otter's own that render a kit or run it, besides the Python that calls
    them: every remote script (switch, retire, timer, state and log writes, the kit's own
    and back.sh, which reads it), the compaction they are sent through, and the proxies'
    site templates (the kit holds a rendered site)."""
    from otterfile import render, scripts

    def under(folder: str) -> list[str]:  # os.scandir: a fifth of rglob's time
        found = []
        for entry in os.scandir(folder):
            if entry.is_dir() and entry.name != "__pycache__":
                found += under(entry.path)
            elif entry.name.endswith((".sh", ".awk")):
                found.append(entry.path)
        return found
    return sorted(under(str(scripts.FOLDER))) + [str(scripts.FOLDER / "compact.py")] + \
        [str(render.TEMPLATES / name) for name in KIT_TEMPLATES]


@lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of the bytes of kit_code() (16 hex digits), read when first asked."""
    digest = hashlib.sha256()
    for path in kit_code():
        with open(path, "rb") as file:
            data = file.read()
        name = "/".join(path.rsplit("/", 2)[-2:])
        digest.update(b"%s %d\0" % (name.encode(), len(data)))
        digest.update(data)
    return digest.hexdigest()[:16]
