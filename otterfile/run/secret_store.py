"""Where secret values come from: the environment, then `.otter/secrets` beside the
Otterfile (dotenv, values may be `$(command)`, run through the local executor)."""
from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from otterfile.command import Command
from otterfile.errors import OtterfileError
from otterfile.secrets import Secret

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
# an env file holds one NAME=value a line: these would end the value or the file's text
_UNSAFE = {"\n": "a newline", "\r": "a carriage return", "\0": "a NUL character"}


def _entries(text: str, file: str) -> dict[str, tuple[str, int]]:
    """Each name's value and the line it is set on."""
    out: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(text.split("\n"), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        match = _LINE.match(raw)
        if not match:
            raise OtterfileError("expected NAME=VALUE", file=file, line=number)
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[name] = (value, number)
    return out


class SecretStore:
    """Looks secrets up in the environment, then in a dotenv file beside the Otterfile.

    Errors about the file name it and its line; a value with a newline, carriage return or
    NUL is refused (it would break the env file it goes into); a file others may read is
    warned about once, on stderr.
    """

    def __init__(self, folder: Path | None, environ: dict[str, str] | None = None):
        self.environ = os.environ if environ is None else environ
        self.file = folder / ".otter" / "secrets" if folder else None
        self._file_values: dict[str, tuple[str, int]] | None = None

    def _values(self) -> dict[str, tuple[str, int]]:
        if self._file_values is None:
            self._file_values = {}
            if self.file and self.file.is_file():
                _warn_if_shared(self.file)
                self._file_values = _entries(_text(self.file), str(self.file))
        return self._file_values

    def lookup(self, name: str) -> str:
        if name in self.environ:
            return _checked(name, self.environ[name], None, None)
        values = self._values()
        if name not in values:
            where = f" or {self.file}" if self.file else ""
            raise OtterfileError(f"secret {name} is not set in the environment{where}")
        value, line = values[name]
        return _checked(name, self._expand(name, value, line), str(self.file), line)

    def _expand(self, name: str, value: str, line: int) -> str:
        match = re.fullmatch(r"\$\((.*)\)", value.strip(), re.S)
        if not match:
            return value
        folder = str(self.file.parent.parent) if self.file else None
        from otterfile.executors.local import LocalExecutor
        done = LocalExecutor().run(Command(("sh", "-c", match.group(1)), cwd=folder,
                                           description=f"read secret {name}"))
        if not done.ok:
            raise OtterfileError(f"secret {name}: its command exited {done.exited}",
                                 file=str(self.file), line=line)
        return done.stdout.rstrip("\n")

    def resolve(self, value: Secret) -> Secret:
        return Secret(value.name, self.lookup(value.name))


def _checked(name: str, value: str, file: str | None, line: int | None) -> str:
    """`value`, unless it holds a character an env file cannot carry (never shown)."""
    for char, what in _UNSAFE.items():
        if char in value:
            raise OtterfileError(f"secret {name} holds {what}, which an env file cannot carry",
                                 file=file, line=line)
    return value


def _text(file: Path) -> str:
    """The file as UTF-8, newlines as they are (a lone \\r is the value's, and refused)."""
    data = file.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise OtterfileError("not UTF-8 text", file=str(file),
                             line=data.count(b"\n", 0, error.start) + 1) from error


_WARNED: set[Path] = set()  # one warning per file a process, however many stores read it


def _warn_if_shared(file: Path) -> None:
    """Say on stderr when group or others may read or write the secrets file."""
    mode = file.stat().st_mode & 0o777
    if mode & 0o077 and file not in _WARNED:
        _WARNED.add(file)
        sys.stderr.write(f"warning: {file} is readable or writable by group or others (mode "
                         f"{mode:o}); run: chmod 600 {shlex.quote(str(file))}\n")
