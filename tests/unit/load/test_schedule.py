"""Schedule(...): default names, names used twice, and bad input an Otterfile error naming
the file, line and field (nothing run)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.load.schedule import Schedule, check_schedules
from otterfile.load.validate import FieldError

pytestmark = pytest.mark.unit

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
