"""The Proxy interface: what the deploy flow needs of a reverse proxy on a target.

A proxy kind is one module with one object implementing this; `proxies.KINDS` maps the
Otterfile value's type (`caddy(...)`, `nginx(...)`) to it. Every method only builds
Commands or text; nothing here runs a process.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..command import Command

# Exit codes every proxy's switch script uses, so the flow reads them the same way.
EXIT_MISSING, EXIT_INVALID, EXIT_RELOAD = 3, 4, 5


@dataclass(frozen=True)
class Site:
    """What a deployment asks of the proxy on one target."""

    deployment: str
    domains: tuple[str, ...]
    upstream_port: int | str  # the live release's port on 127.0.0.1 (or a plan placeholder)
    listen_port: int | None  # with no domains: the port to listen on, all interfaces


class Proxy(Protocol):
    """A reverse proxy kind (Caddy, nginx)."""

    name: str  # "caddy"

    def check(self, value: Any) -> Any:
        """The Otterfile value, checked field by field (FieldError with a path)."""

    def unsupported(self, value: Any) -> str | None:
        """Why this version cannot deploy `value` yet, or None."""

    def check_domains(self, value: Any, domains: tuple[str, ...]) -> None:
        """FieldError (path "domains/N") for a domain this proxy, so configured, cannot
        serve (a wildcard without a way to get its certificate)."""

    def check_files(self, value: Any, folder: Path) -> None:
        """FieldError for files the proxy ships from the controller (paths relative to
        `folder`, the Otterfile's) that are missing or malformed."""

    def shipped_digest(self, value: Any, folder: Path) -> str | None:
        """A digest of the files the proxy ships from the controller (a certificate and
        key), so that changing them makes a new release; None when it ships none."""

    def site_path(self, deployment: str) -> str:
        """The file on the target that otter owns for `deployment`."""

    def render(self, value: Any, site: Site) -> str:
        """The site file's text."""

    def switch(self, value: Any, site: Site, content: str, folder: Path) -> Command:
        """One round trip: install `content` as the site (with any files it needs, read from
        `folder`), validate the whole config, reload gracefully (or start the proxy);
        restore the previous files on any failure.
        Exit EXIT_MISSING: the proxy is not installed; EXIT_INVALID: rejected config;
        EXIT_RELOAD: reload failed."""

    def served_port(self, site_text: str) -> int | None:
        """The upstream port a site file (as `render` wrote it) forwards to."""

    def remove(self, deployment: str) -> Command:
        """Remove the deployment's site and reload when the proxy runs."""

    def serving_besides(self, deployment: str) -> Command:
        """Read-only: what the proxy serves on the target besides the deployment's site and
        the distribution's placeholder site, one line each (nothing: only that site).
        Whether it may hand ports 80/443 over to another proxy kind depends on it."""

    def validate(self) -> Command:
        """Read-only: the proxy's whole config as it is on the target, checked (exit non-zero
        and why on stderr when it would not load). A handover asks it before it stops the
        old proxy, so a new proxy that cannot start never costs the old one its traffic."""

    def ports(self, value: Any, site: Site) -> tuple[int, ...]:
        """The ports the proxy listens on for the site (80, 443 with TLS, or the no-domain
        listen port): what a handover waits for the old proxy to free."""

    def missing_message(self, host: str) -> str:
        """What to tell a user when `switch` exited EXIT_MISSING on `host`."""
