"""`otter tunnel NAME PORT`: a local port forwarded to 127.0.0.1:PORT on one of a
deployment's targets, over the SSH connection otter keeps to it, until Ctrl-C."""
from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

import click

from otterfile.cli.common import emit, load_project
from otterfile.errors import ExecutionError, UsageError
from otterfile.report.text import printable

if TYPE_CHECKING:
    from otterfile.hosts import Host
    from otterfile.load.project import DeploymentDef, Project

# Ctrl-C (also where a shell started otter in the background, ignoring it), a kill, a closed
# terminal
ENDS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def pick(project: Project, name: str, target: str | None) -> tuple[DeploymentDef, Host]:
    """NAME's host to tunnel to: its first, or the one `target` names (a host's or a
    target's name, or an address); anything else is a UsageError listing the known ones."""
    from otterfile.host_names import chosen
    deployments = project.select(name)
    if len(deployments) > 1:
        raise UsageError(f"{name} is a group of deployments "
                         f"({', '.join(d.name for d in deployments)}); name one of them")
    dep = deployments[0]
    if target is None:
        return dep, dep.hosts[0]
    names = chosen([target], dep.hosts, {t.name: t.hosts for t in dep.targets})
    for host in dep.hosts:
        if host.name in names:
            return dep, host
    known = ", ".join(dict.fromkeys([h.name for h in dep.hosts] + [t.name for t in dep.targets]))
    raise UsageError(f"deployment {dep.name} has no target {target!r}; its targets: {known}")


def mapping(host: Host, local_port: int, remote_port: int) -> str:
    """How the tunnel is shown: `127.0.0.1:54321 -> web-1:5432`."""
    return f"127.0.0.1:{local_port} -> {host.name}:{remote_port}"


class _Ended(Exception):
    """A signal that ends the tunnel."""


def _end(_signal: int, _frame: Any) -> None:
    raise _Ended()


class _Signals:
    """Ctrl-C, SIGTERM and SIGHUP end the tunnel cleanly while it is open."""

    def __enter__(self) -> None:
        self.before = {s: signal.signal(s, _end) for s in ENDS}

    def __exit__(self, *_: Any) -> None:
        for number, handler in self.before.items():
            signal.signal(number, handler)


@click.command()
@click.argument("name")
@click.argument("port", type=click.IntRange(1, 65535))
@click.option("--target", metavar="T", help="The target to reach (a host's or target's "
              "name; default: the deployment's first).")
@click.option("--local", "local_port", type=click.IntRange(0, 65535), default=0,
              metavar="PORT", help="The local port (default: a free one).")
@click.pass_context
def tunnel(ctx: click.Context, name: str, port: int, target: str | None,
           local_port: int) -> None:
    """Forward 127.0.0.1:LOCAL here to 127.0.0.1:PORT on a target of NAME (a database, an
    admin page) over otter's SSH connection, until Ctrl-C; then nothing is left behind."""
    from otterfile.executors import executor_for
    from otterfile.executors.tunnel import hold
    dep, host = pick(load_project(ctx), name, target)
    direct = host.known_host() is None  # this machine: its own port, no forward
    if direct and local_port not in (0, port):
        raise UsageError(f"{host.name} is this machine: 127.0.0.1:{port} is reached directly; "
                         f"leave out --local (nothing would listen on {local_port})")
    executor = executor_for(host)
    try:
        with _Signals(), hold(executor, port, local_port) as held:
            _announce(ctx, dep, host, held.local_port, port, direct)
            if held.lost.wait():
                raise ExecutionError(f"lost the connection to {host.introduced()}; the "
                                     f"tunnel is closed: {held.why()}")
    except _Ended:
        if not ctx.obj["json"]:
            click.echo("tunnel closed", err=True)
    finally:
        executor.close()


def _announce(ctx: click.Context, dep: DeploymentDef, host: Host, local_port: int,
              remote_port: int, direct: bool) -> None:
    shown = mapping(host, local_port, remote_port)
    if ctx.obj["json"]:
        emit(ctx, {"event": "tunnel", "deployment": dep.name, "host": host.name,
                   "address": host.address, "local": f"127.0.0.1:{local_port}",
                   "local_port": local_port, "remote_port": remote_port,
                   "forwarded": not direct})
        return
    click.echo(printable(shown + (" (this machine: no forward needed)" if direct else "")))
    click.echo("open until Ctrl-C", err=True)

