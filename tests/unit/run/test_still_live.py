"""run/abort.still_live: what a failed run says serves on each target it failed on."""
from __future__ import annotations

from dataclasses import replace

import pytest

from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.run.abort import still_live
from otterfile.run.lane import Lane
from otterfile.run.state import Release, State

pytestmark = pytest.mark.unit

OLD, NEW = Release("r1", "sha256:" + "a" * 64), Release("r2", "sha256:" + "b" * 64)
FILE = """
from otterfile import *

@deployment
def production():
    return Deployment(artifact=registry("app:1"), runtime=docker(port=8080),
                      targets=[ssh("root@a.example"), ssh("root@b.example"),
                               ssh("root@c.example")], domains=["app.example.com"])
"""


@pytest.fixture
def deployment(otterfile):
    return lambda: evaluate(load(str(otterfile(FILE)))).deployments["production"]


def lane(dep, host, *, failed, live, previous=OLD, locked=True):
    one = Lane(dep, host, state=State(releases=(), live=live), previous=previous, release=NEW)
    one.failed = failed
    if locked:
        one.stage_seconds["lock"] = 0.1
    return one


def test_each_failed_target_says_what_serves_in_the_otterfiles_order(deployment):
    dep = deployment()
    a, b, c = dep.hosts
    lanes = [lane(dep, c, failed="health", live="r1"), lane(dep, a, failed="start", live="r1"),
             lane(dep, b, failed=None, live="r2")]  # b went through: nothing to say
    said = still_live(lanes)
    assert [(h, r) for h, _, r, _ in said] == [("a.example", "r1"), ("c.example", "r1")]
    assert said[0][3] == "a.example: production still serves r1 (the new release took no traffic)"


def test_after_the_switch_a_first_deploy_and_an_unread_target(deployment):
    dep = deployment()
    host = dep.hosts[0]
    [(_, _, _, after)] = still_live([lane(dep, host, failed="retire", live="r2")])
    assert after == "a.example: production serves the new release r2 (the run failed after its " \
        "switch)"
    [(_, _, release, first)] = still_live([lane(dep, host, failed="health", live=None,
                                                previous=None)])
    assert release is None and first.endswith("nothing was live before this run; nothing serves")
    assert still_live([lane(dep, host, failed="lock", live=None)]) == []
    assert still_live([lane(dep, host, failed="health", live=None, locked=False)]) == []
    recreate = replace(dep, strategy="recreate")
    [(_, _, _, again)] = still_live([lane(recreate, host, failed="health", live="r1")])
    assert again.endswith("serves r1 again (started again after the new release failed)")
