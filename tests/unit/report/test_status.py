"""`otter status` says how each target's proxy switches: read with the state in one round
trip; a target that reloads (nginx without njs) gets a line under the table, and `--json`
a `switch` field. Nothing runs."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from otterfile.load.evaluate import evaluate
from otterfile.executors.recording import RecordingExecutor
from otterfile.hosts import LocalHost
from otterfile.load.loader import load
from otterfile.report.status import read_status, render_status, status_record

pytestmark = pytest.mark.unit

OTTERFILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime=docker(port=8080), targets=[ssh("root@web1")],
                      domains=["app.test"], proxy=nginx())
'''
RELEASE = {"id": "20240101T000000-cdcdcdcd", "digest": "sha256:" + "cd" * 32,
           "image": "app:1", "status": "live", "port": 20000, "runtime": "docker", "proxy": "nginx",
           "instance": "otter-production-20240101T000000-cdcdcdcd"}


def status_of(tmp_path, switch: str):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE)
    dep = evaluate(load(tmp_path / "Otterfile.py")).deployments["production"]
    state = json.dumps({"releases": [RELEASE], "live": RELEASE["id"]})
    listing = "\t".join([RELEASE["instance"], "running", RELEASE["id"], RELEASE["digest"],
                         "Up"])
    executor = RecordingExecutor(LocalHost("web1"), {lambda c: c.description.startswith(
        "read state"): f"\n--- otter:key\n{state}\n--- otter:instances\n{listing}\n"
                       f"--- otter:log\n--- otter:switch\n{switch}\n"})
    return dep, read_status(dep, executor), executor


def test_a_target_that_reloads_is_said_under_the_table(tmp_path):
    dep, status, executor = status_of(tmp_path, "reload: njs is not installed\x1b[2J")
    assert status.switch == "reload: njs is not installed"
    assert "ngx_http_js_module" in executor.commands[0].argv[7]  # the probe, same trip
    assert len(executor.commands) == 2  # the read, and the health probe
    shown = render_status([(dep, SimpleNamespace(name="web1"))], [status])
    assert shown.splitlines()[-1] == \
        "note: web1: nginx switches production by reload: njs is not installed"
    assert status_record(status)["switch"] == "reload: njs is not installed"


def test_a_target_that_reads_the_port_file_adds_no_line(tmp_path):
    dep, status, _ = status_of(tmp_path, "file")
    assert status.switch == "file" and status.live.port == 20000
    shown = render_status([(dep, SimpleNamespace(name="web1"))], [status])
    assert len(shown.splitlines()) == 3 and status_record(status)["switch"] == "file"
