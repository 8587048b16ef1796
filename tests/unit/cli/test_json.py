"""`--json` on every command: each line one object of the documented schema (docs/json.md)."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from otterfile.cli import main

FILE = '''
from otterfile import *

@artifact
def web():
    return build(path="app", command="docker build -t app:1 .")

@runtime
def box():
    return docker(port=8080, env={"MODE": "prod", "DB_PASSWORD": secret("DB_PASSWORD")},
                  volumes=["/srv/data:/data"], options=["--memory", "256m"])

@target
def here():
    return local()

@target
def away():
    return ssh("root@127.0.0.1:1", host_key_checking="accept-new")

@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets=[here], domains=["app.test"])

@deployment
def unreachable():
    return Deployment(artifact=web, runtime=box, targets=[away], domains=["away.test"])
'''

TASK = {"task": str, "stage": str, "host": str, "address": str}
# event -> required fields and their types (docs/json.md)
SCHEMA = {
    "start": {**TASK, "status": str},
    "end": {**TASK, "status": str, "seconds": float},
    "output": {"host": str, "address": str},
    "info": {"message": str},
    "progress": {**TASK, "done": int},
    "summary": {"status": str, "seconds": float, "tasks": dict, "hosts": list},
    "plan": {"host": str, "address": str, "stages": list},
    "status": {"deployment": str, "host": str, "address": str},
    "exec": {"host": str, "address": str, "exit": int, "seconds": float},
    "declared": {"kind": str, "name": str, "what": str},
    "task": {"task": str, "stage": str, "host": str, "deps": list},
    "unlock": {"deployment": str, "host": str, "address": str, "message": str},
    "wrote": {"path": str},
    "error": {"message": str},
}
TARGET_PLAN = {"deployment": str, "runtime": dict, "files": list, "site": dict, "live": str}


def check(output: str) -> list[dict]:
    """Every line parses, carries v 1 and a known event with its required fields."""
    records = []
    for line in output.splitlines():
        record = json.loads(line)
        assert record["v"] == 1 and list(record)[:2] == ["v", "event"], line
        required = SCHEMA[record["event"]]
        if record["event"] == "plan" and record["host"] != "controller":
            required = {**required, **TARGET_PLAN}
        for name, kind in required.items():
            assert name in record, (name, line)
            assert isinstance(record[name], kind) or (kind is float and
                                                      isinstance(record[name], int)), (name, line)
        assert None not in record.values(), line
        records.append(record)
    assert records, "no output"
    return records


def otter(tmp_path: Path, *args: str):
    path = tmp_path / "Otterfile.py"
    if not path.exists():
        path.write_text(FILE)
    return CliRunner().invoke(main, ["-f", str(path), "--json", *args],
                                              env={"DB_PASSWORD": "hunter2"})


def test_run_dry_run(tmp_path):
    result = otter(tmp_path, "run", "production", "--dry-run")
    assert result.exit_code == 0, result.output + result.stderr
    records = check(result.stdout)
    assert records[-1]["event"] == "summary" and records[-1]["status"] == "ok"
    assert records[-1]["hosts"][1] == {**records[-1]["hosts"][1], "host": "here",
                                       "address": "local", "result": "ok"}
    assert {r["stage"] for r in records if r["event"] == "end"} >= {"acquire", "ship", "switch"}
    assert "hunter2" not in result.stdout


def test_plan(tmp_path):
    result = otter(tmp_path, "plan", "production")
    assert result.exit_code == 0, result.output + result.stderr
    controller, target = check(result.stdout)
    assert controller["host"] == "controller"
    assert target["runtime"] == {"kind": "docker", "port": 8080, "volumes": ["/srv/data:/data"],
                                 "options": ["--memory", "256m"], "init": True,
                                 "env": {"MODE": "prod", "DB_PASSWORD": "***"}}
    assert target["site"]["path"] == "/etc/caddy/otter.d/production.caddy"
    assert "reverse_proxy 127.0.0.1:{otter_port}" in target["site"]["text"]
    assert "root /var/lib/otter/production/upstream" in target["site"]["text"]
    assert "hunter2" not in result.stdout


@pytest.mark.parametrize("args, status", [
    (("list",), 0), (("graph", "production"), 0), (("status", "unreachable"), 1),
    (("exec", "production", "--", "echo", "hi"), 0), (("exec", "unreachable", "--", "true"), 1),
    (("logs", "unreachable"), 1), (("unlock", "unreachable"), 1), (("plan",), 2),
    (("run", "nothing-of-that-name"), 2),
])
def test_every_command_prints_schema_lines(tmp_path, args, status):
    result = otter(tmp_path, *args)
    assert result.exit_code == status, result.output + result.stderr
    records = check(result.stdout)
    if status:
        assert any(r["event"] == "error" or "error" in r for r in records)


def test_exec_lines_then_one_object_per_host(tmp_path):
    records = check(otter(tmp_path, "exec", "production", "--", "echo", "hi").stdout)
    assert records[0] == {"v": 1, "event": "output", "host": "here", "address": "local",
                          "stream": "stdout", "line": "hi"}
    assert records[1]["event"] == "exec" and records[1]["exit"] == 0


def test_an_otterfile_error_is_an_error_object_with_its_exit(tmp_path):
    (tmp_path / "Otterfile.py").write_text("from otterfile import *\n@target\ndef t():\n"
                                           "    return ssh(42)\n")
    result = otter(tmp_path, "list")
    (record,) = check(result.stdout)
    assert record["event"] == "error" and record["exit"] == result.exit_code == 2
    assert "Otterfile.py" in record["message"]


def test_init(tmp_path):
    result = CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), "--json", "init"])
    assert check(result.output) == [{"v": 1, "event": "wrote",
                                     "path": str(tmp_path / "Otterfile.py")}]


def test_help_imports_no_rich(tmp_path):
    import subprocess
    import sys
    code = ("import sys, runpy; sys.argv = ['otter', '--help']\n"
            "try:\n    runpy.run_module('otterfile', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('rich' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stderr.strip().splitlines()[-1] == "False"
