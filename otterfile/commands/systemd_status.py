"""Builders that read a deployment's systemd units back, and their parsers; they never run
anything. `unit_status` (state, exit code, restarts and the last journal lines of one unit)
and `list_units` (every unit file of a deployment with its release, digest and state) each
take one round trip; `parse_status` and `parse_units` turn what they printed into the
InstanceStatus and Instance values every runtime reports.
"""
from __future__ import annotations

from otterfile import scripts
from otterfile.command import Command, script
from otterfile.commands.systemd import UNIT_DIR
from otterfile.run.state import check_name
from otterfile.values import Instance, InstanceStatus

JOURNAL_MARK = "--- otter:journal"  # scripts/systemd/status.sh: the journal's lines follow
STATUS_SCRIPT = scripts.load("systemd/status.sh")
RUNS_SCRIPT = scripts.load("systemd/runs.sh")
LIST_SCRIPT = scripts.load("systemd/list.sh")


def unit_status(unit: str, log_lines: int = 20) -> Command:
    """State, exit code, restarts and last journal lines of a unit, in one round trip."""
    return script(STATUS_SCRIPT, args=[unit, str(log_lines)], description=f"inspect {unit}")


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.split() if "=" in line)


def parse_status(stdout: str) -> InstanceStatus:
    """An InstanceStatus from what `unit_status` printed."""
    head, _, logs = stdout.partition(JOURNAL_MARK + "\n")
    values = _properties(head)
    if values.get("LoadState") in (None, "not-found") or "ActiveState" not in values:
        return InstanceStatus("missing", logs=logs.rstrip("\n"))
    code, restarts = values.get("ExecMainStatus", ""), values.get("NRestarts", "")
    return InstanceStatus(_state(values["ActiveState"], values.get("SubState", "")),
                          int(code) if code.isdigit() else None,
                          int(restarts) if restarts.isdigit() else 0,
                          values.get("Result") == "oom-kill", logs.rstrip("\n"))


def _state(active: str, sub: str) -> str:
    if active in ("active", "reloading"):
        return "running" if sub in ("running", "reload", "") else sub
    if active == "activating":
        return "restarting" if sub == "auto-restart" else "activating"
    return active  # failed, inactive, deactivating


def list_units(deployment: str, unit_dir: str = UNIT_DIR) -> Command:
    """Every unit file of the deployment, running or not (see `parse_units`)."""
    return script(LIST_SCRIPT, args=[check_name(deployment), unit_dir],
                  description=f"list units of {deployment}")


def running_units(deployment: str, unit_dir: str = UNIT_DIR) -> Command:
    """Every unit of the deployment, one `NAME running` (or `NAME stopped`) line each."""
    return script(RUNS_SCRIPT, args=[check_name(deployment), unit_dir],
                  description=f"instances of {deployment}")


def parse_units(stdout: str) -> list[Instance]:
    """Instances from what `list_units` printed."""
    out = []
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            name, release, digest, states = (p.strip() for p in parts)
            values = _properties(states)
            active, sub = values.get("ActiveState", "unknown"), values.get("SubState", "")
            out.append(Instance(name, active == "active", release, digest,
                                f"{active} ({sub})" if sub else active))
    return out
