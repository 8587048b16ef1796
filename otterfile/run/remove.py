"""`otter remove`: take a deployment off a target, written over `Runtime` and `Proxy`.

Under the deploy lock, one round trip reads what the target has (state, instances, the
proxy site, which artifacts other deployments there still use); one more takes it away in
the order that keeps requests whole: the proxy site first (graceful reload, other sites
untouched), the live release drained and stopped, every instance removed, artifacts only
this deployment used pruned, then state and env files. The data folder stays.

An artifact (an image, a stored file) is removed only when otter started this deployment
from it: the store's record (commands/store.STARTED) or the label of one of its instances
says so. A digest that only releases.json names is kept: that file is the target's word,
and it must not make otter delete an image it never loaded for this deployment.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..command import Command, script, sequence
from ..commands import state as states, store
from ..errors import OtterError
from ..lock import DeployLock
from ..state import DEFAULT_BASE, state_dir
from .flow import named_by_otter

SITE_MARK = "--- otter:site"
STARTED_MARK = "--- otter:started"
OTHER_MARK = "--- otter:other "
KEPT = ("lock", "data")  # released after the lock; user data is never removed

# $1 site file, $2 base folder, $3 deployment, $4 its started-artifact records; the rest:
# `read_state`'s argv.
READ_SCRIPT = r"""
site=$1 base=$2 name=$3 started=$4; shift 4
"$@" || exit 1
echo "--- otter:site"
[ -f "$site" ] && echo present
echo "--- otter:started"
[ ! -d "$started" ] || ls -- "$started"
for f in "$base"/*/releases.json; do
  [ -f "$f" ] && [ "$f" != "$base/$name/releases.json" ] || continue
  echo "--- otter:other $f"; cat "$f"; echo
done
exit 0
"""

# $1 the state folder; everything in it but the lock and the data folder goes.
FORGET_SCRIPT = r"""
[ -d "$1" ] || exit 0
cd "$1" || exit 1
for f in * .[!.]*; do
  case "$f" in lock|data|'*'|'.[!.]*') continue ;; esac
  rm -rf -- "$f" || exit 1
done
"""


@dataclass(frozen=True)
class Found:
    """What a target has of a deployment."""

    instances: tuple[str, ...] = ()
    live: str | None = None  # the instance that serves (drained before it stops)
    releases: int = 0
    digests: tuple[str, ...] = ()  # artifacts of this deployment's releases
    shared: tuple[str, ...] = ()  # of those, the ones another deployment here still uses
    site: bool = False
    # of the digests, those otter started this deployment from (a record, a label)
    started: tuple[str, ...] = ()

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


def read(dep, base: str = DEFAULT_BASE) -> Command:
    """One read-only round trip: the deployment's state and instances, whether its proxy
    site exists, and the other deployments' states on the host (see `parse`)."""
    listing = states.read_state(dep.name, dep.runtime.kind.listing(dep.name), base=base)
    return script(READ_SCRIPT, args=[dep.proxy_kind.site_path(dep.name), base.rstrip("/"),
                                     dep.name, store.started_dir(dep.name, base),
                                     *listing.argv],
                  description=f"read what the target has of {dep.name}")


def parse(dep, host: str, stdout: str) -> Found:
    """A Found from what `read` printed; an unreadable state file of ours is an error, one
    of another deployment keeps every artifact (nothing shared is ever pruned by guess)."""
    rt = dep.runtime.kind
    mine, _, rest = stdout.partition(SITE_MARK + "\n")
    rest, *others = rest.split(OTHER_MARK)
    site, _, records = rest.partition(STARTED_MARK + "\n")
    target = states.parse_read(mine, rt.parse_listing,
                               f"{host}:{states.state_path(dep.name)}",
                               lambda release: rt.instance_name(dep.name, release))
    digests = tuple(dict.fromkeys(r.digest for r in target.state.releases if r.digest))
    used: set[str] = set()
    for other in others:
        used |= _digests_of(other.partition("\n")[2], digests)
    ours = named_by_otter(rt, dep.name, target.instances)
    named = [i.name for i in ours]
    live = target.state.live_release
    return Found(tuple(named), live.instance if live and live.instance in named else None,
                 len(target.state.releases), digests,
                 tuple(d for d in digests if d in used), site.strip() == "present",
                 _started(digests, set(records.split()), {i.digest for i in ours}))


def _started(digests: tuple[str, ...], records: set[str], labels: set[str]) -> tuple[str, ...]:
    """The digests a record (by hex) or an instance's label names."""
    def hex_or_none(digest: str) -> str | None:
        try:
            return store.hex_of(digest)
        except OtterError:
            return None
    return tuple(d for d in digests if d in labels or hex_or_none(d) in records)


def _digests_of(text: str, fallback: tuple[str, ...]) -> set[str]:
    try:
        return {r["digest"] for r in json.loads(text)["releases"] if isinstance(r, dict)
                and isinstance(r.get("digest"), str)}
    except (ValueError, KeyError, TypeError):
        return set(fallback)


def removal(dep, found: Found, base: str = DEFAULT_BASE) -> Command:
    """One round trip taking `found` away; see the module's docstring for the order."""
    rt, steps = dep.runtime.kind, []
    if found.site:
        steps.append(dep.proxy_kind.remove(dep.name))
    if found.live and found.site:  # requests the old config still forwards end first
        steps.append(rt.stop(found.live, drain_seconds=dep.drain_seconds,
                             stop_seconds=dep.stop_seconds))
    if found.instances:
        steps.append(rt.remove(*found.instances))
    if found.prunable:
        steps.append(rt.prune(found.prunable, found.shared))
    steps.append(script('rm -rf -- "$1"', args=[store.started_dir(dep.name, base)],
                        description=f"remove the records of what {dep.name} started"))
    steps.append(script(FORGET_SCRIPT, args=[state_dir(dep.name, base)],
                        description=f"remove state and env files of {dep.name}"))
    return sequence(*steps, description=f"remove {dep.name}")


def forget_folder(deployment: str, base: str = DEFAULT_BASE) -> Command:
    """After the lock is released: the state folder itself, when nothing (data) is left."""
    return script('rmdir -- "$1" 2>/dev/null; exit 0', args=[state_dir(deployment, base)],
                  description=f"remove the state folder of {deployment}")


def inspect(dep, executor) -> Found:
    """What `remove` would take away from the executor's host (read-only, no lock)."""
    result = executor.run(read(dep))
    if not result.ok:
        raise OtterError(f"{executor.host.name}: reading {dep.name} failed (exit "
                         f"{result.exited}): {result.tail(5)}")
    return parse(dep, executor.host.name, result.stdout)


def remove(dep, executor, *, lock_wait: float = 0, run_id: str | None = None) -> Found:
    """Take `dep` off the executor's host under its deploy lock; returns what was there."""
    lock = DeployLock(executor, dep.name, run_id=run_id)
    lock.acquire(wait_seconds=lock_wait)
    try:
        found = inspect(dep, executor)
        result = executor.run(removal(dep, found))
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
    return [", ".join(found.instances) or "-", "yes" if found.site else "-",
            f"{len(found.prunable)}{kept}", str(found.releases)]


def deletes(dep, found: Found, base: str = DEFAULT_BASE) -> list[str]:
    """What `remove` deletes on one target, a line each, for the question it asks."""
    rt, folder = dep.runtime.kind, state_dir(dep.name, base)
    what = "images" if "image" in rt.forms else f"files in {store.STORE}"
    kept = [f"{_short(d)} (another deployment uses it)" for d in found.shared] + \
        [f"{_short(d)} (otter has no record of starting {dep.name} from it)"
         for d in found.unknown if d not in found.shared]
    lines = [f"{rt.name} instances: {', '.join(found.instances) or 'none'}",
             f"{what}: {', '.join(map(_short, found.prunable)) or 'none'}"
             + (f"; kept: {', '.join(kept)}" if kept else ""),
             f"proxy site: {dep.proxy_kind.site_path(dep.name) if found.site else 'none'}",
             f"state folder {folder}: {found.releases} release records, the deploy log, env "
             f"files (secrets){', release folders' if 'image' not in rt.forms else ''}; "
             f"{folder}/data stays",
             f"records in {store.started_dir(dep.name, base)}"]
    return lines


def _short(digest: str) -> str:
    return digest[:19] if digest.startswith("sha256:") else digest[:12]
