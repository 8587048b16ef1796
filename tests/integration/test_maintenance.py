"""Maintenance mode on real hosts, for Caddy and nginx: `on` makes the domain answer 503 with
Retry-After and the (escaped) message, a deploy of v2 meanwhile keeps the page (v2 is live
all the same), `status` says so, and `off` serves v2."""
from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.deploy import DOMAIN, otter, served, write_app, write_otterfile

PROXIES = {"caddy": 'caddy(tls="off")', "nginx": "nginx()"}
SITES = {"caddy": "/etc/caddy/otter.d/production.caddy",
         "nginx": "/etc/nginx/conf.d/otter-production.conf"}
MESSAGE = 'Back at 5 <script>alert("x")</script> {$HOME} $host'


@pytest.fixture(params=list(PROXIES))
def proxy(request, testbed, clean_targets):
    if request.param == "nginx":
        for target in clean_targets[:2]:  # one proxy owns port 80: nginx takes over
            assert sh(target, "systemctl stop caddy").ok
    yield request.param
    if request.param == "nginx":  # Caddy back, as the next test expects the hosts
        testbed.reset(clean_targets[:2])


def sh(target, line: str):
    from otterfile.command import script
    from otterfile.executors import executor_for
    executor = executor_for(target.host)
    try:
        return executor.run(script(line))
    finally:
        executor.close()


def get(target) -> httpx.Response:
    return httpx.get(target.url("/"), headers={"Host": DOMAIN}, timeout=5)


def ok(done) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_maintenance_on_deploy_off(tmp_path, two, proxy):
    write_otterfile(tmp_path, two, proxy=PROXIES[proxy])
    write_app(tmp_path / "app", "v1")
    ok(otter(tmp_path, "run", "production"))
    assert [served(t) for t in two] == ["200 v1"] * 2

    # as an otter older than maintenance mode wrote the site: `on` writes it anew first
    site = SITES[proxy]
    assert sh(two[0], f"sed -i '/maintenance/d' {site} && systemctl reload {proxy}").ok
    said = ok(otter(tmp_path, "maintenance", "production", "on", "--message", MESSAGE,
                    "--retry-after", "120"))
    assert "maintenance on" in said
    assert "maintenance" in sh(two[0], f"cat {site}").stdout
    for target in two:
        response = get(target)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "120"
        assert response.headers["content-type"].startswith("text/html")
        assert "Back at 5 &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; " \
               "&#123;&#36;HOME&#125; &#36;host" in response.text
        assert "<script>" not in response.text
    status = [json.loads(line) for line in
              ok(otter(tmp_path, "--json", "status", "production")).splitlines()]
    assert [s.get("maintenance") for s in status] == [MESSAGE] * 2, status

    write_app(tmp_path / "app", "v2")  # a deploy meanwhile: v2 goes live behind the page
    ok(otter(tmp_path, "run", "production"))
    assert [get(t).status_code for t in two] == [503, 503]
    for target in two:
        releases = json.loads(sh(target, "cat /var/lib/otter/production/releases.json").stdout)
        live = [r for r in releases["releases"] if r["id"] == releases["live"]][0]
        assert sh(target, f"curl -s 127.0.0.1:{live['port']}/").stdout.strip() == "v2"

    ok(otter(tmp_path, "maintenance", "production", "off"))
    assert [served(t) for t in two] == ["200 v2"] * 2
    status = [json.loads(line) for line in
              ok(otter(tmp_path, "--json", "status", "production")).splitlines()]
    assert [s.get("maintenance") for s in status] == [None, None], status  # null: left out
