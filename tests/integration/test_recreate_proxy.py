"""strategy="recreate" behind Caddy and behind nginx on a real test host: while v1 is
stopped and v2 started (it listens a second after it starts), a request loop through the
proxy sees no failed request (held, not failed), then a broken v3 is removed and v2 started
again, and the error says so. Run with -s to see the numbers (full speed:
bench/recreate.py)."""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.integration.deploy import on, otter, write_app
from tests.integration.load import Load, Site
from tests.testbed.hosts import scoped

DOMAIN = "db.test"
TAG = scoped("otter-recreate:latest")

OTTERFILE = '''
from otterfile import *

@target
def server():
    return ssh({address!r}, identity_file={key!r}, known_hosts={known!r})

@deployment
def db():
    return Deployment(artifact=build(path="app", command="docker build -q -t {tag} ."),
                      runtime=docker(port=8080, volumes=["otter-it-db:/data"]),
                      targets=[server], domains=["{domain}"], proxy={proxy},
                      strategy="recreate", hold_seconds=30,
                      health_check=HealthCheck(path="/health", timeout_seconds=20))
'''

PROXIES = {"caddy": 'caddy(tls="off")', "nginx": "nginx()"}


@pytest.fixture(params=list(PROXIES))
def proxy(request, testbed, clean_targets):
    one = clean_targets[0]
    if request.param == "nginx":  # one proxy owns port 80: nginx takes over from Caddy
        assert on(one, "systemctl", "stop", "caddy").ok
    yield request.param
    on(one, "docker", "volume", "rm", "-f", "otter-it-db")
    if request.param == "nginx":  # Caddy back, as the next test expects the hosts
        testbed.reset([one])
    subprocess.run(["docker", "rmi", "--no-prune", TAG], capture_output=True)


def graceful_app(folder, version: str, **options) -> None:
    """The test app, stopping as a server should on SIGTERM: it stops listening, lets the
    requests in flight finish (1 s), then exits (the plain one dies mid-answer)."""
    write_app(folder, version, **options)
    dockerfile = folder / "Dockerfile"
    text = dockerfile.read_text()
    assert 'trap \\"exit 0\\" TERM INT;' in text and "& wait $!" in text
    dockerfile.write_text(text.replace('trap \\"exit 0\\" TERM INT;',
                                       "trap 'kill $h; sleep 1; exit 0' TERM INT;")
                          .replace("& wait $!", "& h=$!; wait $h"))


def containers(t) -> list[str]:
    names = on(t, "docker", "ps", "-a", "--format", "{{.Names}}").stdout.split()
    return [n for n in names if n.startswith("otter-db-")]


def swap(project, t, label: str, proxy: str):
    """`otter run db` with the loop running before, during and after; what it saw."""
    with Load([Site(DOMAIN, [t], rate=20, keepalive=2)], max_seconds=240) as load:
        load.wait_for(10)  # the loop runs before anything changes
        began = time.monotonic()
        done = otter(project, "run", "db")
        ended = time.monotonic()
        load.wait_for(10)  # and after
    report = load.report()
    assert report.samples[0].started < began and report.samples[-1].started > ended
    print(f"\n[{proxy}] {label}: sent {len(report.samples)}, failed {len(report.failed)}, "
          f"longest {report.longest():.3f}s; {report.summary()}")
    return done, report


def test_recreate_behind_the_proxy_holds_requests_and_puts_back_a_failed_release(
        tmp_path, clean_targets, proxy):
    t = clean_targets[0]
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(
        address=t.host.address, key=t.host.identity_file, known=t.host.known_hosts, tag=TAG,
        domain=DOMAIN, proxy=PROXIES[proxy]))
    graceful_app(tmp_path / "app", "v1")
    first = otter(tmp_path, "run", "db")
    assert first.returncode == 0, first.stdout + first.stderr
    old = containers(t)

    graceful_app(tmp_path / "app", "v2", start_delay=1)  # nothing listens for a second
    done, report = swap(tmp_path, t, "v1 -> v2", proxy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"stopped {old[0]}" in done.stdout
    assert report.failed == [], f"{len(report.failed)} failed, first: {report.failed[:3]}"
    assert report.bodies() == {"v1", "v2"}
    assert {s.body for s in report.samples[-5:]} == {"v2"}
    live = containers(t)
    assert len(live) == 1 and live != old

    # /health answers 404; graceful as v1 and v2: it takes requests while its health check
    # runs (one instance: the proxy forwards to the port once it listens), and otter's
    # abort stops it as any stop does, so they finish (a plain app dies mid-answer: CI saw
    # one response cut)
    graceful_app(tmp_path / "app", "v3", healthy=False)
    done, report = swap(tmp_path, t, "broken v3 put back to v2", proxy)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "answered 404" in output and "was started again" in output, output
    assert "server: db serves " in output and " again (started again after the new " \
        "release failed)" in output, output
    assert containers(t) == live  # v3 removed, v2 started again
    assert {s.body for s in report.samples[-5:]} == {"v2"}
    # v3 answered `/` while its health check ran; no request failed either way
    assert report.failed == [], f"{len(report.failed)} failed, first: {report.failed[:3]}"
