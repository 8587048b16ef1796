"""A rolling deploy with a canary on the three test hosts: `parallel=1, canary=True` puts
each target in its own batch. The health check reads a file from the target (a volume), so
the test can make it fail on the second batch's target only: the canary is on v2, the
failing target keeps v1 live, the third was never touched; with on_failure="rollback" the
canary goes back to v1 through the health gate."""
from __future__ import annotations

import pytest

from tests.integration.deploy import APP_TAG, DOMAIN, on, otter, served, write_app

FLAG = "/var/lib/otter-it-rolling"  # on each target; mounted at /www/flag in the app
OTTERFILE = '''
from otterfile import *

HOSTS = {hosts!r}

@artifact
def web():
    return build(path="app", command="docker build -q -t {app_tag} .")

@runtime
def box():
    return docker(port=8080, volumes=["{flag}:/www/flag"])

@target
def servers():
    return [ssh(address, identity_file=key, known_hosts=known) for address, key, known in HOSTS]

@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets=[servers], domains=["{domain}"],
                      proxy=caddy(tls="off"), parallel=1, canary=True,
                      on_failure="{on_failure}",
                      health_check=HealthCheck(path="/flag/ok", timeout_seconds=6))
'''


def healthy(target, yes: bool) -> None:
    """Make the app's health check on `target` answer 200 (the file is there) or 404."""
    script = f"mkdir -p {FLAG} && echo ok > {FLAG}/ok" if yes else f"rm -f {FLAG}/ok"
    assert on(target, "sh", "-c", script).exited == 0


def versions(target) -> set[str]:
    """The app versions of every container on `target`, running or not (a label of the
    test image)."""
    result = on(target, "docker", "ps", "-a", "--filter", "label=otter.test=1", "--format",
                '{{.Label "otter.test.version"}}')
    assert result.exited == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize("on_failure", ["stop", "rollback"])
def test_a_failure_in_the_second_batch_stops_the_third(tmp_path, clean_targets, on_failure):
    canary, failing, third = clean_targets[:3]
    hosts = [(t.host.address, t.host.identity_file, t.host.known_hosts) for t in clean_targets]
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(
        hosts=hosts, app_tag=APP_TAG, flag=FLAG, domain=DOMAIN, on_failure=on_failure))
    names = [t.host.name for t in clean_targets]
    try:
        for target in clean_targets:
            healthy(target, True)
        write_app(tmp_path / "app", "v1")
        first = otter(tmp_path, "run", "production")
        assert first.returncode == 0, first.stdout + first.stderr
        for index, name in enumerate(names, 1):
            kind = " (canary)" if index == 1 else ""
            assert f"production: batch {index} of 3{kind}: {name}\n" in first.stdout
        assert [served(t) for t in clean_targets] == ["200 v1"] * 3

        healthy(failing, False)
        write_app(tmp_path / "app", "v2")
        second = otter(tmp_path, "run", "production")
        out = second.stdout + second.stderr
        assert second.returncode == 1, out
        assert f"production: batch 2 of 3: {names[1]}\n" in second.stdout
        assert "batch 3 of 3" not in second.stdout
        assert f"not started (after a failure): {names[2]}" in second.stdout
        assert served(failing) == "200 v1"  # the failed release was removed; v1 kept serving
        assert served(third) == "200 v1" and versions(third) == {"v1"}  # never touched
        if on_failure == "stop":
            assert served(canary) == "200 v2"
            assert "rolling back" not in out
        else:
            assert f"production: a target failed; rolling back {names[0]} to the release " \
                   "live before this run (through the health gate)" in second.stdout
            assert served(canary) == "200 v1"
            # the rollback's own summary comes last, and it succeeded
            assert second.stdout.rstrip().splitlines()[-1].startswith("done in ")
    finally:
        for target in clean_targets:
            on(target, "rm", "-rf", FLAG)
