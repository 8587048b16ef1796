"""run/target.py, the one target read: `otter plan --check` and `otter run` agree on what
would change, for every case the flow tests cover, given the same recorded read; and the
pure parts (the served-port rule, the no-op decision). Nothing runs."""
from __future__ import annotations

import json

import pytest

from otterfile.commands.state import TargetState
from otterfile.executors.recording import RecordingExecutor
from otterfile.plan.planner import plan
from otterfile.run import check as checks, target as reads
from otterfile.run.engine import Engine
from otterfile.run.fingerprint import fingerprint
from otterfile.run.state import Release, State
from tests.unit.run.test_flow import DIGEST, OLD, Images, answers, deploy, project

pytestmark = pytest.mark.unit

KEY = "f00dkey"
R0 = "20240101T000000-cdcdcdcd"  # live before the run
R9 = "20240102T000000-abababab"  # left `starting` by a run killed after its switch


def release(rid: str, digest: str, status: str, port: int, config: str | None,
            runtime: str | None = None) -> dict:
    record = {"id": rid, "digest": digest, "image": "app:1", "status": status, "port": port,
              "instance": f"otter-production-{rid}", "config": config}
    return {**record, "runtime": runtime} if runtime else record


def listed(record: dict, running: bool = True) -> str:
    return "\t".join([record["instance"], "running" if running else "exited", record["id"],
                      record["digest"], "Up"])


def recorded(*, key=KEY, releases=(), live=None, instances=(), port=None, old_sites="",
             proxy="caddy") -> str:
    """What scripts/read-target.sh prints on a target (the artifact is there: nothing ships)."""
    state = json.dumps({"releases": list(releases), "live": live}) if releases else ""
    site = "" if port is None else "reverse_proxy 127.0.0.1:{otter_port}\n" \
        if proxy == "caddy" else "server 127.0.0.1:$otter_upstream;\n"
    upstream = "" if port is None else f"{port}\n"
    return (f"{key}\n--- otter:key\n{state}\n--- otter:instances\n"
            + "".join(f"{line}\n" for line in instances) +
            f"--- otter:log\n--- otter:site\n{site}--- otter:upstream\n{upstream}"
            f"--- otter:started\n--- otter:switch\nfile\n--- otter:old-sites\n{old_sites}"
            "--- otter:probe\npresent\n")


def config(tmp_path, runtime="docker", proxy="caddy", key=KEY) -> str:
    """The fingerprint a run gives DIGEST with the flow tests' Otterfile."""
    dep = project(tmp_path, runtime, proxy).deployments["production"]
    return fingerprint(dep, DIGEST, {"A": "1"}, key)


def cases(tmp_path, runtime, proxy):
    """(name, read) for each case of tests/unit/run/test_flow.py's no-op decision and recover."""
    same = config(tmp_path, runtime, proxy)
    live = release(R0, DIGEST, "live", 20000, same)
    old = release(R0, OLD, "live", 20000, None)
    killed = release(R9, DIGEST, "starting", 20003, same)
    read = lambda **kw: recorded(proxy=proxy, **kw)  # noqa: E731
    return [
        ("first deploy", read(key="")),
        ("redeploy", read(releases=[old], live=R0, instances=[listed(old)], port=20000)),
        ("no-op", read(releases=[live], live=R0, instances=[listed(live)], port=20000)),
        ("live but stopped", read(releases=[live], live=R0,
                                  instances=[listed(live, running=False)], port=20000)),
        ("a new key", read(key="0therkey", releases=[live], live=R0,
                           instances=[listed(live)], port=20000)),
        ("no key yet", read(key="", releases=[live], live=R0, instances=[listed(live)],
                            port=20000)),
        ("killed after the switch", read(releases=[old, killed], live=R0,
                                         instances=[listed(old), listed(killed)],
                                         port=20003)),
        ("killed before the switch", read(releases=[live, killed], live=R0,
                                          instances=[listed(live), listed(killed)],
                                          port=20000)),
        ("another proxy kind's site", read(releases=[live], live=R0,
                                           instances=[listed(live)], port=20000,
                                           old_sites="nginx inactive\n" if proxy == "caddy"
                                           else "caddy inactive\n")),
        ("another runtime started it", read(releases=[{**live, "runtime": "podman"
                                                       if runtime == "docker" else "docker"}],
                                            live=R0, port=20000)),
    ]


def run_says(tmp_path, runtime, proxy, read: str) -> tuple[bool, str | None]:
    """(whether `otter run` starts a release, the release it found live) from `read`."""
    def target(host):
        made = answers()(host)
        mine = lambda c: c.description.startswith("lock production; read state")  # noqa
        again = lambda c: c.description.startswith("read state")  # noqa: E731 (every kind)
        made.responses = {mine: "status=acquired\n--- otter:locked\n" + read,
                          again: reads.sections(read)[reads.KEY_MARK], **made.responses}
        return made
    outcome, executor, engine = deploy(tmp_path, runtime, proxy, target)
    assert outcome.ok, outcome.errors
    lane = engine.lane("production", "web1")
    started = any(c.description.startswith("start ") for c in executor.commands)
    return started, lane.previous.id if lane.previous else None


def check_says(tmp_path, runtime, proxy, read: str) -> tuple[bool, str | None]:
    """(whether `plan --check` says a release starts, the release it says is live)."""
    proj = project(tmp_path, runtime, proxy)
    batch = f"installed\nrunning\n\n{checks.MARK} production/proxy 0\n" \
        f"{read}\n{checks.MARK} production/read 0\n"

    def connect(host, _folder):
        return RecordingExecutor(host, {lambda c: c.description.startswith("what the target"):
                                        batch})
    engine = Engine(proj, lambda event: None, connect=connect, images=Images(),
                    env={"production": {"A": "1"}})
    try:
        [found] = checks.check(engine, plan(proj, ["production"]))
    finally:
        engine.close()
    assert found.error is None, found.error
    return found.release != "none", found.live


@pytest.mark.parametrize("runtime,proxy", [("docker", "caddy"), ("podman", "nginx")])
def test_plan_check_and_run_agree_on_what_would_change(tmp_path, runtime, proxy):
    for name, read in cases(tmp_path, runtime, proxy):
        run = run_says(tmp_path, runtime, proxy, read)
        assert check_says(tmp_path, runtime, proxy, read) == run, name
    said = {name: run_says(tmp_path, runtime, proxy, read)
            for name, read in cases(tmp_path, runtime, proxy)}
    assert said["no-op"] == (False, R0)  # the cases cover both answers
    assert said["first deploy"] == (True, None)
    assert said["killed after the switch"] == (False, R9)  # it serves this very config
    assert said["another proxy kind's site"] == (True, R0)


def dep_of(tmp_path):
    return project(tmp_path, "docker", "caddy").deployments["production"]


def test_a_starting_release_is_live_only_when_the_proxy_serves_its_port(tmp_path):
    dep = dep_of(tmp_path)
    old = Release(R0, DIGEST, "app:1", None, None, "", "live", 20000, "c-R0", "cfg")
    new = Release(R9, DIGEST, "app:1", None, None, "", "starting", 20001, "c-R9", "cfg")
    state = State(releases=(old, new), live=R0)

    def served(site: str, upstream: str = ""):
        return reads.live(dep, reads.Reading("", TargetState(state), site, upstream))
    assert served("reverse_proxy 127.0.0.1:{otter_port}", "20001\n")[1] == new
    assert served("reverse_proxy 127.0.0.1:{otter_port}", "20001\n")[0].live == R9
    assert served("reverse_proxy 127.0.0.1:{otter_port}", "20000\n")[1] == old
    assert served("", "20001\n")[1] == old  # no site: nothing is served
    assert served("")[0] == state


def test_the_no_op_decision(tmp_path):
    dep = dep_of(tmp_path)
    live = Release(R0, DIGEST, "app:1", None, None, "", "live", 20000,
                   f"otter-production-{R0}", "cfg", "docker", "caddy")
    runs = frozenset({("docker", f"otter-production-{R0}")})
    same = lambda *a, **kw: reads.unchanged(dep, *a, **{"runtime": "docker", **kw})  # noqa
    assert same(live, "cfg", runs)
    assert not same(None, "cfg", runs)
    assert not same(live, "other", runs)
    assert not same(live, None, runs)  # no key: never the same
    assert not same(live, "cfg", frozenset())  # live but not running
    assert not same(live, "cfg", runs, runtime="podman")
    assert not same(live, "cfg", runs, rollback=True)
    assert not same(live, "cfg", runs, old_sites=("nginx",))


def test_status_shows_the_live_release_a_run_would(tmp_path):
    """A release a killed run left `starting` that the proxy serves is what status shows
    live, as recover records it."""
    from otterfile.hosts import LocalHost
    from otterfile.report.status import read_status
    dep = dep_of(tmp_path)
    same = config(tmp_path)
    old, killed = release(R0, OLD, "live", 20000, None), release(R9, DIGEST, "starting",
                                                                 20003, same)
    read = recorded(releases=[old, killed], live=R0, instances=[listed(old), listed(killed)],
                    port=20003)
    executor = RecordingExecutor(LocalHost("web1"), {
        lambda c: c.description.startswith("read state"): read})
    status = read_status(dep, executor)
    assert status.live.id == R9 and status.runs(status.live)
    assert [r.status for r in status.releases] == ["previous", "live"]
    assert executor.commands[0].description == "read state of production"
    assert len(executor.commands) == 2  # the read, and the health probe: one round trip each


def test_status_shows_maintenance_mode_from_the_flag(tmp_path):
    """read-target.sh prints the flag's message after its marker; status and --json show it,
    and no flag is maintenance off."""
    from otterfile.hosts import LocalHost
    from otterfile.report.status import read_status, render_status, status_record
    dep = dep_of(tmp_path)
    old = release(R0, OLD, "live", 20000, None)
    read = recorded(releases=[old], live=R0, instances=[listed(old)], port=20000)
    for flag, message in (("", None), ("--- otter:maintenance\nback at <5>\n", "back at <5>")):
        executor = RecordingExecutor(LocalHost("web1"), {
            lambda c: c.description.startswith("read state"): read.replace(
                "--- otter:probe", flag + "--- otter:probe")})
        status = read_status(dep, executor)
        assert status.maintenance == message and status.live.id == R0
        assert status_record(status)["maintenance"] == message
        text = render_status([(dep, LocalHost("web1"))], [status])
        assert ("note: web1: production is in maintenance (503: 'back at <5>'); "
                "`otter maintenance production off` ends it" in text) == bool(message)


def test_the_target_read_prints_the_flag_beside_the_upstream_folder(tmp_path):
    import subprocess
    from otterfile.proxies import maintenance
    from otterfile.scripts import load
    base = tmp_path / "production"
    (base / "maintenance").mkdir(parents=True)
    (base / "maintenance" / "message").write_text("back at 5\n")
    args = [str(tmp_path / "none.caddy"), str(base / "upstream"), "", "", "", "", "", "",
            str(base / "started"), "", "true"]
    done = subprocess.run(["sh", "-c", load("read-target.sh"), "sh", *args],
                          capture_output=True, text=True, check=True)
    parts = reads.sections(done.stdout)
    assert maintenance.parse_message(parts[reads.MAINTENANCE_MARK]) == "back at 5"
    (base / "maintenance" / "message").unlink()
    (base / "maintenance").rmdir()
    done = subprocess.run(["sh", "-c", load("read-target.sh"), "sh", *args],
                          capture_output=True, text=True, check=True)
    assert reads.MAINTENANCE_MARK not in done.stdout
