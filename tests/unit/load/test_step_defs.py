"""Steps at the end of the run and contracts as an Otterfile declares them: after="deploy"
and contract=True checked (each bad case exits 2 naming the file, the step's line and the
field, and builds nothing), and a recipe's tuple of steps taken from `steps=[...]`."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from tests.unit.load.test_validate import BASE

pytestmark = pytest.mark.unit

CASES = [
    ("a contract before a stage", '''
@step(deployment="production", before="switch", contract=True)
def drop(ctx):
    pass
''', r":19: step drop/contract: a contract step runs after='deploy', once every target of "
     r"the run has retired the old release; got before='switch'"),
    ("a contract after retire", '''
@step(deployment="production", after="retire", on="once", contract=True)
def drop(ctx):
    pass
''', r":19: step drop/contract: .*got after='retire'"),
    ("a contract that is not a bool", '''
@step(deployment="production", after="deploy", contract="yes")
def drop(ctx):
    pass
''', r":19: step drop/contract: expected True or False, got 'yes'"),
    ("before the whole deploy", '''
@step(deployment="production", before="deploy")
def early(ctx):
    pass
''', r":19: step early/before: nothing runs before the whole deploy: use after='deploy'"),
    ("a step named deploy", '''
@step(deployment="production", after="switch")
def deploy(ctx):
    pass
''', r":19: step deploy: 'deploy' names the end of the run"),
    ("a migration with a command and expand", '''
from otterfile.stdlib import migration
STEPS = migration("./m", expand="./e")
''', r"TypeError: migration: give a command, or expand= and contract=, not both"),
    ("a migration with neither", '''
from otterfile.stdlib import migration

@deployment("other")
def other():
    return Deployment(artifact=web, runtime=box, targets=[servers], steps=[migration()])
''', r":23: deployment other: TypeError: migration: give a command, or expand= and/or "
     r"contract= \(raised in recipe .*steps\.py:\d+\)"),
    ("a migration whose contract is not a command", '''
from otterfile.stdlib import migration

@deployment("other")
def other():
    return Deployment(artifact=web, runtime=box, targets=[servers],
                      steps=[migration(expand="./e", contract=["drop"])])
''', r"TypeError: migration\(contract=...\): expected a shell command, got \['drop'\]"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_steps_exit_2_name_the_place_and_run_nothing(tmp_path, case):
    marker = tmp_path / "built"
    file = tmp_path / "Otterfile.py"
    file.write_text(BASE.format(marker=marker) + case[1])
    result = CliRunner().invoke(main, ["-f", str(file), "run", "production"], env={})
    assert result.exit_code == 2, result.output
    assert re.search(case[2], result.output), result.output
    assert result.output.startswith(f"error: {file}:") and "Traceback" not in result.output
    assert not marker.exists() and not (tmp_path / ".otter").exists()


def test_a_recipes_tuple_of_steps_is_taken_in_place(tmp_path):
    file = tmp_path / "Otterfile.py"
    file.write_text(BASE.format(marker=tmp_path / "built").replace(
        'domains=["app.test"])', 'domains=["app.test"], steps=[migration(expand="./e", '
        'contract="./c", name="db"), notify])') + '''
from otterfile.stdlib import migration

@step(after="deploy", on="controller")
def notify(ctx):
    pass
''')
    steps = evaluate(load(file)).deployments["production"].steps
    assert [(s.name, s.anchor, s.on, s.contract, s.after_deploy) for s in steps] == [
        ("db-expand", ("before", "switch"), "once", False, False),
        ("db-contract", ("after", "deploy"), "once", True, True),
        ("notify", ("after", "deploy"), "controller", False, True)]


def test_an_unknown_item_in_a_recipes_tuple_names_its_path(tmp_path):
    file = tmp_path / "Otterfile.py"
    file.write_text(BASE.format(marker=tmp_path / "built").replace(
        'domains=["app.test"])', 'domains=["app.test"], steps=[("nope",)])'))
    result = CliRunner().invoke(main, ["-f", str(file), "plan", "production"], env={})
    assert result.exit_code == 2
    assert "deployment production/steps/0/0: unknown step 'nope'" in result.output
