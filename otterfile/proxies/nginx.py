"""nginx as otter's reverse proxy: one site file per deployment, switched in one script.

otter owns `<nginx_dir>/conf.d/otter-<deployment>.conf`, which the nginx.conf of Debian and
of nginx.org includes inside its http block; otter never edits nginx.conf itself.
"""
from __future__ import annotations

import re
import string
from typing import Any

from ..command import Command, script
from ..errors import OtterError
from ..render import render
from ..state import PORT_PLACEHOLDER, check_name
from ..validate import fail, got
from .base import EXIT_INVALID, EXIT_MISSING, EXIT_RELOAD, Site

NGINX_DIR = "/etc/nginx"
# server_name takes plain names and a leading wildcard; no port, no `~` regex, no spaces
_DOMAIN = re.compile(r"(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")
_UPSTREAM = re.compile(r"^\s*server 127\.0\.0\.1:([0-9]{1,5});", re.MULTILINE)
_PLAIN = set(string.ascii_lowercase + string.digits)

_PATHS = f"""
missing={EXIT_MISSING} invalid={EXIT_INVALID} reload={EXIT_RELOAD}
""" + r"""
name=$2 conf="$1/conf.d"
site="$conf/otter-$name.conf" bak="$conf/.otter-$name.conf.bak" tmp="$conf/.otter-$name.conf.tmp"
"""

# $1 nginx dir, $2 deployment; stdin: the new site file. Backup and temp file do not end
# in .conf, so nginx's `include conf.d/*.conf` never loads them.
SWITCH_SCRIPT = _PATHS + r"""
if ! command -v nginx >/dev/null 2>&1; then
  echo "otter: nginx is not installed on this host (no nginx on PATH)" >&2; exit "$missing"
fi
umask 022
mkdir -p "$conf" || exit 1
# one switch at a time per host: `nginx -t` must not see another deployment's half switch
exec 9>"$conf/.otter.lock"; command -v flock >/dev/null 2>&1 && flock -w 60 9
cat > "$tmp" || { rm -f "$tmp"; exit 1; }
had=0
restore() { if [ "$had" = 1 ]; then mv -f "$bak" "$site"; else rm -f "$site"; fi; }
if [ -f "$site" ]; then cp -p "$site" "$bak" || { rm -f "$tmp"; exit 1; }; had=1; fi
mv -f "$tmp" "$site" || { rm -f "$tmp"; restore; exit 1; }
if ! out=$(nginx -t 2>&1); then
  restore
  echo "otter: nginx rejected the new config of $name; the previous config is back:" >&2
  printf '%s\n' "$out" | tail -n 5 >&2
  exit "$invalid"
fi
# a valid config that never loads our file would "switch" to nothing
if ! nginx -T 2>/dev/null | grep -qF "# configuration file $site:"; then
  restore
  echo "otter: the main nginx.conf does not include $conf/*.conf, so nginx would not" \
       "serve $name; add \`include $conf/*.conf;\` inside its http block" >&2
  exit "$invalid"
fi
if systemctl is-active --quiet nginx; then verb=reload; else verb=start; fi
if ! out=$(systemctl "$verb" nginx 2>&1); then
  restore
  echo "otter: systemctl $verb nginx failed; the previous config file is back:" >&2
  printf '%s\n' "$out" >&2
  journalctl -u nginx -n 5 --no-pager >&2 2>/dev/null
  exit "$reload"
fi
rm -f "$bak"
echo "switched $name ($verb)"
"""

# $1 nginx dir, $2 deployment.
REMOVE_SCRIPT = _PATHS + r"""
[ -f "$site" ] || { echo "no site file for $name"; exit 0; }
# as switch does: a reload must not load another deployment's half-made switch
exec 9>"$conf/.otter.lock"; command -v flock >/dev/null 2>&1 && flock -w 60 9
rm -f "$site" "$bak" || exit 1
if command -v nginx >/dev/null 2>&1 && systemctl is-active --quiet nginx; then
  # the site is gone either way; a config broken elsewhere must not be reloaded
  if ! out=$(nginx -t 2>&1); then
    echo "otter: removed $name, but nginx rejects the remaining config; not reloaded:" >&2
    printf '%s\n' "$out" | tail -n 5 >&2
    exit "$invalid"
  fi
  systemctl reload nginx || exit "$reload"
fi
echo "removed $name"
"""


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


def render_site(deployment: str, domains: list[str], upstream_port: int | str,
                listen_port: int | None) -> str:
    """The site file: port 80 for `domains` proxied to 127.0.0.1:`upstream_port`, with
    WebSocket upgrades; with no domains, `listen_port` on all interfaces for any name."""
    ident = identifier(deployment)
    _check(domains, upstream_port, listen_port)
    return render("nginx_site.j2", deployment=deployment, ident=ident, domains=domains,
                  upstream_port=upstream_port, listen_port=listen_port)


def _args(deployment: str, nginx_dir: str) -> list[str]:
    return [nginx_dir.rstrip("/") or "/", check_name(deployment)]


def switch(deployment: str, content: str, nginx_dir: str = NGINX_DIR) -> Command:
    """One round trip: install `content` as the deployment's site file, `nginx -t`, check
    that nginx.conf includes it, then reload (or start) nginx. On failure the previous
    file is put back. Exit 3: nginx missing; 4: invalid or not included; 5: reload failed.
    """
    args = _args(deployment, nginx_dir)
    return script(SWITCH_SCRIPT, args=args, stdin=content,
                  file=f"{args[0]}/conf.d/otter-{deployment}.conf",
                  description=f"switch nginx to {deployment}'s new site")


def remove_site(deployment: str, nginx_dir: str = NGINX_DIR) -> Command:
    """Remove the deployment's site file and reload nginx if it runs (exit 4: the rest of
    the config is invalid, not reloaded; 5: reload failed)."""
    return script(REMOVE_SCRIPT, args=_args(deployment, nginx_dir),
                  description=f"remove nginx site of {deployment}")


def missing_nginx_message(host: str) -> str:
    """What to tell a user when `switch` exited 3 on `host`."""
    return (f"{host}: nginx is not installed (no `nginx` on PATH); install it there, "
            "e.g. `apt-get install nginx-light`, then run again")


def _check_tls(tls: Any) -> None:
    pair = isinstance(tls, (tuple, list)) and len(tls) == 2 and \
        all(isinstance(path, str) and path.strip() for path in tls)
    if tls is not None and not pair:
        fail("tls", f"expected None or (cert path, key path), {got(tls)}")


class Nginx:
    """nginx behind `nginx(tls=...)`: one site file per deployment in conf.d/."""

    name = "nginx"

    def check(self, value: Any) -> Any:
        _check_tls(value.tls)
        return value

    def unsupported(self, value: Any) -> str | None:
        if value.tls is None:
            return None
        return ("TLS with nginx (nginx(tls=...)) is not deployable by this version of otter "
                "yet; use nginx() for plain http, or caddy(...) for certificates")

    def check_domains(self, value: Any, domains: tuple[str, ...]) -> None:
        return None  # server_name takes `*.example.com`; TLS comes with its own files

    def site_path(self, deployment: str) -> str:
        return f"{NGINX_DIR}/conf.d/otter-{check_name(deployment)}.conf"

    def render(self, value: Any, site: Site) -> str:
        if value.tls is not None:  # never serve as plain http what was asked as TLS
            raise OtterError(self.unsupported(value) or "")
        return render_site(site.deployment, list(site.domains), site.upstream_port,
                           site.listen_port)

    def switch(self, deployment: str, content: str) -> Command:
        return switch(deployment, content)

    def served_port(self, site_text: str) -> int | None:
        match = _UPSTREAM.search(site_text)
        return int(match.group(1)) if match else None

    def remove(self, deployment: str) -> Command:
        return remove_site(deployment)

    def missing_message(self, host: str) -> str:
        return missing_nginx_message(host)


PROXY = Nginx()
