"""Secret values: a type that never prints or reaches a log (`secret_store` reads them)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from otterfile.errors import OtterfileError

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
