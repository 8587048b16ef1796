"""strategy="recreate" against recording targets: the old release stops before the new
starts on the fixed port, no proxy is touched, and nothing runs when nothing changed."""
from __future__ import annotations

import pytest

from otterfile.errors import OtterfileError
from otterfile.load.evaluate import evaluate
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
    assert old not in retire.display()


def test_recreate_with_domains_is_an_otterfile_error(tmp_path):
    (tmp_path / "Otterfile.py").write_text(SERVICE.format(runtime="docker",
                                                          extra=', domains=["a.test"]'))
    with pytest.raises(OtterfileError, match="not served by the proxy"):
        evaluate(load(tmp_path / "Otterfile.py"))


def test_an_unknown_strategy_is_named(tmp_path):
    (tmp_path / "Otterfile.py").write_text(SERVICE.format(runtime="docker", extra="")
                                           .replace('"recreate"', '"rolling"'))
    with pytest.raises(OtterfileError, match="strategy"):
        evaluate(load(tmp_path / "Otterfile.py"))
