"""The `fetch(url, sha256=..., via=...)` source: a pre-built file (a tarball, a binary, or a
`docker save` archive) fetched by URL.

via="controller" (the default): the controller downloads it once into its cache keyed by
digest; a cached file whose digest is pinned is reused without a request. The download
runs through the executor (`download_command`, download.py's `main` with httpx), like every
process of a source, so `otter plan` records it and touches no network. via="target": each
target downloads it at ship (commands/download.py); acquire only records URL and digest.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from otterfile.command import Command, script
from otterfile.errors import OtterError
from otterfile.secrets import Secret
from otterfile.artifacts import archive
from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.kinds import FetchKind
from otterfile.artifacts.urls import redact

ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds the package
MAIN = ("import sys; from otterfile.artifacts.download import main; "
        "sys.exit(main(sys.argv[1:]))")
# $1 the package's folder, $2 python, $3 MAIN, $4 cache, $5 pin or -; stdin: the URL
RUN_MAIN = 'cd "$1" && exec "$2" -c "$3" "$4" "$5"'


class FetchSource(FetchKind):
    """fetch(...) downloaded: the checks are kinds.FetchKind's."""

    def acquire(self, value: Any, ctx: AcquireContext) -> Artifact:
        return acquire(value, ctx)


SOURCE = FetchSource()


def acquire(value: Any, ctx: AcquireContext) -> Artifact:
    """The file at `value.url`, verified and kept in the controller's cache (or, for
    via="target", only its URL and digest: each target downloads it at ship)."""
    shown, pin = redact(value.url), (value.sha256 or "").lower() or None
    if value.via == "target":
        return Artifact("file", f"sha256:{pin}", url=value.url, source=shown)
    cache = ctx.cache_dir / "artifacts" / "sha256"
    with ctx.lock():
        if pin and (cache / pin).is_file():
            ctx.on_output(f"{shown}: sha256 {pin[:12]} is in the cache")
            hexes = pin
        else:
            hexes = _download(ctx, value.url, pin, cache, shown)
    path = cache / hexes
    image = archive.image_id_of(path)
    if image:  # a `docker save` archive ships as the image it holds
        return Artifact("image", image, path=path, source=shown)
    return Artifact("file", f"sha256:{hexes}", path=path, source=shown)


def _download(ctx: AcquireContext, url: str, pin: str | None, cache: Path, shown: str) -> str:
    def line(stream: str, text: str) -> None:
        if stream == "stdout" and not text.startswith("sha256 "):
            ctx.on_output(text)

    result = ctx.executor.run(download_command(url, cache, pin), on_output=line)
    if not result.ok:
        raise OtterError(result.tail(3) or f"cannot download {shown} (exit {result.exited})")
    printed = re.findall(r"^sha256 ([0-9a-f]{64})$", result.stdout, re.M)
    if pin:  # the download checked it (and a plan, which runs nothing, prints nothing)
        return pin
    if not printed:
        raise OtterError(f"the download of {shown} printed no digest")
    return str(printed[-1])


def download_command(url: str, cache: Path, pin: str | None) -> Command:
    """Run `main` on the controller: download `url` into `cache`; prints `sha256 HEX`.
    The URL goes in on stdin (it may carry a password)."""
    line = url + "\n"
    return script(RUN_MAIN, args=[ROOT, sys.executable, MAIN, str(cache), pin or "-"],
                  stdin=Secret("fetch URL", line) if "@" in urlsplit(url).netloc else line,
                  description=f"download {redact(url)}")

