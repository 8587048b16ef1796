"""`otter status`: what each target runs, read in one round trip, plus a health probe."""
from __future__ import annotations

from dataclasses import dataclass, field

from .command import script
from .commands import state as states
from .proxies.base import parse_switching
from .report import table
from .text import printable

SWITCH_MARK = "--- otter:switch"
# the state read ($2..), then how the proxy switches (the probe's shell line, $1)
READ_SCRIPT = ('probe=$1; shift; "$@" || exit 1; echo "--- otter:switch"; '
               'sh -c "$probe" 2>/dev/null; exit 0')


@dataclass
class TargetStatus:
    releases: list = field(default_factory=list)
    live: object = None
    running: set = field(default_factory=set)
    health: str = ""
    log: list = field(default_factory=list)
    switch: str | None = None  # how the proxy switches there ("file", "reload: WHY")


def read_status(dep, executor, log_lines: int = 0) -> TargetStatus:
    """The target's releases and deploy log, and whether the live release answers."""
    runtime = dep.runtime.kind
    read = states.read_state(dep.name, runtime.listing(dep.name), log_lines=log_lines)
    if not dep.recreate:  # a recreate service is not behind the proxy
        read = script(READ_SCRIPT, args=[
            dep.proxy_kind.switch_probe(dep.proxy).shell_line(), *read.argv],
            description=f"{read.description}; how {dep.proxy_kind.name} switches")
    result = executor.run(read)
    if not result.ok:
        from .errors import OtterError
        raise OtterError(f"{executor.host.name}: reading state failed: {result.tail(5)}")
    text, marked, probe = result.stdout.partition(SWITCH_MARK + "\n")
    target = states.parse_read(text, runtime.parse_listing,
                               f"{executor.host.name}:{states.state_path(dep.name)}",
                               lambda release_id: runtime.instance_name(dep.name, release_id))
    out = TargetStatus(list(target.state.releases), target.state.live_release,
                       {i.name for i in target.instances if i.running}, log=target.log,
                       switch=parse_switching(probe, dep.proxy.switch).said if marked else None)
    if out.live is not None and out.live.port:
        out.health = _probe(dep, executor, out.live.port)
    return out


def _probe(dep, executor, port: int) -> str:
    from .errors import OtterError
    from .executors.base import ProbeFailed
    path = dep.health_check.path if dep.health_check else "/"
    try:
        with executor.http(port) as get:
            return f"{get(path)} on {path}"
    except (ProbeFailed, OtterError) as error:  # a report shows the problem, not a failure
        return f"down ({error})"


def status_record(status, log_lines: int = 0) -> dict:
    """One target's status as data (`otter status --json`), or its error."""
    if isinstance(status, Exception):
        return {"error": str(status)}
    live = status.live
    return {"live": None if live is None else {
                "release": live.id, "digest": live.digest, "commit": live.commit,
                "port": live.port, "instance": live.instance,
                "running": live.instance in status.running},
            "health": status.health or None, "switch": status.switch,
            "previous": [r.id for r in reversed(status.releases) if r.status == "previous"],
            "log": status.log[-log_lines:] if log_lines else []}


def render_status(pairs, results, log_lines: int = 0) -> str:
    """One row per target (an error in its row), then the last deploy-log records; what
    came from a target is shown through `table`, which escapes control characters."""
    rows, logs, notes = [], [], []
    for (dep, host), status in zip(pairs, results):
        if isinstance(status, Exception):
            rows.append([host.name, dep.name, "?", "", "", "", " ".join(str(status).split())])
            continue
        live = status.live
        if status.switch and status.switch != "file":  # the default switch reloads not
            notes.append(f"{host.name}: {dep.proxy_kind.name} switches {dep.name} by "
                         f"{status.switch}")
        previous = [r.id for r in reversed(status.releases) if r.status == "previous"]
        rows.append([host.name, dep.name, live.id if live else "none",
                     (live.commit or "")[:10] if live else "",
                     ("running" if live and live.instance in status.running else "stopped")
                     if live else "", status.health, ", ".join(previous[:3]) or "-"])
        for record in status.log[-log_lines:] if log_lines else []:  # typed by parse_log
            stages = " ".join(f"{k}={v:.1f}s" for k, v in record.get("seconds", {}).items())
            logs.append([host.name, record.get("when") or "", record.get("who") or "",
                         (record.get("digest") or "")[7:19], (record.get("commit") or "")[:10],
                         record.get("result") or "", stages])
    text = table(["host", "deployment", "live", "commit", "state", "health", "previous"],
                 rows)
    if notes:
        text += "\n" + "\n".join(printable(note, keep="") for note in notes)
    if logs:
        text += "\n\n" + table(["host", "when", "who", "digest", "commit", "result",
                                "seconds"], logs)
    return text
