"""Ship only the layers a target lacks: a `docker save` stream filtered on the fly.

A target's engine skips a layer on `load` when it holds the same *chain* (the layer with the
same layers below it), so what a target has is a set of chain ids, computed here from the
diff id lists its images report. In Docker's save format each layer is a folder `<v1 id>/`
with `json` (read before `layer.tar`) and `layer.tar`; the v1 id is a hash of that json and
the layer's chain id, so the json tells which layer of the image a folder holds before its
tarball streams by. A folder that cannot be matched is always sent: a miss costs bytes only.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import Any, Iterable, Iterator

from otterfile.executors.base import Readable

BLOCK = 512
CHUNK = 1024 * 1024
EXTENDED = (b"x", b"g", b"L", b"K")  # pax and GNU headers that describe the next member


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    """The chain id of each layer: the first is its diff id, then sha256("<below> <diff>")."""
    chains: list[str] = []
    for diff in diff_ids:
        chains.append(diff if not chains else
                      "sha256:" + hashlib.sha256(f"{chains[-1]} {diff}".encode()).hexdigest())
    return chains


def chains_present(listing: str) -> frozenset[str]:
    """The chain ids a target holds, from lines of JSON diff id lists (one per image)."""
    have: set[str] = set()
    for line in listing.splitlines():
        try:
            diffs = json.loads(line)
        except ValueError:
            continue
        if isinstance(diffs, list) and all(isinstance(d, str) for d in diffs):
            have.update(chain_ids(diffs))
    return frozenset(have)


def missing(diff_ids: list[str], have: frozenset[str]) -> list[int]:
    """Indexes of the layers a target lacks (a layer whose diff id repeats is always sent:
    the archive may link the second copy to the first)."""
    chains = chain_ids(diff_ids)
    return [i for i, chain in enumerate(chains)
            if chain not in have or diff_ids.count(diff_ids[i]) > 1]


def archive_diff_ids(source: Readable) -> list[str]:
    """The diff ids of a `docker save` archive kept as a file (its manifest's config), or []
    when it is not one or cannot be read so (not seekable); the file is left at its start."""
    if not isinstance(source, io.IOBase) or not source.seekable():  # a build host's stream
        return []
    def member(archive: tarfile.TarFile, name: str) -> Any:
        found = archive.extractfile(name)
        return json.load(found) if found else None
    try:
        with tarfile.open(fileobj=source, mode="r:") as archive:
            manifest = member(archive, "manifest.json")
            # one image, else which config is meant is unclear: ship it whole
            diffs = member(archive, manifest[0]["Config"])["rootfs"]["diff_ids"] \
                if isinstance(manifest, list) and len(manifest) == 1 else []
    except (tarfile.TarError, KeyError, TypeError, ValueError, OSError):
        diffs = []
    finally:
        source.seek(0)
    return diffs if isinstance(diffs, list) and all(isinstance(d, str) for d in diffs) else []


def layer_index(v1_json: bytes, chains: list[str]) -> int | None:
    """Which layer (by index) a save folder's `json` describes, or None."""
    try:
        items = _raw_items(v1_json.decode())
        want = json.loads(items.pop("id"))
    except (ValueError, KeyError, IndexError):
        return None
    parent = items.pop("parent", None)
    for index, chain in enumerate(chains):
        # below the top, the engine hashes the json before it adds "os"
        for fields in ({k: v for k, v in items.items() if k != "os"}, items):
            fields = dict(fields, layer_id=json.dumps(chain))
            if parent:
                fields["parent"] = json.dumps("sha256:" + json.loads(parent))
            text = "{" + ",".join(f"{json.dumps(k)}:{fields[k]}" for k in sorted(fields)) + "}"
            if hashlib.sha256(text.encode()).hexdigest() == want:
                return index
    return None


def _raw_items(text: str) -> dict[str, str]:
    """A JSON object's top-level values as their raw text (the engine hashes them as is)."""
    decoder, out = json.JSONDecoder(), dict[str, str]()
    i = text.index("{") + 1
    while True:
        while text[i] in " \n\t\r,":
            i += 1
        if text[i] == "}":
            return out
        key, i = decoder.raw_decode(text, i)
        while text[i] in " \n\t\r:":
            i += 1
        _, end = decoder.raw_decode(text, i)
        out[key], i = text[i:end], end


class LayerFilter:
    """A `docker save` stream without the layer tarballs of `skip` (indexes into
    `diff_ids`); `read(size)` like a file. `skipped` counts the bytes left out."""

    def __init__(self, source: Readable, diff_ids: list[str], skip: Iterable[int]):
        self._source, self._chains = source, chain_ids(diff_ids)
        self._skip, self._folders = set(skip), dict[str, int | None]()
        self._chunks, self._buffer = self._members(), bytearray()
        self.skipped = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        cut = len(self._buffer) if size < 0 else size
        out = bytes(self._buffer[:cut])
        del self._buffer[:cut]  # cheap at the front of a bytearray
        return out

    def close(self) -> None:
        self._source.close()

    def _exact(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._source.read(size - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def _members(self) -> Iterator[bytes]:
        pending = b""  # extended headers that belong to the next member
        while True:
            header = self._exact(BLOCK)
            if len(header) < BLOCK or header == bytes(BLOCK):  # the end: pass the rest
                yield pending + header
                while chunk := self._source.read(CHUNK):
                    yield chunk
                return
            name, size, kind = _parse_header(header)
            padded = -(-size // BLOCK) * BLOCK
            if kind in EXTENDED:
                pending += header + self._exact(padded)
                continue
            folder, _, leaf = name.rpartition("/")
            if leaf == "layer.tar" and self._folders.get(folder) in self._skip:
                self._discard(padded)
                if pending:  # a pax size would outlive the emptied header: leave it out
                    self.skipped += len(pending) + BLOCK + padded
                    pending = b""
                    continue
                self.skipped += padded
                yield _emptied(header)
                continue
            yield pending + header
            pending = b""
            if leaf == "json" and folder and size < 1024 * 1024:
                data = self._exact(padded)
                self._folders[folder] = layer_index(data[:size], self._chains)
                yield data
            else:
                yield from self._copy(padded)

    def _copy(self, count: int) -> Iterator[bytes]:
        while count > 0:
            chunk = self._source.read(min(CHUNK, count))
            if not chunk:
                return
            count -= len(chunk)
            yield chunk

    def _discard(self, count: int) -> None:
        for _ in self._copy(count):
            pass


def _emptied(header: bytes) -> bytes:
    """The same ustar header with a size of 0 (its checksum recomputed)."""
    block = bytearray(header)
    block[124:136] = b"%011o\0" % 0
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _parse_header(header: bytes) -> tuple[str, int, bytes]:
    """Name, data size and type flag of a ustar header block."""
    name = header[0:100].split(b"\0", 1)[0]
    prefix = header[345:500].split(b"\0", 1)[0] if header[257:262] == b"ustar" else b""
    raw = header[124:136]
    if raw[0] & 0x80:  # base-256 for big sizes
        size = int.from_bytes(raw[1:], "big")
    else:
        size = int(raw.split(b"\0", 1)[0].strip() or b"0", 8)
    full = (prefix + b"/" + name) if prefix else name
    return full.decode("utf-8", "replace"), size, header[156:157]
