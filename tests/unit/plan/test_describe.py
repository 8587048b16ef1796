"""plan/describe.py: what `otter plan` shows per target (the runtime's settings, the files
otter writes, the site, the live release) for an Otterfile."""
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.plan.planner import plan


def planned(otterfile, text):
    """`otter plan`'s data per target (describe.targets) for an Otterfile."""
    from otterfile.plan.describe import describe, targets
    project = evaluate(load(otterfile(text)))
    graph, notes = describe(project, plan(project, ["production"], hosts=["root@a"]))
    (one,) = targets(project, graph, notes)
    return one


DOCKER = '''
from otterfile import *

@artifact
def web():
    return build(path="app", command="docker build -t app:1 .")

@target
def pair():
    return [ssh("root@a"), ssh("root@b")]

@deployment
def production():
    return Deployment(artifact=web, targets=[pair],
                      runtime=docker(port=8080, env={"MODE": "prod", "KEY": secret("KEY")},
                                     volumes=["/srv/app:/data"], options=["--memory", "256m"]),
                      domains=["app.test"], keep_releases=3, drain_seconds=5)
'''


def test_plan_shows_container_settings_site_files_and_the_live_release(otterfile):
    one = planned(otterfile, DOCKER)
    assert one["runtime"] == {"kind": "docker", "port": 8080, "volumes": ["/srv/app:/data"],
                              "options": ["--memory", "256m"], "init": True,
                              "env": {"MODE": "prod", "KEY": "***"}}
    files = {f["path"]: f["text"] for f in one["files"]}
    assert files["/var/lib/otter/production/env/RELEASE.env"] == "MODE=prod\nKEY=***\n"
    assert files["/var/lib/otter/production/releases.json"] is None  # named, not shown
    assert one["site"]["path"] == "/etc/caddy/otter.d/production.caddy"
    assert one["site"]["text"] == files[one["site"]["path"]]
    assert "reverse_proxy 127.0.0.1:{otter_port}" in one["site"]["text"]
    assert "root /var/lib/otter/production/upstream" in one["site"]["text"]
    assert "at most 5s" in one["live"] and "last 3 releases" in one["live"]
    assert "caddy switches to RELEASE without a reload (RELEASE's port file in " \
        "/var/lib/otter/production/upstream" in one["live"]
    start = next(s for s in one["stages"] if s["stage"] == "start")["commands"][0]
    assert "-v /srv/app:/data" in start and "--memory 256m" in start


SYSTEMD = '''
from otterfile import *

@artifact
def web():
    return build(path="app", command="tar czf app.tar.gz app", output="app.tar.gz")

@target
def pair():
    return [ssh("root@a"), ssh("root@b")]

@deployment
def production():
    return Deployment(artifact=web, targets=[pair],
                      runtime=systemd(command="./app --port {port}", port=8080,
                                      env={"KEY": secret("KEY")}),
                      domains=["app.test"], proxy=nginx())
'''


def test_plan_shows_the_systemd_unit_otter_writes(otterfile):
    one = planned(otterfile, SYSTEMD)
    assert one["runtime"] == {"kind": "systemd", "command": "./app --port {port}",
                              "port": 8080, "env": {"KEY": "***"}}
    files = {f["path"]: f["text"] for f in one["files"]}
    unit = files["/etc/systemd/system/otter-production@RELEASE.service"]
    assert "ExecStart=/var/lib/otter/production/releases/RELEASE/app --port ${PORT}" in unit
    assert "Environment=PORT=<port>" in unit and "User=otter-production" in unit
    assert one["site"]["path"] == "/etc/nginx/conf.d/otter-production.conf"
    assert "js_set $otter_upstream_production otter_production.upstream;" in one["site"]["text"]
    assert "set $otter_upstream_dir /var/lib/otter/production/upstream;" in one["site"]["text"]
    assert "nginx without njs" in one["live"]


def test_plan_says_how_long_a_release_must_stay_healthy(otterfile):
    watched = DOCKER.replace("drain_seconds=5)", "drain_seconds=5, health_check=HealthCheck("
                             "path='/health', min_ready_seconds=5))")
    assert "RELEASE starts beside it on 127.0.0.1:<port> and /health answers and keeps " \
        "answering so for 5s (min_ready_seconds); then caddy" in planned(otterfile,
                                                                         watched)["live"]
    assert "min_ready_seconds" not in planned(otterfile, DOCKER)["live"]
