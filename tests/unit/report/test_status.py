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



def test_the_previous_column_shows_the_newest_and_counts_the_older(tmp_path):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE)
    dep = evaluate(load(tmp_path / "Otterfile.py")).deployments["production"]
    older = [dict(RELEASE, id=f"2023010{i}T000000-abcdef0{i}", status="previous",
                  instance=f"otter-production-2023010{i}T000000-abcdef0{i}") for i in (1, 2, 3)]
    state = json.dumps({"releases": [*older, RELEASE], "live": RELEASE["id"]})
    executor = RecordingExecutor(LocalHost("web1"), {lambda c: c.description.startswith(
        "read state"): f"\n--- otter:key\n{state}\n--- otter:instances\n\n--- otter:log\n"})
    status = read_status(dep, executor)
    row = render_status([(dep, SimpleNamespace(name="web1"))], [status]).splitlines()[2]
    assert row.endswith("  20230103T000000-abcdef03 (+2 older)")
    assert status_record(status)["previous"] == [r["id"] for r in reversed(older)]  # all

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


WITH_DATA = OTTERFILE.replace('proxy=nginx())', 'proxy=nginx(), snapshots=Snapshots(keep=2), '
                              'preview_domain="{label}.p.test", previews=2)')


def test_snapshots_previews_and_undeclared_schedules_in_one_more_round_trip(tmp_path):
    """A deployment with snapshots and previews, whose target still has the units of a
    schedule it no longer declares: one more round trip reads all three; the table shows
    the snapshots (the one `rollback --with-data` restores marked), a line per preview
    with the targets that run it, and the undeclared schedule; --json carries them."""
    (tmp_path / "Otterfile.py").write_text(WITH_DATA)
    dep = evaluate(load(tmp_path / "Otterfile.py")).deployments["production"]
    state = json.dumps({"releases": [RELEASE], "live": RELEASE["id"]})
    listing = "\t".join([RELEASE["instance"], "running", RELEASE["id"], RELEASE["digest"],
                         "Up"])
    meta = ("--- otter:snapshot\nbefore={}\nlive=R0\ntime=1000\nbytes=2048\nhow=paused\n"
            "seconds=0.25\nsources=data\n")
    extras = ("schedule backup R0\nActiveState=inactive\nResult=success\n"
              "\n--- otter:status schedules 0\n"
              f"now=4600\n{meta.format('R0b')}{meta.format(RELEASE['id'])}"
              "\n--- otter:status snapshots 0\n"
              'pr-1\t{"label": "pr-1", "domain": "pr-1.p.test", "expires": 1800000000}\n'
              "\n--- otter:status previews 0\n")
    executor = RecordingExecutor(LocalHost("web1"), {
        lambda c: c.description.startswith("read state"):
            f"\n--- otter:key\n{state}\n--- otter:instances\n{listing}\n--- otter:log\n"
            "--- otter:switch\nfile\n--- otter:schedules\nbackup\n",
        lambda c: c.description.startswith("schedules, snapshots and previews"): extras})
    status = read_status(dep, executor)
    assert [c.description.split(" ")[0] for c in executor.commands] == \
        ["read", "schedules,", "GET"]  # the read, the extra read, the health probe
    assert [s.name for s in status.schedules] == ["backup"]
    assert [s.before for s in status.snapshots.snapshots] == ["R0b", RELEASE["id"]]
    assert status.snapshots.restores is status.snapshots.snapshots[1]
    shown = render_status([(dep, SimpleNamespace(name="web1"))], [status]).splitlines()
    assert "web1  production  backup    (not in the Otterfile)" in "\n".join(shown)
    rows = [line for line in shown if line.startswith("web1  production  R0b") or
            line.startswith(f"web1  production  {RELEASE['id']} (rollback")]
    assert len(rows) == 2 and "2.0 KB" in rows[0] and "pause 0.25s" in rows[0]
    assert shown[-2:] == ["previews of production (1 of 2):",
                          "  pr-1: pr-1.p.test on web1, expires 2027-01-15 08:00 UTC"]
    record = status_record(status)
    assert record["previews"] == [{"label": "pr-1", "domain": "pr-1.p.test",
                                   "expires": "2027-01-15 08:00 UTC"}]
    assert [(s["before"], s["restored_by_rollback"], s["age_seconds"])
            for s in record["snapshots"]] == [("R0b", False, 3600),
                                              (RELEASE["id"], True, 3600)]
    assert record["errors"] == []


def test_a_part_that_cannot_be_read_is_a_note_not_a_failure(tmp_path):
    (tmp_path / "Otterfile.py").write_text(WITH_DATA)
    dep = evaluate(load(tmp_path / "Otterfile.py")).deployments["production"]
    executor = RecordingExecutor(LocalHost("web1"), {
        lambda c: c.description.startswith("read state"): "\n--- otter:key\n",
        lambda c: c.description.startswith("schedules, snapshots"):
            "now=1\n--- otter:status snapshots 0\n--- otter:status previews 2\n"})
    status = read_status(dep, executor)
    assert status.snapshots is not None and status.previews is None
    assert status.errors == ["web1: cannot read the previews of production (exit 2)"]
    shown = render_status([(dep, SimpleNamespace(name="web1"))], [status])
    assert "note: web1: cannot read the previews of production (exit 2)" in shown
    without = evaluate(load(_write(tmp_path, OTTERFILE))).deployments["production"]
    plain = RecordingExecutor(LocalHost("web1"), {
        lambda c: c.description.startswith("read state"): "\n--- otter:key\n"})
    read_status(without, plain)
    assert len(plain.commands) == 1  # nothing more to read, no live release to probe


def _write(tmp_path, text):
    path = tmp_path / "Plain.py"
    path.write_text(text)
    return path
