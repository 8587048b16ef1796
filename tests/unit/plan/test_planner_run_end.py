"""The end of a run in the plan: a step after="deploy" (a migration's contract) waits for the
last task of every target (whatever the batches) and every unlock waits for it; a rollback
and a run narrowed by --targets leave a contract out; the plan shows expand and contract."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.plan.picture import draw
from otterfile.plan.planner import plan
from otterfile.run.runner import FAILED, OK, SKIPPED, run_graph

pytestmark = pytest.mark.unit

FILE = '''
from otterfile import *
from otterfile.stdlib import migration

@target
def trio():
    return [ssh("root@a:22"), ssh("root@b:22"), ssh("root@c:22")]

@deployment
def production():
    return Deployment(artifact=build(path="app", command="docker build -t app ."),
                      runtime=docker(port=80), targets=[trio], {options}
                      steps=[migration(expand="./expand", contract="./contract")])
'''


def graph_of(otterfile, options="", extra="", **kwargs):
    return plan(evaluate(load(otterfile(FILE.format(options=options) + extra))),
                ["production"], **kwargs)


def test_exact_graph_of_a_two_phase_migration(otterfile):
    assert draw(graph_of(otterfile), "text") == """\
acquire:production.artifact
production/lock@a  <- acquire:production.artifact
production/lock@b  <- acquire:production.artifact
production/lock@c  <- acquire:production.artifact
production/ship@a  <- production/lock@a
production/ship@b  <- production/lock@b
production/ship@c  <- production/lock@c
production/start@a  <- production/ship@a
production/start@b  <- production/ship@b
production/start@c  <- production/ship@c
production/health@a  <- production/start@a
production/health@b  <- production/start@b
production/health@c  <- production/start@c
production/step:migrate-expand  <- production/health@a
production/switch@a  <- production/step:migrate-expand
production/switch@b  <- production/health@b, production/step:migrate-expand
production/switch@c  <- production/health@c, production/step:migrate-expand
production/retire@a  <- production/switch@a
production/retire@b  <- production/switch@b
production/retire@c  <- production/switch@c
production/step:migrate-contract  <- production/retire@a, production/retire@b, \
production/retire@c
production/unlock@a  <- production/retire@a, production/step:migrate-contract
production/unlock@b  <- production/retire@b, production/step:migrate-contract
production/unlock@c  <- production/retire@c, production/step:migrate-contract
"""


def test_the_contract_runs_on_the_first_target_and_unlocks_run_after_a_failure(otterfile):
    graph = graph_of(otterfile)
    contract = graph.tasks["production/step:migrate-contract"]
    assert contract.host == "a" and not contract.always
    for host in "abc":
        unlock = graph.tasks[f"production/unlock@{host}"]
        assert unlock.always and unlock.required == (f"production/lock@{host}",)


def outcome_of(graph, failing: str) -> dict[str, str]:
    """Run `graph` with a fake perform where the task `failing` raises."""
    def perform(task):
        if task.id == failing:
            raise RuntimeError("broken")
    return run_graph(graph, perform, lambda event: None).status


@pytest.mark.parametrize("options", ["", "parallel=1,", "canary=True,",
                                     "parallel=1, canary=True,", 'on_failure="rollback",'])
def test_a_failure_on_any_target_skips_the_contract(otterfile, options):
    graph = graph_of(otterfile, options)
    assert outcome_of(graph, "")["production/step:migrate-contract"] == OK
    for failing in ("production/health@c", "production/retire@b", "production/lock@a",
                    "production/step:migrate-expand"):
        status = outcome_of(graph, failing)
        assert status[failing] == FAILED
        assert status["production/step:migrate-contract"] == SKIPPED, failing
        for host in "abc":  # each lock taken is let go (a lock that failed has none)
            locked = status[f"production/lock@{host}"] == OK
            assert status[f"production/unlock@{host}"] == (OK if locked else SKIPPED)


def test_rolling_batches_contract_after_the_last_batch(otterfile):
    tasks = graph_of(otterfile, "parallel=1, canary=True,").tasks
    assert tasks["production/lock@c"].deps == ("acquire:production.artifact",
                                               "production/retire@b")
    assert tasks["production/step:migrate-contract"].deps == (
        "production/retire@a", "production/retire@b", "production/retire@c")


def test_a_rollback_or_a_narrowed_run_leaves_the_contract_out(otterfile):
    path = otterfile(FILE.format(options="") + '''
@step(deployment="production", after="migrate-contract", on="controller")
def announce(ctx):
    pass

@step(deployment="production", after="deploy", on="controller")
def notify(ctx):
    pass
''')
    project = evaluate(load(path))
    full = plan(project, ["production"]).tasks
    assert full["production/step:announce"].deps == ("production/step:migrate-contract",)
    assert full["production/step:notify"].host is None
    for graph in (plan(project, ["production"], rollback=True),
                  plan(project, ["production"], hosts=["a", "b"])):
        steps = [t.step for t in graph.tasks.values() if t.stage == "step"]
        assert steps == ["migrate-expand", "notify"]  # the contract and what hangs on it: out


def test_a_step_on_every_target_after_deploy_waits_for_all(otterfile):
    tasks = graph_of(otterfile, extra='''
@step(deployment="production", after="deploy")
def purge(ctx):
    pass
''').tasks
    last = ("production/retire@a", "production/retire@b", "production/retire@c")
    for host in "abc":
        assert tasks[f"production/step:purge@{host}"].deps == last
        assert set(tasks[f"production/unlock@{host}"].deps) >= {
            f"production/step:purge@{h}" for h in "abc"}


def test_the_plan_shows_expand_and_contract(otterfile):
    path = otterfile(FILE.format(options=""))
    result = CliRunner().invoke(main, ["-f", str(path), "plan", "production"])
    assert result.exit_code == 0, result.output
    mine = result.output.split("a (production):")[1].split("b (production):")[0]
    mine = mine.split("\n  stages:\n")[1]
    stages = [line.strip() for line in mine.splitlines() if line.startswith("    ") and
              not line.startswith("     ")]
    assert stages == ["lock", "ship", "start", "health", "step migrate-expand", "switch",
                      "retire", "step migrate-contract", "unlock"]
    assert "# runs the step's Python function: run './contract'; once every target of the " \
           "run has retired its old release (not after a failure or a stopped canary); a " \
           "contract: not in a run narrowed by --targets, recorded on every target (`otter " \
           "rollback` to an older release then needs --force)" in mine
