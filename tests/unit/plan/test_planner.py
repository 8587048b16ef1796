import json

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.errors import OtterfileError
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.plan.picture import draw
from otterfile.plan.planner import plan
from tests.unit.test_secrets import FILE as SECRET_FILE, otter

FILE = '''
from otterfile import *

@artifact
def web():
    return build(path="app", command="docker build -t app .")

@target
def pair():
    return [ssh("root@a:22"), ssh("root@b:22")]

@deployment
def production():
    return Deployment(artifact=web, runtime=docker(port=80), targets=[pair])
'''


def graph_of(otterfile, extra="", **kwargs):
    return plan(evaluate(load(otterfile(FILE + extra))), ["production"], **kwargs)


def test_exact_graph_without_steps(otterfile):
    assert draw(graph_of(otterfile), "text") == """\
acquire:web
production/lock@a  <- acquire:web
production/lock@b  <- acquire:web
production/ship@a  <- production/lock@a
production/ship@b  <- production/lock@b
production/start@a  <- production/ship@a
production/start@b  <- production/ship@b
production/health@a  <- production/start@a
production/health@b  <- production/start@b
production/switch@a  <- production/health@a
production/switch@b  <- production/health@b
production/retire@a  <- production/switch@a
production/retire@b  <- production/switch@b
production/unlock@a  <- production/retire@a
production/unlock@b  <- production/retire@b
"""


def test_unlock_is_the_cleanup_path(otterfile):
    unlock = graph_of(otterfile).tasks["production/unlock@a"]
    assert unlock.always and unlock.required == ("production/lock@a",)


STEPS = '''
@step(deployment="production", before="switch", on="once")
def migrate(ctx):
    pass

@step(deployment=production, after="health")
def warm(ctx):
    pass

@step(deployment="production", after="acquire", on="controller")
def notify(ctx):
    pass
'''


def test_steps_before_and_after_stages(otterfile):
    tasks = graph_of(otterfile, STEPS).tasks
    assert tasks["production/step:warm@a"].deps == ("production/health@a",)
    # warm (after health) runs before migrate, which comes before every switch
    assert tasks["production/step:migrate"].host == "a"
    assert tasks["production/step:migrate"].deps == ("production/step:warm@a",)
    assert tasks["production/switch@a"].deps == ("production/step:migrate",)
    assert set(tasks["production/switch@b"].deps) == {
        "production/step:warm@b", "production/step:migrate"}
    assert tasks["production/step:notify"].host is None
    assert tasks["production/lock@a"].deps == ("production/step:notify",)


def test_step_anchored_to_step(otterfile):
    extra = STEPS + '''
@step(deployment="production", before="migrate", on="once")
def backup(ctx):
    pass
'''
    tasks = graph_of(otterfile, extra).tasks
    assert tasks["production/step:migrate"].deps == ("production/step:backup",)


def test_plan_is_deterministic(otterfile):
    first = draw(graph_of(otterfile, STEPS), "text")
    assert all(draw(graph_of(otterfile, STEPS), "text") == first for _ in range(3))


def test_targets_narrow_the_plan(otterfile):
    graph = graph_of(otterfile, hosts=["root@b:22"])
    assert graph.hosts() == ["b"]
    with pytest.raises(OtterfileError, match="matches no host"):
        graph_of(otterfile, hosts=["nope"])


def test_rollback_plan_has_no_acquire_or_ship(otterfile):
    graph = graph_of(otterfile, rollback=True)
    stages = [t.stage for t in graph.for_host("a")]
    assert stages == ["lock", "start", "health", "switch", "retire", "unlock"]
    assert graph.for_host(None) == []


def test_target_step_before_acquire_is_an_error(otterfile):
    extra = '''
@step(deployment="production", before="acquire")
def early(ctx):
    pass
'''
    with pytest.raises(OtterfileError, match="on='controller'"):
        graph_of(otterfile, extra)


def test_a_once_step_after_health_keeps_every_targets_own_health_gate(otterfile):
    extra = '''
@step(deployment="production", after="health", on="once")
def smoke(ctx):
    pass
'''
    tasks = graph_of(otterfile, extra).tasks
    assert tasks["production/step:smoke"].deps == ("production/health@a",)
    assert tasks["production/switch@a"].deps == ("production/step:smoke",)
    # b's switch waits for the step on a and for b's own health check
    assert set(tasks["production/switch@b"].deps) == {
        "production/health@b", "production/step:smoke"}


# plan: errors about steps name the Otterfile and the step's line

def test_cycle_among_steps_names_the_file_and_line(otterfile):
    path = otterfile(SECRET_FILE + '''
@step(deployment="production", before="b", on="once")
def a(ctx):
    pass

@step(deployment="production", before="a", on="once")
def b(ctx):
    pass
''')
    with pytest.raises(OtterfileError, match="cycle among steps") as caught:
        plan(evaluate(load(path)), ["production"])
    assert (caught.value.file, caught.value.line) == (str(path), 15)
    result = otter(path, "graph", "production")
    assert result.exit_code == 2 and f"{path}:15: deployment production/steps: cycle" \
        in result.output and "Traceback" not in result.output


def test_target_step_before_acquire_names_the_file_and_line(otterfile):
    path = otterfile(SECRET_FILE + '''
@step(deployment="production", before="acquire")
def early(ctx):
    pass
''')
    with pytest.raises(OtterfileError, match="on='controller'") as caught:
        plan(evaluate(load(path)), ["production"])
    assert (caught.value.file, caught.value.line) == (str(path), 15)
    result = otter(path, "plan", "production")
    assert result.exit_code == 2 and f"{path}:15: step early/on:" in result.output


# build once: however many deployments and targets use an artifact, a run acquires it once

OTTERFILE = '''
from otterfile import *

@artifact
def web():
    return build(path=".", command="echo built >> count.txt && docker build -q -t app:1 .")

@target
def servers():
    return [ssh("root@10.0.0.1"), ssh("root@10.0.0.2"), ssh("root@10.0.0.3")]

@deployment
def stack():
    return [Deployment(name=name, artifact=web, runtime=docker(port=port), targets=[servers],
                       domains=[name + ".test"]) for name, port in (("a", 8080), ("b", 8081))]
'''


def test_two_deployments_on_three_targets_acquire_the_artifact_once(tmp_path):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    result = CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), "--json", "run",
                                       "stack", "--dry-run"], env={})
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    builds = [e for e in events if "count.txt" in e.get("message", "")]
    assert len(builds) == 1, builds
    acquires = [e for e in events if e.get("event") == "start" and e.get("stage") == "acquire"]
    assert len(acquires) == 1, acquires
    starts = {(e["host"], e["deployment"]) for e in events
              if e.get("event") == "start" and e.get("stage") == "start"}
    assert len(starts) == 6, starts  # while every deployment starts on every target
