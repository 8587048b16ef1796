"""Run Commands on a server through the system OpenSSH client, one multiplexed master per host;
once it runs, otter asks it for each command's session itself (muxed.py), not by an ssh client.

The user's ~/.ssh/config and agent apply (no -F); host keys are always checked. A master may
outlive otter (`persist` seconds idle) for the next command to reuse (master.py: the master;
control.py: where its socket lives and what its name hashes).
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, BinaryIO, Iterator

from otterfile.command import Command
from otterfile.errors import ExecutionError
from otterfile.hosts import SSHHost
from otterfile.executors.base import HttpGet, OnOutput, OnProgress, Port, Readable, Result
from otterfile.executors.control import mux_enabled
from otterfile.executors.first import run_first
from otterfile.executors.master import Master
from otterfile.executors.openssh import ConnectionFailed, watched
from otterfile.executors.pipes import Data, HeldOpen, Input
from otterfile.executors.preamble import preamble
from otterfile.executors.process import Processes, run_process
from otterfile.executors.starts import SSH_FAILED

if TYPE_CHECKING:  # imported where used: a cold first command needs none of them (its ssh
    # becomes the master, first.py), so `otter exec` reaches its hosts without them
    from otterfile.executors.muxed import MuxSessions
    from otterfile.executors.streams import Session


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port` (connections ending there do not count)."""
    import socket
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ssh's own listener
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _line(command: Command) -> str:
    """What the host's login shell is given: a person's line itself (Command.login_shell:
    no `sh` started for it), else the command quoted once."""
    if command.login_shell and not command.env and not command.cwd and len(command.argv) == 3:
        return command.argv_values()[2]
    return command.shell_line(without_secret_env=True)


class SSHExecutor:
    """Runs Commands on an SSH host; all of them share one ControlMaster connection.

    `persist` > 0: the master lives in the private control_folder() (or `control_dir`) and
    is kept that many idle seconds after close(), for the next otter to reuse; 0: it lives
    in `control_dir` (default a temporary folder) and close() ends it."""

    def __init__(self, host: SSHHost, control_dir: str | None = None, persist: int = 0):
        self.host, self.persist = host, persist
        self.master = Master(host, control_dir, persist)
        self.control_path = self.master.path
        self._processes = Processes()
        self.mux = mux_enabled()
        self._muxed: MuxSessions | None = None  # the sessions asked of it: _sessions()
        self._muxed_lock = threading.Lock()
        self._closes = 0  # close() calls so far: a command that close() stopped did not fail

    def _control(self, operation: str, *args: str) -> tuple[int, str]:
        return self.master.control(operation, *args)

    def run(self, command: Command, *, stdin: Readable | None = None,
            on_output: OnOutput | None = None, on_progress: OnProgress | None = None,
            timeout: float | None = None) -> Result:
        """Run `command` on the host; a `stdin` stream is sent in chunks through ssh, after
        the command's secret env values (preamble.py: never on its command line)."""
        if stdin is not None:
            from otterfile.executors.upload import chunks
            data: Data | None = chunks(stdin, on_progress)
        else:
            data = command.stdin_bytes()
        line, held = _line(command), data is None
        if held:  # nothing to send: hold stdin open so the host sees otter go away
            line = watched(line)
        first = preamble(command, self.host.name)
        line, data = first.line(line), first.before(data)
        again = held or isinstance(data, bytes)  # input that can be sent a second time
        for attempt in (1, 2):
            started, closes = time.monotonic(), self._closes
            give_back = self.master.claim() if again else None
            if give_back is not None:  # no master yet: this command's ssh becomes it
                kept = False
                code, out, err = run_first(self.master, line, first.data if held else None,
                                           data, on_output, timeout, give_back, self._processes)
            else:
                kept = not self.master.checked if again else self.master.ensure()
                with self.master.sessions:
                    code, out, err = self._through_master(
                        line, HeldOpen(first.data) if held else data, on_output, timeout)
            if code == SSH_FAILED and closes == self._closes and self._control("check")[0] != 0:
                if kept and attempt == 1 and not out and again:
                    self.master.end()  # a kept master whose host went away: a fresh one
                    continue
                # the connection, not the command, failed: it connected, then broke
                raise ConnectionFailed(self.host, err,
                                       during=command.description or command.display())
            self.master.checked = True
            return Result(command, code, out, err, time.monotonic() - started, self.host.name)
        raise AssertionError("unreachable")

    def _through_master(self, line: str, stdin: Input, on_output: OnOutput | None,
                        timeout: float | None) -> tuple[int, str, str]:
        """`line` as a session of the running master: asked for from this process (muxed.py),
        else (OTTER_SSH_MUX=0, or the master would not open one) by an ssh client."""
        if self.mux:
            from otterfile.executors.mux import MuxError
            from otterfile.executors.muxed import run_muxed
            with contextlib.suppress(MuxError):  # nothing ran, no input was read
                return run_muxed(self.master.path, line, stdin, on_output, timeout,
                                 self._sessions())
        return run_process(self.master.ssh("-T", "-e", "none") + [line], stdin=stdin,
                           on_output=on_output, timeout=timeout, processes=self._processes)

    def _sessions(self) -> MuxSessions:
        """The registry of the sessions asked of the master, made on first use."""
        with self._muxed_lock:
            if self._muxed is None:
                from otterfile.executors.muxed import MuxSessions
                self._muxed = MuxSessions()
            return self._muxed

    def open_stream(self, command: Command) -> Readable:
        from otterfile.executors.streams import Stream
        return Stream(*self._session(command))

    def open_session(self, command: Command) -> Session:
        from otterfile.executors.streams import Session
        return Session(*self._session(command))

    def _session(self, command: Command) -> tuple[list[str], str, str, bytes]:
        """One more session on the master (started first when none runs)."""
        from otterfile.executors.streams import shell_argv
        self.master.ensure()
        argv, first = shell_argv(command, self.host.name, self.master.ssh("-T", "-e", "none"))
        return argv, self.host.name, command.description, first

    def upload(self, source: str | BinaryIO, dest: str, *, mode: int = 0o644,
               on_progress: OnProgress | None = None) -> Result:
        """Stream a local file or stream to `dest` on the host, written atomically."""
        from otterfile.executors.upload import open_source, upload_command
        with open_source(source) as stream:
            return self.run(upload_command(dest, mode), stdin=stream, on_progress=on_progress)

    @contextlib.contextmanager
    def forward(self, remote_port: int, local_port: int = 0) -> Iterator[int]:
        """A local port (`local_port`, or a free one when 0) tunnelled by the master to
        127.0.0.1:`remote_port` on the host, for its lifetime (then cancelled)."""
        if local_port and not port_free(local_port):  # the master would share its own forward
            raise ExecutionError(f"{self.host.name}: cannot forward port {remote_port}: "
                                 f"127.0.0.1:{local_port} is in use on this machine")
        self.master.ensure()
        spec, output = "", ""
        for _ in range(1 if local_port else 3):  # a free port may be taken before ssh binds it
            spec = f"127.0.0.1:{local_port or free_port()}:127.0.0.1:{remote_port}"
            code, output = self._control("forward", "-L", spec)
            if code == 0:
                break
        else:
            raise ExecutionError(f"{self.host.name}: cannot forward port {remote_port}: "
                                 f"{output.strip()}")
        try:
            yield int(spec.split(":")[1])
        finally:
            self._control("cancel", "-L", spec)

    @contextlib.contextmanager
    def http(self, remote_port: Port) -> Iterator[HttpGet]:
        """GET on the host's 127.0.0.1:`remote_port`: each a connection asked of the master
        from this process (http.status_through_master); where it opens none (OTTER_SSH_MUX=0,
        a master that refuses), through one forward of the master (an ssh client to set it
        up and one to cancel it)."""
        from otterfile.executors.http import getter, number, status_through_master
        from otterfile.executors.mux import MuxError
        port = number(remote_port, self.host.name)
        self.master.ensure()
        with contextlib.ExitStack() as forwarded:
            through: list[HttpGet] = []  # the forward's getter, once the master opened none

            def get(path: str) -> int:
                if self.mux and not through:
                    with contextlib.suppress(MuxError):
                        return status_through_master(self.master.path, port, path)
                if not through:
                    local = forwarded.enter_context(self.forward(port))
                    through.append(forwarded.enter_context(getter(local)))
                return through[0](path)
            yield get

    def interrupt(self) -> None:
        """End the sessions otter asked the master for itself (a terminal's Ctrl-C reaches
        ssh clients, which share otter's process group, but not those); an unlock that
        starts after it is not cut."""
        with self._muxed_lock:
            asked = self._muxed
        if asked is not None:
            asked.stop_all()

    def close(self) -> None:
        """Stop running commands; end the master connection unless it is kept (`persist`)."""
        self._closes += 1
        self._processes.stop_all()
        self.interrupt()
        self.master.close()
