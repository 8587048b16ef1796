"""A deployment whose proxy kind changed (caddy() to nginx() or back) on a target.

Two proxies cannot both own ports 80/443. At lock time the state read checks the proxy that
runs: when it serves this deployment and nothing else, the new proxy is installed and left
stopped (proxies/install.py), else the run stops there, before anything changed.
The switch then hands the ports over (scripts/proxy-handover.sh): the old proxy stops
gracefully, the new one's switch starts it as soon as the ports are free (the old comes
back if it fails), and the old proxy's site of the deployment is removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from otterfile import scripts
from otterfile.command import Command, script, sequence
from otterfile.proxies import NAMED as PROXIES
from otterfile.proxies.base import Proxy

if TYPE_CHECKING:
    from otterfile.load.project import DeploymentDef
    from otterfile.proxies.base import Site

MARK = "--- otter:old-sites"  # in the state read: other kinds' sites of this deployment

READ_SCRIPT = scripts.load("proxy-sites.sh")  # "KIND active|inactive" for each site


@dataclass(frozen=True)
class OldSite:
    """Another proxy kind's site of the deployment on the target."""

    kind: str
    active: bool  # that proxy runs (and so owns ports 80/443)


def others(dep: DeploymentDef) -> list[Proxy]:
    """The proxy kinds that are not the Otterfile's."""
    return [px for name, px in PROXIES.items() if name != dep.proxy_kind.name]


def ensure(dep: DeploymentDef) -> Command:
    """The Otterfile's proxy installed and running, or (another kind serving this
    deployment alone) installed and left stopped for the switch to take over."""
    return dep.proxy_kind.ensure(dep.proxy, [
        (px.installed.unit, px.site_path(dep.name), px.serving_besides(dep.name))
        for px in others(dep)])


def read(dep: DeploymentDef) -> Command:
    """Which other proxy kinds have a site of `dep` on the target, and whether each runs."""
    args = [a for px in others(dep) for a in (px.name, px.site_path(dep.name))]
    return script(READ_SCRIPT, args=args, description=f"other proxies' sites of {dep.name}")


def parse(text: str) -> tuple[OldSite, ...]:
    """The old sites `read` printed (lines of another form are not ours: skipped)."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in PROXIES and words[1] in ("active", "inactive"):
            out.append(OldSite(words[0], words[1] == "active"))
    return tuple(dict.fromkeys(out))


def switch(dep: DeploymentDef, site: Site, command: Command, old: tuple[OldSite, ...]) -> Command:
    """`command` (the new proxy's switch) run as a handover from the `old` sites' proxies:
    the running one stopped first (once the new proxy's config as it is validates; started
    again if `command` fails), every old site of the deployment removed after it
    succeeded."""
    px = dep.proxy_kind
    running = next((o.kind for o in old if o.active), "")
    forget = sequence(*(PROXIES[o.kind].remove(dep.name) for o in old))
    ports = " ".join(str(p) for p in px.ports(dep.proxy, site))
    return script(scripts.load("proxy-handover.sh"),
                  args=[running, px.name, ports, forget.shell_line(),
                        px.validate().shell_line(), *command.argv],
                  stdin=command.stdin, file=command.file, writes=command.writes,
                  description=f"hand over from {', '.join(o.kind for o in old)} to "
                              f"{px.name}: {command.description}")


def said(dep: DeploymentDef, old: tuple[OldSite, ...]) -> str:
    """What a handover did, for the run's report."""
    running = [o.kind for o in old if o.active]
    kinds = ", ".join(o.kind for o in old)
    moved = f"{running[0]} handed ports 80/443 to {dep.proxy_kind.name} " \
            f"({running[0]} stopped and disabled); " if running else ""
    return f"{moved}{kinds}'s site of {dep.name} removed"
