"""What a stage does with a command's Result: `checked` runs one command and turns a
failure into an OtterError naming the host and what failed. A leaf of the run folder (it
imports no stage), so every stage module can use it without an import circle."""
from __future__ import annotations

from typing import TYPE_CHECKING

from otterfile.errors import OtterError

if TYPE_CHECKING:
    from otterfile.command import Command
    from otterfile.executors.base import Executor, Result


def checked(executor: Executor, command: Command, what: str) -> Result:
    """Run `command`; a failure raises an OtterError naming the host and `what`."""
    return failed(executor.run(command), executor.host.name, what)


def failed(result: Result, host: str, what: str) -> Result:
    """`result`; a failure raises the OtterError `checked` raises."""
    if not result.ok:
        raise OtterError(f"{host}: {what} failed (exit {result.exited}): "
                         f"{result.tail(8) or result.tail(8, 'stdout')}")
    return result
