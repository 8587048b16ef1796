"""The kind tables: each kind's declaration (what checks an Otterfile's value, a small
module) and its handler (what the engine runs: commands, acquire, site files), imported the
first time the engine asks for it.

Evaluating an Otterfile asks only declarations; `Handlers` is a table whose entries import
their module on first lookup, so `otter exec` never loads the kinds' handlers and `otter
rollback` loads only those it uses.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any, Iterator, Mapping, Protocol, TypeVar, cast

K = TypeVar("K")
H = TypeVar("H")


class Declared(Protocol):
    """A kind's declaration as the tables see it: where its handler is, "MODULE:NAME". The
    declaration names it and never imports it (the handler's module imports the declaration:
    a handler is its declaration's subclass)."""

    @property
    def handler_at(self) -> str: ...


def imported(at: str) -> Any:
    """What "MODULE:NAME" names, its module imported now if not yet."""
    module, _, name = at.partition(":")
    return vars(import_module(module))[name]


class Handlers(Mapping[K, H]):
    """A read-only table key -> handler, from key -> declaration: each handler's module is
    imported the first time it is looked up; iterating over the keys imports nothing."""

    def __init__(self, declared: Mapping[K, Declared]):
        self._at = {key: kind.handler_at for key, kind in declared.items()}

    def __getitem__(self, key: K) -> H:
        return cast(H, imported(self._at[key]))

    def of(self, kind: Declared) -> H:
        """The handler of declaration `kind` (one of this table's, or a handler itself)."""
        return cast(H, imported(kind.handler_at))

    def __iter__(self) -> Iterator[K]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)

    def __contains__(self, key: object) -> bool:
        return key in self._at
