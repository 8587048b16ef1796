"""Checks of the values an Otterfile's functions return, field by field; each kind's own
fields are checked by its declaration (artifacts/, runtimes/, proxies/ kinds.py), which
imports no handler."""
from __future__ import annotations

from typing import Any

from otterfile.hosts import Host
from otterfile.load.model import HealthCheck
from otterfile.load.validate import check_int, check_number, fail, got


def check_source(value: Any) -> Any:
    from otterfile.artifacts import declared_source
    return declared_source(value).check(value)


def check_runtime(value: Any) -> Any:
    from otterfile.runtimes import declared_runtime
    return declared_runtime(value).check(value)


def check_hosts(value: Any) -> tuple[Host, ...]:
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        fail("", "expected at least one host")
    for index, item in enumerate(items):
        if not isinstance(item, Host):
            where = str(index) if isinstance(value, (list, tuple)) else ""
            fail(where, f"expected local() or ssh('user@host:port'), {got(item)}")
    return tuple(items)


def check_health(value: Any) -> HealthCheck | None:
    if value is None:
        return None
    if isinstance(value, dict):
        known = set(HealthCheck.__dataclass_fields__)
        unknown = sorted(set(value) - known)
        if unknown:
            fail(unknown[0], f"unknown health check field; known: {', '.join(sorted(known))}")
        value = HealthCheck(**value)
    if not isinstance(value, HealthCheck):
        fail("", f"expected HealthCheck(...) or a dict, {got(value)}")
    if not isinstance(value.path, str) or not value.path.startswith("/") or \
            any(ord(c) < 33 or ord(c) == 127 for c in value.path):
        fail("path", f"expected a URL path starting with '/' without spaces or control "
             f"characters, {got(value.path)}")
    check_number("interval_seconds", value.interval_seconds)
    check_number("timeout_seconds", value.timeout_seconds)
    check_int("expect_status", value.expect_status, 100, 599)
    check_number("min_ready_seconds", value.min_ready_seconds, 0, inclusive=True)
    return value


def check_proxy(value: Any) -> Any:
    from otterfile.proxies import declared_proxy
    return declared_proxy(value).check(value)
