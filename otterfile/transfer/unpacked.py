"""The unpacked size of a file artifact, as the systemd runtime unpacks it into a release
folder (commands/systemd.py START_SCRIPT tells the kinds apart by the same magic bytes):
a tar archive is about its own size, a tar.gz is counted by decompressing it (up to a
limit), a tar.zst by its frames' declared sizes, a zip by its directory; any other file is
copied as it is."""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
# scripts/unpack.sh's default limits: 20 times the archive, at least 64 MiB, at most 10 GiB
RATIO, FLOOR, CEILING, FILES = 20, 64 * 1024 * 1024, 10 * 1024 ** 3, 200_000
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
REFUSED = (b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!", b"LZIP")  # start refuses these


def unpacked_size(path: Path, limit: int | None = None) -> tuple[int | None, bool]:
    """(about how many bytes `path` unpacks to, whether that is the whole count): None when
    it cannot be told (a zstd frame without its size, a damaged file); a gzip count stops
    past `limit` (then not exact)."""
    try:
        with open(path, "rb") as source:
            head = source.read(262)
            source.seek(0)
            if head[:2] == b"\x1f\x8b":
                return _gunzipped(source, limit)
            if head[:4] == ZSTD_MAGIC:
                return _zstd_declared(source), True
            if head[:4] == b"PK\x03\x04":
                return _zip_total(source), True
            if head.startswith(REFUSED):
                return None, True
            return Path(path).stat().st_size, True  # a tar (about its size) or one file
    except OSError:
        return None, False


def on_arrival(path: Path | None) -> tuple[str, int, int, int] | None:
    """How the store's receive unpacks a file as it arrives (scripts/store/receive.sh): its
    compression ("gz", "zst", or "tar" for none), the most bytes and members to unpack
    there (unpack.sh's defaults for its size; the start judges with its own limits), and its
    size (the receive unpacks only where the store has room for both). None: no tar archive
    by its magic bytes (or not readable here), stored only."""
    if path is None:
        return None
    try:
        with open(path, "rb") as source:
            head = source.read(262)
        size = Path(path).stat().st_size
    except OSError:
        return None
    if head[:2] == b"\x1f\x8b":
        z = "gz"
    elif head[:4] == ZSTD_MAGIC:
        z = "zst"
    elif head[257:262] == b"ustar":
        z = "tar"
    else:
        return None
    return z, min(max(size * RATIO, FLOOR), CEILING), FILES, size


def _gunzipped(source: BinaryIO, limit: int | None) -> tuple[int | None, bool]:
    """The decompressed length of a gzip file (every member), counted up to `limit`."""
    count, members, inflate = 0, 0, zlib.decompressobj(wbits=47)
    while chunk := source.read(CHUNK):
        while chunk:
            try:
                count += len(inflate.decompress(chunk, CHUNK))
            except zlib.error:  # after a member, trailing bytes that gzip ignores too
                return (count, True) if members else (None, True)
            if limit is not None and count > limit:
                return count, False
            if inflate.eof:  # what follows is the next member
                chunk, members, inflate = inflate.unused_data, members + 1, \
                    zlib.decompressobj(wbits=47)
            else:
                chunk = inflate.unconsumed_tail
    return count + len(inflate.flush()), True


def _zip_total(source: BinaryIO) -> int | None:
    try:
        with zipfile.ZipFile(source) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None


def _zstd_declared(source: BinaryIO) -> int | None:
    """The sum of the content sizes a zstd file's frames declare (the zstd tool writes it
    for a file it compresses); None when a frame does not say or the file is damaged."""
    total = 0
    while magic := source.read(4):
        if len(magic) < 4:
            return None
        if 0x184D2A50 <= int.from_bytes(magic, "little") <= 0x184D2A5F:  # skippable frame
            source.seek(int.from_bytes(source.read(4), "little"), 1)
            continue
        if magic != ZSTD_MAGIC:
            return None
        size = _zstd_frame(source)
        if size is None:
            return None
        total += size
    return total


def _zstd_frame(source: BinaryIO) -> int | None:
    """One frame after its magic: its declared content size, the file left after it."""
    descriptor = source.read(1)
    if not descriptor:
        return None
    flags = descriptor[0]
    single, checksum = flags >> 5 & 1, flags >> 2 & 1
    dict_bytes = (0, 1, 2, 4)[flags & 3]
    size_bytes = (1 if single else 0, 2, 4, 8)[flags >> 6]
    source.seek((0 if single else 1) + dict_bytes, 1)
    raw = source.read(size_bytes)
    if not size_bytes or len(raw) < size_bytes:
        return None
    declared = int.from_bytes(raw, "little") + (256 if size_bytes == 2 else 0)
    while True:  # the blocks: 3-byte headers, then each block's bytes
        header = source.read(3)
        if len(header) < 3:
            return None
        value = int.from_bytes(header, "little")
        kind = value >> 1 & 3
        if kind == 3:
            return None
        source.seek(1 if kind == 1 else value >> 3, 1)
        if value & 1:
            break
    source.seek(4 * checksum, 1)
    return declared
