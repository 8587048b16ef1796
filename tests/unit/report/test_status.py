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
from otterfile.errors import OtterError
from otterfile.report.status import TargetStatus, read_status, render_status, status_record
from otterfile.run import deploy_log as dl
from otterfile.run import state as st
from tests.unit.run.test_state import LIVE, OLD, names, parse, record, text

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


# --- status and the deploy log -------------------------------------------------------------

GOOD = json.dumps({"when": "2024-01-02T03:04:05+00:00", "who": "ann", "digest": OLD,
                   "commit": "c0ffee", "result": "ok", "seconds": {"ship": 1.25}})


@pytest.mark.parametrize("line", [
    "{torn", "[1, 2]", "null", "5", '"text"', "[" * 100000,
    '{"seconds": [1, 2]}', '{"seconds": {"ship": "slow"}}', '{"seconds": {"ship": true}}',
    '{"seconds": {"ship": ' + "9" * 400 + "}}", '{"seconds": null}', '{"when": 5}',
    '{"who": {"a": 1}}', '{"digest": 5}', '{"commit": ["x"]}', '{"result": 1}',
])
def test_a_corrupt_log_line_is_skipped(line):
    records = dl.parse_log(f"{GOOD}\n{line}\n{GOOD}\n")
    assert records == [json.loads(GOOD)] * 2
    pair = (SimpleNamespace(name="production"), SimpleNamespace(name="web1"))
    shown = render_status([pair], [TargetStatus(log=records)], log_lines=5)
    assert "ship=1.2s" in shown


def test_a_log_record_with_missing_fields_shows_blank():
    records = dl.parse_log('{"future": 1}\n{"when": null, "seconds": {}}\n')
    pair = (SimpleNamespace(name="production"), SimpleNamespace(name="web1"))
    lines = render_status([pair], [TargetStatus(log=records)], log_lines=5).splitlines()
    assert lines[-2:] == ["web1", "web1"]


def test_status_shows_a_bad_target_in_its_row_only():
    dep = SimpleNamespace(name="production")
    pairs = [(dep, SimpleNamespace(name="web1")), (dep, SimpleNamespace(name="web2"))]
    try:
        parse(text(record(instance="victim\x1b[2J")))
    except OtterError as error:
        bad = error
    live = st.Release(LIVE, OLD, commit="c0ffee", status="live", instance=names(LIVE),
                      runtime="docker", proxy="caddy")
    good = TargetStatus([live], live, {("docker", names(LIVE))}, "200 on /")
    shown = render_status(pairs, [bad, good])
    web1, web2 = shown.splitlines()[2:]
    assert web1.startswith("web1  production  ?") and "'victim\\x1b[2J' is not the" in web1
    assert web2.split() == ["web2", "production", LIVE, "c0ffee", "docker,", "caddy",
                            "running", "200", "on", "/", "-"]
    assert "\x1b" not in shown
