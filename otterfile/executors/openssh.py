"""What otter says to the OpenSSH client and reads back: the options it sets for a host,
the wrapper that ends a remote command with otter, and a failed connection in a person's
words (the executor itself: ssh.py)."""
from __future__ import annotations

import os

from otterfile import scripts
from otterfile.errors import ExecutionError
from otterfile.hosts import SSHHost
from otterfile.executors.starts import Outcome

CONNECT_TIMEOUT = 15

WATCH_SCRIPT = scripts.load("watch.sh")  # the command ends when otter's stdin does
_WATCH_AT = "( otter_command )"  # where the command's line goes
_WATCH_BEFORE, _WATCH_AFTER = "\n".join(
    text for text in WATCH_SCRIPT.splitlines() if not text.startswith("#")).split(_WATCH_AT)


def watched(line: str) -> str:
    """`line` run under WATCH_SCRIPT by the login shell itself (no shell, setsid or exec
    more on the host than the command's own): ended on the host when otter's end closes
    stdin. One shell compound command, so a secret env read may go before it with &&."""
    body = line.rstrip("\n")  # then a newline: a comment at the line's end ends there
    return f"{_WATCH_BEFORE}( {body}\n){_WATCH_AFTER}"


class ConnectionFailed(ExecutionError):
    """ssh could not reach or authenticate to a host (no command ran), or, `during` a
    command, lost its connection (the command may have run in part)."""

    def __init__(self, host: SSHHost, stderr: str | Outcome, during: str | None = None):
        text = stderr.explained() if isinstance(stderr, Outcome) else stderr
        self.host, self.stderr = host, text.replace("\r\n", "\n").strip()
        what = f"lost the connection to {host.introduced()} during: {during}" if during \
            else f"cannot connect to {host.introduced()}"
        super().__init__(f"{what}: {_explain(host, self.stderr)}")


def _explain(host: SSHHost, stderr: str) -> str:
    where = host.known_hosts or "~/.ssh/known_hosts"
    if "IDENTIFICATION HAS CHANGED" in stderr or ("key for" in stderr and "differs" in stderr):
        return (f"its host key does not match the one in {where}; refusing to connect "
                f"(if the server was reinstalled, verify its new key, then remove the old "
                f"one as ssh says below)\n{stderr}")
    if "host key is known" in stderr:
        return (f"its host key is unknown (not in {where}); add it, or use "
                f"host_key_checking=\"accept-new\" to trust it on first use\n{stderr}")
    return stderr or "ssh exited 255 (the connection broke: the network, the host or its sshd)"


def ssh_options(host: SSHHost) -> list[str]:
    """The ssh options otter sets for `host`; everything else comes from ~/.ssh/config."""
    opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
            "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
            "-o", f"StrictHostKeyChecking={_checking(host.host_key_checking)}"]
    if host.known_hosts:
        # quoted: ssh splits an unquoted value at spaces into several files
        opts += ["-o", f'UserKnownHostsFile="{os.path.expanduser(host.known_hosts)}"']
    if host.identity_file:
        opts += ["-i", os.path.expanduser(host.identity_file), "-o", "IdentitiesOnly=yes"]
    if host.port:
        opts += ["-p", str(host.port)]
    if host.user:
        opts += ["-l", host.user]
    if host.kex:
        opts += ["-o", f"KexAlgorithms={host.kex}"]
    return opts


def _checking(value: str) -> str:
    if value not in ("yes", "accept-new"):  # never "no": checks are not turned off
        raise ValueError(f"host_key_checking must be 'yes' or 'accept-new', got {value!r}")
    return value
