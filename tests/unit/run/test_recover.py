"""run/flow.py's recover: a tampered releases.json fails it (and the deploy) before anything
is changed, and only instances otter named are acted on."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from otterfile.commands import container
from otterfile.commands import state as cs
from otterfile.errors import OtterError
from otterfile.executors.recording import RecordingExecutor
from otterfile.hosts import LocalHost
from otterfile.plan.graph import Task
from otterfile.proxies import caddy
from otterfile.run import kinds, recover as recovery, target as reads
from otterfile.run.runner import FAILED
from otterfile.runtimes import docker
from tests.unit.run.test_state import LIVE, NEW, OLD, names, record, text

pytestmark = pytest.mark.unit


def listing(*rows: tuple[str, str]) -> str:
    return "".join(f"{name}\trunning\t{release}\t{OLD}\tUp\n" for name, release in rows)


def target(state_text: str, instances: str) -> RecordingExecutor:
    """A recording target whose `read state` prints this state and these instances."""
    out = f"key\n{reads.KEY_MARK}\n{state_text}\n{cs.INSTANCES_MARK}\n{instances}" \
          f"{cs.LOG_MARK}\n{reads.SITE_MARK}\n"
    return RecordingExecutor(LocalHost("web1"), {
        lambda c: c.description.startswith("read state"): out})


def recover(executor: RecordingExecutor):
    said = []
    engine = SimpleNamespace(executor=lambda _host: executor, artifacts={}, rollback=False,
                             emit=lambda task, kind, message: said.append(message))
    from otterfile.load.model import caddy as caddy_value
    dep = SimpleNamespace(name="production", recreate=False, proxied=True, proxy_kind=caddy.PROXY,
                          artifact=SimpleNamespace(name="web"), proxy=caddy_value(),
                          runtime=SimpleNamespace(kind=docker.RUNTIME))
    lane = SimpleNamespace(deployment=dep, runtime=docker.RUNTIME, proxy=caddy.PROXY)
    recovery.recover(engine, lane, Task("production/lock@web1", "lock", host="web1"))
    return lane, said


def test_a_tampered_live_instance_fails_recover_and_removes_nothing():
    executor = target(text(record(instance="victim")),
                      listing((names(LIVE), LIVE), ("victim", LIVE)))
    with pytest.raises(OtterError) as error:
        recover(executor)
    assert str(error.value).startswith("web1:/var/lib/otter/production/releases.json: ")
    assert "releases/0/instance: 'victim' is not the instance otter names" in str(error.value)
    assert [c.description for c in executor.commands] == [
        "read state of production (caddy installed and running)"]


def test_a_tampered_file_fails_the_deploy_before_anything_changes(tmp_path):
    from tests.unit.run.test_flow import answers, deploy, live_state, verbs  # real engine, fakes
    state = live_state("docker", "").replace(f'"instance": "{names(LIVE)}"',
                                             '"instance": "victim"')
    outcome, target, _ = deploy(tmp_path, "docker", "caddy", answers(state))
    assert outcome.status["production/lock@web1"] == FAILED
    assert "web1:/var/lib/otter/production/releases.json: " in \
        str(outcome.errors["production/lock@web1"])
    # nothing removed, stopped or written; the lock is given back for the next run
    assert verbs(target) == [
        "lock production; read state of production (caddy installed and running)",
        "unlock production"]


def test_only_instances_otter_named_are_removed():
    state = text(record(), record(NEW, status="starting", port=20001))
    executor = target(state, listing(
        (names(LIVE), LIVE), (names(NEW), NEW),  # ours: the live one stays, NEW goes
        ("victim", NEW),  # labelled by hand with a foreign name
        (f"otter-production-{LIVE}", NEW),  # a name and a release label that disagree
        ("otter-production-../x", "../x"), ("nolabel", "")))
    lane, said = recover(executor)
    removes = [c for c in executor.commands if c.description.startswith("remove")]
    assert len(removes) == 1 and removes[0].argv_values()[-2:] == ["docker", names(NEW)]
    assert said == ["web1: releases.json names no runtime for 2 release(s) (an older otter "
                    "wrote it): 2 docker (its instance is there); their proxy is taken to "
                    "be caddy, the Otterfile's",
                    "removed 1 instance(s) left by an earlier run"]
    assert lane.running == frozenset({("docker", names(LIVE)), ("docker", names(NEW))})
    assert lane.state.get(NEW).status == "failed" and lane.previous.id == LIVE


def test_only_instances_named_after_their_release_count_as_otters():
    from otterfile.runtimes import docker
    out = listing((names(LIVE), LIVE), ("victim", LIVE), (f"otter-staging-{LIVE}", LIVE),
                  (names(LIVE), NEW), ("otter-production-", ""))
    ours = kinds.named_by_otter(docker.RUNTIME, "production", container.parse_containers(out))
    assert [(i.name, i.release) for i in ours] == [(names(LIVE), LIVE)]


@pytest.mark.parametrize("state", ["exited", "running"])
def test_a_failed_removal_of_leftovers_stops_the_run_only_when_one_runs(state):
    """A retire stopped a release, then its removal failed: the stopped leftover, which no
    state names, holds nothing up (said; the next run removes it). One that runs does."""
    from otterfile.executors.base import Result
    out = listing((names(LIVE), LIVE), (names(NEW), NEW)).replace(
        f"{names(NEW)}\trunning", f"{names(NEW)}\t{state}")
    executor = target(text(record()), out)
    executor.responses[lambda c: c.description.startswith("remove ")] = \
        Result(None, 1, "", "docker rm: refused\n")  # type: ignore[arg-type]
    if state == "running":
        with pytest.raises(OtterError, match="removing instances left by an earlier run "
                                             "failed .exit 1.: docker rm: refused"):
            recover(executor)
        return
    lane, said = recover(executor)
    assert said[-1] == ("warning: removing instances left by an earlier run failed (exit 1): "
                        "docker rm: refused; 1 stopped instance(s) left, none recorded: the "
                        "next run removes them")
    assert lane.running == frozenset({("docker", names(LIVE))}) and lane.previous.id == LIVE
