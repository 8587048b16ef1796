"""Reverse proxies: each kind declared in kinds.py (its checks: all that evaluating an
Otterfile needs) and handled by one module behind `base.Proxy`; `KINDS` (by the Otterfile
value's type) and `NAMED` (by the name a release records) are the tables of handlers, each
module imported the first time it is looked up."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otterfile.load.registry import Handlers
from otterfile.load.validate import kind_of
from otterfile.proxies.kinds import DECLARED, ProxyKind

if TYPE_CHECKING:
    from otterfile.proxies.base import Proxy

KINDS: Handlers[type, Proxy] = Handlers(DECLARED)
NAMED: Handlers[str, Proxy] = Handlers(  # as state records
    {declared.name: declared for declared in DECLARED.values()})


def declared_proxy(value: Any) -> ProxyKind:
    """The proxy kind of an Otterfile value as evaluation checks it (no handler imported);
    a FieldError names what is accepted."""
    return kind_of(DECLARED, value)


def proxy_for(value: Any) -> Proxy:
    """The proxy kind of an Otterfile value, its handler; a FieldError names what is
    accepted."""
    return KINDS.of(declared_proxy(value))


def proxy_named(name: str) -> Proxy:
    """The proxy kind a release record names (parse_state checked it is one of NAMED)."""
    return NAMED[name]


__all__ = ["DECLARED", "KINDS", "NAMED", "declared_proxy", "proxy_for", "proxy_named"]
