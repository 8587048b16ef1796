"""Where kept SSH masters live and how their sockets are named (see master.py), and the
settings of the SSH executor read from the environment (OTTER_SSH_PERSIST, OTTER_SSH_MUX).

A master kept after otter ends sits in a private per-user folder; its socket's name hashes
everything that shapes the connection, so a master reached with other keys, known_hosts,
user, port or options is never reused.
"""
from __future__ import annotations

import contextlib
import os
import stat
from typing import Callable, Iterator

from otterfile.errors import ExecutionError, OtterError
from otterfile.hosts import SSHHost

MUX_ENV = "OTTER_SSH_MUX"  # 1 (default): commands asked of kept masters by otter itself
PERSIST_ENV = "OTTER_SSH_PERSIST"  # seconds a master is kept after otter ends; 0: not kept
DEFAULT_PERSIST = 60
SOCKET_MAX = 103  # a socket path's bytes (104 on macOS, 108 on Linux, with the NUL)
SOCKET_NAME = 1 + 16 + 17  # "/", connection_key, and the suffix ssh adds while binding


def persist_seconds() -> int:
    """How long masters are kept after otter ends: $OTTER_SSH_PERSIST, default 60; 0 off."""
    value = os.environ.get(PERSIST_ENV, "").strip()
    if not value:
        return DEFAULT_PERSIST
    if not value.isdigit():
        raise OtterError(f"{PERSIST_ENV}={value!r}: expected a number of seconds "
                         f"(0 turns keeping SSH connections off)")
    return int(value)


def mux_enabled() -> bool:
    """Whether commands go to kept masters from otter's own process: $OTTER_SSH_MUX, 1 (the
    default) or 0 (an ssh client per command)."""
    value = os.environ.get(MUX_ENV, "").strip()
    if value not in ("", "0", "1"):
        raise OtterError(f"{MUX_ENV}={value!r}: expected 1 (on, the default) or 0 (an ssh "
                         f"client per command)")
    return value != "0"


def control_folder() -> str:
    """The private folder (0700, this user's) for masters that outlive otter: under
    $XDG_RUNTIME_DIR, else ~/.cache/otter/ssh, else /tmp/otter-ssh-UID; short enough for
    a socket path."""
    candidates: list[str] = []
    for folder in _candidates():
        candidates.append(folder)
        if len(folder.encode()) + SOCKET_NAME > SOCKET_MAX:
            continue
        with contextlib.suppress(OSError):
            os.makedirs(folder, mode=0o700, exist_ok=True)
            info = os.lstat(folder)  # lstat: a symlink planted in /tmp is not ours
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
                if stat.S_IMODE(info.st_mode) != 0o700:
                    os.chmod(folder, 0o700)
                return folder
    raise ExecutionError(f"no private folder for SSH control sockets among "
                         f"{', '.join(candidates)}; set {PERSIST_ENV}=0")


def _candidates() -> Iterator[str]:
    """Where kept masters may live, best first (tempfile only asked for when needed)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        yield os.path.join(runtime, "otter-ssh")
    yield os.path.join(os.path.expanduser("~"), ".cache", "otter", "ssh")
    import tempfile
    yield os.path.join(tempfile.gettempdir(), f"otter-ssh-{os.getuid()}")


def _digest() -> Callable[[bytes], str]:
    """A 64-bit hex digest (BLAKE2b): CPython's own _blake2 where it has it, which starts
    without hashlib's OpenSSL (about 2 ms before a cold otter's first connection)."""
    try:
        from _blake2 import blake2b
    except ImportError:  # a Python built without its own hashes
        from hashlib import blake2b
    return lambda data: blake2b(data, digest_size=8).hexdigest()


def connection_key(host: SSHHost, options: list[str]) -> str:
    """A hash of everything that shapes `host`'s connection: the `options` otter sets, the
    identity file, known_hosts and ~/.ssh/config as they are on disk. Not the host's name."""
    def stamp(path: str | None) -> tuple[int, ...]:
        with contextlib.suppress(OSError):
            if path is not None:
                info = os.stat(os.path.expanduser(path))
                return info.st_ino, info.st_size, info.st_mtime_ns
        return ()
    parts = (host.hostname, host.user, host.port, options,
             stamp(host.identity_file), stamp(host.known_hosts), stamp("~/.ssh/config"))
    return _digest()(repr(parts).encode())
