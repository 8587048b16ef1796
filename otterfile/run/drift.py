"""`otter plan NAME --check --exit-code`, the drift gate: whether each target runs what the
Otterfile declares, and what differs.

It rides on `plan --check`'s one read-only round trip per target (run/check.py): the target
read (run/target.py) also prints the files a start wrote for the deployment's releases
(scripts/read-files.sh: the glob of each path with the release id as `*`). Per deployment
and target this compares, by the run's own rules: the release (check_judge.py's verdict, with
why), the proxy and its site (site_of, as the switch renders it), and the live release's
generated files (the unit, the env file) rendered by the start stage's own spec. Env values
are masked before anything keeps them: a Drift never holds a secret.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from otterfile.command import Command, script
from otterfile.commands import state as states
from otterfile.run import kinds, target
from otterfile.run.drift_files import as_started, mask_env, parse_files, unified
from otterfile.run.fingerprint import config_of
from otterfile.run.flow import start_spec
from otterfile.run.state import PORT_PLACEHOLDER
from otterfile.run.switching import site_of
from otterfile.scripts import load
from otterfile.secrets import Secret

if TYPE_CHECKING:
    from otterfile.artifacts.base import Artifact
    from otterfile.run.check_judge import TargetCheck
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.run.state import Release

RELEASE = "otter-drift-release"  # stands for the release id in the paths read, as `*`


@dataclass(frozen=True)
class FileDiff:
    """One generated file that differs: `kind` is `site`, `env` or `file` (a unit);
    `diff` a unified diff from the target's text to the Otterfile's, values masked."""

    path: str
    kind: str
    diff: str


@dataclass(frozen=True)
class Drift:
    """What would change on one target for one deployment; no change: in sync."""

    changes: tuple[str, ...] = ()
    diffs: tuple[FileDiff, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not self.changes


def read(engine: Engine, lane: Lane) -> Command:
    """The target's files a start writes for the deployment (every release's: the live
    release's id is known only from the same read), for `target.command(files=...)`."""
    paths = [states.env_file_path(lane.deployment.name, RELEASE)]
    artifact = engine.artifacts.get(lane.deployment.artifact.name)
    if artifact is not None and artifact.digest:
        paths += generated(engine, lane, artifact, RELEASE)
    return script(load("read-files.sh"), args=[p.replace(RELEASE, "*") for p in
                                                dict.fromkeys(paths)],
                  description=f"files otter generated for {lane.deployment.name}")


def generated(engine: Engine, lane: Lane, artifact: Artifact, release: str) -> dict[str, str]:
    """Path -> text of the files the start stage writes for `release` (real values: the
    caller masks the env file)."""
    start = lane.runtime.start(lane.deployment.runtime.value,
                               start_spec(engine, lane, artifact, release))
    out = {path: text for path, text in start.writes if text is not None}
    if start.file is not None and start.stdin is not None:
        out[start.file] = str(start.stdin)
    return out


def drifted(engine: Engine, lane: Lane, sections: dict[str, tuple[int, str]],
            found: TargetCheck) -> TargetCheck:
    """`found` (check_judge's verdict on this lane) with its drift, or an error when it
    cannot be told (the artifact's digest is known only at deploy)."""
    if found.error:
        return found
    if found.release == "unknown":  # a build host's build, a registry tag not pinned
        why = f"its artifact is {found.note}" if found.note else (
            "its digest is known only when a target pulls it (a pinned image, "
            "IMAGE@sha256:..., can be told)")
        return replace(found, error=f"{found.host}: cannot tell whether {found.deployment} "
                       f"would change: {why}")
    dep, host = lane.deployment, lane.host.name
    reading = target.parse(dep, host, sections.get(f"{dep.name}/read", (0, ""))[1])
    _, live = target.live(dep, reading)
    changes = _release(engine, lane, reading, live, found) + _proxy(lane, found) + \
        [f"schedule {name}: no longer declared: a run removes its timer and service"
         for name in found.schedules]
    diffs: list[FileDiff] = []
    if dep.proxied:
        diffs += _site(lane, reading)
    if live is not None and live.runtime == lane.runtime.name:
        diffs += _files(engine, lane, reading, live)
    # a run that starts no release rewrites none of them (see flow.start)
    kept = " (a run that starts no release leaves it so)" if found.release == "none" else ""
    changes += [_said(one) + kept for one in diffs]
    return replace(found, drift=Drift(tuple(changes), tuple(diffs)))


def _release(engine: Engine, lane: Lane, reading: target.Reading, live: Release | None,
             found: TargetCheck) -> list[str]:
    """Why a run would start a release here, by the no-op rule's parts."""
    dep, rt = lane.deployment, lane.runtime
    if found.release == "none":
        return []
    if live is None:
        return ["release: no release state on the target: a run starts the first release"
                if not reading.state.releases else
                "release: no live release: a run starts one"]
    digest = found.digest or ""
    why = []
    if live.runtime != rt.name:
        why.append(f"the runtime changes from {live.runtime} to {rt.name}")
    if kinds.release_key(dep, live) not in target.running(dep, reading):
        why.append(f"its instance {live.instance} is not running")
    if live.digest != digest:
        why.append(f"a new artifact ({live.digest[:19]} -> {digest[:19]})")
    elif not reading.key.strip():
        why.append("the target has no fingerprint key")
    elif live.config != config_of(engine, lane, digest, reading.key):
        why.append("its env, runtime settings or proxy changed")
    if reading.old_sites:
        why.append(f"{reading.old_sites[0].kind} has a site of it: {lane.proxy.name} "
                   "takes over")
    how = (f"{live.id} stops and a new release starts" if found.release == "replace" else
           f"a new release starts beside {live.id}")
    return [f"release: {how}" + (f" ({'; '.join(why)})" if why else "")]


def _proxy(lane: Lane, found: TargetCheck) -> list[str]:
    name = lane.proxy.name
    return {"install": [f"proxy: {name} is not installed: a run installs it"],
            "start": [f"proxy: {name} is not running: a run starts it"]}.get(found.proxy or "",
                                                                          [])


def _site(lane: Lane, reading: target.Reading) -> list[FileDiff]:
    """The served site against the one the switch renders (for the port it serves)."""
    dep = lane.deployment
    path = lane.proxy.site_path(dep.name)
    want = site_of(lane, target.served_port(dep, reading) or PORT_PLACEHOLDER)
    there = f"{lane.host.name}:{path}" if reading.site.strip() else "/dev/null"
    diff = unified(reading.site, want, there, "Otterfile")
    return [FileDiff(path, "site", diff)] if diff else []


def _files(engine: Engine, lane: Lane, reading: target.Reading,
           live: Release) -> list[FileDiff]:
    """The live release's generated files (env values masked) against the Otterfile's."""
    artifact = engine.artifacts.get(lane.deployment.artifact.name)
    if artifact is None or not artifact.digest:
        return []
    env_path = states.env_file_path(lane.deployment.name, live.id)
    want = generated(engine, lane, artifact, live.id)
    have = parse_files(reading.files or "")
    # by the Otterfile's word (the engine's env holds the values read)
    secret = frozenset(k for k, v in lane.deployment.runtime.env if isinstance(v, Secret))
    out = []
    for path in dict.fromkeys([*want, *([env_path] if env_path in have else [])]):
        there, ours = have.get(path, ""), want.get(path, "")
        if path == env_path:
            there, ours = mask_env(there, ours, secret), mask_env(ours, ours, secret)
        else:
            ours = as_started(ours, live.port, there)
        diff = unified(there, ours, f"{lane.host.name}:{path}" if path in have else
                       "/dev/null", "Otterfile" if path in want else "/dev/null")
        if diff:
            out.append(FileDiff(path, "env" if path == env_path else "file", diff))
    return out


def _said(one: FileDiff) -> str:
    what = {"site": "proxy site", "env": "env file", "file": "file"}[one.kind]
    if one.diff.startswith("--- /dev/null"):
        return f"{what} {one.path}: missing on the target"
    if "\n+++ /dev/null" in one.diff:
        return f"{what} {one.path}: the Otterfile declares none (a run stops using it)"
    return f"{what} {one.path}: differs from what otter generates"
