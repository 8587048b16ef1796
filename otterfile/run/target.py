"""One read of a target for a deployment, and the one no-op decision.

Every reader runs `command` (scripts/read-target.sh), one round trip: recover in the lock's
(the key made the first time, the proxy ensured), `plan --check` read-only (the key only
read, the probe by digest alone), `status`, `logs` and `remove`. `parse` checks what it
printed, `live` applies the served-port rule and `unchanged` says whether a run would
change nothing, for the flow and `plan --check` alike.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from otterfile.command import Command, script
from otterfile.commands import state as states, store
from otterfile.proxies.maintenance import parse_message
from otterfile.proxies.base import Switching, parse_switching, served_port as served_port_of
from otterfile.scripts import load
from otterfile.run.state import Release, State, mark_live, upstream_dir
from otterfile.run import handover, kinds, retire_later, schedules, space, window
from otterfile.run.kinds import named_by_otter

if TYPE_CHECKING:
    from otterfile.executors.base import Executor
    from otterfile.load.project import DeploymentDef

KEY_MARK = "--- otter:key"
SITE_MARK = "--- otter:site"
UPSTREAM_MARK = "--- otter:upstream"
STARTED_MARK = "--- otter:started"
SWITCH_MARK = "--- otter:switch"
PROBE_MARK = "--- otter:probe"
LAYERS_MARK = "--- otter:layers"
MAINTENANCE_MARK = "--- otter:maintenance"
FILES_MARK = "--- otter:files"
SCHEDULES_MARK = "--- otter:schedules"
MARKS = (KEY_MARK, SITE_MARK, UPSTREAM_MARK, STARTED_MARK, SWITCH_MARK, handover.MARK,
         MAINTENANCE_MARK, window.MARK, retire_later.MARK, PROBE_MARK, LAYERS_MARK, space.SPACE_MARK,
         FILES_MARK, SCHEDULES_MARK)
# read-only: the fingerprint key when there is one (none: no release was ever made here)
CAT_KEY = 'cat "$1" 2>/dev/null; exit 0'


@dataclass(frozen=True)
class Reading:
    """What a target has of a deployment; a part that was not asked for is None."""

    key: str
    target: states.TargetState  # the checked state (every release has its kinds), instances
    site: str = ""  # the Otterfile proxy's site of the deployment
    upstream: str = ""  # the listing of its upstream folder (the port file)
    started: tuple[str, ...] = ()  # the records of the artifacts otter started it from
    switch: str | None = None  # the proxy's switch probe's answer
    old_sites: tuple[handover.OldSite, ...] = ()
    probe: str | None = None  # the runtime's probe of the artifact
    layers: str | None = None  # the runtime's listing of the image layers held
    space: str | None = None  # where the artifact lands and the room there
    maintenance: str | None = None  # maintenance mode's message while it is on
    kept: window.Kept | None = None  # the release kept for the rollback window
    files: str | None = None  # the generated files' read (run/drift.py parses it)
    schedules: tuple[str, ...] | None = None  # the schedules it has units of (names)
    # a background retire running there, or one that failed (run/retire_later.py)
    retiring: retire_later.Retiring | None = None

    @property
    def state(self) -> State:
        return self.target.state


def command(dep: DeploymentDef, *, key: Command | None = None, probe: Command | None = None,
            layers: Command | None = None, room: str = "", log_lines: int = 0,
            every: bool = False, sites: bool | None = None,
            files: Command | None = None) -> Command:
    """The read, as one command: the key (`key` prints it; None: not read), the state and
    instances (`every`: of every runtime kind), the deploy log, the served site and its port
    file, the started records, how the proxy switches (behind one); with `sites` (default:
    behind a proxy) other proxy kinds' sites of the deployment; `probe`, `layers` and `room`
    when given (layers and room only when the probe did not find the artifact); `files`: the
    generated files' read (run/drift.py); then the schedules it has units of."""
    px, sites = dep.proxy_kind, dep.proxied if sites is None else sites
    read = kinds.read_state(dep, log_lines=log_lines, every=every)
    return script(load("read-target.sh"),
                  args=[px.site_path(dep.name), upstream_dir(dep.name),
                        key.shell_line() if key else "",
                        px.switch_probe(dep.proxy).shell_line() if dep.proxied else "",
                        handover.read(dep).shell_line() if sites else "",
                        layers.shell_line() if layers else "",
                        probe.shell_line() if probe else "", room,
                        store.started_dir(dep.name), files.shell_line() if files else "",
                        schedules.listing(dep.name).shell_line(), *read.argv],
                  description=f"read state of {dep.name}")


def key_read(dep: DeploymentDef) -> Command:
    """Read the fingerprint key without making it (plan --check writes nothing)."""
    return script(CAT_KEY, args=[states.key_path(dep.name)],
                  description=f"fingerprint key of {dep.name} (read-only)")


def sections(stdout: str, marks: tuple[str, ...] = MARKS) -> dict[str, str]:
    """The parts of what `command` printed, by the marker line before each ("": what came
    before the first, the key)."""
    out, mark, lines = dict[str, str](), "", list[str]()
    for line in stdout.splitlines(keepends=True):
        if line.rstrip("\n") in marks:
            out[mark], mark, lines = "".join(lines), line.rstrip("\n"), []
        else:
            lines.append(line)
    out[mark] = "".join(lines)
    return out


def parse(dep: DeploymentDef, host: str, stdout: str) -> Reading:
    """A Reading from what `command` printed; an invalid state file is an OtterError naming
    the host, file and field."""
    parts = sections(stdout)
    return Reading(parts[""], kinds.parse_read(dep, host, parts.get(KEY_MARK, "")),
                   parts.get(SITE_MARK, ""), parts.get(UPSTREAM_MARK, ""),
                   tuple(parts.get(STARTED_MARK, "").split()), parts.get(SWITCH_MARK),
                   handover.parse(parts.get(handover.MARK, "")), parts.get(PROBE_MARK),
                   parts.get(LAYERS_MARK), parts.get(space.SPACE_MARK),
                   parse_message(parts.get(MAINTENANCE_MARK)),
                   window.parse(parts.get(window.MARK)), parts.get(FILES_MARK),
                   _names(parts.get(SCHEDULES_MARK)),
                   retire_later.parse(parts.get(retire_later.MARK)))


def _names(part: str | None) -> tuple[str, ...] | None:
    return None if part is None else tuple(part.split())


def complete(dep: DeploymentDef, executor: Executor, reading: Reading,
             log_lines: int = 0) -> Reading:
    """`reading`, its instances listed again for every kind when the state names a runtime
    kind the read did not list (kinds.complete: one more round trip, rarely)."""
    return replace(reading, target=kinds.complete(dep, executor, reading.target, log_lines))


def served_port(dep: DeploymentDef, reading: Reading) -> int | None:
    """The port the proxy serves the deployment on (None: no site, or not behind one)."""
    if dep.recreate:
        return None
    return served_port_of(dep.proxy_kind, reading.site, reading.upstream)


def switching(dep: DeploymentDef, reading: Reading) -> Switching | None:
    """How the proxy switches the deployment on the target (None: not behind one)."""
    return parse_switching(reading.switch or "", dep.proxy.switch) if dep.proxied else None


def live(dep: DeploymentDef, reading: Reading) -> tuple[State, Release | None]:
    """The state and its live release by the served-port rule: a release still `starting`
    that the proxy serves is live (a run was killed between the switch and the state
    write)."""
    state, port = reading.state, served_port(dep, reading)
    current = state.live_release
    for release in state.releases:
        if release.status == "starting" and port and release.port == port:
            state, current = mark_live(state, release.id), release
    return state, current


def running(dep: DeploymentDef, reading: Reading) -> frozenset[tuple[str, str]]:
    """(runtime kind, name) of the instances otter named that run."""
    ours = named_by_otter(dep.runtime.kind, dep.name, reading.target.instances)
    return frozenset(kinds.key(dep, i) for i in ours if i.running)


def unchanged(dep: DeploymentDef, live_release: Release | None, config: str | None,
              runs: frozenset[tuple[str, str]], *, runtime: str, rollback: bool = False,
              old_sites: tuple[handover.OldSite, ...] = ()) -> bool:
    """The no-op decision: the live release already is this artifact and config (`config`,
    None: unknown, never the same), under `runtime`, and runs; not for a rollback, nor while
    another proxy kind has a site of the deployment (the run hands it over)."""
    return bool(live_release is not None and config is not None and
                live_release.config == config and live_release.runtime == runtime and
                kinds.release_key(dep, live_release) in runs and not rollback and
                not old_sites)
