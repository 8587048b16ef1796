"""HTTP probes for the health gate and `status`: httpx errors become ProbeFailed here."""
from __future__ import annotations

import contextlib
from typing import Iterator

from otterfile.errors import ExecutionError
from otterfile.executors.base import HttpGet, Port, ProbeFailed

TIMEOUT = 2.0


def number(port: Port, host: str) -> int:
    """A release's port on a real host: a number (a plan's placeholder is no port to probe)."""
    if isinstance(port, str):
        raise ExecutionError(f"{host}: no port to probe: {port!r} is a plan's placeholder")
    return port


@contextlib.contextmanager
def getter(local_port: int) -> Iterator[HttpGet]:
    """`get(path)` against 127.0.0.1:`local_port` on this machine, one client throughout."""
    import httpx
    with httpx.Client(timeout=TIMEOUT) as client:
        def get(path: str) -> int:
            try:
                return client.get(f"http://127.0.0.1:{local_port}{path}").status_code
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                raise ProbeFailed(_why(error)) from None
        yield get


def _why(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if any(w in text.lower() for w in ("refused", "reset", "disconnect")):
        return "connection refused (nothing listening yet)"
    return text
