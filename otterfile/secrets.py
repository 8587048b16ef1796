"""Secret values: a type that never prints, resolved from env or .otter/secrets."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import OtterfileError

MASK = "***"


@dataclass(frozen=True)
class Secret:
    """A named secret; its value is read at run time and shows as *** everywhere."""

    name: str
    _value: str | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"secret({self.name!r})"

    def __str__(self) -> str:
        return MASK

    @property
    def resolved(self) -> bool:
        return self._value is not None

    def reveal(self) -> str:
        if self._value is None:
            raise OtterfileError(f"secret {self.name} was not resolved before use")
        return self._value


def secret(name: str) -> Secret:
    """Refer to a secret by name; read from the environment or .otter/secrets when run."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise OtterfileError(f"secret name must be an identifier, got {name!r}")
    return Secret(name)


_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_dotenv(text: str, file: str = ".otter/secrets") -> dict[str, str]:
    """Parse dotenv lines; values may be quoted or $(command) to be run when needed."""
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        match = _LINE.match(raw)
        if not match:
            raise OtterfileError("expected NAME=VALUE", file=file, line=number)
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[name] = value
    return out


class SecretStore:
    """Looks secrets up in the environment, then in a dotenv file beside the Otterfile."""

    def __init__(self, folder: Path | None, environ: dict[str, str] | None = None):
        self.environ = os.environ if environ is None else environ
        self.file = folder / ".otter" / "secrets" if folder else None
        self._file_values: dict[str, str] | None = None

    def _values(self) -> dict[str, str]:
        if self._file_values is None:
            self._file_values = {}
            if self.file and self.file.is_file():
                self._file_values = parse_dotenv(self.file.read_text(), str(self.file))
        return self._file_values

    def lookup(self, name: str) -> str:
        if name in self.environ:
            return self.environ[name]
        values = self._values()
        if name not in values:
            where = f" or {self.file}" if self.file else ""
            raise OtterfileError(f"secret {name} is not set in the environment{where}")
        return self._expand(name, values[name])

    def _expand(self, name: str, value: str) -> str:
        match = re.fullmatch(r"\$\((.*)\)", value.strip(), re.S)
        if not match:
            return value
        from .command import Command
        from .executors.local import LocalExecutor
        folder = str(self.file.parent.parent) if self.file else None
        done = LocalExecutor().run(Command(("sh", "-c", match.group(1)), cwd=folder,
                                           description=f"read secret {name}"))
        if not done.ok:
            raise OtterfileError(f"secret {name}: its command exited {done.exited}",
                                 file=str(self.file))
        return done.stdout.rstrip("\n")

    def resolve(self, value: Secret) -> Secret:
        return Secret(value.name, self.lookup(value.name))
