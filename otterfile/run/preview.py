"""Preview deployments on the targets: which previews of a deployment a host has (their
labels and preview.json), the expiry armed after a preview deploys (a transient systemd
timer running the preview's removal under its deploy lock, written beside its state), and
its disarming when `otter remove NAME --preview LABEL` takes the preview away first."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from otterfile.command import Command, script
from otterfile.commands import lock as locks
from otterfile.errors import OtterError
from otterfile.load.previews import preview_name
from otterfile.run.state import DEFAULT_BASE, state_dir
from otterfile.scripts import load

if TYPE_CHECKING:
    from otterfile.executors.base import Executor
    from otterfile.load.project import DeploymentDef

LIST_SCRIPT = load("preview/list.sh")
ARM_SCRIPT = load("preview/arm.sh")
EXPIRE_SCRIPT = load("preview/expire.sh")
RETRY_SECONDS = 30  # a locked-out expiry (a run holds the preview) tries again after this
ARMING_LATE = 75  # arm.sh: the expiry is removing the preview right now (never stopped)


@dataclass(frozen=True)
class Preview:
    """A preview found on a host: its label, domain and expiry (epoch seconds; 0 unknown)."""

    label: str
    domain: str = ""
    expires: float = 0


def timer_unit(preview: str) -> str:
    return f"otter-expire-{preview}"


def listing(dep: DeploymentDef, base: str = DEFAULT_BASE) -> Command:
    """Read-only: the previews of `dep` on a host (see `parse`)."""
    return script(LIST_SCRIPT, args=[base.rstrip("/"), dep.name],
                  description=f"list the previews of {dep.name}")


def parse(stdout: str) -> list[Preview]:
    """Previews from `listing`'s lines; an unreadable preview.json still counts, by label."""
    found = []
    for line in stdout.splitlines():
        label, _, meta = line.partition("\t")
        try:
            data = json.loads(meta)
            found.append(Preview(label, str(data.get("domain", "")),
                                 float(data.get("expires", 0))))
        except (ValueError, TypeError, AttributeError):
            found.append(Preview(label))
    return found


def read(dep: DeploymentDef, executor: Executor) -> list[Preview]:
    result = executor.run(listing(dep))
    if not result.ok:
        raise OtterError(f"{executor.host.name}: listing the previews of {dep.name} failed "
                         f"(exit {result.exited}): {result.tail(5)}")
    return parse(result.stdout)


def refused(labels: Sequence[str], label: str, limit: int) -> str | None:
    """Why one more preview `label` is refused (`limit` at once), or None."""
    if label in labels or len(labels) < limit:
        return None
    return (f"{len(labels)} previews already run (previews={limit}): "
            f"{', '.join(sorted(labels))}; remove one first with "
            f"`otter remove NAME --preview LABEL`")


def expiry(preview: str, removal: Command, after: Command, *, host: str = "",
           base: str = DEFAULT_BASE) -> Command:
    """What the expiry timer runs: `removal` under the preview's deploy lock (held by
    another run: exit 75, retried), then `after` (the state folder, when empty)."""
    run_id = f"expire-{preview}"
    take = locks.acquire(preview, holder=f"the expiry timer of {preview}{host}", pid=0,
                         run_id=run_id, base=base)
    return script(EXPIRE_SCRIPT, args=[take.shell_line(),
                                       locks.heartbeat(preview, run_id, base=base).shell_line(),
                                       removal.shell_line(),
                                       locks.release(preview, run_id, base=base).shell_line(),
                                       after.shell_line()],
                  ok_codes=(0, 75), description=f"expire {preview} under its lock")


def arm(preview: DeploymentDef, removal: Command, seconds: int, label: str,
        now: float | None = None, base: str = DEFAULT_BASE) -> Command:
    """Write preview.json and the removal (`expiry`) beside the preview's state, and
    (re)start the timer that runs it `seconds` from now."""
    expires = (time.time() if now is None else now) + seconds
    meta = json.dumps({"label": label, "domain": preview.domains[0], "expires": int(expires)})
    return script(ARM_SCRIPT, args=[state_dir(preview.name, base), timer_unit(preview.name),
                                     str(seconds), meta, removal.shell_line(),
                                     str(RETRY_SECONDS)],
                  description=f"arm the expiry of {preview.name} in {seconds}s")


def disarm(preview: str) -> Command:
    """Stop the expiry timer of `preview` (none armed: nothing to do), and its service
    waiting to retry (run under the preview's lock: no expiry is removing it)."""
    unit = timer_unit(preview)
    return script('systemctl stop "$1.timer" "$1.service" >/dev/null 2>&1; '
                  'systemctl reset-failed "$1.timer" "$1.service" >/dev/null 2>&1; exit 0',
                  args=[unit], description=f"stop the expiry timer {unit}.timer")


def arm_after_deploy(preview: DeploymentDef, executor: Executor, seconds: int,
                     label: str) -> float:
    """After a deploy of `preview`: what its removal takes away now, armed to run in
    `seconds`; returns the expiry (epoch seconds)."""
    from otterfile.run import remove as removal
    found = removal.inspect(preview, executor)
    gone = expiry(preview.name, removal.removal(preview, found, with_data=True),
                  removal.forget_folder(preview.name), host=f" on {executor.host.name}")
    now = time.time()
    result = executor.run(arm(preview, gone, seconds, label, now=now))
    if result.exited == ARMING_LATE:
        raise OtterError(f"{executor.host.name}: the expiry of {preview.name} began removing "
                         f"it as this run ended (its time was up): once it is gone, run "
                         f"`otter run NAME --preview {label}` again to deploy it anew")
    if not result.ok:
        raise OtterError(f"{executor.host.name}: arming the expiry of {preview.name} failed "
                         f"(exit {result.exited}): {result.tail(5)}")
    return now + seconds


__all__ = ["Preview", "arm", "arm_after_deploy", "disarm", "expiry", "listing", "parse",
           "preview_name", "read", "refused", "timer_unit"]
