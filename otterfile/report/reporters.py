"""Which reporter a command reports a run to, and how output names hosts: a live view on a
terminal, plain lines elsewhere (plain.py), JSON lines with --json (json_lines.py); the
summary table after a run is tables.py's."""
from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Mapping, TypeAlias

if TYPE_CHECKING:
    from otterfile.report.plain import ConsoleReporter
    from otterfile.hosts import Host
    from otterfile.load.project import Project
    from otterfile.report.json_lines import JsonReporter
    from otterfile.report.live import LiveReporter


def host_label(host: Host) -> str:
    """How output names a host: the name the run knows it by (unique in a run)."""
    return host.name


def host_address(host: Host) -> str:
    """Where a host is reached: `user@host:port` for SSH, `local` for this machine."""
    return host.address


def addresses(project: Project) -> dict[str, str]:
    """Each host's address by the name tasks carry, for JSON events."""
    return {host_label(h): host_address(h) for d in project.deployments.values()
            for h in d.hosts}


def is_terminal(stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """Whether `stream` is a terminal that takes cursor movement: not a pipe or file, not
    TERM=dumb, and NO_COLOR unset (then output stays plain text)."""
    import os
    env = os.environ if environ is None else environ
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and env.get("TERM", "") not in ("", "dumb") \
        and "NO_COLOR" not in env


def console_reporter(stream: IO[str] | None = None, *,
                     verbose: bool = False) -> LiveReporter | ConsoleReporter:
    """A live view on a terminal, plain lines elsewhere."""
    stream = stream or sys.stdout
    if is_terminal(stream):
        # rich loads only when a deploy runs on a terminal
        from otterfile.report.live import LiveReporter
        return LiveReporter(stream, verbose=verbose)
    from otterfile.report.plain import ConsoleReporter
    return ConsoleReporter(stream, verbose=verbose)


# What a command reports a run to: a live view, plain lines or JSON lines
Reporters: TypeAlias = "LiveReporter | ConsoleReporter | JsonReporter"
