"""Schedules on real hosts: an every-minute schedule (on="one") gets its timer on the first
target only, runs in a one-off container of the live image with the release's env and
volumes, fires by itself within a bounded wait, keeps its timer across a deploy (the run
then in the new image), and moves when its target is dropped; a systemd release's schedule
runs in its folder as its user; `status`, `logs --schedule` and `remove` see the units; a
schedule dropped from the Otterfile leaves its targets, in a deploy's retire or in a no-op
run's own round trip, and `plan --check` says so before."""
from __future__ import annotations

import json
import time

from tests.integration.deploy import APP_TAG, events, on, otter, write_app
from tests.integration.test_systemd_deploy import write_project

UNIT = "otter-production:tick"
OTTERFILE = '''
from otterfile import *

@artifact
def web():
    return build(path="app", command={build!r})

@runtime
def ticking():
    return docker(port=8080, env={{"GREETING": "hello"}}, volumes=["ticks:/data"])

@deployment
def production():
    return Deployment(artifact=web, runtime=ticking,
                      targets=[ssh(a, identity_file=k, known_hosts=h, name=n)
                               for n, a, k, h in {hosts!r}],
                      domains=["app.test"], proxy=caddy(tls="off"),
                      health_check=HealthCheck(path="/health", timeout_seconds=10),
                      schedules=[Schedule("* * * * *", {command!r}, name="tick")])
'''
# what the app image has: /bin/busybox, /www/index.html (the version)
TICK = "busybox sh -c 'echo tick $GREETING $(busybox cat /www/index.html); " \
       "echo $GREETING >> /data/runs'"


def ok(done) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def write(project, targets) -> None:
    """The Otterfile: the app on `targets`, the schedule every minute on one of them."""
    hosts = [(t.name, t.host.address, t.host.identity_file, t.host.known_hosts)
             for t in targets]
    (project / "Otterfile.py").write_text(OTTERFILE.format(
        build=f"docker build -q -t {APP_TAG} .", hosts=hosts, command=TICK))


def timer(target) -> str:
    """`active enabled` when the target has the schedule's timer running; "": no timer."""
    if not on(target, "test", "-e", f"/etc/systemd/system/{UNIT}.timer").ok:
        return ""
    return " ".join(sorted(on(target, "systemctl", "show", "-p", "UnitFileState", "-p",
                              "ActiveState", "--value", f"{UNIT}.timer").stdout.split()))


def released(target) -> str:
    """The release the schedule's service runs in (its unit names it)."""
    found = on(target, "sed", "-n", "s/^X-Otter-Release=//p",
               f"/etc/systemd/system/{UNIT}.service")
    return found.stdout.strip() if found.ok else ""


def live(target) -> str:
    return json.loads(on(target, "cat", "/var/lib/otter/production/releases.json")
                      .stdout)["live"]


def trigger(target) -> None:
    """One run now (a oneshot service: `systemctl start` returns when it has ended)."""
    done = on(target, "systemctl", "start", f"{UNIT}.service")
    assert done.ok, done.stderr + on(target, "journalctl", "-u", f"{UNIT}.service",
                                     "--no-pager", "-n", "20").stdout


def ticks(target, since: str) -> list[str]:
    """What the schedule's runs said since `since` (`@EPOCH`: earlier tests' runs are in the
    same journal)."""
    return [line for line in on(target, "journalctl", "-u", f"{UNIT}.service", "--no-pager",
                                "-o", "cat", "--since", since).stdout.splitlines()
            if line.startswith("tick ")]


def now(target) -> str:
    return "@" + on(target, "date", "+%s").stdout.strip()


def test_a_schedule_runs_on_one_target_across_a_deploy_and_moves(tmp_path, two):
    first, second = two
    since = now(first)
    write_app(tmp_path / "app", "v1")
    write(tmp_path, two)
    ok(otter(tmp_path, "run", "production"))
    assert timer(first) == "active enabled"
    assert timer(second) == "" and released(second) == ""  # on="one": nothing there
    assert released(first) == live(first)

    trigger(first)  # in a one-off container of the live image, its env and its volume
    # (the timer may have fired too: every minute)
    assert set(ticks(first, since)) == {"tick hello v1"}
    runs = on(first, "cat", "/var/lib/docker/volumes/ticks/_data/runs").stdout.splitlines()
    assert runs and set(runs) == {"hello"}
    assert on(first, "docker", "ps", "-aq", "--filter", "label=otter.schedule").stdout == ""

    before = len(ticks(first, since))  # nothing but the timer starts it now
    deadline = time.monotonic() + 90  # it fires at the next minute
    while len(ticks(first, since)) == before and time.monotonic() < deadline:
        time.sleep(1)
    assert len(ticks(first, since)) > before, "the timer did not fire within 90 s"

    said = [json.loads(line) for line in
            ok(otter(tmp_path, "--json", "status", "production")).splitlines()]
    runs = {s["host"]: s["schedules"] for s in said if s.get("event") == "status"}
    [mine] = runs[first.name]
    assert mine["name"] == "tick" and mine["timer"] and mine["exit"] == 0
    assert mine["seconds"] is not None and mine["next_run"] and mine["last_run"]
    assert runs[second.name] == []
    shown = ok(otter(tmp_path, "status", "production"))
    assert "tick" in shown and "* * * * *" in shown
    logs = ok(otter(tmp_path, "logs", "production", "--schedule", "tick"))
    assert "tick hello v1" in logs
    refused = otter(tmp_path, "logs", "production", "--schedule", "nope")
    assert refused.returncode == 2 and "no schedule 'nope'" in refused.stderr

    write_app(tmp_path / "app", "v2")  # a deploy: the timer stays, the service moves
    ok(otter(tmp_path, "run", "production"))
    assert timer(first) == "active enabled" and timer(second) == ""
    assert released(first) == live(first)
    trigger(first)
    assert ticks(first, since)[-1] == "tick hello v2"

    write(tmp_path, [second])  # the first target dropped: the second gets the timer
    done = ok(otter(tmp_path, "--json", "run", "production"))
    assert any("timer tick" in e.get("message", "") for e in events(done))
    assert timer(second) == "active enabled" and released(second) == live(second)
    trigger(second)
    assert set(ticks(second, since)) == {"tick hello v2"}

    write(tmp_path, two)  # back: the first again, the second's removed
    ok(otter(tmp_path, "run", "production"))
    assert timer(first) == "active enabled"
    assert timer(second) == "" and released(second) == ""

    ok(otter(tmp_path, "remove", "production", "--yes"))
    assert timer(first) == "" and released(first) == ""


def test_a_systemd_release_runs_its_schedule_in_its_folder_as_its_user(tmp_path, two):
    """The run works in its release folder as the service user, hardened; a deploy during a
    run neither stops it nor takes its folder away: it ends in the old release, whose folder
    goes then; the next run is in the new one."""
    first = two[0]
    since = now(first)
    data = "/var/lib/otter/production/data"
    command = ("sh -c 'echo tick $(id -un) $(pwd) ${APP_TOKEN:+token}; "
               "for i in $(seq 300); do [ -e ../../data/go ] && break; sleep 0.1; done; "
               "echo tick $(cat VERSION); touch /etc/x'")

    def deploy(version: str) -> str:
        write_project(tmp_path, [first], version)
        path = tmp_path / "Otterfile.py"
        path.write_text(path.read_text().replace(
            "timeout_seconds=10))", "timeout_seconds=10),\n                      schedules=["
            f"Schedule(\"0 3 * * *\", {command!r}, name=\"tick\")])"))
        ok(otter(tmp_path, "run", "production"))
        return live(first)

    old = deploy("v1")
    folder = f"/var/lib/otter/production/releases/{old}"
    assert on(first, "systemctl", "start", "--no-block", f"{UNIT}.service").ok
    wait_for(lambda: ticks(first, since), "the run to start")
    assert ticks(first, since) == [f"tick otter-production {folder} token"]

    new = deploy("v2")  # retire stops v1's unit; the run goes on in v1's folder
    assert new != old and released(first) == new
    assert on(first, "test", "-d", folder).ok and on(first, "test", "-e", f"{folder}.retired").ok
    assert state(first) == "activating"
    assert on(first, "touch", f"{data}/go").ok
    wait_for(lambda: state(first) != "activating", "the run to end")
    assert ticks(first, since)[-1] == "tick v1"  # to its end in the old release
    assert state(first) == "failed"  # the hardening: /etc is read-only for it
    assert not on(first, "test", "-e", folder).ok  # gone once the run ended
    assert not on(first, "test", "-e", f"{folder}.retired").ok

    assert not on(first, "systemctl", "start", f"{UNIT}.service").ok  # (go is still there)
    assert ticks(first, since)[-1] == "tick v2"
    said = [json.loads(line) for line in
            ok(otter(tmp_path, "--json", "status", "production")).splitlines()]
    [mine] = [s for s in said if s.get("event") == "status"][0]["schedules"]
    assert mine["exit"] == 1 and mine["timer"] and mine["release"] == new


def state(target) -> str:
    return on(target, "systemctl", "show", "-p", "ActiveState", "--value",
              f"{UNIT}.service").stdout.strip()


def wait_for(check, what: str, seconds: float = 60) -> None:
    """Until `check()` is true (polled), at most `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"waited {seconds:g}s for {what}"
        time.sleep(0.2)


def write_without(project, targets) -> None:
    """The Otterfile with its schedule dropped."""
    write(project, targets)
    path = project / "Otterfile.py"
    text = path.read_text()
    cut = text.index(",\n                      schedules=[")
    path.write_text(text[:cut] + ")\n")


def units(target) -> list[str]:
    listed = on(target, "sh", "-c", "ls /etc/systemd/system | grep '^otter-production:'")
    return listed.stdout.split()


def test_a_schedule_dropped_from_the_otterfile_leaves_the_target(tmp_path, two):
    """Dropped with a new release: retire's trip removes its units; dropped in a run that
    starts nothing: a trip of its own. Before each, `plan --check --exit-code` exits 1 and
    names it; plain `--check` says it; after, the gate is in sync (0)."""
    first, second = two
    write_app(tmp_path / "app", "v1")
    write(tmp_path, two)
    ok(otter(tmp_path, "run", "production"))
    assert units(first) == [f"{UNIT}.service", f"{UNIT}.timer"] and units(second) == []

    write_app(tmp_path / "app", "v2")  # a new release and no schedule: retire drops it
    write_without(tmp_path, two)
    done = ok(otter(tmp_path, "--json", "run", "production"))
    said = [e["message"] for e in events(done) if e.get("stage") == "retire" and
            e.get("host") == first.name and e.get("event") == "info"]
    assert "schedules no longer declared, removed: tick" in said, said
    assert units(first) == [] and timer(first) == ""
    assert not on(first, "test", "-e", "/var/lib/otter/production/schedules").ok

    write(tmp_path, two)  # back, v2 as it runs: the schedule's units again
    ok(otter(tmp_path, "run", "production"))
    assert timer(first) == "active enabled"
    write_without(tmp_path, two)  # the release stays: a no-op run
    gate = otter(tmp_path, "plan", "production", "--check", "--exit-code")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "schedule tick: no longer declared: a run removes its timer and service" \
        in gate.stdout
    checked = ok(otter(tmp_path, "plan", "production", "--check"))
    assert f"note: {first.name}: production's schedule units of tick are no longer " \
        "declared: a run removes them" in checked
    assert second.name + ": production's schedule" not in checked
    done = ok(otter(tmp_path, "--json", "run", "production"))
    assert any("nothing to do" in e.get("message", "") for e in events(done))
    assert units(first) == [] and timer(first) == ""
    assert not on(first, "systemctl", "is-active", "-q", f"{UNIT}.timer").ok
    gate = otter(tmp_path, "plan", "production", "--check", "--exit-code")
    assert gate.returncode == 0, gate.stdout + gate.stderr
