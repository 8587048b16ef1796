"""Commands that identify and move artifacts: docker images (id, save, load, tag), files.

Builders only: each returns a Command and runs nothing.
"""
from __future__ import annotations

from ..command import Command, cmd, script

# One round trip to a target: "present" when IMAGE is already that id; when only the id is
# there, point the tag at it and say "tagged"; else "missing". Exit 127: no docker at all.
PROBE_SCRIPT = """command -v docker >/dev/null 2>&1 || { echo "docker: not found" >&2; exit 127; }
image_id=$1 image=$2
if [ -n "$image" ]; then
  have=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null) || have=
  [ "$have" = "$image_id" ] && { echo present; exit 0; }
fi
if docker image inspect --format '{{.Id}}' "$image_id" >/dev/null 2>&1; then
  if [ -z "$image" ]; then echo present; exit 0; fi
  docker tag "$image_id" "$image" && { echo tagged; exit 0; }
  exit 1
fi
echo missing
"""


def image_id(image: str) -> Command:
    """Print the image id (sha256:...) of a tag or id; exit 1 when there is none."""
    return cmd("docker", "image", "inspect", "--format", "{{.Id}}", image,
               description=f"image id of {image}")


def image_size(image: str) -> Command:
    """Print the image's size in bytes (about what `docker save` streams)."""
    return cmd("docker", "image", "inspect", "--format", "{{.Size}}", image,
               description=f"size of {image}")


def probe(image_id_: str, image: str | None) -> Command:
    """Ask a target whether it has the image; tag the id when only the tag is missing."""
    return script(PROBE_SCRIPT, args=[image_id_, image or ""],
                  description=f"look for {image or image_id_}")


def save(image: str) -> Command:
    """Write the image (layers, config, tags) as a tar archive to stdout."""
    return cmd("docker", "save", image, description=f"save {image}")


def load() -> Command:
    """Read a `docker save` archive from stdin into the engine."""
    return cmd("docker", "load", description="load image")


def tag(source: str, target: str) -> Command:
    """Point the tag `target` at the image `source`."""
    return cmd("docker", "tag", source, target, description=f"tag {target}")


def file_sha256(path: str) -> Command:
    """Print the sha256 of a file (then its name), read as a stream."""
    return cmd("sha256sum", "--", path, description=f"hash {path}")
