"""Schedules as units and placements, offline: the service each runtime writes (a one-off
container of the live image with its env and volumes; the release folder as its user, with
the unit's hardening), the timer, where a deploy puts them, the plan's tasks, `remove`."""
from __future__ import annotations

import pytest

from otterfile.executors.recording import RecordingExecutor
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.plan.planner import plan
from otterfile.run import remove, schedules
from otterfile.run.deploy import execute
from otterfile.run.engine import Engine
from otterfile.run.state import Release
from tests.unit.run.test_flow import DIGEST, Images, answers

pytestmark = pytest.mark.unit
INSTALL = "d=$1 locks=$2 dep=$3 prune=$4"  # schedule/install.sh's first line (drop.sh: no prune)

OTTERFILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime={runtime},
                      targets=[ssh("root@web1"), ssh("root@web2")], domains=["app.test"],
                      health_check=HealthCheck(path="/health", timeout_seconds=2),
                      schedules=[Schedule("*/15 * * * *", "./bin/clean --all 100%"),
                                 Schedule("@daily", "report", on="all")])
'''
DOCKER = 'docker(port=8080, env={"A": "1"}, volumes=["data:/data"], options=["--memory 64m"])'
SYSTEMD = 'systemd(command="./app --port {port}", port=8080, env={"A": "1"})'
RELEASE = Release("R1", DIGEST, "app:1", runtime="docker")


def project(tmp_path, runtime: str = DOCKER):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(runtime=runtime))
    return evaluate(load(tmp_path / "Otterfile.py"))


def test_a_container_schedule_runs_a_one_off_container_of_the_release(tmp_path):
    dep = project(tmp_path).deployments["production"]
    (name, service, timer), (other, _, daily) = schedules.units(dep, RELEASE, has_env=True)
    assert (name, other) == ("clean", "report")
    assert "ExecStart=/usr/bin/flock -n -E 75 /var/lib/otter/production/schedules/clean.lock " \
        "docker run --rm --label otter.schedule=production/clean --label otter.release=R1 " \
        "--init --env-file /var/lib/otter/production/env/R1.env -v data:/data --memory 64m " \
        f"{DIGEST} ./bin/clean --all 100%%\n" in service + "\n"
    assert "Type=oneshot" in service and "X-Otter-Release=R1" in service
    assert "User=" not in service and "ProtectSystem" not in service  # the engine's business
    assert "OnCalendar=*-*-* *:00/15:00\n" in timer
    assert "Unit=otter-production:clean.service" in timer
    assert "OnCalendar=*-*-* 00:00:00\n" in daily


def test_podman_runs_the_bare_image_id(tmp_path):
    dep = project(tmp_path, DOCKER.replace("docker(", "podman(")).deployments["production"]
    release = Release("R1", DIGEST, "app:1", runtime="podman")
    _, service, _ = schedules.units(dep, release, has_env=False)[0]
    assert f" --memory 64m {DIGEST[7:]} ./bin/clean" in service and "--env-file" not in service


def test_a_systemd_schedule_runs_in_the_release_folder_as_its_user_hardened(tmp_path):
    dep = project(tmp_path, SYSTEMD).deployments["production"]
    release = Release("R1", "sha256:" + "12" * 32, runtime="systemd")
    _, service, _ = schedules.units(dep, release, has_env=True)[0]
    folder = "/var/lib/otter/production/releases/R1"
    assert f"User=otter-production\nWorkingDirectory={folder}\n" in service
    assert "EnvironmentFile=/var/lib/otter/production/env/R1.env\n" in service
    # the shared flock on the folder keeps retire from removing it under a run
    assert "ExecStart=/usr/bin/flock -n -E 75 /var/lib/otter/production/schedules/clean.lock " \
        f"/usr/bin/flock -s {folder} {folder}/bin/clean --all 100%%\n" in service
    assert "ExecStopPost=+/bin/sh -c " in service and "/releases\n" in service
    for line in ("ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
                 "ReadWritePaths=/var/lib/otter/production/data"):
        assert line + "\n" in service + "\n"


def deploy(tmp_path, hosts_up=("web1", "web2"), *, runtime=DOCKER):
    proj = project(tmp_path, runtime)
    made = {}
    target = answers()

    def connect(host, _folder):
        if host.name not in made:
            made[host.name] = target(host) if host.name in hosts_up else \
                RecordingExecutor(host, {"lock ": (255, "", "ssh: connect refused")})
        return made[host.name]
    engine = Engine(proj, lambda event: None, connect=connect, images=Images(),
                    release_id=lambda digest: "R1")
    done = execute(plan(proj, ["production"]), engine, None)
    return done.outcome, made


def placed(executor) -> dict[str, str]:
    """The last schedules install on a target: {schedule: on | off | keep}."""
    command = [c for c in executor.commands if c.description.startswith("schedules of")][-1]
    args = command.argv_values()
    tail = args[args.index("production") + 2:]
    return {tail[i]: tail[i + 3] for i in range(0, len(tail), 4)}


def test_a_deploy_times_on_one_the_first_target_and_all_every_target(tmp_path):
    outcome, made = deploy(tmp_path)
    assert outcome.ok, outcome.errors
    assert placed(made["web1"]) == {"clean": "on", "report": "on"}
    assert placed(made["web2"]) == {"clean": "off", "report": "on"}
    # the services move to the new release in retire's round trip, before the old stops
    retire = next(c for c in made["web1"].commands if c.description.startswith("retire"))
    text = " ".join(retire.argv_values())
    assert INSTALL in text and "R1" in text and " keep" in text


def test_the_first_target_down_moves_the_timer_to_the_next(tmp_path):
    outcome, made = deploy(tmp_path, hosts_up=("web2",))
    assert not outcome.ok
    assert placed(made["web2"]) == {"clean": "on", "report": "on"}
    assert not [c for c in made["web1"].commands if c.description.startswith("schedules")]


def test_a_run_narrowed_past_the_first_target_keeps_timers_where_they_are(tmp_path):
    proj = project(tmp_path)
    made = {}
    target = answers()
    engine = Engine(proj, lambda event: None, images=Images(), release_id=lambda d: "R1",
                    connect=lambda host, _f: made.setdefault(host.name, target(host)))
    execute(plan(proj, ["production"], hosts=["web2"]), engine, None)
    assert placed(made["web2"]) == {"clean": "keep", "report": "on"}


def test_the_plan_places_schedules_after_every_lane_and_before_unlock(tmp_path):
    proj = project(tmp_path)
    graph = plan(proj, ["production"])
    task = graph.tasks["production/schedules@web1"]
    assert set(task.deps) == {"production/retire@web1", "production/retire@web2"}
    assert task.always and task.needs == ("production/lock@web1",)
    assert graph.tasks["production/unlock@web2"].deps == ("production/schedules@web2",)
    back = plan(proj, ["production"], rollback=True).tasks["production/schedules@web2"]
    assert back.deps == ("production/retire@web2",)  # a rollback's window: its own lane
    without = evaluate(load(_plain(tmp_path)))
    assert not [t for t in plan(without, ["production"]).tasks if "schedules" in t]


def _plain(tmp_path):
    """The Otterfile without schedules."""
    path = tmp_path / "Plain.py"
    text = OTTERFILE.format(runtime=DOCKER)
    path.write_text(text[:text.index(",\n                      schedules=")] + ")\n")
    return path


def test_remove_takes_the_schedule_units_away_first(tmp_path):
    dep = project(tmp_path).deployments["production"]
    removal = remove.removal(dep, remove.Found(sites=("caddy",)))
    assert "d=$1 locks=$2 dep=$3" in " ".join(removal.argv_values())  # install.sh or drop.sh
    args = schedules.remove("production").argv_values()
    assert args[-4:] == ["/etc/systemd/system", "/var/lib/otter/production/schedules",
                         "production", "1"]


def test_undeclared_names_the_units_the_otterfile_no_longer_declares(tmp_path):
    dep = project(tmp_path).deployments["production"]
    assert schedules.undeclared(dep, ("backup", "clean", "report", "old")) == ["backup", "old"]
    assert schedules.undeclared(dep, None) == [] and schedules.undeclared(dep, ()) == []
    args = schedules.drop("production", ["backup", "old"]).argv_values()
    assert args[-5:] == ["/etc/systemd/system", "/var/lib/otter/production/schedules",
                         "production", "backup", "old"]


def _with_units(names: str) -> str:
    """A probe answer for test_flow.answers followed by the read's schedules part."""
    return f"present\n--- otter:schedules\n{names}"


def test_a_noop_run_removes_undeclared_schedule_units_in_a_trip_of_their_own(tmp_path):
    """The Otterfile dropped its schedules: a run that starts nothing still removes the
    units the target read listed (no `schedules` task exists without schedules)."""
    from otterfile.run.fingerprint import fingerprint
    from tests.unit.run import test_flow as flow
    proj = flow.project(tmp_path, "docker", "caddy")
    config = fingerprint(proj.deployments["production"], DIGEST, {"A": "1"}, "f00dkey")
    state = flow.live_state("docker", "").replace(flow.OLD, DIGEST) \
        .replace('"config": null', f'"config": "{config}"')
    outcome, target, _ = flow.deploy(tmp_path, "docker", "caddy",
                                     answers(state, _with_units("backup\nreport")))
    assert outcome.ok, outcome.errors
    assert flow.verbs(target) == [
        flow.LOCK_AND_READ.format(px="caddy"),
        "remove the schedules production no longer declares", flow.LOG_AND_UNLOCK]
    drop = next(c for c in target.commands if c.description.startswith("remove the sched"))
    assert drop.argv_values()[-2:] == ["backup", "report"]


def test_a_noop_run_with_no_units_there_makes_no_trip(tmp_path):
    from otterfile.run.fingerprint import fingerprint
    from tests.unit.run import test_flow as flow
    proj = flow.project(tmp_path, "docker", "caddy")
    config = fingerprint(proj.deployments["production"], DIGEST, {"A": "1"}, "f00dkey")
    state = flow.live_state("docker", "").replace(flow.OLD, DIGEST) \
        .replace('"config": null', f'"config": "{config}"')
    outcome, target, _ = flow.deploy(tmp_path, "docker", "caddy",
                                     answers(state, _with_units("")))
    assert outcome.ok, outcome.errors
    assert flow.verbs(target) == [flow.LOCK_AND_READ.format(px="caddy"), flow.LOG_AND_UNLOCK]


def test_a_redeploy_removes_undeclared_units_in_retires_round_trip(tmp_path):
    """`clean` and `report` are declared, `backup` is not: retire's one trip drops backup
    (before the services move to the new release); the declared ones are kept."""
    from tests.unit.run import test_flow as flow
    proj = project(tmp_path)
    made = {}
    target = answers(flow.live_state("docker", ""), _with_units("backup\nclean"))
    engine = Engine(proj, lambda event: None, images=Images(), release_id=lambda d: "R1",
                    connect=lambda host, _f: made.setdefault(host.name, target(host)))
    outcome = execute(plan(proj, ["production"]), engine, None).outcome
    assert outcome.ok, outcome.errors
    retire = next(c for c in made["web1"].commands if c.description.startswith("retire"))
    text = " ".join(retire.argv_values())
    dropped = "/var/lib/otter/production/schedules production backup "
    assert dropped in text and dropped + "clean" not in text
    assert text.index("d=$1 locks=$2 dep=$3; shift 3") < text.index(INSTALL)  # drop, install
