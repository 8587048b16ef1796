"""OpenSSH's multiplexing protocol (PROTOCOL.mux in OpenSSH's source), the client side of one
session: otter's own process asks a running ControlMaster for a session over its control
socket and hands it the session's stdin, stdout and stderr as file descriptors (SCM_RIGHTS),
instead of starting an `ssh` client per command (the session's pipes and its end: muxed.py).

A message is a uint32 length and that many bytes, which start with a uint32 type; strings are
a uint32 length and their bytes. A MuxError before the session opened means nothing ran: the
caller may run the command through an ssh client instead.
"""
from __future__ import annotations

import socket
import struct
import time

VERSION = 4
MUX_MSG_HELLO = 0x00000001
MUX_C_NEW_SESSION = 0x10000002
MUX_C_NEW_STDIO_FWD = 0x10000008
MUX_S_OK = 0x80000001
MUX_S_PERMISSION_DENIED = 0x80000002
MUX_S_FAILURE = 0x80000003
MUX_S_EXIT_MESSAGE = 0x80000004
MUX_S_SESSION_OPENED = 0x80000006
MUX_S_TTY_ALLOC_FAIL = 0x80000008
NO_ESCAPE = 0xFFFFFFFF  # the escape character "none" (ssh -e none)
MESSAGE_MAX = 256 * 1024  # the master's own bound on a message (CHANNEL_MUX_MAX_PACKET)
CONNECT_WAIT = 10.0  # seconds for the master to answer the hello and open the session


class MuxError(Exception):
    """The master could not be reached, spoke otherwise or refused the session."""


class PeerRefused(MuxError):
    """The server refused the connection a stdio forward asked for (nothing listens)."""


REFUSED_BY_PEER = "Session open refused by peer"  # the master's reason (OpenSSH's mux.c)


def u32(value: int) -> bytes:
    return struct.pack(">I", value)


def string(value: bytes) -> bytes:
    return u32(len(value)) + value


def framed(payload: bytes) -> bytes:
    """`payload` as one message on the control socket."""
    return u32(len(payload)) + payload


def hello() -> bytes:
    """The client's hello (no extensions)."""
    return framed(u32(MUX_MSG_HELLO) + u32(VERSION))


def new_session(request: int, command: str) -> bytes:
    """MUX_C_NEW_SESSION for `command`: no tty, no X11 or agent forwarding, not a subsystem,
    no escape character, no environment (a command's env is on its line or its stdin)."""
    fields = (u32(MUX_C_NEW_SESSION) + u32(request) + string(b"")
              + u32(0) + u32(0) + u32(0) + u32(0) + u32(NO_ESCAPE)
              + string(b"") + string(command.encode()))
    return framed(fields)


class Fields:
    """Reads the fields of one message's payload in order."""

    def __init__(self, payload: bytes) -> None:
        self.payload, self.at = payload, 0

    def u32(self) -> int:
        if self.at + 4 > len(self.payload):
            raise MuxError(f"a message of {len(self.payload)} bytes ended early")
        value: int = struct.unpack_from(">I", self.payload, self.at)[0]
        self.at += 4
        return value

    def string(self) -> bytes:
        size = self.u32()
        if self.at + size > len(self.payload):
            raise MuxError(f"a string of {size} bytes does not fit its message")
        value = self.payload[self.at:self.at + size]
        self.at += size
        return value


def receive(sock: socket.socket) -> Fields | None:
    """The next message on `sock`, None when the master closed it (between messages)."""
    head = _exactly(sock, 4, at_start=True)
    if head is None:
        return None
    size = struct.unpack(">I", head)[0]
    if not 4 <= size <= MESSAGE_MAX:
        raise MuxError(f"a message of {size} bytes")
    body = _exactly(sock, size, at_start=False)
    assert body is not None  # only a message's start may find the socket closed
    return Fields(body)


def _exactly(sock: socket.socket, size: int, at_start: bool) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            if at_start and not data:
                return None
            raise MuxError("the master closed the control socket within a message")
        data += chunk
    return data


def check_hello(message: Fields | None) -> None:
    """The master's hello: its type and protocol version (extensions are ignored)."""
    if message is None:
        raise MuxError("the master closed the control socket before its hello")
    kind, version = message.u32(), message.u32()
    if kind != MUX_MSG_HELLO or version != VERSION:
        raise MuxError(f"expected hello version {VERSION}, got type {kind:#x} "
                       f"version {version}")


def check_opened(message: Fields | None, request: int) -> int:
    """The master's answer to MUX_C_NEW_SESSION: the session's id, else MuxError."""
    if message is None:
        raise MuxError("the master closed the control socket instead of opening a session")
    kind, answered = message.u32(), message.u32()
    if answered != request:
        raise MuxError(f"an answer to request {answered}, not {request}")
    if kind == MUX_S_SESSION_OPENED:
        return message.u32()
    if kind in (MUX_S_FAILURE, MUX_S_PERMISSION_DENIED):
        reason = message.string().decode("utf-8", "replace")
        if reason == REFUSED_BY_PEER:
            raise PeerRefused(reason)
        raise MuxError(f"the master refused the session: {reason}")
    raise MuxError(f"unexpected answer {kind:#x} to a new session")


def exit_status(message: Fields, session: int) -> int | None:
    """The exit status a message after the session opened carries, None for other
    messages (a failed tty would be one: otter asks for none)."""
    kind = message.u32()
    if kind != MUX_S_EXIT_MESSAGE:
        return None
    if message.u32() != session:
        raise MuxError("an exit message for another session")
    return message.u32()


_requests = iter(range(1, 2**31))


def new_stdio_forward(request: int, host: str, port: int) -> bytes:
    """MUX_C_NEW_STDIO_FWD (what `ssh -W host:port` asks): the server connects to host:port
    and the channel carries that connection over the two descriptors sent next."""
    return framed(u32(MUX_C_NEW_STDIO_FWD) + u32(request) + string(b"")
                  + string(host.encode()) + u32(port))


def open_session(path: str, command: str, fds: tuple[int, int, int]) -> tuple[socket.socket, int]:
    """Ask the master at `path` for a session running `command` with `fds` as its stdin,
    stdout and stderr; the control socket (the session ends when it closes) and the
    session's id. MuxError (and the socket closed) when no session opened."""
    request = next(_requests)
    return _open(path, new_session(request, command), request, fds)


def open_stdio_forward(path: str, host: str, port: int,
                       fds: tuple[int, int]) -> socket.socket:
    """Ask the master at `path` for a connection from the server to `host`:`port` (as
    `ssh -W`), carried over `fds` (what it reads, where it writes); the control socket:
    closing it ends the connection. MuxError (and the socket closed) when none opened."""
    request = next(_requests)
    return _open(path, new_stdio_forward(request, host, port), request, fds)[0]


def _open(path: str, message: bytes, request: int,
          fds: tuple[int, ...]) -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_WAIT)
        sock.connect(path)
        # hello and the request in one write: the master reads exactly one message at a
        # time, so the descriptors that follow the request reach it where it expects them
        sock.sendall(hello() + message)
        for fd in fds:  # one descriptor per message with one byte, as ssh's mm_send_fd
            socket.send_fds(sock, [b"\0"], [fd])
        check_hello(receive(sock))
        session = check_opened(receive(sock), request)
        sock.settimeout(None)
        return sock, session
    except (OSError, MuxError) as error:
        sock.close()
        raise error if isinstance(error, MuxError) else MuxError(str(error)) from error


def wait_exit(sock: socket.socket, session: int, deadline: float | None) -> int | None:
    """The session's exit status once the master sends it; None when the master closed the
    control socket without one (the remote command died of a signal, the connection broke).
    TimeoutError past `deadline` (time.monotonic())."""
    while True:
        sock.settimeout(None if deadline is None else max(0.0, deadline - time.monotonic()))
        try:
            message = receive(sock)
        except socket.timeout:
            raise TimeoutError from None
        except (OSError, MuxError):
            return None
        if message is None:
            return None
        status = exit_status(message, session)
        if status is not None:
            return status
