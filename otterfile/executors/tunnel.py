"""A tunnel held open until otter is done with it (`otter tunnel`): the executor's forward
plus one idle session beside it. The session keeps the SSH master up while nothing crosses
the tunnel (a master outlives only its sessions, not its forwards, by ControlPersist), and
its end says that the connection went away."""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Iterator

from otterfile.command import Command
from otterfile.executors.base import Executor, Session

# ends when its input does: when otter closes the session, is killed, or the connection drops
HOLD = Command(("cat",), description="holding the tunnel's connection open")
CLOSE_WAIT = 5.0  # seconds the held session gets to end after otter closes its input


@dataclass(frozen=True)
class Tunnel:
    """An open tunnel: the local port, and `lost`, set when its connection ended."""

    local_port: int
    lost: threading.Event
    session: Session

    def why(self) -> str:
        """How the connection ended (once `lost` is set): ssh's last words or an exit."""
        return self.session.failure()


@contextlib.contextmanager
def hold(executor: Executor, remote_port: int, local_port: int = 0) -> Iterator[Tunnel]:
    """127.0.0.1:`local_port` (a free port when 0) forwarded to 127.0.0.1:`remote_port` on
    the executor's host until the context ends; then the forward is cancelled."""
    with executor.forward(remote_port, local_port) as port:
        session = executor.open_session(HOLD)
        try:
            lost = threading.Event()

            def watch() -> None:
                session.first_line(threading.TIMEOUT_MAX)  # "" when it ends: it prints nothing
                lost.set()
            threading.Thread(target=watch, name="tunnel-watch", daemon=True).start()
            yield Tunnel(port, lost, session)
        finally:
            session.close(CLOSE_WAIT)
