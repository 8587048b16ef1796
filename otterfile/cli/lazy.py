"""The `otter` group's commands, each imported when it is asked for: `otter rollback`
loads otterfile.cli.deploy and not the modules of the other verbs (nor what they import).
`otter --help` asks for all of them, so its listing is click's own as before."""
from __future__ import annotations

import importlib
from typing import Iterator, MutableMapping

import click


class LazyCommands(MutableMapping[str, click.Command]):
    """click.Group.commands whose entries are (module, attribute) until first looked up.
    Iterating gives the names without importing anything (click sorts them for help and
    for suggestions after a typo)."""

    def __init__(self, table: dict[str, tuple[str, str]]):
        self._table = dict(table)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, attribute = self._table[name]  # KeyError: no such command
            command = vars(importlib.import_module(module))[attribute]
            if not isinstance(command, click.Command) or command.name != name:
                raise TypeError(f"{module}.{attribute} is not the command {name!r}")
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._table.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._table.pop(name, None)
        self._loaded.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._table or name in self._loaded

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._table, *self._loaded]))

    def __len__(self) -> int:
        return len(set(self._table) | set(self._loaded))
