"""Commands as data: frozen argv values that builders return and executors run."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from typing import Any

from otterfile.secrets import MASK, Secret

Arg = str | Secret


@dataclass(frozen=True)
class Command:
    """One process to run on a host: argv, working folder, environment, stdin.

    A secret never stands in argv (it would show in `ps`): it goes in `env` or `stdin`.
    A remote executor sends secret env values on stdin too (executors/preamble.py).
    """

    argv: tuple[Arg, ...]
    cwd: str | None = None
    env: tuple[tuple[str, Arg], ...] = ()
    stdin: bytes | str | Secret | None = field(default=None, repr=False)
    description: str = ""
    ok_codes: tuple[int, ...] = (0,)
    shell: bool = False  # argv is ("sh", "-c", script) built by us; still quoted once
    # argv is ("sh", "-c", line) with a person's line: an SSH executor hands the line to the
    # host's login shell itself, as `ssh host LINE` does (`otter exec`; no sh started)
    login_shell: bool = False
    file: str | None = None  # the file on the host that stdin becomes (`plan` shows it)
    # other files the command writes, (path, text or None), for `plan` to show
    writes: tuple[tuple[str, str | None], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "argv", tuple(self.argv))
        env = self.env.items() if isinstance(self.env, dict) else self.env
        object.__setattr__(self, "env", tuple(env))
        if any(isinstance(a, Secret) for a in self.argv):
            raise ValueError(f"{self.description or self.display()}: a secret cannot stand "
                             "in argv (ps shows it); pass it in env= or stdin=")

    @property
    def secret(self) -> bool:
        values = list(self.argv) + [v for _, v in self.env] + [self.stdin]
        return any(isinstance(v, Secret) for v in values) or _stdin_secret(self.stdin)

    def display(self) -> str:
        """The command as a person reads it, with every secret masked."""
        env = " ".join(f"{k}={_show(v)}" for k, v in self.env)
        text = " ".join(_show(a) for a in self.argv)
        if self.cwd:
            text = f"cd {shlex.quote(self.cwd)} && {text}"
        if env:
            text = f"env {env} {text}"
        if self.stdin is not None:
            text += " <<< " + ("(secret)" if self.secret else f"({_size(self.stdin)} bytes)")
        return text

    def argv_values(self) -> list[str]:
        """The real argv, secrets revealed; only executors call this."""
        return [_reveal(a) for a in self.argv]

    def env_values(self) -> dict[str, str]:
        return {k: _reveal(v) for k, v in self.env}

    def stdin_bytes(self) -> bytes | None:
        if self.stdin is None:
            return None
        value = _reveal(self.stdin) if isinstance(self.stdin, Secret) else self.stdin
        return value.encode() if isinstance(value, str) else value

    def secret_env(self) -> tuple[tuple[str, Secret], ...]:
        """The env entries whose values are secrets."""
        return tuple((k, v) for k, v in self.env if isinstance(v, Secret))

    def shell_line(self, *, without_secret_env: bool = False) -> str:
        """One shell line, quoted once: what an SSH executor sends. A secret env value
        never goes into it: such a command raises, unless `without_secret_env` leaves
        those entries out (the executor then sends them on stdin: executors/preamble.py)."""
        secret = self.secret_env()
        if secret and not without_secret_env:
            raise ValueError(f"{self.description or self.display()}: secret env "
                             f"{', '.join(k for k, _ in secret)} cannot go into a shell "
                             "line; run the command itself (its executor sends it on stdin)")
        line = shlex.join(self.argv_values())
        env = {k: _reveal(v) for k, v in self.env if not isinstance(v, Secret)}
        if env:
            line = "env " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + " " + line
        if self.cwd:
            line = f"cd {shlex.quote(self.cwd)} && {line}"
        return line


class SecretText(str):
    """Text that carries secret values (an env file); masked in display. `masked` is the
    same text with each secret value as ***."""

    masked = MASK


def _stdin_secret(value: object) -> bool:
    return isinstance(value, SecretText)


def _show(value: Arg) -> str:
    return MASK if isinstance(value, Secret) else shlex.quote(value)


def _reveal(value: Arg) -> str:
    return value.reveal() if isinstance(value, Secret) else value


def _size(value: bytes | str | Secret) -> int:
    # display() asks only for a stdin that is no secret
    return len(value) if isinstance(value, bytes) else len(str(value).encode())


def cmd(*argv: Arg, **kwargs: Any) -> Command:
    """Shorthand builder: cmd("docker", "ps", description="list containers")."""
    return Command(argv=argv, **kwargs)


def script(text: str, description: str = "", **kwargs: Any) -> Command:
    """A POSIX sh script of ours, run as `sh -c SCRIPT`; user values go in as $1.. args."""
    args = tuple(kwargs.pop("args", ()))
    return Command(argv=("sh", "-c", text, "sh", *args), description=description,
                   shell=True, **kwargs)


def host_line(line: str, description: str = "") -> Command:
    """A person's command line: `sh -c LINE` here, the login shell's own on an SSH host."""
    return Command(argv=("sh", "-c", line), description=description, login_shell=True)


def sequence(*commands: Command, description: str = "") -> Command:
    """Several commands in one round trip, stopping at the first that fails. Only the last
    may read stdin (the others get /dev/null); each line is quoted by `shell_line`."""
    if any(c.stdin is not None for c in commands[:-1]):
        raise ValueError("only the last command of a sequence may have stdin")
    if any(c.ok_codes != (0,) for c in commands[:-1]):
        raise ValueError("only the last command of a sequence may accept non-zero exits")
    last = commands[-1]
    if len(commands) == 1:  # no `sh -c` around it: one process and one quoting less
        return replace(last, description=description or last.description or last.display())
    lines = [f"{c.shell_line()} </dev/null" for c in commands[:-1]]
    text = " && ".join(lines + [last.shell_line()])
    return script(text, description or "; ".join(c.description or c.display()
                                                   for c in commands),
                  stdin=last.stdin, ok_codes=last.ok_codes,
                  writes=tuple(w for c in commands for w in c.writes))
