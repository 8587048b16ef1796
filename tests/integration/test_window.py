"""The rollback window on real hosts (Deployment(rollback_window=SECONDS)): after v2 goes
live, v1 keeps running outside the proxy; `otter rollback` inside the window switches back
to that very container (no container started); the timer on the target retires the kept
release when the window ends, with no otter running, and never the live one (a timer
armed for an earlier window does nothing); a rollback after the window starts v1 again as
before."""
from __future__ import annotations

import json
import time

import pytest

from tests.integration.deploy import on, otter, served, write_app, write_otterfile

ONE_TRIP = "switched on the target in the lock's round trip"
UNIT = "otter-kept-production"  # each timer: UNIT:UNTIL (scripts/window/arm.sh)
KEPT = "/var/lib/otter/production/kept"


def windowed(project, targets, seconds: float) -> None:
    path = write_otterfile(project, targets)
    text = path.read_text().replace("keep_releases=3,",
                                    f"keep_releases=3, rollback_window={seconds},")
    path.write_text(text)


def ok(done) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def containers(target) -> dict[str, str]:
    """Running container id -> name on the target."""
    out = on(target, "docker", "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}").stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if line.strip())


def status(project) -> list[dict]:
    return [json.loads(line) for line in
            ok(otter(project, "--json", "status", "production")).splitlines()
            if line.startswith("{")]


def armed(target) -> bool:
    """Whether a timer of the deployment is waiting, due no later than the deadline the
    kept folder names (one due earlier arms the next when it fires: window/retire.sh)."""
    until = int(on(target, "cat", f"{KEPT}/release").stdout.split()[1])
    out = on(target, "systemctl", "list-timers", "--no-legend", "--plain", f"{UNIT}:*").stdout
    due = [int(w.removesuffix(".timer").split(":")[1]) for line in out.splitlines()
           for w in line.split() if w.startswith(UNIT + ":") and w.endswith(".timer")]
    return len(due) == 1 and due[0] <= until


def live_id(target) -> str:
    return json.loads(on(target, "cat", "/var/lib/otter/production/releases.json").stdout)["live"]


@pytest.fixture
def hosts(two):
    yield two
    for target in two:  # the hosts' reset leaves transient timers: none ours is left behind
        on(target, "systemctl", "stop", f"{UNIT}:*.timer", f"{UNIT}:*.service")


def test_rollback_inside_the_window_starts_nothing(tmp_path, hosts):
    windowed(tmp_path, hosts, 600)
    write_app(tmp_path / "app", "v1")
    ok(otter(tmp_path, "run", "production"))
    v1 = [live_id(t) for t in hosts]
    write_app(tmp_path / "app", "v2")
    said = ok(otter(tmp_path, "run", "production"))
    assert "kept running for 600s" in said, said
    assert [served(t) for t in hosts] == ["200 v2"] * 2
    kept = [s["kept"] for s in status(tmp_path)]
    assert [k["release"] for k in kept] == v1 and all(k["running"] for k in kept), kept
    assert all(0 < k["seconds_left"] <= 600 for k in kept), kept
    assert "(kept until " in ok(otter(tmp_path, "status", "production"))
    assert all(armed(t) for t in hosts)
    before = [containers(t) for t in hosts]
    assert all(len(c) == 2 for c in before), before  # v2 serves, v1 kept

    said = ok(otter(tmp_path, "rollback", "production"))
    assert "nothing to start" in said, said
    assert said.count(ONE_TRIP) == 2, said  # the switch back the deploy left ready (back.py)
    assert [served(t) for t in hosts] == ["200 v1"] * 2
    assert [containers(t) for t in hosts] == before  # the same two containers, none new
    assert [live_id(t) for t in hosts] == v1
    v2 = [s["kept"]["release"] for s in status(tmp_path)]  # now v2 is kept, timer re-armed
    assert v2 != v1 and all(v2)
    assert all(armed(t) for t in hosts)

    # the timer armed for v1's window, fired now (before v2's deadline), retires nothing
    # and arms the timer for v2's deadline (the rollback armed none: it found this one)
    target = hosts[0]
    until = on(target, "cat", f"{KEPT}/release").stdout.split()[1]
    assert not on(target, "systemctl", "is-active", f"{UNIT}:{until}.timer").ok
    done = on(target, "sh", f"{KEPT}/retire.sh")
    assert done.ok and f"the window ends later ({until}): its timer armed" in done.stdout, \
        done.stdout
    assert containers(target) == before[0]
    assert on(target, "systemctl", "is-active", f"{UNIT}:{until}.timer").ok
    # the retire script, told the live release is the kept one, leaves it running
    assert on(target, "sh", "-c", f'echo "{v1[0]} 0" > {KEPT}/release').ok
    done = on(target, "sh", f"{KEPT}/retire.sh")
    assert done.ok and "is live: not retired" in done.stdout, done.stdout + done.stderr
    assert containers(target) == before[0] and served(target) == "200 v1"


def test_a_kept_release_failing_its_health_check_is_not_switched_to(tmp_path, hosts):
    """The target's own health check of the kept release (404, 200 expected) leaves the
    rollback to the controller's health gate, which refuses it: v2 still serves, the lock
    is free; healthy again, the next rollback switches back in the lock's round trip, and
    the one after that (the way back the first left ready) too; with no switch back left
    ready, the two-trip way, which leaves one for the rollback after it."""
    windowed(tmp_path, hosts, 600)
    path = tmp_path / "Otterfile.py"
    path.write_text(path.read_text().replace('timeout_seconds=8)',
                                             'expect_status=200, timeout_seconds=2)'))
    write_app(tmp_path / "app", "v1")
    ok(otter(tmp_path, "run", "production"))
    v1 = [live_id(t) for t in hosts]
    write_app(tmp_path / "app", "v2")
    ok(otter(tmp_path, "run", "production"))
    v2 = [live_id(t) for t in hosts]
    for target, release in zip(hosts, v1):
        assert on(target, "docker", "exec", f"otter-production-{release}", "busybox", "rm",
                  "/www/health").ok
    done = otter(tmp_path, "rollback", "production")
    said = done.stdout + done.stderr
    assert done.returncode != 0 and ONE_TRIP not in said, said
    assert "nothing was switched" in said, said
    assert [served(t) for t in hosts] == ["200 v2"] * 2 and [live_id(t) for t in hosts] == v2
    assert not any(on(t, "test", "-e", "/var/lib/otter/production/lock").ok for t in hosts)
    for target, release in zip(hosts, v1):
        assert on(target, "docker", "exec", f"otter-production-{release}", "busybox", "sh",
                  "-c", "echo ok > /www/health").ok
    said = ok(otter(tmp_path, "rollback", "production"))
    assert said.count(ONE_TRIP) == 2, said
    assert [served(t) for t in hosts] == ["200 v1"] * 2 and [live_id(t) for t in hosts] == v1
    said = ok(otter(tmp_path, "rollback", "production"))
    assert said.count(ONE_TRIP) == 2, said
    assert [served(t) for t in hosts] == ["200 v2"] * 2 and [live_id(t) for t in hosts] == v2
    log = on(hosts[0], "cat", "/var/lib/otter/production/deploy.log").stdout.splitlines()
    assert [json.loads(line)["result"] for line in log[-2:]] == ["ok", "ok"]
    # no switch back left ready: the two-trip way, which leaves one for the next rollback
    assert all(on(t, "rm", "-rf", "/var/lib/otter/production/back").ok for t in hosts)
    said = ok(otter(tmp_path, "rollback", "production"))
    assert "nothing to start" in said and ONE_TRIP not in said, said
    assert [served(t) for t in hosts] == ["200 v1"] * 2 and [live_id(t) for t in hosts] == v1
    said = ok(otter(tmp_path, "rollback", "production"))
    assert said.count(ONE_TRIP) == 2, said
    assert [served(t) for t in hosts] == ["200 v2"] * 2 and [live_id(t) for t in hosts] == v2


def test_timer_retires_the_kept_release_then_rollback_starts_it_again(tmp_path, hosts):
    windowed(tmp_path, hosts, 3)
    write_app(tmp_path / "app", "v1")
    ok(otter(tmp_path, "run", "production"))
    write_app(tmp_path / "app", "v2")
    ok(otter(tmp_path, "run", "production"))  # otter has exited: only the targets' timers
    live = [containers(t) for t in hosts]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and \
            any(on(t, "test", "-e", f"{KEPT}/release").ok or len(containers(t)) > 1
                for t in hosts):
        time.sleep(1)
    after = [containers(t) for t in hosts]
    assert all(len(c) == 1 for c in after), after  # v1 retired by the timer
    assert all(set(a) < set(b) for a, b in zip(after, live))  # v2's container untouched
    assert [served(t) for t in hosts] == ["200 v2"] * 2
    assert [s.get("kept") for s in status(tmp_path)] == [None, None]  # null: left out
    journal = on(hosts[0], "journalctl", "-u", f"{UNIT}:*.service", "--no-pager", "-o", "cat")
    assert "its rollback window ended" in journal.stdout, journal.stdout

    said = ok(otter(tmp_path, "rollback", "production"))  # after the window: v1 started again
    assert "nothing to start" not in said, said
    assert [served(t) for t in hosts] == ["200 v1"] * 2
    for target, before in zip(hosts, after):
        now = containers(target)
        assert set(now) - set(before), now  # a container started for v1


def test_a_systemd_unit_is_kept_and_switched_back_to_without_a_restart(tmp_path, hosts):
    from tests.integration.test_systemd_deploy import answer, units, write_project
    two = hosts

    def project(version: str) -> None:
        write_project(tmp_path, two, version)
        path = tmp_path / "Otterfile.py"
        path.write_text(path.read_text().replace("keep_releases=3,",
                                                 "keep_releases=3, rollback_window=600,"))

    def pids(target) -> dict[str, str]:
        return {unit: on(target, "systemctl", "show", "--property=MainPID", "--value",
                         unit).stdout.strip() for unit in units(target)}
    project("v1")
    ok(otter(tmp_path, "run", "production"))
    project("v2")
    ok(otter(tmp_path, "run", "production"))
    assert [answer(t) for t in two] == ['200 v2 he said "hi" $HOME \\ 100% port=N'] * 2
    before = [pids(t) for t in two]
    assert all(len(p) == 2 and "0" not in p.values() for p in before), before  # both run
    said = ok(otter(tmp_path, "rollback", "production"))
    assert "nothing to start" in said, said
    assert [answer(t) for t in two] == ['200 v1 he said "hi" $HOME \\ 100% port=N'] * 2
    assert [pids(t) for t in two] == before  # the same units, the same processes
