"""Executors run Commands on one host: local processes, SSH, or a recording."""
from __future__ import annotations

from typing import Callable

from otterfile.hosts import Host, LocalHost, SSHHost
from otterfile.executors.base import Executor, Result


def _local(host: Host, control_dir: str | None) -> Executor:
    from otterfile.executors.local import LocalExecutor
    return LocalExecutor(host)


def _ssh(host: Host, control_dir: str | None) -> Executor:
    from otterfile.executors.control import persist_seconds
    from otterfile.executors.ssh import SSHExecutor
    assert isinstance(host, SSHHost)  # CONNECTORS maps SSHHost, and only it, here
    persist = persist_seconds()  # kept masters live in the user's folder, not a run's
    return SSHExecutor(host, control_dir=None if persist else control_dir, persist=persist)


CONNECTORS = {LocalHost: _local, SSHHost: _ssh}
_trace: list[Callable[[str, str], None]] = []  # the show(host, text) of trace_commands, if on


def trace_commands(show: Callable[[str, str], None] | None) -> None:
    """From now on, executors call `show(host name, command)` before each command
    (`otter --debug`); the command is shown with its secrets as ***. None: off again."""
    _trace[:] = [show] if show else []


def executor_for(host: Host, *, control_dir: str | None = None) -> Executor:
    """The executor that reaches `host`."""
    connect = CONNECTORS.get(type(host))
    if connect is None:
        raise TypeError(f"no executor for {host!r}")
    executor = connect(host, control_dir)
    if _trace:
        from otterfile.executors.traced import TracedExecutor
        return TracedExecutor(executor, _trace[0])
    return executor


__all__ = ["CONNECTORS", "Executor", "Result", "executor_for", "trace_commands"]
