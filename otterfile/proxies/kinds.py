"""The proxy kinds as an Otterfile declares them: each kind's checks of its value
(`caddy(...)`, `nginx(...)`) and of the domains and files it is given; `DECLARED` is the
table. Evaluating an Otterfile imports only this; a kind's handler (caddy.py, nginx.py: its
install, site file and switch) loads when the run first asks for it (`handler_at`, proxies.KINDS).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from otterfile.load.model import Caddy, Nginx
from otterfile.load.validate import check_choice, fail, got
from otterfile.proxies.nginx_tls import check_tls, read_tls_files

SWITCHES = ("file", "reload")  # caddy(switch=...), nginx(switch=...)
TLS_MODES = ("auto", "internal", "off")  # caddy(tls=...)


class ProxyKind(Protocol):
    """A proxy kind as evaluation sees it; its handler (`handler_at`) is the whole kind (base.Proxy), its
    module imported on the first call."""

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

    # where the kind's handler (base.Proxy: install, render, switch) is: "MODULE:NAME",
    # imported when the run first asks (proxies.KINDS); this module never imports it
    handler_at: str


class CaddyKind:
    """caddy(tls=..., hsts=..., switch=...)."""

    name = "caddy"

    def check(self, value: Any) -> Any:
        check_choice("tls", value.tls, TLS_MODES)
        check_choice("switch", value.switch, SWITCHES)
        if not isinstance(value.hsts, bool):
            fail("hsts", f"expected True or False, {got(value.hsts)}")
        return value

    def unsupported(self, value: Any) -> str | None:
        return None

    def check_domains(self, value: Any, domains: tuple[str, ...]) -> None:
        for index, domain in enumerate(domains):
            if domain.startswith("*.") and value.tls == "auto":
                fail(f"domains/{index}", f"{domain!r}: a wildcard certificate needs the ACME "
                     "DNS challenge, which otter does not set up; use caddy(tls=\"internal\") "
                     "or tls=\"off\", or list the names")

    def check_files(self, value: Any, folder: Path) -> None:
        return None  # Caddy gets its certificates itself

    handler_at = "otterfile.proxies.caddy:PROXY"


class NginxKind:
    """nginx(tls=..., hsts=..., switch=...)."""

    name = "nginx"

    def check(self, value: Any) -> Any:
        check_tls(value.tls)
        check_choice("switch", value.switch, SWITCHES)
        if not isinstance(value.hsts, bool):
            fail("hsts", f"expected True or False, {got(value.hsts)}")
        if value.tls is not None:
            return replace(value, tls=tuple(p.strip() for p in value.tls))
        return value

    def unsupported(self, value: Any) -> str | None:
        return None

    def check_domains(self, value: Any, domains: tuple[str, ...]) -> None:
        if value.tls is not None and not domains:
            fail("tls", "nginx(tls=...) needs domains: a site without domains is plain http")

    def check_files(self, value: Any, folder: Path) -> None:
        read_tls_files(value.tls, folder)

    handler_at = "otterfile.proxies.nginx:PROXY"


CADDY, NGINX = CaddyKind(), NginxKind()
# the Otterfile value's type -> its kind (proxies.KINDS: -> its handler)
DECLARED: dict[type, ProxyKind] = {Caddy: CADDY, Nginx: NGINX}
