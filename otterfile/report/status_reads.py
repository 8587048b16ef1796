"""What `otter status` reads of a deployment on a target besides the target read, in one
more round trip when there is any: its schedules' units (report/schedules.py), its
snapshots (Deployment(snapshots=...)) and its previews (Deployment(preview_domain=...)).
Each part's output ends with a marker line naming the part and its exit status."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from otterfile.command import Command
from otterfile.commands import parts as parts_of
from otterfile.report.schedules import ScheduleStatus

if TYPE_CHECKING:
    from otterfile.executors.base import Executor
    from otterfile.load.project import DeploymentDef
    from otterfile.run.preview import Preview
    from otterfile.run.snapshots import Found

MARK = "--- otter:status"


@dataclass
class Extras:
    """What the extra read found; a part not asked for is None, one that failed says so
    in `errors`."""

    schedules: list[ScheduleStatus] = field(default_factory=list)
    snapshots: Found | None = None
    previews: list[Preview] | None = None
    errors: list[str] = field(default_factory=list)


def parts(dep: DeploymentDef, *, schedules: bool) -> dict[str, Command]:
    """Part name -> its read, for the parts `dep` has."""
    from otterfile.commands import snapshots as snaps
    from otterfile.run import preview, schedules as units
    every = {"schedules": units.status(dep.name) if schedules else None,
             "snapshots": snaps.listing(dep.name) if dep.snapshots is not None else None,
             "previews": preview.listing(dep) if dep.preview_domain is not None else None}
    return {name: c for name, c in every.items() if c is not None}


def command(dep: DeploymentDef, *, schedules: bool) -> Command | None:
    """The parts `dep` has, in one script (None: none to read)."""
    asked = parts(dep, schedules=schedules)
    if not asked:
        return None
    return parts_of.in_parts(asked, MARK, f"schedules, snapshots and previews of "
                             f"{dep.name} (read-only)")


def read(dep: DeploymentDef, executor: Executor, live: str | None, *,
         schedules: bool) -> Extras:
    """The extra read on `executor`'s host (`live`: the live release's id, for the
    snapshot `rollback --with-data` restores); a part that fails is an error, not a
    failure of the whole status."""
    from otterfile.commands import snapshots as snaps
    from otterfile.report import schedules as timed
    from otterfile.run import preview
    from otterfile.run.snapshots import Found
    out, asked = Extras(), command(dep, schedules=schedules)
    if asked is None:
        return out
    result = executor.run(asked)
    said = parse(result.stdout) if result.ok else {}
    for name in parts(dep, schedules=schedules):
        if said.get(name, (1, ""))[0] != 0:
            out.errors.append(f"{executor.host.name}: cannot read the {name} of {dep.name}"
                              + (f" (exit {said[name][0]})" if name in said else
                                 f": {result.tail(3)}"))
    ok = {name: text for name, (code, text) in said.items() if code == 0}
    if "schedules" in ok:
        out.schedules = timed.parse(ok["schedules"])
    if "snapshots" in ok:
        now, found = snaps.parse_listing(ok["snapshots"])
        restores = next((s for s in found if live and s.before == live), None)
        out.snapshots = Found(now, found, live, restores)
    if "previews" in ok:
        out.previews = preview.parse(ok["previews"])
    return out


def parse(stdout: str) -> dict[str, tuple[int, str]]:
    """Part name -> (exit status, output) from what `command` printed."""
    return parts_of.parse(stdout, MARK)
