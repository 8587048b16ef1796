"""Hosts a target is made of: this machine, or a server reached over SSH."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import OtterfileError

HOST_KEY_CHECKING = ("yes", "accept-new")


@dataclass(frozen=True)
class Host:
    """Base of all hosts; `name` is unique in a run and prefixes output."""

    @property
    def name(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class LocalHost(Host):
    label: str = "local"

    @property
    def name(self) -> str:
        return self.label


@dataclass(frozen=True)
class SSHHost(Host):
    hostname: str
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    known_hosts: str | None = None
    host_key_checking: str = "yes"

    @property
    def name(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{self.hostname}{port}"


def local(name: str = "local") -> LocalHost:
    """This machine: commands run as local processes."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", name):
        raise OtterfileError(f"expected a name of letters, digits, '_', '.', '-', got {name!r}",
                             path="name")
    return LocalHost(name)


# user and host never start with "-" (ssh would read them as options)
_ADDRESS = re.compile(r"^(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*)@)?"
                      r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*)"
                      r"(?::(?P<port>[^:]*))?$")
DEFAULT_PORT = 22


def ssh(address: str, identity_file: str | None = None, known_hosts: str | None = None,
        host_key_checking: str = "yes") -> SSHHost:
    """A server reached with the system's OpenSSH client: "user@host:port"."""
    if not isinstance(address, str):
        raise OtterfileError(f"expected an address 'user@host:port', got {address!r}",
                             path="address")
    match = _ADDRESS.match(address.strip())
    if not match:
        raise OtterfileError(f"malformed ssh address {address!r}: expected 'user@host:port'",
                             path="address")
    port = match.group("port")
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise OtterfileError(f"malformed ssh address {address!r}: port must be 1 to 65535",
                             path="address")
    if host_key_checking not in HOST_KEY_CHECKING:
        raise OtterfileError(f"expected one of {', '.join(HOST_KEY_CHECKING)}, got "
                             f"{host_key_checking!r} (checks are never turned off)",
                             path="host_key_checking")
    for field, value in (("identity_file", identity_file), ("known_hosts", known_hosts)):
        if value is not None and (not isinstance(value, str) or not value.strip()
                                  or any(c in value for c in '"\n\r\0')):
            raise OtterfileError(f"expected a path (no quote or newline), got {value!r}",
                                 path=field)
    # one server spelled `H`, `h` or `h:22` is one host: lower-case name, no default port
    number = int(port) if port else None
    return SSHHost(match.group("host").strip("[]").lower(), match.group("user"),
                   None if number == DEFAULT_PORT else number, identity_file, known_hosts,
                   host_key_checking)


def spelled(name: str) -> str:
    """A host as a user typed it on the command line, named as otter names it
    (`root@H:22` is `root@h`); a target name or anything else is left as it is."""
    try:
        return ssh(name).name
    except OtterfileError:
        return name
