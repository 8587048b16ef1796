"""Executors for `otter plan` and `--dry-run`: record every command, run none, and answer
as a fresh target would (no releases, lock free, artifact missing, release healthy)."""
from __future__ import annotations

from typing import Callable

from otterfile.command import Command
from otterfile.commands.lock import LOCKED_MARK
from otterfile.hosts import Host
from otterfile.run.state import PORT_PLACEHOLDER
from otterfile.executors.base import OnOutput, OnProgress, Readable, Result
from otterfile.executors.recording import RecordingExecutor

# description prefix -> stdout of a fresh target's answer (everything else: exit 0, silent)
ANSWERS = (
    ("lock ", f"status=acquired\n{LOCKED_MARK}\n"),  # and what follows it reads nothing
    ("unlock ", "status=released\n"),
    ("look for ", "missing\n"),
    ("start otter-", f"port={PORT_PLACEHOLDER}\n"),
    ("inspect otter-", "running 0 0 false\n"),
    ("resolve ", "0" * 40 + "\n"),
    ("download ", "sha256 " + "0" * 64 + "\n"),  # an unpinned fetch: its digest
    ("keep ", "0" * 64 + "\n"),  # a built file kept under its digest
    ("pull ", "pulled\ndigest sha256:" + "0" * 64 + "\n"),  # a registry tag's digest
    ("push ", "pushed sha256:" + "0" * 64 + "\n"),  # build(push=...)
)


def _answer(prefix: str) -> Callable[[Command], bool]:
    return lambda command: command.description.startswith(prefix)


class PlannedExecutor(RecordingExecutor):
    """A recording executor with a fresh target's answers; `on_command` sees each command."""

    def __init__(self, host: Host, on_command: Callable[[Host, Command], None] | None = None):
        super().__init__(host, {_answer(p): out for p, out in ANSWERS})
        self.on_command = on_command

    def run(self, command: Command, *, stdin: Readable | None = None,
            on_output: OnOutput | None = None, on_progress: OnProgress | None = None,
            timeout: float | None = None) -> Result:
        if self.on_command:
            self.on_command(self.host, command)
        if command.description.endswith(" load"):  # from now on the target has the image
            self.responses = {_answer("look for "): "present\n", **self.responses}
        return super().run(command, stdin=stdin, on_output=on_output, on_progress=on_progress,
                           timeout=timeout)
