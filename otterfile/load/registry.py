"""The kind tables: each kind's declaration (what checks an Otterfile's value, a small
module) and its handler (what the engine runs: commands, acquire, site files), imported the
first time the engine asks for it.

Evaluating an Otterfile asks only declarations; `Handlers` is a table whose entries import
their module on first lookup, so `otter exec` never loads the kinds' handlers and `otter
rollback` loads only those it uses.
"""
from __future__ import annotations

from typing import Callable, Iterator, Mapping, TypeVar

K = TypeVar("K")
H = TypeVar("H")


class Handlers(Mapping[K, H]):
    """A read-only table key -> handler whose handlers are made (their module imported) the
    first time each is looked up; iterating over the keys imports nothing."""

    def __init__(self, handlers: Mapping[K, Callable[[], H]]):
        self._handlers = dict(handlers)

    def __getitem__(self, key: K) -> H:
        return self._handlers[key]()

    def __iter__(self) -> Iterator[K]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)

    def __contains__(self, key: object) -> bool:
        return key in self._handlers
