"""The retire in the background (run/retire_later.py), on a real test host (docker, Caddy):
the run ends after its switch while the old release is retired on the target, holding the
deploy lock; `otter status` shows it running, a following run (default --lock-wait 0) waits
for it and goes on; the deploy log records it. A retire that fails there leaves the live
release serving, and status and the log say so. `docker stop` and `docker rm` are made slow
or failing on the host by a shim first on its PATH (a fault injected, as iptables is)."""
from __future__ import annotations

import json
import time

import pytest

from tests.integration.deploy import (assert_one_container, events, on, otter, served,
                                      write_app, write_otterfile)

SHIM = "/usr/local/bin/docker"
# `docker stop` waits the seconds /tmp/otter-stop-delay says first; `docker rm` fails while
# /tmp/otter-rm-fails is
SHIM_TEXT = """#!/bin/sh
case "$1" in
  stop) sleep "$(cat /tmp/otter-stop-delay 2>/dev/null || echo 0)" ;;
  rm) [ ! -e /tmp/otter-rm-fails ] || { echo "rm refused by the test" >&2; exit 1; } ;;
esac
exec /usr/bin/docker "$@"
"""


@pytest.fixture(autouse=True)
def retire_in_the_background(monkeypatch):
    monkeypatch.setenv("OTTER_RETIRE", "background")


@pytest.fixture
def shimmed(clean_targets):
    target = clean_targets[0]
    assert on(target, "sh", "-c", f"cat > {SHIM} <<'EOF'\n{SHIM_TEXT}EOF\nchmod +x {SHIM}").ok
    yield target
    on(target, "rm", "-f", SHIM, "/tmp/otter-rm-fails", "/tmp/otter-stop-delay")


def deployed(project, target, version: str = "v1"):
    write_otterfile(project, [target])
    write_app(project / "app", version)
    done = otter(project, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    return project


def status(project) -> dict:
    done = otter(project, "--json", "status", "production", "--log", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    [record] = [e for e in events(done.stdout) if e.get("event") == "status"]
    return record


def settled(project, seconds: float = 60) -> dict:
    """The status once no background retire runs (bounded)."""
    deadline = time.monotonic() + seconds
    while True:
        record = status(project)
        assert "error" not in record, record
        retire = record.get("retire")
        if retire is None or retire["state"] != "running" or time.monotonic() > deadline:
            return record
        time.sleep(0.5)


def test_the_run_ends_before_the_retire_and_the_next_run_waits_for_it(tmp_path, shimmed):
    project = deployed(tmp_path, shimmed)
    assert on(shimmed, "sh", "-c", "echo 10 > /tmp/otter-stop-delay").ok
    write_app(project / "app", "v2")
    done = otter(project, "--json", "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    said = [e.get("message", "") for e in events(done.stdout) if e.get("event") == "info"]
    assert any("retired in the background" in m for m in said), said
    stages = {e["stage"]: e["seconds"] for e in events(done.stdout)
              if e.get("event") == "end" and e.get("stage")}
    assert stages["retire"] < 1 and stages["unlock"] < 3, stages  # not the 10 s stop
    assert served(shimmed) == "200 v2"

    record = status(project)  # the old release's stop takes 10 s: still running
    assert record.get("retire")["state"] == "running", record.get("retire")
    old = record.get("retire")["release"]
    assert old in record["previous"]
    table = otter(project, "status", "production")
    assert f"retiring {old} in the background" in table.stdout, table.stdout

    write_app(project / "app", "v3")  # the lock is the retire's: this run waits for it
    third = otter(project, "--json", "run", "production")
    assert third.returncode == 0, third.stdout + third.stderr
    waited = [e for e in events(third.stdout) if e.get("event") == "info"
              and "locked by the background retire of" in e.get("message", "")]
    assert waited and waited[0]["run"].startswith("retire-"), third.stdout[-2000:]
    assert served(shimmed) == "200 v3"
    # the retire wrote the state the run left: this run found v2 live and nothing stray
    assert "left by an earlier run" not in third.stdout, third.stdout[-3000:]
    assert "rolling" not in third.stdout

    record = settled(project)
    assert record["live"]["running"] and record["live"]["release"] not in (old,)
    assert len(record["previous"]) == 2, record
    assert record.get("retire") is None, record.get("retire")
    retired = [r for r in record["log"] if r["result"] == "retired"]
    assert [r["release"] for r in retired][:1] == [old], record["log"]
    assert retired[0]["seconds"]["retire"] >= 10, retired  # it waited out the slow stop
    assert_one_container([shimmed])
    lock = on(shimmed, "sh", "-c", "ls /var/lib/otter/production")
    assert "lock" not in lock.stdout.split(), lock.stdout  # released by the retire


def test_a_failed_background_retire_leaves_the_live_release_and_says_so(tmp_path, shimmed):
    project = deployed(tmp_path, shimmed)
    assert on(shimmed, "touch", "/tmp/otter-rm-fails").ok
    write_app(project / "app", "v2")
    done = otter(project, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr  # the run was done at its switch

    record = settled(project)
    retire = record.get("retire")
    assert retire and retire["state"] == "failed" and retire["exit"] == 1, retire
    assert any("rm refused by the test" in line for line in retire["output"]), retire
    assert served(shimmed) == "200 v2" and record["health"].startswith("200")
    assert record["live"]["running"]
    failed = [r for r in record["log"] if r["result"].startswith("retire failed")]
    assert failed and failed[-1]["release"] == retire["release"], record["log"]
    table = otter(project, "status", "production")
    assert "background retire of" in table.stdout and "failed (exit 1)" in table.stdout
    lock = on(shimmed, "sh", "-c", "ls /var/lib/otter/production")
    assert "lock" not in lock.stdout.split(), lock.stdout  # released after the failure too

    on(shimmed, "rm", "-f", "/tmp/otter-rm-fails")
    write_app(project / "app", "v3")  # the next retire goes through, and the status clears
    third = otter(project, "run", "production")
    assert third.returncode == 0, third.stdout + third.stderr
    record = settled(project)
    assert record.get("retire") is None and served(shimmed) == "200 v3", record.get("retire")
    assert json.loads(json.dumps(record["log"]))[-1]["result"] == "retired"
