"""executors/__init__.py: `executor_for` picks the executor by host, and under `otter --debug`
says each command as it runs (host name, command, secrets masked)."""
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.command import Command
from otterfile.executors import executor_for
from otterfile.executors.local import LocalExecutor
from otterfile.executors.recording import RecordingExecutor
from otterfile.executors.traced import TracedExecutor
from otterfile.hosts import LocalHost, SSHHost
from otterfile.secrets import Secret

OTTERFILE = '''
from otterfile import *

@target
def box():
    return local()

@deployment
def production():
    return Deployment(artifact=build(path=".", command="true", image="x"),
                      runtime=docker(port=80), targets=["box"])
'''


def run(tmp_path, *args):
    path = tmp_path / "Otterfile.py"
    path.write_text(OTTERFILE)
    result = CliRunner().invoke(main, ["-f", str(path), *args])
    return result, result.output  # stdout and stderr, as a terminal shows them


def test_debug_shows_each_command_with_its_host(tmp_path):
    result, text = run(tmp_path, "--debug", "exec", "production", "--", "echo", "hi")
    assert result.exit_code == 0, text
    assert "box $ sh -c 'echo hi'" in text and "box | hi" in text


def test_without_debug_no_command_is_shown(tmp_path):
    run(tmp_path, "--debug", "exec", "production", "--", "true")  # on, then off again
    result, text = run(tmp_path, "exec", "production", "--", "echo", "hi")
    assert result.exit_code == 0 and "$ sh -c" not in text, text


def test_a_traced_command_shows_secrets_masked():
    shown = []
    inner = RecordingExecutor(LocalHost("web1"))
    traced = TracedExecutor(inner, lambda host, text: shown.append((host, text)))
    secret = Secret("TOKEN", "hunter2")
    traced.run(Command(("deploy",), env=(("PASSWORD", secret),)))
    assert shown == [("web1", "env PASSWORD=*** deploy")]
    assert inner.commands[0].env_values() == {"PASSWORD": "hunter2"}
    traced.close()
    assert inner.closed


def test_executor_for_picks_by_host():
    assert isinstance(executor_for(LocalHost()), LocalExecutor)
    from otterfile.executors.ssh import SSHExecutor
    ssh = executor_for(SSHHost("example.com"))
    assert isinstance(ssh, SSHExecutor)
    ssh.close()  # never connected: removes its private socket folder only
