"""Archives for the unit and integration tests of unpacking: a plain tar of given files, and
hostile ones: gzip bombs made in a fraction of a second, and zips whose directory lies
about their sizes."""
from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile

MiB = 1024 * 1024
APP = b"#!/bin/sh\necho serving\n"


def tar_bytes(files: dict[str, bytes]) -> bytes:
    """A plain tar holding `files` (name: content), in memory."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _member(name: str, size: int, mode: int = 0o644) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, mode
    return info.tobuf(tarfile.GNU_FORMAT)


def gzip_bomb(size: int, files: int = 1, app: bytes = APP) -> bytes:
    """A tar.gz holding an executable `app` and `files` files of zeros, `size` bytes in all:
    about 1000 times smaller than it unpacks. Gzip members one after the other read as one
    stream; the 1 MiB of zeros is compressed once and repeated."""
    zeros = gzip.compress(bytes(MiB), 9)
    parts = [gzip.compress(_member("app", len(app), 0o755) + app + bytes(-len(app) % 512), 9)]
    each = size // files
    for index in range(files):
        parts.append(gzip.compress(_member(f"zeros{index}", each), 9))
        parts += [zeros] * (each // MiB)
        parts.append(gzip.compress(bytes(each % MiB + (-each % 512)), 9))
    parts.append(gzip.compress(bytes(1024), 9))  # the end of the archive
    return b"".join(parts)


def zipped(*members: tuple[str, bytes, int]) -> bytes:
    """A zip of (name, data, unix mode) members, deflated."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.create_system, info.external_attr = 3, mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def lying(data: bytes, name: bytes, size: int) -> bytes:
    """`data` (a zip) with its central directory's uncompressed size of `name` set to
    `size`: what `unzip -l` and `unzip -Z` then show; unzip still unpacks it whole."""
    at = data.rindex(b"PK\x01\x02", 0, data.rindex(name))
    return data[:at + 24] + struct.pack("<I", size) + data[at + 28:]
