"""strategy="recreate" against recording targets: the old release stops before the new
starts on the fixed port, no proxy is touched, and nothing runs when nothing changed."""
from __future__ import annotations

import pytest

from otterfile.errors import OtterfileError
from otterfile.load.evaluate import evaluate
from otterfile.executors.base import Result
from otterfile.executors.recording import RecordingExecutor
from otterfile.load.loader import load
from otterfile.plan.planner import plan
from otterfile.run.deploy import execute
from otterfile.run.engine import Engine
from tests.unit.run.test_flow import Images, answers, live_state, verbs

pytestmark = pytest.mark.unit

SERVICE = '''
from otterfile import *

@deployment
def cache():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime={runtime}(port=6379, volumes=["cache-data:/data"]),
                      targets=[ssh("root@web1")], strategy="recreate"{extra})
'''


def deploy(tmp_path, target, runtime="docker", extra=""):
    (tmp_path / "Otterfile.py").write_text(SERVICE.format(runtime=runtime, extra=extra))
    proj = evaluate(load(tmp_path / "Otterfile.py"))
    made = {}

    def connect(host, _folder):
        return made.setdefault(host.name, target(host) if host.name != "controller"
                               else RecordingExecutor(host))
    engine = Engine(proj, lambda event: None, connect=connect, images=Images(),
                    release_id=lambda digest: "R1")
    done = execute(plan(proj, ["cache"]), engine, None)
    return done.outcome, made["web1"]


def test_recreate_stops_the_old_then_starts_on_the_fixed_port(tmp_path, monkeypatch):
    monkeypatch.setattr("otterfile.run.health.time.sleep", lambda _s: None)
    old = "otter-cache-20240101T000000-cdcdcdcd"
    state = live_state("docker", "").replace("otter-production", "otter-cache")
    outcome, target = deploy(tmp_path, answers(state))
    assert outcome.ok, outcome.errors
    said = verbs(target)
    stop = said.index(f"stop {old}")
    start = next(i for i, v in enumerate(said) if v.startswith("start"))
    assert stop < start
    command = target.commands[start]
    assert "127.0.0.1:<port>:6379" in command.description and "cache-data:/data" in \
        command.description
    assert command.argv_values()[6:9] == ["6379", "6379", "1"]  # this port, one try
    assert not any(v.startswith("switch") for v in said)
    retire = next(c for c in target.commands if c.description.startswith("retire"))
    # stopped before the start, kept for a failure; removed once the new one is live
    assert f"sh docker {old} " in retire.display() and "stop -t" not in retire.display()


def test_recreate_with_domains_is_served_by_the_proxy_that_holds_requests(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr("otterfile.run.health.time.sleep", lambda _s: None)
    state = live_state("docker", "").replace("otter-production", "otter-cache")
    extra = ', domains=["cache.test"], proxy=caddy(tls="off"), hold_seconds=12'
    outcome, target = deploy(tmp_path, answers(state), extra=extra)
    assert outcome.ok, outcome.errors
    said = verbs(target)
    assert said.index("stop otter-cache-20240101T000000-cdcdcdcd") < \
        next(i for i, v in enumerate(said) if v.startswith("start"))
    switch = next(c for c in target.commands if c.description.startswith("switch caddy"))
    assert "http://cache.test {" in switch.stdin and "lb_try_duration 12s" in switch.stdin
    # the port the start printed (the scripted 20001; the runtime's own, 6379, on a target)
    assert "/var/lib/otter/cache/upstream 20001" in switch.shell_line()
    retire = next(c for c in target.commands if c.description.startswith("retire"))
    # stopped before the start; removed once the new release is live
    assert "sh docker otter-cache-20240101T000000-cdcdcdcd " in retire.display()
    assert "stop -t" not in retire.display()


@pytest.mark.parametrize("hold", ["0", "-1", "1.5", "'30'", "True"])
def test_hold_seconds_must_be_a_positive_int(tmp_path, hold):
    (tmp_path / "Otterfile.py").write_text(SERVICE.format(
        runtime="docker", extra=f', domains=["a.test"], hold_seconds={hold}'))
    with pytest.raises(OtterfileError) as error:
        evaluate(load(tmp_path / "Otterfile.py"))
    assert str(error.value).startswith(f"{tmp_path / 'Otterfile.py'}:4: deployment cache/"
                                       "hold_seconds: expected an int of at least 1")


def test_hold_seconds_defaults_to_30(tmp_path):
    (tmp_path / "Otterfile.py").write_text(SERVICE.format(runtime="docker",
                                                          extra=', domains=["a.test"]'))
    assert evaluate(load(tmp_path / "Otterfile.py")).deployments["cache"].hold_seconds == 30


@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_a_failed_release_is_removed_and_the_old_one_started_again(tmp_path, monkeypatch,
                                                                   runtime):
    monkeypatch.setattr("otterfile.run.health.time.sleep", lambda _s: None)
    state = live_state(runtime, "").replace("otter-production", "otter-cache")
    outcome, target = deploy(tmp_path, answers(state, inspect="exited 2 0 false"),
                             runtime=runtime, extra=', domains=["cache.test"]')
    resume = f"{runtime} start otter-cache-20240101T000000-cdcdcdcd"
    assert not outcome.ok
    error = str(outcome.errors["cache/health@web1"])
    assert "exited" in error and "the old release 20240101T000000-cdcdcdcd was started " \
        "again" in error
    said = [c.display() for c in target.commands]
    removed = next(i for i, c in enumerate(target.commands)
                   if c.description == "remove the failed release")
    assert said.index(resume) > removed  # the failed one is gone first: the port is free
    # it took requests: stopped as any release (they finish), then removed
    assert f"{runtime} stop -t 10 otter-cache-R1" in said[removed]
    assert not any(c.description.startswith("switch") for c in target.commands)


def test_a_release_that_does_not_start_puts_the_old_one_back(tmp_path):
    state = live_state("docker", "").replace("otter-production", "otter-cache")
    target = answers(state)

    def failing(host):
        executor = target(host)  # asked first: the failing start
        executor.responses = {lambda c: c.description.startswith("start ") and
                              not c.description.endswith(" again"):
                              Result(None, 1, stderr="otter: port 6379 is taken\n"),
                              **executor.responses}
        return executor
    outcome, made = deploy(tmp_path, failing, extra=', domains=["cache.test"]')
    assert not outcome.ok
    assert "was started again" in str(outcome.errors["cache/start@web1"])
    assert "docker start otter-cache-20240101T000000-cdcdcdcd" in \
        [c.display() for c in made.commands]


def test_an_unknown_strategy_is_named(tmp_path):
    (tmp_path / "Otterfile.py").write_text(SERVICE.format(runtime="docker", extra="")
                                           .replace('"recreate"', '"rolling"'))
    with pytest.raises(OtterfileError, match="strategy"):
        evaluate(load(tmp_path / "Otterfile.py"))


def test_each_runtime_starts_a_stopped_instance_again():
    from otterfile.runtimes import NAMED
    assert NAMED["docker"].resume("otter-db-R1").argv == ("docker", "start", "otter-db-R1")
    assert NAMED["podman"].resume("otter-db-R1").argv == ("podman", "start", "otter-db-R1")
    assert NAMED["systemd"].resume("otter-db@R1.service").argv == \
        ("systemctl", "start", "--", "otter-db@R1.service")


def test_the_plan_says_what_a_recreate_run_does(tmp_path):
    from otterfile.plan.describe import live_release
    (tmp_path / "Otterfile.py").write_text(SERVICE.format(
        runtime="docker", extra=', domains=["a.test"], proxy=nginx(), hold_seconds=12'))
    said = live_release(evaluate(load(tmp_path / "Otterfile.py")).deployments["cache"])
    assert "then RELEASE starts on 127.0.0.1:6379 and it still runs 2s after it started; " \
        "nginx holds requests up to 12s meanwhile" in said
    assert said.endswith("If RELEASE fails, it is removed and the old release started again.")
