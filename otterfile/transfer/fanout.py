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
asks once the stream has started reads a private stream: correct, just not shared.
"""
from __future__ import annotations

import collections
import hashlib
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable

from otterfile.errors import OtterError
from otterfile.artifacts.base import ImageStore

CHUNK = 1024 * 1024  # what the producer reads from the store at a time
BUFFER = 8 * CHUNK  # per reader: how far it may fall behind before it holds the others
STALL = 20.0  # seconds a full reader may hold the producer before it is cut loose
GATHER = 5.0  # seconds the first reader waits for the others the engine expects
IDLE = 300.0  # seconds a reader waits for a byte before it gives up (a stuck store)
POLL = 0.2  # how often a wait re-checks what it waits for (expected readers change)

Expected = Callable[[str], int]  # image id -> how many targets of the run ship it
Say = Callable[[str], None]


class SharedImages:
    """An ImageStore whose `save` streams each image once for the targets shipping it."""

    def __init__(self, store: ImageStore, *, expected: Expected = lambda _id: 1,
                 on_info: Say = lambda _line: None, buffer: int = BUFFER,
                 stall: float = STALL, gather: float = GATHER, idle: float = IDLE):
        self.store, self.expected, self.on_info = store, expected, on_info
        self.buffer, self.stall, self.gather, self.idle = buffer, stall, gather, idle
        self._lock = threading.Lock()
        self._seen: collections.Counter[str] = collections.Counter()  # joined or declined
        self._fans: dict[str, _Fan] = {}  # image id -> the fan gathering or streaming it

    def image_id(self, ref: str) -> str | None:
        return self.store.image_id(ref)

    def size(self, image_id: str) -> int | None:
        return self.store.size(image_id)

    def layers(self, image_id: str) -> list[str]:
        return self.store.layers(image_id)

    def open_file(self, path: Path) -> tuple[BinaryIO, int | None]:
        return self.store.open_file(path)

    def archive_image_id(self, path: Path) -> str | None:
        return self.store.archive_image_id(path)

    def history(self, image_id: str) -> list[dict[str, Any]] | None:
        return self.store.history(image_id)

    def serve(self, path: Path) -> str | None:
        return self.store.serve(path)

    def decline(self, image_id: str) -> None:
        """A target has the image: the fan does not wait for it."""
        with self._lock:
            self._seen[image_id] += 1
            fan = self._fans.get(image_id)
        if fan is not None:
            fan.poke()

    def pending(self, image_id: str) -> int:
        """How many expected targets have neither joined nor declined yet."""
        with self._lock:
            return self._pending(image_id)

    def _pending(self, image_id: str) -> int:
        return self.expected(image_id) - self._seen[image_id]

    def save(self, image_id: str) -> BinaryIO:
        """A reader of the image's shared stream (or a private one: alone, or late)."""
        with self._lock:
            self._seen[image_id] += 1
            fan = self._fans.get(image_id)
            if fan is not None and fan.done:  # a later batch of targets: a new fan
                del self._fans[image_id]
                fan = None
            if fan is not None and not fan.started:
                return fan.join()  # type: ignore[return-value]
            alone = fan is None and self._pending(image_id) <= 0
            if fan is None and not alone:
                fan = self._fans[image_id] = _Fan(self, image_id)
                reader = fan.join()
                fan.start()
                return reader  # type: ignore[return-value]
        if not alone:
            self.on_info(f"the stream of {image_id[:19]} had started: one more docker save "
                         "for a target that came late")
        return self.store.save(image_id)

    def close(self) -> None:
        """Stop every producer still running, then whatever the store holds (servers)."""
        with self._lock:
            fans, self._fans = list(self._fans.values()), {}
        for fan in fans:
            fan.stop()
        self.store.close()


class _Fan:
    """One image's shared stream: a producer thread and the readers it feeds."""

    def __init__(self, shared: SharedImages, image_id: str):
        self.shared, self.image_id = shared, image_id
        self.cond = threading.Condition()
        self.readers: list[Reader] = []
        self.started = self.done = self.stopped = False
        self.produced, self.digest = 0, hashlib.sha256()
        self.error: OtterError | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"otter-fanout-{image_id[7:19]}")

    def join(self) -> "Reader":
        with self.cond:
            reader = Reader(self)
            self.readers.append(reader)
            self.cond.notify_all()
            return reader

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()

    def active(self) -> list["Reader"]:
        return [r for r in self.readers if not r.closed and not r.loose]

    def _gather(self) -> bool:
        """Wait until every expected target joined or declined, or `gather` seconds;
        False: nobody reads any more."""
        deadline = time.monotonic() + self.shared.gather
        while True:
            with self.cond:
                left = deadline - time.monotonic()
                if self.stopped or left <= 0 or not self.active():
                    break
            if self.shared.pending(self.image_id) <= 0:
                break
            with self.cond:
                self.cond.wait(min(POLL, left))
        with self.shared._lock, self.cond:  # noqa: SLF001: late joiners see it from now on
            self.started = True
            count = len(self.active())
        if count > 1:
            self.shared.on_info(f"one docker save stream for {count} targets "
                                f"({self.image_id[:19]})")
        return count > 0

    def _run(self) -> None:
        source: Any = None
        try:
            if not self._gather():
                return
            source = self.shared.store.save(self.image_id)
            while not self.stopped:
                chunk = source.read(CHUNK)
                if not chunk or not self._deliver(chunk):
                    break
            if self.stopped:
                raise OtterError(f"the stream of {self.image_id[:19]} was stopped")
            source, closing = None, source
            closing.close()  # a failed `docker save` raises here (remote_images.Stream)
        except OtterError as error:
            self.error = error
        except Exception as error:  # the SDK's own errors: every reader must hear of it
            self.error = OtterError(f"docker save {self.image_id[:19]}: {error}")
        finally:
            if source is not None:
                try:
                    getattr(source, "close", lambda: None)()
                except Exception:  # the error that stopped the stream is the one to tell
                    pass
            with self.cond:
                self.done = True
                self.cond.notify_all()

    def _deliver(self, chunk: bytes) -> bool:
        """Put `chunk` in every active reader's buffer once it has room; a reader that
        stays full for `stall` seconds is cut loose. False: nobody reads any more."""
        with self.cond:
            deadline = time.monotonic() + self.shared.stall
            while not self.stopped:
                full = [r for r in self.active() if r.buffered >= self.shared.buffer]
                if not full:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    for reader in full:
                        reader.cut_loose(self.produced, self.digest.copy())
                    break
                self.cond.wait(min(POLL, left))
            self.digest.update(chunk)
            self.produced += len(chunk)
            readers = self.active()
            for reader in readers:
                reader.put(chunk)
            self.cond.notify_all()
            return bool(readers) and not self.stopped


class Reader:
    """One target's view of a fan: a file-like `read(size)`; `close` leaves the fan and
    raises what went wrong with the stream (so ship names it, not a truncated load)."""

    def __init__(self, fan: _Fan):
        self.fan = fan
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.closed = self.loose = False
        self.failure: OtterError | None = None
        self._private: BinaryIO | None = None
        self._resume: tuple[int, Any] | None = None  # (offset, digest) where it was cut

    def put(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.buffered += len(chunk)

    def cut_loose(self, offset: int, digest: Any) -> None:
        self.loose, self._resume = True, (offset, digest)

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all, when negative); b"" at the end or after a failure:
        a stream reader in another thread must not raise (close raises instead)."""
        if size < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        if self.closed or self.failure is not None:
            return b""
        if self._private is not None:
            return self._read_private(size)
        fan = self.fan
        with fan.cond:
            deadline = time.monotonic() + fan.shared.idle
            while not self.chunks and not self.loose and not fan.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.failure = OtterError(f"no bytes of {fan.image_id[:19]} for "
                                              f"{fan.shared.idle:.0f}s: the image stream is stuck")
                    return b""
                fan.cond.wait(min(POLL, left))
            if self.chunks:
                return self._take(size)
            if not self.loose:  # the fan is done
                self.failure = fan.error
                return b""
        return self._go_private(size)

    def _take(self, size: int) -> bytes:
        chunk = self.chunks.popleft()
        if len(chunk) > size:
            chunk, rest = chunk[:size], chunk[size:]
            self.chunks.appendleft(rest)
        self.buffered -= len(chunk)
        self.fan.cond.notify_all()  # room again: the producer may go on
        return chunk

    def _go_private(self, size: int) -> bytes:
        """Cut loose and drained: the same image from a private stream, after the bytes it
        already had (checked to be the same bytes)."""
        fan = self.fan
        offset, digest = self._resume or (0, hashlib.sha256())
        fan.shared.on_info(f"a target fell {fan.shared.buffer // CHUNK} MiB behind for "
                           f"{fan.shared.stall:.0f}s: it goes on with its own docker save")
        try:
            private = fan.shared.store.save(fan.image_id)
            again, left = hashlib.sha256(), offset
            while left > 0:
                chunk = private.read(min(CHUNK, left))
                if not chunk:
                    break
                again.update(chunk)
                left -= len(chunk)
        except Exception as error:  # told at close, as the shared stream's errors are
            self.failure = error if isinstance(error, OtterError) else \
                OtterError(f"docker save {fan.image_id[:19]}: {error}")
            return b""
        self._private = private
        if left > 0 or again.digest() != digest.digest():
            self.failure = OtterError(f"a second docker save of {fan.image_id[:19]} gave "
                                      "other bytes than the first: deploy again")
            return b""
        return self._read_private(size)

    def _read_private(self, size: int) -> bytes:
        try:
            return self._private.read(size)  # type: ignore[union-attr]
        except OtterError as error:
            self.failure = error
        except Exception as error:  # the SDK's own: told at close, like the shared stream's
            self.failure = OtterError(f"docker save {self.fan.image_id[:19]}: {error}")
        return b""

    def close(self) -> None:
        fan = self.fan
        with fan.cond:
            first = not self.closed
            self.closed = True
            self.chunks.clear()
            self.buffered = 0
            fan.cond.notify_all()
        private, self._private = self._private, None
        if private is not None:
            getattr(private, "close", lambda: None)()
        if first and self.failure is not None:
            raise self.failure
