"""Executors run Commands on one host: local processes, SSH, or a recording."""
from __future__ import annotations

from ..hosts import Host, LocalHost, SSHHost
from .base import Executor, Result


def executor_for(host: Host, *, control_dir: str | None = None) -> Executor:
    """The executor that reaches `host`."""
    if isinstance(host, LocalHost):
        from .local import LocalExecutor
        return LocalExecutor(host)
    if isinstance(host, SSHHost):
        from .ssh import SSHExecutor
        return SSHExecutor(host, control_dir=control_dir)
    raise TypeError(f"no executor for {host!r}")


__all__ = ["Executor", "Result", "executor_for"]
