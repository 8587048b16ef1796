"""Faults on real hosts while a deploy runs: a target cut off or its network lost mid-ship,
killed mid-health, its sshd killed, restarted between start and switch. The other target
finishes, the faulty one keeps its old release serving with nothing half-written, the
error names the host and what happened, its lock is recovered and the next run succeeds.
Each fault lands on an event of the run (`--json`), never after a sleep."""
from __future__ import annotations

import os

import pytest

from tests.integration.deploy import (DOMAIN, events, otter, served, start_otter,
                                      write_app, write_otterfile)
from tests.integration.faulty import (Run, assert_intact, deployed_v1, ended, image_id,
                                      padded_app, receivers_gone, sh, shipping, snapshot,
                                      starts)
from tests.testbed import faults
from tests.testbed.faults import RequestLoop


def big_app(folder, version: str, start_delay: float = 0) -> None:
    """The test app with 40 MB more in it, so shipping takes long enough to cut it off."""
    write_app(folder, version, start_delay=start_delay)
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
    # a health stage that lasts: the kill lands before the first healthy answer
    big_app(tmp_path / "app", "v2", start_delay=5 if stage == "health" else 0)
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


# -- one fault per test: the live release keeps serving, nothing is half-written, the error
# names the host and what happened, the next run succeeds ---------------------------------

def next_run_succeeds(project, targets) -> None:
    again = otter(project, "run", "production", "--lock-wait", "60")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [served(t) for t in targets] == ["200 v2"] * len(targets)


def test_network_lost_mid_ship(tmp_path, testbed, two):
    """iptables DROP inside one target while its image is on the way: that target's ship
    fails once SSH's keepalive gives up, the other target finishes."""
    deployed_v1(tmp_path, two)
    ok, bad = two
    padded_app(tmp_path / "app", "v2")
    before = snapshot(bad)
    faults.throttle(bad, "1mb/s")  # the ship lasts: the partition lands in its middle
    run = Run(tmp_path, "run", "production")
    run.wait_for(shipping(bad))
    faults.partition(bad)
    assert run.finish() == 1, run.text
    assert run.ends(ok).get("retire") == "ok" and served(ok) == "200 v2"
    assert run.ends(bad).get("ship") == "failed"
    error = run.failure(bad, "ship")
    assert "lost the connection to" in error and run.name_of(bad) in error, error
    assert "during: docker load" in error, error
    faults.heal(bad)
    assert served(bad) == "200 v1"
    receivers_gone(bad)  # the guard stopped it once the run's lock went quiet
    run_id = sh(bad, "sed -n 's/^run=//p' /var/lib/otter/production/lock/info").strip()
    assert f"the run {run_id} stopped sending" in sh(bad, "journalctl -t otter -q -o cat")
    assert_intact(bad, before, new_image=image_id())
    next_run_succeeds(tmp_path, two)


def test_sshd_killed_mid_run(tmp_path, clean_target):
    """Every sshd of the target killed while the new release is health-checked: the run
    fails there, the old release answers every request meanwhile."""
    t = clean_target
    deployed_v1(tmp_path, [t])
    write_app(tmp_path / "app", "v2", start_delay=6)  # health polls for 6 s: the kill lands there
    before = snapshot(t)
    with RequestLoop(t.url("/"), host=DOMAIN, max_seconds=240) as loop:
        run = Run(tmp_path, "run", "production")
        run.wait_for(starts("health", t))
        faults.kill_sshd(t)
        assert run.finish() == 1, run.text
    assert loop.summary.failed == 0 and set(loop.summary.bodies) == {"v1"}, loop.summary
    assert run.ends(t).get("health") == "failed"
    error = run.failure(t, "health")
    assert any(f"{what} to {run.name_of(t)} " in error  # a start refused, or a session cut
               for what in ("cannot connect", "lost the connection")), error
    assert_intact(t, before, new_image=image_id())
    faults.start_sshd(t)
    next_run_succeeds(tmp_path, [t])


def test_target_restarted_between_start_and_switch(tmp_path, testbed, clean_target):
    """The target reboots once the new release started: the run fails there; after the
    boot the old release serves again and the proxy still points at it."""
    t = clean_target
    deployed_v1(tmp_path, [t])
    write_app(tmp_path / "app", "v2", start_delay=6)  # health polls for 6 s: the boot lands there
    before = snapshot(t)
    run = Run(tmp_path, "run", "production")
    run.wait_for(ended("start", t))
    faults.restart(t)
    assert run.finish() == 1, run.text
    assert run.ends(t).get("health") == "failed"
    error = run.failure(t, "health")  # the boot cut the connection, or came back without it
    assert any(f"{what} to {run.name_of(t)} " in error
               for what in ("cannot connect", "lost the connection")) or \
        (error.startswith(f"{run.name_of(t)}: ") and "before it was healthy" in error), error
    testbed.wait_ready([t])
    assert served(t) == "200 v1"
    assert_intact(t, before, new_image=image_id())
    next_run_succeeds(tmp_path, [t])
