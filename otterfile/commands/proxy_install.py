"""The chosen reverse proxy present and running on a target, installed with apt if missing;
refused where another proxy holds ports 80/443, unless that proxy serves this deployment and
nothing else (a proxy kind change: installed, left stopped, the switch hands the ports over).
Runs first in the round trip that reads a deployment's state (flow.recover), so a deploy costs
no extra trip for it."""
from __future__ import annotations

from typing import Sequence

from ..command import Command, script

EXIT_PROXY = 7  # the proxy cannot be had on this host; stderr says why, naming it

# Debian and Ubuntu package per proxy kind (nginx-light serves otter as well: any is kept)
PACKAGES = {"caddy": "caddy", "nginx": "nginx"}

# $1 proxy (caddy | nginx, also its binary, unit and process name), $2 package to install;
# then triples: another proxy kind, its site file of this deployment, and a shell line that
# prints what else that proxy serves here (one line each, nothing when only this site).
ENSURE_SCRIPT = f"fail={EXIT_PROXY}" + r"""
p=$1 pkg=$2; shift 2
# one proxy owns 80/443: whoever listens there (ss names the process) must be ours
owner=""
if command -v ss >/dev/null 2>&1; then
  owner=$(ss -Hltnp 2>/dev/null | awk '$4 ~ /:(80|443)$/ {print $NF}' \
          | sed -n 's/^users:(("\([^"]*\)".*/\1/p' | grep -vx "$p" | head -n 1)
fi
for other in caddy nginx apache2; do
  [ "$other" = "$p" ] && continue
  if [ -z "$owner" ] && systemctl is-active --quiet "$other" 2>/dev/null; then owner=$other; fi
done
# the owner serves this deployment (its proxy kind changed): it may hand over if that is all
from=""
while [ -n "$owner" ] && [ $# -ge 3 ]; do
  if [ "$1" = "$owner" ] && [ -f "$2" ]; then
    if ! more=$(sh -c "$3" 2>&1); then
      echo "otter: $owner serves this deployment, but what else it serves cannot be read:" >&2
      printf '%s\n' "$more" | tail -n 3 >&2
      exit "$fail"
    fi
    if [ -n "$more" ]; then
      echo "otter: $owner serves this deployment and more, so it cannot hand ports 80/443" \
           "over to $p; nothing was changed. $owner also serves:" >&2
      printf '%s\n' "$more" | head -n 5 | sed 's/^/  /' >&2
      echo "otter: move those to $p as well, or keep $owner as this deployment's proxy" >&2
      exit "$fail"
    fi
    from=$owner
  fi
  shift 3
done
if [ -n "$owner" ] && [ -z "$from" ]; then
  echo "otter: $owner is running here and owns ports 80/443, so $p cannot serve;" \
       "stop $owner (systemctl disable --now $owner) or choose $owner as the proxy" >&2
  exit "$fail"
fi
if ! command -v "$p" >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "otter: $p is not installed and this host has no apt-get; install $p there" >&2
    exit "$fail"
  fi
  export DEBIAN_FRONTEND=noninteractive
  opts="-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
  if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then apt-get update -q >/dev/null 2>&1; fi
  # shellcheck disable=SC2086
  if ! out=$(apt-get install $opts "$pkg" 2>&1) &&
     ! out=$(apt-get update -q 2>&1 && apt-get install $opts "$pkg" 2>&1); then
    echo "otter: installing $pkg with apt-get failed:" >&2
    printf '%s\n' "$out" | tail -n 5 >&2
    exit "$fail"
  fi
  echo "otter: installed $pkg" >&2
fi
if [ -n "$from" ]; then
  # $from serves until the switch stops it and starts $p: $p must not race it at boot
  systemctl disable -q "$p" >/dev/null 2>&1; systemctl reset-failed "$p" >/dev/null 2>&1
  echo "otter: handover: $from serves until the switch, then $p takes ports 80/443 over" >&2
  exit 0
fi
if ! systemctl is-active --quiet "$p"; then
  if ! out=$(systemctl enable --now "$p" 2>&1); then
    echo "otter: $p is installed but does not start:" >&2
    printf '%s\n' "$out" | tail -n 3 >&2
    journalctl -u "$p" -n 5 --no-pager >&2 2>/dev/null
    exit "$fail"
  fi
  echo "otter: started $p" >&2
fi
exit 0
"""


def ensure_proxy(proxy: str, others: Sequence[tuple[str, str, Command]] = ()) -> Command:
    """`proxy` installed (apt) and running on the target, or exit EXIT_PROXY naming why:
    another proxy holds 80/443, no apt-get, the install or the start failed. What it did
    ("installed caddy", "started caddy") goes to stderr.

    `others`: (proxy kind, its site file of this deployment, the command that prints what
    else it serves) per other kind. When the proxy holding 80/443 is one of them and has
    that site, it serves this deployment: if it serves nothing else, `proxy` is installed
    but left stopped ("otter: handover: ..." on stderr) for the switch to take over;
    otherwise exit EXIT_PROXY listing what else it serves, before anything changed."""
    if proxy not in PACKAGES:
        raise ValueError(f"no package known for proxy {proxy!r}")
    args = [proxy, PACKAGES[proxy]]
    for kind, site, serving in others:
        args += [kind, site, serving.shell_line()]
    return script(ENSURE_SCRIPT, args=args, description=f"ensure {proxy} is installed and running")
