"""Fan-out: one `docker save` stream feeds every target that ships the image in a run.

`SharedImages` wraps an image store (the controller's or a build host's). The first target
that asks to `save` an image opens a fan: it waits briefly (at most `gather` seconds) for the
other targets the engine expects to ship that image, each of which either joins (`save`) or
says its probe found the image there already (`decline`); then ONE producer thread reads the
store's stream and copies each chunk into every reader's own bounded buffer. Nothing holds
the whole image: a reader that falls `buffer` bytes behind holds the producer back, for at
most `stall` seconds; then it is cut loose and continues on a private stream of its own
(the first bytes, which it already had, are read again and checked against the shared
stream's digest), so a slow target never stalls the others for longer than that. A reader
that is closed early (its target died, its `docker load` exited) simply leaves. A target that
asks once the stream has started reads a private stream: correct, just not shared. The
producer is `fanout_stream.Fan`, each target's view `fanout_reader.Reader`.
"""
from __future__ import annotations

import collections
import threading
from pathlib import Path
from typing import Any, Callable

from otterfile.artifacts.base import ImageStore
from otterfile.executors.base import Readable
from otterfile.transfer.fanout_reader import CHUNK, Reader
from otterfile.transfer.fanout_stream import Fan

BUFFER = 8 * CHUNK  # per reader: how far it may fall behind before it holds the others
STALL = 20.0  # seconds a full reader may hold the producer before it is cut loose
GATHER = 5.0  # seconds the first reader waits for the others the engine expects
IDLE = 300.0  # seconds a reader waits for a byte before it gives up (a stuck store)

Expected = Callable[[str], int]  # image id -> how many targets of the run ship it
Say = Callable[[str], None]


class SharedImages:
    """An ImageStore whose `save` streams each image once for the targets shipping it."""

    def __init__(self, store: ImageStore, *, expected: Expected = lambda _id: 1,
                 on_info: Say = lambda _line: None, buffer: int = BUFFER,
                 stall: float = STALL, gather: float = GATHER, idle: float = IDLE):
        self.store, self.expected, self.on_info = store, expected, on_info
        self.buffer, self.stall, self.gather, self.idle = buffer, stall, gather, idle
        self.lock = threading.Lock()
        self._seen: collections.Counter[str] = collections.Counter()  # joined or declined
        self._fans: dict[str, Fan] = {}  # image id -> the fan gathering or streaming it

    def image_id(self, ref: str) -> str | None:
        return self.store.image_id(ref)

    def size(self, image_id: str) -> int | None:
        return self.store.size(image_id)

    def layers(self, image_id: str) -> list[str]:
        return self.store.layers(image_id)

    def open_file(self, path: Path) -> tuple[Readable, int | None]:
        return self.store.open_file(path)

    def archive_image_id(self, path: Path) -> str | None:
        return self.store.archive_image_id(path)

    def history(self, image_id: str) -> list[dict[str, Any]] | None:
        return self.store.history(image_id)

    def serve(self, path: Path) -> str | None:
        return self.store.serve(path)

    def decline(self, image_id: str) -> None:
        """A target has the image: the fan does not wait for it."""
        with self.lock:
            self._seen[image_id] += 1
            fan = self._fans.get(image_id)
        if fan is not None:
            fan.poke()

    def pending(self, image_id: str) -> int:
        """How many expected targets have neither joined nor declined yet."""
        with self.lock:
            return self._pending(image_id)

    def _pending(self, image_id: str) -> int:
        return self.expected(image_id) - self._seen[image_id]

    def save(self, image_id: str) -> Readable:
        """A reader of the image's shared stream (or a private one: alone, or late)."""
        with self.lock:
            self._seen[image_id] += 1
            fan = self._fans.get(image_id)
            if fan is not None and fan.done:  # a later batch of targets: a new fan
                del self._fans[image_id]
                fan = None
            if fan is not None and not fan.started:
                return fan.join(Reader(fan))
            alone = fan is None and self._pending(image_id) <= 0
            if fan is None and not alone:
                fan = self._fans[image_id] = Fan(self, image_id)
                reader = fan.join(Reader(fan))
                fan.start()
                return reader
        if not alone:
            self.on_info(f"the stream of {image_id[:19]} had started: one more docker save "
                         "for a target that came late")
        return self.store.save(image_id)

    def close(self) -> None:
        """Stop every producer still running, then whatever the store holds (servers)."""
        with self.lock:
            fans, self._fans = list(self._fans.values()), {}
        for fan in fans:
            fan.stop()
        self.store.close()
