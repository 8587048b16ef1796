"""The chosen reverse proxy present and running on a target, installed with apt if missing;
refused where another proxy holds ports 80/443. Runs first in the round trip that reads a
deployment's state (flow.recover), so a deploy costs no extra trip for it."""
from __future__ import annotations

from ..command import Command, script

EXIT_PROXY = 7  # the proxy cannot be had on this host; stderr says why, naming it

# Debian and Ubuntu package per proxy kind (nginx-light serves otter as well: any is kept)
PACKAGES = {"caddy": "caddy", "nginx": "nginx"}

# $1 proxy (caddy | nginx, also its binary, unit and process name), $2 package to install.
ENSURE_SCRIPT = f"fail={EXIT_PROXY}" + r"""
p=$1 pkg=$2
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
if [ -n "$owner" ]; then
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


def ensure_proxy(proxy: str) -> Command:
    """`proxy` installed (apt) and running on the target, or exit EXIT_PROXY naming why:
    another proxy holds 80/443, no apt-get, the install or the start failed. What it did
    ("installed caddy", "started caddy") goes to stderr."""
    if proxy not in PACKAGES:
        raise ValueError(f"no package known for proxy {proxy!r}")
    return script(ENSURE_SCRIPT, args=[proxy, PACKAGES[proxy]],
                  description=f"ensure {proxy} is installed and running")
