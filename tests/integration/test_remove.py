"""`otter remove` on real test hosts: one of two deployments sharing the hosts (and the
proxy) is removed while the other is redeployed and under load; the other never fails a
request, the removed one answers the slow requests it had in flight (the remove drains it),
and nothing of the removed one is left (containers, images, state, proxy site)."""
from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.deploy import on, otter, start_otter, write_app
from tests.integration.load import SLOW_PATH, Load, Site, request
from tests.integration.test_zero_downtime import OTHER, OTHER_TAG, WEB, WEB_TAG, write_project

SITE_FILES = {"caddy": "/etc/caddy/otter.d/web.caddy",
              "nginx": "/etc/nginx/conf.d/otter-web.conf"}


@pytest.fixture(params=list(SITE_FILES))
def proxy(request, testbed, clean_targets):
    if request.param == "nginx":
        for t in clean_targets[:2]:  # one proxy owns port 80: nginx takes over from Caddy
            assert on(t, "systemctl", "stop", "caddy").ok
    yield request.param
    if request.param == "nginx":
        testbed.reset(clean_targets[:2])
    subprocess.run(["docker", "rmi", "--no-prune", WEB_TAG, OTHER_TAG],
                   capture_output=True)


def web_traces(target, proxy: str) -> dict[str, str]:
    """What a host still has of `web`: containers, images, state folder, proxy site."""
    names = on(target, "docker", "ps", "-a", "--format", "{{.Names}}").stdout.split()
    images = on(target, "docker", "images", "-q", "--filter", "label=otter.test.version=v1")
    images2 = on(target, "docker", "images", "-q", "--filter", "label=otter.test.version=v2")
    found = {"containers": " ".join(n for n in names if n.startswith("otter-web-")),
             "images": (images.stdout + images2.stdout).strip(),
             "state": on(target, "ls", "/var/lib/otter/web").stdout.strip(),  # port file too
             "site": on(target, "cat", SITE_FILES[proxy]).stdout.strip()}
    if proxy == "nginx":  # the njs module beside the site
        found["njs"] = on(target, "ls", "/etc/nginx/conf.d/otter-web.js").stdout.strip()
    return found


def test_remove_one_deployment_while_the_other_serves(tmp_path, clean_targets, proxy):
    two = clean_targets[:2]
    project = write_project(tmp_path, two, proxy)
    for name in ("web", "other"):
        done = otter(project, "run", name)
        assert done.returncode == 0, done.stdout + done.stderr
    write_app(project / "web", "v2")  # two releases, two images of web on each host
    done = otter(project, "run", "web")
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(all(web_traces(t, proxy).values()) for t in two)

    asked = otter(project, "remove", "web", stdin=subprocess.DEVNULL)
    assert asked.returncode == 2 and "--yes" in asked.stderr, asked.stdout + asked.stderr
    dry = otter(project, "remove", "web", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.count("would remove") == 3, dry.stdout
    assert all(all(web_traces(t, proxy).values()) for t in two)  # nothing changed yet

    write_app(project / "other", "other v2")  # redeployed while web is removed
    with Load([Site(OTHER, two, rate=20, slow=1)], max_seconds=240) as load:
        load.wait_for(10)  # the load runs before anything changes
        changing = time.monotonic()
        redeploy = start_otter(project, "run", "other")
        with ThreadPoolExecutor(len(two)) as pool:  # a slow request to web in flight on each
            slow = [pool.submit(request, t.http_port, WEB, SLOW_PATH) for t in two]
            time.sleep(0.5)  # sent and being answered (it takes about 2 s)
            removed = otter(project, "remove", "web", "--yes")
            answers = [s.result() for s in slow]
        redeployed = redeploy.communicate(timeout=240)
        changed = time.monotonic()
        load.wait_for(10)  # and after everything changed
    report = load.report()
    assert redeploy.returncode == 0, redeployed
    print(f"\n[{proxy}] remove web while other is redeployed: sent {len(report.samples)}, failed "
          f"{len(report.failed)}; {report.summary()}\n{removed.stdout}")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert removed.stdout.count("removed") >= 2, removed.stdout
    # the remove drained web: the requests in flight were answered before its release stopped
    assert [a[0] for a in answers] == [200] * len(two), answers
    assert report.failed == [] and report.bodies() == {"other v1", "other v2"}
    fast = report.of(OTHER, slow=False)
    assert fast[0].started < changing and fast[-1].started > changed  # covered it all
    for t in two:
        assert set(web_traces(t, proxy).values()) == {""}
        assert on(t, "test", "-s", "/var/lib/otter/other/releases.json").ok
        status, body, _ = request(t.http_port, WEB, "/")
        assert body not in ("v1", "v2"), (status, body)
        assert request(t.http_port, OTHER, "/")[:2] == (200, "other v2")
    again = otter(project, "remove", "web", "--yes")
    assert again.returncode == 0 and again.stdout.count("nothing there") == 2, again.stdout


def test_remove_a_systemd_deployment_leaves_only_its_data(tmp_path, clean_targets):
    from tests.integration.test_systemd_deploy import units, write_project as systemd_project
    one = clean_targets[:1]
    systemd_project(tmp_path, one, "v1")
    done = otter(tmp_path, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    (target,) = one
    stored = on(target, "ls", "/var/lib/otter/artifacts/sha256").stdout.split()
    assert units(target) and len(stored) == 1
    removed = otter(tmp_path, "remove", "production", "--yes")
    assert removed.returncode == 0 and "removed" in removed.stdout, removed.stdout + removed.stderr
    assert units(target) == []
    assert on(target, "sh", "-c", "ls /etc/systemd/system | grep otter-production").stdout == ""
    assert on(target, "ls", "/var/lib/otter/production").stdout.split() == ["data"]
    assert stored[0] not in on(target, "ls", "/var/lib/otter/artifacts/sha256").stdout
    assert not on(target, "test", "-e", "/etc/caddy/otter.d/production.caddy").ok
    assert on(target, "systemctl", "is-active", "caddy").stdout.strip() == "active"


def test_remove_is_refused_while_another_run_holds_the_lock(tmp_path, clean_targets):
    from otterfile.executors import executor_for
    from otterfile.run.lock import DeployLock
    from tests.integration.deploy import served, write_otterfile
    (target,) = one = clean_targets[:1]
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, one)
    done = otter(tmp_path, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr

    def traces() -> list[str]:
        return [on(target, "docker", "ps", "-a", "--format", "{{.Names}} {{.Image}}").stdout,
                on(target, "ls", "-R", "/var/lib/otter/production").stdout,
                on(target, "cat", "/etc/caddy/otter.d/production.caddy").stdout]
    executor = executor_for(target.host)
    lock = DeployLock(executor, "production", holder="alice@laptop")
    try:
        lock.acquire()  # another run, deploying right now
        before = traces()
        refused = otter(tmp_path, "remove", "production", "--yes")
        said = refused.stdout + refused.stderr
        assert refused.returncode == 1, said
        # the host by the name the Otterfile gave it (its one-host target `servers`)
        assert "servers: deployment production is locked by alice@laptop since" in said
        assert "--lock-wait" in said
        assert traces() == before and served(target) == "200 v1"  # nothing removed
    finally:
        lock.release()
        executor.close()
    removed = otter(tmp_path, "remove", "production", "--yes")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "otter-production" not in on(target, "docker", "ps", "-a").stdout
