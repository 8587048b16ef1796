"""The deploy flow, written once over Runtime and Proxy, against recording targets: the
exact round trips of a first deploy, a redeploy, a no-op, a failed health check and a
rollback, for each runtime and proxy kind. Nothing runs."""
from __future__ import annotations

import io
import json

import pytest

from otterfile.transfer.images import ControllerStore
from otterfile.load.evaluate import evaluate
from otterfile.executors.recording import RecordingExecutor
from otterfile.load.loader import load
from otterfile.plan.planner import plan
from otterfile.run.deploy import execute
from otterfile.run.engine import Engine
from otterfile.run.runner import FAILED, OK, SKIPPED

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32
OLD = "sha256:" + "cd" * 32
OTTERFILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime={runtime}(port=8080, env={{"A": "1"}}),
                      targets=[ssh("root@web1")], domains=["app.test"], proxy={proxy}(),
                      health_check=HealthCheck(path="/health", timeout_seconds=2),
                      keep_releases=2)
'''
KEY = "f00dkey\n--- otter:key\n"  # what `read state` prints first: the fingerprint key
KINDS = [("docker", "caddy"), ("podman", "caddy"), ("docker", "nginx"), ("podman", "nginx")]


class Images(ControllerStore):
    """The controller's engine: the build made DIGEST; save streams a few bytes."""

    def image_id(self, ref):
        return DIGEST

    def size(self, image_id):
        return 5

    def layers(self, image_id):
        return []

    def save(self, image_id):
        return io.BytesIO(b"image")


def project(tmp_path, runtime, proxy):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(runtime=runtime, proxy=proxy))
    return evaluate(load(tmp_path / "Otterfile.py"))


def live_state(runtime: str, proxy_site: str, config: str | None = None,
               running: bool = True) -> str:
    """What `read state` prints on a target where release OLD1 (port 20000) is live."""
    release = {"id": "20240101T000000-cdcdcdcd", "digest": OLD, "image": "app:1",
               "status": "live", "port": 20000, "instance": "otter-production-20240101T"
               "000000-cdcdcdcd", "config": config}
    state = json.dumps({"releases": [release], "live": release["id"]})
    listing = "\t".join([release["instance"], "running" if running else "exited",
                         release["id"], OLD, "Up"])
    return (f"{state}\n--- otter:instances\n{listing}\n--- otter:log\n"
            f"--- otter:site\n{proxy_site}")


def read_answer(state: str, probe: str) -> str:
    """What `read state` prints: the key, `state` (with the served site) and what the
    ship stage's probe answers (`present`, `missing`)."""
    if "--- otter:site" not in state:
        state += "--- otter:site\n"
    elif not state.endswith("\n"):
        state += "\n"
    return f"{KEY}{state}--- otter:probe\n{probe}\n"


def answers(state: str = "", probe: str = "missing", health: int = 200,
            inspect: str = "running 0 0 false", looks=("present",)):
    """A target's scripted answers, by the description of what otter asks. The lock and
    the state read are one round trip; so are the deploy-log append and the unlock. The
    first probe is answered by the state read; ship's own probes answer `looks` in turn
    (the last one again after that)."""
    read, looks = read_answer(state, probe), list(looks)
    answer = iter(looks)
    table = [("lock production; read state", "status=acquired\n--- otter:locked\n" + read),
             ("lock ", "status=acquired\n"), ("unlock ", "status=released\n"),
             ("append to the deploy log", "status=released\n"),
             ("read state", read), ("start ", "port=20001\n"), ("inspect ", inspect),
             ("look for", lambda: next(answer, looks[-1]) + "\n")]

    def target(host):
        responses = {(lambda c, p=p: c.description.startswith(p) or  # a rollback's: back.py
                      (p.startswith("lock ") and c.description.startswith(p.split(";")[0])
                       and ", else read state" in c.description)): out for p, out in table}
        executor = Scripted(host, responses, http_status=health)
        return executor
    return target


class Scripted(RecordingExecutor):
    """A recording executor whose answers may be callables (asked each time)."""

    def _answer(self, command):
        for matcher, response in self.responses.items():
            if matcher(command):
                from otterfile.executors.recording import _result
                value = response() if callable(response) else response
                return _result(value, command, self.host.name)
        return super()._answer(command)


def deploy(tmp_path, runtime, proxy, target, rollback=False):
    proj = project(tmp_path, runtime, proxy)
    made = {}

    def connect(host, _folder):
        made.setdefault(host.name, target(host) if host.name != "controller"
                        else RecordingExecutor(host))
        return made[host.name]
    engine = Engine(proj, lambda event: None, connect=connect, images=Images(),
                    release_id=lambda digest: "R1", rollback=rollback)
    done = execute(plan(proj, ["production"], rollback=rollback), engine, None)
    return done.outcome, made["web1"], engine


def verbs(executor) -> list[str]:
    """What the target was asked, each round trip by its description's first words."""
    out = []
    for command in executor.commands:
        text = command.description or command.display()
        out.append(text.split(": ")[0].replace("production's new release", "release")
                   .replace(" otter-production-R1", "").replace("'", ""))
    return out


LOCK_AND_READ = "lock production; read state of production ({px} installed and running)"
LOG_AND_UNLOCK = "append to the deploy log of production; unlock production"
# nothing to retire: its cleanup (env files) goes with the unlock
FIRST = [LOCK_AND_READ, "{rt} load", "look for app:1", "start",
         "GET http://127.0.0.1:20001/health", "switch {px} to release; write state of production",
         "nothing to retire; append to the deploy log of production; unlock production"]


@pytest.mark.parametrize("runtime,proxy", KINDS)
def test_first_deploy_round_trips(tmp_path, runtime, proxy):
    outcome, target, _ = deploy(tmp_path, runtime, proxy, answers())
    assert outcome.ok, outcome.errors
    assert verbs(target) == [v.format(rt=runtime, px=proxy) for v in FIRST]
    start = next(c for c in target.commands if c.description.startswith("start "))
    assert start.argv_values()[4] == runtime  # the engine the start script calls
    assert f"{runtime} run -d -p '127.0.0.1:<port>:8080' --init" in start.description
    image = DIGEST if runtime == "docker" else DIGEST[len("sha256:"):]  # podman: bare hex
    assert start.description.endswith(f" {image}")
    switch = next(c for c in target.commands if c.description.startswith("switch"))
    # the site reads the port file; the port goes to the switch, which renames that file
    assert "app.test" in switch.stdin and "20001" not in switch.stdin
    assert "/var/lib/otter/production/upstream 20001" in switch.argv[2]


@pytest.mark.parametrize("runtime,proxy", KINDS)
def test_redeploy_starts_beside_then_retires_the_old(tmp_path, runtime, proxy):
    site = "reverse_proxy 127.0.0.1:20000" if proxy == "caddy" else \
        "server 127.0.0.1:20000 max_fails=0;"
    outcome, target, _ = deploy(tmp_path, runtime, proxy, answers(live_state(runtime, site)))
    assert outcome.ok, outcome.errors
    retire = next(c for c in target.commands if c.description == "retire the old release")
    script = retire.argv[2]
    # drained (its port 20000, at most 2 s), then `ENGINE stop -t 10` the old container
    assert f"sh 20000 2 </dev/null && {runtime} stop -t 10 otter-production-20240101T000000-cdcdcdcd" in script
    state = json.loads(retire.stdin)
    assert state["live"] == "R1"
    assert {r["id"]: r["status"] for r in state["releases"]} == {
        "20240101T000000-cdcdcdcd": "previous", "R1": "live"}


def test_noop_when_the_live_release_has_this_artifact_and_config(tmp_path):
    from otterfile.run.fingerprint import fingerprint
    proj = project(tmp_path, "docker", "caddy")
    config = fingerprint(proj.deployments["production"], DIGEST, {"A": "1"}, "f00dkey")
    state = live_state("docker", "").replace(OLD, DIGEST)
    outcome, target, _ = deploy(tmp_path, "docker", "caddy",
                                answers(state.replace('"config": null',
                                                      f'"config": "{config}"'), "present"))
    assert outcome.ok
    assert verbs(target) == [LOCK_AND_READ.format(px="caddy"), LOG_AND_UNLOCK]


@pytest.mark.parametrize("runtime,proxy", KINDS)
def test_a_failed_health_check_removes_the_new_release_only(tmp_path, runtime, proxy):
    outcome, target, _ = deploy(tmp_path, runtime, proxy,
                                answers(live_state(runtime, ""), health=503))
    assert outcome.status["production/health@web1"] == FAILED
    assert outcome.status["production/switch@web1"] == SKIPPED
    assert "answered 503, expected 200" in str(outcome.errors["production/health@web1"])
    abort = next(c for c in target.commands if c.description == "remove the failed release")
    assert "otter-production-R1" in abort.argv[2]
    assert "20240101T000000-cdcdcdcd" not in abort.argv[2]  # the live one is left alone
    assert not any(c.description.startswith("switch") for c in target.commands)
    assert verbs(target)[-1] == LOG_AND_UNLOCK


def test_an_exited_instance_fails_health_with_its_logs(tmp_path):
    outcome, target, _ = deploy(tmp_path, "podman", "caddy",
                                answers(health=503, inspect="exited 3 0 false\nboom"))
    error = str(outcome.errors["production/health@web1"])
    assert "exited (exit 3, 0 restarts)" in error and "boom" in error


def test_an_oom_killed_instance_fails_health_saying_so(tmp_path):
    """The runtime's inspect says the kernel killed it for memory (docker's OOMKilled,
    systemd's Result=oom-kill): the error says so, not only `exit 137`."""
    outcome, _, _ = deploy(tmp_path, "docker", "caddy",
                           answers(health=503, inspect="exited 137 0 true\nKilled"))
    error = str(outcome.errors["production/health@web1"])
    assert "OOM-killed: out of memory" in error, error
    quiet, _, _ = deploy(tmp_path, "docker", "caddy",
                         answers(health=503, inspect="exited 137 0 false\nKilled"))
    assert "OOM" not in str(quiet.errors["production/health@web1"])


@pytest.mark.parametrize("runtime,proxy", KINDS)
def test_rollback_starts_the_previous_release_without_ship(tmp_path, runtime, proxy):
    state = live_state(runtime, "").replace('"status": "live"', '"status": "previous"') \
        .replace('"live": "20240101T000000-cdcdcdcd"', '"live": null')
    outcome, target, _ = deploy(tmp_path, runtime, proxy, answers(state), rollback=True)
    assert outcome.ok, outcome.errors
    names = verbs(target)
    assert "look for app:1" not in names and "start" in names
    start = next(c for c in target.commands if c.description.startswith("start "))
    assert "cdcdcdcd" in start.description  # the previous release's image


def test_a_missing_proxy_is_named_and_the_new_release_removed(tmp_path):
    def target(host):
        made = answers()(host)
        made.responses[lambda c: c.description.startswith("switch")] = 3
        return made
    outcome, executor, _ = deploy(tmp_path, "docker", "caddy", target)
    assert outcome.status["production/switch@web1"] == FAILED
    assert "Caddy is not installed" in str(outcome.errors["production/switch@web1"])
    assert any(c.description == "remove the failed release" for c in executor.commands)
    assert outcome.status["production/unlock@web1"] == OK


def test_the_fingerprint_is_keyed_by_the_target(tmp_path):
    from otterfile.run.fingerprint import fingerprint
    dep = project(tmp_path, "docker", "caddy").deployments["production"]
    one, two = (fingerprint(dep, DIGEST, {"A": "1"}, key) for key in ("k1", "k2"))
    assert one != two and len(one) == 16
    assert fingerprint(dep, DIGEST, {"A": "1"}, "k1") == one  # stable for one key


def test_a_new_key_on_the_target_makes_a_new_release(tmp_path):
    from otterfile.run.fingerprint import fingerprint
    proj = project(tmp_path, "docker", "caddy")
    config = fingerprint(proj.deployments["production"], DIGEST, {"A": "1"}, "old-key")
    state = live_state("docker", "").replace(OLD, DIGEST).replace('"config": null',
                                                                  f'"config": "{config}"')
    outcome, target, _ = deploy(tmp_path, "docker", "caddy", answers(state, "present"))
    assert outcome.ok and "start" in verbs(target)


def test_drain_and_stop_seconds_reach_the_retire(tmp_path):
    text = OTTERFILE.format(runtime="docker", proxy="caddy").replace(
        "keep_releases=2)", "keep_releases=2, drain_seconds=0.5, stop_seconds=3)")
    (tmp_path / "Otterfile.py").write_text(text)
    proj = evaluate(load(tmp_path / "Otterfile.py"))
    dep = proj.deployments["production"]
    assert (dep.drain_seconds, dep.stop_seconds) == (0.5, 3.0)
    target = answers(live_state("docker", "reverse_proxy 127.0.0.1:20000"))(
        __import__("otterfile").ssh("root@web1"))
    engine = Engine(proj, lambda event: None, images=Images(), release_id=lambda d: "R1",
                    connect=lambda host, _f: target if host.name != "controller"
                    else RecordingExecutor(host))
    assert execute(plan(proj, ["production"]), engine, None).outcome.ok
    retire = next(c for c in target.commands if c.description == "retire the old release")
    assert "sh 20000 0.5 </dev/null && docker stop -t 3 otter-production-20240101T000000-cdcdcdcd" \
        in retire.argv[2]  # drained (at most 0.5 s), then stopped


def test_a_lock_held_elsewhere_means_nothing_is_read_or_changed(tmp_path):
    from otterfile.executors.base import Result

    def target(host):
        made = answers()(host)
        made.responses = {lambda c: c.description.startswith("lock "): Result(
            None, 3, "status=held\nholder=bob@ci\nrun=other\nage=1\nstale=0\n")}
        return made
    outcome, executor, _ = deploy(tmp_path, "docker", "caddy", target)
    assert outcome.status["production/lock@web1"] == FAILED
    assert "locked by bob@ci" in str(outcome.errors["production/lock@web1"])
    assert verbs(executor) == [LOCK_AND_READ.format(px="caddy")]  # no unlock, no log


def test_a_failed_state_read_after_the_lock_releases_it(tmp_path):
    from otterfile.executors.base import Result

    def target(host):
        made = answers()(host)
        made.responses = {lambda c: c.description.startswith("lock production; read"): Result(
            None, 1, "status=acquired\n--- otter:locked\n", "cannot read"),
            lambda c: c.description.startswith("unlock "): "status=released\n"}
        return made
    outcome, executor, _ = deploy(tmp_path, "docker", "caddy", target)
    assert outcome.status["production/lock@web1"] == FAILED
    assert "reading the release state failed (exit 1): cannot read" in \
        str(outcome.errors["production/lock@web1"])
    assert verbs(executor) == [LOCK_AND_READ.format(px="caddy"), "unlock production"]


def test_an_image_the_state_read_found_ships_in_no_round_trip(tmp_path):
    state = live_state("docker", "reverse_proxy 127.0.0.1:20000").replace(OLD, DIGEST)
    outcome, target, engine = deploy(tmp_path, "docker", "caddy", answers(state, "present"))
    assert outcome.ok, outcome.errors
    names = verbs(target)
    assert names[1] == "start" and "look for app:1" not in names and "docker load" not in names
    both = target.commands[0].argv[2]  # the probe runs inside the state read
    assert "look for app:1" not in both and "ab" * 32 in both and "app:1" in both


@pytest.mark.parametrize("answer", ["", "garbage"])
def test_an_unreadable_probe_answer_leaves_the_probe_to_ship(tmp_path, answer):
    outcome, target, _ = deploy(tmp_path, "docker", "caddy",
                                answers(probe=answer, looks=["missing", "present"]))
    assert outcome.ok, outcome.errors
    assert verbs(target)[1:4] == ["look for app:1", "docker load", "look for app:1"]


def test_the_switch_writes_the_release_starting_before_and_live_after(tmp_path):
    outcome, target, _ = deploy(tmp_path, "docker", "caddy", answers())
    assert outcome.ok, outcome.errors
    switch = next(c for c in target.commands if c.description.startswith("switch"))
    path, before, after = switch.argv_values()[4:7]
    assert path == "/var/lib/otter/production/releases.json"
    assert json.loads(before)["releases"][0]["status"] == "starting"
    assert json.loads(before)["releases"][0]["port"] == 20001
    assert json.loads(after)["live"] == "R1"
    assert "/var/lib/otter/production/upstream 20001" in switch.argv[2]  # the port file


def test_a_state_write_failing_after_the_reload_keeps_the_new_release(tmp_path):
    from otterfile.executors.base import Result

    def target(host):
        made = answers()(host)
        made.responses[lambda c: c.description.startswith("switch")] = Result(
            None, 91, "--- otter:changed\n", "otter: cannot write releases.json")
        return made
    outcome, executor, _ = deploy(tmp_path, "docker", "caddy", target)
    assert outcome.status["production/switch@web1"] == FAILED
    assert "serves R1, but writing the release state failed" in \
        str(outcome.errors["production/switch@web1"])
    assert not any(c.description == "remove the failed release" for c in executor.commands)


PER_REQUEST_SITE = ("app.test {\n\t@otter_live file {\n\t\troot /var/lib/otter/production/"
                    "upstream\n\t}\n\treverse_proxy 127.0.0.1:{otter_port}\n}")


def test_a_run_killed_after_the_port_file_rename_is_recovered(tmp_path):
    """The release a killed run left `starting` is live when the port file names its port
    (read in the lock's round trip); the release live before is what is stale."""
    killed = {"id": "20240102T000000-abababab", "digest": DIGEST, "image": "app:1",
              "status": "starting", "port": 20003,
              "instance": "otter-production-20240102T000000-abababab"}
    state = live_state("docker", PER_REQUEST_SITE + "\n--- otter:upstream\n20003\n"
                       "--- otter:switch\nfile")
    data = json.loads(state.split("\n", 1)[0])
    data["releases"].append(killed)
    listing = "\t".join([killed["instance"], "running", killed["id"], DIGEST, "Up"])
    state = json.dumps(data) + "\n" + state.split("\n", 1)[1].replace(
        "--- otter:log", f"{listing}\n--- otter:log")
    outcome, target, _ = deploy(tmp_path, "docker", "caddy", answers(state))
    assert outcome.ok, outcome.errors
    removed = next(c for c in target.commands if "left by an earlier run" in c.description
                   or c.description.startswith("remove otter-production"))
    assert "cdcdcdcd" in removed.display() and "abababab" not in removed.display()
    retire = next(c for c in target.commands if c.description == "retire the old release")
    assert "otter-production-20240102T000000-abababab" in retire.argv[2]  # stopped after


def deploy_events(tmp_path, runtime, proxy, target):
    proj, events = project(tmp_path, runtime, proxy), []
    made = {}

    def connect(host, _folder):
        made.setdefault(host.name, target(host) if host.name != "controller"
                        else RecordingExecutor(host))
        return made[host.name]
    engine = Engine(proj, events.append, connect=connect, images=Images(),
                    release_id=lambda digest: "R1")
    done = execute(plan(proj, ["production"]), engine, None)
    return done.outcome, made["web1"], [e.message for e in events if e.kind == "info"]


def test_nginx_without_njs_switches_by_reload_and_says_so(tmp_path):
    site = "server 127.0.0.1:20000;\n--- otter:upstream\n--- otter:switch\n" \
        "reload: njs is not installed (Debian and Ubuntu: libnginx-mod-http-js)"
    outcome, target, said = deploy_events(tmp_path, "docker", "nginx",
                                          answers(live_state("docker", site)))
    assert outcome.ok, outcome.errors
    assert "nginx switches by reload here: njs is not installed (Debian and Ubuntu: " \
        "libnginx-mod-http-js)" in said
    switch = next(c for c in target.commands if c.description.startswith("switch"))
    assert "\tserver 127.0.0.1:20001;\n" in switch.stdin and "js_import" not in switch.stdin
    read = target.commands[0].argv[2]
    assert "ngx_http_js_module" in read and "libnginx-mod-http-js" in read  # probe, ensure


def test_nginx_with_njs_switches_by_the_port_file(tmp_path):
    site = "server 127.0.0.1:20000;\n--- otter:upstream\n--- otter:switch\nfile"
    outcome, target, said = deploy_events(tmp_path, "docker", "nginx",
                                          answers(live_state("docker", site)))
    assert outcome.ok, outcome.errors
    assert not any("reload" in line for line in said)
    switch = next(c for c in target.commands if c.description.startswith("switch"))
    assert "js_set $otter_upstream_production" in switch.stdin
    assert "20001" not in switch.stdin


def test_how_the_switch_went_is_said(tmp_path):
    def target(host):
        made = answers()(host)
        made.responses[lambda c: c.description.startswith("switch")] = \
            "started caddy: it was not running\n" \
            "switched production to 127.0.0.1:20001 (start)\n--- otter:changed\n"
        return made
    outcome, _, said = deploy_events(tmp_path, "docker", "caddy", target)
    assert outcome.ok, outcome.errors
    assert "started caddy: it was not running" in said
    assert "switched production to 127.0.0.1:20001 (start)" in said


def test_a_proxy_that_does_not_start_at_switch_is_named_and_nothing_changes(tmp_path):
    from otterfile.executors.base import Result

    def target(host):
        made = answers(live_state("docker", "reverse_proxy 127.0.0.1:20000"))(host)
        made.responses[lambda c: c.description.startswith("switch")] = Result(
            None, 5, "", "otter: systemctl start caddy failed; the previous config and "
            "port file are back:\nUnit caddy.service is masked.")
        return made
    outcome, executor, _ = deploy(tmp_path, "docker", "caddy", target)
    error = str(outcome.errors["production/switch@web1"])
    assert error.startswith("web1: caddy did not reload or start, so R1 does not serve")
    assert "Unit caddy.service is masked." in error
    abort = next(c for c in executor.commands if c.description == "remove the failed release")
    assert "otter-production-R1" in abort.argv[2]
    assert json.loads(abort.stdin)["live"] == "20240101T000000-cdcdcdcd"  # still live


def test_the_state_read_script_prints_each_part_after_its_marker(tmp_path):
    """read-target.sh run for real: a key printed without a newline (as the key file is
    written) still ends before its marker; the port file is listed, the probe's answer
    follows its marker."""
    from otterfile.command import script
    from otterfile.executors.local import LocalExecutor
    from otterfile.run import target as reads
    from otterfile.scripts import load
    (tmp_path / "site").write_text("site text\n")
    (tmp_path / "upstream").mkdir()
    (tmp_path / "upstream" / "20001").touch()
    read = LocalExecutor().run(script(load("read-target.sh"), args=[
        str(tmp_path / "site"), str(tmp_path / "upstream"), "printf f00dkey", "echo file",
        "echo nginx inactive", "", "", "", str(tmp_path / "started"), "", "", "sh", "-c",
        "echo state"]))
    assert read.exited == 0, read.stderr
    parts = reads.sections(read.stdout)
    assert parts == {"": "f00dkey\n", reads.KEY_MARK: "state\n", reads.SITE_MARK: "site text\n",
                     reads.UPSTREAM_MARK: "20001\n", reads.SWITCH_MARK: "file\n",
                     "--- otter:old-sites": "nginx inactive\n", reads.STARTED_MARK: ""}


def test_the_read_lists_the_schedule_units_last_by_name(tmp_path):
    """The `--- otter:schedules` part, after every other: each schedule the deployment has
    a timer or a service of (once), not another deployment's whose name starts alike."""
    from otterfile.command import script
    from otterfile.executors.local import LocalExecutor
    from otterfile.run import target as reads
    from otterfile.scripts import load
    units = tmp_path / "units"
    units.mkdir()
    for name in ("otter-web:backup.timer", "otter-web:backup.service",
                 "otter-web:report.service", "otter-web--pr-1:backup.timer", "otter-webx:a.timer"):
        (units / name).touch()
    listing = script(load("schedule/list.sh"), args=[str(units), "web"])
    read = LocalExecutor().run(script(load("read-target.sh"), args=[
        str(tmp_path / "site"), str(tmp_path / "upstream"), "", "", "", "", "", "",
        str(tmp_path / "started"), "echo generated", listing.shell_line(), "true"]))
    assert read.exited == 0, read.stderr
    assert read.stdout.endswith("--- otter:files\ngenerated\n--- otter:schedules\n"
                                "backup\nreport\n")
    assert reads.sections(read.stdout)[reads.SCHEDULES_MARK] == "backup\nreport\n"


def test_every_target_of_a_run_names_a_release_alike(tmp_path):
    # the start stages of two targets may run in different seconds: still one release id
    made = iter(["R1", "R2", "R3"])  # what each call of the clock-based id would give
    engine = Engine(project(tmp_path, "docker", "caddy"), lambda event: None, images=Images(),
                    release_id=lambda digest: next(made),
                    connect=lambda host, _folder: RecordingExecutor(host))
    assert [engine.release_id(DIGEST), engine.release_id(DIGEST), engine.release_id(OLD)] == [
        "R1", "R1", "R2"]


@pytest.mark.parametrize("serves", [True, False])
def test_a_switch_whose_answer_was_lost_keeps_a_release_the_proxy_serves(tmp_path, serves):
    """The connection dropped during the switch: the run fails there; a release the proxy
    already serves (the port file was renamed) is recorded live, never removed; one it does
    not serve is removed as after any failed switch."""
    from otterfile.executors.base import Result

    def target(host):
        made = answers(live_state("docker", "reverse_proxy 127.0.0.1:20000"))(host)
        made.responses[lambda c: c.description.startswith("switch")] = Result(
            None, 255, "", "otter: lost the connection to web1 during: switch")
        made.responses[lambda c: c.description.startswith("does caddy serve")] = \
            "serves\n" if serves else "not\n"
        return made
    outcome, executor, said = deploy_events(tmp_path, "docker", "caddy", target)
    assert outcome.status["production/switch@web1"] == FAILED
    removed = [c for c in executor.commands if c.description == "remove the failed release"]
    written = [c for c in executor.commands if c.description == "write state of production"]
    if serves:
        assert not removed and json.loads(written[-1].stdin)["live"] == "R1"
        assert any("the switch went through after all: R1 serves" in line for line in said)
    else:
        assert json.loads(removed[0].stdin)["live"] == "20240101T000000-cdcdcdcd"


@pytest.mark.parametrize("files,site,answer", [
    (["20001"], "", "serves"),  # the port file names it
    (["20000"], "reverse_proxy 127.0.0.1:{otter_port}", "not"),
    ([], "\tserver 127.0.0.1:20001;\n", "serves"),  # a reload switch's site names it
    ([], "\tserver 127.0.0.1:200010;\n", "not"),
    ([], "", "not"),
])
def test_the_serves_script_reads_the_port_file_and_the_site(tmp_path, files, site, answer):
    from otterfile.command import script
    from otterfile.executors.local import LocalExecutor
    from otterfile.scripts import load
    (tmp_path / "up").mkdir()
    for name in files:
        (tmp_path / "up" / name).touch()
    if site:
        (tmp_path / "site").write_text(site)
    said = LocalExecutor().run(script(load("serves-port.sh"), args=[
        str(tmp_path / "site"), str(tmp_path / "up"), "20001"]))
    assert said.ok and said.stdout.strip() == answer


def test_retire_prunes_only_what_otter_started_here(tmp_path):
    """A failed release that only releases.json names (a file anyone able to write there
    could edit) never gets its image pruned; one with a started record does, and its record
    goes with it."""
    from types import SimpleNamespace
    from otterfile.plan.graph import Task
    from otterfile.hosts import LocalHost
    from otterfile.run import flow
    from otterfile.run.lane import Lane
    from otterfile.run import state as st
    foreign, ours = "sha256:" + "ee" * 32, "sha256:" + "ff" * 32
    dep = project(tmp_path, "docker", "caddy").deployments["production"]
    new = st.Release("20240103T000000-abababab", DIGEST, status="live", port=20001,
                     instance="otter-production-20240103T000000-abababab", runtime="docker")
    failed = [st.Release(f"2024010{n}T000000-{d[7:15]}", d, status="failed",
                         instance=f"otter-production-2024010{n}T000000-{d[7:15]}",
                         runtime="docker") for n, d in ((1, foreign), (2, ours))]
    executor = RecordingExecutor(LocalHost("web1"))
    lane = Lane(dep, LocalHost("web1"), state=st.State((*failed, new), new.id), release=new,
                started=frozenset({"ff" * 32, DIGEST[7:]}))
    flow.retire(SimpleNamespace(executor=lambda _host: executor), lane,
                Task("production/retire@web1", "retire", host="web1"))
    text = executor.commands[0].argv[2]
    assert "ff" * 32 in text and "ee" * 32 not in text
    assert f"/var/lib/otter/artifacts/started/production {'ff' * 32}" in text  # forgotten


def test_the_retire_says_how_long_the_old_release_drained(tmp_path):
    base = answers(live_state("docker", "reverse_proxy 127.0.0.1:20000"))

    def target(host):
        executor = base(host)
        executor.responses[lambda c: c.description == "retire the old release"] = \
            "otter-drain port=20000 seconds=0.12 left=0\n"
        return executor
    proj, events, made = project(tmp_path, "docker", "caddy"), [], {}
    engine = Engine(proj, events.append, images=Images(), release_id=lambda digest: "R1",
                    connect=lambda host, _f: made.setdefault(
                        host.name, target(host) if host.name != "controller"
                        else RecordingExecutor(host)))
    assert execute(plan(proj, ["production"]), engine, None).outcome.ok
    [drained] = [e for e in events if "drained_seconds" in e.data]
    assert drained.message == "otter-drain: 127.0.0.1:20000 idle after 0.12s"
    assert (drained.data["drained_seconds"], drained.data["drain_left"]) == (0.12, 0)
    assert drained.task is not None and drained.task.stage == "retire"
