"""Builders for files on a target: atomic writes from stdin, env files, removal."""
from __future__ import annotations

import re

from otterfile import scripts
from otterfile.command import Command, SecretText, cmd, script
from otterfile.errors import OtterfileError
from otterfile.secrets import MASK, Secret

WRITE_SCRIPT = scripts.load("write-file.sh")

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def write_file(path: str, content: str | bytes | None = None, mode: int = 0o600,
               description: str = "") -> Command:
    """Write `content` (or the stdin the executor streams) to `path` atomically with `mode`.

    A `SecretText` content stays masked in `display()`; it never reaches argv.
    """
    return script(WRITE_SCRIPT, args=[path, f"{mode:o}"], stdin=content,
                  description=description or f"write {path}")


def remove_file(path: str, description: str = "") -> Command:
    """Remove `path` if it exists."""
    return cmd("rm", "-f", "--", path, description=description or f"remove {path}")


def render_env_file(env: dict[str, str | Secret | int | float]) -> SecretText | str:
    """The text of a `--env-file` (KEY=VALUE lines, taken literally by docker and podman).

    Returns SecretText when a value is a secret, so it is masked wherever it is shown.
    Keys must be identifiers; values must not hold a newline (the format has no quoting).
    """
    lines, shown, secret = list[str](), list[str](), False
    for key, value in env.items():
        where = f"env/{key}"
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise OtterfileError(f"environment name {key!r} is not an identifier", path=where)
        if isinstance(value, Secret):
            secret, text = True, value.reveal()
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = str(value)
        else:
            raise OtterfileError(f"expected a string or secret(...), got {value!r}", path=where)
        if any(c in text for c in "\n\r\0"):
            what = "the secret's value" if isinstance(value, Secret) else "the value"
            raise OtterfileError(f"{what} holds a newline, which an env file cannot carry",
                                 path=where)
        lines.append(f"{key}={text}\n")
        shown.append(f"{key}={MASK if isinstance(value, Secret) else text}\n")
    if not secret:
        return "".join(lines)
    out = SecretText("".join(lines))
    out.masked = "".join(shown)
    return out
