"""Two-phase migrations on the three test hosts, a rolling deploy (`parallel=1`): the expand
runs once, in the new release, before any switch; the contract runs once, after all three
targets retired the old release, and is recorded on each; when the third target fails the
contract never runs; a rollback past a contracted release is refused, and `--force` does it.
The health check reads a file from the target (tests/integration/test_rolling.py), so the
test can fail the third target alone."""
from __future__ import annotations

import json

from tests.integration.deploy import APP_TAG, DOMAIN, events, on, otter, served, write_app
from tests.integration.test_rolling import FLAG, healthy

LOG = "/var/lib/otter-it-migrations.log"  # on each target: what expand and contract ran
OTTERFILE = '''
from otterfile import *
from otterfile.stdlib import migration

HOSTS = {hosts!r}

@target
def servers():
    return [ssh(address, identity_file=key, known_hosts=known) for address, key, known in HOSTS]

@deployment
def production():
    return Deployment(artifact=build(path="app", command="docker build -q -t {app_tag} ."),
                      runtime=docker(port=8080, volumes=["{flag}:/www/flag"]),
                      targets=[servers], domains=["{domain}"], proxy=caddy(tls="off"),
                      parallel=1, health_check=HealthCheck(path="/flag/ok", timeout_seconds=6),
                      steps=[migration(
                          # what the new release serves: it runs there, before it takes traffic
                          expand="echo expand {{release}} $(docker exec {{container}} "
                                 "/bin/busybox cat /www/index.html) >> {log}",
                          contract="echo contract {{release}} >> {log}",
                          rollback={rollback})])
'''
STEPS = ("production/step:migrate-expand", "production/step:migrate-contract")


def setup(tmp_path, targets, rollback: bool = True) -> None:
    hosts = [(t.host.address, t.host.identity_file, t.host.known_hosts) for t in targets]
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(
        hosts=hosts, app_tag=APP_TAG, flag=FLAG, domain=DOMAIN, log=LOG, rollback=rollback))
    if not rollback:
        return
    for target in targets:
        healthy(target, True)
        on(target, "rm", "-f", LOG)


def logged(targets) -> list[list[str]]:
    """Each target's migration log lines."""
    return [on(t, "sh", "-c", f"cat {LOG} 2>/dev/null || true").stdout.splitlines()
            for t in targets]


def contracted(target) -> list[str]:
    """The releases the target's releases.json records as contracted."""
    text = on(target, "cat", "/var/lib/otter/production/releases.json").stdout
    return [c["release"] for c in json.loads(text).get("contracts", [])]


def live(target) -> str:
    text = on(target, "cat", "/var/lib/otter/production/releases.json").stdout
    return json.loads(text)["live"]


def deploy(tmp_path, version: str):
    write_app(tmp_path / "app", version)
    result = otter(tmp_path, "--json", "run", "production")
    return result, events(result.stdout)


def order(found: list[dict]) -> list[tuple[str, str]]:
    """(start | end, task id) of every task, in the order the run reported them."""
    return [(e["event"], e["task"]) for e in found if e.get("event") in ("start", "end")
            and e.get("task")]


def test_expand_before_the_switch_contract_once_after_all_three_never_after_a_failure(
        tmp_path, clean_targets):
    first, _, third = targets = clean_targets[:3]
    names = [t.host.name for t in targets]
    setup(tmp_path, targets)
    try:
        result, found = deploy(tmp_path, "v1")
        assert result.returncode == 0, result.stdout + result.stderr
        release = live(first)
        said = order(found)
        expand_end = said.index(("end", STEPS[0]))
        contract_start = said.index(("start", STEPS[1]))
        for name in names:  # expand before any switch; contract after every retire
            assert expand_end < said.index(("start", f"production/switch@{name}"))
            assert said.index(("end", f"production/retire@{name}")) < contract_start
            assert contract_start < said.index(("end", f"production/unlock@{name}"))
        # once each, on the first target; the expand saw the new release's own files
        assert logged(targets) == [[f"expand {release} v1", f"contract {release}"], [], []]
        assert [contracted(t) for t in targets] == [[release]] * 3
        assert [served(t) for t in targets] == ["200 v1"] * 3

        healthy(third, False)  # the third of three fails its health check
        result, found = deploy(tmp_path, "v2")
        assert result.returncode == 1, result.stdout + result.stderr
        ended = {e["task"]: e["status"] for e in found if e.get("event") == "end"}
        assert ended[f"production/health@{names[2]}"] == "failed"
        assert ended[STEPS[1]] == "skipped"
        new = live(first)
        assert new != release and [served(t) for t in targets] == ["200 v2", "200 v2", "200 v1"]
        assert logged(targets)[0] == [f"expand {release} v1", f"contract {release}",
                                      f"expand {new} v2"]  # expanded, never contracted
        assert [contracted(t) for t in targets] == [[release]] * 3
    finally:
        for target in targets:
            on(target, "rm", "-rf", FLAG, LOG)


def test_a_rollback_past_a_contracted_release_is_refused_unless_forced(tmp_path, clean_targets):
    targets = clean_targets[:3]
    setup(tmp_path, targets)
    try:
        for version in ("v1", "v2"):
            result, _ = deploy(tmp_path, version)
            assert result.returncode == 0, result.stdout + result.stderr
        old, new = logged(targets)[0][1].split()[1], live(targets[0])
        assert [contracted(t) for t in targets] == [[old, new]] * 3

        refused = otter(tmp_path, "rollback", "production")
        out = refused.stdout + refused.stderr
        assert refused.returncode == 1, out
        for target in targets:
            assert f"{target.host.name}: rollback to {old} refused: step migrate-contract " \
                   f"contracted release {new} at " in out
        assert "`otter rollback production --force` rolls back anyway" in out
        assert [served(t) for t in targets] == ["200 v2"] * 3  # nothing changed
        assert [live(t) for t in targets] == [new] * 3

        forced = otter(tmp_path, "rollback", "production", "--force")
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert "--force: rolling back past a contract: step migrate-contract" in forced.stdout
        assert [served(t) for t in targets] == ["200 v1"] * 3
        # a rollback runs the expand (in the release it starts: v1, under a new id), never
        # the contract
        assert logged(targets)[0][2:] == [f"expand {new} v2", f"contract {new}",
                                          f"expand {live(targets[0])} v1"]

        # migration(rollback=False): the rollback (back to v2) skips the expand, and says so
        setup(tmp_path, targets, rollback=False)
        again = otter(tmp_path, "rollback", "production")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "migrate-expand: skipped in a rollback (rollback=False)" in again.stdout
        assert [served(t) for t in targets] == ["200 v2"] * 3
        assert len(logged(targets)[0]) == 5  # no new expand line
    finally:
        for target in targets:
            on(target, "rm", "-rf", FLAG, LOG)
