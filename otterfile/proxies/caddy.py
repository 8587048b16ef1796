"""Caddy as otter's reverse proxy: one site file per deployment, switched in one script.

otter owns `<caddy_dir>/otter.d/<deployment>.caddy`; the main `<caddy_dir>/Caddyfile`
gets one `import <caddy_dir>/otter.d/*.caddy` line, added once, the rest left alone. The
site reads the live port per request with a `file` matcher on the upstream folder (Caddy
2.6 has no `{file.*}` placeholder): a switch renames the port file there, no reload.
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from otterfile import scripts
from otterfile.command import Command, script
from otterfile.errors import OtterError
from otterfile.render import render
from otterfile.scripts import load
from otterfile.run.state import PORT_PLACEHOLDER, check_name
from otterfile.load.validate import got
from otterfile.proxies.base import FILE, Fleet, Site
from otterfile.proxies.kinds import TLS_MODES, CaddyKind
from otterfile.proxies.install import FOREIGN, Install, ensure
from otterfile.proxies.maintenance import Page, html, include_glob

CADDY_DIR = "/etc/caddy"
# how long Caddy keeps an idle connection to a release (its default: 2m): after a switch,
# what it kept to the old release holds that release's drain (run/flow.py) this long at most
UPSTREAM_IDLE = "1s"
_DOMAIN = re.compile(r"[A-Za-z0-9*_.-]+(:[0-9]{1,5})?")


_PEER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[0-9.]+):([0-9]{1,5}|<port>)")


def _check(domains: list[str], upstream_port: int | str, listen_port: int | None,
           tls: str, fleet: Fleet | None = None) -> None:
    for i, domain in enumerate(domains):
        if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain):
            raise OtterError(f"domains/{i}: {domain!r} is not a host name")
    for what, port in (("upstream port", upstream_port), ("listen port", listen_port)):
        if port == PORT_PLACEHOLDER:
            continue
        if port is not None and not (isinstance(port, int) and 0 < port < 65536):
            raise OtterError(f"{what} must be 1 to 65535, got {port!r}")
    if not domains and listen_port is None:
        raise OtterError("with no domains, Caddy needs the runtime port to listen on")
    if tls not in TLS_MODES:
        raise OtterError(f"proxy/tls: expected one of {', '.join(TLS_MODES)}, got {tls!r}")
    if fleet is not None:
        for peer in fleet.peers:
            if not _PEER.fullmatch(peer):
                raise OtterError(f"a fleet upstream must be ADDRESS:PORT, got {peer!r}")
        if any(c in fleet.path for c in '"{}\\ \t\n'):
            raise OtterError(f"health_check/path: Caddy's health_uri cannot take "
                             f"{fleet.path!r}")


def render_site(deployment: str, domains: list[str], upstream_port: int | str,
                listen_port: int | None, tls: str, hsts: bool = False,
                upstream_dir: str | None = None, hold_seconds: int = 0,
                fleet: Fleet | None = None) -> str:
    """The site file: each domain proxied to 127.0.0.1 at the port named by the one file in
    `upstream_dir`, read per request (502 with a plain body when there is none), or, with
    no `upstream_dir`, at `upstream_port`; with no domains, `:listen_port` on all
    interfaces. tls "auto" is Caddy's default (certificates), "internal" Caddy's own CA,
    "off" plain http. A no-domain site is plain http. Where TLS is on, Caddy itself
    redirects http to https; `hsts` adds the header there. `hold_seconds`: a request
    that finds no release listening is retried that long (a recreate's swap). `fleet`
    (balance="fleet"): `upstream_port` first, then the other targets' releases (`lb_policy
    first`), each checked every 2 s at the health check's path; a refused connection marks
    one down and the request tries the next at once."""
    check_name(deployment)
    _check(domains, upstream_port, listen_port, tls, fleet)
    if fleet is not None:
        upstream_dir = None  # the local port named literally: Caddy health-checks it
    addresses = [f"http://{d}" if tls == "off" else d for d in domains]
    return render("caddy_site.j2", deployment=deployment, domains=domains,
                  addresses=addresses, upstream_port=upstream_port,
                  listen_port=listen_port, tls=tls, hsts=hsts and tls != "off",
                  upstream_dir=upstream_dir, maintenance=include_glob(deployment, "caddy"),
                  hold_seconds=hold_seconds, fleet=fleet, upstream_idle=UPSTREAM_IDLE)


def maintenance_snippet(deployment: str, page: Page) -> str:
    """What the site imports while maintenance is on: every request answered 503 with
    Retry-After and the page (a handle with a matcher, placed first: Caddy keeps it
    before the site's own handles)."""
    return (f"# otter: maintenance of {check_name(deployment)} "
            f"(`otter maintenance {deployment} off` ends it)\n"
            "@otter_maintenance path *\n"
            "handle @otter_maintenance {\n"
            f"\theader Retry-After {int(page.retry_after)}\n"
            '\theader Content-Type "text/html; charset=utf-8"\n'
            "\theader Cache-Control no-store\n"
            f'\trespond "{html(page)}" 503\n'
            "}\n")


def switch(deployment: str, content: str, caddy_dir: str = CADDY_DIR, *,
           listen_port: int | None = None, upstream_dir: str, port: int | str) -> Command:
    """One round trip: the one file in `upstream_dir` is renamed to `port` (the live
    release); when `content` differs from the installed site, it is installed, the main
    Caddyfile made to import it and Caddy reloaded (Caddy loads a config whole or keeps the
    one it runs: `caddy validate` says why when it fails); a stopped Caddy is started. On
    failure the previous files are put back. A no-domain site on port 80
    comments out the distribution's default `:80` site. Exit 3: Caddy missing; 4: invalid
    config; 5: reload or start failed.
    """
    check_name(deployment)
    folder = caddy_dir.rstrip("/") or "/"
    args = [folder, deployment, str(listen_port or ""), upstream_dir, str(port)]
    return script(load("upstream.sh") + load("unit-runs.sh") + load("caddy-switch.sh"), args=args, stdin=content,
                  file=f"{folder}/otter.d/{deployment}.caddy",
                  description=f"switch caddy to {deployment}'s new release")


def remove_site(deployment: str, caddy_dir: str = CADDY_DIR) -> Command:
    """Remove the deployment's site file and reload Caddy if it runs (exit 5: reload failed)."""
    check_name(deployment)
    return script(load("caddy-remove.sh"), args=[caddy_dir.rstrip("/") or "/", deployment],
                  description=f"remove caddy site of {deployment}")


def missing_caddy_message(host: str) -> str:
    """What to tell a user when `switch` exited 3 on `host`."""
    return (f"{host}: Caddy is not installed (no `caddy` on PATH); install it there, "
            "e.g. `apt-get install caddy`, then run again")


class CaddyProxy(CaddyKind):
    """Caddy behind `caddy(tls=...)`: one site file per deployment under otter.d/ (its
    checks: kinds.CaddyKind)."""

    installed = Install(package="caddy", binary="caddy", unit="caddy")

    def site_path(self, deployment: str) -> str:
        return f"{CADDY_DIR}/otter.d/{check_name(deployment)}.caddy"

    def shipped_digest(self, value: Any, folder: Path) -> str | None:
        return None

    def ensure(self, value: Any, others: Sequence[tuple[str, str, Command]] = ()) -> Command:
        return ensure(self.installed, others=others,
                      rivals=[unit for unit, _, _ in others] + list(FOREIGN))

    def switch_probe(self, value: Any) -> Command:
        # the Caddy of Debian (2.6) and of caddyserver.com have the file matcher
        return script(f"echo {FILE}", description="how caddy switches")

    def render(self, value: Any, site: Site) -> str:
        return render_site(site.deployment, list(site.domains), site.upstream_port,
                           site.listen_port, value.tls, value.hsts,
                           site.upstream_dir if site.per_request else None, site.hold_seconds,
                           site.fleet)

    def switch(self, value: Any, site: Site, content: str, folder: Path) -> Command:
        return switch(site.deployment, content,
                      listen_port=None if site.domains else site.listen_port,
                      upstream_dir=site.upstream_dir, port=site.upstream_port)

    def install_early(self, value: Any, site: Site, content: str) -> Command | None:
        if not site.per_request:  # the site names the port itself
            return None
        return replace(switch(site.deployment, content,
                              listen_port=None if site.domains else site.listen_port,
                              upstream_dir=site.upstream_dir, port=""),
                       description=f"install caddy's site of {site.deployment}")

    def served_port(self, site_text: str) -> int | None:
        for word in site_text.split():
            host, _, port = word.partition(":")
            if host == "127.0.0.1" and port.isdigit():
                return int(port)
        return None

    def remove(self, deployment: str) -> Command:
        return remove_site(deployment)

    def serving_besides(self, deployment: str) -> Command:
        return script(scripts.load("caddy-serves.sh"), args=[CADDY_DIR, check_name(deployment)],
                      description=f"what caddy serves besides {deployment}")

    def validate(self) -> Command:
        return script(scripts.load("caddy-validate.sh"), args=[f"{CADDY_DIR}/Caddyfile"],
                      description="validate caddy's config")

    def maintenance(self, deployment: str, page: Page) -> str:
        return maintenance_snippet(deployment, page)

    def ports(self, value: Any, site: Site) -> tuple[int, ...]:
        if not site.domains:
            return (site.listen_port,) if site.listen_port else ()
        return (80,) if value.tls == "off" else (80, 443)

    def missing_message(self, host: str) -> str:
        return missing_caddy_message(host)


PROXY = CaddyProxy()
