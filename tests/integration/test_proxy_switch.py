"""The switch on real hosts, for Caddy and nginx: a config the proxy rejects, a reload that
fails and a proxy stopped at switch time. Each time the live release keeps serving (when the
proxy runs at all), nothing is half-written (site, port file, backups, state), the error
names the host and the proxy, and the next run succeeds. A new release alone never needs the
proxy to reload, so a broken reload does not stop it."""
from __future__ import annotations

import json
import shlex

import pytest

from tests.integration.deploy import DOMAIN, events, otter, served, write_app, write_otterfile

WWW = "www." + DOMAIN
PROXIES = {"caddy": 'caddy(tls="off")', "nginx": "nginx()"}
SITES = {"caddy": ("/etc/caddy/otter.d", "production.caddy"),
         "nginx": ("/etc/nginx/conf.d", "otter-production.conf")}
UPSTREAM = "/var/lib/otter/production/upstream"
# what the test puts on a target to make the proxy's reload fail (removed by the host reset)
FAILING_RELOAD = "[Service]\nExecReload=\nExecReload=/bin/sh -c 'echo reload refused >&2; exit 1'\n"


@pytest.fixture(params=list(PROXIES))
def proxy(request, testbed, clean_targets):
    if request.param == "nginx":
        for t in clean_targets[:2]:  # one proxy owns port 80: nginx takes over from Caddy
            assert sh(t, "systemctl stop caddy").ok
    yield request.param
    if request.param == "nginx":  # Caddy back, as the next test expects the hosts
        testbed.reset(clean_targets[:2])


def sh(target, script: str):
    """A shell line on a test host through otter's own SSH executor."""
    from otterfile.command import script as shell
    from otterfile.executors import executor_for
    executor = executor_for(target.host)
    try:
        return executor.run(shell(script))
    finally:
        executor.close()


def otterfile_for(tmp_path, two, proxy: str, *, proxy_value: str | None = None,
            domains: tuple[str, ...] = (DOMAIN,), extra: str = ""):
    path = write_otterfile(tmp_path, two, proxy=proxy_value or PROXIES[proxy], extra=extra)
    path.write_text(path.read_text().replace(f'domains=["{DOMAIN}"]',
                                             f"domains={list(domains)!r}"))
    return tmp_path


def snapshot(target, proxy: str) -> dict:
    """What a failed switch must leave as it found: the site file, the port file, no
    backup or pending file of otter's beside the site, the live release."""
    folder, name = SITES[proxy]
    state = json.loads(sh(target, "cat /var/lib/otter/production/releases.json").stdout)
    return {"site": sh(target, f"cat {folder}/{name}").stdout,
            "ports": sh(target, f"ls {UPSTREAM}").stdout.split(),
            "hidden": [n for n in sh(target, f"ls -A {folder}").stdout.split()
                       if n.startswith(".") and not n.endswith("lock")],
            "live": state["live"]}


def running(target) -> list[str]:
    names = sh(target, "docker ps --format '{{.Names}}'").stdout.split()
    return sorted(n for n in names if n.startswith("otter-production-"))


def said(output: str, host: str) -> list[str]:
    return [e["message"] for e in events(output) if e.get("event") == "info"
            and e.get("stage") == "switch" and e.get("host") == host]


def deployed(tmp_path, version: str) -> str:
    write_app(tmp_path / "app", version)
    done = otter(tmp_path, "--json", "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def failed_switch(tmp_path, two, proxy: str) -> tuple[str, list[dict]]:
    """`otter run` that must fail at the switch on both targets and change nothing there;
    its output, and what each target had before."""
    before = [(snapshot(t, proxy), running(t)) for t in two]
    write_app(tmp_path / "app", "v3")
    done = otter(tmp_path, "run", "production")
    assert done.returncode == 1, done.stdout + done.stderr
    for t, (snap, instances) in zip(two, before):
        assert snapshot(t, proxy) == snap  # site, port file, no backups, live release
        assert running(t) == instances  # the new release removed, the live one kept
        assert served(t) == "200 v2"
        state = json.loads(sh(t, "cat /var/lib/otter/production/releases.json").stdout)
        assert not [r for r in state["releases"] if r["status"] == "starting"]
    return done.stdout + done.stderr


# a systemctl that writes down how it was asked, then does it (put first on root's PATH)
ASKED = "/tmp/otter-test-systemctl.log"
LOGGING = f'#!/bin/sh\necho "$*" >> {ASKED}\nexec /usr/bin/systemctl "$@"\n'


def test_a_switch_where_the_proxy_runs_asks_systemctl_nothing(tmp_path, two, proxy):
    """The lock's trip (the proxy there?) and the switch (start it?) read systemd's
    invocation symlink of a running proxy and start no systemctl; the proxy stopped, they
    ask it and start the proxy (test_a_proxy_stopped_at_switch_is_started_or_named)."""
    deployed(otterfile_for(tmp_path, two, proxy), "v1")
    for t in two:
        assert sh(t, f"printf '%s' {shlex.quote(LOGGING)} > /usr/local/sbin/systemctl && "
                  f"chmod +x /usr/local/sbin/systemctl && rm -f {ASKED} && "
                  "command -v systemctl").stdout.strip() == "/usr/local/sbin/systemctl"
    try:
        out = deployed(tmp_path, "v2")
        for t in two:
            asked = sh(t, f"cat {ASKED} 2>/dev/null").stdout
            assert "is-active" not in asked, asked
            assert served(t) == "200 v2"
            assert said(out, t.host.name)[-1].endswith("(no reload)"), out
    finally:
        for t in two:
            sh(t, f"rm -f /usr/local/sbin/systemctl {ASKED}")


def test_a_rejected_config_puts_the_site_back(tmp_path, two, proxy):
    deployed(otterfile_for(tmp_path, two, proxy), "v1")
    out = deployed(tmp_path, "v2")
    assert all(m.endswith("(no reload)") for m in said(out, two[0].host.name)), out
    if proxy == "caddy":  # a site of the operator's own for the name otter is now given
        for t in two:
            assert sh(t, "cp /etc/caddy/Caddyfile /tmp/otter-test-Caddyfile && "
                         f"printf 'http://{WWW} {{\\n\\trespond theirs\\n}}\\n' "
                         ">> /etc/caddy/Caddyfile && systemctl reload caddy").ok
        otterfile_for(tmp_path, two, proxy, domains=(DOMAIN, WWW))
        why = "ambiguous site definition"
    else:  # a certificate path that is not on the hosts
        missing = '("host:/etc/ssl/otter-test.pem", "host:/etc/ssl/otter-test.key")'
        otterfile_for(tmp_path, two, proxy, proxy_value=f"nginx(tls={missing})")
        why = "otter-test.pem"
    output = failed_switch(tmp_path, two, proxy)
    for t in two:
        assert f"{t.host.name}: {proxy} rejected the new config" in output
    assert why in output and "the previous config is back" in output
    if proxy == "caddy":
        for t in two:  # the operator's site goes
            assert sh(t, "cp /tmp/otter-test-Caddyfile /etc/caddy/Caddyfile").ok
    otterfile_for(tmp_path, two, proxy, domains=(DOMAIN, WWW))
    deployed(tmp_path, "v3")
    assert [served(t) for t in two] == ["200 v3"] * 2
    # no port file (taken away by hand): otter's 502, never an empty 200 or another site
    port = snapshot(two[0], proxy)["ports"][0]
    assert sh(two[0], f"mv {UPSTREAM}/{port} /tmp/otter-test-port").ok
    assert served(two[0]) == "502 otter: no live release of production here " \
        f"({UPSTREAM} holds no port file)"
    assert sh(two[0], f"mv /tmp/otter-test-port {UPSTREAM}/{port}").ok
    assert served(two[0]) == "200 v3"


def test_a_failed_reload_puts_the_site_back_and_a_release_alone_needs_none(tmp_path, two,
                                                                         proxy):
    deployed(otterfile_for(tmp_path, two, proxy), "v1")
    for t in two:
        assert sh(t, f"mkdir -p /etc/systemd/system/{proxy}.service.d && printf '%s' "
                     f"\"{FAILING_RELOAD}\" > /etc/systemd/system/{proxy}.service.d/"
                     "otter-test-reload.conf && systemctl daemon-reload").ok
        assert not sh(t, f"systemctl reload {proxy}").ok
    out = deployed(tmp_path, "v2")  # the same site, a new port file: no reload needed
    assert [served(t) for t in two] == ["200 v2"] * 2
    assert all(m.endswith("(no reload)") for t in two for m in said(out, t.host.name))
    otterfile_for(tmp_path, two, proxy, domains=(DOMAIN, WWW))  # a new name: the site changes
    output = failed_switch(tmp_path, two, proxy)
    for t in two:
        assert f"{t.host.name}: {proxy} did not reload or start" in output
    assert f"systemctl reload {proxy} failed" in output and "reload refused" in output
    for t in two:
        assert sh(t, f"rm /etc/systemd/system/{proxy}.service.d/otter-test-reload.conf && "
                     "systemctl daemon-reload").ok
    deployed(tmp_path, "v3")
    assert [served(t) for t in two] == ["200 v3"] * 2
    assert sh(two[0], f"curl -sf -H 'Host: {WWW}' http://127.0.0.1/").stdout.strip() == "v3"


STOP_BEFORE_SWITCH = '''
@step(deployment="production", before="switch")
def stop_the_proxy(ctx):
    ctx.run("{command}")
'''


def test_a_proxy_stopped_at_switch_is_started_or_named(tmp_path, two, proxy):
    deployed(otterfile_for(tmp_path, two, proxy), "v1")
    stop = STOP_BEFORE_SWITCH.format(command=f"systemctl stop {proxy}")
    otterfile_for(tmp_path, two, proxy, extra=stop)
    out = deployed(tmp_path, "v2")
    assert f"started {proxy}: it was not running" in said(out, two[0].host.name)
    assert [served(t) for t in two] == ["200 v2"] * 2
    # stopped and kept from starting: the switch fails, naming host and proxy
    masked = f"systemctl stop {proxy} && systemctl mask --runtime {proxy}"
    otterfile_for(tmp_path, two, proxy, extra=STOP_BEFORE_SWITCH.format(command=masked))
    before = [(snapshot(t, proxy), running(t)) for t in two]
    write_app(tmp_path / "app", "v3")
    done = otter(tmp_path, "run", "production")
    assert done.returncode == 1, done.stdout + done.stderr
    for t, (snap, instances) in zip(two, before):
        assert f"{t.host.name}: {proxy} did not reload or start" in done.stdout + done.stderr
        assert snapshot(t, proxy) == snap and running(t) == instances
        # the live release still answers behind the stopped proxy
        port = snap["ports"][0]
        assert sh(t, f"curl -sf http://127.0.0.1:{port}/").stdout.strip() == "v2"
        assert sh(t, f"systemctl unmask --runtime {proxy}").ok
    assert "is masked" in done.stdout + done.stderr
    otterfile_for(tmp_path, two, proxy)  # the next run starts the proxy (and serves v3)
    again = deployed(tmp_path, "v3")
    started = [e.get("host") for e in events(again) if e.get("stage") == "lock"
               and e.get("message") == f"started {proxy}"]  # by the state read's ensure
    assert sorted(started) == sorted(t.host.name for t in two)
    assert [served(t) for t in two] == ["200 v3"] * 2


NO_NJS = "Package: libnginx-mod-http-js\nPin: release *\nPin-Priority: -1\n"


def test_nginx_gets_njs_installed_or_switches_by_reload_and_says_so(tmp_path, testbed, two):
    """With nginx, otter installs njs where apt can (one host), and where it cannot (the other:
    the package pinned away) nginx switches by reload, as before, and run, status and plan
    --check say so."""
    has, lacks = two
    for t in two:
        assert sh(t, "systemctl stop caddy && apt-get purge -y -q libnginx-mod-http-js").ok
    assert sh(lacks, f"printf '{NO_NJS}' > /etc/apt/preferences.d/otter-test-no-njs").ok
    try:
        otterfile_for(tmp_path, two, "nginx")
        first = deployed(tmp_path, "v1")
        infos = {t.host.name: [e["message"] for e in events(first) if e.get("event") == "info"
                               and e.get("stage") == "lock" and e.get("host") == t.host.name]
                 for t in two}
        assert "installed libnginx-mod-http-js (nginx switches releases without a reload)" \
            in infos[has.host.name], infos
        assert any(m.startswith("installing libnginx-mod-http-js with apt-get failed, so nginx "
                                "switches by reload here") for m in infos[lacks.host.name])
        assert "nginx switches by reload here: njs is not installed (Debian and Ubuntu: " \
            "libnginx-mod-http-js)" in infos[lacks.host.name]
        second = deployed(tmp_path, "v2")
        assert [m.rsplit(" ", 2)[-2:] for m in said(second, has.host.name)] == \
            [["(no", "reload)"]]
        assert said(second, lacks.host.name)[0].endswith("(reload)")
        assert [served(t) for t in two] == ["200 v2"] * 2
        status = otter(tmp_path, "status", "production")
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"{lacks.host.name}: nginx switches production by reload: njs is not " \
            "installed" in status.stdout
        assert f"{has.host.name}: nginx switches" not in status.stdout
        check = otter(tmp_path, "plan", "production", "--check")
        rows = {line.split()[0]: line for line in check.stdout.splitlines() if line.strip()}
        assert "switches by reload: njs is not installed" in rows[lacks.host.name]
        assert "switches by" not in rows[has.host.name]
    finally:
        testbed.reset(two)  # njs back, the pin gone, Caddy on port 80
