"""A build host's container engine and artifact store, reached through its executor.

`build(..., on="builder")` builds on that target; this store answers what the ship stage
asks of an image store (id, size, layers, a `docker save` stream, a kept file) by running
commands there. The streams are read from the build host's executor and written into each
target's by ship, so the artifact passes through the controller without being stored on it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from otterfile.command import Command, cmd, script
from otterfile.errors import OtterError
from otterfile.executors.base import Executor, Readable, Session
from otterfile.scripts import load
from otterfile.transfer.images import Inspected

__all__ = ["RemoteImages", "image_id_of_manifest", "serve"]

CACHE_DIR = Path("/var/cache/otter/build")  # on the build host: git mirrors, exports, files

# $1 a file: its size, or exit 3 when it is not there.
SIZE_SCRIPT = '[ -f "$1" ] || { echo "otter: no file $1" >&2; exit 3; }; stat -c %s -- "$1"'


SERVE_START = 30.0  # seconds a file server gets to say it listens
SERVE_SCRIPT = load("serve-file.sh")


def serve(path: Path, address: str = "") -> Command:
    """Serve one kept file over HTTP on `address` (see scripts/serve_file.py) for as long
    as its stdin stays open; it prints `otter-serving address= port= path=`."""
    return script(SERVE_SCRIPT, args=[str(path), address, load("serve_file.py")],
                  description=f"serve {path.name} over HTTP")


def inspect(engine: str, ref: str) -> Command:
    """`docker image inspect REF` as JSON (exit 1 and nothing printed: no such image)."""
    return cmd(engine, "image", "inspect", "--format", "{{json .}}", "--", ref,
               ok_codes=(0, 1), description=f"inspect {ref}")


def save(engine: str, image_id: str) -> Command:
    """`docker save IMAGE_ID`: the archive on stdout."""
    return cmd(engine, "save", image_id, description=f"save {image_id[:19]}")


def file_size(path: Path) -> Command:
    return script(SIZE_SCRIPT, args=[str(path)], description=f"size of {path}")


def cat(path: Path) -> Command:
    return cmd("cat", "--", str(path), description=f"read {path}")


def manifest(path: Path) -> Command:
    """The manifest.json of a `docker save` archive (exit non-zero: not one)."""
    return cmd("tar", "-xOf", str(path), "manifest.json", ok_codes=(0, 1, 2),
               description=f"is {path.name} an image archive")


class RemoteImages(Inspected):
    """The image store of a build host: what `build(on=...)` made stays there."""

    def __init__(self, executor: Executor, engine: str = "docker"):
        self.executor, self.engine = executor, engine
        # ref or id -> `image inspect` (one round trip each)
        self._seen: dict[str, dict[str, Any]] = {}
        self._served: list[Session] = []  # each HTTP server, running until close

    @property
    def where(self) -> str:
        return self.executor.host.name

    def _inspect(self, ref: str) -> dict[str, Any] | None:
        if ref not in self._seen:
            result = self.executor.run(inspect(self.engine, ref))
            if not result.ok:
                raise OtterError(f"{self.where}: {self.engine} image inspect {ref} failed: "
                                 f"{result.tail(3)}")
            found = _parse_inspect(result.stdout)
            if found is None:
                return None
            self._seen[ref] = self._seen[found["Id"]] = found
        return self._seen[ref]

    def save(self, image_id: str) -> Readable:
        if self._inspect(image_id) is None:
            raise OtterError(f"{self.engine} save {image_id} failed on {self.where}: "
                             "no such image")
        return self.executor.open_stream(save(self.engine, image_id))

    def decline(self, image_id: str) -> None:
        """Nothing to do: each `save` is its own stream (fanout.SharedImages shares one)."""

    def open_file(self, path: Path) -> tuple[Readable, int | None]:
        sized = self.executor.run(file_size(path))
        if not sized.ok or not sized.stdout.strip().isdigit():
            raise OtterError(f"cannot read {path} on {self.where}: "
                             f"{sized.tail(3) or f'exit {sized.exited}'}")
        return self.executor.open_stream(cat(path)), int(sized.stdout.strip())

    def history(self, image_id: str) -> list[dict[str, Any]] | None:
        return None  # one more round trip for an estimate: layer sizes go without it

    def serve(self, path: Path) -> str:
        """Serve a kept file for the targets to download (build(via="url")) until `close`:
        its URL, on the address the targets reach this host at (ssh(peer=...), else the
        default route's), under a path made there for this run."""
        peer = self.executor.host.peer()
        session = self.executor.open_session(serve(path, peer[0] if peer else ""))
        self._served.append(session)
        said = session.first_line(SERVE_START)
        found = dict(re.findall(r"(\w+)=(\S+)", said)) if said.startswith("otter-serving ") \
            else {}
        if not {"address", "port", "path"} <= set(found):
            raise OtterError(f"cannot serve {path} on {self.where}: {session.failure()}")
        address = found["address"]
        host = f"[{address}]" if ":" in address else address
        return f"http://{host}:{found['port']}{found['path']}"

    def close(self) -> None:
        """Stop what this store serves (the run is over, however it ended)."""
        while self._served:
            self._served.pop().close()

    def archive_image_id(self, path: Path) -> str | None:
        """The image id of a `docker save` archive kept on the build host, or None when the
        file is not one (only its manifest is read, there)."""
        result = self.executor.run(manifest(path))
        return image_id_of_manifest(result.stdout) if result.exited == 0 else None


def _parse_inspect(stdout: str) -> dict[str, Any] | None:
    text = stdout.strip()
    if not text:
        return None
    try:
        found = json.loads(text.splitlines()[0])
    except ValueError:
        return None
    return found if isinstance(found, dict) and isinstance(found.get("Id"), str) else None


def image_id_of_manifest(text: str) -> str | None:
    """The config digest a `docker save` manifest names (one image), as sha256:HEX."""
    try:
        found: Any = json.loads(text)
    except ValueError:
        return None
    if not isinstance(found, list) or len(found) != 1 or not isinstance(found[0], dict):
        return None
    matched = re.search(r"([0-9a-f]{64})(\.json)?$", str(found[0].get("Config", "")))
    return f"sha256:{matched.group(1)}" if matched else None
