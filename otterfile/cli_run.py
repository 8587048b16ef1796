"""`otter run` and `otter exec`: the commands that act on hosts."""
from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import click

from .cli import load_project, main, reporter, split_targets
from .errors import OtterError, OtterfileError


def resolve_env(project, deployments) -> dict[str, dict]:
    """Every deployment's runtime env with secrets read; a missing one fails before any run."""
    from .secrets import Secret, SecretStore
    store = SecretStore(project.folder)
    out = {}
    for dep in deployments:
        env = {}
        for key, value in dep.runtime.env:
            if isinstance(value, Secret):
                try:
                    value = store.resolve(value)
                except OtterfileError as error:
                    raise OtterfileError(error.message, file=error.file or str(project.file),
                                         line=dep.runtime.line or dep.line,
                                         path=f"deployment {dep.name}/runtime/env/{key}")
            env[key] = value
        out[dep.name] = env
    return out


def parallel_of(deployments, graph) -> int | None:
    """The smallest `parallel` of the deployments, percentages taken of their hosts."""
    counts = []
    for dep in deployments:
        value, hosts = dep.parallel, max(1, len(dep.hosts))
        if isinstance(value, str):
            value = max(1, math.ceil(hosts * int(value[:-1]) / 100))
        if value:
            counts.append(value)
    return min(counts) if counts else None


@main.command()
@click.argument("name")
@click.option("--targets", help="Only these hosts (comma separated).")
@click.option("--dry-run", is_flag=True, help="Print what would run; run nothing.")
@click.option("--lock-wait", type=float, default=0.0, metavar="SECONDS",
              help="Wait this long for another run's deploy lock.")
@click.pass_context
def run(ctx: click.Context, name: str, targets: str | None, dry_run: bool,
        lock_wait: float) -> None:
    """Deploy NAME: acquire, ship, start, health, switch, retire on every target."""
    from .engine import Engine
    from .plan import plan
    from .stages import check_supported
    project = load_project(ctx)
    deployments = project.select(name)
    for dep in deployments:
        check_supported(dep, str(project.file))
    env = resolve_env(project, deployments)
    graph = plan(project, [name], hosts=split_targets(targets))
    report = reporter(ctx)
    engine = Engine(project, report, dry_run=dry_run, lock_wait=lock_wait, env=env)
    outcome = finish(ctx, graph, engine, parallel_of(deployments, graph), exit_on_failure=False)
    rolled = roll_back_switched(ctx, project, deployments, outcome, engine)
    if not outcome.ok or rolled:
        ctx.exit(1)


def roll_back_switched(ctx, project, deployments, outcome, engine) -> bool:
    """on_failure="rollback": when a target failed, the targets this run switched go back
    to the release that was live before. Returns whether a rollback ran."""
    from .engine import Engine
    from .plan import plan
    from .runner import OK
    if outcome.ok or outcome.interrupted:
        return False
    rolled = False
    for dep in (d for d in deployments if d.on_failure == "rollback"):
        switched = []
        for host in dep.hosts:
            lane = engine.lanes.get((dep.name, host.name))
            if outcome.status.get(f"{dep.name}/switch@{host.name}") == OK and lane and \
                    lane.previous is not None and not lane.values.get("noop"):
                switched.append(host.name)
        if not switched:
            continue
        click.echo(f"\n{dep.name}: a target failed; rolling back {', '.join(switched)}")
        back = Engine(project, engine.report, env=engine.env, rollback=True,
                      lock_wait=engine.lock_wait)
        finish(ctx, plan(project, [dep.name], hosts=switched, rollback=True), back, None,
               exit_on_failure=False)
        rolled = True
    return rolled


def finish(ctx: click.Context, graph, engine, parallel: int | None, *,
           exit_on_failure: bool = True):
    """Run the graph, close connections, print the summary, exit 1 on failure."""
    from .report import summary
    from .runner import run_graph
    started = time.monotonic()
    try:
        outcome = run_graph(graph, engine.perform, engine.report, parallel=parallel,
                            cancel=engine.cancel)
    finally:
        engine.close()
    if ctx.obj["json"]:
        from .runner import Event
        engine.report(Event("summary", None, "ok" if outcome.ok else "failed",
                            seconds=time.monotonic() - started, data={"tasks": outcome.status}))
    else:
        click.echo("\n" + summary(graph, outcome))
        click.echo(f"\n{'done' if outcome.ok else 'FAILED'} in {time.monotonic() - started:.1f}s")
    if outcome.interrupted:
        raise OtterError("interrupted: locks released, connections closed")
    if not outcome.ok and exit_on_failure:
        ctx.exit(1)
    return outcome


@main.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--targets", help="Only these hosts (comma separated).")
@click.pass_context
def exec_(ctx: click.Context, name: str, command: tuple[str, ...], targets: str | None) -> None:
    """Run a command on NAME's targets: otter exec production -- uptime."""
    from .command import Command
    from .executors import executor_for
    from .report import table
    project = load_project(ctx)
    only = split_targets(targets)
    hosts = {h.name: h for d in project.select(name) for h in d.hosts
             if only is None or h.name in only}
    if not hosts:
        raise OtterError(f"no host of {name} matches --targets {targets}")
    line = command[0] if len(command) == 1 else " ".join(command)
    job = Command(("sh", "-c", line), description=line)
    lock = threading.Lock()

    def one(host):
        executor = executor_for(host)
        def show(stream, text):
            with lock:
                click.echo(f"{host.name} | {text}", err=stream == "stderr")
        try:
            return executor.run(job, on_output=show)
        except OtterError as error:
            return error
        finally:
            executor.close()

    with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
        results = dict(zip(hosts, pool.map(one, hosts.values())))
    rows = [[n, "error" if isinstance(r, Exception) else str(r.exited),
             str(r) if isinstance(r, Exception) else f"{r.duration:.1f}s"]
            for n, r in results.items()]
    click.echo("\n" + table(["host", "exit", "time"], rows))
    if any(isinstance(r, Exception) or not r.ok for r in results.values()):
        ctx.exit(1)


from . import cli_state  # noqa: E402,F401  (status, rollback, logs, unlock)
