"""The chosen reverse proxy present and running on a target, installed with apt if missing;
refused where another proxy holds ports 80/443. Runs first in the round trip that reads a
deployment's state (flow.recover), so a deploy costs no extra trip for it."""
from __future__ import annotations

from ..command import Command, script
from ..scripts import load

EXIT_PROXY = 7  # the proxy cannot be had on this host; stderr says why, naming it

# Debian and Ubuntu package per proxy kind (nginx-light serves otter as well: any is kept)
PACKAGES = {"caddy": "caddy", "nginx": "nginx"}


def ensure_proxy(proxy: str, module: str | None = None) -> Command:
    """`proxy` installed (apt) and running on the target, or exit EXIT_PROXY naming why:
    another proxy holds 80/443, no apt-get, the install or the start failed. `module`, a
    package the proxy's switch without reload needs, is installed too when apt can (a
    failure is said, not fatal: the proxy then switches by reload). What it did
    ("otter: installed caddy", "otter: started caddy") goes to stderr."""
    if proxy not in PACKAGES:
        raise ValueError(f"no package known for proxy {proxy!r}")
    return script(load("proxy-ensure.sh"), args=[proxy, PACKAGES[proxy], module or ""],
                  description=f"ensure {proxy} is installed and running")
