"""`otter status`: what each target runs, read in one round trip, plus a health probe; its
schedules, snapshots and previews in one more (report/status_reads.py) when it has any."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from otterfile.report.text import printable

if TYPE_CHECKING:  # the views load once the targets have answered (render, record)
    from otterfile.report.schedules import ScheduleStatus
    from otterfile.executors.base import Executor
    from otterfile.hosts import Host
    from otterfile.load.project import DeploymentDef
    from otterfile.run.preview import Preview
    from otterfile.run.retire_later import Retiring
    from otterfile.run.snapshots import Found
    from otterfile.run.state import Release
    from otterfile.run.window import Kept


@dataclass
class TargetStatus:
    releases: list[Release] = field(default_factory=list)
    live: Release | None = None
    # (runtime kind, instance) of those that run
    running: set[tuple[str, str]] = field(default_factory=set)
    health: str = ""
    log: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""  # what otter assumed of a state file an older otter wrote
    switch: str | None = None  # how the proxy switches there ("file", "reload: WHY")
    maintenance: str | None = None  # the page's message while maintenance is on
    kept: Kept | None = None  # the release kept running for the rollback window
    schedules: list[ScheduleStatus] = field(default_factory=list)  # report/schedules.py
    snapshots: Found | None = None  # its snapshots (None: none declared, or not read)
    previews: list[Preview] | None = None  # its previews (None: no preview_domain)
    errors: list[str] = field(default_factory=list)  # a part that could not be read
    retiring: Retiring | None = None  # a background retire running, or one that failed

    def runs(self, release: Release | None) -> bool:
        """Whether `release`'s instance runs, under the runtime kind that started it."""
        return release is not None and (release.runtime, release.instance) in self.running


def read_status(dep: DeploymentDef, executor: Executor, log_lines: int = 0) -> TargetStatus:
    """The target read (run/target.py): the releases (with the runtime and proxy kind of
    each; live by the served-port rule), their instances of every runtime kind the state
    names, the deploy log, how the proxy switches there; then whether the live release
    answers."""
    from otterfile.run import kinds, target as reads
    result = executor.run(reads.command(dep, log_lines=log_lines))
    if not result.ok:
        from otterfile.errors import OtterError
        raise OtterError(f"{executor.host.name}: reading state failed: {result.tail(5)}")
    reading = reads.complete(dep, executor, reads.parse(dep, executor.host.name,
                                                        result.stdout), log_lines)
    state, live = reads.live(dep, reading)
    switching = reads.switching(dep, reading)
    out = TargetStatus(list(state.releases), live,
                       {kinds.key(dep, i) for i in reading.target.instances if i.running},
                       log=reading.target.log,
                       note=kinds.assumed_note(dep, executor.host.name, reading.target) or "",
                       switch=switching.said if switching else None,
                       maintenance=reading.maintenance, kept=reading.kept,
                       retiring=reading.retiring)
    from otterfile.report import status_reads
    extras = status_reads.read(dep, executor, live.id if live else None,
                               schedules=bool(dep.schedules or reading.schedules))
    out.schedules, out.snapshots, out.previews, out.errors = \
        extras.schedules, extras.snapshots, extras.previews, extras.errors
    # a read state's port is an int (a str is a plan's placeholder)
    if out.live is not None and isinstance(out.live.port, int) and out.live.port:
        out.health = _probe(dep, executor, out.live.port)
    return out


def _probe(dep: DeploymentDef, executor: Executor, port: int) -> str:
    from otterfile.errors import OtterError
    from otterfile.executors.base import ProbeFailed
    path = dep.health_check.path if dep.health_check else "/"
    try:
        with executor.http(port) as get:
            return f"{get(path)} on {path}"
    except (ProbeFailed, OtterError) as error:  # a report shows the problem, not a failure
        return f"down ({error})"


def status_record(status: TargetStatus | Exception, log_lines: int = 0) -> dict[str, Any]:
    """One target's status as data (`otter status --json`), or its error."""
    if isinstance(status, Exception):
        return {"error": str(status)}
    from otterfile.report import previews as shown_previews, snapshots as shown_snaps
    live = status.live
    return {"live": None if live is None else {
                "release": live.id, "digest": live.digest, "commit": live.commit,
                "port": live.port, "instance": live.instance, "runtime": live.runtime,
                "proxy": live.proxy, "running": status.runs(live)},
            "health": status.health or None, "switch": status.switch,
            "maintenance": status.maintenance,
            "kept": _kept_record(status),
            "retire": status.retiring.as_data() if status.retiring else None,
            "previous": [r.id for r in reversed(status.releases) if r.status == "previous"],
            "runtimes": {r.id: r.runtime for r in status.releases
                         if r.status in ("live", "previous")},
            "note": status.note or None,
            "schedules": [s.record() for s in status.schedules],
            "snapshots": [shown_snaps.record(status.snapshots, s)
                          for s in status.snapshots.snapshots] if status.snapshots else [],
            "previews": [shown_previews.record(p) for p in status.previews or ()],
            "errors": status.errors,
            "log": status.log[-log_lines:] if log_lines else []}


def render_status(pairs: Sequence[tuple[DeploymentDef, Host]],
                  results: Sequence[TargetStatus | Exception], log_lines: int = 0) -> str:
    """One row per target (an error in its row), then the last deploy-log records; what
    came from a target is shown through `table`, which escapes control characters."""
    from otterfile.report import previews as shown_previews, schedules, snapshots as shown_snaps
    from otterfile.report.tables import table
    rows: list[list[str]] = []
    logs: list[list[str]] = []
    notes: list[str] = []
    timed: list[list[str]] = []  # the schedules' rows
    snaps: list[list[str]] = []  # the snapshots' rows
    previews: dict[str, tuple[DeploymentDef, list[tuple[str, list[Preview]]]]] = {}
    for (dep, host), status in zip(pairs, results):
        if isinstance(status, Exception):
            rows.append([host.name, dep.name, "?", "", "", "", "", " ".join(str(status).split())])
            continue
        live = status.live
        if status.switch and status.switch != "file":  # the default switch reloads not
            notes.append(f"{host.name}: {dep.proxy_kind.name} switches {dep.name} by "
                         f"{status.switch}")
        previous = [_with_kind(r, live) + _kept_note(status, r) for r in
                    reversed(status.releases) if r.status == "previous"]
        rows.append([host.name, dep.name, live.id if live else "none",
                     (live.commit or "")[:10] if live else "", _kinds(live),
                     ("running" if status.runs(live) else "stopped") if live else "",
                     status.health, _newest(previous)])
        notes += [status.note] if status.note else []
        notes += [status.retiring.said(host.name, dep.name)] if status.retiring else []
        timed += schedules.rows(dep, host, status.schedules) if status.schedules else []
        snaps += [[row[0], dep.name, *row[1:]] for row in
                  shown_snaps.rows(host.name, status.snapshots)] if status.snapshots else []
        if status.previews is not None:
            previews.setdefault(dep.name, (dep, []))[1].append((host.name, status.previews))
        notes += status.errors
        if status.maintenance is not None:
            notes.append(f"{host.name}: {dep.name} is in maintenance (503: "
                         f"{status.maintenance!r}); `otter maintenance {dep.name} off` ends it")
        for record in status.log[-log_lines:] if log_lines else []:  # typed by parse_log
            stages = " ".join(f"{k}={v:.1f}s" for k, v in record.get("seconds", {}).items())
            logs.append([host.name, record.get("when") or "", record.get("who") or "",
                         (record.get("digest") or "")[7:19], (record.get("commit") or "")[:10],
                         record.get("result") or "", stages])
    text = table(["host", "deployment", "live", "commit", "runs on", "state", "health",
                  "previous"], rows)
    if timed:
        text += "\n\n" + schedules.render(timed)
    if snaps:
        text += "\n\n" + table(["host", "deployment", *shown_snaps.HEADERS[1:]], snaps)
    for dep, found in previews.values():
        text += "\n\n" + "\n".join(printable(line) for line in
                                     shown_previews.lines(dep, found))
    if notes:
        text += "\n" + "\n".join(f"note: {printable(note, keep='')}" for note in notes)
    if logs:
        text += "\n\n" + table(["host", "when", "who", "digest", "commit", "result",
                                "seconds"], logs)
    return text


def _newest(previous: list[str]) -> str:
    """The previous column: the newest previous release and how many are older (all of them
    are in --json); the table stays readable on an ordinary terminal."""
    if not previous:
        return "-"
    return previous[0] + (f" (+{len(previous) - 1} older)" if len(previous) > 1 else "")


def _kinds(release: Release | None) -> str:
    """`docker, caddy`: what runs and serves a release."""
    if release is None:
        return ""
    return ", ".join(k for k in (release.runtime, release.proxy) if k)


def _with_kind(release: Release, live: Release | None) -> str:
    """A previous release's id, with its runtime kind when another one runs the live one."""
    if live is not None and release.runtime and release.runtime != live.runtime:
        return f"{release.id} ({release.runtime})"
    return release.id


def _kept_record(status: TargetStatus) -> dict[str, Any] | None:
    """The release kept for the rollback window, as data: its id, until when (UTC, the
    target's clock), the seconds left, whether its instance runs."""
    kept = status.kept
    if kept is None or (status.live is not None and kept.release == status.live.id):
        return None  # a run that made it live again failed before it kept another
    release = next((r for r in status.releases if r.id == kept.release), None)
    return {"release": kept.release, "until": _utc(kept.until), "seconds_left": kept.left,
            "running": status.runs(release)}


def _kept_note(status: TargetStatus, release: Release) -> str:
    """` (kept until 18:04:05Z)` after the previous release kept running for the window."""
    if status.kept is None or status.kept.release != release.id:
        return ""
    return f" (kept until {_utc(status.kept.until)[11:]})"


def _utc(epoch: int) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
