"""Schedule(WHEN, COMMAND): a command run in the live release by a systemd timer.

WHEN is cron's five fields ("0 3 * * *", or "@daily") or a systemd calendar expression
("Mon..Fri *-*-* 03:00:00"), see calendar.py. run/schedules.py turns a checked ScheduleDef
into units.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from otterfile.load.validate import check_choice, check_name, check_str, fail, got

ON = ("one", "all")


@dataclass(frozen=True)
class Schedule:
    """`Schedule("0 3 * * *", "./bin/cleanup")`: cron's five fields or a systemd calendar
    expression; the command runs in the live release (a one-off container of its image, or
    in its folder as its user). `on="one"` (default): on the first target that is up,
    `"all"`: on each. `name` defaults to the command's program name."""

    when: Any
    command: Any
    on: Any = "one"
    name: Any = None


@dataclass(frozen=True)
class ScheduleDef:
    """A checked schedule: its name, its OnCalendar expression and its command's words."""

    name: str
    when: str  # as the user wrote it
    calendar: str  # systemd's OnCalendar=
    words: tuple[str, ...]
    on: str = "one"


def check_schedules(value: Any) -> tuple[ScheduleDef, ...]:
    """Deployment(schedules=[...]) checked; a name used twice is an error."""
    if isinstance(value, (str, Schedule)) or not isinstance(value, (list, tuple)):
        fail("", f"expected a list of Schedule(...), {got(value)}")
    out: dict[str, ScheduleDef] = {}
    for index, item in enumerate(value):
        checked = check_schedule(str(index), item)
        first = next((i for i, s in enumerate(out.values()) if s.name == checked.name), None)
        if first is not None:
            fail(f"{index}/name", f"schedule name {checked.name!r} is schedules/{first}'s "
                 "too; give each a name=")
        out[checked.name] = checked
    return tuple(out.values())


def check_schedule(path: str, value: Any) -> ScheduleDef:
    if not isinstance(value, Schedule):
        fail(path, f"expected Schedule(WHEN, COMMAND), {got(value)}")
    when = check_str(f"{path}/when", value.when)
    assert when is not None  # not optional
    command = check_str(f"{path}/command", value.command)
    assert command is not None
    if any(ord(c) < 32 or c == "\x7f" for c in command):
        fail(f"{path}/command", "a control character (a newline?) cannot be in a command")
    try:
        words = tuple(shlex.split(command))
    except ValueError as error:
        fail(f"{path}/command", f"cannot split {command!r} into words: {error}")
    on = check_choice(f"{path}/on", value.on, ON)
    name = value.name if value.name is not None else _default_name(words)
    name = check_name(f"{path}/name", name, "schedule name")
    from otterfile.load.calendar import calendar_of  # only an Otterfile with schedules
    return ScheduleDef(name, when, calendar_of(f"{path}/when", when), words, on)


def _default_name(words: tuple[str, ...]) -> str:
    """The program's file name, its extension left out: "./bin/clean-up.sh" -> "clean-up"."""
    base = words[0].rsplit("/", 1)[-1].split(".", 1)[0] if words else ""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", base).strip("-.") or "schedule"
