"""Reverse proxies, one module each behind `base.Proxy`; `KINDS` is the one table."""
from __future__ import annotations

from typing import Any

from otterfile.load.model import Caddy, Nginx
from otterfile.load.validate import kind_of
from otterfile.proxies import caddy, nginx
from otterfile.proxies.base import Proxy, Site

KINDS: dict[type, Proxy] = {Caddy: caddy.PROXY, Nginx: nginx.PROXY}
NAMED: dict[str, Proxy] = {kind.name: kind for kind in KINDS.values()}  # as state records


def proxy_for(value: Any) -> Proxy:
    """The proxy kind of an Otterfile value; a FieldError names what is accepted."""
    return kind_of(KINDS, value)


def proxy_named(name: str) -> Proxy:
    """The proxy kind a release record names (parse_state checked it is one of NAMED)."""
    return NAMED[name]


__all__ = ["KINDS", "NAMED", "Proxy", "Site", "proxy_for", "proxy_named"]
