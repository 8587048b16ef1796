"""The Proxy interface: what the deploy flow needs of a reverse proxy on a target.

A proxy kind is declared in kinds.py (its checks) and handled by one module with one object
implementing this; `proxies.KINDS` maps the Otterfile value's type (`caddy(...)`,
`nginx(...)`) to it. Every method only builds
Commands or text; nothing here runs a process.

How a switch works: the site file reads the live release's port per request from the one
file in the deployment's upstream folder (`state.upstream_dir`), so a new release is one
rename there and no reload; the site is installed, validated and reloaded only when its text
changes. Where the proxy cannot read the port per request (nginx without njs) or the user
chose `switch="reload"`, the site names the port and every switch reloads. A fleet site
(Deployment(balance="fleet"), `Fleet`) names the local port and the other targets'
releases, and every switch is a graceful reload (Caddy cannot health-check a placeholder).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

from otterfile.command import Command, script
from otterfile.run.state import upstream_dir
from otterfile.report.text import printable
from otterfile.proxies.install import Install
from otterfile.proxies.maintenance import Page
from otterfile.scripts import load
from otterfile.proxies.kinds import ProxyKind

# Exit codes every proxy's switch script uses, so the flow reads them the same way.
EXIT_MISSING, EXIT_INVALID, EXIT_RELOAD = 3, 4, 5
FILE = "file"  # what a switch probe prints when the port file is read per request


@dataclass(frozen=True)
class Fleet:
    """Deployment(balance="fleet"): the other targets' live releases the site forwards to
    when its own fails ("10.0.0.6:41002", in the deployment's order), and what the proxy's
    health checks ask of every release (`status` None: any 2xx)."""

    peers: tuple[str, ...] = ()
    path: str = "/"
    status: int | None = None
    interval_seconds: int = 2  # Caddy's active health checks


@dataclass(frozen=True)
class Site:
    """What a deployment asks of the proxy on one target."""

    deployment: str
    domains: tuple[str, ...]
    upstream_port: int | str  # the live release's port on 127.0.0.1 (or a plan placeholder)
    listen_port: int | None  # with no domains: the port to listen on, all interfaces
    per_request: bool = True  # the site reads the port file; False: it names the port
    hold_seconds: int = 0  # strategy="recreate": requests wait this long for the release
    fleet: Fleet | None = None  # balance="fleet": the other targets' releases too

    @property
    def upstream_dir(self) -> str:
        """Where the switch writes the port file (in both ways of switching)."""
        return upstream_dir(self.deployment)


@dataclass(frozen=True)
class Switching:
    """How a proxy switches on one target: per request from the port file, or by reload
    (`why` says why, for the run's output, `plan --check` and `status`)."""

    per_request: bool = True
    why: str = ""

    @property
    def said(self) -> str:
        """As a switch probe prints it: "file", or "reload: WHY"."""
        return FILE if self.per_request else f"reload: {self.why}"


def parse_switching(text: str, chosen: str = FILE) -> Switching:
    """A Switching from what a switch probe printed ("file", or "reload: WHY"); a proxy set
    to `switch="reload"` reloads whatever the host could do. No answer: per request."""
    if chosen == "reload":
        return Switching(False, 'chosen in the Otterfile (switch="reload")')
    line = (text.strip().splitlines() or [FILE])[-1].strip()
    if line == FILE:
        return Switching()
    why = line.partition(":")[2].strip() or line  # the target's words: printable, bounded
    return Switching(False, printable(why, keep="")[:300])


def listed_port(listing: str) -> int | None:
    """The port the proxies read from an upstream folder's listing (one name a line): the
    first all-digit name in name order, as Caddy's glob and otter's njs pick it."""
    names = sorted(n.strip() for n in listing.splitlines() if n.strip().isdigit())
    port = int(names[0]) if names else 0
    return port if 0 < port < 65536 else None


def served_port(proxy: "Proxy", site_text: str, listing: str) -> int | None:
    """The port a target serves: the one its site names (a reload switch), else the port
    file of its upstream folder (`listing`), when there is a site at all."""
    if not site_text.strip():
        return None
    return proxy.served_port(site_text) or listed_port(listing)


class Proxy(ProxyKind, Protocol):
    """A reverse proxy kind (Caddy, nginx): its declaration (kinds.ProxyKind: checks) and
    what installs, renders and switches it on a target."""

    installed: Install  # its package, binary and unit: what `ensure` installs and starts

    def shipped_digest(self, value: Any, folder: Path) -> str | None:
        """A digest of the files the proxy ships from the controller (a certificate and
        key), so that changing them makes a new release; None when it ships none."""

    def site_path(self, deployment: str) -> str:
        """The file on the target that otter owns for `deployment`."""

    def ensure(self, value: Any, others: Sequence[tuple[str, str, Command]] = ()) -> Command:
        """The proxy, and what its switch needs, installed (apt) and running; exit
        `install.EXIT_PROXY` naming why it cannot be. `others`: the other proxy kinds'
        (unit, site file of this deployment, what else it serves) for a kind handover;
        their units and `install.FOREIGN` are the rivals for 80/443 (see `install.ensure`)."""

    def switch_probe(self, value: Any) -> Command:
        """Read-only: prints how the proxy can switch on the target, "file" (the port file
        read per request) or "reload: WHY" (see `parse_switching`)."""

    def render(self, value: Any, site: Site) -> str:
        """The site file's text: reading the port file when `site.per_request`, else
        naming `site.upstream_port`."""

    def switch(self, value: Any, site: Site, content: str, folder: Path) -> Command:
        """One round trip: the port file in `site.upstream_dir` names the live port; when
        `content` differs from the installed site (with any files it needs, read from
        `folder`), it is installed, the whole config validated and the proxy reloaded; a
        stopped proxy is started. The previous files come back on any failure.
        Exit EXIT_MISSING: the proxy is not installed; EXIT_INVALID: rejected config;
        EXIT_RELOAD: reload or start failed."""

    def install_early(self, value: Any, site: Site, content: str) -> Command | None:
        """The site of a first deploy installed (and the proxy reloaded) while its release
        starts, with no port file: it answers 502 until the switch names the port, which
        then needs no reload; a site there already is left to the switch. None: this
        proxy installs its site in the switch only."""

    def served_port(self, site_text: str) -> int | None:
        """The upstream port a site file names (a reload switch's), or None."""

    def remove(self, deployment: str) -> Command:
        """Remove the deployment's site and reload when the proxy runs."""

    def serving_besides(self, deployment: str) -> Command:
        """Read-only: what the proxy serves on the target besides the deployment's site and
        the distribution's placeholder site, one line each (nothing: only that site).
        Whether it may hand ports 80/443 over to another proxy kind depends on it."""

    def validate(self) -> Command:
        """Read-only: the proxy's whole config as it is on the target, checked (exit non-zero
        and why on stderr when it would not load). A handover asks it before it stops the
        old proxy, so a new proxy that cannot start never costs the old one its traffic."""

    def ports(self, value: Any, site: Site) -> tuple[int, ...]:
        """The ports the proxy listens on for the site (80, 443 with TLS, or the no-domain
        listen port): what a handover waits for the old proxy to free."""

    def maintenance(self, deployment: str, page: Page) -> str:
        """The snippet the deployment's site pulls in from the maintenance flag folder
        (proxies/maintenance.py) while maintenance is on: every request of its domains
        answered 503 with Retry-After and `page`."""

    def missing_message(self, host: str) -> str:
        """What to tell a user when `switch` exited EXIT_MISSING on `host`."""


def serves_port(proxy: Proxy, deployment: str, port: object) -> Command:
    """Read-only: does `proxy` serve `deployment` on `port` on the target now (prints
    `serves`; scripts/serves-port.sh)."""
    return script(load("serves-port.sh"), args=[proxy.site_path(deployment),
                                                upstream_dir(deployment), str(port)],
                  description=f"does {proxy.name} serve {deployment} on port {port}")
