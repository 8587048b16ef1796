"""Zero downtime under load, for Caddy and for nginx, on real test hosts: while v1 is
replaced by v2, rolled back, and while a broken v3 is refused, a request loop through both
targets' proxies sees no failed request and only v1 or v2 answering; slow requests in flight
at the switch complete; kept (keep-alive) client connections are never closed under them,
as the switch renames a port file and reloads no proxy; a second deployment on the same
hosts (another domain) is never disturbed. Run with -s to see the numbers (full speed:
bench/zero_downtime.py)."""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.integration.deploy import events, on, otter, start_otter, write_app
from tests.integration.load import Load, Site
from tests.testbed.hosts import scoped

WEB, OTHER = "web.test", "other.test"
WEB_TAG, OTHER_TAG = scoped("otter-zd-web:latest"), scoped("otter-zd-other:latest")

OTTERFILE = '''
from otterfile import *

HOSTS = {hosts!r}

@target
def servers():
    return [ssh(address, identity_file=key, known_hosts=known) for address, key, known in HOSTS]

@artifact
def web_app():
    return build(path="web", command="docker build -q -t {web_tag} .")

@artifact
def other_app():
    return build(path="other", command="docker build -q -t {other_tag} .")

@runtime
def box():
    return docker(port=8080)

@deployment
def sites():
    return [Deployment(name=name, artifact=art, runtime=box, targets=[servers], domains=[domain],
                       proxy={proxy}, keep_releases=3,
                       health_check=HealthCheck(path="/health", timeout_seconds=20))
            for name, art, domain in (("web", web_app, "{web}"), ("other", other_app, "{other}"))]
'''

PROXIES = {"caddy": 'caddy(tls="off")', "nginx": "nginx()"}


@pytest.fixture(autouse=True)
def retire_in_the_background(monkeypatch):
    """Users' default: each run ends after its switch, the old release retired on the
    target after it (run/retire_later.py); the next run waits for that."""
    monkeypatch.setenv("OTTER_RETIRE", "background")


def write_project(folder, targets, proxy: str):
    hosts = [(t.host.name, t.host.identity_file, t.host.known_hosts) for t in targets]
    (folder / "Otterfile.py").write_text(OTTERFILE.format(hosts=hosts, proxy=PROXIES[proxy],
                                                          web=WEB, other=OTHER, web_tag=WEB_TAG,
                                                          other_tag=OTHER_TAG))
    write_app(folder / "web", "v1")
    write_app(folder / "other", "other v1")
    return folder


@pytest.fixture(params=list(PROXIES))
def proxy(request, testbed, clean_targets):
    if request.param == "nginx":
        for t in clean_targets[:2]:  # one proxy owns port 80: nginx takes over from Caddy
            assert on(t, "systemctl", "stop", "caddy").ok
    yield request.param
    if request.param == "nginx":  # Caddy back, as the next test expects the hosts
        testbed.reset(clean_targets[:2])
    subprocess.run(["docker", "rmi", "--no-prune", WEB_TAG, OTHER_TAG],
                   capture_output=True)


def timed_otter(project, *args: str) -> tuple[int, str, list[tuple[float, float]]]:
    """`otter --json ARGS`; its exit code, output, and each switch's (start, end) in
    time.monotonic() as the events arrived."""
    process = start_otter(project, *args)
    started: dict[str, float] = {}
    switches, lines, said = [], [], []
    for line in process.stdout:
        lines.append(line)
        for event in events(line):
            if event.get("stage") != "switch":
                continue
            if event.get("event") == "info":
                said.append(event.get("message", ""))
            elif event.get("event") == "start":
                started[event["task"]] = time.monotonic()
            elif event.get("event") == "end" and event.get("status") == "ok":
                switches.append((started.get(event["task"], time.monotonic()),
                                 time.monotonic()))
    stderr = process.stderr.read()
    # each switch renamed the port file and reloaded nothing
    assert len(said) == len(switches) and all(s.endswith("(no reload)") for s in said), said
    return process.wait(timeout=60), "".join(lines) + stderr, switches


def under_load(project, two, label: str, proxy: str, *args: str):
    """Run otter with both sites under load; print and return what the loop saw."""
    sites = [Site(WEB, two, rate=20, slow=2, keepalive=2), Site(OTHER, two, rate=5, keepalive=1)]
    with Load(sites, max_seconds=240) as load:
        load.wait_for(10)  # the loop runs before anything changes
        began = time.monotonic()
        code, output, switches = timed_otter(project, *args)
        ended = time.monotonic()
        load.wait_for(10)  # and after
    report = load.report()
    fast = [s for s in report.samples if s.path == "/"]
    assert fast[0].started < began and fast[-1].started > ended  # it covered the whole run
    windows = [(start, end + 2.5) for start, end in switches]  # 2.5: the switch + drain
    longest = max((report.longest(s, e) for s, e in windows), default=0.0)
    print(f"\n[{proxy}] {label}: sent {len(report.samples)}, failed {len(report.failed)}; "
          f"longest latency during the switches {longest:.3f}s (slow requests "
          f"{report.longest(slow=True):.3f}s); {report.summary()}")
    return code, output, switches, report


def check(report, switches, web_versions: set[str]) -> None:
    failed = report.failed
    assert failed == [], f"{len(failed)} failed, first: {failed[:3]}"
    # a reload would have closed the kept connections that were idle at that moment
    assert report.drops == [], f"{len(report.drops)} kept connections closed: {report.drops}"
    assert len(report.of(WEB, kept=True)) > 40 and len(report.of(OTHER, kept=True)) > 10
    assert report.bodies(WEB) <= web_versions, report.bodies(WEB)
    assert report.bodies(OTHER) == {"other v1"}  # the other deployment never disturbed
    assert report.of(WEB, slow=False) and report.of(OTHER)
    for _start, end in switches:  # slow requests were in flight at each reload, and ended ok
        assert report.spanning(end, WEB), "no slow request was in flight at a switch"


def test_no_failed_request_while_releases_change(tmp_path, clean_targets, proxy):
    two = clean_targets[:2]
    project = write_project(tmp_path, two, proxy)
    for name in ("web", "other"):
        first = otter(project, "run", name)
        assert first.returncode == 0, first.stdout + first.stderr

    write_app(project / "web", "v2")
    code, output, switches, report = under_load(project, two, "run v1 -> v2", proxy,
                                                "run", "web")
    assert code == 0, output
    assert len(switches) == 2
    check(report, switches, {"v1", "v2"})
    assert {s.body for s in report.samples[-8:] if s.domain == WEB} == {"v2"}

    code, output, switches, report = under_load(project, two, "rollback v2 -> v1", proxy,
                                                "rollback", "web")
    assert code == 0, output
    assert len(switches) == 2
    check(report, switches, {"v1", "v2"})
    assert {s.body for s in report.samples[-8:] if s.domain == WEB} == {"v1"}

    write_app(project / "web", "v3", healthy=False)
    code, output, switches, report = under_load(project, two, "broken v3 refused", proxy,
                                                "run", "web")
    assert code == 1 and "answered 404" in output, output
    assert switches == []
    check(report, switches, {"v1"})
    for t in two:  # v3 removed, v1 alone serves web
        names = on(t, "docker", "ps", "--format", "{{.Names}}").stdout.split()
        assert len([n for n in names if n.startswith("otter-web-")]) == 1, names
