"""Migration contracts: the records in releases.json (read as untrusted data), the rollback
refusal they imply, and a two-phase migration run against three recording targets: the
contract runs once after every target retired, never when one failed, is recorded on every
target, is not run again for a release that has it, and a rollback past it needs --force."""
from __future__ import annotations

import json

import pytest

from otterfile.errors import OtterError
from otterfile.executors.recording import RecordingExecutor
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.plan.planner import plan
from otterfile.run.contracts import (KEEP, Contract, check_rollback, contracts_of, crossed,
                                     with_contract)
from otterfile.run.deploy import execute
from otterfile.run.engine import Engine
from otterfile.run.runner import FAILED, OK, SKIPPED
from otterfile.run.state import Release, State
from otterfile.run.state_file import format_state, parse_state
from tests.unit.run.test_flow import DIGEST, OLD, Images, answers

pytestmark = pytest.mark.unit

PREVIOUS, LIVE = "20240101T000000-cdcdcdcd", "20240201T000000-abababab"
OTTERFILE = '''
from otterfile import *
from otterfile.stdlib import migration

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime=docker(port=8080), domains=["app.test"], parallel=1,
                      targets=[ssh("root@a"), ssh("root@b"), ssh("root@c")],
                      health_check=HealthCheck(path="/health", timeout_seconds=2),
                      steps=[migration(expand="expand {release}",
                                       contract="contract {release}")])
'''


def two_releases(contracts: list | None = None) -> State:
    """A target where PREVIOUS was live before LIVE, which is live now."""
    releases = (Release(PREVIOUS, OLD, "app:1", status="previous",
                        instance=f"otter-production-{PREVIOUS}", runtime="docker"),
                Release(LIVE, DIGEST, "app:1", status="live", port=20000,
                        instance=f"otter-production-{LIVE}", runtime="docker"))
    return State(releases, LIVE, {} if contracts is None else {"contracts": contracts})


def record(release=LIVE, step="migrate-contract", at="2024-02-01T00:00:00+00:00",
           digest=DIGEST):
    return {"release": release, "digest": digest, "step": step, "at": at}


# the records, as untrusted data

def test_contracts_survive_the_state_file():
    state = with_contract(two_releases(), Contract(LIVE, DIGEST, "migrate-contract", "t"))
    again = parse_state(format_state(state))
    assert contracts_of(again) == (Contract(LIVE, DIGEST, "migrate-contract", "t"),)
    assert again.releases == state.releases  # the releases are as they were


@pytest.mark.parametrize("value,path", [
    ("yes", "contracts: expected a list"),
    ([record(release="latest")], "contracts/0: expected an object with a release id"),
    ([record(digest="abc")], "contracts/0: expected"),
    ([record(), {"release": LIVE, "digest": DIGEST, "step": 3, "at": "t"}],
     "contracts/1: expected"),
    (["x"], "contracts/0: expected"),
])
def test_a_malformed_record_names_the_file_and_the_record(value, path):
    with pytest.raises(OtterError, match=f"^a: /var/lib/otter/production/releases.json: {path}"):
        check_rollback(two_releases(value), two_releases().releases[0], host="a",
                       deployment="production", force=False)


def test_one_record_per_release_and_step_and_the_newest_kept():
    state = two_releases([record(at="first")])
    state = with_contract(state, Contract(LIVE, DIGEST, "migrate-contract", "again"))
    assert contracts_of(state) == (Contract(LIVE, DIGEST, "migrate-contract", "again"),)
    for n in range(KEEP + 5):
        state = with_contract(state, Contract(LIVE, DIGEST, f"step-{n}", "t"))
    kept = contracts_of(state)
    assert len(kept) == KEEP and kept[-1].step == f"step-{KEEP + 4}"


# the rollback refusal

def test_a_rollback_past_a_contract_is_refused_naming_the_release_and_the_contract():
    state = two_releases([record()])
    previous = state.get(PREVIOUS)
    with pytest.raises(OtterError) as caught:
        check_rollback(state, previous, host="a", deployment="production", force=False)
    assert str(caught.value) == (
        f"a: rollback to {PREVIOUS} refused: step migrate-contract contracted release {LIVE} "
        f"at 2024-02-01T00:00:00+00:00: the data may no longer work with release {PREVIOUS}, "
        "which is older. Nothing was changed; `otter rollback production --force` rolls "
        "back anyway")
    forced = check_rollback(state, previous, host="a", deployment="production", force=True)
    assert forced is not None and forced.startswith("a: --force: rolling back past a "
                                                    "contract: step migrate-contract")


def test_a_rollback_to_the_contracted_release_or_a_newer_one_is_allowed():
    state = two_releases([record(release=PREVIOUS)])
    for release in state.releases:
        assert check_rollback(state, release, host="a", deployment="production",
                              force=False) is None
    assert check_rollback(two_releases(), state.get(PREVIOUS), host="a",
                          deployment="production", force=False) is None  # no contract


def test_every_contract_crossed_counts():
    state = two_releases([record(), record(release="20240301T000000-efefefef", step="m2",
                                           digest="ef" * 32)])
    assert [c.release for c in crossed(state, state.get(PREVIOUS))] == [
        LIVE, "20240301T000000-efefefef"]
    with pytest.raises(OtterError, match=f"contracted release {LIVE} at .* \\(and 1 later\\)"):
        check_rollback(state, state.get(PREVIOUS), host="a", deployment="production",
                       force=False)


def test_a_rollback_to_an_old_artifact_under_a_newer_id_is_refused_too():
    """A (forced) rollback starts the old artifact under a new id, newer than the contract:
    its age is its artifact's, the first release that ran it here."""
    from dataclasses import replace
    state = two_releases([record()])
    again = Release("20240301T000000-cdcdcdcd", OLD, "app:1", status="previous",
                    instance="otter-production-20240301T000000-cdcdcdcd", runtime="docker")
    state = replace(state, releases=state.releases + (again,))
    assert [c.release for c in crossed(state, again)] == [LIVE]
    with pytest.raises(OtterError, match="release 20240301T000000-cdcdcdcd, whose artifact "
                                         f"is older \\(release {PREVIOUS}\\)"):
        check_rollback(state, again, host="a", deployment="production", force=False)
    same = replace(again, digest=DIGEST)  # the contracted artifact itself: allowed
    assert crossed(replace(state, releases=state.releases[:2] + (same,)), same) == []


# a run against recording targets

def live_read(state: State) -> str:
    """What `read state` prints on a target holding `state` (the live release running)."""
    live = state.get(state.live) if state.live else None
    listing = "\t".join([live.instance, "running", live.id, live.digest, "Up"]) if live else ""
    return (f"{format_state(state)}--- otter:instances\n{listing}\n--- otter:log\n"
            "--- otter:site\n")


def run(tmp_path, targets=None, rollback=False, force=False, hosts=None):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE)
    proj = evaluate(load(tmp_path / "Otterfile.py"))
    made, events = {}, []
    targets = targets or {}

    def connect(host, _folder):
        if host.name == "controller":
            return made.setdefault(host.name, RecordingExecutor(host))
        return made.setdefault(host.name, targets.get(host.name, answers())(host))
    engine = Engine(proj, events.append, connect=connect, images=Images(),
                    release_id=lambda digest: "20240301T000000-abababab", rollback=rollback,
                    rollback_force=force)
    graph = plan(proj, ["production"], rollback=rollback, hosts=hosts)
    done = execute(graph, engine, None)
    return done.outcome, made, [e.message for e in events if e.message]


def ran(executor, word: str) -> list[str]:
    return [c.argv[2] for c in executor.commands
            if c.argv[:2] == ("sh", "-c") and c.argv[2].startswith(word)]


def contract_writes(executor) -> list[list[dict]]:
    """The contracts of each releases.json written after the contract ran."""
    out = []
    for command in executor.commands:
        if command.description == "write state of production":
            out.append(json.loads(command.stdin).get("contracts", []))
    return out


def test_the_contract_runs_once_after_every_target_retired_and_is_recorded_on_each(tmp_path):
    outcome, made, said = run(tmp_path)
    assert outcome.ok, outcome.errors
    new = "20240301T000000-abababab"
    assert ran(made["a"], "expand") == [f"expand {new}"]  # once, on the first target
    assert ran(made["a"], "contract") == [f"contract {new}"]
    assert not ran(made["b"], "expand") + ran(made["c"], "contract")
    for host in "abc":
        writes = contract_writes(made[host])
        assert [[(c["release"], c["step"]) for c in w] for w in writes] == \
            [[(new, "migrate-contract")]]
        # recorded after the target retired, then the lock let go
        said_there = [c.description for c in made[host].commands]
        assert said_there.index("write state of production") > \
            said_there.index("retire the old release")
    assert f"contracted {new} on a, b, c: a rollback to an older release now needs " \
           "--force" in said


def test_no_contract_when_the_third_of_three_targets_fails(tmp_path):
    outcome, made, _ = run(tmp_path, {"c": answers(health=503)})
    assert outcome.status["production/health@c"] == FAILED
    assert outcome.status["production/retire@b"] == OK
    assert outcome.status["production/step:migrate-contract"] == SKIPPED
    assert all(outcome.status[f"production/unlock@{h}"] == OK for h in "abc")
    assert len(ran(made["a"], "expand")) == 1 and not ran(made["a"], "contract")
    assert not any(contract_writes(made[h]) for h in "abc")


def test_a_run_narrowed_by_targets_leaves_the_contract_out(tmp_path):
    outcome, made, _ = run(tmp_path, hosts=["a", "b"])
    assert outcome.ok and "production/step:migrate-contract" not in outcome.status
    assert not ran(made["a"], "contract")


def test_a_release_contracted_already_is_not_contracted_again(tmp_path):
    from otterfile.load.project import StepDef
    from otterfile.plan.graph import Task
    from otterfile.run.contracts import run_contract
    from otterfile.run.lane import Lane
    proj_dep = evaluate(load(_written(tmp_path))).deployments["production"]
    lanes = [Lane(proj_dep, h, state=two_releases([record()])) for h in proj_dep.hosts]
    said, called = [], []

    class Quiet:
        def emit(self, _task, _kind, message):
            said.append(message)
    step = StepDef("migrate-contract", lambda ctx: None, None, None, "deploy", "once",
                   contract=True)
    task = Task("production/step:migrate-contract", "step", host="a", deployment="production")
    assert run_contract(Quiet(), task, step, lanes, lambda: called.append(1)) is None
    assert not called and said == [f"{LIVE} contracted already: migrate-contract not run again"]


def _written(tmp_path):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE)
    return tmp_path / "Otterfile.py"


def test_a_rollback_past_the_contract_is_refused_on_every_target_and_changes_nothing(tmp_path):
    read = live_read(two_releases([record()]))
    targets = {h: answers(read) for h in "abc"}
    outcome, made, _ = run(tmp_path, targets, rollback=True)
    for host in "abc":
        assert outcome.status[f"production/lock@{host}"] == FAILED
        assert f"{host}: rollback to {PREVIOUS} refused: step migrate-contract contracted " \
               f"release {LIVE}" in str(outcome.errors[f"production/lock@{host}"])
        assert [c.description.split(";")[0] for c in made[host].commands] == [
            "lock production", "unlock production"]  # read, refused, unlocked: nothing else
    forced, made, said = run(tmp_path, {h: answers(read) for h in "abc"}, rollback=True,
                             force=True)
    assert forced.ok, forced.errors
    assert "a: --force: rolling back past a contract: step migrate-contract contracted " \
           f"release {LIVE} at 2024-02-01T00:00:00+00:00: the data may no longer work with " \
           f"release {PREVIOUS}, which is older" in said
    assert not ran(made["a"], "contract")  # a rollback never contracts
