"""Checks of the values an Otterfile's functions return, field by field."""
from __future__ import annotations

import re
from typing import Any

from .hosts import Host
from .model import (Build, Caddy, Docker, Fetch, HealthCheck, Nginx, Registry, Systemd)
from .validate import (check_choice, check_env, check_int, check_number, check_port,
                       check_str, check_str_list, fail, got)


def check_source(value: Any) -> Build | Fetch | Registry:
    if isinstance(value, Build):
        return _check_build(value)
    if isinstance(value, Fetch):
        check_str("url", value.url)
        if not re.match(r"^(https?|file)://", value.url):
            fail("url", f"expected an http(s):// or file:// URL, {got(value.url)}")
        if value.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(value.sha256)):
            fail("sha256", f"expected 64 hex digits, {got(value.sha256)}")
        check_choice("via", value.via, ("controller", "target"))
        return value
    if isinstance(value, Registry):
        check_str("ref", value.ref)
        return value
    fail("", f"expected build(...), fetch(...) or registry(...), {got(value)}")
    raise AssertionError


def _check_build(value: Build) -> Build:
    if (value.repo is None) == (value.path is None):
        fail("repo", "give exactly one of repo=URL or path=DIR")
    check_str("repo" if value.repo is not None else "path", value.repo or value.path)
    check_str("ref", value.ref, optional=True)
    check_str("command", value.command)
    for field in ("image", "output", "push"):
        check_str(field, getattr(value, field), optional=True)
    return value


def check_runtime(value: Any) -> Docker | Systemd:
    if isinstance(value, Docker):
        check_str("image", value.image, optional=True)
        check_port("port", value.port)
        check_env("env", value.env)
        check_str_list("volumes", value.volumes)
        check_str_list("options", value.options)
        if value.command is not None and not isinstance(value.command, str):
            check_str_list("command", value.command)
        return value
    if isinstance(value, Systemd):
        check_str("command", value.command)
        check_port("port", value.port)
        check_env("env", value.env)
        check_str("user", value.user, optional=True)
        return value
    fail("", f"expected docker(...), podman(...) or systemd(...), {got(value)}")
    raise AssertionError


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
    if not isinstance(value.path, str) or not value.path.startswith("/"):
        fail("path", f"expected a path starting with '/', {got(value.path)}")
    check_number("interval_seconds", value.interval_seconds)
    check_number("timeout_seconds", value.timeout_seconds)
    check_int("expect_status", value.expect_status, 100, 599)
    return value


def check_proxy(value: Any) -> Caddy | Nginx:
    if isinstance(value, Caddy):
        check_choice("tls", value.tls, ("auto", "internal", "off"))
        return value
    if isinstance(value, Nginx):
        return value
    fail("", f"expected caddy(...) or nginx(), {got(value)}")
    raise AssertionError
