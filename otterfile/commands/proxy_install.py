"""The chosen reverse proxy present and running on a target, installed with apt if missing;
refused where another proxy holds ports 80/443, unless that proxy serves this deployment and
nothing else (a proxy kind change: installed, left stopped, the switch hands the ports over).
Runs first in the round trip that reads a deployment's state (flow.recover), so a deploy costs
no extra trip for it."""
from __future__ import annotations

from typing import Sequence

from ..command import Command, script
from ..scripts import load

EXIT_PROXY = 7  # the proxy cannot be had on this host; stderr says why, naming it

# Debian and Ubuntu package per proxy kind (nginx-light serves otter as well: any is kept)
PACKAGES = {"caddy": "caddy", "nginx": "nginx"}


def ensure_proxy(proxy: str, *, module: str | None = None,
                 others: Sequence[tuple[str, str, Command]] = ()) -> Command:
    """`proxy` installed (apt) and running on the target, or exit EXIT_PROXY naming why:
    another proxy holds 80/443, no apt-get, the install or the start failed. `module`, a
    package the proxy's switch without reload needs, is installed too when apt can (a
    failure is said, not fatal: the proxy then switches by reload). What it did
    ("otter: installed caddy", "otter: started caddy") goes to stderr.

    `others`: (proxy kind, its site file of this deployment, the command that prints what
    else it serves) per other kind. When the proxy holding 80/443 is one of them and has
    that site, it serves this deployment: if it serves nothing else, `proxy` is installed
    but left stopped ("otter: handover: ..." on stderr) for the switch to take over;
    otherwise exit EXIT_PROXY listing what else it serves, before anything changed."""
    if proxy not in PACKAGES:
        raise ValueError(f"no package known for proxy {proxy!r}")
    args = [proxy, PACKAGES[proxy], module or ""]
    for kind, site, serving in others:
        args += [kind, site, serving.shell_line()]
    return script(load("proxy-ensure.sh"), args=args,
                  description=f"ensure {proxy} is installed and running")
