"""`otter plan --check`: what a run would move on each target, asked before anything moves.

The artifacts are acquired on the controller (a build or a fetch into its cache: nothing
changes on a server); then each target answers, read-only and in one round trip, what it
has of every deployment planned there: the release state, the fingerprint key, the instances,
the served site and its port file, whether the proxy is installed and running and how it
switches, whether the artifact is there and which image layers it holds. No lock is taken
and nothing is written on a target. Written over `Runtime` and `Proxy` only.
"""
from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from ..artifacts.layers import missing
from ..artifacts.sizes import EMPTY_LAYER, history_of, layer_sizes  # noqa: F401 (EMPTY_LAYER: tests)
from ..command import Command, script
from ..commands import state as states
from ..errors import OtterError
from ..graph import Graph
from ..proxies import install
from ..proxies.base import parse_switching, served_port as served_port_of
from ..state import PORT_PLACEHOLDER, upstream_dir
from .engine import Engine, Lane
from . import handover, kinds
from .flow import fingerprint
from .switching import site_of

MARK = "--- otter:check"
WORKERS = 16  # targets asked at once

CAT_SCRIPT = 'cat "$1" 2>/dev/null; exit 0'
LIST_SCRIPT = 'ls -1 "$1" 2>/dev/null; exit 0'


@dataclass(frozen=True)
class Move:
    """How the artifact reaches a target: `how` is `none` (it has it), `layers` (the image
    layers it lacks), `whole` (the whole image or file), `pull` (the target pulls it from a
    registry), `download` (the target downloads it) or `unknown`; `bytes` None: unknown."""

    how: str
    bytes: int | None = None
    layers_missing: int | None = None
    layers: int | None = None


@dataclass(frozen=True)
class TargetCheck:
    """What one deployment on one target would do; `error` set: the target did not answer."""

    host: str
    address: str
    deployment: str | None = None
    artifact: str | None = None
    digest: str | None = None
    move: Move | None = None
    release: str | None = None  # `none` (no-op), `first`, `new`, `replace`, `unknown`
    live: str | None = None  # the live release's id
    site: str | None = None  # `new`, `changed`, `unchanged`, `none` (no proxy)
    site_path: str | None = None
    proxy: str | None = None  # `install` or `start` (the run would), else None
    switch: str | None = None  # how the proxy switches there: Switching.said
    note: str | None = None
    error: str | None = None


def check(engine: Engine, graph: Graph) -> list[TargetCheck]:
    """Acquire on the controller, then ask every target of `graph` at once, one round
    trip each; the engine's executors stay open (the caller closes the engine)."""
    notes = acquire_all(engine, graph)
    by_host: dict[str, list[Lane]] = {}
    for task in graph.order():
        if task.stage == "lock" and task.host and task.deployment:
            by_host.setdefault(task.host, []).append(engine.lane(task.deployment, task.host))
    with ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(by_host)))) as pool:
        found = list(pool.map(lambda item: check_host(engine, item[0], item[1], notes),
                              by_host.items()))
    return [one for host in found for one in host]


def acquire_all(engine: Engine, graph: Graph) -> dict[str, str]:
    """Every artifact acquired on the controller; one built on a build host is not (that
    would change a server): its note says so, by artifact name."""
    from .stages import acquire
    notes = {}
    for task in graph.order():
        if task.stage != "acquire":
            continue
        if task.host is not None:
            notes[task.artifact or ""] = f"built on {task.host} at deploy (not by --check)"
            continue
        acquire(engine, task)
    return notes


def check_host(engine: Engine, host: str, lanes: list[Lane],
               notes: dict[str, str]) -> list[TargetCheck]:
    """One round trip to `host` for all its lanes; an unreachable host is one error."""
    address = engine.host(host).address
    try:
        result = engine.executor(host).run(read_command(engine, lanes))
        if not result.ok:
            raise OtterError(f"reading what it has failed (exit {result.exited}): "
                             f"{result.tail(4)}")
        sections = parse_sections(result.stdout)
        return [judge(engine, lane, sections, notes) for lane in lanes]
    except OtterError as error:  # one host's failure never hides the others
        text = str(error)
        return [TargetCheck(host, address, error=text if text.startswith(host) else
                            f"{host}: {text}")]


def artifact_of(engine: Engine, lane: Lane):
    """The run's artifact for a lane, or None when --check did not acquire it."""
    return engine.artifacts.get(lane.deployment.artifact.name)


def read_command(engine: Engine, lanes: list[Lane]) -> Command:
    """Every read for `lanes` in one script; each part's output ends with a marker line
    naming the part and its exit status (see `parse_sections`)."""
    parts: dict[str, Command] = {}
    for lane in lanes:
        dep, rt, px, name = lane.deployment, lane.runtime, lane.proxy, lane.deployment.name
        parts[f"{name}/key"] = script(CAT_SCRIPT, args=[states.key_path(name)])
        parts[f"{name}/state"] = kinds.read_state(dep)
        if not dep.recreate:
            parts[f"{name}/site"] = script(CAT_SCRIPT, args=[px.site_path(name)])
            parts[f"{name}/upstream"] = script(LIST_SCRIPT, args=[upstream_dir(name)])
            parts[f"{name}/proxy"] = install.status(px.installed)
            parts[f"{name}/old-sites"] = handover.read(dep)
            parts[f"{name}/switch"] = px.switch_probe(dep.proxy)
        artifact = artifact_of(engine, lane)
        if artifact is not None and artifact.digest and artifact.pull is None:
            # by digest alone: a probe with a name would tag the image (a write)
            parts[f"{name}/probe"] = rt.probe(replace(artifact, image=None))
            layers = rt.layers()
            if layers is not None and artifact.path is None:
                parts[f"layers/{rt.name}"] = layers
    # the marker starts a line of its own: a part's output may not end with a newline
    text = "\n".join(f"{c.shell_line()} </dev/null 2>/dev/null; "
                     f"printf '\\n{MARK} %s %s\\n' {shlex.quote(key)} $?"
                     for key, c in parts.items())
    return script(text + "\nexit 0", description="what the target has (read-only)")


def parse_sections(stdout: str) -> dict[str, tuple[int, str]]:
    """Part name -> (exit status, output) from what `read_command` printed."""
    out, lines = dict[str, tuple[int, str]](), list[str]()
    for line in stdout.splitlines(keepends=True):
        if line.startswith(MARK + " "):
            words = line.split()
            if len(words) >= 4 and words[-1].lstrip("-").isdigit():
                text = "".join(lines)  # less the newline printed before the marker
                out[words[2]] = (int(words[-1]), text[:-1] if text.endswith("\n") else text)
            lines = []
        else:
            lines.append(line)
    return out


def judge(engine: Engine, lane: Lane, sections: dict[str, tuple[int, str]],
          notes: dict[str, str]) -> TargetCheck:
    """What the run would do on this lane's target, from what it answered."""
    dep, rt, px, host = lane.deployment, lane.runtime, lane.proxy, lane.host.name
    part = lambda key: sections.get(f"{dep.name}/{key}", (0, ""))[1]  # noqa: E731
    target = kinds.parse_read(dep, host, part("state"))
    served = part("site")
    served_port = None if dep.recreate else served_port_of(px, served, part("upstream"))
    live = live_release(target.state, served_port)
    if not dep.recreate:
        lane.switching = parse_switching(part("switch"), dep.proxy.switch)
    artifact = artifact_of(engine, lane)
    known = artifact is not None and bool(artifact.digest)
    config = None
    if known and part("key").strip():  # no key yet: no release was ever made here
        config = fingerprint(dep, artifact.digest, engine.env.get(dep.name, dict(dep.runtime.env)),
                             part("key"), px.shipped_digest(dep.proxy, engine.project.folder))
    # the live release runs, under the runtime the Otterfile names now
    running = {i.name for i in target.instances if i.running and i.kind == rt.name}
    action = release_action(live, running, config, known=known, recreate=dep.recreate)
    site = "none" if dep.recreate else "unchanged" if action == "none" else \
        site_change(served, site_of(lane, served_port or PORT_PLACEHOLDER))
    status = part("proxy").split()
    would = None if dep.recreate or "running" in status else \
        "start" if "installed" in status else "install"
    old = () if dep.recreate else handover.parse(part("old-sites"))
    if any(o.active for o in old):  # the proxy kind changed: see run/handover.py
        would = f"take over from {next(o.kind for o in old if o.active)}"
    return TargetCheck(host, lane.host.address, dep.name, dep.artifact.name,
                       artifact.digest if known else None,
                       artifact_move(engine, lane, artifact, sections), action,
                       live.id if live else None, site,
                       None if dep.recreate else px.site_path(dep.name), would,
                       None if dep.recreate else lane.switching.said,
                       notes.get(dep.artifact.name))


def live_release(state, served_port: int | None):
    """The live release as `flow.recover` would see it: a release still `starting` that
    the proxy serves is live (a run was killed between the switch and the state write)."""
    for release in state.releases:
        if release.status == "starting" and served_port and release.port == served_port:
            return release
    return state.live_release


def release_action(live, running: set[str], config: str | None, *, known: bool = True,
                   recreate: bool = False) -> str:
    """`none`: the live release already is this artifact and config, and runs; else a new
    release: `first` (nothing live), `new` (beside the live one), `replace` (recreate: the
    live one stops first), `unknown` (the digest is known only at deploy)."""
    if live is None:
        return "first"
    if not known:
        return "unknown"
    if config is not None and live.config == config and live.instance in running:
        return "none"
    return "replace" if recreate else "new"


def site_change(served: str, generated: str | None) -> str:
    """`new` (no site served), `unchanged` (the same but for the upstream port), or
    `changed`; `generated` is rendered with the served port (a placeholder when none could
    be read: a site reading the port file names none)."""
    if not served.strip():
        return "new"
    return "unchanged" if generated is not None and generated == served else "changed"


def artifact_move(engine: Engine, lane: Lane, artifact, sections) -> Move:
    """What moves to the target for its artifact, and how many bytes."""
    dep, rt = lane.deployment, lane.runtime
    if artifact is None:
        return Move("unknown")
    if artifact.pull is not None:
        return Move("pull")
    code, said = sections.get(f"{dep.name}/probe", (1, ""))
    if code == 0 and said.strip().splitlines()[-1:] == ["present"]:
        return Move("none", 0)
    if artifact.path is None and artifact.url:  # fetch(via="target")
        return Move("download")
    if artifact.path is not None:
        return Move("whole", _file_size(artifact.path))
    images = engine.images_of(lane)
    layers_part = sections.get(f"layers/{rt.name}")
    if rt.layers() is None or layers_part is None:
        return Move("whole", images.size(artifact.digest))
    diff_ids = images.layers(artifact.digest)
    have = rt.parse_layers(layers_part[1])
    lacking = missing(diff_ids, have)
    sizes = layer_sizes(history_of(images, artifact.digest), diff_ids)
    count = sum(sizes[i] for i in lacking) if sizes is not None else None
    return Move("layers", count, len(lacking), len(diff_ids))


def _file_size(path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def failed(checks: list[TargetCheck]) -> bool:
    return any(c.error for c in checks)
