"""The runtime kinds as an Otterfile declares them: each kind's checks of its value
(`docker(...)`, `podman(...)`, `systemd(...)`) and what evaluation, planning and no-op
detection read of it (port, env, settings); `DECLARED` is the table. Evaluating an
Otterfile imports only this; a kind's handler (container.py, systemd.py: the commands
that start, watch and stop releases) loads when the run first asks for it (`handler_at`, runtimes.KINDS).
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Protocol

from otterfile.load import model
from otterfile.load.validate import (check_env, check_int, check_port, check_size, check_str,
                                     check_str_list, check_words, fail, got)

_PROGRAM = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_.+@/-]*")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


class RuntimeKind(Protocol):
    """A runtime kind as evaluation sees it; its handler (`handler_at`) is the whole kind
    (base.Runtime), its module imported on first use."""

    name: str
    forms: tuple[str, ...]  # the artifact forms it runs: "image", "file"

    def check(self, value: Any) -> Any:
        """The Otterfile value, checked field by field (FieldError with a path)."""

    def unsupported(self, value: Any) -> str | None:
        """Why this version cannot deploy `value` yet, or None."""

    def accepts(self, value: Any) -> bool:
        """Whether it can start a release from `value`, the Otterfile value of a runtime
        kind: its own, or one with the same fields (docker and podman). A rollback to a
        release that another runtime started asks this."""

    def warnings(self, value: Any) -> list[str]:
        """What `plan` and `run` should warn about (a service run as root), if anything."""

    def publishes_privately(self) -> bool:
        """Whether `start` publishes the release's port on a private address too when
        StartSpec.private names one (Deployment(balance="fleet") needs it)."""

    def port(self, value: Any) -> int:
        """The port the service listens on inside its instance."""

    def env(self, value: Any) -> dict[str, Any]:
        """The environment the user gave (values may be secrets)."""

    def settings(self, value: Any) -> list[Any]:
        """What besides artifact and env makes two releases the same (for no-op detection)."""

    # where the kind's handler (base.Runtime, which builds its commands) is: "MODULE:NAME",
    # imported when the run first asks (runtimes.KINDS); this module never imports it
    handler_at: str


class Listening:
    """What every runtime value gives alike: the port its service listens on, its env."""

    def port(self, value: Any) -> int:
        return int(value.port)

    def env(self, value: Any) -> dict[str, Any]:
        return dict(value.env)


class ContainerKind(Listening):
    """docker(...) and podman(...): a container engine on the target."""

    # a file: a `docker save` archive (it ships as its image)
    forms: tuple[str, ...] = ("image", "file")

    def __init__(self, engine: str):
        self.name = self.engine = engine
        self.handler_at = f"otterfile.runtimes.{engine}:RUNTIME"  # docker.py, podman.py

    def check(self, value: Any) -> Any:
        check_str("image", value.image, optional=True)
        check_port("port", value.port)
        check_env("env", value.env)
        check_str_list("volumes", value.volumes)
        for index, option in enumerate(check_str_list("options", value.options)):
            check_words(f"options/{index}", option)
        if not isinstance(value.init, bool):
            fail("init", f"expected True or False, {got(value.init)}")
        if isinstance(value.command, str):
            check_words("command", value.command)
        elif value.command is not None:
            check_str_list("command", value.command)
        return value

    def unsupported(self, value: Any) -> str | None:
        return None

    def publishes_privately(self) -> bool:
        return True  # a second `-p PRIVATE:PORT:PORT` (scripts/container/start.sh)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, model.Docker)  # podman(...) is a docker(...) by its fields

    def warnings(self, value: Any) -> list[str]:
        return []

    def settings(self, value: Any) -> list[Any]:
        return [self.engine, value.image, value.port, list(value.volumes),
                list(value.options), value.command, value.init]



class SystemdKind(Listening):
    """systemd(...): the artifact unpacked into a release folder, run as a generated unit."""

    name = "systemd"
    forms: tuple[str, ...] = ("file",)

    def check(self, value: Any) -> Any:
        check_str("command", value.command)
        if any(ord(c) < 32 or c == "\x7f" for c in value.command):
            fail("command", "a control character (a newline?) cannot be in a command")
        words = check_words("command", value.command)
        if not words:
            fail("command", "expected a program to run, got an empty command")
        program = words[0]
        if not _PROGRAM.fullmatch(program) or ".." in program.split("/") or \
                program.endswith("/") or "{" in program:
            fail("command", f"the program {program!r} should be a path or a name of letters, "
                 "digits and ._+@/- (no '..')")
        for word in words:
            for placeholder in _PLACEHOLDER.findall(word):
                if placeholder != "port":
                    fail("command", f"unknown placeholder {{{placeholder}}}: only {{port}} "
                         "is filled in")
        check_port("port", value.port)
        env = check_env("env", value.env)
        if "PORT" in env:
            fail("env/PORT", "otter sets PORT to the port it picks for each release")
        if check_str("user", value.user, optional=True) is not None and \
                not _USER.fullmatch(value.user):
            fail("user", f"{value.user!r} is not a valid user name (lower case letters, "
                 "digits, '_', '-', at most 32)")
        if value.max_files is not None:
            check_int("max_files", value.max_files, 1)
        if value.max_unpacked is None:
            return value
        return replace(value, max_unpacked=check_size("max_unpacked", value.max_unpacked))

    def unsupported(self, value: Any) -> str | None:
        return None

    def publishes_privately(self) -> bool:
        return False  # the service binds where its command says

    def accepts(self, value: Any) -> bool:
        return isinstance(value, model.Systemd)

    def warnings(self, value: Any) -> list[str]:
        if value.user == "root":
            return ['user="root" runs the service as root: whatever the artifact holds gets '
                    "the whole host; leave user= out for a system user of its own"]
        return []

    def settings(self, value: Any) -> list[Any]:
        return ["systemd", value.command, value.port, value.user]

    handler_at = "otterfile.runtimes.systemd:RUNTIME"


DOCKER, PODMAN, SYSTEMD = ContainerKind("docker"), ContainerKind("podman"), SystemdKind()
# the Otterfile value's type -> its kind (runtimes.KINDS: -> its handler)
DECLARED: dict[type, RuntimeKind] = {model.Docker: DOCKER, model.Podman: PODMAN,
                                     model.Systemd: SYSTEMD}
