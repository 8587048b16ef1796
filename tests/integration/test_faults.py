"""Faults on real hosts while a deploy runs: one target cut off mid-ship, one killed
mid-health. The other target finishes, the faulty one keeps its old release serving, its
lock is recovered and the next run succeeds."""
from __future__ import annotations

import os

import pytest

from tests.integration.deploy import (events, otter, served, start_otter, write_app,
                                      write_otterfile)
from tests.testbed import faults


def big_app(folder, version: str) -> None:
    """The test app with 40 MB more in it, so shipping takes long enough to cut it off."""
    write_app(folder, version)
    (folder / "www" / "pad.bin").write_bytes(os.urandom(40 * 1024 * 1024))


def run_until(project, stage: str, host: str, fault) -> tuple[int, list[dict]]:
    """`otter run` that applies `fault` when `stage` starts on `host`; (exit, events)."""
    process = start_otter(project, "run", "production")
    seen, faulted = [], False
    for line in process.stdout:
        for event in events(line):
            seen.append(event)
            if not faulted and event.get("event") == "start" and \
                    event.get("stage") == stage and event.get("host") == host:
                fault()
                faulted = True
    process.wait(timeout=180)
    assert faulted, f"never saw {stage} start on {host}"
    return process.returncode, seen


def ends(seen: list[dict], host: str) -> dict[str, str]:
    return {e["stage"]: e["status"] for e in seen if e.get("event") == "end"
            and e.get("host") == host}


@pytest.mark.parametrize("stage,fault,mend", [
    ("ship", faults.disconnect, faults.connect),
    ("health", faults.kill, faults.start),
], ids=["cut-off-mid-ship", "killed-mid-health"])
def test_a_faulty_target_keeps_its_old_release_and_recovers(tmp_path, testbed, two, stage,
                                                            fault, mend):
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, two, timeout=20)
    assert otter(tmp_path, "run", "production").returncode == 0
    big_app(tmp_path / "app", "v2")
    ok, bad = two
    code, seen = run_until(tmp_path, stage, bad.host.name, lambda: fault(bad))
    assert code == 1
    assert ends(seen, ok.host.name).get("retire") == "ok"  # the other target finished
    assert ends(seen, bad.host.name).get(stage) == "failed"
    assert served(ok) == "200 v2"
    mend(bad)
    testbed.wait_ready([bad])
    assert served(bad) == "200 v1"  # the old release kept (or, after a reboot, resumed) serving
    again = otter(tmp_path, "run", "production", "--lock-wait", "60")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [served(t) for t in two] == ["200 v2"] * 2
