"""The tree of a relayed run (Deployment(relay=True), see relay.py): `assign` says which
target feeds which; `Tree` lets the lanes of a run agree on it and wait for their relay."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

# A relay feeds at most this many children: its own upload is then at most 4 copies while the
# controller's is one copy per 5 targets (one for 2 to 5 targets, two for 10, four for 20).
# The tree is two levels deep (controller -> relays -> children); a deeper one (children
# relaying on) would keep the controller at one copy for any count, at the cost of a relay
# script on every level: not done.
FANOUT = 4
GATHER = 10.0  # seconds the lanes of a run wait for each other before the tree is drawn
WAIT = 3600.0  # seconds a child waits at most for its relay's transfer
POLL = 0.2


def assign(names: list[str], fanout: int = FANOUT) -> dict[str, list[str]]:
    """relay -> its children, for the targets (in this order) that lack the image: the
    first ceil(N / (fanout + 1)) relay, the rest are dealt to them in turn."""
    if not names:
        return {}
    count = -(-len(names) // (fanout + 1))
    tree: dict[str, list[str]] = {name: [] for name in names[:count]}
    relays = list(tree)
    for index, name in enumerate(names[count:]):
        tree[relays[index % count]].append(name)
    return tree


@dataclass(frozen=True)
class Role:
    """What a target does in the tree: relay to `children`, receive from `relay`, or
    neither (alone, or too late for the tree: the controller ships to it)."""

    children: tuple[str, ...] = ()
    relay: str | None = None


class Tree:
    """The targets of a run that ship one image with relay=True: each joins (its probe said it
    lacks the image) or declines; once all `expected` did, or `gather` seconds passed, the
    tree is drawn (`assign`, in name order). A relay tells `done` which of its children got
    the image (None: none, it failed); a child waits for that (`served`), at most `wait`."""

    def __init__(self, expected: Callable[[], int], *, gather: float = GATHER,
                 wait: float = WAIT, fanout: int = FANOUT):
        self.expected, self.gather, self.wait, self.fanout = expected, gather, wait, fanout
        self.cond = threading.Condition()
        self.joined: list[str] = []
        self.declined: list[str] = []
        self.tree: dict[str, list[str]] | None = None
        self.results: dict[str, frozenset[str] | None] = {}
        self._started: float | None = None

    @property
    def drawn(self) -> bool:
        return self.tree is not None

    def members(self) -> set[str]:
        """The targets that joined or declined."""
        with self.cond:
            return {*self.joined, *self.declined}

    def decline(self, name: str) -> None:
        with self.cond:
            self.declined.append(name)
            self._started = self._started or time.monotonic()
            self.cond.notify_all()

    def join(self, name: str, cancel: threading.Event | None = None) -> Role:
        """Wait for the tree (bounded by `gather`); this target's role in it."""
        with self.cond:
            if self.tree is None:
                self.joined.append(name)
                self._started = self._started or time.monotonic()
                self.cond.notify_all()
            deadline = (self._started or time.monotonic()) + self.gather
            while self.tree is None:
                left = deadline - time.monotonic()
                if left <= 0 or len(self.joined) + len(self.declined) >= self.expected() or \
                        (cancel is not None and cancel.is_set()):
                    self.tree = assign(sorted(self.joined), self.fanout)
                    self.cond.notify_all()
                    break
                self.cond.wait(min(POLL, left))
            if name in self.tree:
                return Role(children=tuple(self.tree[name]))
            relay = next((r for r, kids in self.tree.items() if name in kids), None)
            return Role(relay=relay)

    def done(self, relay: str, served: frozenset[str] | None) -> None:
        with self.cond:
            self.results[relay] = served
            self.cond.notify_all()

    def served(self, relay: str, name: str,
               cancel: threading.Event | None = None) -> tuple[bool, str]:
        """Whether `relay` gave `name` the image, and if not, why (for the output)."""
        deadline = time.monotonic() + self.wait
        with self.cond:
            while relay not in self.results:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False, f"{relay} did not finish relaying in {self.wait:.0f}s"
                if cancel is not None and cancel.is_set():
                    return False, "interrupted"
                self.cond.wait(min(POLL, left))
            served = self.results[relay]
        if served is None:
            return False, f"{relay} could not relay"
        if name not in served:
            return False, f"{relay} could not pass the image on to it"
        return True, ""
