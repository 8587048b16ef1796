"""HTTP probes for the health gate and `status`: one plain HTTP/1.1 GET per probe over a
socket of this machine's loopback, its status code read, failures as ProbeFailed. No HTTP
client library is imported: the probe is on the path of a rollback inside the window,
where that import cost more than the rest of the probe."""
from __future__ import annotations

import contextlib
import socket
from typing import Iterator

from otterfile.errors import ExecutionError
from otterfile.executors.base import HttpGet, Port, ProbeFailed

TIMEOUT = 2.0  # seconds for each of connect, send and every read
REFUSED = "connection refused (nothing listening yet)"
HEAD_LIMIT = 8192  # bytes read for the status line
DRAIN_LIMIT = 65536  # bytes of the answer read after it, so the socket closes cleanly
DRAIN_SECONDS = 0.25


def number(port: Port, host: str) -> int:
    """A release's port on a real host: a number (a plan's placeholder is no port to probe)."""
    if isinstance(port, str):
        raise ExecutionError(f"{host}: no port to probe: {port!r} is a plan's placeholder")
    return port


@contextlib.contextmanager
def getter(local_port: int) -> Iterator[HttpGet]:
    """`get(path)` against 127.0.0.1:`local_port` on this machine: the status code of a
    GET (`path` as the Otterfile's checks let it be: it starts with / and has no spaces)."""
    def get(path: str) -> int:
        return status_of(local_port, path)
    yield get


def status_of(port: int, path: str) -> int:
    """The status code of `GET path` at 127.0.0.1:`port`, or ProbeFailed saying why not."""
    if not path.startswith("/") or any(c.isspace() or ord(c) < 32 or ord(c) == 127
                                       for c in path):
        raise ProbeFailed(f"not a URL path: {path!r}")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(_request(path, port))
            line = _status_line(sock)
            _drain(sock)
    except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
        raise ProbeFailed(REFUSED) from None
    except socket.timeout:
        raise ProbeFailed(f"timed out after {TIMEOUT:g}s") from None
    except OSError as error:
        raise ProbeFailed(error.strerror or str(error) or type(error).__name__) from None
    return parse_status(line)


def status_through_master(control_path: str, port: int, path: str) -> int:
    """The status code of `GET path` at the host's 127.0.0.1:`port`, the connection asked of
    the SSH master at `control_path` from this process (as `ssh -W`, mux.py): no process
    started, no local port, nothing to cancel. MuxError when the master opened none (the
    caller forwards a port instead); ProbeFailed as status_of."""
    from otterfile.executors.mux import PeerRefused, open_stdio_forward
    if not path.startswith("/") or any(c.isspace() or ord(c) < 32 or ord(c) == 127
                                       for c in path):
        raise ProbeFailed(f"not a URL path: {path!r}")
    to_server, ours_out = socket.socketpair()  # what the master reads: the request
    ours_in, from_server = socket.socketpair()  # where it writes: the answer
    try:
        control = open_stdio_forward(control_path, "127.0.0.1", port,
                                     (to_server.fileno(), from_server.fileno()))
    except BaseException as error:
        for sock in (to_server, ours_out, ours_in, from_server):
            sock.close()
        if isinstance(error, PeerRefused):
            raise ProbeFailed(REFUSED) from None
        raise
    to_server.close()  # the master holds its own copies now
    from_server.close()
    try:
        ours_out.settimeout(TIMEOUT)
        ours_in.settimeout(TIMEOUT)
        ours_out.sendall(_request(path, port))
        line = _status_line(ours_in)  # b"": the server closed at once, nothing listens
        _drain(ours_in)
    except (ConnectionResetError, BrokenPipeError):
        raise ProbeFailed(REFUSED) from None
    except socket.timeout:
        raise ProbeFailed(f"timed out after {TIMEOUT:g}s") from None
    except OSError as error:
        raise ProbeFailed(error.strerror or str(error) or type(error).__name__) from None
    finally:
        for sock in (ours_out, ours_in, control):  # the control socket: the channel ends
            sock.close()
    return parse_status(line)


def _request(path: str, port: int) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: otter\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n").encode()


def parse_status(line: bytes) -> int:
    """The code of a status line (`HTTP/1.1 200 OK`); none (the peer closed: through an SSH
    forward, nothing listens there) or another line raises ProbeFailed."""
    if not line:
        raise ProbeFailed(REFUSED)
    words = line.split(None, 2)
    if len(words) < 2 or not words[0].startswith(b"HTTP/") or not words[1].isdigit() or \
            len(words[1]) != 3:
        shown = line[:60].decode("latin-1").rstrip("\r\n")
        raise ProbeFailed(f"not an HTTP answer: {shown!r}")
    return int(words[1])


def _status_line(sock: socket.socket) -> bytes:
    """The answer's first line (b"": the peer closed without a word)."""
    data = b""
    while b"\n" not in data and len(data) < HEAD_LIMIT:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0] if data else b""


def _drain(sock: socket.socket) -> None:
    """Read what the server still sends (up to DRAIN_LIMIT): closing with unread data would
    reset its connection."""
    read = 0
    with contextlib.suppress(OSError):  # a server that keeps it open is left after a moment
        sock.settimeout(DRAIN_SECONDS)
        while read < DRAIN_LIMIT:
            chunk = sock.recv(16384)
            if not chunk:
                return
            read += len(chunk)
