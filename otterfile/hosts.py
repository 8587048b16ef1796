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
    return LocalHost(name)


_ADDRESS = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?"
                      r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
                      r"(?::(?P<port>[^:]*))?$")


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
        if value is not None and not isinstance(value, str):
            raise OtterfileError(f"expected a path, got {value!r}", path=field)
    return SSHHost(match.group("host").strip("[]"), match.group("user"),
                   int(port) if port else None, identity_file, known_hosts, host_key_checking)
