"""systemd(...): the artifact unpacked into a release folder, run as a generated unit.

This version checks and plans it; deploying it comes with file artifacts.
"""
from __future__ import annotations

from typing import Any

from ..validate import check_env, check_port, check_str


class SystemdRuntime:
    name = "systemd"
    forms = ("file",)

    def check(self, value: Any) -> Any:
        check_str("command", value.command)
        check_port("port", value.port)
        check_env("env", value.env)
        check_str("user", value.user, optional=True)
        return value

    def unsupported(self, value: Any) -> str | None:
        return "the systemd runtime cannot be deployed by this version of otter yet"

    def port(self, value: Any) -> int:
        return value.port

    def env(self, value: Any) -> dict:
        return dict(value.env)

    def settings(self, value: Any) -> list:
        return ["systemd", value.command, value.port, value.user]

    def instance_name(self, deployment: str, release: str) -> str:
        return f"otter-{deployment}@{release}.service"


RUNTIME = SystemdRuntime()
