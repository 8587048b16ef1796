"""`exec`, `status`, `logs` and `unlock` work on every host at once, however many: the
fan-out has a thread per host, and only connection starts are capped (executors/starts.py)."""
import threading

import pytest

from otterfile import executors
from otterfile.cli.hosts import on_each
from otterfile.hosts import ssh

pytestmark = pytest.mark.unit

HOSTS = 60  # above the old pool of 16 and the old start cap of 8


class Idle:
    def close(self) -> None:
        pass


def test_every_host_is_worked_on_at_once(monkeypatch):
    monkeypatch.setattr(executors, "executor_for", lambda host: Idle())
    pairs = [(None, ssh(f"root@web{n}")) for n in range(HOSTS)]
    together = threading.Barrier(HOSTS, timeout=10)  # broken unless all wait at once

    def work(_deployment, host, _executor):
        together.wait()
        return host.name
    assert on_each(pairs, work) == [f"web{n}" for n in range(HOSTS)]
