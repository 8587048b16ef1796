"""When a schedule runs: cron's five fields translated to systemd's OnCalendar form, or a
systemd calendar expression checked conservatively (the controller may have no
`systemd-analyze`): what passes is a form systemd reads."""
from __future__ import annotations

import re

from otterfile.load.validate import fail

# cron --------------------------------------------------------------------------------------

MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
          "@annually": "0 0 1 1 *"}
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_DAYS = "sun mon tue wed thu fri sat".split()
_SYSTEMD_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
# (field, lowest, highest, names)
_FIELDS = (("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None),
           ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS))


def is_cron(when: str) -> bool:
    """Cron's form: a macro, or five fields none of which has a ':' (a time of day)."""
    fields = when.split()
    return when.strip() in MACROS or (len(fields) == 5 and ":" not in when)


def calendar_of(path: str, when: str) -> str:
    """The OnCalendar= expression of `when`; a FieldError at `path` says what is wrong."""
    if is_cron(when):
        return cron_to_calendar(path, MACROS.get(when.strip(), when))
    return check_calendar(path, when)


def cron_to_calendar(path: str, cron: str) -> str:
    """Cron's five fields as systemd's `[WEEKDAYS] *-MONTH-DAY HOUR:MINUTE:00`."""
    values = []
    for text, (what, low, high, names) in zip(cron.split(), _FIELDS):
        values.append(_cron_field(path, what, text, low, high, names))
    minute, hour, day, month, weekday = values
    if day is not None and weekday is not None:
        fail(path, f"{cron!r} restricts both the day of month and the day of week: cron runs "
             "when either matches, systemd when both do; use two schedules, or a calendar "
             "expression that says which")
    days = ""
    if weekday is not None:  # cron's 7 is Sunday too
        days = _weekdays(sorted({d % 7 for d in weekday})) + " "
    return f"{days}*-{_numbers(month, 12)}-{_numbers(day, 31)} " \
           f"{_numbers(hour, 23)}:{_numbers(minute, 59)}:00"


def _cron_field(path: str, what: str, text: str, low: int, high: int,
                names: list[str] | None) -> list[int] | None:
    """The values a cron field allows, ascending; None: every value (`*`)."""
    if text == "*":
        return None
    out: set[int] = set()
    for part in text.split(","):
        found = re.fullmatch(r"(\*|[0-9a-zA-Z]+(?:-[0-9a-zA-Z]+)?)(?:/(\d+))?", part)
        if not found:
            fail(path, f"cron's {what} field {text!r}: {part!r} is not a number, a range "
                 "a-b, '*' or one of those with /step")
        span, step = found.group(1), int(found.group(2) or 1)
        if step < 1:
            fail(path, f"cron's {what} field {text!r}: a step of 0")
        if span == "*":
            first, last = low, high
        else:
            ends = [_cron_value(path, what, e, low, high, names) for e in span.split("-")]
            first, last = ends[0], ends[-1]
            if found.group(2) and len(ends) == 1:
                last = high  # "5/15": from 5 on, as cron reads it
            if first > last:
                fail(path, f"cron's {what} field {text!r}: the range {span} runs backwards")
        out.update(range(first, last + 1, step))
    return sorted(out)


def _cron_value(path: str, what: str, text: str, low: int, high: int,
                names: list[str] | None) -> int:
    if names and text.lower() in names:
        return names.index(text.lower()) + (1 if what == "month" else 0)
    if not text.isdigit() or not low <= int(text) <= high:
        fail(path, f"cron's {what} field: {text!r} is not a number from {low} to {high}"
             + (f" or a name ({names[0]}...)" if names else ""))
    return int(text)


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Consecutive values as (first, last) runs."""
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _numbers(values: list[int] | None, high: int) -> str:
    """A systemd list of `values` ("*", "05", "01..05,10"); a step that runs to the field's
    end is systemd's `a/n` (it repeats to the end too)."""
    if values is None:
        return "*"
    step = values[1] - values[0] if len(values) > 2 else 0
    if step > 1 and values == list(range(values[0], high + 1, step)):
        return f"{values[0]:02d}/{step}"
    return ",".join(f"{a:02d}" if a == b else f"{a:02d}..{b:02d}" for a, b in _runs(values))


def _weekdays(days: list[int]) -> str:
    """Cron's day numbers (0 Sunday) as systemd's names, Monday first ("Mon..Fri,Sun")."""
    monday_first = sorted(days, key=lambda d: (d + 6) % 7)
    order = [(d + 6) % 7 for d in monday_first]
    parts = []
    for a, b in _runs(order):
        first, last = _SYSTEMD_DAYS[(a + 1) % 7], _SYSTEMD_DAYS[(b + 1) % 7]
        parts.append(first if a == b else f"{first}..{last}" if b > a + 1 else
                     f"{first},{last}")
    return ",".join(parts)


# systemd calendar expressions ----------------------------------------------------------------

SHORTHANDS = ("minutely", "hourly", "daily", "monthly", "weekly", "yearly", "annually",
              "quarterly", "semiannually")
_DAY_NAME = r"(?:mon|tue|wed|thu|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|" \
    r"saturday|sunday)"
_WEEKDAYS = re.compile(rf"{_DAY_NAME}(?:(?:\.\.|,){_DAY_NAME})*", re.IGNORECASE)
_VALUE = r"(?:\*|\d+(?:\.\.\d+)?)(?:/\d+)?"
_LIST = rf"{_VALUE}(?:,{_VALUE})*"
_SECONDS = r"(?:\*|\d+(?:\.\d+)?(?:\.\.\d+)?)(?:/\d+(?:\.\d+)?)?"
_DATE = re.compile(rf"(?:(?P<y>{_LIST})-)?(?P<m>{_LIST})(?:-|~)(?P<d>{_LIST})")
_TIME = re.compile(rf"(?P<h>{_LIST}):(?P<min>{_LIST})(?::(?P<s>{_SECONDS}(?:,{_SECONDS})*))?")
_ZONE = re.compile(r"UTC|[A-Z][A-Za-z_+-]*(?:/[A-Za-z0-9_+-]+)+")
_LIMITS = {"m": (1, 12), "d": (1, 31), "h": (0, 23), "min": (0, 59)}


def check_calendar(path: str, when: str) -> str:
    """A systemd calendar expression in the subset this check knows (weekdays, a date, a
    time, a time zone; or a shorthand such as "daily"), returned as given; else an error."""
    text = " ".join(when.split())
    if text.lower() in SHORTHANDS:
        return text.lower()
    words = text.split(" ")
    found: dict[str, str] = {}
    for word in words:
        part = _part_of(word, found)
        if part is None:
            fail(path, f"unknown calendar expression {when!r}: expected cron's five fields "
                 "(\"0 3 * * *\") or systemd's [WEEKDAYS] [YEAR-]MONTH-DAY HH:MM[:SS] "
                 "[ZONE] (\"Mon..Fri *-*-* 03:00\"); the part "
                 f"{word!r} is neither")
        found[part] = word
    if not {"days", "date", "time"} & set(found):
        fail(path, f"unknown calendar expression {when!r}: it names no day, date or time")
    for part, pattern in (("date", _DATE), ("time", _TIME)):
        matched = pattern.fullmatch(found.get(part, "")) if part in found else None
        for key, (low, high) in _LIMITS.items():
            if matched and key in matched.groupdict() and matched.group(key):
                _in_range(path, when, matched.group(key), low, high)
    return text


def _part_of(word: str, found: dict[str, str]) -> str | None:
    """Which part of an expression `word` is, in the order systemd reads them."""
    order = ["days", "date", "time", "zone"]
    for part, pattern in (("days", _WEEKDAYS), ("date", _DATE), ("time", _TIME),
                          ("zone", _ZONE)):
        if pattern.fullmatch(word) and part not in found and \
                all(order.index(p) < order.index(part) for p in found):
            return part
    return None


def _in_range(path: str, when: str, values: str, low: int, high: int) -> None:
    for number in re.findall(r"(?<![/\d])\d+", values):
        if not low <= int(number) <= high:
            fail(path, f"calendar expression {when!r}: {number} is outside {low}..{high}")
