"""One error base for everything otter reports to a user."""
from __future__ import annotations


class OtterError(Exception):
    """An error a user can act on; the CLI prints it without a traceback."""

    exit_code = 1


class OtterfileError(OtterError):
    """The Otterfile is wrong: names the file and line, or the field path."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str | None = None):
        self.message, self.file, self.line, self.path = message, file, line, path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        field = f"{self.path}: " if self.path else ""
        return f"{where}{field}{self.message}"


class Interrupted(OtterfileError):
    """Ctrl-C while the Otterfile was read: names the file and the line it had reached."""

    exit_code = 130


class UsageError(OtterError):
    """The command line is wrong."""

    exit_code = 2


class ExecutionError(OtterError):
    """A command on a host failed in a way the runner cannot recover from."""

    exit_code = 1
