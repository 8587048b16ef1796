"""One target's view of a fan-out stream (`Reader`, see fanout.py): a file-like `read(size)`
over the chunks the producer (`fanout_stream.Fan`) put in its buffer; once cut loose for
falling behind, the same image from a private `docker save`, checked against the bytes it
already had. `close` leaves the fan and raises what went wrong with the stream.
"""
from __future__ import annotations

import collections
import hashlib
import time
from typing import TYPE_CHECKING, Any

from otterfile.errors import OtterError
from otterfile.executors.base import Readable

if TYPE_CHECKING:
    from otterfile.transfer.fanout_stream import Fan

CHUNK = 1024 * 1024  # what the producer reads from the store at a time
POLL = 0.2  # how often a wait re-checks what it waits for (expected readers change)


class Reader:
    """One target's view of a fan: a file-like `read(size)`; `close` leaves the fan and
    raises what went wrong with the stream (so ship names it, not a truncated load)."""

    def __init__(self, fan: Fan):
        self.fan = fan
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.closed = self.loose = False
        self.failure: OtterError | None = None
        self._private: Readable | None = None
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
            return self._read_private(self._private, size)
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
        return self._read_private(private, size)

    def _read_private(self, private: Readable, size: int) -> bytes:
        try:
            return private.read(size)
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
            private.close()
        if first and self.failure is not None:
            raise self.failure
