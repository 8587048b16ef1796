"""Custom steps against recording targets: what ctx sends (run, put, template), and a
step failing before switch removing the new release while the old keeps serving."""
from __future__ import annotations

import shlex
from types import SimpleNamespace

import pytest

from otterfile.load.evaluate import evaluate
from otterfile.executors.recording import RecordingExecutor
from otterfile.load.loader import load
from otterfile.plan.planner import plan
from otterfile.run.deploy import execute
from otterfile.run.engine import Engine
from otterfile.run.steps import StepContext, StepFailed, render_template
from otterfile.run.runner import FAILED, OK, SKIPPED
from tests.unit.run.test_flow import OTTERFILE, Images, answers, live_state, verbs

pytestmark = pytest.mark.unit


def failing(base=None):
    """A target where the command `false` exits 1."""
    def target(host):
        executor = (base or answers())(host)
        executor.responses = {(lambda c: c.description == "false"): 1, **executor.responses}
        return executor
    return target


def deploy(tmp_path, steps: str, target=None):
    (tmp_path / "Otterfile.py").write_text(
        OTTERFILE.format(runtime="docker", proxy="caddy") + steps)
    proj = evaluate(load(tmp_path / "Otterfile.py"))
    made, events = {}, []

    def connect(host, _folder):
        made.setdefault(host.name, (target or answers())(host)
                        if host.name != "controller" else RecordingExecutor(host))
        return made[host.name]
    engine = Engine(proj, events.append, connect=connect, images=Images(),
                    release_id=lambda digest: "R1")
    done = execute(plan(proj, ["production"]), engine, None)
    return done.outcome, made, events


def test_a_failing_step_before_switch_removes_the_new_release(tmp_path):
    outcome, made, _ = deploy(tmp_path, '''
@step(deployment="production", before="switch")
def migrate(ctx):
    ctx.run("false")
''', failing())
    said = verbs(made["web1"])
    assert outcome.status["production/step:migrate@web1"] == FAILED
    assert outcome.status["production/switch@web1"] == SKIPPED
    assert not any(v.startswith("switch") for v in said)
    assert said[-2:] == ["remove the failed release",
                         "append to the deploy log of production; unlock production"]


def test_a_failing_step_after_switch_fails_the_run_and_keeps_the_release(tmp_path):
    outcome, made, _ = deploy(tmp_path, '''
@step(deployment="production", after="switch")
def smoke(ctx):
    ctx.run("false")
''', failing())
    said = verbs(made["web1"])
    assert not outcome.ok and outcome.status["production/switch@web1"] == OK
    assert "remove the failed release" not in said and said[-1] == \
        "append to the deploy log of production; unlock production"


def test_run_result_and_check_false(tmp_path):
    outcome, made, _ = deploy(tmp_path, '''
@step(deployment="production", after="start")
def look(ctx):
    result = ctx.run("test -e /nothing", check=False)
    assert result.exited == 0 and result.stdout == ""
    ctx.run("echo {container} {release} {previous} {port}")
''')
    assert outcome.ok, outcome.errors
    lines = [c.argv[2] for c in made["web1"].commands if c.argv[:2] == ("sh", "-c")]
    assert "echo otter-production-R1 R1 '' 20001" in lines


def test_put_and_template_are_one_trip_each(tmp_path):
    (tmp_path / "conf.j2").write_text("port={{ port }} name={{ name }}\n")
    (tmp_path / "seed.sql").write_text("select 1;\n")
    outcome, made, _ = deploy(tmp_path, '''
@step(deployment="production", after="health")
def files(ctx):
    ctx.put("seed.sql", "/srv/seed.sql", mode=0o600)
    ctx.template("conf.j2", "/etc/app.conf", name="web")
''')
    assert outcome.ok, outcome.errors
    target = made["web1"]
    health = next(i for i, c in enumerate(target.commands) if "GET" in c.description)
    put, template = target.commands[health + 1:health + 3]
    assert target.uploads[0].dest == "/srv/seed.sql" and target.uploads[0].mode == 0o600
    assert put.argv_values()[-2] == "/srv/seed.sql"
    assert template.stdin == "port=20001 name=web\n"
    assert "/etc/app.conf" in template.argv_values()


def test_once_step_runs_on_one_target_with_the_previous_release(tmp_path):
    outcome, made, events = deploy(tmp_path, '''
@step(deployment="production", before="switch", on="once")
def migrate(ctx):
    ctx.log(f"migrating {ctx.host} from {ctx.previous} to {ctx.release}")
''', answers(live_state("docker", "")))
    assert outcome.ok, outcome.errors
    assert "migrating web1 from 20240101T000000-cdcdcdcd to R1" in \
        [e.message for e in events]


def test_a_template_names_its_file_and_line_for_an_unknown_variable(tmp_path):
    (tmp_path / "t.j2").write_text("ok\n{{ missing }}\n")
    with pytest.raises(StepFailed, match=r"t\.j2:2: 'missing' is undefined"):
        render_template(tmp_path, "t.j2", {})


def test_only_runs_the_step_alone_under_the_lock_on_the_live_release(tmp_path):
    from otterfile.plan.planner import plan_step
    from otterfile.run.deploy import run_only
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(runtime="docker", proxy="caddy")
                                           + '''
@step(deployment="production", before="switch", on="once")
def migrate(ctx):
    ctx.run("migrate {container} {release}")
''')
    proj = evaluate(load(tmp_path / "Otterfile.py"))
    graph = plan_step(proj, "production", "migrate")
    assert [t.id for t in graph.order()] == [
        "production/lock@web1", "production/step:migrate", "production/unlock@web1"]
    made = {}

    def engines(**options):
        def connect(host, _folder):
            return made.setdefault(host.name, answers(live_state("docker", ""))(host))
        return Engine(proj, lambda event: None, connect=connect, images=Images(), **options)
    assert run_only(proj, "production", "migrate", engines, hosts=None,
                    on_finished=lambda done: None)
    said = verbs(made["web1"])
    assert said == ["lock production; read state of production (caddy installed and running)",
                    "migrate otter-production-20240101T000000-cdcdcdcd 20240101T000000-cdcdcdcd",
                    "unlock production"]


def test_only_an_unknown_step_names_the_known_ones(tmp_path):
    from otterfile.errors import UsageError
    from otterfile.plan.planner import plan_step
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(runtime="docker", proxy="caddy"))
    with pytest.raises(UsageError, match="has no step 'migrate'; its steps: none"):
        plan_step(evaluate(load(tmp_path / "Otterfile.py")), "production", "migrate")


# ctx.run: only the known placeholders, each quoted as one word

class FakeEngine:
    def __init__(self):
        self.recorder, self.artifacts, self.events = RecordingExecutor(), {}, []
        self.only, self.env, self.rollback = False, {}, False

    def executor(self, host):
        return self.recorder

    def emit(self, task, kind, text):
        self.events.append((kind, text))

    def artifact_of(self, lane):
        return SimpleNamespace(digest="sha256:abc", image="app:1", commit="c0ffee")


def ctx_with(container="web-1", release="r1") -> tuple[StepContext, RecordingExecutor]:
    engine = FakeEngine()
    release_ = SimpleNamespace(id=release, instance=container, port=8080)
    lane = SimpleNamespace(artifact="web", release=release_, previous=None,
                           deployment=SimpleNamespace(artifact=SimpleNamespace(name="web"),
                                                      runtime=SimpleNamespace(env=())))
    task = SimpleNamespace(deployment="production", host="root@a")
    return StepContext(engine, task, lane), engine.recorder


def ran(command: str, **values) -> str:
    ctx, recorder = ctx_with(**values)
    ctx.run(command)
    argv = recorder.commands[-1].argv
    assert argv[:2] == ("sh", "-c")
    return argv[2]


def test_awk_braces_pass_through():
    assert ran("awk '{print $1}' /etc/hosts") == "awk '{print $1}' /etc/hosts"


def test_go_template_braces_pass_through_uncollapsed():
    line = ran("docker inspect --format '{{.State.Status}}' {container}")
    assert line == "docker inspect --format '{{.State.Status}}' web-1"


def test_container_and_release_arrive_as_one_word_each():
    container, release = "web it's 1", 'r "2" $(id)'
    line = ran("echo {container} {release} {port} {image}", container=container,
               release=release)
    assert shlex.split(line) == ["echo", container, release, "8080", "app:1"]


def test_unknown_placeholder_is_left_as_is():
    assert ran("echo {foo} {Container} {container}") == "echo {foo} {Container} web-1"
