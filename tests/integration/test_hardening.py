"""Hardening on real hosts: a tampered state file touches nothing foreign, one server spelled
two ways is one host, and remote work ends when otter is killed."""
from __future__ import annotations

import json
import signal
import time

import pytest

from tests.integration.deploy import APP_TAG, DOMAIN, on, otter, served, start_otter, write_app

STATE = "/var/lib/otter/production/releases.json"


def test_a_tampered_state_file_never_touches_a_foreign_container(project, two):
    assert otter(project, "run", "production").returncode == 0
    t = two[0]
    state = json.loads(on(t, "cat", STATE).stdout)
    image = state["releases"][0]["digest"]
    assert on(t, "docker", "run", "-d", "--name", "victim", image).ok
    # a container labelled as ours by hand, under a name otter never gives
    assert on(t, "docker", "run", "-d", "--name", "squatter", "--label",
              "otter.deployment=production", "--label", "otter.release=20240101T000000-"
              "abcdef12", image).ok
    state["releases"][0]["instance"] = "victim"
    write = on(t, "python3", "-c", f"import sys; open({STATE!r}, 'w').write(sys.argv[1])",
               json.dumps(state))
    assert write.ok, write.stderr
    write_app(project / "app", "v2")
    result = otter(project, "run", "production")
    assert result.returncode == 1
    assert f"{t.host.name}:{STATE}" in result.stdout and "'victim'" in result.stdout
    running = on(t, "docker", "ps", "--format", "{{.Names}}").stdout.split()
    assert "victim" in running and "squatter" in running
    assert served(t) == "200 v1" and served(two[1]) == "200 v2"
    on(t, "docker", "rm", "-f", "victim", "squatter")
    on(t, "rm", "-f", STATE)  # the owner repairs the file; no `otter unlock` is needed
    again = otter(project, "run", "production")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [served(x) for x in two] == ["200 v2"] * 2


def test_one_server_spelled_two_ways_is_one_host(project, two, testbed):
    t = two[0]
    known = project / "known_hosts"
    lines = testbed.known_hosts.read_text().splitlines()
    port_entry = [ln for ln in lines if ln.startswith(f"[127.0.0.1]:{t.ssh_port} ")][0]
    known.write_text("\n".join(lines + [port_entry.replace("127.0.0.1", "localhost")]) + "\n")
    key = t.host.identity_file
    (project / "Otterfile.py").write_text(f'''
from otterfile import *

@target
def servers():
    return [ssh("root@localhost:{t.ssh_port}", identity_file={key!r}, known_hosts={str(known)!r}),
            ssh("root@LocalHost:{t.ssh_port}", identity_file={key!r}, known_hosts={str(known)!r})]

@deployment
def production():
    return Deployment(artifact=build(path="app", command="docker build -q -t {APP_TAG} ."),
                      runtime=docker(port=8080), targets=[servers], domains=["{DOMAIN}"],
                      proxy=caddy(tls="off"))
''')
    result = otter(project, "run", "production")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unlock" not in result.stderr and "locked by" not in result.stdout
    rows = [ln for ln in result.stdout.splitlines() if ln.startswith(f"localhost:{t.ssh_port} ")]
    assert len(rows) == 1, result.stdout  # one lane in the summary
    assert served(t) == "200 v1"


def test_remote_work_ends_when_otter_is_killed(project, two):
    marker = f"otter-abandoned-{time.monotonic_ns()}"
    process = start_otter(project, "exec", "production", "--", f"sleep 300; : {marker}")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(on(t, "pgrep", "-f", f"[s]leep 300; : {marker}").ok for t in two):
                break
            time.sleep(0.3)
        else:
            pytest.fail("the command never started on both hosts")
    finally:
        process.send_signal(signal.SIGKILL)  # no chance to clean up
        process.wait(timeout=10)
    deadline = time.monotonic() + 20
    left = list(two)
    while left and time.monotonic() < deadline:
        left = [t for t in left if on(t, "pgrep", "-f", f"[s]leep 300; : {marker}").ok]
        time.sleep(0.5)
    assert not left, f"still running on {[t.name for t in left]}"


def test_status_without_a_name_shows_every_deployment(project, two):
    text = (project / "Otterfile.py").read_text()
    (project / "Otterfile.py").write_text(text + '''
@deployment
def staging():
    return Deployment(artifact=web, runtime=box, targets=[servers], domains=["staging.test"],
                      proxy=caddy(tls="off"))
''')
    assert otter(project, "run", "production").returncode == 0
    result = otter(project, "status")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [ln.split() for ln in result.stdout.splitlines()[2:] if ln.strip()]
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (t.host.name, d) for t in two for d in ("production", "staging"))
    assert {r[2] for r in rows if r[1] == "staging"} == {"none"}  # never deployed
