"""What an upload is on every executor: the command that writes its input to a file
atomically (a reader never sees half a file), and a local file or stream read in chunks
with a running byte count, which the executor streams to that command's input.
"""
from __future__ import annotations

import contextlib
import os
from typing import BinaryIO, Iterator

from otterfile.command import Command, script
from otterfile.executors.base import OnProgress, Readable
from otterfile.executors.pipes import CHUNK

# Written to a private temporary name, then renamed: a reader never sees half a file.
UPLOAD_SCRIPT = ('umask 077; t="$1.otter-tmp.$$"; '
                 'if cat > "$t" && chmod "$2" "$t" && mv -f "$t" "$1"; then exit 0; fi; '
                 'rm -f "$t"; exit 1')


def upload_command(dest: str, mode: int = 0o644) -> Command:
    """The command that writes its stdin to `dest` with `mode`, atomically."""
    return script(UPLOAD_SCRIPT, args=[dest, f"{mode:o}"], description=f"upload {dest}")


def chunks(stream: Readable, on_progress: OnProgress | None = None) -> Iterator[bytes]:
    """Read `stream` CHUNK bytes at a time, reporting the running byte count."""
    sent = 0
    while chunk := stream.read(CHUNK):
        yield chunk
        sent += len(chunk)
        if on_progress:
            on_progress(sent)


@contextlib.contextmanager
def open_source(source: str | os.PathLike[str] | BinaryIO) -> Iterator[BinaryIO]:
    """A binary stream for a path or an already open stream (left open)."""
    if isinstance(source, (str, os.PathLike)):
        with open(os.path.expanduser(source), "rb") as stream:
            yield stream
    else:
        yield source
