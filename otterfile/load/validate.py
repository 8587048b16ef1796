"""Field checks that name the path of what is wrong."""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, NoReturn, Protocol, TypeVar, cast

from otterfile.errors import OtterfileError
from otterfile.secrets import Secret



class Named(Protocol):
    """A kind in a kind table: its `name` is the DSL constructor that makes its values."""

    @property
    def name(self) -> str: ...


K = TypeVar("K", bound=Named)  # a kind in a kind table


class FieldError(OtterfileError):
    """A field has a wrong value; `path` is filled in as it travels up."""


def fail(path: str, message: str) -> NoReturn:
    raise FieldError(message, path=path)


def got(value: Any) -> str:
    return f"got {value!r}"


def check_int(path: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or \
            (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        fail(path, f"expected an int {span}, {got(value)}")
    return value


def check_number(path: str, value: Any, low: float = 0, *, inclusive: bool = False) -> float:
    """A number above `low` (or at least `low`, inclusive), not a bool, NaN or infinity."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and \
        value == value and value not in (float("inf"), float("-inf"))
    if not number or (value < low if inclusive else value <= low):
        fail(path, f"expected a number {'of at least' if inclusive else 'above'} {low:g}, "
             f"{got(value)}")
    return float(value)


_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([KMGT]i?B|kB|B)")
_UNITS = {"B": 1, "kB": 1000, "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3, "TB": 1000 ** 4,
          "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4}


def check_size(path: str, value: Any) -> int:
    """A byte count of at least 1: an int, or a string like "2GiB", "512 MiB", "500MB"."""
    found = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    size = int(float(found.group(1)) * _UNITS[found.group(2)]) if found else value
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        fail(path, "expected a size: bytes as an int, or a string like '2GiB' or '500MB', "
             f"{got(value)}")
    return size


def check_port(path: str, value: Any) -> int:
    return check_int(path, value, 1, 65535)


def check_str(path: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        fail(path, f"expected a non-empty string, {got(value)}")
    return value


def check_words(path: str, value: Any) -> list[str]:
    """A shell-like string split into words as a user typed them; an error if it cannot be."""
    import shlex
    try:
        return shlex.split(value)
    except ValueError as error:
        fail(path, f"cannot split {value!r} into words: {error}")
        raise


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def check_name(path: str, value: Any, what: str = "name") -> str:
    """A name safe in paths, container and unit names and config files."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        fail(path, f"{what} {value!r}: use letters, digits, '_', '.', '-' (starting with a "
             "letter or digit, at most 63)")
    return value


def check_choice(path: str, value: Any, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        fail(path, f"expected one of {', '.join(map(repr, choices))}, {got(value)}")
    return cast(str, value)


def check_str_list(path: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        fail(path, f"expected a list of strings, {got(value)}")
    for index, item in enumerate(value):
        check_str(f"{path}/{index}", item)
    return tuple(value)


_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*\.?$")


def check_domain(path: str, value: Any) -> str:
    """A host name, lower-cased, without a final dot; an internationalised name becomes its
    punycode form (what DNS, certificates and proxies use): 'bücher.de' -> 'xn--bcher-kva.de'."""
    name = value
    if isinstance(value, str) and not value.isascii():
        try:
            name = ".".join(label if label == "*" else label.encode("idna").decode("ascii")
                            for label in value.rstrip(".").split("."))
        except UnicodeError:
            name = None
    if not isinstance(name, str) or len(name) > 253 or not _DOMAIN.match(name.lower()):
        fail(path, f"invalid domain name {value!r}: expected a host name like 'myapp.com'")
    return name.lower().rstrip(".")


_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_env(path: str, value: Any) -> dict[str, str | Secret]:
    if not isinstance(value, dict):
        fail(path, f"expected a dict of NAME: value, {got(value)}")
    out: dict[str, str | Secret] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_KEY.match(key):
            fail(path, f"invalid environment variable name {key!r}")
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, (str, Secret)):
            fail(f"{path}/{key}", f"expected a string or secret(...), {got(item)}")
        if isinstance(item, str) and any(c in item for c in "\n\r\0"):
            fail(f"{path}/{key}", "a value may not contain a newline, carriage return or NUL")
        out[key] = item
    return out


def check_bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        fail(path, f"expected True or False, {got(value)}")
    return value


def check_parallel(path: str, value: Any) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\d{1,3}%", value) and \
            1 <= int(value[:-1]) <= 100:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    fail(path, f"expected a count of at least 1 or a percentage like '25%', {got(value)}")
    return None


def kind_of(table: Mapping[type, K], value: Any) -> K:
    """The kind module a value's type is registered for in `table`; otherwise a FieldError
    names every kind the table accepts ("build(...), fetch(...) or registry(...)")."""
    kind = table.get(type(value))
    if kind is None:
        names = [f"{k.name}(...)" for k in table.values()]
        accepted = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        fail("", f"expected {accepted}, {got(value)}")
    return kind


def prefixed(error: OtterfileError, prefix: str) -> OtterfileError:
    """The same error with `prefix/` put before its path."""
    path = f"{prefix}/{error.path}" if error.path else prefix
    return type(error)(error.message, file=error.file, line=error.line, path=path)
