"""A deployment whose runtime or proxy kind changed: releases.json records the kinds (read
as untrusted input, older files assumed to be the Otterfile's), the flow retires, prunes
and aborts each release by its own runtime, recover cleans up instances of every kind the
state names, the switch hands the ports over to the new proxy kind, a rollback across the
change starts the old release by its own runtime or is refused before anything changes,
and remove and status see every kind. Against recording targets; nothing runs remotely."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from otterfile.run import state as st, state_file as sf
from otterfile.commands import state as cs
from otterfile.load.evaluate import evaluate
from otterfile.executors.recording import RecordingExecutor
from otterfile.plan.graph import Task
from otterfile.hosts import LocalHost
from otterfile.load.loader import load
from otterfile.plan.planner import plan
from otterfile.run import flow, handover, kinds, recover, target as reads
from otterfile.run import remove as removal
from otterfile.run.deploy import execute
from otterfile.run.engine import Engine
from otterfile.run.lane import Lane
from otterfile.run.runner import FAILED, OK
from otterfile.runtimes import NAMED
from otterfile.report.status import TargetStatus, render_status, status_record
from tests.unit.run.test_flow import Images, Scripted, answers, verbs

pytestmark = pytest.mark.unit

OLD, NEW = "sha256:" + "cd" * 32, "sha256:" + "ab" * 32
R0, R1 = "20240101T000000-cdcdcdcd", "20240102T000000-abababab"
OTTERFILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact={artifact}, runtime={runtime}, targets=[ssh("root@web1")],
                      domains=["app.test"], proxy={proxy}(), keep_releases=1,
                      health_check=HealthCheck(path="/health", timeout_seconds=2))
'''
IMAGE = 'build(path=".", command="docker build -t app:1 .")'
FILE = 'build(path=".", command="tar czf app.tar.gz app", output="app.tar.gz")'
RUNTIMES = {"docker": "docker(port=8080)", "podman": "podman(port=8080)",
            "systemd": 'systemd(command="./app --port {port}", port=8080)'}


def project(tmp_path, runtime="docker", proxy="caddy"):
    artifact = FILE if runtime == "systemd" else IMAGE
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(
        artifact=artifact, runtime=RUNTIMES[runtime], proxy=proxy))
    return evaluate(load(tmp_path / "Otterfile.py"))


def named(kind: str, release: str) -> str:
    return NAMED[kind].instance_name("production", release)


def record(release: str, kind: str | None, status: str, digest: str = OLD,
           proxy: str | None = None, port: int = 20000) -> dict:
    out = {"id": release, "digest": digest, "image": "app:1", "status": status,
           "port": port, "instance": named(kind or "docker", release)}
    return {**out, "runtime": kind, "proxy": proxy} if kind else out


def listing(kind: str, *releases: str) -> str:
    if kind == "systemd":
        return "".join(f"{named(kind, r)}\t{r}\t{OLD}\tActiveState=active SubState=running\n"
                       for r in releases)
    return "".join(f"{named(kind, r)}\trunning\t{r}\t{OLD}\tUp\n" for r in releases)


def read_out(records: list[dict], live: str | None, instances: dict[str, tuple[str, ...]],
             site: str = "", old_sites: str = "") -> str:
    """What `read state` prints: the file, each kind's listing, the served site and the
    other proxy kinds' sites of the deployment."""
    text = json.dumps({"releases": records, "live": live}) + "\n"
    for kind, releases in instances.items():
        text += f"{cs.INSTANCES_MARK} {kind}\n{listing(kind, *releases)}"
    text += f"{cs.LOG_MARK}\n{reads.SITE_MARK}\n{site}\n"
    return text + (f"{handover.MARK}\n{old_sites}" if old_sites else "")


def deploy(tmp_path, target, runtime="docker", proxy="caddy", rollback=False):
    proj = project(tmp_path, runtime, proxy)
    made, said = {}, []

    def connect(host, _folder):
        return made.setdefault(host.name, target(host) if host.name != "controller"
                               else RecordingExecutor(host))
    engine = Engine(proj, lambda event: said.append(event.message), connect=connect,
                    images=Images(), release_id=lambda digest: R1, rollback=rollback)
    done = execute(plan(proj, ["production"], rollback=rollback), engine, None)
    return done.outcome, made["web1"], said


def started(target) -> bool:
    return any(v.startswith("start ") for v in verbs(target))


def step(target, prefix: str):
    return next(c for c in target.commands if c.description.startswith(prefix))


# --- releases.json -------------------------------------------------------------------------

KINDS = sf.Kinds(tuple(NAMED), ("caddy", "nginx"), "docker", "caddy",
                 lambda kind, release: named(kind, release))


def test_each_release_is_checked_against_the_runtime_that_started_it():
    text = json.dumps({"releases": [record(R0, "systemd", "previous"),
                                    record(R1, "podman", "live", NEW, "nginx")], "live": R1})
    state = sf.parse_state(text, "web1:releases.json", KINDS)
    assert [(r.runtime, r.proxy, r.instance) for r in state.releases] == [
        ("systemd", None, f"otter-production@{R0}.service"),
        ("podman", "nginx", f"otter-production-{R1}")]
    assert sf.parse_state(sf.format_state(state), "x", KINDS) == state  # written back as read
    written = json.loads(sf.format_state(state))["releases"][1]
    assert (written["runtime"], written["proxy"]) == ("podman", "nginx")


def test_an_older_file_gets_the_otterfiles_kinds_and_says_which_it_assumed():
    text = json.dumps({"releases": [record(R0, None, "previous"),
                                    record(R1, "docker", "live", NEW)], "live": R1})
    state, assumed = sf.assume_kinds(sf.parse_state(text, "x", KINDS), "docker", "caddy")
    assert assumed == [R0]
    assert [(r.runtime, r.proxy) for r in state.releases] == [("docker", "caddy"),
                                                             ("docker", None)]
    assert sf.assume_kinds(state, "podman", "nginx") == (state, [])


def test_images_are_pruned_from_the_store_of_the_kind_that_holds_them():
    state = st.State((st.Release(R0, OLD, status="previous", runtime="podman"),
                      st.Release(R1, OLD, status="live", runtime="docker")), R1)
    pruned = [state.get(R0)]
    assert st.images_to_remove(state, pruned, "podman") == [OLD]  # docker's copy is another
    assert st.images_to_remove(state, pruned, "docker") == []
    assert st.images_to_remove(state, pruned) == []  # by digest alone: kept


# --- the state read ------------------------------------------------------------------------

def test_the_read_lists_a_kind_only_when_the_file_names_it(tmp_path):
    from otterfile.commands import container
    from otterfile.executors.local import LocalExecutor
    from tests.fakes import executable
    engines = {kind: executable(tmp_path / kind, f"#!/bin/sh\nprintf 'n-{kind}\\trunning\\t"
                                                 f"r\\td\\tUp\\n'\n") for kind in NAMED}
    listings = {kind: container.list_containers(str(path), "production")
                for kind, path in engines.items()}
    parsers = dict.fromkeys(NAMED, container.parse_containers)

    def read(every=False):
        result = LocalExecutor().run(cs.read_state("production", listings, every=every,
                                                   base=str(tmp_path)))
        assert result.ok, result.stderr
        return cs.parse_read(result.stdout, parsers)
    assert read().listed == {"docker"}  # no file: the Otterfile's kind only
    (tmp_path / "production").mkdir()
    (tmp_path / "production" / "releases.json").write_text(json.dumps(
        {"releases": [record(R0, "podman", "live")], "live": R0}))
    found = read()
    assert found.listed == {"docker", "podman"}
    assert [(i.kind, i.name) for i in found.instances] == [("docker", "n-docker"),
                                                          ("podman", "n-podman")]
    assert read(every=True).listed == set(NAMED)


def test_a_kind_the_quick_look_missed_is_listed_in_a_second_read(tmp_path):
    dep = project(tmp_path).deployments["production"]
    escaped = json.dumps({"releases": [record(R0, "podman", "live")], "live": R0})
    first = kinds.parse_read(dep, "web1", read_out([record(R0, "podman", "live")], R0,
                                                   {"docker": ()}))
    again = read_out([json.loads(escaped)["releases"][0]], R0,
                     {"docker": (), "podman": (R0,), "systemd": ()})
    executor = RecordingExecutor(LocalHost("web1"), {
        lambda c: c.description.startswith("read state"): again})
    found = kinds.complete(dep, executor, first)
    assert found.listed == set(NAMED) and [i.kind for i in found.instances] == ["podman"]
    assert executor.commands[0].argv_values()[6] == "1"  # every kind
    assert kinds.complete(dep, executor, found) is found  # nothing missing: no round trip


# --- deploy: the runtime changed -----------------------------------------------------------

@pytest.mark.parametrize("old", ["podman", "docker"])
def test_the_old_release_is_retired_by_the_runtime_that_started_it(tmp_path, old):
    new = "docker" if old == "podman" else "podman"
    out = read_out([record(R0, old, "live", proxy="caddy")], R0, {new: (), old: (R0,)},
                   "reverse_proxy 127.0.0.1:20000")
    outcome, target, _ = deploy(tmp_path, answers(out), runtime=new)
    assert outcome.ok, outcome.errors
    assert f"{new} run -d" in step(target, "start ").description
    retire = step(target, "retire the old release").argv[2]
    assert f"{old} stop -t 10 {named(old, R0)}" in retire  # drained, then stopped by `old`
    assert NAMED[old].prune([OLD], []).shell_line() in retire  # pruned from its own store
    assert NAMED[new].prune([OLD], [NEW]).shell_line() not in retire
    state = json.loads(step(target, "retire the old release").stdin)
    assert {r["id"]: (r["runtime"], r["status"]) for r in state["releases"]} == {
        R0: (old, "retired"), R1: (new, "live")}


@pytest.mark.parametrize("where,retired_by,how", [
    ("docker", "docker", "its instance is there"), ("podman", "podman", "its instance is there"),
    ("", "docker", "the Otterfile's")])
def test_an_older_files_release_is_retired_where_its_instance_runs(tmp_path, where,
                                                                    retired_by, how):
    """A file an older otter wrote names no runtime: the read looked under every kind."""
    listed = {kind: (R0,) if kind == where else () for kind in NAMED}
    out = read_out([record(R0, None, "live")], R0, listed, "reverse_proxy 127.0.0.1:20000")
    outcome, target, said = deploy(tmp_path, answers(out))
    assert outcome.ok, outcome.errors
    assert f"{retired_by} stop -t 10 {named(retired_by, R0)}" in step(target, "retire").argv[2]
    assert "web1: releases.json names no runtime for 1 release(s) (an older otter wrote " \
           f"it): 1 {retired_by} ({how}); their proxy is taken to be caddy, the Otterfile's" in said
    state = json.loads(step(target, "retire").stdin)  # written with the kinds from now on
    assert state["releases"][0]["runtime"] == retired_by


def test_an_older_files_unit_is_told_by_its_name(tmp_path):
    dep = project(tmp_path).deployments["production"]
    unit = {**record(R0, None, "previous"), "instance": named("systemd", R0)}
    found = kinds.parse_read(dep, "web1", read_out([unit, record(R1, None, "live", NEW)], R1,
                                                   {"docker": ()}))
    assert [(r.runtime, r.proxy) for r in found.state.releases] == [("systemd", "caddy"),
                                                                    ("docker", "caddy")]
    assert found.assumed == ((R0, "systemd", "named"), (R1, "docker", "assumed"))
    assert kinds.assumed_note(dep, "web1", found) == (
        "web1: releases.json names no runtime for 2 release(s) (an older otter wrote it): "
        "1 systemd (its instance has that kind's name), 1 docker (the Otterfile's); "
        "their proxy is taken to be caddy, the Otterfile's")


def test_the_read_looks_everywhere_for_an_older_files_instances(tmp_path):
    from otterfile.commands import container
    from otterfile.executors.local import LocalExecutor
    (tmp_path / "production").mkdir()
    (tmp_path / "production" / "releases.json").write_text(json.dumps(
        {"releases": [record(R0, None, "live")], "live": R0}))
    listings = {kind: container.list_containers(f"/no/{kind}", "production") for kind in NAMED}
    result = LocalExecutor().run(cs.read_state("production", listings, base=str(tmp_path)))
    assert result.ok and result.stdout.count(cs.INSTANCES_MARK) == 3


def test_recover_removes_instances_of_every_kind_left_by_dead_runs(tmp_path):
    dep = project(tmp_path).deployments["production"]
    records = [record(R0, "podman", "live", proxy="caddy"),
               record(R1, "docker", "starting", NEW, "caddy", 20001)]
    stale = "20240103T000000-efefefef"
    out = read_out(records, R0, {"docker": (R1, stale), "podman": (R0,)},
                   "reverse_proxy 127.0.0.1:20000")
    executor = RecordingExecutor(LocalHost("web1"), {
        lambda c: c.description.startswith("read state"): f"k\n{reads.KEY_MARK}\n{out}"})
    lane, said = Lane(dep, LocalHost("web1")), []
    engine = SimpleNamespace(executor=lambda _host: executor, artifacts={}, rollback=False,
                             emit=lambda task, kind, message: said.append(message))
    recover.recover(engine, lane, Task("production/lock@web1", "lock", host="web1"))
    remove = [c for c in executor.commands if c.description.startswith("remove ")]
    assert len(remove) == 1 and remove[0].argv_values()[-3:] == [
        "docker", named("docker", R1), named("docker", stale)]  # the live podman one stays
    assert lane.previous.id == R0 and lane.state.get(R1).status == "failed"
    assert lane.running == {("podman", named("podman", R0)), ("docker", named("docker", R1)),
                            ("docker", named("docker", stale))}


def test_a_failed_release_is_removed_by_the_runtime_that_started_it(tmp_path):
    out = read_out([record(R0, "podman", "live", proxy="caddy")], R0,
                   {"docker": (), "podman": (R0,)}, "reverse_proxy 127.0.0.1:20000")
    outcome, target, _ = deploy(tmp_path, lambda host: Scripted(
        host, answers(out)(host).responses, http_status=503))
    assert outcome.status["production/health@web1"] == FAILED
    abort = step(target, "remove the failed release").argv[2]
    assert f"docker {named('docker', R1)}" in abort and named("podman", R0) not in abort


def test_retire_by_the_old_runtime_under_systemd(tmp_path):
    """docker to systemd: the container is stopped by docker, its image pruned by docker,
    the new unit's artifact kept."""
    dep = project(tmp_path, "systemd").deployments["production"]
    old = st.Release(R0, OLD, status="previous", port=20000, instance=named("docker", R0),
                     runtime="docker", proxy="caddy")
    new = st.Release(R1, NEW, status="live", port=20001, instance=named("systemd", R1),
                     runtime="systemd", proxy="caddy")
    executor = RecordingExecutor(LocalHost("web1"))
    lane = Lane(dep, LocalHost("web1"), state=st.State((old, new), R1), previous=old,
                release=new, started=frozenset({OLD.removeprefix("sha256:")}))
    engine = SimpleNamespace(executor=lambda _host: executor)
    flow.retire(engine, lane, Task("production/retire@web1", "retire", host="web1"))
    script = executor.commands[0].argv[2]
    assert f"docker stop -t 10 {named('docker', R0)}" in script
    assert NAMED["docker"].prune([OLD], []).shell_line() in script
    assert "systemctl" not in script  # nothing of systemd's is stopped or pruned
    assert lane.state.get(R0).status == "retired"


# --- rollback across the change ------------------------------------------------------------

def test_a_rollback_starts_a_podman_release_with_podman_under_a_docker_otterfile(tmp_path):
    out = read_out([record(R0, "podman", "previous", proxy="caddy"),
                    record("20240101T120000-abababab", "docker", "live", NEW, "caddy", 20001)],
                   "20240101T120000-abababab", {"docker": ("20240101T120000-abababab",),
                                                "podman": ()}, "reverse_proxy 127.0.0.1:20001")
    outcome, target, said = deploy(tmp_path, answers(out), rollback=True)
    assert outcome.ok, outcome.errors
    start = step(target, "start ").description
    assert "podman run -d" in start and start.endswith(f" {OLD[7:]}")  # podman: bare id
    retire = step(target, "retire").argv[2]
    assert f"docker stop -t 10 {named('docker', '20240101T120000-abababab')}" in retire
    state = json.loads(step(target, "retire").stdin)
    assert state["releases"][-1]["runtime"] == "podman"


def test_a_rollback_the_runtime_cannot_start_is_refused_before_anything_changes(tmp_path):
    out = read_out([record(R0, "docker", "previous", proxy="caddy"),
                    record("20240101T120000-abababab", "systemd", "live", NEW, "caddy", 20001)],
                   "20240101T120000-abababab",
                   {"systemd": ("20240101T120000-abababab",), "docker": ()},
                   "reverse_proxy 127.0.0.1:20001")
    outcome, target, _ = deploy(tmp_path, answers(out), runtime="systemd", rollback=True)
    assert outcome.status["production/lock@web1"] == FAILED
    error = str(outcome.errors["production/lock@web1"])
    assert f"web1: release {R0} was started by docker, and the Otterfile's runtime is " \
           "systemd(...), whose settings docker cannot run: nothing was changed" in error
    assert "put docker(...) back in the Otterfile" in error
    assert verbs(target) == [
        "lock production; read state of production (caddy installed and running)",
        "unlock production"]


# --- the proxy changed ---------------------------------------------------------------------

@pytest.mark.parametrize("running", [True, False])
def test_the_switch_hands_the_ports_over_from_the_old_proxy(tmp_path, running):
    old = "caddy active\n" if running else "caddy inactive\n"
    out = read_out([record(R0, "docker", "live", proxy="caddy")], R0, {"docker": (R0,)},
                   "", old)
    outcome, target, said = deploy(tmp_path, answers(out), proxy="nginx")
    assert outcome.ok, outcome.errors
    switch = step(target, "hand over from caddy to nginx: switch nginx")
    text = switch.argv[2]  # the handover, between the two state writes
    assert (" sh caddy nginx 80 " if running else " sh '' nginx 80 ") in text
    assert "/etc/caddy" in text and " -t -q" in text  # caddy's site removal, nginx -t
    assert "# Managed by otter for deployment" in switch.stdin  # the new site reaches nginx
    assert " 20001" in text  # and the port file's new name, nginx's switch
    moved = "caddy handed ports 80/443 to nginx (caddy stopped and disabled); " \
        if running else ""
    assert f"{moved}caddy's site of production removed" in said
    assert "docker stop -t 10" in step(target, "retire").argv[2]
    assert json.loads(step(target, "retire").stdin)["releases"][-1]["proxy"] == "nginx"


def test_the_ensure_step_knows_the_other_proxy_kinds_site_and_what_else_it_serves(tmp_path):
    dep = project(tmp_path, proxy="nginx").deployments["production"]
    args = handover.ensure(dep).argv_values()
    assert args[4:10] == ["nginx", "nginx", "libnginx-mod-http-js", "nginx", "caddy apache2",
                          "caddy"]
    assert args[10] == "/etc/caddy/otter.d/production.caddy" and "caddy-serves" not in args[11]
    assert "otter.d" in args[11] and args[11].endswith("/etc/caddy production")


def test_an_old_site_makes_a_new_release_even_with_the_same_config(tmp_path):
    from otterfile.run.fingerprint import fingerprint
    dep = project(tmp_path).deployments["production"]
    config = fingerprint(dep, NEW, {}, "f00dkey")
    live = {**record(R0, "docker", "live", NEW, "caddy"), "config": config}
    same = read_out([live], R0, {"docker": (R0,)}, "reverse_proxy 127.0.0.1:20000")
    outcome, target, _ = deploy(tmp_path, answers(same, "present"))
    assert outcome.ok and not started(target)  # a no-op
    stale = read_out([live], R0, {"docker": (R0,)}, "reverse_proxy 127.0.0.1:20000",
                     "nginx inactive\n")
    outcome, target, _ = deploy(tmp_path, answers(stale, "present"))
    assert outcome.ok and started(target)  # so that the stale nginx site is removed
    assert step(target, "hand over from nginx to caddy")


def test_old_sites_are_read_from_known_kinds_only():
    assert handover.parse("caddy active\nnginx inactive\napache active\ncaddy\n\x1b x\n") == (
        handover.OldSite("caddy", True), handover.OldSite("nginx", False))


# --- remove and status ---------------------------------------------------------------------

def test_remove_takes_away_every_kinds_instances_sites_and_artifacts(tmp_path):
    dep = project(tmp_path, "docker", "nginx").deployments["production"]
    records = [record(R0, "podman", "previous", proxy="caddy"),
               record(R1, "docker", "live", NEW, "nginx", 20001)]
    text = f"\n{reads.KEY_MARK}\n" + json.dumps({"releases": records, "live": R1}) + "\n"
    text += (f"{cs.INSTANCES_MARK} docker\n{listing('docker', R1)}{cs.INSTANCES_MARK} "
             f"podman\n{listing('podman', R0)}{cs.INSTANCES_MARK} systemd\n{cs.LOG_MARK}\n"
             f"{reads.SITE_MARK}\nserver 127.0.0.1:20001;\n{reads.STARTED_MARK}\n{OLD[7:]}\n"
             f"{NEW[7:]}\n{handover.MARK}\ncaddy inactive\n")
    found = removal.parse(dep, "web1", text)
    assert found.sites == ("nginx", "caddy") and found.live_kind == "docker"
    assert removal.describe(found)[:2] == [
        f"{named('docker', R1)} (docker), {named('podman', R0)} (podman)", "nginx, caddy"]
    script = removal.removal(dep, found).argv[2]
    from otterfile.commands.drain import drain
    pieces = [drain(20001, dep.drain_seconds),  # until the live port is idle, then stop
              NAMED["docker"].stop(named("docker", R1), drain_seconds=0,
                                   stop_seconds=dep.stop_seconds),
              NAMED["docker"].remove(named("docker", R1)),
              NAMED["podman"].remove(named("podman", R0)),
              NAMED["docker"].prune([NEW], []), NAMED["podman"].prune([OLD], [])]
    assert pieces[0] is not None  # a drain is asked for
    at = [script.index(p.shell_line()) for p in pieces if p is not None]
    assert at[:4] == sorted(at[:4]) and min(at[4:]) > at[3]  # drain, remove, then prune
    assert script.index("conf.d") < at[0] and script.index("otter.d") < at[0]  # sites first
    line = removal.read(dep).shell_line()
    assert "/etc/nginx/conf.d/otter-production.conf" in line
    assert "/etc/caddy/otter.d/production.caddy" in line  # another kind's site is read too
    read = reads.command(dep, every=True, sites=True).argv_values()
    assert removal.deletes(dep, found)[:4] == [
        f"docker instances: {named('docker', R1)}", f"podman instances: {named('podman', R0)}",
        f"images: {OLD[:19]}, {NEW[:19]}",
        "proxy site: /etc/nginx/conf.d/otter-production.conf, "
        "/etc/caddy/otter.d/production.caddy"]
    assert read[read.index("/var/lib/otter/production") + 2] == "1"  # every kind listed


def test_status_shows_what_runs_each_release():
    live = st.Release(R1, NEW, status="live", port=20001, instance=named("docker", R1),
                      runtime="docker", proxy="nginx")
    old = st.Release(R0, OLD, status="previous", instance=named("podman", R0),
                     runtime="podman", proxy="caddy")
    status = TargetStatus([old, live], live, {("docker", named("docker", R1)),
                                              ("podman", named("docker", R1))},
                          "200 on /", note="web1: assumed")
    pair = (SimpleNamespace(name="production"), SimpleNamespace(name="web1"))
    shown = render_status([pair], [status])
    row = shown.splitlines()[2].split()
    assert row[3:6] == ["docker,", "nginx", "running"] and row[-2:] == [R0, "(podman)"]
    assert shown.endswith("note: web1: assumed")
    data = status_record(status)
    assert (data["live"]["runtime"], data["live"]["proxy"]) == ("docker", "nginx")
    assert data["runtimes"] == {R0: "podman", R1: "docker"} and data["live"]["running"]
    stopped = TargetStatus([live], live, {("podman", named("docker", R1))})
    assert not stopped.runs(live)  # a podman container of that name is not the release


def test_every_kind_table_entry_answers_the_new_questions():
    from otterfile.load import model
    from otterfile.proxies import NAMED as PROXIES
    assert {name: NAMED[name].accepts(model.Docker(port=1)) for name in NAMED} == {
        "docker": True, "podman": True, "systemd": False}
    assert NAMED["systemd"].accepts(model.Systemd(command="x", port=1))
    site = SimpleNamespace(domains=("a.test",), listen_port=None)
    assert PROXIES["caddy"].ports(model.Caddy(tls="off"), site) == (80,)
    assert PROXIES["caddy"].ports(model.Caddy(), site) == (80, 443)
    assert PROXIES["nginx"].ports(model.Nginx(), site) == (80,)
    bare = SimpleNamespace(domains=(), listen_port=8080)
    assert all(px.ports(value, bare) == (8080,) for px, value in
               ((PROXIES["caddy"], model.Caddy()), (PROXIES["nginx"], model.Nginx())))
    for px in PROXIES.values():
        assert px.serving_besides("production").argv_values()[-1] == "production"
    assert PROXIES["nginx"].validate().argv == ("nginx", "-t", "-q")
    assert PROXIES["caddy"].validate().argv_values()[-1] == "/etc/caddy/Caddyfile"
    assert OK
