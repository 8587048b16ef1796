"""Runs at once on real hosts: two `otter run` of one deployment (the second waits, naming
the holder, or is refused naming it; never two deploys of one deployment interleaved), and
two deployments on one host (each its own lock, port, site and state; the proxy serves
both). A step of the Otterfile holds a run at a gate the test opens, so the runs overlap
where the test says, not by timing."""
from __future__ import annotations

import json

from tests.integration.deploy import DOMAIN, otter, served, write_app, write_otterfile
from tests.integration.faulty import GATE_STEPS, Gates, Run, gate_step, sh
from tests.testbed.faults import RequestLoop

STAGING = '''
@deployment
def staging():
    return Deployment(artifact=web, runtime=box, targets=[servers], domains=["staging.test"],
                      proxy=caddy(tls="off"), keep_releases=3,
                      health_check=HealthCheck(path="/health", timeout_seconds=20))
'''


def state(target, deployment: str = "production") -> dict:
    return json.loads(sh(target, f"cat /var/lib/otter/{deployment}/releases.json"))


def answer(target, domain: str) -> str:
    import httpx
    response = httpx.get(target.url("/"), headers={"Host": domain}, timeout=5)
    return f"{response.status_code} {response.text.strip()}"


def is_step(name: str):
    return lambda e: e.get("event") == "start" and e.get("stage") == f"step {name}"


def waiting(e) -> bool:
    return e.get("event") == "info" and e.get("stage") == "lock" and \
        str(e.get("message", "")).startswith("locked by ")


def test_two_runs_of_one_deployment(tmp_path, clean_target):
    """Run A holds the lock (held at a gate after its start). B with --lock-wait says it
    waits for A, naming it; C without is refused naming A. Once A is through, B runs and
    finds nothing to do; the live release answered every request."""
    t = clean_target
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, [t], timeout=20,
                    extra=GATE_STEPS + gate_step("production", 'after="start"'))
    assert otter(tmp_path, "run", "production").returncode == 0
    write_app(tmp_path / "app", "v2")
    gates = Gates(tmp_path / "gates", "production")
    try:
        with RequestLoop(t.url("/"), host=DOMAIN, max_seconds=240) as loop:
            first = Run(tmp_path, "run", "production", env=gates.env)
            first.wait_for(is_step("hold_production"))
            second = Run(tmp_path, "run", "production", "--lock-wait", "180")
            said = second.wait_for(waiting)
            refused = otter(tmp_path, "--json", "run", "production")
            gates.open("production")
            assert first.finish() == 0, first.text
            assert second.finish() == 0, second.text
    finally:
        gates.close()
    assert loop.summary.failed == 0, loop.summary
    name = first.name_of(t)
    assert f"(pid {first.pid}, run " in said["message"] and said["pid"] == str(first.pid)
    assert refused.returncode == 1
    lock_end = next(e for e in map(json.loads, refused.stdout.splitlines())
                    if e.get("event") == "end" and e.get("stage") == "lock")
    assert lock_end["status"] == "failed"
    assert lock_end["message"].startswith(f"{name}: deployment production is locked by ")
    assert f"(pid {first.pid}, run " in lock_end["message"]
    assert any("nothing to do" in m for m in second.infos(t, "start")), second.text
    releases = state(t)["releases"]
    assert [r["status"] for r in releases] == ["previous", "live"]  # one deploy, not two
    assert served(t) == "200 v2"


def test_two_deployments_on_one_host_at_once(tmp_path, clean_target):
    """production and staging, both live on one host, deployed at once by two runs held
    at gates before start and let go together: both succeed, each on its own port behind
    its own site, and both kept answering."""
    t = clean_target
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, [t], timeout=20,
                    extra=STAGING + GATE_STEPS + gate_step("production", 'before="start"')
                    + gate_step("staging", 'before="start"'))
    for name in ("production", "staging"):
        done = otter(tmp_path, "run", name)
        assert done.returncode == 0, done.stdout + done.stderr
    write_app(tmp_path / "app", "v2")
    gates = Gates(tmp_path / "gates", "production", "staging")
    try:
        with RequestLoop(t.url("/"), host=DOMAIN, max_seconds=240) as production_loop, \
                RequestLoop(t.url("/"), host="staging.test", max_seconds=240) as staging_loop:
            runs = [Run(tmp_path, "run", name, env=gates.env)
                    for name in ("production", "staging")]
            for run, name in zip(runs, ("production", "staging")):
                run.wait_for(is_step(f"hold_{name}"))
            gates.open("production")
            gates.open("staging")
            codes = [run.finish() for run in runs]
    finally:
        gates.close()
    assert codes == [0, 0], "\n".join(run.text for run in runs)
    assert production_loop.summary.failed == 0, production_loop.summary
    assert staging_loop.summary.failed == 0, staging_loop.summary
    assert served(t) == "200 v2" and answer(t, "staging.test") == "200 v2"
    ports = [state(t, name)["releases"][-1]["port"] for name in ("production", "staging")]
    assert ports[0] != ports[1]
    for name in ("production", "staging"):
        assert [r["status"] for r in state(t, name)["releases"]] == ["previous", "live"]
