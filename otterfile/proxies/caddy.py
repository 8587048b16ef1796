"""Caddy as otter's reverse proxy: one site file per deployment, switched in one script.

otter owns `<caddy_dir>/otter.d/<deployment>.caddy`; the main `<caddy_dir>/Caddyfile`
gets one `import <caddy_dir>/otter.d/*.caddy` line, added once, the rest left alone.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import scripts
from ..command import Command, script
from ..errors import OtterError
from ..render import render
from ..state import PORT_PLACEHOLDER, check_name
from ..validate import check_choice, fail, got
from .base import Site

CADDY_DIR = "/etc/caddy"
TLS_MODES = ("auto", "internal", "off")
EXIT_NO_CADDY, EXIT_INVALID, EXIT_RELOAD = 3, 4, 5
_DOMAIN = re.compile(r"[A-Za-z0-9*_.-]+(:[0-9]{1,5})?")

_PATHS = r"""
dir=$1 name=$2 port=${3:-}
main="$dir/Caddyfile" sites="$dir/otter.d"
site="$sites/$name.caddy" bak="$sites/.$name.caddy.bak" tmp="$sites/.$name.caddy.tmp"
mbak="$sites/.Caddyfile.otter-bak" line="import $sites/*.caddy"
"""

# The distribution's `:80` site (Debian's: root * /usr/share/caddy, file_server), commented
# out; exit 1 when the main Caddyfile has no such block. Any other :80 block stays.
ASIDE_DEFAULT = r"""
aside_default() {
  awk 'inb { buf = buf "\n" $0; t = $0; sub(/^[ \t]+/, "", t); sub(/[ \t\r]+$/, "", t)
             if (t == "}") { inb = 0
               if (n == 2 && ok == 2) { gsub(/\n/, "\n# otter: ", buf); print "# otter: " buf
                                        found = 1 } else print buf
               next }
             if (t != "" && substr(t, 1, 1) != "#") { n++
               if (t == "root * /usr/share/caddy" || t == "file_server") ok++ }
             next }
       /^:80[ \t]*\{[ \t]*$/ { inb = 1; buf = $0; n = 0; ok = 0; next }
       { print }
       END { if (inb) print buf; exit !found }' "$main"
}
"""

# $1 caddy dir, $2 deployment, $3 the no-domain listen port (or ""); stdin: the new site.
SWITCH_SCRIPT = _PATHS + ASIDE_DEFAULT + r"""
if ! command -v caddy >/dev/null 2>&1; then
  echo "otter: Caddy is not installed on this host (no caddy on PATH)" >&2; exit 3
fi
umask 022
mkdir -p "$sites" || exit 1
# one switch at a time per host: two deployments must not both add the import line
exec 9>"$sites/.lock"; command -v flock >/dev/null 2>&1 && flock -w 60 9
cat > "$tmp" || { rm -f "$tmp"; exit 1; }
had=0 main_had=0 main_changed=0
restore() {
  if [ "$had" = 1 ]; then mv -f "$bak" "$site"; else rm -f "$site"; fi
  if [ "$main_changed" = 1 ]; then
    if [ "$main_had" = 1 ]; then mv -f "$mbak" "$main"; else rm -f "$main"; fi
  fi
}
if [ -f "$site" ]; then cp -p "$site" "$bak" || exit 1; had=1; fi
[ -f "$main" ] && main_had=1
if ! awk -v l="$line" '{sub(/^[ \t]+/, ""); sub(/[ \t\r]+$/, "")} $0 == l {f = 1}
                      END {exit !f}' "$main" 2>/dev/null; then
  if [ "$main_had" = 1 ]; then cp -p "$main" "$mbak" || exit 1; fi
  main_changed=1
  { if [ -s "$main" ] && [ -n "$(tail -c 1 "$main")" ]; then echo; fi
    printf '%s\n' "$line"; } >> "$main" || exit 1
fi
# a no-domain site on :80 takes the port from the distribution's placeholder site
if [ "$port" = 80 ] && [ -f "$main" ] && aside=$(aside_default); then
  if [ "$main_changed" = 0 ]; then cp -p "$main" "$mbak" || exit 1; main_changed=1; fi
  printf '%s\n' "$aside" > "$main" || { restore; exit 1; }
  echo "set aside Caddy's default :80 site in $main (commented out)"
fi
mv -f "$tmp" "$site" || { restore; exit 1; }
# a throwaway data folder: validating `tls internal` makes a CA there, not in root's home
v=$(mktemp -d 2>/dev/null) || { v=/tmp/otter-caddy-validate.$$; mkdir -m 700 "$v" || exit 1; }
out=$(HOME=$v XDG_DATA_HOME=$v XDG_CONFIG_HOME=$v \
      caddy validate --config "$main" --adapter caddyfile 2>&1); valid=$?
rm -rf "$v"
if [ "$valid" != 0 ]; then
  restore
  echo "otter: Caddy rejected the new config of $name; the previous config is back:" >&2
  printf '%s\n' "$out" | grep -v '^{' | tail -n 5 >&2
  exit 4
fi
if systemctl is-active --quiet caddy; then verb=reload; else verb=start; fi
if ! out=$(systemctl "$verb" caddy 2>&1); then
  restore
  echo "otter: systemctl $verb caddy failed; the previous config file is back:" >&2
  printf '%s\n' "$out" >&2
  journalctl -u caddy -n 5 --no-pager >&2 2>/dev/null
  exit 5
fi
rm -f "$bak" "$mbak"
echo "switched $name ($verb)"
"""

# $1 caddy dir, $2 deployment.
REMOVE_SCRIPT = _PATHS + r"""
[ -f "$site" ] || { echo "no site file for $name"; exit 0; }
# as switch does: a reload must not load another deployment's half-made switch
exec 9>"$sites/.lock"; command -v flock >/dev/null 2>&1 && flock -w 60 9
# the site held :80: the distribution's default site that its switch set aside comes back
if grep -q '^:80 {' "$site" && grep -q '^# otter: ' "$main" 2>/dev/null; then
  sed 's/^# otter: //' "$main" > "$main.otter-tmp" && mv -f "$main.otter-tmp" "$main" || exit 1
  echo "restored Caddy's default :80 site in $main"
fi
rm -f "$site" "$bak" || exit 1
if command -v caddy >/dev/null 2>&1 && systemctl is-active --quiet caddy; then
  systemctl reload caddy || exit 5
fi
echo "removed $name"
"""


def _check(domains: list[str], upstream_port: int | str, listen_port: int | None,
           tls: str) -> None:
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


def render_site(deployment: str, domains: list[str], upstream_port: int | str,
                listen_port: int | None, tls: str, hsts: bool = False) -> str:
    """The site file: each domain proxied to 127.0.0.1:`upstream_port`; with no domains,
    `:listen_port` on all interfaces. tls "auto" is Caddy's default (certificates),
    "internal" Caddy's own CA, "off" plain http. A no-domain site is plain http. Where
    TLS is on, Caddy itself redirects http to https; `hsts` adds the header there."""
    check_name(deployment)
    _check(domains, upstream_port, listen_port, tls)
    addresses = [f"http://{d}" if tls == "off" else d for d in domains]
    return render("caddy_site.j2", deployment=deployment, domains=domains,
                  addresses=addresses, upstream_port=upstream_port,
                  listen_port=listen_port, tls=tls, hsts=hsts and tls != "off")


def switch(deployment: str, content: str, caddy_dir: str = CADDY_DIR, *,
           listen_port: int | None = None) -> Command:
    """One round trip: install `content` as the deployment's site file, make sure the main
    Caddyfile imports it, `caddy validate`, then reload (or start) Caddy. On failure the
    previous files are put back. A no-domain site on port 80 comments out the distribution's
    default `:80` site. Exit 3: Caddy missing; 4: invalid config; 5: reload failed.
    """
    check_name(deployment)
    folder = caddy_dir.rstrip("/") or "/"
    args = [folder, deployment] + ([str(listen_port)] if listen_port else [])
    return script(SWITCH_SCRIPT, args=args, stdin=content,
                  file=f"{folder}/otter.d/{deployment}.caddy",
                  description=f"switch caddy to {deployment}'s new site")


def remove_site(deployment: str, caddy_dir: str = CADDY_DIR) -> Command:
    """Remove the deployment's site file and reload Caddy if it runs (exit 5: reload failed)."""
    check_name(deployment)
    return script(REMOVE_SCRIPT, args=[caddy_dir.rstrip("/") or "/", deployment],
                  description=f"remove caddy site of {deployment}")


def missing_caddy_message(host: str) -> str:
    """What to tell a user when `switch` exited 3 on `host`."""
    return (f"{host}: Caddy is not installed (no `caddy` on PATH); install it there, "
            "e.g. `apt-get install caddy`, then run again")


class Caddy:
    """Caddy behind `caddy(tls=...)`: one site file per deployment under otter.d/."""

    name = "caddy"

    def check(self, value: Any) -> Any:
        check_choice("tls", value.tls, TLS_MODES)
        if not isinstance(value.hsts, bool):
            fail("hsts", f"expected True or False, {got(value.hsts)}")
        return value

    def unsupported(self, value: Any) -> str | None:
        return None

    def check_domains(self, value: Any, domains: tuple[str, ...]) -> None:
        for index, domain in enumerate(domains):
            if domain.startswith("*.") and value.tls == "auto":
                fail(f"domains/{index}", f"{domain!r}: a wildcard certificate needs the ACME "
                     "DNS challenge, which otter does not set up; use caddy(tls=\"internal\") "
                     "or tls=\"off\", or list the names")

    def site_path(self, deployment: str) -> str:
        return f"{CADDY_DIR}/otter.d/{check_name(deployment)}.caddy"

    def check_files(self, value: Any, folder: Path) -> None:
        return None  # Caddy gets its certificates itself

    def shipped_digest(self, value: Any, folder: Path) -> str | None:
        return None

    def render(self, value: Any, site: Site) -> str:
        return render_site(site.deployment, list(site.domains), site.upstream_port,
                           site.listen_port, value.tls, value.hsts)

    def switch(self, value: Any, site: Site, content: str, folder: Path) -> Command:
        return switch(site.deployment, content,
                      listen_port=None if site.domains else site.listen_port)

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
        # a throwaway data folder, as the switch's: `tls internal` makes a CA there
        return script('v=$(mktemp -d) || exit 1; HOME=$v XDG_DATA_HOME=$v XDG_CONFIG_HOME=$v '
                      'caddy validate --config "$1" --adapter caddyfile >"$v/out" 2>&1; '
                      'rc=$?; [ "$rc" = 0 ] || grep -v "^{" "$v/out" | tail -n 5 >&2; '
                      'rm -rf "$v"; exit "$rc"', args=[f"{CADDY_DIR}/Caddyfile"],
                      description="validate caddy's config")

    def ports(self, value: Any, site: Site) -> tuple[int, ...]:
        if not site.domains:
            return (site.listen_port,) if site.listen_port else ()
        return (80,) if value.tls == "off" else (80, 443)

    def missing_message(self, host: str) -> str:
        return missing_caddy_message(host)


PROXY = Caddy()
