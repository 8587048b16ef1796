"""The lock stage's read of a target and `recover`, written over `Runtime` and `Proxy`:
`state_read` is the one command the lock's round trip runs once the lock is ours (the
target read, the proxy ensured, the ship probe, the layers held and the room); `recover`
takes what it printed into the lane and removes the instances of runs that died, except
the one the proxy serves."""
from __future__ import annotations

from typing import TYPE_CHECKING

from otterfile.command import Command, script, sequence
from otterfile.commands import state as states, store
from otterfile.errors import OtterError
from otterfile.proxies import install
from otterfile.run import handover, kinds, space, target, window
from otterfile.run.kinds import named_by_otter
from otterfile.run.results import checked, failed
from otterfile.run.state import mark_failed
from otterfile.scripts import load
from otterfile.run.state_file import format_state

if TYPE_CHECKING:
    from otterfile.executors.base import Executor, Result
    from otterfile.load.project import DeploymentDef
    from otterfile.plan.graph import Task
    from otterfile.proxies.base import Switching
    from otterfile.runtimes import Instance
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.run.target import Reading


def state_read(engine: Engine, lane: Lane, task: Task) -> Command:
    """What `recover` reads (target.command): the fingerprint key (made the first time), and,
    for an artifact the ship stage will send, whether the target has it, which image layers
    it holds and the room where it lands; behind a proxy, the proxy installed and running
    first. The lock stage runs it in the round trip that takes the lock."""
    dep = lane.deployment
    probe = _probe_of(engine, lane)
    both = target.command(dep, key=states.fingerprint_key(dep.name),
                          probe=probe[1] if probe else None, layers=layers_to_read(engine, lane),
                          room=space.read_line(lane.runtime, dep.name) if probe else "")
    # a recreate service without domains is not behind the proxy: nothing to install for it
    if not dep.proxied:
        return both
    ensure = handover.ensure(dep)
    if engine.rollback and dep.window > 0:  # likely a switch back to the kept release
        ensure = _unless_serving(dep, ensure)
    return sequence(ensure, both,
                    description=f"{both.description} ({lane.proxy.name} installed and running)")


def _unless_serving(dep: DeploymentDef, ensure: Command) -> Command:
    """`ensure` only where the proxy does not run with the deployment's site: a rollback to
    a release it served skips the look for rivals on ports 80/443 (`ss`, one systemd call per
    rival): the lock trip of a rollback inside the window spent most of its time there."""
    return script(load("unit-runs.sh") + load("unless-serving.sh"),
                  args=[dep.proxy_kind.site_path(dep.name), dep.proxy_kind.installed.unit,
                        ensure.shell_line()], description=ensure.description)


def recover(engine: Engine, lane: Lane, task: Task, read: Result | None = None) -> None:
    """From what `state_read` printed (`read`, its Result; None: run it now, one round
    trip): instances of runs that died are removed, except the one the proxy serves."""
    executor, dep = engine.executor(task.host), lane.deployment
    if read is None:
        read = executor.run(state_read(engine, lane, task))
    # an invalid file: nothing is touched
    reading = target.parse(dep, executor.host.name, _read_output(engine, task, executor, read))
    _take_reading(engine, lane, task, reading)
    reading = target.complete(dep, executor, reading)
    note = kinds.assumed_note(dep, executor.host.name, reading.target)
    if note:
        engine.emit(task, "info", note)
    instances = named_by_otter(lane.runtime, dep.name, reading.target.instances)
    state, live = target.live(dep, reading)
    kept = window.kept_release(state, reading.kept)  # runs on for the rollback window
    keep = {kinds.release_key(dep, r) for r in (live, kept) if r is not None}
    stale = [i for i in instances if kinds.key(dep, i) not in keep]
    for release in state.releases:
        if release.status == "starting":
            state = mark_failed(state, release.id)
    if stale:
        _remove_stale(engine, task, executor, dep, stale)
    if state != reading.state:
        checked(executor, states.write_state(dep.name, format_state(state)), "writing state")
    lane.state, lane.previous, lane.kept = state, live, reading.kept
    lane.running = frozenset(kinds.key(dep, i) for i in instances if i.running)
    lane.started = store.started(list(reading.started), [i.digest for i in instances])


def _remove_stale(engine: Engine, task: Task, executor: Executor, dep: DeploymentDef,
                  stale: list[Instance]) -> None:
    """Instances no state names removed. A removal that fails stops the run while one of
    them runs; when all are stopped (a retire stopped them, then its removal failed) it is
    said and the run goes on: nothing of them runs or is recorded, the next run tries
    again, and a rollback to the release kept for the window is not held up by them."""
    done = executor.run(kinds.remove_instances(dep, stale))
    if done.ok:
        engine.emit(task, "info", f"removed {len(stale)} instance(s) left by an earlier run")
        return
    what = "removing instances left by an earlier run"
    if any(i.running for i in stale):
        failed(done, executor.host.name, what)
    engine.emit(task, "info", f"warning: {what} failed (exit {done.exited}): "
                f"{done.tail(2) or done.tail(2, 'stdout')}; {len(stale)} stopped instance(s) "
                "left, none recorded: the next run removes them")


def _take_reading(engine: Engine, lane: Lane, task: Task, reading: Reading) -> None:
    """What the ship and switch stages use of the read: the key, old proxy sites, the room,
    the layers held and the probe's answer."""
    lane.key, lane.old_sites = reading.key, reading.old_sites
    lane.schedules = reading.schedules
    lane.space = space.parse(reading.space or "")  # none: there, or not sent
    # no listing (it did not run): unknown, the image ships whole; garbage lists nothing
    lane.layers = lane.runtime.parse_layers(reading.layers) \
        if layers_to_read(engine, lane) and reading.layers is not None else None
    probe = _probe_of(engine, lane)
    found = None
    if probe and reading.probe is not None:
        from otterfile.transfer.probe import probed
        found = probed(reading.probe)
    lane.probed = (probe[0], found) if probe and found is not None else None
    switching = target.switching(lane.deployment, reading)
    if switching is not None:
        _take_switching(engine, lane, task, switching)


def _take_switching(engine: Engine, lane: Lane, task: Task, switching: Switching) -> None:
    """How the proxy switches on this target; said when the host makes it reload (nginx
    without njs), as the user who chose `switch="file"` expects no reload."""
    dep = lane.deployment
    lane.switching = switching
    if not lane.switching.per_request and dep.proxy.switch == "file":
        engine.emit(task, "info", f"{lane.proxy.name} switches by reload here: "
                    f"{lane.switching.why}")


def layers_to_read(engine: Engine, lane: Lane) -> Command | None:
    """The runtime's listing of the image layers a target holds, when this lane ships an
    image from the controller or a build host (not a registry pull, not a rollback)."""
    artifact = engine.artifacts.get(lane.deployment.artifact.name)
    if engine.rollback or artifact is None or artifact.form != "image" or \
            artifact.pull is not None:
        return None
    return lane.runtime.layers()


def _probe_of(engine: Engine, lane: Lane) -> tuple[str, Command] | None:
    """(digest, the runtime's probe) of the artifact this lane's ship stage will send, so
    the state read answers the probe; None for a rollback or a registry pull (ship asks)."""
    artifact = engine.artifacts.get(lane.deployment.artifact.name)
    if engine.rollback or artifact is None or artifact.pull is not None or \
            artifact.form not in lane.runtime.forms:
        return None
    try:
        return artifact.digest, lane.runtime.probe(artifact)
    except OtterError:  # an artifact this runtime cannot run: ship says so
        return None


def _read_output(engine: Engine, task: Task, executor: Executor, result: Result) -> str:
    """The state read's stdout, or a clear error naming the host (the proxy missing and
    not installable, the read failed). What was installed or started is said."""
    if result.exited == install.EXIT_PROXY:
        raise OtterError(f"{executor.host.name}: {result.tail(8)}")
    if not result.ok:
        raise OtterError(f"{executor.host.name}: reading the release state failed (exit "
                         f"{result.exited}): {result.tail(8) or result.tail(8, 'stdout')}")
    for line in result.stderr.splitlines():  # what the proxy's ensure did, or could not
        if line.startswith("otter: "):
            engine.emit(task, "info", line.removeprefix("otter: "))
    return result.stdout
