"""Cron translated to systemd's OnCalendar, calendar expressions checked as written, and
what is neither a field error saying why."""
from __future__ import annotations

import pytest

from otterfile.load.calendar import calendar_of
from otterfile.load.validate import FieldError

pytestmark = pytest.mark.unit

CRON = [
    ("0 3 * * *", "*-*-* 03:00:00"),
    ("*/15 * * * *", "*-*-* *:00/15:00"),
    ("* * * * *", "*-*-* *:*:00"),
    ("5 */2 * * *", "*-*-* 00/2:05:00"),
    ("5-30/15 9-17 * * mon-fri", "Mon..Fri *-*-* 09..17:05,20:00"),  # a step that stops early
    ("0 0 1 */3 *", "*-01/3-01 00:00:00"),
    ("0 12 * * 0,6", "Sat,Sun *-*-* 12:00:00"),
    ("0 12 * * 7", "Sun *-*-* 12:00:00"),  # cron's 7 is Sunday too
    ("0 12 * * 5-7", "Fri..Sun *-*-* 12:00:00"),
    ("30 4 1,15 * *", "*-*-01,15 04:30:00"),
    ("0 0 * jan,JUL *", "*-01,07-* 00:00:00"),
    ("0 1,2,3,7 * * *", "*-*-* 01..03,07:00:00"),
    ("@daily", "*-*-* 00:00:00"),
    ("@hourly", "*-*-* *:00:00"),
    ("@weekly", "Sun *-*-* 00:00:00"),
]
CALENDAR = ["Mon..Fri *-*-* 03:00", "daily", "*-*-* *:0/5", "Sat,Sun 10:00 UTC",
            "2030-*-01 00:00:00 Europe/Berlin", "*-*~03 12:00", "Monday 03:00:00",
            "*-*-* 04:00:00.5", "hourly"]
BAD = [
    ("0 3 * *", "unknown calendar expression"),
    ("61 * * * *", "minute field: '61' is not a number from 0 to 59"),
    ("0 24 * * *", "hour field"),
    ("0 0 32 * *", "day of month field"),
    ("0 0 * 13 *", "month field"),
    ("0 0 * * 8", "day of week field"),
    ("0 0 * * xyz", "or a name (sun...)"),
    ("*/0 * * * *", "a step of 0"),
    ("30-10 * * * *", "runs backwards"),
    ("0 3 1 * mon", "cron runs when either matches"),
    ("bogus", "the part 'bogus' is neither"),
    ("*-*-* 25:00", "25 is outside 0..23"),
    ("Mon..Fri rm -rf", "the part 'rm' is neither"),
    ("Monsday 03:00", "unknown calendar expression"),
    ("03:00 Mon", "unknown calendar expression"),  # the weekday comes first
    ("UTC", "names no day, date or time"),
    ("*-*-* 03:00; reboot", "unknown calendar expression"),
]


@pytest.mark.parametrize("cron,calendar", CRON)
def test_cron_becomes_on_calendar(cron, calendar):
    assert calendar_of("when", cron) == calendar


@pytest.mark.parametrize("expression", CALENDAR)
def test_a_calendar_expression_passes_as_written(expression):
    assert calendar_of("when", expression) == expression


@pytest.mark.parametrize("when,said", BAD)
def test_a_bad_when_is_a_field_error(when, said):
    with pytest.raises(FieldError) as raised:
        calendar_of("when", when)
    assert said in raised.value.message
