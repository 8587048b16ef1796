"""Hostile input, small cases: plan errors name the file, pictures escape names, secrets
are refused before anything runs, and ctx.run fills only its own placeholders."""
import json
import re
import shlex
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.errors import OtterfileError
from otterfile.load.evaluate import evaluate
from otterfile.executors.recording import RecordingExecutor
from otterfile.plan.graph import Graph, Task
from otterfile.load.loader import load
from otterfile.plan.picture import draw
from otterfile.plan.planner import plan
from otterfile.run.steps import StepContext

FILE = '''from otterfile import *

@artifact
def web():
    return build(path="app", command="docker build -t app .")

@runtime
def box():
    return docker(port=8080, env={"DB_PASSWORD": secret("DB_PASSWORD")})

@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets=[local()])
'''


def otter(path, *args, env=None):
    return CliRunner().invoke(main, ["-f", str(path), *args], env=env or {})


# plan: errors about steps name the Otterfile and the step's line

def test_cycle_among_steps_names_the_file_and_line(otterfile):
    path = otterfile(FILE + '''
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
    path = otterfile(FILE + '''
@step(deployment="production", before="acquire")
def early(ctx):
    pass
''')
    with pytest.raises(OtterfileError, match="on='controller'") as caught:
        plan(evaluate(load(path)), ["production"])
    assert (caught.value.file, caught.value.line) == (str(path), 15)
    result = otter(path, "plan", "production")
    assert result.exit_code == 2 and f"{path}:15: step early/on:" in result.output


# pictures: step and host names come from users

NASTY = 'x"y\n<b>[c]|d{e}`f#35;&\r\x00end'


def nasty_graph() -> Graph:
    return Graph({"a": Task("a", "acquire"),
                  "s": Task("s", "step", host=f"h{NASTY}", step=NASTY, deps=("a",))})


def test_mermaid_escapes_every_syntax_character_of_a_label():
    lines = draw(nasty_graph(), "mermaid").splitlines()
    assert lines[0] == "flowchart LR" and lines[-1] == "  t0 --> t1" and len(lines) == 4
    node = re.fullmatch(r'  t1\["(.*)"\]', lines[2])
    assert node, lines[2]
    label = node.group(1)
    assert not set(label) & set('"<>[]{}|`\n\r\x00')
    # the entity codes give the text back, whitespace runs as one space
    shown = re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)
    flat = re.sub(r"[\x00-\x1f]+", " ", NASTY)
    assert shown == f"step {flat} @ h{flat}"


def test_dot_strings_stay_quoted_and_give_the_names_back():
    out = draw(nasty_graph(), "dot")
    string = r'"(?:[^"\\\n]|\\.)*"'
    for line in out.splitlines()[3:-1]:
        assert re.fullmatch(rf"  {string}( \[label={string}\]| -> {string});", line), line
    labels = [json.loads(m) for m in re.findall(rf"label=({string})", out)]
    assert labels[1] == f"step {NASTY}\nh{NASTY}"
    assert "café" in draw(Graph({"c": Task("c", "step", host="h", step="café")}), "dot")


# secrets: refused before anything runs

def test_secret_with_a_newline_fails_before_anything_runs(otterfile):
    result = otter(otterfile(FILE), "run", "production", "--dry-run",
                   env={"DB_PASSWORD": "hunter2\nINJECTED=1"})
    assert result.exit_code == 2, result.output
    assert "secret DB_PASSWORD holds a newline" in result.output
    assert "hunter2" not in result.output and "INJECTED" not in result.output
    assert "would run" not in result.output and "Traceback" not in result.output


def test_shared_secrets_file_is_warned_about_in_a_run(otterfile, tmp_path):
    path = otterfile(FILE)
    (tmp_path / ".otter").mkdir()
    secrets = tmp_path / ".otter" / "secrets"
    secrets.write_text("DB_PASSWORD=hunter2\n")
    secrets.chmod(0o644)
    result = otter(path, "run", "production", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.count(f"warning: {secrets} is readable") == 1
    assert "chmod 600" in result.output and "hunter2" not in result.output


def test_secrets_file_error_keeps_its_own_line_through_the_cli(otterfile, tmp_path):
    path = otterfile(FILE)
    (tmp_path / ".otter").mkdir()
    secrets = tmp_path / ".otter" / "secrets"
    secrets.write_text("# one\n# two\n# three\nDB_PASSWORD=$(exit 4)\n")
    secrets.chmod(0o600)
    result = otter(path, "run", "production", "--dry-run")
    assert result.exit_code == 2
    assert f"{secrets}:4: " in result.output


# ctx.run: only the known placeholders, each quoted as one word

class FakeEngine:
    def __init__(self):
        self.recorder, self.artifacts, self.events = RecordingExecutor(), {}, []
        self.only, self.env = False, {}

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
