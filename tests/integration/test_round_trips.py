"""Round trips per deploy, counted from `otter --debug --json` (counts, never timings).

Each `HOST $ COMMAND` line of --debug is one remote command: one round trip over the host's
SSH master. A command belongs to the stage that last started on its host.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter

from tests.integration.deploy import on, otter_env, served, write_app, write_otterfile
from tests.testbed.hosts import scoped

NOOP_MOST = 1  # a no-op redeploy: decided on the target in the lock's trip (run/noop.py)


def traced_run(project, hosts, verb: str = "run",
               **env_extra) -> tuple[dict[str, Counter], dict[str, dict], str]:
    """`otter --debug --json VERB production` (run or rollback), stdout and stderr in one stream (in order):
    per host, commands per stage and the stage times (seconds) of its lane. The deploy
    lock's heartbeat (every 5 s, a thread of its own) is no stage's round trip: not counted."""
    env = {**otter_env(), "PYTHONUNBUFFERED": "1", **env_extra}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "otterfile", "-f",
                           str(project / "Otterfile.py"), "--debug", "--json", verb,
                           "production"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, cwd=project, timeout=240)
    traced_run.wall = time.monotonic() - started
    assert done.returncode == 0, done.stdout
    stage = {h: "?" for h in hosts}
    commands = {h: Counter() for h in hosts}
    seconds: dict[str, dict] = {h: {} for h in hosts}
    lines = done.stdout.splitlines()
    for index, line in enumerate(lines):
        if line.startswith('{"v": '):  # an event; a --debug line may follow on its line
            event, end = json.JSONDecoder().raw_decode(line)
            host, line = event.get("host"), line[end:]
            if host in stage and event.get("event") == "start":
                stage[host] = event["stage"]
            if host in stage and event.get("event") == "end":
                seconds[host][event["stage"]] = event.get("seconds")
        host, mark, _ = line.partition(" $ ")
        if mark and host in commands and not heartbeat(lines, index):
            commands[host][stage[host]] += 1
    return commands, seconds, done.stdout


def heartbeat(lines: list[str], index: int) -> bool:
    """Whether the command whose --debug display starts at `lines[index]` is the lock's
    heartbeat (its script spans lines, up to the next command or event)."""
    for line in lines[index + 1:index + 12]:
        if " $ " in line or line.startswith('{"v": '):
            return False
        if 'echo "status=lost"' in line:  # lock/heartbeat.sh
            return True
    return False


def timeline(project, host: str) -> list[str]:
    """When each stage of a warm no-op (a kept master) ends, from the start of `otter`."""
    env = {**otter_env(), "PYTHONUNBUFFERED": "1", "OTTER_SSH_PERSIST": "60"}
    argv = [sys.executable, "-m", "otterfile", "-f", str(project / "Otterfile.py"), "--json",
            "run", "production"]
    subprocess.run(argv, env=env, cwd=project, capture_output=True, timeout=240)  # warm
    started, ends = time.monotonic(), []
    with subprocess.Popen(argv, env=env, cwd=project, stdout=subprocess.PIPE, text=True,
                          stderr=subprocess.DEVNULL) as process:
        for line in process.stdout:
            event = json.loads(line)
            if event.get("event") == "end" and event.get("host") in (host, "local", None):
                ends.append(f"{event.get('stage')} {time.monotonic() - started:.3f}"
                            f" ({event.get('seconds')})")
    return [f"warm no-op timeline, {host} and the controller: " + ", ".join(ends)
            + f"; exit at {time.monotonic() - started:.3f}"]


def show(names, first_wall, first, first_seconds, again, again_seconds) -> list[str]:
    lines = [f"first deploy wall {first_wall:.2f}s"]
    for label, counts, times in (("first", first, first_seconds),
                                 ("no-op", again, again_seconds)):
        lines += [f"{label} {host}: {sum(counts[host].values())} commands "
                  f"{dict(counts[host])} {times[host]}" for host in names]
    return lines


def test_a_noop_redeploy_takes_few_round_trips(tmp_path, clean_targets):
    three = clean_targets[:3]
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, three)
    names = [t.host.name for t in three]
    first, first_seconds, _ = traced_run(tmp_path, names)
    first_wall = traced_run.wall
    assert [served(t) for t in three] == ["200 v1"] * 3
    again, again_seconds, output = traced_run(tmp_path, names)
    assert "nothing to do" in output
    report = os.environ.get("OTTER_TRIPS_REPORT")  # a measurement by hand, never asserted
    if report:
        lines = show(names, first_wall, first, first_seconds, again, again_seconds)
        for persist in ("0", "60"):  # each run connects afresh; masters kept between runs
            walls = []
            for _ in range(int(os.environ.get("OTTER_TRIPS_RUNS", "5"))):
                traced_run(tmp_path, names, OTTER_SSH_PERSIST=persist)
                walls.append(traced_run.wall)
            lines.append(f"no-op wall (OTTER_SSH_PERSIST={persist}): median "
                         f"{statistics.median(walls):.2f}s of {[round(w, 2) for w in walls]}")
        lines += timeline(tmp_path, names[0])
        with open(report, "a") as out:
            out.write("\n".join(lines) + "\n")
    for host in names:
        assert sum(again[host].values()) <= NOOP_MOST, (host, dict(again[host]), output)
        assert sum(first[host].values()) > sum(again[host].values())  # counted at all
    assert output.count("nothing to do (decided on the target") == 3
    for t in three:  # the target logged the no-op under the live release, and unlocked
        read = on(t, "sh", "-c", "cat /var/lib/otter/production/releases.json; echo; "
                  "tail -n 1 /var/lib/otter/production/deploy.log; "
                  "test ! -e /var/lib/otter/production/lock && echo unlocked")
        *releases, record, unlocked = read.stdout.splitlines()
        live = json.loads("\n".join(releases))["live"]
        assert json.loads(record)["release"] == live and unlocked == "unlocked", read.stdout
    assert [served(t) for t in three] == ["200 v1"] * 3


BIG_TAG = scoped("otter-it-trips:latest")


def by_hand(targets, testbed) -> float:
    """The W5 floor, hosts in parallel: `docker save | ssh docker load`, `ssh docker run`."""
    import threading

    def one(t):
        ssh = ["ssh", "-i", str(testbed.key), "-o", f"UserKnownHostsFile={testbed.known_hosts}",
               "-p", str(t.ssh_port), "root@127.0.0.1"]
        save = subprocess.Popen(["docker", "save", BIG_TAG], stdout=subprocess.PIPE)
        subprocess.run(ssh + ["docker", "load"], stdin=save.stdout, check=True,
                       capture_output=True, timeout=120)
        save.wait(timeout=60)
        subprocess.run(ssh + ["docker run -d --name by-hand --label otter.deployment=bench "
                              "-p 127.0.0.1:29999:8080 "
                              + BIG_TAG], check=True, capture_output=True, timeout=60)
    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    return time.monotonic() - started


def test_a_first_image_deploy_takes_one_round_trip_per_stage(tmp_path, testbed, clean_targets):
    """30 MB of the image's bytes: lock, load (the look after it in the same trip), start,
    switch, unlock (nothing to retire); the health checks go through the connection's
    forward (not commands)."""
    three = clean_targets[:3]
    app = write_app(tmp_path / "app", "v1")
    (app / "big.bin").write_bytes(os.urandom(30 * 1024 * 1024))
    (app / "Dockerfile").write_text((app / "Dockerfile").read_text().replace(
        "COPY www/", "COPY big.bin /data/big.bin\nCOPY www/"))
    write_otterfile(tmp_path, three, command=f"docker build -q -t {BIG_TAG} .")
    names = [t.host.name for t in three]
    try:
        first, seconds, output = traced_run(tmp_path, names)
        walls = [traced_run.wall]
        assert [served(t) for t in three] == ["200 v1"] * 3
        for host in names:
            assert first[host]["lock"] == 1 and first[host]["ship"] == 1, dict(first[host])
            # the health checks go through the forward; a first answer missed (an app still
            # starting, under load) adds one look at whether it still runs, a command
            assert first[host]["health"] <= 1, (dict(first[host]), output)
            # lock, ship (the load and a look at the image after it), start, switch, unlock
            # (a first deploy retires nothing: its clean-up goes in the unlock's trip)
            assert sum(first[host].values()) - first[host]["health"] == 5, \
                (dict(first[host]), output)
        report = os.environ.get("OTTER_TRIPS_REPORT")  # a measurement by hand, never asserted
        if report:
            floors = []
            for _ in range(int(os.environ.get("OTTER_TRIPS_RUNS", "3"))):
                testbed.reset(three)
                traced_run(tmp_path, names)
                walls.append(traced_run.wall)
                testbed.reset(three)
                floors.append(by_hand(three, testbed))
            lines = show(names, walls[0], first, seconds, {h: Counter() for h in names},
                         {h: {} for h in names})[:4]
            lines.append(f"first 30 MB deploy wall: median {statistics.median(walls):.2f}s of "
                         f"{[round(w, 2) for w in walls]}; by hand median "
                         f"{statistics.median(floors):.2f}s of {[round(f, 2) for f in floors]}")
            with open(report, "a") as out:
                out.write("\n".join(lines) + "\n")
    finally:
        subprocess.run(["docker", "rmi", "--no-prune", "--force", BIG_TAG], capture_output=True)


def test_a_first_systemd_deploy_starts_in_the_ship_round_trip(tmp_path, clean_targets):
    """A tarball for the systemd runtime: lock, ship (the store's receive, then the start
    once the file is stored and its digest checked: one trip), switch, unlock; the start
    stage sends nothing."""
    from tests.integration.test_systemd_deploy import write_project
    two = clean_targets[:2]
    write_project(tmp_path, two, "v1")
    names = [t.host.name for t in two]
    first, _, output = traced_run(tmp_path, names)
    for host in names:
        assert first[host]["ship"] == 1 and first[host]["start"] == 0, (dict(first[host]),
                                                                         output)
        assert first[host]["health"] <= 1, (dict(first[host]), output)
        assert sum(first[host].values()) - first[host]["health"] == 4, \
            (dict(first[host]), output)
    assert output.count("(started in the ship's round trip)") == 2, output


def test_a_rollback_inside_the_window_takes_one_round_trip(tmp_path, clean_targets):
    """`otter rollback` to the release kept for the rollback window: the lock's round trip
    alone, which runs the switch back the deploy left ready (run/back.py: the health check
    on the target, the switch, the other release kept, the log, the unlock); and the way
    back again the same. Without it ready: the lock (with the read), then one script that
    switches, keeps the other release, logs and unlocks; its health check through the
    connection's forward (not a command)."""
    three = clean_targets[:3]
    write_app(tmp_path / "app", "v1")
    path = write_otterfile(tmp_path, three)
    path.write_text(path.read_text().replace("keep_releases=3,",
                                             "keep_releases=3, rollback_window=600,"))
    names = [t.host.name for t in three]
    try:
        traced_run(tmp_path, names)
        write_app(tmp_path / "app", "v2")
        traced_run(tmp_path, names)
        assert [served(t) for t in three] == ["200 v2"] * 3
        back, _, output = traced_run(tmp_path, names, verb="rollback")
        assert "nothing to start" in output, output
        assert [served(t) for t in three] == ["200 v1"] * 3
        for host in names:
            assert dict(back[host]) == {"lock": 1}, (host, dict(back[host]), output)
        again, _, output = traced_run(tmp_path, names, verb="rollback")
        assert [served(t) for t in three] == ["200 v2"] * 3
        for host in names:
            assert dict(again[host]) == {"lock": 1}, (host, dict(again[host]), output)
        for target in three:  # nothing left ready: the two-trip way
            on(target, "rm", "-rf", "/var/lib/otter/production/back")
        back, _, output = traced_run(tmp_path, names, verb="rollback")
        assert "nothing to start" in output, output
        assert [served(t) for t in three] == ["200 v1"] * 3
        for host in names:
            assert dict(back[host]) == {"lock": 1, "switch": 1}, (host, dict(back[host]),
                                                                 output)
    finally:
        for target in three:  # the hosts' reset leaves transient timers
            on(target, "systemctl", "stop", "otter-kept-production:*.timer")
