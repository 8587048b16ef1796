"""The second runtime and the second proxy through the same flow, on real test hosts:
podman behind Caddy, docker behind nginx, each deployed, redeployed, refused when unhealthy
(the old release still answers) and rolled back; a no-op in between is decided on the
targets."""
from __future__ import annotations

import pytest

from tests.integration.deploy import on, otter, served, write_app, write_otterfile

KINDS = {"podman-caddy": ("podman", 'caddy(tls="off")'), "docker-nginx": ("docker", "nginx()")}


@pytest.fixture(params=list(KINDS))
def kind(request, testbed, clean_targets):
    runtime, proxy = KINDS[request.param]
    nginx = proxy.startswith("nginx")
    if nginx:
        for t in clean_targets[:2]:  # one proxy owns port 80: nginx takes over from Caddy
            assert on(t, "systemctl", "stop", "caddy").ok
    yield runtime, proxy
    if nginx:  # Caddy back, so the next test finds the hosts as they were
        testbed.reset(clean_targets[:2])


def names(target, engine: str) -> list[str]:
    listed = on(target, engine, "ps", "-a", "--format", "{{.Names}}").stdout.split()
    return [n for n in listed if n.startswith("otter-production-")]


def test_deploy_redeploy_refuse_and_roll_back(tmp_path, clean_targets, kind):
    runtime, proxy = kind
    two = clean_targets[:2]
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, two, runtime=runtime, proxy=proxy)
    first = otter(tmp_path, "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    assert [served(t) for t in two] == ["200 v1"] * 2
    other = "docker" if runtime == "podman" else "podman"
    for t in two:  # the chosen engine runs it, nothing of it in the other engine
        assert len(names(t, runtime)) == 1 and names(t, other) == []
        init = on(t, runtime, "inspect", "-f", "{{.HostConfig.Init}}", names(t, runtime)[0])
        assert init.stdout.strip() == "true", init.stdout + init.stderr  # an init as PID 1
    again = otter(tmp_path, "run", "production")  # decided on each target (run/noop.py)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("nothing to do (decided on the target") == 2, again.stdout

    write_app(tmp_path / "app", "v2")
    second = otter(tmp_path, "run", "production")
    assert second.returncode == 0, second.stdout + second.stderr
    assert [served(t) for t in two] == ["200 v2"] * 2
    assert all(len(names(t, runtime)) == 1 for t in two)  # the old one retired

    write_app(tmp_path / "app", "v3-broken", healthy=False)
    bad = otter(tmp_path, "run", "production")
    assert bad.returncode == 1 and "answered 404" in bad.stdout
    assert [served(t) for t in two] == ["200 v2"] * 2

    back = otter(tmp_path, "rollback", "production")
    assert back.returncode == 0, back.stdout + back.stderr
    assert [served(t) for t in two] == ["200 v1"] * 2
    status = otter(tmp_path, "status", "production")
    assert status.returncode == 0 and status.stdout.count("200 on /health") == 2
    logs = otter(tmp_path, "logs", "production", "--tail", "5")
    assert logs.returncode == 0 and "app v1 starting" in logs.stdout
    if proxy.startswith("nginx"):
        site = on(two[0], "cat", "/etc/nginx/conf.d/otter-production.conf").stdout
        assert "server_name app.test;" in site
        assert on(two[0], "nginx", "-t").ok  # the generated config as nginx reads it
        headers = on(two[0], "curl", "-fsS", "-H", "Host: app.test", "-H", "Upgrade: websocket",
                     "http://127.0.0.1/")
        assert headers.ok and headers.stdout.strip() == "v1"
