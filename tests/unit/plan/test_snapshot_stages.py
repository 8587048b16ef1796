"""With Snapshots the plan has a `snapshot` task after each target's lock, before ship and
every step of the run; a rollback has none, and a rollback with data a `restore` there."""
from __future__ import annotations

import pytest

from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.plan.planner import plan

pytestmark = pytest.mark.unit

FILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime=docker(port=8080, volumes=["pg:/pg"]),
                      targets=[ssh("root@a"), ssh("root@b")]{snapshots})

@step(deployment="production", before="ship", on="targets")
def early(ctx):
    ctx.run("true")

@step(deployment="production", before="switch", on="once")
def migrate(ctx):
    ctx.run("true")
'''


def project(tmp_path, snapshots=", snapshots=Snapshots()"):
    (tmp_path / "Otterfile.py").write_text(FILE.format(snapshots=snapshots))
    return evaluate(load(tmp_path / "Otterfile.py"))


def before(graph, first: str, then: str) -> bool:
    order = [t.id for t in graph.order()]
    return order.index(first) < order.index(then)


def test_the_snapshot_runs_after_the_lock_and_before_ship_and_every_step(tmp_path):
    graph = plan(project(tmp_path), ["production"])
    for host in ("a", "b"):
        snap = graph.tasks[f"production/snapshot@{host}"]
        assert snap.deps == (f"production/lock@{host}",)
        assert graph.tasks[f"production/step:early@{host}"].deps == (snap.id,)
        assert before(graph, snap.id, "production/step:migrate")
        assert before(graph, snap.id, f"production/ship@{host}")


def test_without_snapshots_nothing_changes(tmp_path):
    graph = plan(project(tmp_path, ""), ["production"])
    assert not [t for t in graph.tasks if "snapshot" in t or "restore" in t]
    assert plan(project(tmp_path, ""), ["production"], rollback=True, with_data=True) \
        .tasks.keys() == plan(project(tmp_path, ""), ["production"], rollback=True).tasks.keys()


def test_a_rollback_restores_only_with_data(tmp_path):
    proj = project(tmp_path)
    plain = plan(proj, ["production"], rollback=True)
    assert not [t for t in plain.tasks if "snapshot" in t or "restore" in t]
    graph = plan(proj, ["production"], rollback=True, with_data=True)
    assert graph.tasks["production/restore@a"].deps == ("production/lock@a",)
    assert graph.tasks["production/start@a"].deps == ("production/restore@a",)
