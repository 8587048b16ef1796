"""A remote command's secret env values travel on its stdin, never on a command line.

ssh carries the command line in its own argv on the controller, and sshd hands it to the
remote shell's argv: `ps` shows both. So the executor sends each secret env value as one
line on stdin before the command's own input, and the line starts by reading them into the
environment: `IFS= read -r` in a POSIX shell reads a pipe byte by byte up to the newline, so
the command's own input that follows stays untouched. Nothing else changes: one round trip.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Iterable

from otterfile.command import Command
from otterfile.errors import ExecutionError

VARIABLE = "otter_secret"  # the shell variable each value is read into, then exported
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Preamble:
    """What reads a command's secret env on the host (`reads`, shell text put before its
    line) and what it reads (`data`, sent on stdin first); both empty without secrets."""

    reads: str = ""
    data: bytes = b""

    def line(self, line: str) -> str:
        """`line` preceded by the reads: it runs only once every value is exported."""
        return f"{self.reads}{line}" if self.reads else line

    def before(self, data: bytes | Iterable[bytes] | None) -> bytes | Iterable[bytes] | None:
        """The command's input with the values first (None stays None: a held-open input
        sends them itself, local.HeldOpen(first=...))."""
        if not self.data or data is None:
            return data
        if isinstance(data, bytes):
            return self.data + data
        return itertools.chain([self.data], data)


def preamble(command: Command, host: str) -> Preamble:
    """The Preamble of `command`'s secret env values for `host` (named in errors)."""
    secret = command.secret_env()
    if not secret:
        return Preamble()
    reads, lines = [], []
    for name, value in secret:
        text = value.reveal()
        if not _NAME.fullmatch(name):
            raise ExecutionError(f"{host}: {command.description or 'a command'}: env name "
                                 f"{name!r} is not an identifier")
        if any(c in text for c in "\n\r\0"):  # one line each; never shown
            raise ExecutionError(f"{host}: secret {value.name} (env {name}) holds a line "
                                 "break or NUL, which otter cannot send on stdin")
        reads.append(f'IFS= read -r {VARIABLE} && export {name}="${VARIABLE}" && ')
        lines.append(text + "\n")
    return Preamble("".join(reads) + f"unset {VARIABLE} && ", "".join(lines).encode())
