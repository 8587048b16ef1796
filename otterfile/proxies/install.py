"""A proxy kind present and running on a target, installed with apt if missing; refused where
another proxy holds ports 80/443, unless that proxy serves this deployment and nothing else
(a proxy kind change: installed, left stopped, the switch hands the ports over). Runs first
in the round trip that reads a deployment's state (recover.recover), so a deploy costs no extra
trip for it. Each proxy kind says what installing and starting it takes (`Install`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from otterfile.command import Command, script
from otterfile.scripts import load

EXIT_PROXY = 7  # the proxy cannot be had on this host; stderr says why, naming it
# Web servers that are no proxy kind of otter's but may hold ports 80/443 on a target.
FOREIGN = ("apache2",)

STATUS_SCRIPT = load("unit-runs.sh") + load("proxy-status.sh")


@dataclass(frozen=True)
class Install:
    """What installing and starting a proxy kind takes on a Debian or Ubuntu target."""

    package: str  # its Debian package (nginx-light serves otter as well: any is kept)
    binary: str  # on PATH once installed
    unit: str  # its systemd unit, also the process name `ss` shows on 80/443


def ensure(install: Install, *, module: str | None = None, rivals: Sequence[str] = FOREIGN,
           others: Sequence[tuple[str, str, Command]] = ()) -> Command:
    """The proxy installed (apt) and running on the target, or exit EXIT_PROXY naming why:
    another proxy holds 80/443, no apt-get, the install or the start failed. `module`, a
    package the proxy's switch without reload needs, is installed too when apt can (a
    failure is said, not fatal: the proxy then switches by reload). What it did
    ("otter: installed caddy", "otter: started caddy") goes to stderr.

    `rivals`: the units of other web servers that may hold 80/443 (the other proxy kinds,
    FOREIGN). `others`: (unit, its site file of this deployment, the command that prints what
    else it serves) per other proxy kind. When the proxy holding 80/443 is one of them and
    has that site, it serves this deployment: if it serves nothing else, the proxy is
    installed but left stopped ("otter: handover: ..." on stderr) for the switch to take
    over; otherwise exit EXIT_PROXY listing what else it serves, before anything changed."""
    args = [install.unit, install.package, module or "", install.binary, " ".join(rivals)]
    for unit, site, serving in others:
        args += [unit, site, serving.shell_line()]
    return script(load("unit-runs.sh") + load("proxy-ensure.sh"), args=args,
                  description=f"ensure {install.unit} is installed and running")


def status(install: Install) -> Command:
    """Read-only: prints `installed` and `running` for what the proxy is."""
    return script(STATUS_SCRIPT, args=[install.binary, install.unit],
                  description=f"is {install.unit} installed and running")
