"""Smoke tests of the test hosts: otter's SSH executor reaches them, and each one's systemd,
Docker engine, Caddy and nginx are what the deploy tests expect."""
from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from otterfile.command import cmd, script
from otterfile.errors import ExecutionError
from otterfile.executors import executor_for
from tests.testbed import faults
from tests.testbed.app import saved

pytestmark = pytest.mark.integration


@pytest.fixture
def executors(targets):
    opened = [executor_for(t.host) for t in targets]
    yield opened
    for executor in opened:
        executor.close()


def test_the_ssh_executor_runs_a_command_on_every_target(targets, executors):
    results = [e.run(cmd("hostname")) for e in executors]
    assert [r.stdout.strip() for r in results] == [t.name for t in targets]
    assert all(r.ok for r in results)


GO = "/run/otter-test-go"  # tmpfs: gone when the stopped host boots again
# says it runs, then waits (bounded, 60 s) until the test lets it finish
WAIT_FOR_GO = script(f"echo started; i=0; while [ ! -e {GO} ] && [ $i -lt 600 ]; do "
                     f"sleep 0.1; i=$((i+1)); done; echo done")


def test_a_target_stopped_mid_run_fails_while_the_others_succeed(testbed, targets, executors):
    for executor in executors:
        executor.run(cmd("true"))  # masters open before the race starts
    victim, others = targets[-1], targets[:-1]
    started = threading.Semaphore(0)

    def outcome(executor):
        try:
            result = executor.run(WAIT_FOR_GO, timeout=90, on_output=lambda _stream, line:
                                  started.release() if line.strip() == "started" else None)
            return result.ok and result.stdout.split() == ["started", "done"]
        except ExecutionError:
            return False

    try:
        with ThreadPoolExecutor(len(executors)) as pool:
            pending = [pool.submit(outcome, e) for e in executors]
            for _ in executors:  # every command runs: the victim is stopped mid-run
                assert started.acquire(timeout=60), "a command never started"
            faults.stop(victim)
            for t in others:
                subprocess.run(testbed.ssh_argv(t, "touch", GO), check=True, timeout=60)
            outcomes = [p.result(timeout=90) for p in pending]
    finally:
        testbed.reset([victim])  # boots it again for the tests after this one
        for t in others:
            subprocess.run(testbed.ssh_argv(t, "rm", "-f", GO), timeout=60)
    assert outcomes == [True] * len(others) + [False]


def test_each_target_runs_systemd_without_failed_units(executors):
    for executor in executors:
        assert executor.run(cmd("systemctl", "is-system-running")).stdout.strip() == "running"
        failed = executor.run(cmd("systemctl", "--failed", "--plain", "--no-legend"))
        assert failed.stdout.strip() == ""


def test_each_docker_engine_answers_and_loads_an_image_through_ssh(clean_targets, executors,
                                                                    app_image):
    image = app_image("smoke v1")
    for executor in executors:
        assert executor.run(cmd("docker", "info", "--format", "{{.Driver}}")).stdout.strip() == "vfs"
        with saved(image.tag) as stream:
            loaded = executor.run(cmd("docker", "load"), stdin=stream, timeout=120)
        assert loaded.ok, loaded.stderr
        started = executor.run(cmd("docker", "run", "-d", "--label", "otter.deployment=smoke",
                                   "-p", "127.0.0.1:3000:8080", image.tag))
        assert started.ok, started.stderr
        page = executor.run(script("for i in $(seq 50); do curl -fsS http://127.0.0.1:3000/ "
                                   "&& exit; sleep 0.1; done; exit 1"))
        assert page.stdout.strip() == "smoke v1"


def test_caddy_answers_on_each_published_http_port(targets):
    for t in targets:
        response = httpx.get(t.url("/"), headers={"Host": "myapp.test"}, timeout=5)
        assert response.status_code == 200 and "Caddy" in response.text


def test_nginx_is_installed_but_not_running_and_podman_works(executors):
    for executor in executors:
        assert executor.run(cmd("nginx", "-v")).ok
        assert executor.run(cmd("systemctl", "is-active", "nginx")).stdout.strip() == "inactive"
        assert executor.run(cmd("systemctl", "is-enabled", "nginx")).stdout.strip() == "disabled"
        assert executor.run(cmd("podman", "info", "--format", "{{.Store.GraphDriverName}}")
                            ).stdout.strip() == "vfs"


def test_the_deploy_user_reaches_docker_and_sudo(target):
    executor = executor_for(target.as_user("deploy"))
    try:
        assert executor.run(cmd("docker", "ps")).ok
        assert executor.run(cmd("sudo", "-n", "true")).ok
    finally:
        executor.close()


def test_clean_targets_removes_what_a_deploy_leaves(testbed, clean_targets, app_image):
    t = clean_targets[0]
    image = app_image("leftover")
    with saved(image.tag) as stream:
        subprocess.run(["docker", "exec", "-i", t.container, "docker", "load"], stdin=stream,
                       capture_output=True, check=True)
    mess = ("docker run -d --label otter.deployment=x %s >/dev/null && mkdir -p /var/lib/otter "
            "/etc/caddy/otter.d && echo '# changed' >> /etc/caddy/Caddyfile && "
            "systemctl stop caddy && systemctl enable -q --now nginx") % image.tag
    subprocess.run(["docker", "exec", t.container, "sh", "-c", mess], check=True)
    testbed.reset([t])
    check = ("docker ps -aq; docker images -q --filter label=otter.test=1; "
             "ls -d /var/lib/otter /etc/caddy/otter.d 2>/dev/null; "
             "cmp /etc/caddy/Caddyfile /etc/caddy/Caddyfile.orig; systemctl is-active nginx caddy")
    after = subprocess.run(["docker", "exec", t.container, "sh", "-c", check],
                           capture_output=True, text=True).stdout.split()
    assert after == ["inactive", "active"]
    assert "Caddy" in httpx.get(t.url("/"), headers={"Host": "myapp.test"}, timeout=5).text


@pytest.mark.parametrize("cut, mend, error", [
    (faults.disconnect, faults.connect, "Connection refused"),
    (faults.partition, faults.heal, "timed out"),
])
def test_cutting_a_target_off_breaks_ssh_until_mended(testbed, targets, cut, mend, error):
    t = targets[1]
    try:
        cut(t)
        probe = subprocess.run(testbed.ssh_argv(t, "true", connect_timeout=2),
                               capture_output=True, text=True, timeout=30)
        assert probe.returncode == 255 and error in probe.stderr
        mend(t)
        testbed.wait_ready([t], timeout=30)
    finally:
        faults.restore(t)


def test_the_request_loop_counts_failures_while_a_target_is_stopped(testbed, targets):
    t = targets[1]
    try:
        with faults.RequestLoop(t.url("/"), host="myapp.test", max_seconds=20,
                                timeout=1) as loop:
            loop.wait_until(lambda seen: seen.ok > 0)
            faults.stop(t)
            loop.wait_until(lambda seen: seen.samples[-1].status is None)
        summary = loop.summary
    finally:
        testbed.reset([t])
    assert summary.ok > 0 and summary.failed > 0, summary
    assert summary.samples[0].status == 200 and summary.samples[-1].status is None
