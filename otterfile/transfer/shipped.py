"""What every way of shipping shares: `ShipResult` (whether the artifact moved, the bytes
sent, how long it took, what the ship stage says), the callbacks a ship function takes
(`OnShipProgress`, `Guard`) and `Counter`, the stream wrapper that counts the bytes a target
read. The ship modules (image, file, pull) and the relay hand these back and forth, so they
live in this leaf, which ships nothing itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from otterfile.artifacts.base import Artifact
from otterfile.command import Command
from otterfile.executors.base import OnProgress, Readable, Result
from otterfile.report.text import human_size

OnShipProgress = Callable[[int, "int | None"], None]
Guard = Callable[[Command], Command]  # wraps what reads the stream on the target


def unguarded(receive: Command) -> Command:
    return receive


@dataclass(frozen=True)
class ShipResult:
    """Whether the artifact moved, how many bytes were sent, how long the stage took."""

    shipped: bool
    bytes: int
    seconds: float
    # what the target now has, when shipping pinned it (a registry tag resolved to a digest)
    artifact: Artifact | None = None
    # (layers sent, layers of the image) when the target had some of them
    layers: tuple[int, int] | None = None
    refused: str | None = None  # why the target's engine refused the partial archive
    # what the command run after the receive in its round trip did (ship_file's `then`)
    then: Result | None = None
    beside: Result | None = None  # and what ran beside it

    @property
    def said(self) -> str:
        """What the ship stage says: `sent 1258291 bytes (1.2 MB: 3 of 7 layers; the target
        had the rest)`, `artifact already there`, ..."""
        if not self.shipped:
            return "artifact already there"
        if not self.bytes:
            return "downloaded by the target itself"
        if not self.layers:
            return f"sent {self.bytes} bytes"
        return (f"sent {self.bytes} bytes ({human_size(self.bytes)}: {self.layers[0]} of "
                f"{self.layers[1]} layers; the target had the rest)")


def progress(on_progress: OnShipProgress | None, total: int | None) -> OnProgress | None:
    """An executor's byte count as ship progress: (sent, total), the total None once the
    count runs past it (an estimate)."""
    if on_progress is None:
        return None
    return lambda sent: on_progress(sent, total if total and sent <= total else None)


class Counter:
    """Counts the bytes read through it."""

    def __init__(self, stream: Readable):
        self.stream, self.count = stream, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.count += len(chunk)
        return chunk

    def close(self) -> None:
        self.stream.close()
