"""nginx as otter's reverse proxy: one site file per deployment, switched in one script.

otter owns `<nginx_dir>/conf.d/otter-<deployment>.conf` (and `otter-<deployment>.js`
beside it), which the nginx.conf of Debian and of nginx.org includes inside its http block;
otter never edits nginx.conf itself. With njs (Debian: libnginx-mod-http-js, which otter
installs with nginx) the site reads the live port per request from the upstream folder, so
a switch renames the port file there, no reload; without njs the site names the port and
every switch reloads. A variable proxy_pass keeps no upstream connections (no `upstream
{ keepalive }`): each request opens one to the release.
The tls=(cert, key) files are nginx_tls.py's.
"""
from __future__ import annotations

import hashlib
import re
import string
from pathlib import Path
from typing import Any, Sequence

from otterfile import scripts
from otterfile.command import Command, SecretText, cmd, script
from otterfile.secrets import MASK
from otterfile.errors import OtterError
from otterfile.render import render
from otterfile.scripts import load
from otterfile.run.state import PORT_PLACEHOLDER, check_name
from otterfile.load.validate import got
from otterfile.proxies.base import Fleet, Site
from otterfile.proxies.kinds import NginxKind
from otterfile.proxies.install import FOREIGN, Install, ensure
from otterfile.proxies.maintenance import Page, html, include_glob
from otterfile.proxies.nginx_tls import TlsPaths, read_tls_files, tls_paths

NJS_PACKAGE = "libnginx-mod-http-js"  # Debian and Ubuntu (22.10 on)

NGINX_DIR = "/etc/nginx"
# server_name takes plain names and a leading wildcard; no port, no `~` regex, no spaces
_DOMAIN = re.compile(r"(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")
_UPSTREAM = re.compile(r"^\s*server 127\.0\.0\.1:([0-9]{1,5})[ ;]", re.MULTILINE)
_PEER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[0-9.]+):([0-9]{1,5}|<port>)")
_PLAIN = set(string.ascii_lowercase + string.digits)

def identifier(deployment: str) -> str:
    """A name for the deployment's upstream and map variable. nginx compares both without
    case, so all but [a-z0-9] is hex-escaped: "my-app", "my.app", "My_app" stay distinct."""
    return "".join(c if c in _PLAIN else f"_{ord(c):02x}" for c in check_name(deployment))


def _check_port(what: str, port: Any) -> None:
    if port == PORT_PLACEHOLDER:  # `otter plan` renders before a release has a port
        return
    if isinstance(port, bool) or not (isinstance(port, int) and 0 < port < 65536):
        raise OtterError(f"{what} must be 1 to 65535, got {port!r}")


def _check(domains: list[str], upstream_port: int | str, listen_port: int | None) -> None:
    for i, domain in enumerate(domains):
        if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain):
            raise OtterError(f"domains/{i}: {domain!r} is not a host name")
    _check_port("upstream port", upstream_port)
    if listen_port is not None:
        _check_port("listen port", listen_port)
    elif not domains:
        raise OtterError("with no domains, nginx needs the runtime port to listen on")


PART = "--- otter:part "


def render_site(deployment: str, domains: list[str], upstream_port: int | str,
                listen_port: int | None, tls: TlsPaths | None = None,
                hsts: bool = False, upstream_dir: str | None = None,
                nginx_dir: str = NGINX_DIR, hold_seconds: int = 0,
                fleet: Fleet | None = None) -> str:
    """The site file: port 80 for `domains` proxied to 127.0.0.1 at the port named by the
    one file in `upstream_dir`, read per request by njs (502 with a plain body when there
    is none), or, with no `upstream_dir`, at `upstream_port`; WebSocket upgrades pass.
    With no domains, `listen_port` on all interfaces for any name (the default server
    there). With `tls`: HTTPS on 443, port 80 redirects to it. `hold_seconds` (njs only):
    a request nginx cannot pass on waits that long for the release (a recreate's swap).
    `fleet` (balance="fleet"): the upstream names `upstream_port` and, as `backup` servers,
    the other targets' releases; nginx's checks are passive (`max_fails=1`): a request
    that fails on one is passed to the next, which takes it out for 2 s."""
    ident = identifier(deployment)
    _check(domains, upstream_port, listen_port)
    if fleet is not None:
        upstream_dir = None  # the local port named literally, beside the others
        for peer in fleet.peers:
            if not _PEER.fullmatch(peer):
                raise OtterError(f"a fleet upstream must be ADDRESS:PORT, got {peer!r}")
    if tls is not None and not domains:
        raise OtterError("nginx(tls=...) needs domains: a site without domains is plain http")
    js = js_path(deployment, nginx_dir) if upstream_dir else None
    return render("nginx_site.j2", deployment=deployment, ident=ident, domains=domains,
                  upstream_port=upstream_port, listen_port=listen_port, tls=tls, hsts=hsts,
                  upstream_dir=upstream_dir, js=js, hold=hold_seconds if js else 0,
                  hold_seconds=hold_seconds, maintenance=include_glob(deployment, "nginx"),
                  fleet=fleet)


def maintenance_snippet(deployment: str, page: Page) -> str:
    """What the server block includes while maintenance is on: a server-level return, so
    every request gets 503 with Retry-After and the page before any location."""
    return (f"# otter: maintenance of {check_name(deployment)} "
            f"(`otter maintenance {deployment} off` ends it)\n"
            "default_type text/html;\n"
            "charset utf-8;\n"
            f"add_header Retry-After {int(page.retry_after)} always;\n"
            "add_header Cache-Control no-store always;\n"
            f'return 503 "{html(page)}";\n')


def js_path(deployment: str, nginx_dir: str = NGINX_DIR) -> str:
    """The njs module beside the site file that reads the port file (the switch writes it)."""
    return f"{nginx_dir.rstrip('/')}/conf.d/otter-{check_name(deployment)}.js"


def _args(deployment: str, nginx_dir: str) -> list[str]:
    return [nginx_dir.rstrip("/") or "/", check_name(deployment)]


def switch(deployment: str, content: str, nginx_dir: str = NGINX_DIR, *,
           listen_port: int | None = None, cert: str | None = None,
           key: str | None = None, upstream_dir: str, port: int | str) -> Command:
    """One round trip: the one file in `upstream_dir` is renamed to `port` (the live
    release); when `content` (or `cert`, `key`, or the njs file) differs from what is
    installed, it is installed (`cert`, `key` under otter-tls/, the key mode 600), `nginx
    -t` checked, nginx.conf checked to include it, and nginx reloaded; a stopped nginx is
    started. On failure the previous files are put back. A no-domain site on port 80 sets
    aside the distribution's default site. Exit 3: nginx missing; 4: invalid or not
    included; 5: reload or start failed.
    """
    args = [*_args(deployment, nginx_dir), str(listen_port or ""), upstream_dir, str(port)]
    stdin: str = content
    if cert is not None and key is not None:
        stdin = SecretText(f"{content}{PART}cert\n{_ended(cert)}{PART}key\n{_ended(key)}")
        stdin.masked = f"{content}{PART}cert\n{_ended(cert)}{PART}key\n{MASK}\n"
    return script(load("upstream.sh") + load("reload.sh") + load("unit-runs.sh") +
                  load("nginx-switch.sh"), args=args, stdin=stdin,
                  file=f"{args[0]}/conf.d/otter-{deployment}.conf",
                  description=f"switch nginx to {deployment}'s new release")


def remove_site(deployment: str, nginx_dir: str = NGINX_DIR) -> Command:
    """Remove the deployment's site file and reload nginx if it runs (exit 4: the rest of
    the config is invalid, not reloaded; 5: reload failed)."""
    return script(load("reload.sh") + load("nginx-remove.sh"), args=_args(deployment, nginx_dir),
                  description=f"remove nginx site of {deployment}")


def missing_nginx_message(host: str) -> str:
    """What to tell a user when `switch` exited 3 on `host`."""
    return (f"{host}: nginx is not installed (no `nginx` on PATH); install it there, "
            "e.g. `apt-get install nginx-light`, then run again")


def _ended(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


class NginxProxy(NginxKind):
    """nginx behind `nginx(tls=...)`: one site file per deployment in conf.d/ (its checks:
    kinds.NginxKind)."""

    installed = Install(package="nginx", binary="nginx", unit="nginx")

    def shipped_digest(self, value: Any, folder: Path) -> str | None:
        files = read_tls_files(value.tls, folder)
        return hashlib.sha256("\0".join(files).encode()).hexdigest() if files else None

    def site_path(self, deployment: str) -> str:
        return f"{NGINX_DIR}/conf.d/otter-{check_name(deployment)}.conf"

    def ensure(self, value: Any, others: Sequence[tuple[str, str, Command]] = ()) -> Command:
        return ensure(self.installed, others=others,
                      rivals=[unit for unit, _, _ in others] + list(FOREIGN),
                      module=NJS_PACKAGE if value.switch != "reload" else None)

    def switch_probe(self, value: Any) -> Command:
        return script(load("nginx-switch-probe.sh"), description="how nginx switches")

    def render(self, value: Any, site: Site) -> str:
        return render_site(site.deployment, list(site.domains), site.upstream_port,
                           site.listen_port, tls_paths(site.deployment, value.tls, NGINX_DIR),
                           value.hsts, site.upstream_dir if site.per_request else None,
                           hold_seconds=site.hold_seconds, fleet=site.fleet)

    def switch(self, value: Any, site: Site, content: str, folder: Path) -> Command:
        files = read_tls_files(value.tls, folder)
        cert, key = files if files else (None, None)
        listen = None if site.domains else site.listen_port
        return switch(site.deployment, content, listen_port=listen, cert=cert, key=key,
                      upstream_dir=site.upstream_dir, port=site.upstream_port)

    def install_early(self, value: Any, site: Site, content: str) -> Command | None:
        return None  # the switch installs the site (and its TLS files) with the port

    def served_port(self, site_text: str) -> int | None:
        match = _UPSTREAM.search(site_text)
        return int(match.group(1)) if match else None

    def remove(self, deployment: str) -> Command:
        return remove_site(deployment)

    def serving_besides(self, deployment: str) -> Command:
        return script(scripts.load("nginx-serves.sh"), args=[NGINX_DIR, check_name(deployment)],
                      description=f"what nginx serves besides {deployment}")

    def validate(self) -> Command:
        return cmd("nginx", "-t", "-q", description="validate nginx's config")

    def maintenance(self, deployment: str, page: Page) -> str:
        return maintenance_snippet(deployment, page)

    def ports(self, value: Any, site: Site) -> tuple[int, ...]:
        if not site.domains:
            return (site.listen_port,) if site.listen_port else ()
        return (80,) if value.tls is None else (80, 443)

    def missing_message(self, host: str) -> str:
        return missing_nginx_message(host)


PROXY = NginxProxy()
