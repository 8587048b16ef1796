"""Schedule(...): cron translated to systemd's OnCalendar, calendar expressions checked, and
bad input an Otterfile error naming the file, line and field (nothing run)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.load.schedule import Schedule, calendar_of, check_schedules
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
    with pytest.raises(FieldError, match=None) as raised:
        calendar_of("when", when)
    assert said in raised.value.message


def test_names_default_to_the_program_and_must_differ():
    made = check_schedules([Schedule("@daily", "./bin/clean-up.sh --all"),
                            Schedule("@daily", "python3 x.py", name="x")])
    assert [(s.name, s.words, s.on) for s in made] == [
        ("clean-up", ("./bin/clean-up.sh", "--all"), "one"), ("x", ("python3", "x.py"), "one")]
    with pytest.raises(FieldError) as raised:
        check_schedules([Schedule("@daily", "./clean"), Schedule("@hourly", "./clean")])
    assert raised.value.path == "1/name" and "schedules/0's too" in raised.value.message


BASE = '''from otterfile import *

@deployment("production")
def production():
    return Deployment(artifact=build(path=".", command="touch {marker} && docker build -t app ."),
                      runtime=docker(port=8080),
                      targets=[ssh("root@127.0.0.1:1", host_key_checking="accept-new")],
                      schedules={schedules})
'''


@pytest.mark.parametrize("schedules,said", [
    ('[Schedule("0 3 * * 9", "./x")]', "schedules/0/when: cron's day of week field"),
    ('[Schedule("often", "./x")]', "schedules/0/when: unknown calendar expression 'often'"),
    ('[Schedule("@daily", "./x"), Schedule("@daily", "./x")]',
     "schedules/1/name: schedule name 'x' is schedules/0's too"),
    ('[Schedule("@daily", "./x", on="some")]', "schedules/0/on: expected one of 'one', 'all'"),
    ('[Schedule("@daily", "")]', "schedules/0/command: expected a non-empty string"),
    ('[Schedule("@daily", "./x", name="a b")]', "schedules/0/name: schedule name 'a b'"),
    ('Schedule("@daily", "./x")', "schedules: expected a list of Schedule(...)"),
    ('["@daily ./x"]', "schedules/0: expected Schedule(WHEN, COMMAND)"),
])
def test_bad_schedules_exit_2_naming_file_line_and_field(tmp_path, schedules, said):
    marker = tmp_path / "built"
    file = tmp_path / "Otterfile.py"
    file.write_text(BASE.format(marker=marker, schedules=schedules))
    result = CliRunner().invoke(main, ["-f", str(file), "run", "production"], env={})
    assert result.exit_code == 2, result.output
    assert f"{file}:3: deployment production/{said}" in result.output
    assert "Traceback" not in result.output and not marker.exists()
