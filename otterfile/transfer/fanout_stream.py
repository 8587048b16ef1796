"""One image's shared stream (`Fan`): the producer thread of fan-out (see fanout.py). It
gathers the targets the run expects, opens the store's one `docker save` stream, copies each
chunk into every reader's bounded buffer, cuts loose a reader that stays full for `stall`
seconds, and keeps the error that ended the stream for every reader to raise at close.
"""
from __future__ import annotations

import hashlib
import threading
import time
from typing import TYPE_CHECKING

from otterfile.errors import OtterError
from otterfile.executors.base import Readable
from otterfile.transfer.fanout_reader import CHUNK, POLL

if TYPE_CHECKING:
    from otterfile.transfer.fanout import SharedImages
    from otterfile.transfer.fanout_reader import Reader


class Fan:
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

    def join(self, reader: Reader) -> Reader:
        with self.cond:
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

    def active(self) -> list[Reader]:
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
        with self.shared.lock, self.cond:  # late joiners see it from now on
            self.started = True
            count = len(self.active())
        if count > 1:
            self.shared.on_info(f"one docker save stream for {count} targets "
                                f"({self.image_id[:19]})")
        return count > 0

    def _run(self) -> None:
        source: Readable | None = None
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
            closing, source = source, None
            closing.close()  # a failed `docker save` raises here (executors.streams.Stream)
        except OtterError as error:
            self.error = error
        except Exception as error:  # the SDK's own errors: every reader must hear of it
            self.error = OtterError(f"docker save {self.image_id[:19]}: {error}")
        finally:
            _close_quietly(source)
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


def _close_quietly(source: Readable | None) -> None:
    """Close a stream the producer gave up on: the error that stopped it is the one to tell."""
    if source is None:
        return
    try:
        source.close()
    except Exception:  # noqa: BLE001: see above
        pass
