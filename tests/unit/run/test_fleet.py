"""balance="fleet" offline: the sites Caddy and nginx get (the local release first, the
others', health checks), the fleet stage in the graph (every retire waits for every target's
fleet task), `--targets` refused, the release published on the private address, the
fingerprint, and `otter plan` showing it all."""
from __future__ import annotations

import pytest

from otterfile.errors import UsageError
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.plan.picture import draw
from otterfile.plan.planner import plan
from otterfile.proxies import caddy, nginx
from otterfile.proxies.base import Fleet
from otterfile.commands.container import start_release
from otterfile.run.fingerprint import fingerprint
from otterfile.run.fleet import upstream
from otterfile import ssh

pytestmark = pytest.mark.unit

FILE = '''
from otterfile import *

@artifact
def web():
    return registry("registry.example.com/app:1")

@target
def pair():
    return [ssh("root@203.0.113.10", name="a"), ssh("root@b.example", name="b",
                                                     private="10.0.0.6")]

@deployment
def production():
    return Deployment(artifact=web, runtime=docker(port=8080), targets=[pair],
                      domains=["app.test"], proxy={proxy}, balance="{balance}",
                      health_check=HealthCheck(path="/health"))
'''
FLEET = Fleet(("10.0.0.6:20001", "[fd00::7]:20002"), "/health", 200)


def project(otterfile, proxy='caddy(tls="off")', balance="fleet"):
    return evaluate(load(otterfile(FILE.format(proxy=proxy, balance=balance))))


def test_caddy_names_the_local_release_first_and_checks_every_one():
    text = caddy.render_site("web", ["app.test"], 20000, None, "off",
                             upstream_dir="/var/lib/otter/web/upstream", fleet=FLEET)
    assert "reverse_proxy 127.0.0.1:20000 10.0.0.6:20001 [fd00::7]:20002 {" in text
    for line in ("lb_policy first", "health_uri /health", "health_interval 2s",
                 "health_status 200", "fail_duration 2s", "lb_try_duration 5s"):
        assert f"\t\t{line}\n" in text
    assert "{otter_port}" not in text and "upstream" not in text.split("{", 1)[1]
    assert caddy.PROXY.served_port(text) == 20000


def test_caddy_without_a_health_status_takes_any_2xx():
    text = caddy.render_site("web", ["app.test"], 20000, None, "off", fleet=Fleet(("10.0.0.6:1",)))
    assert "health_uri /\n" in text and "health_status" not in text


def test_nginx_names_the_local_release_first_and_the_others_as_backups():
    text = nginx.render_site("web", ["app.test"], 20000, None,
                             upstream_dir="/var/lib/otter/web/upstream", fleet=FLEET)
    assert ("\tserver 127.0.0.1:20000 max_fails=1 fail_timeout=2s;\n"
            "\tserver 10.0.0.6:20001 backup max_fails=1 fail_timeout=2s;\n"
            "\tserver [fd00::7]:20002 backup max_fails=1 fail_timeout=2s;\n"
            "\tkeepalive 16;\n") in text
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in text
    assert "js_import" not in text and "proxy_pass http://otter_web;" in text
    assert nginx.PROXY.served_port(text) == 20000


@pytest.mark.parametrize("render", [
    lambda fleet: caddy.render_site("web", ["app.test"], 1, None, "off", fleet=fleet),
    lambda fleet: nginx.render_site("web", ["app.test"], 1, None, fleet=fleet)])
def test_a_peer_that_is_not_address_and_port_is_refused(render):
    from otterfile.errors import OtterError
    with pytest.raises(OtterError, match="ADDRESS:PORT"):
        render(Fleet(("10.0.0.6:1; include /etc/passwd",)))


def test_upstream_names_the_private_address():
    assert upstream(ssh("root@b.example", private="10.0.0.6"), 20001) == "10.0.0.6:20001"
    assert upstream(ssh("root@[fd00::7]"), 20002) == "[fd00::7]:20002"


def test_every_retire_waits_for_every_fleet_task(otterfile):
    text = draw(plan(project(otterfile), ["production"]), "text")
    assert "production/fleet@a  <- production/switch@a, production/switch@b\n" in text
    assert "production/fleet@b  <- production/switch@a, production/switch@b\n" in text
    assert "production/retire@a  <- production/fleet@a, production/fleet@b\n" in text
    assert "production/retire@b  <- production/fleet@b, production/fleet@a\n" in text
    local = draw(plan(project(otterfile, balance="local"), ["production"]), "text")
    assert "fleet" not in local


def test_steps_around_the_switch_stay_before_the_fleet_stage(otterfile):
    text = FILE.format(proxy='caddy(tls="off")', balance="fleet") + '''
@step(deployment="production", after="switch")
def warm(ctx):
    pass
'''
    graph = draw(plan(evaluate(load(otterfile(text))), ["production"]), "text")
    assert "production/fleet@a  <- production/step:warm@a, production/step:warm@b\n" in graph


def test_narrowing_a_fleet_run_with_targets_is_refused(otterfile):
    with pytest.raises(UsageError, match='production has balance="fleet".*nothing was touched'):
        plan(project(otterfile), ["production"], hosts=["a"])
    plan(project(otterfile, balance="local"), ["production"], hosts=["a"])


def test_the_release_is_published_on_127_0_0_1_and_the_private_address_only():
    command = start_release("docker", deployment="web", release="r1", digest="sha256:0a",
                            image="app", container_port=8080, private="10.0.0.6")
    assert "-p '127.0.0.1:<port>:8080' -p '10.0.0.6:<port>:8080'" in command.description
    assert "10.0.0.6" in command.argv and "0.0.0.0" not in command.description
    v6 = start_release("docker", deployment="web", release="r1", digest="sha256:0a",
                       image="app", container_port=8080, private="fd00::7")
    assert "[fd00::7]" in v6.argv
    plain = start_release("docker", deployment="web", release="r1", digest="sha256:0a",
                          image="app", container_port=8080)
    assert "10.0.0.6" not in plain.description


def test_a_fleet_release_is_not_the_same_as_a_local_one(otterfile):
    fleet = project(otterfile).deployments["production"]
    local = project(otterfile, balance="local").deployments["production"]
    assert fingerprint(fleet, "sha256:0a", {}, "k", private="10.0.0.6") != \
        fingerprint(local, "sha256:0a", {}, "k")
    assert fingerprint(fleet, "sha256:0a", {}, "k", private="10.0.0.6") != \
        fingerprint(fleet, "sha256:0a", {}, "k", private="10.0.0.7")


@pytest.mark.parametrize("proxy", ['caddy(tls="off")', "nginx()"])
def test_plan_shows_each_site_naming_the_other_target(otterfile, proxy):
    from otterfile.plan.describe import describe, targets
    proj = project(otterfile, proxy=proxy)
    graph, notes = describe(proj, plan(proj, ["production"]))
    shown = {one["host"]: one for one in targets(proj, graph, notes)}
    assert "10.0.0.6:<port>" in shown["a"]["site"]["text"]
    assert "203.0.113.10:<port>" in shown["b"]["site"]["text"]
    assert "127.0.0.1:<port>" in shown["a"]["site"]["text"]
    assert "stage fleet" in shown["a"]["live"]
    stages = [s["stage"] for s in shown["a"]["stages"]]
    assert stages.index("switch") < stages.index("fleet") < stages.index("retire")


CHECKED = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime=docker(port=8080, env={"A": "1", "TOKEN": secret("TOKEN")}),
                      targets=[ssh("root@10.0.0.5"), ssh("root@10.0.0.6")],
                      domains=["app.test"], proxy=caddy(), keep_releases=2, balance="fleet")
'''


@pytest.mark.parametrize("web2_port, said", [(20001, "unchanged"), (20005, "changed")])
def test_plan_check_reads_every_target_before_it_judges_a_fleet_site(tmp_path, web2_port,
                                                                     said):
    """web1's site names web2's release: it is as a run would write it only when web2
    serves the port it names (read from web2 before web1 is judged)."""
    from otterfile.executors.recording import RecordingExecutor
    from otterfile.run import check as checks
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.run.switching import site_of
    from tests.unit.run.test_check import Images, answer, live
    (tmp_path / "Otterfile.py").write_text(CHECKED)
    proj = evaluate(load(tmp_path / "Otterfile.py"))
    dep = proj.deployments["production"]
    lane = Lane(dep, dep.hosts[0], peers=("10.0.0.6:20001",))
    site = site_of(lane, 20000)
    assert "reverse_proxy 127.0.0.1:20000 10.0.0.6:20001 {" in site
    state, listing = live("other")
    answers = {"10.0.0.5": answer(key="k", state=state, listing=listing, site=site,
                                  upstream="20000\n"),
               "10.0.0.6": answer(key="k", state=state, listing=listing, site="served",
                                  upstream=f"{web2_port}\n")}

    def connect(host, _folder):
        return RecordingExecutor(host, {lambda c: c.description.startswith("what the target"):
                                        answers.get(host.name, "")})
    engine = Engine(proj, lambda event: None, connect=connect, images=Images(),
                    env={"production": {"A": "1", "TOKEN": "x"}})
    try:
        found = checks.check(engine, plan(proj, ["production"]))
    finally:
        engine.close()
    assert [(f.host, f.release) for f in found] == [("10.0.0.5", "new"), ("10.0.0.6", "new")]
    assert found[0].site == said
