"""Where a relay reaches a target's sshd (Deployment(relay=True)): `ssh(peer=...)` or the
address and port the target's sshd reported. Both end up on the relay host's ssh command
line and in a known_hosts file, so only a plain host name or IP address and a port pass."""
from __future__ import annotations

import ipaddress
import re


def split_peer(text: str) -> tuple[str, str | None]:
    """"host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address: (host, port or None)."""
    if text.startswith("["):
        host, close, rest = text[1:].partition("]")
        if close and (not rest or rest.startswith(":")):
            return host, rest[1:] if rest else None
        return text, None  # malformed: peer_problem says so
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, None


_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?")
# what ssh, its config and known_hosts read as a pattern, a list, a negation or a token
_PATTERN = "*?!%,[]"


def peer_problem(host: object, port: object = None) -> str:
    """Why `host` and `port` cannot be where the relay reaches a host's sshd ("" when they
    can): a host name or IP address, nothing ssh reads as an option (a leading '-'), no
    whitespace, no pattern character; a port 1-65535 (None: not given)."""
    if port is not None and not (isinstance(port, (int, str)) and not isinstance(port, bool)
                                 and str(port).isascii() and str(port).isdigit()
                                 and 1 <= int(port) <= 65535):
        return f"port {port!r} is not a number 1-65535"
    if not isinstance(host, str) or not host:
        return "no host name or address"
    if host.startswith("-"):
        return f"{host!r} starts with '-' (ssh would read it as an option)"
    if any(c.isspace() for c in host):
        return f"{host!r} contains whitespace"
    pattern = [c for c in _PATTERN if c in host]
    if pattern:
        return f"{host!r} contains {pattern[0]!r} (ssh would read it as a pattern)"
    try:
        ipaddress.ip_address(host)
        return ""
    except ValueError:
        pass
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return f"{host!r} is not a host name or IP address"
    return ""
