"""The runtime and proxy kinds a deployment's releases on a target name.

Each release records the runtime kind that started it and the proxy kind that served it, so
a release is stopped, removed and pruned by its own runtime whatever the Otterfile names
now. A record an older otter wrote names neither: the Otterfile's kinds are assumed for it,
and said. Instances are listed for the Otterfile's runtime kind and every kind the state
names (`remove`: every kind).
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Iterable

from otterfile.command import Command, sequence
from otterfile.commands import state as states, store
from otterfile.errors import OtterError
from otterfile.proxies import NAMED as PROXIES
from otterfile.runtimes import NAMED as RUNTIMES, Instance
from otterfile.runtimes.base import Runtime
from otterfile.run.state import Release, State, images_to_remove
from otterfile.run.state_file import Kinds, assume_kinds

if TYPE_CHECKING:
    from otterfile.executors.base import Executor
    from otterfile.load.project import DeploymentDef


def proxy_name(dep: DeploymentDef) -> str | None:
    """The proxy kind that serves `dep`'s releases (None: a recreate one without domains)."""
    return dep.proxy_kind.name if dep.proxied else None


def kinds_of(dep: DeploymentDef) -> Kinds:
    """What `dep`'s releases.json is checked against (see state_file.Kinds)."""
    return Kinds(tuple(RUNTIMES), tuple(PROXIES), dep.runtime.kind.name, proxy_name(dep),
                 lambda kind, release: RUNTIMES[kind].instance_name(dep.name, release))


def read_state(dep: DeploymentDef, *, log_lines: int = 0, every: bool = False) -> Command:
    """One round trip: releases.json, the instances of the Otterfile's runtime kind and
    of each other kind the file names (`every`: of every kind), the deploy log."""
    current = dep.runtime.kind
    listings = {current.name: current.listing(dep.name)}
    listings.update((name, rt.listing(dep.name)) for name, rt in RUNTIMES.items()
                    if name != current.name)
    return states.read_state(dep.name, listings, log_lines=log_lines, every=every)


def parse_read(dep: DeploymentDef, host: str, stdout: str) -> states.TargetState:
    """What `read_state` printed, checked (an OtterError names the host, file and field);
    every release has its kinds. A record an older otter wrote names none: its runtime is
    the one that lists its instance, else the only one that names an instance so, else the
    Otterfile's (`assumed` says which was which); its proxy is the Otterfile's."""
    parsers = {dep.runtime.kind.name: dep.runtime.kind.parse_listing}
    parsers.update((name, rt.parse_listing) for name, rt in RUNTIMES.items())
    target = states.parse_read(stdout, parsers, f"{host}:{states.state_path(dep.name)}",
                               kinds_of(dep))
    told = {r.id: _told(dep, r, target.instances) for r in target.state.releases
            if r.runtime is None}
    state, _ = assume_kinds(target.state, dep.runtime.kind.name, proxy_name(dep),
                            lambda release: told[release.id][0])
    return replace(target, state=state,
                   assumed=tuple((rid, kind, how) for rid, (kind, how) in told.items()))


def _told(dep: DeploymentDef, release: Release, instances: list[Instance]) -> tuple[str, str]:
    """(runtime kind, how it was told) of a release whose record names none."""
    current = dep.runtime.kind.name
    listed = {i.kind for i in instances if i.name == release.instance and
              i.release == release.id and i.kind}
    if len(listed) == 1:
        return listed.pop(), "found"
    naming = [kind for kind, rt in RUNTIMES.items()
              if rt.instance_name(dep.name, release.id) == release.instance]
    if naming and current not in naming:
        return naming[0], "named"
    return current, "assumed"


def complete(dep: DeploymentDef, executor: Executor, target: states.TargetState,
             log_lines: int = 0) -> states.TargetState:
    """`target`, read again with every kind listed when the state names a runtime kind whose
    instances the read did not list (its quick look at the file missed it)."""
    told = {rid for rid, _, how in target.assumed if how != "found"}
    named = {r.runtime for r in target.state.releases if r.id not in told}
    if named <= target.listed:
        return target
    result = executor.run(read_state(dep, log_lines=log_lines, every=True))
    if not result.ok:
        raise OtterError(f"{executor.host.name}: listing {dep.name}'s instances failed "
                         f"(exit {result.exited}): {result.tail(5)}")
    return parse_read(dep, executor.host.name, result.stdout)


HOW = {"found": "its instance is there", "named": "its instance has that kind's name",
       "assumed": "the Otterfile's"}


def assumed_note(dep: DeploymentDef, host: str, target: states.TargetState) -> str | None:
    """What to say when records named no runtime (an older otter's): which kind each got."""
    if not target.assumed:
        return None
    proxy = proxy_name(dep)
    told: dict[tuple[str, str], int] = {}
    for _, kind, how in target.assumed:
        told[(kind, how)] = told.get((kind, how), 0) + 1
    parts = [f"{count} {kind} ({HOW[how]})" for (kind, how), count in told.items()]
    said = f"; their proxy is taken to be {proxy}, the Otterfile's" if proxy else ""
    return (f"{host}: releases.json names no runtime for {len(target.assumed)} release(s) "
            f"(an older otter wrote it): {', '.join(parts)}{said}")


def runtime_of(dep: DeploymentDef, release: Release) -> Runtime:
    """The runtime kind that started `release` (the Otterfile's for one that names none)."""
    return RUNTIMES.get(release.runtime or "", dep.runtime.kind)


def remove_instances(dep: DeploymentDef, instances: Iterable[Instance]) -> Command:
    """One round trip removing `instances`, each by its runtime kind (an untagged one: the
    Otterfile's)."""
    grouped: dict[str, list[str]] = {}
    for instance in instances:
        grouped.setdefault(instance.kind or dep.runtime.kind.name, []).append(instance.name)
    removals = [RUNTIMES[kind].remove(*names) for kind, names in grouped.items()]
    return removals[0] if len(removals) == 1 else sequence(*removals)


def key(dep: DeploymentDef, instance: Instance) -> tuple[str, str]:
    """(runtime kind, name): docker and podman name their containers alike."""
    return instance.kind or dep.runtime.kind.name, instance.name


def release_key(dep: DeploymentDef, release: Release) -> tuple[str, str | None]:
    """The `key` of `release`'s instance."""
    return runtime_of(dep, release).name, release.instance


def named_by_otter(rt: Runtime, deployment: str, instances: list[Instance]) -> list[Instance]:
    """The instances whose name is the one otter derives from their release label under
    the runtime kind that listed them (`rt` for an untagged one); one labelled by hand under
    another name is never removed."""
    def ours(instance: Instance) -> bool:
        runtime = RUNTIMES.get(instance.kind, rt)
        try:
            return bool(instance.release) and \
                instance.name == runtime.instance_name(deployment, instance.release)
        except OtterError:  # a release label otter never writes
            return False
    return [i for i in instances if ours(i)]


def prunes(dep: DeploymentDef, state: State, pruned: list[Release], new: Release,
           started: frozenset[str]) -> list[Command]:
    """Each runtime kind's store pruned of the artifacts that only `pruned` and failed
    releases of that kind used (the new release's artifact always stays), among those otter
    started the deployment from (`started`, hex): releases.json alone, a file on the
    target, never makes otter remove an image."""
    steps, gone = [], []
    for kind in dict.fromkeys(runtime_of(dep, r).name for r in state.releases):
        remove = [d for d in images_to_remove(state, pruned, kind)
                  if store.hex_or_none(d) in started]
        if remove:
            keep = [new.digest] if runtime_of(dep, new).name == kind else []
            steps.append(RUNTIMES[kind].prune(remove, keep))
            gone += [d for d in remove if d not in keep]
    if gone:
        steps.append(store.forget_started(dep.name, gone))
    return steps
