"""`otter remove`: take a deployment off a target, written over `Runtime` and `Proxy`.

Under the deploy lock, one round trip reads what the target has (state, instances of every
runtime kind, the site of every proxy kind, which artifacts other deployments there still
use); one more takes it away in the order that keeps requests whole: the proxy sites first
(graceful reload, other sites untouched), the live release drained and stopped, every
instance removed by its own runtime, artifacts only this deployment used pruned from each
runtime's store, then state and env files. The data folder stays.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..command import Command, script, sequence
from ..errors import OtterError
from ..lock import DeployLock
from ..proxies import NAMED as PROXIES
from ..runtimes import NAMED as RUNTIMES
from ..state import DEFAULT_BASE, state_dir
from . import kinds
from .kinds import named_by_otter

SITE_MARK = "--- otter:site"
OTHER_MARK = "--- otter:other "
KEPT = ("lock", "data")  # released after the lock; user data is never removed

# $1 base folder, $2 deployment, $3 how many proxy kinds, then a kind and its site file of
# the deployment each; the rest: `read_state`'s argv. Prints the kinds whose site exists.
READ_SCRIPT = r"""
base=$1 name=$2 k=$3 sites=""; shift 3
while [ "$k" -gt 0 ]; do
  [ -f "$2" ] && sites="$sites $1"
  shift 2; k=$((k - 1))
done
"$@" || exit 1
echo "--- otter:site"
for s in $sites; do echo "$s"; done
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
    sites: tuple[str, ...] = ()  # the proxy kinds that have a site of it
    kinds: tuple[str, ...] = ()  # the runtime kind of each instance
    live_kind: str | None = None  # the runtime kind of `live`
    stores: tuple[tuple[str, str], ...] = ()  # (runtime kind, digest) of each release

    @property
    def site(self) -> bool:
        return bool(self.sites)

    @property
    def empty(self) -> bool:
        return not (self.instances or self.releases or self.site)

    @property
    def prunable(self) -> tuple[str, ...]:
        return tuple(d for d in self.digests if d not in self.shared)


def read(dep, base: str = DEFAULT_BASE) -> Command:
    """One read-only round trip: the deployment's state and instances, whether its proxy
    site exists, and the other deployments' states on the host (see `parse`)."""
    listing = kinds.read_state(dep, every=True)
    sites = [a for px in _proxies(dep) for a in (px.name, px.site_path(dep.name))]
    return script(READ_SCRIPT, args=[base.rstrip("/"), dep.name, str(len(sites) // 2), *sites,
                                     *listing.argv],
                  description=f"read what the target has of {dep.name}")


def _proxies(dep) -> list:
    """Every proxy kind, the Otterfile's first (its site goes first)."""
    return [dep.proxy_kind, *(px for px in PROXIES.values() if px is not dep.proxy_kind)]


def parse(dep, host: str, stdout: str) -> Found:
    """A Found from what `read` printed; an unreadable state file of ours is an error, one
    of another deployment keeps every artifact (nothing shared is ever pruned by guess)."""
    mine, _, rest = stdout.partition(SITE_MARK + "\n")
    site, *others = rest.split(OTHER_MARK)
    target = kinds.parse_read(dep, host, mine)
    releases = target.state.releases
    digests = tuple(dict.fromkeys(r.digest for r in releases if r.digest))
    used: set[str] = set()
    for other in others:
        used |= _digests_of(other.partition("\n")[2], digests)
    named = named_by_otter(dep.runtime.kind, dep.name, target.instances)
    keys = [kinds.key(dep, i) for i in named]
    live = target.state.live_release
    serving = live is not None and kinds.release_key(dep, live) in keys
    sites = tuple(dict.fromkeys(w for w in site.split() if w in PROXIES))
    return Found(tuple(n for _, n in keys), live.instance if serving else None,
                 len(releases), digests, tuple(d for d in digests if d in used), sites,
                 tuple(k for k, _ in keys), live.runtime if serving else None,
                 tuple(dict.fromkeys((r.runtime or dep.runtime.kind.name, r.digest)
                                     for r in releases if r.digest)))


def _digests_of(text: str, fallback: tuple[str, ...]) -> set[str]:
    try:
        return {r["digest"] for r in json.loads(text)["releases"] if isinstance(r, dict)
                and isinstance(r.get("digest"), str)}
    except (ValueError, KeyError, TypeError):
        return set(fallback)


def removal(dep, found: Found, base: str = DEFAULT_BASE) -> Command:
    """One round trip taking `found` away; see the module's docstring for the order."""
    steps = [PROXIES[kind].remove(dep.name) for kind in found.sites]
    if found.live and found.site:  # requests the old config still forwards end first
        steps.append(_runtime(dep, found.live_kind).stop(
            found.live, drain_seconds=dep.drain_seconds, stop_seconds=dep.stop_seconds))
    current = dep.runtime.kind.name  # a Found without kinds: the Otterfile's kind
    by_kind: dict[str, list[str]] = {}
    for kind, name in zip(found.kinds or (current,) * len(found.instances), found.instances):
        by_kind.setdefault(kind, []).append(name)
    steps += [RUNTIMES[kind].remove(*names) for kind, names in by_kind.items()]
    stores: dict[str, list[str]] = {}
    for kind, digest in found.stores or tuple((current, d) for d in found.digests):
        if digest not in found.shared:
            stores.setdefault(kind, []).append(digest)
    steps += [RUNTIMES[kind].prune(digests, found.shared) for kind, digests in stores.items()]
    steps.append(script(FORGET_SCRIPT, args=[state_dir(dep.name, base)],
                        description=f"remove state and env files of {dep.name}"))
    return sequence(*steps, description=f"remove {dep.name}")


def _runtime(dep, kind: str | None):
    return RUNTIMES.get(kind or "", dep.runtime.kind)


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
    kept = f" ({len(found.shared)} kept: in use)" if found.shared else ""
    mixed = len(set(found.kinds)) > 1  # a runtime change: say which runs which
    shown = [f"{name} ({kind})" if mixed else name
             for name, kind in zip(found.instances, found.kinds or [""] * len(found.instances))]
    return [", ".join(shown) or "-", ", ".join(found.sites) or "-",
            f"{len(found.prunable)}{kept}", str(found.releases)]
