"""`otter remove`: take a deployment off a target, written over `Runtime` and `Proxy`.

Under the deploy lock, one round trip reads what the target has (state, instances of every
runtime kind, the site of every proxy kind, which artifacts other deployments there still
use); one more takes it away in the order that keeps requests whole: the proxy sites first
(graceful reload, other sites untouched), the live release drained (until nothing is in
flight to its port, at most drain_seconds) and stopped, every instance removed by its own
runtime, artifacts only this deployment used pruned from each runtime's store, then state
and env files. The data (volumes, data folder) stays, except a
preview's: it is the preview's own (load/previews.py) and goes with it.

An artifact (an image, a stored file) is removed only when otter started this deployment
from it: the store's record (commands/store.STARTED) or the label of one of its instances
says so. A digest that only releases.json names is kept: that file is the target's word,
and it must not make otter delete an image it never loaded for this deployment.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from otterfile.command import Command, script, sequence
from otterfile.commands import drain as drains, store
from otterfile.errors import OtterError
from otterfile.run.lock import DeployLock
from otterfile.run.retire_later import retire_wait
from otterfile.proxies import NAMED as PROXIES
from otterfile.runtimes import NAMED as RUNTIMES
from otterfile.scripts import load
from otterfile.run.state import DEFAULT_BASE, state_dir
from otterfile.run import kinds, schedules, target, window
from otterfile.run.kinds import named_by_otter

if TYPE_CHECKING:
    from otterfile.executors.base import Executor
    from otterfile.load.project import DeploymentDef
    from otterfile.runtimes.base import Runtime

OTHER_MARK = "--- otter:other "

OTHERS_SCRIPT = load("remove/others.sh")
FORGET_SCRIPT = load("remove/forget.sh")


@dataclass(frozen=True)
class Found:
    """What a target has of a deployment."""

    instances: tuple[str, ...] = ()
    live: str | None = None  # the instance that serves (drained before it stops)
    releases: int = 0
    digests: tuple[str, ...] = ()  # artifacts of this deployment's releases
    shared: tuple[str, ...] = ()  # of those, the ones another deployment here still uses
    sites: tuple[str, ...] = ()  # the proxy kinds that have a site of it
    # of the digests, those otter started this deployment from (a record, a label)
    started: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # the runtime kind of each instance
    live_kind: str | None = None  # the runtime kind of `live`
    stores: tuple[tuple[str, str], ...] = ()  # (runtime kind, digest) of each release
    kept: bool = False  # a release is kept for the rollback window: its timer is cancelled
    live_port: int | None = None  # `live`'s port: its drain waits for that port to go idle

    @property
    def site(self) -> bool:
        return bool(self.sites)

    @property
    def empty(self) -> bool:
        return not (self.instances or self.releases or self.site)

    @property
    def prunable(self) -> tuple[str, ...]:
        return tuple(d for d in self.digests if d not in self.shared and d in self.started)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Digests releases.json names that otter has no record of starting: kept."""
        return tuple(d for d in self.digests if d not in self.started)


def read(dep: DeploymentDef, base: str = DEFAULT_BASE) -> Command:
    """One read-only round trip: the target read (run/target.py) with the instances of every
    runtime kind and every proxy kind's site, then the other deployments' states on the
    host (see `parse`)."""
    others = script(OTHERS_SCRIPT, args=[base.rstrip("/"), dep.name],
                    description="other deployments' states")
    return sequence(target.command(dep, every=True, sites=True), others,
                    description=f"read what the target has of {dep.name}")


def parse(dep: DeploymentDef, host: str, stdout: str) -> Found:
    """A Found from what `read` printed; an unreadable state file of ours is an error, one
    of another deployment keeps every artifact (nothing shared is ever pruned by guess)."""
    mine, *others = stdout.split(OTHER_MARK)
    reading = target.parse(dep, host, mine)
    releases = reading.state.releases
    digests = tuple(dict.fromkeys(r.digest for r in releases if r.digest))
    used: set[str] = set()
    for other in others:
        used |= _digests_of(other.partition("\n")[2], digests)
    ours = named_by_otter(dep.runtime.kind, dep.name, reading.target.instances)
    keys = [kinds.key(dep, i) for i in ours]
    _, live = target.live(dep, reading)
    serving = live is not None and kinds.release_key(dep, live) in keys
    sites = [dep.proxy_kind.name] if reading.site.strip() else []
    return Found(tuple(n for _, n in keys), live.instance if serving and live else None,
                 len(releases), digests, tuple(d for d in digests if d in used),
                 tuple(dict.fromkeys(sites + [o.kind for o in reading.old_sites])),
                 _started(digests, set(reading.started), {i.digest for i in ours}),
                 tuple(k for k, _ in keys), live.runtime if serving and live else None,
                 tuple(dict.fromkeys((r.runtime or dep.runtime.kind.name, r.digest)
                                     for r in releases if r.digest)), reading.kept is not None,
                 live.port if serving and live and isinstance(live.port, int) else None)


def _started(digests: tuple[str, ...], records: set[str], labels: set[str]) -> tuple[str, ...]:
    """The digests a record (by hex) or an instance's label names."""
    return tuple(d for d in digests if d in labels or store.hex_or_none(d) in records)


def _digests_of(text: str, fallback: tuple[str, ...]) -> set[str]:
    try:
        return {r["digest"] for r in json.loads(text)["releases"] if isinstance(r, dict)
                and isinstance(r.get("digest"), str)}
    except (ValueError, KeyError, TypeError):
        return set(fallback)


def removal(dep: DeploymentDef, found: Found, base: str = DEFAULT_BASE, *,
            with_data: bool = False) -> Command:
    """One round trip taking `found` away; see the module's docstring for the order.
    `with_data` (a preview's removal): its data too, once its instances are gone."""
    steps = [PROXIES[kind].remove(dep.name) for kind in found.sites]
    steps.append(schedules.remove(dep.name))  # no timer starts a run in what goes next
    if found.live and found.site:  # requests the old config still forwards end first
        drain = drains.drain(found.live_port, dep.drain_seconds)  # None: a timed drain
        steps += [drain] if drain else []
        steps.append(_runtime(dep, found.live_kind).stop(
            found.live, drain_seconds=0 if drain else dep.drain_seconds,
            stop_seconds=dep.stop_seconds))
    for kind, names in _by_kind(dep, found).items():
        steps.append(RUNTIMES[kind].remove(*names))
    stores: dict[str, list[str]] = {}
    for kind, digest in found.stores or tuple((dep.runtime.kind.name, d)
                                              for d in found.digests):
        if digest in found.prunable:
            stores.setdefault(kind, []).append(digest)
    steps += [RUNTIMES[kind].prune(digests, found.shared) for kind, digests in stores.items()]
    dropped = dep.runtime.kind.drop_data(dep.runtime.value, dep.name) if with_data else None
    if dropped is not None:
        steps.append(dropped)
    steps.append(script('rm -rf -- "$1"', args=[store.started_dir(dep.name, base)],
                        description=f"remove the records of what {dep.name} started"))
    if found.kept:  # its instance is removed above: the timer would find nothing
        steps.append(window.cancel(dep.name))
    steps.append(script(FORGET_SCRIPT, args=[state_dir(dep.name, base)],
                        description=f"remove state and env files of {dep.name}"))
    return sequence(*steps, description=f"remove {dep.name}")


def _runtime(dep: DeploymentDef, kind: str | None) -> Runtime:
    return RUNTIMES.get(kind or "", dep.runtime.kind)


def _by_kind(dep: DeploymentDef, found: Found) -> dict[str, list[str]]:
    """The instances by runtime kind (a Found without kinds: the Otterfile's)."""
    out: dict[str, list[str]] = {}
    kinds_ = found.kinds or (dep.runtime.kind.name,) * len(found.instances)
    for kind, name in zip(kinds_, found.instances):
        out.setdefault(kind, []).append(name)
    return out


def forget_folder(deployment: str, base: str = DEFAULT_BASE) -> Command:
    """After the lock is released: the state folder itself, when nothing (data) is left."""
    return script('rmdir -- "$1" 2>/dev/null; exit 0', args=[state_dir(deployment, base)],
                  description=f"remove the state folder of {deployment}")


def inspect(dep: DeploymentDef, executor: Executor) -> Found:
    """What `remove` would take away from the executor's host (read-only, no lock)."""
    result = executor.run(read(dep))
    if not result.ok:
        raise OtterError(f"{executor.host.name}: reading {dep.name} failed (exit "
                         f"{result.exited}): {result.tail(5)}")
    return parse(dep, executor.host.name, result.stdout)


def remove(dep: DeploymentDef, executor: Executor, *, lock_wait: float = 0,
           run_id: str | None = None, first: Command | None = None,
           with_data: bool = False) -> Found:
    """Take `dep` off the executor's host under its deploy lock (after `first`, when
    given: a preview's expiry timer stopped; `with_data`: a preview's data too); returns
    what was there."""
    lock = DeployLock(executor, dep.name, run_id=run_id, retire_wait=retire_wait(dep))
    lock.acquire(wait_seconds=lock_wait)
    try:
        if first is not None:
            executor.run(first)
        found = inspect(dep, executor)
        result = executor.run(removal(dep, found, with_data=with_data))
        if not result.ok:
            raise OtterError(f"{executor.host.name}: removing {dep.name} failed (exit "
                             f"{result.exited}): {result.tail(8) or result.tail(8, 'stdout')}")
    finally:
        lock.release()
    executor.run(forget_folder(dep.name))
    return found


def describe(found: Found) -> list[str]:
    """Table cells: instances, proxy site, artifacts pruned (and kept), releases."""
    why = [f"{len(found.shared)} in use"] if found.shared else []
    unknown = [d for d in found.unknown if d not in found.shared]
    why += [f"{len(unknown)} not started here by otter"] if unknown else []
    kept = f" (kept: {', '.join(why)})" if why else ""
    mixed = len(set(found.kinds)) > 1  # a runtime change: say which runs which
    shown = [f"{name} ({kind})" if mixed else name
             for name, kind in zip(found.instances, found.kinds or [""] * len(found.instances))]
    return [", ".join(shown) or "-", ", ".join(found.sites) or "-",
            f"{len(found.prunable)}{kept}", str(found.releases)]


def deletes(dep: DeploymentDef, found: Found, base: str = DEFAULT_BASE) -> list[str]:
    """What `remove` deletes on one target, a line each, for the question it asks."""
    rt, folder = dep.runtime.kind, state_dir(dep.name, base)
    images = any("image" in RUNTIMES[k].forms for k, _ in found.stores) or "image" in rt.forms
    files = any("image" not in RUNTIMES[k].forms for k, _ in found.stores) or \
        "image" not in rt.forms
    what = " and ".join(w for w, yes in (("images", images), (f"files in {store.STORE}",
                                                                files)) if yes)
    kept = [f"{_short(d)} (another deployment uses it)" for d in found.shared] + \
        [f"{_short(d)} (otter has no record of starting {dep.name} from it)"
         for d in found.unknown if d not in found.shared]
    instances = [f"{kind} instances: {', '.join(names)}"
                 for kind, names in _by_kind(dep, found).items()]
    sites = [PROXIES[kind].site_path(dep.name) for kind in found.sites]
    lines = [*(instances or [f"{rt.name} instances: none"]),
             f"{what}: {', '.join(map(_short, found.prunable)) or 'none'}"
             + (f"; kept: {', '.join(kept)}" if kept else ""),
             f"proxy site: {', '.join(sites) or 'none'}",
             f"state folder {folder}: {found.releases} release records, the deploy log, env "
             f"files (secrets){', release folders' if files else ''}; {folder}/data stays",
             f"records in {store.started_dir(dep.name, base)}"]
    return lines


def _short(digest: str) -> str:
    return digest[:19] if digest.startswith("sha256:") else digest[:12]
