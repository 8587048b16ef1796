"""`otter status`: what each target runs, read in one round trip, plus a health probe."""
from __future__ import annotations

from dataclasses import dataclass, field

from .commands import state as states
from .report import table


@dataclass
class TargetStatus:
    releases: list = field(default_factory=list)
    live: object = None
    running: set = field(default_factory=set)
    health: str = ""
    log: list = field(default_factory=list)


def read_status(dep, executor, log_lines: int = 0) -> TargetStatus:
    """The target's releases and deploy log, and whether the live release answers."""
    runtime = dep.runtime.kind
    result = executor.run(states.read_state(dep.name, runtime.listing(dep.name),
                                            log_lines=log_lines))
    if not result.ok:
        from .errors import OtterError
        raise OtterError(f"{executor.host.name}: reading state failed: {result.tail(5)}")
    target = states.parse_read(result.stdout, runtime.parse_listing,
                               f"{executor.host.name}:{states.state_path(dep.name)}",
                               lambda release_id: runtime.instance_name(dep.name, release_id))
    out = TargetStatus(list(target.state.releases), target.state.live_release,
                       {i.name for i in target.instances if i.running}, log=target.log)
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
            "health": status.health or None,
            "previous": [r.id for r in reversed(status.releases) if r.status == "previous"],
            "log": status.log[-log_lines:] if log_lines else []}


def render_status(pairs, results, log_lines: int = 0) -> str:
    """One row per target (an error in its row), then the last deploy-log records; what
    came from a target is shown through `table`, which escapes control characters."""
    rows, logs = [], []
    for (dep, host), status in zip(pairs, results):
        if isinstance(status, Exception):
            rows.append([host.name, dep.name, "?", "", "", "", " ".join(str(status).split())])
            continue
        live = status.live
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
    if logs:
        text += "\n\n" + table(["host", "when", "who", "digest", "commit", "result",
                                "seconds"], logs)
    return text
