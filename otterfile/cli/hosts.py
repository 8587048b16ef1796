"""`otter exec`, `status`, `logs`, `unlock`: per-host commands on a deployment's targets."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Sequence, TypeVar

import click

from otterfile.errors import OtterError, UsageError
from otterfile.report.reporters import host_address, host_label
from otterfile.report.text import printable
from otterfile.cli.common import emit, load_project, split_targets

if TYPE_CHECKING:
    from otterfile.executors.base import Executor, Result
    from otterfile.hosts import Host
    from otterfile.load.project import DeploymentDef, Project

T = TypeVar("T")
Pair = tuple["DeploymentDef", "Host"]


def hosts_of(project: Project, name: str | None, targets: str | None) -> list[Pair]:
    """(deployment, host) pairs of NAME (every deployment when None), narrowed by --targets."""
    only = split_targets(targets, project)
    deployments = project.select(name) if name else tuple(project.deployments.values())
    pairs = [(d, h) for d in deployments for h in d.hosts if only is None or h.name in only]
    if not pairs:
        raise OtterError(f"no host of {name or 'any deployment'} matches --targets {targets}"
                         if targets else "the Otterfile declares no deployment")
    return pairs


def on_each(pairs: Sequence[Pair], work: Callable[[DeploymentDef, Host, Executor], T]
            ) -> list[T | OtterError]:
    """Run `work(deployment, host, executor)` on every host at once; errors are kept.
    A thread per pair (connection starts are capped where they start: executors/starts.py);
    a host's connection is closed by the thread that finishes its last pair, while the
    others still run (no thread per host at the end). Ctrl-C closes the connections,
    which ends what still runs (`logs -f`)."""
    from otterfile.executors import executor_for
    by_host: dict[str, Executor] = {}  # one connection per host, however many deployments it runs
    for _, host in pairs:
        if host.name not in by_host:
            by_host[host.name] = executor_for(host)
    executors = [by_host[host.name] for _, host in pairs]
    left = {name: sum(1 for _, h in pairs if h.name == name) for name in by_host}
    closed: set[str] = set()
    lock = threading.Lock()
    results: dict[int, T | OtterError] = {}

    def close(name: str) -> None:
        with lock:
            if name in closed:
                return
            closed.add(name)
        by_host[name].close()

    def one(index: int) -> None:
        name = pairs[index][1].name
        try:
            results[index] = work(pairs[index][0], pairs[index][1], executors[index])
        except OtterError as error:
            results[index] = error
        finally:
            with lock:
                left[name] -= 1
                last = left[name] == 0
            if last:
                close(name)

    threads = [threading.Thread(target=one, args=(index,), daemon=True)
               for index in range(len(pairs))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        raise OtterError("interrupted") from None
    finally:  # those not closed yet (Ctrl-C) all at once: a process and a round trip each
        open_ = [name for name in by_host if name not in closed]
        closing = [threading.Thread(target=close, args=(name,)) for name in open_]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()
        for thread in threads:
            thread.join()
    return [results[index] for index in range(len(pairs))]  # each set by its thread


@click.command()
@click.argument("name", required=False)
@click.option("--targets", help="Only these hosts (comma separated).")
@click.option("--log", "log_lines", type=int, default=0, metavar="N",
              help="Also show the last N deploy-log records per target.")
@click.pass_context
def status(ctx: click.Context, name: str | None, targets: str | None, log_lines: int) -> None:
    """Per target: the live release, the previous ones, and health (NAME, or every
    deployment); its schedules, snapshots and previews."""
    from otterfile.report.status import read_status, render_status
    project = load_project(ctx)
    pairs = hosts_of(project, name, targets)
    results = on_each(pairs, lambda d, h, e: read_status(d, e, log_lines))
    if ctx.obj["json"]:
        from otterfile.report.status import status_record
        for (dep, host), result in zip(pairs, results):
            emit(ctx, {"event": "status", "deployment": dep.name, "host": host_label(host),
                       "address": host_address(host), **status_record(result, log_lines)})
    else:
        click.echo(render_status(pairs, results, log_lines))
    if any(isinstance(r, Exception) for r in results):
        ctx.exit(1)


@click.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming (Ctrl-C ends).")
@click.option("-n", "--tail", default=100, show_default=True, help="Lines from the end.")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.option("--schedule", metavar="NAME", help="A schedule's runs instead (see "
              "Deployment(schedules=...)).")
@click.pass_context
def logs(ctx: click.Context, name: str, follow: bool, tail: int, targets: str | None,
         schedule: str | None) -> None:
    """The live release's logs (or a schedule's runs) from each target, prefixed by target."""
    project = load_project(ctx)
    lock = threading.Lock()

    def stream(dep: DeploymentDef, host: Host, executor: Executor,
               show: Callable[[str, str], None]) -> Result:
        from otterfile.run import kinds, schedules, target as reads
        if schedule is not None:
            return executor.run(schedules.journal(dep.name, schedule, follow=follow,
                                                  tail=tail), on_output=show)
        read = executor.run(reads.command(dep))
        if not read.ok:
            raise OtterError(f"{host.name}: reading state failed: {read.tail(5)}")
        _, live = reads.live(dep, reads.parse(dep, host.name, read.stdout))
        if live is None or live.instance is None:
            raise OtterError(f"{host.name}: {dep.name} has no live release")

        # by the runtime that started it, which may not be the Otterfile's now
        return executor.run(kinds.runtime_of(dep, live).logs(live.instance, follow=follow,
                                                             tail=tail), on_output=show)

    def shower(dep: DeploymentDef, host: Host) -> Callable[[str, str], None]:
        def show(_stream: str, text: str) -> None:
            with lock:
                if ctx.obj["json"]:
                    emit(ctx, {"event": "output", "deployment": dep.name,
                               "host": host_label(host), "address": host_address(host),
                               "stream": _stream, "line": text})
                else:
                    click.echo(printable(f"{host_label(host)} | {text}"))
        return show

    pairs = hosts_of(project, name, targets)
    lacking = [d for d, _ in pairs if schedule is not None and
               schedule not in {s.name for s in d.schedules}]
    if lacking:
        raise UsageError(f"{lacking[0].name} has no schedule {schedule!r}; its schedules: "
                         + (", ".join(s.name for s in lacking[0].schedules) or "none"))
    results = on_each(pairs, lambda d, h, e: stream(d, h, e, shower(d, h)))
    for (dep, host), result in zip(pairs, results):
        if isinstance(result, Exception):
            if ctx.obj["json"]:
                emit(ctx, {"event": "error", "deployment": dep.name, "host": host_label(host),
                           "address": host_address(host), "message": str(result)})
            click.echo(printable(f"error: {result}"), err=True)
    if any(isinstance(r, Exception) for r in results):
        ctx.exit(1)


@click.command()
@click.argument("name")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.pass_context
def unlock(ctx: click.Context, name: str, targets: str | None) -> None:
    """Release NAME's deploy lock by hand (after a run that died)."""
    from otterfile.run.lock import DeployLock
    project = load_project(ctx)

    def release(dep: DeploymentDef, host: Host, executor: Executor) -> str:
        info = DeployLock(executor, dep.name).force_release()
        return f"released (held by {info.holder} since {info.since_text})" if info \
            else "was not locked"
    pairs, failed_any = hosts_of(project, name, targets), False
    for (dep, host), result in zip(pairs, on_each(pairs, release)):
        if ctx.obj["json"]:
            failed = isinstance(result, Exception)
            emit(ctx, {"event": "error" if failed else "unlock", "deployment": dep.name,
                       "host": host_label(host), "address": host_address(host),
                       "message": str(result)})
        else:
            click.echo(printable(f"{host_label(host)}: {dep.name}: {result}"))
        failed_any = failed_any or isinstance(result, Exception)
    if failed_any:
        ctx.exit(1)


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--targets", help="Only these hosts (comma separated).")
@click.pass_context
def exec_(ctx: click.Context, name: str, command: tuple[str, ...], targets: str | None) -> None:
    """Run a command on NAME's targets: otter exec production -- uptime."""
    from otterfile.command import host_line
    project = load_project(ctx)
    pairs = list({h.name: (d, h) for d, h in hosts_of(project, name, targets)}.values())
    line = command[0] if len(command) == 1 else " ".join(command)
    job = host_line(line, description=line)  # an SSH host's login shell runs it, as ssh does
    lock = threading.Lock()

    def one(_dep: DeploymentDef, host: Host, executor: Executor) -> Result:
        def show(stream: str, text: str) -> None:
            with lock:
                if ctx.obj["json"]:
                    emit(ctx, {"event": "output", "host": host_label(host),
                               "address": host_address(host), "stream": stream,
                               "line": text})
                else:
                    click.echo(printable(f"{host_label(host)} | {text}"),
                               err=stream == "stderr")
        return executor.run(job, on_output=show)

    results = on_each(pairs, one)
    if ctx.obj["json"]:
        for (_d, host), result in zip(pairs, results):
            where = {"host": host_label(host), "address": host_address(host)}
            emit(ctx, {"event": "error", **where, "message": str(result)}
                 if isinstance(result, Exception) else
                 {"event": "exec", **where, "exit": result.exited,
                  "seconds": round(result.duration, 3)})
        if any(isinstance(r, Exception) or not r.ok for r in results):
            ctx.exit(1)
        return
    from otterfile.report.tables import table
    rows = [[h.name, "error" if isinstance(r, Exception) else str(r.exited),
             "-" if isinstance(r, Exception) else f"{r.duration:.1f}s"]
            for (_d, h), r in zip(pairs, results)]
    click.echo("\n" + table(["host", "exit", "time"], rows))
    for (_d, host), result in zip(pairs, results):  # below the table, not in a cell
        if isinstance(result, Exception):
            click.echo(printable(f"error: {host_label(host)}: {result}"), err=True)
    if any(isinstance(r, Exception) or not r.ok for r in results):
        ctx.exit(1)
