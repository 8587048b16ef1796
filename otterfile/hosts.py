"""Hosts a target is made of: this machine, or a server reached over SSH, and the `local()`
and `ssh()` an Otterfile builds them with (each field checked).

A host's `name` is what output shows (people's names for it); its `address` is how otter
reaches it. host_names.py gives every host of a project its one name.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from otterfile.errors import OtterfileError
from otterfile.peers import peer_problem, split_peer

HOST_KEY_CHECKING = ("yes", "accept-new")


# the engine's name for where otter runs: no host may take it
CONTROLLER = "controller"


@dataclass(frozen=True)
class Host:
    """Base of all hosts; `name` is unique in a run and prefixes output."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def address(self) -> str:
        """How otter reaches the host; one address is one host."""
        raise NotImplementedError

    @property
    def given_name(self) -> bool:
        """Whether a person named the host (`name=`), not otter."""
        raise NotImplementedError

    def named(self, name: str) -> "Host":
        """This host shown as `name`."""
        raise NotImplementedError

    def peer(self) -> tuple[str, int | None] | None:
        """How the other targets reach this host over SSH to relay an artifact to it:
        (address or "" for the one its sshd was reached at, port or None: the same);
        None: they cannot (not a server)."""
        return None

    def known_host(self) -> tuple[str, str | None] | None:
        """How otter checks the host's key: (its name in a known_hosts file, `[host]:port`
        or `host`; the known_hosts file it uses, None: ~/.ssh/known_hosts); None: it has
        no key (this machine)."""
        return None

    def login(self) -> str | None:
        """The user otter logs in as on the host (None: not given, the local user's name)."""
        return None

    def private_address(self) -> str | None:
        """The IP address the other targets' proxies reach this host's releases at
        (Deployment(balance="fleet")): `ssh(private=...)`, else the address otter reaches it
        at when that is an IP address other than loopback; None: there is none."""
        return None

    def introduced(self, known_as: str = "") -> str:
        """The address, preceded by the name when it says more (and is not `known_as`)."""
        if self.name in (known_as, self.address) or self.address.endswith("@" + self.name):
            return self.address
        return f"{self.name} ({self.address})"


@dataclass(frozen=True)
class LocalHost(Host):
    label: str = "local"
    given: bool = False  # local(name=...) rather than the default

    @property
    def name(self) -> str:
        return self.label

    @property
    def address(self) -> str:
        return "local"

    @property
    def given_name(self) -> bool:
        return self.given

    def named(self, name: str) -> "LocalHost":
        return replace(self, label=name)


@dataclass(frozen=True)
class SSHHost(Host):
    hostname: str
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    known_hosts: str | None = None
    host_key_checking: str = "yes"
    label: str | None = None  # ssh(name=...), a one-host target's name, or None: the address
    # ssh(peer="host:port"): how the other targets reach it (relay=True); None: the address
    # and port its sshd sees the controller's connection arrive at
    peer_address: str | None = None
    kex: str | None = None  # ssh(kex=...): OpenSSH's KexAlgorithms; None: the client's own
    private: str | None = None  # ssh(private="10.0.0.5"): see Host.private_address

    @property
    def name(self) -> str:
        """The label, else the address without `user@` and without the default port."""
        return self.label or self._server()

    @property
    def address(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self._server()}"

    @property
    def given_name(self) -> bool:
        return self.label is not None

    def named(self, name: str) -> "SSHHost":
        return replace(self, label=name)

    def login(self) -> str | None:
        return self.user

    def peer(self) -> tuple[str, int | None]:
        if not self.peer_address:
            return "", None
        host, port = split_peer(self.peer_address)
        return host, int(port) if port else None

    def private_address(self) -> str | None:
        if self.private:
            return self.private
        try:
            ip = ipaddress.ip_address(self.hostname)
        except ValueError:  # a name: which of its addresses the others reach is unknown
            return None
        return None if ip.is_loopback or ip.is_unspecified else self.hostname

    def known_host(self) -> tuple[str, str | None]:
        name = f"[{self.hostname}]:{self.port}" if self.port else self.hostname
        return name, self.known_hosts

    def _server(self) -> str:
        if not self.port:
            return self.hostname
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{host}:{self.port}"


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def check_host_name(name: object) -> str:
    """A host name as people give it: letters, digits and `_.-`, at most 63."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise OtterfileError(f"expected a name of letters, digits, '_', '.', '-', got {name!r}",
                             path="name")
    if name == CONTROLLER:
        raise OtterfileError(f"{CONTROLLER!r} names where otter runs; choose another name",
                             path="name")
    return name


def local(name: str | None = None) -> LocalHost:
    """This machine: commands run as local processes."""
    if name is None:
        return LocalHost()
    return LocalHost(check_host_name(name), given=True)


# user and host never start with "-" (ssh would read them as options)
_ADDRESS = re.compile(r"^(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*)@)?"
                      r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*)"
                      r"(?::(?P<port>[^:]*))?$")
DEFAULT_PORT = 22


def ssh(address: str, identity_file: str | None = None, known_hosts: str | None = None,
        host_key_checking: str = "yes", name: str | None = None,
        peer: str | None = None, kex: str | None = None, *,
        private: str | None = None) -> SSHHost:
    """A server reached with the system's OpenSSH client: "user@host:port"; `name` is how
    output shows it (default: a one-host target's name, else the address); `peer="host:port"`
    is how the other targets reach its sshd when they relay an artifact to it
    (Deployment(relay=True); default: the address and port its sshd saw the controller
    reach it at); `kex="curve25519-sha256"` the key exchange algorithms to offer
    (OpenSSH's KexAlgorithms; default: the client's own). `private="10.0.0.5"`: the IP address
    the other targets' proxies reach its releases at (Deployment(balance="fleet")); its release
    ports listen there."""
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
    _check_fields(host_key_checking, identity_file, known_hosts)
    if name is not None:
        check_host_name(name)
    if peer is not None:
        peer = _check_peer(peer, address)
    if kex is not None:
        _check_kex(kex)
    if private is not None:
        private = _check_private(private, address)
    # one server spelled `H`, `h` or `h:22` is one host: lower-case name, no default port
    number = int(port) if port else None
    return SSHHost(match.group("host").strip("[]").lower(), match.group("user"),
                   None if number == DEFAULT_PORT else number, identity_file, known_hosts,
                   host_key_checking, name, peer, kex=kex, private=private)


def _check_fields(host_key_checking: str, identity_file: str | None,
                  known_hosts: str | None) -> None:
    """ssh()'s `host_key_checking` and paths."""
    if host_key_checking not in HOST_KEY_CHECKING:
        raise OtterfileError(f"expected one of {', '.join(HOST_KEY_CHECKING)}, got "
                             f"{host_key_checking!r} (checks are never turned off)",
                             path="host_key_checking")
    for field, value in (("identity_file", identity_file), ("known_hosts", known_hosts)):
        if value is not None and (not isinstance(value, str) or not value.strip()
                                  or any(c in value for c in '"\n\r\0')):
            raise OtterfileError(f"expected a path (no quote or newline), got {value!r}",
                                 path=field)


# OpenSSH's KexAlgorithms: names joined by commas, optionally after +, - or ^
_KEX = re.compile(r"[+^-]?[A-Za-z0-9][A-Za-z0-9@._-]*(,[A-Za-z0-9][A-Za-z0-9@._-]*)*")


def _check_kex(kex: object) -> None:
    """`kex=`: OpenSSH's KexAlgorithms value, such as "curve25519-sha256"."""
    if not isinstance(kex, str) or not _KEX.fullmatch(kex):
        raise OtterfileError(f"expected key exchange algorithms as OpenSSH's KexAlgorithms "
                             f"takes them, such as 'curve25519-sha256' (several joined by "
                             f"commas; `ssh -Q kex` lists them), got {kex!r}", path="kex")


def _check_peer(peer: object, address: str) -> str:
    """`peer=`: "host" or "host:port" (no user: the relay logs in as the controller does)."""
    if not isinstance(peer, str):
        why = "not a string"
    elif "@" in peer:
        why = "a user is not given here (the relay logs in as the controller does)"
    else:
        why = peer_problem(*split_peer(peer))
    if why:
        raise OtterfileError(f"ssh({address!r}) peer={peer!r}: {why}; expected how the other "
                             "targets reach this host, 'host' or 'host:port'", path="peer")
    return str(peer)


def _check_private(private: object, address: str) -> str:
    """`private=`: an IP address (v4 or v6), not loopback nor unspecified, as written."""
    try:
        ip = ipaddress.ip_address(private.strip("[]") if isinstance(private, str) else "")
    except ValueError:
        ip = None
    if ip is None or ip.is_loopback or ip.is_unspecified:
        raise OtterfileError(f"ssh({address!r}) private={private!r}: expected the IP address "
                             "the other targets reach this host at, such as '10.0.0.5' (not "
                             "a name, not loopback)", path="private")
    return str(ip)
