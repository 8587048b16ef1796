import json

from click.testing import CliRunner

from otterfile.cli import main

FILE = '''
from otterfile import *

@artifact
def web():
    return build(path="app", command="docker build -t app:1 .")

@runtime
def box():
    return docker(port=8080, env={"MODE": "prod", "DB_PASSWORD": secret("DB_PASSWORD")})

@target("server-a")
def server_a():
    return ssh("deploy@server-a.example:2222", identity_file="~/.ssh/deploy")

@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets=["server-a"], domains=["app.test"])
'''


def invoke(path, *args, env=None):
    return CliRunner().invoke(main, ["-f", str(path), *args], env=env or {})


def test_list_prints_a_table(otterfile):
    result = invoke(otterfile(FILE), "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["kind", "name", "what", "detail"]
    assert any(line.split()[:3] == ["target", "server-a", "deploy@server-a.example:2222"]
               for line in lines)


def test_plan_shows_commands_per_target_and_no_secret(otterfile):
    result = invoke(otterfile(FILE), "--debug", "plan", "production",
                    env={"DB_PASSWORD": "hunter2"})
    assert result.exit_code == 0, result.output
    assert "server-a (production):" in result.output
    assert "&& sh -c 'docker build -t app:1 .'" in result.output
    assert "hunter2" not in result.output


def test_graph_formats(otterfile):
    path = otterfile(FILE)
    assert invoke(path, "graph", "production").output.startswith("acquire:web\n")
    assert invoke(path, "graph", "production", "--format", "dot").output.startswith("digraph")
    bad = invoke(path, "graph", "production", "--format", "png")
    assert bad.exit_code == 2


def test_missing_secret_fails_before_anything_runs(otterfile):
    result = invoke(otterfile(FILE), "run", "production", "--dry-run")
    assert result.exit_code == 2
    assert "deployment production/runtime/env/DB_PASSWORD" in result.output
    assert "would run" not in result.output


def test_secret_from_file_with_command(otterfile, tmp_path):
    path = otterfile(FILE)
    (tmp_path / ".otter").mkdir()
    (tmp_path / ".otter" / "secrets").write_text("DB_PASSWORD=$(printf 'from-%s' cmd)\n")
    (tmp_path / ".otter" / "secrets").chmod(0o600)  # else a warning about its mode
    result = invoke(path, "--json", "run", "production", "--dry-run")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert events[-1]["event"] == "summary" and events[-1]["status"] == "ok"
    assert any(e.get("stage") == "switch" and e.get("status") == "ok" for e in events)
    assert "from-cmd" not in result.output


def test_dry_run_prints_what_would_run(otterfile):
    result = invoke(otterfile(FILE), "run", "production", "--dry-run",
                    env={"DB_PASSWORD": "hunter2"})
    assert result.exit_code == 0, result.output
    assert "controller: would run: cd " in result.output
    assert "&& sh -c 'docker build -t app:1 .'" in result.output
    assert "server-a: would run: lock production" in result.output
    assert "hunter2" not in result.output
    assert "done in" in result.output


def test_init_writes_the_sample_and_refuses_to_overwrite(tmp_path):
    path = tmp_path / "Otterfile.py"
    result = invoke(path, "init")
    assert result.exit_code == 0 and "def " in path.read_text()
    assert invoke(path, "list").exit_code == 0  # the sample is a valid Otterfile
    again = invoke(path, "init")
    assert again.exit_code == 1 and "exists" in again.output


def test_exec_reports_per_host_and_exits_1_when_one_fails(otterfile):
    text = FILE.replace('ssh("deploy@server-a.example:2222", identity_file="~/.ssh/deploy")',
                        '[local(), ssh("root@127.0.0.1:1", host_key_checking="accept-new")]')
    result = invoke(otterfile(text), "exec", "production", "--", "echo", "hello")
    assert result.exit_code == 1
    assert "local | hello" in result.output
    lines = result.output.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines
            if line.startswith(("local ", "127.0.0.1:1 "))}
    assert rows["local"][0] == "0" and rows["127.0.0.1:1"] == ["error", "-"]
    assert lines[-1].startswith("error: 127.0.0.1:1: ")  # the reason, below the table


def test_help_and_list_import_nothing_heavy(otterfile):
    import subprocess
    import sys
    path = otterfile(FILE)
    for args in (["--help"], ["-f", str(path), "list"]):
        code = ("import sys, runpy; sys.argv = ['otter'] + %r\n"
                "try:\n    runpy.run_module('otterfile', run_name='__main__')\n"
                "except SystemExit:\n    pass\n"
                "print(sorted(m for m in ('docker', 'httpx', 'jinja2', 'sh') "
                "if m in sys.modules), file=sys.stderr)" % (args,))
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.stderr.strip().splitlines()[-1] == "[]", (args, done.stderr)


def test_runtimes_not_deployable_yet_fail_before_anything_runs(otterfile):
    text = FILE.replace('return build(path="app", command="docker build -t app:1 .")',
                        'return registry("registry.test/app:1")').replace(
        'return docker(port=8080,', 'return systemd(command="app", port=8080,')
    result = invoke(otterfile(text), "run", "production", "--dry-run",
                    env={"DB_PASSWORD": "x"})
    assert result.exit_code == 2
    assert "deployment production/runtime: the systemd runtime cannot run an image " \
        "artifact" in result.output
    assert "Otterfile.py:16:" in result.output and "would run" not in result.output


SYSTEMD = '''
from otterfile import *

@artifact
def web():
    return fetch("https://example.test/app.tar.gz", sha256="{sha}")

@runtime
def service():
    return systemd(command="./app {{port}}", port=8080, user={user!r})

@deployment
def production():
    return [Deployment(artifact=web, runtime=service, targets=[local()], name="a"),
            Deployment(artifact=web, runtime=service, targets=[local()], name="b",
                       domains=["b.test"])]

@step(deployment="a", before="switch", on="controller")
def migrate(ctx):
    table = {{}}
    return table["missing"]
'''


def test_a_service_run_as_root_is_warned_about_once_in_plan_and_run(otterfile):
    path = otterfile(SYSTEMD.format(sha="a" * 64, user="root"))
    warning = ('warning: runtime service: user="root" runs the service as root: whatever '
               "the artifact holds gets the whole host; leave user= out for a system user "
               "of its own")
    for args in (["plan", "production"], ["run", "production", "--dry-run"]):
        result = CliRunner().invoke(main, ["-f", str(path), *args])
        assert result.stderr.count(warning) == 1, (args, result.stderr)
    quiet = otterfile(SYSTEMD.format(sha="a" * 64, user="www-data"))
    result = CliRunner().invoke(main, ["-f", str(quiet), "plan", "production"])
    assert result.exit_code == 0 and "warning" not in result.stderr


def test_a_step_that_raises_in_a_dry_run_names_its_file_and_line(otterfile):
    path = otterfile(SYSTEMD.format(sha="a" * 64, user="www-data"))
    result = invoke(path, "run", "a", "--dry-run")
    assert result.exit_code == 1
    line = SYSTEMD.splitlines().index('    return table["missing"]') + 1
    assert f"{path}:{line}: KeyError: 'missing'" in result.output, result.output


def test_plan_refuses_an_image_under_systemd_as_run_does(otterfile):
    text = FILE.replace('return docker(port=8080,', 'return systemd(command="app", port=8080,')
    path = otterfile(text)
    for args in (["plan", "production"], ["run", "production", "--dry-run"]):
        result = invoke(path, *args, env={"DB_PASSWORD": "x"})
        assert result.exit_code == 2, (args, result.output)
        assert f"{path}:16: deployment production/runtime: the systemd runtime cannot run an " \
            "image artifact" in result.output and "would run" not in result.output


def test_version_names_the_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("otter, version ")
    assert result.output.split()[-1][0].isdigit()


def test_plan_says_a_target_planned_as_one_before_in_one_line(otterfile):
    """Three servers with the same plan: the first in full, the others one line each; a
    server whose plan differs (a step on one host) in full."""
    file = FILE.replace('targets=["server-a"]', 'targets=["fleet"]').replace(
        '@deployment', '@target\ndef fleet():\n    return [ssh("root@a.example"), '
        'ssh("root@b.example"), ssh("root@c.example")]\n\n@deployment') + '''
@step(deployment="production", before="switch", on="once")
def migrate(ctx):
    ctx.run("./migrate")
'''
    result = invoke(otterfile(file), "plan", "production", env={"DB_PASSWORD": "x"})
    assert result.exit_code == 0, result.output
    heads = [line for line in result.output.splitlines() if "(production):" in line]
    assert heads == ["a.example (production):", "b.example (production):",
                     "c.example (production): the same as b.example"]
    a, b = result.output.split("b.example (production):\n")
    assert "step migrate" in a and "step migrate" not in b.split("c.example")[0]
    assert b.split("c.example")[0].count("  stages:") == 1
