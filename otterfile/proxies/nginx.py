"""nginx as otter's reverse proxy: one site file per deployment, switched in one script.

otter owns `<nginx_dir>/conf.d/otter-<deployment>.conf`, which the nginx.conf of Debian and
of nginx.org includes inside its http block; otter never edits nginx.conf itself.
"""
from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..command import Command, SecretText, script
from ..secrets import MASK
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

# $1 nginx dir, $2 deployment, $3 the no-domain listen port (or ""); stdin: the new site
# file, then optional parts ("--- otter:part cert", "--- otter:part key"). Backups and temp
# files do not end in .conf, so nginx's `include conf.d/*.conf` never loads them.
SWITCH_SCRIPT = _PATHS + r"""
port=$3 tdir="$1/otter-tls/$name" default="$1/sites-enabled/default"
if ! command -v nginx >/dev/null 2>&1; then
  echo "otter: nginx is not installed on this host (no nginx on PATH)" >&2; exit "$missing"
fi
umask 077
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
awk -v d="$work" 'BEGIN {out = d "/site"} /^--- otter:part (cert|key)$/ {close(out);
  out = d "/" $3; next} {print > out}' || exit 1
umask 022
mkdir -p "$conf" || exit 1
# one switch at a time per host: `nginx -t` must not see another deployment's half switch
exec 9>"$conf/.otter.lock"; command -v flock >/dev/null 2>&1 && flock -w 60 9
had=0 tls=0 aside=""
restore() {
  if [ "$had" = 1 ]; then mv -f "$bak" "$site"; else rm -f "$site"; fi
  if [ "$tls" = 1 ]; then
    for f in cert key; do
      if [ -f "$tdir/.$f.pem.bak" ]; then mv -f "$tdir/.$f.pem.bak" "$tdir/$f.pem"
      else rm -f "$tdir/$f.pem"; fi
    done
  fi
  [ -z "$aside" ] || ln -s "$aside" "$default"
}
if [ -f "$site" ]; then cp -p "$site" "$bak" || exit 1; had=1; fi
if [ -f "$work/cert" ] && [ -f "$work/key" ]; then
  mkdir -p -m 700 "$tdir" && chmod 700 "$tdir" || exit 1
  tls=1
  for f in cert key; do
    [ ! -f "$tdir/$f.pem" ] || cp -p "$tdir/$f.pem" "$tdir/.$f.pem.bak" || { restore; exit 1; }
  done
  # the key is root's alone; nginx's master process reads both before it drops privileges
  install -m 644 "$work/cert" "$tdir/cert.pem" && install -m 600 "$work/key" "$tdir/key.pem" \
    || { restore; exit 1; }
fi
# a no-domain site on port 80 takes it from the distribution's default site (Debian's
# `default` is default_server there); only that link is set aside, any other site stays
if [ "$port" = 80 ] && [ -L "$default" ]; then
  case $(readlink "$default") in
    */sites-available/default) aside=$(readlink "$default"); rm -f "$default" || exit 1
      echo "set aside nginx's default site ($default -> $aside)" ;;
  esac
fi
chmod 644 "$work/site" && mv -f "$work/site" "$site" || { restore; exit 1; }
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
rm -f "$bak" "$tdir/.cert.pem.bak" "$tdir/.key.pem.bak"
echo "switched $name ($verb)"
"""

# $1 nginx dir, $2 deployment.
REMOVE_SCRIPT = _PATHS + r"""
[ -f "$site" ] || { echo "no site file for $name"; exit 0; }
# as switch does: a reload must not load another deployment's half-made switch
exec 9>"$conf/.otter.lock"; command -v flock >/dev/null 2>&1 && flock -w 60 9
default="$1/sites-enabled/default"
# the site held :80: the distribution's default site that its switch set aside comes back
if grep -q 'listen 80 default_server;' "$site" && [ ! -e "$default" ] && [ ! -L "$default" ] \
   && [ -f "$1/sites-available/default" ] && [ -d "$1/sites-enabled" ]; then
  ln -s "$1/sites-available/default" "$default" && echo "restored nginx's default site"
fi
rm -f "$site" "$bak" || exit 1
rm -rf "$1/otter-tls/$name" || exit 1
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


HOST_PREFIX = "host:"  # a tls path already on each target, not shipped from the controller
PART = "--- otter:part "


@dataclass(frozen=True)
class TlsPaths:
    """Where nginx reads a site's certificate and key on the target."""

    cert: str
    key: str


def tls_paths(deployment: str, tls: Any, nginx_dir: str = NGINX_DIR) -> TlsPaths | None:
    """Paths on the target: `host:` paths as given, shipped files under otter-tls/."""
    if tls is None:
        return None
    folder = f"{nginx_dir.rstrip('/')}/otter-tls/{check_name(deployment)}"
    cert, key = (p[len(HOST_PREFIX):] if p.startswith(HOST_PREFIX) else f"{folder}/{name}"
                 for p, name in zip(tls, ("cert.pem", "key.pem")))
    return TlsPaths(cert, key)


def render_site(deployment: str, domains: list[str], upstream_port: int | str,
                listen_port: int | None, tls: TlsPaths | None = None,
                hsts: bool = False) -> str:
    """The site file: port 80 for `domains` proxied to 127.0.0.1:`upstream_port`, with
    WebSocket upgrades; with no domains, `listen_port` on all interfaces for any name (the
    default server there). With `tls`: HTTPS on 443, port 80 redirects to it."""
    ident = identifier(deployment)
    _check(domains, upstream_port, listen_port)
    if tls is not None and not domains:
        raise OtterError("nginx(tls=...) needs domains: a site without domains is plain http")
    return render("nginx_site.j2", deployment=deployment, ident=ident, domains=domains,
                  upstream_port=upstream_port, listen_port=listen_port, tls=tls, hsts=hsts)


def _args(deployment: str, nginx_dir: str) -> list[str]:
    return [nginx_dir.rstrip("/") or "/", check_name(deployment)]


def switch(deployment: str, content: str, nginx_dir: str = NGINX_DIR, *,
           listen_port: int | None = None, cert: str | None = None,
           key: str | None = None) -> Command:
    """One round trip: install `content` as the deployment's site file (and `cert`, `key`
    under otter-tls/, the key mode 600), `nginx -t`, check that nginx.conf includes it, then
    reload (or start) nginx. On failure the previous files are put back. A no-domain site on
    port 80 sets aside the distribution's default site. Exit 3: nginx missing; 4: invalid
    or not included; 5: reload failed.
    """
    args = [*_args(deployment, nginx_dir), str(listen_port or "")]
    stdin: str = content
    if cert is not None and key is not None:
        stdin = SecretText(f"{content}{PART}cert\n{_ended(cert)}{PART}key\n{_ended(key)}")
        stdin.masked = f"{content}{PART}cert\n{_ended(cert)}{PART}key\n{MASK}\n"
    return script(SWITCH_SCRIPT, args=args, stdin=stdin,
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


def _ended(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _check_tls(tls: Any) -> None:
    pair = isinstance(tls, (tuple, list)) and len(tls) == 2 and \
        all(isinstance(path, str) and path.strip() and path.strip() != HOST_PREFIX
            and not any(c in path for c in "\n\r\0;{}\"'") for path in tls)
    if tls is not None and not pair:
        fail("tls", "expected None or (cert path, key path), paths beside the Otterfile or "
             f"\"host:/path\" on the target, {got(tls)}")
    for index, path in enumerate(tls or ()):
        on_host = path.strip()[len(HOST_PREFIX):] if path.strip().startswith(HOST_PREFIX) \
            else None
        # written into the site file as one nginx word: a space would split it there
        if on_host is not None and (not on_host.startswith("/") or
                                    any(c.isspace() or c in "$\\" for c in on_host)):
            fail(f"tls/{index}", f"{path!r}: a \"host:\" path is an absolute path on the "
                 "target without spaces, tabs, '$' or '\\' (nginx reads it as one word)")


def read_tls_files(tls: Any, folder: Path) -> tuple[str, str] | None:
    """The certificate and key text to ship (paths relative to `folder`, the Otterfile's),
    or None when both are `host:` paths. Checked to look like PEM."""
    if tls is None or all(p.startswith(HOST_PREFIX) for p in tls):
        return None
    texts = []
    for index, (path, what) in enumerate(zip(tls, ("CERTIFICATE", "PRIVATE KEY"))):
        if path.startswith(HOST_PREFIX):
            fail(f"tls/{index}", "ship both files or neither: give both as \"host:/path\" "
                 "or both beside the Otterfile")
        file = folder / path
        try:
            text = file.read_text()
        except (OSError, UnicodeDecodeError) as error:
            fail(f"tls/{index}", f"cannot read {file}: {getattr(error, 'strerror', error)}")
        if "-----BEGIN " not in text or f"{what}-----" not in text:
            fail(f"tls/{index}", f"{file} is not a PEM {what.lower()}")
        texts.append(text)
    return texts[0], texts[1]


class Nginx:
    """nginx behind `nginx(tls=...)`: one site file per deployment in conf.d/."""

    name = "nginx"

    def check(self, value: Any) -> Any:
        _check_tls(value.tls)
        if not isinstance(value.hsts, bool):
            fail("hsts", f"expected True or False, {got(value.hsts)}")
        if value.tls is not None:
            return replace(value, tls=tuple(p.strip() for p in value.tls))
        return value

    def unsupported(self, value: Any) -> str | None:
        return None

    def check_domains(self, value: Any, domains: tuple[str, ...]) -> None:
        if value.tls is not None and not domains:
            fail("tls", "nginx(tls=...) needs domains: a site without domains is plain http")

    def check_files(self, value: Any, folder: Path) -> None:
        read_tls_files(value.tls, folder)

    def shipped_digest(self, value: Any, folder: Path) -> str | None:
        files = read_tls_files(value.tls, folder)
        return hashlib.sha256("\0".join(files).encode()).hexdigest() if files else None

    def site_path(self, deployment: str) -> str:
        return f"{NGINX_DIR}/conf.d/otter-{check_name(deployment)}.conf"

    def render(self, value: Any, site: Site) -> str:
        return render_site(site.deployment, list(site.domains), site.upstream_port,
                           site.listen_port, tls_paths(site.deployment, value.tls),
                           value.hsts)

    def switch(self, value: Any, site: Site, content: str, folder: Path) -> Command:
        files = read_tls_files(value.tls, folder)
        cert, key = files if files else (None, None)
        listen = None if site.domains else site.listen_port
        return switch(site.deployment, content, listen_port=listen, cert=cert, key=key)

    def served_port(self, site_text: str) -> int | None:
        match = _UPSTREAM.search(site_text)
        return int(match.group(1)) if match else None

    def remove(self, deployment: str) -> Command:
        return remove_site(deployment)

    def missing_message(self, host: str) -> str:
        return missing_nginx_message(host)


PROXY = Nginx()
