"""Snapshots tied to releases on real hosts: a docker named volume (the live container paused
for the copy) and a systemd unit's data folder (a `before` command run in the live release)
are snapshotted before each release, listed by `otter snapshots`, restored by `otter rollback
--with-data` after a release that changed them, and shown by `otter status`; `keep` prunes
the oldest; without --yes and without a terminal the rollback refuses and changes nothing."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.integration.deploy import (APP_TAG, events, on, otter, otter_env, served,
                                      write_app)
from tests.integration.test_systemd_deploy import OTTERFILE as SYSTEMD_OTTERFILE, \
    write_project

DOCKER_OTTERFILE = '''
from otterfile import *

HOSTS = {hosts!r}

@artifact
def web():
    return build(path="app", command={build!r})

@runtime
def box():
    return docker(port=8080, volumes=["appdata:/data"],
                  command=["/bin/busybox", "sh", "-c", {command!r}])

@target
def servers():
    return [ssh(address, identity_file=key, known_hosts=known) for address, key, known in HOSTS]

@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets=[servers], domains=["app.test"],
                      proxy=caddy(tls="off"), keep_releases=5, snapshots=Snapshots(keep=2),
                      health_check=HealthCheck(path="/health", timeout_seconds=10))
'''
# each start appends its version to the volume, then serves
SERVE = ('trap "exit 0" TERM INT; busybox cat /www/index.html >> /data/starts; '
         'busybox httpd -f -p 8080 -h /www & wait $!')
VOLUME = "/var/lib/docker/volumes/appdata/_data"
DATA = "/var/lib/otter/production/data"


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def live(target) -> str:
    return json.loads(on(target, "cat", "/var/lib/otter/production/releases.json").stdout)["live"]


def listed(project) -> list[dict]:
    return [e for e in events(ok(otter(project, "--json", "snapshots", "production")))
            if e["event"] == "snapshot"]


def infos(done: subprocess.CompletedProcess, stage: str) -> list[dict]:
    return [e for e in events(done.stdout) if e.get("stage") == stage and
            e.get("event") == "info"]


def refuses_without_terminal(project, target, path: str) -> None:
    """No --yes and stdin no terminal: exit 2, and the data and the live release stay."""
    before, release = on(target, "cat", path).stdout, live(target)
    done = subprocess.run([sys.executable, "-m", "otterfile", "-f",
                           str(project / "Otterfile.py"), "rollback", "production",
                           "--with-data"], capture_output=True, text=True, timeout=120,
                          env=otter_env(), cwd=project, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--yes" in done.stderr and "nothing was changed" in done.stderr
    assert on(target, "cat", path).stdout == before
    assert live(target) == release


def test_a_docker_volume_is_snapshotted_restored_and_pruned(tmp_path, clean_target):
    hosts = [(clean_target.host.address, clean_target.host.identity_file,
              clean_target.host.known_hosts)]
    (tmp_path / "Otterfile.py").write_text(DOCKER_OTTERFILE.format(
        hosts=hosts, build=f"docker build -q -t {APP_TAG} .", command=SERVE))
    releases = []
    for version in ("v1", "v2"):
        write_app(tmp_path / "app", version)
        done = otter(tmp_path, "--json", "run", "production")
        ok(done)
        releases.append(live(clean_target))
    said = infos(done, "snapshot")
    assert said and said[0]["how"] == "paused" and said[0]["bytes"] > 0, said
    assert "paused" in said[0]["message"]
    assert on(clean_target, "cat", f"{VOLUME}/starts").stdout == "v1\nv2\n"
    assert served(clean_target) == "200 v2"
    [snap] = listed(tmp_path)
    assert (snap["before"], snap["data_of"], snap["restored_by_rollback"]) == \
        (releases[1], releases[0], True)
    # `otter status` shows them too: a row in its table, the same record in --json
    shown = ok(otter(tmp_path, "status", "production"))
    assert f"{releases[1]} (rollback --with-data)  {releases[0]}" in shown, shown
    [status] = [e for e in events(ok(otter(tmp_path, "--json", "status", "production")))
                if e["event"] == "status"]
    assert [(s["before"], s["data_of"], s["restored_by_rollback"], s["how"])
            for s in status["snapshots"]] == [(releases[1], releases[0], True, "paused")]
    assert status["previews"] == [] and status["errors"] == []

    refuses_without_terminal(tmp_path, clean_target, f"{VOLUME}/starts")
    rolled = otter(tmp_path, "--json", "rollback", "production", "--with-data", "--yes")
    ok(rolled)
    assert infos(rolled, "restore"), rolled.stdout
    assert served(clean_target) == "200 v1"  # a release of v1's digest again, a new id
    # v2's line is gone: the data is as before v2 started, then v1 started again
    assert on(clean_target, "cat", f"{VOLUME}/starts").stdout == "v1\nv1\n"

    for version in ("v3", "v4"):  # keep=2: the snapshot before v2 goes
        write_app(tmp_path / "app", version)
        ok(otter(tmp_path, "run", "production"))
        releases.append(live(clean_target))
    assert [s["before"] for s in listed(tmp_path)] == releases[2:]
    names = on(clean_target, "ls", "/var/lib/otter/production/snapshots").stdout.split()
    assert names == releases[2:]


BEFORE = f"sh -c 'cp {DATA}/starts {DATA}/dump && id -un >> {DATA}/dump'"


def test_a_systemd_data_folder_is_restored_after_a_release_changed_it(tmp_path, clean_target):
    write_project(tmp_path, [clean_target], "v1")
    otterfile = tmp_path / "Otterfile.py"
    text = otterfile.read_text().replace(
        "keep_releases=3,", f"keep_releases=3, snapshots=Snapshots(keep=3, before={BEFORE!r}),")
    otterfile.write_text(text)
    assert "Snapshots(" in text and SYSTEMD_OTTERFILE
    ok(otter(tmp_path, "run", "production"))
    first = live(clean_target)
    write_project(tmp_path, [clean_target], "v2")
    otterfile.write_text(otterfile.read_text().replace(
        "keep_releases=3,", f"keep_releases=3, snapshots=Snapshots(keep=3, before={BEFORE!r}),"))
    done = otter(tmp_path, "--json", "run", "production")
    ok(done)
    said = infos(done, "snapshot")
    assert said and said[0]["how"] == "before", said
    assert on(clean_target, "cat", f"{DATA}/starts").stdout == "v1\nv2\n"
    # the before command ran as the service's user, in the live release (v1)
    assert on(clean_target, "cat", f"{DATA}/dump").stdout == "v1\notter-production\n"

    refuses_without_terminal(tmp_path, clean_target, f"{DATA}/starts")
    ok(otter(tmp_path, "rollback", "production", "--with-data", "--yes"))
    assert live(clean_target) != first  # v1's artifact started again: a new release id
    assert served(clean_target).startswith("200 v1 ")
    assert on(clean_target, "cat", f"{DATA}/starts").stdout == "v1\nv1\n"
    assert on(clean_target, "cat", f"{DATA}/dump").stdout == "v1\notter-production\n"
    owner = on(clean_target, "stat", "-c", "%U %a", DATA).stdout.split()
    assert owner == ["otter-production", "750"]


def test_a_paused_systemd_release_serves_again_when_the_next_one_fails(tmp_path, clean_target):
    write_project(tmp_path, [clean_target], "v1")
    otterfile = tmp_path / "Otterfile.py"

    def with_snapshots() -> None:
        otterfile.write_text(otterfile.read_text().replace(
            "keep_releases=3,", "keep_releases=3, snapshots=Snapshots(),"))
    with_snapshots()
    ok(otter(tmp_path, "run", "production"))
    write_project(tmp_path, [clean_target], "v2", crash=True)
    with_snapshots()
    done = otter(tmp_path, "--json", "run", "production")
    assert done.returncode == 1, done.stdout + done.stderr
    said = infos(done, "snapshot")
    assert said and said[0]["how"] == "paused", said
    # v1 was frozen for the copy and thawed: it answers, and its unit is not frozen
    assert served(clean_target).startswith("200 v1 ")
    unit = f"otter-production@{live(clean_target)}.service"
    state = on(clean_target, "systemctl", "show", "-p", "FreezerState", "--value", unit)
    assert state.stdout.strip() in ("running", ""), state.stdout
    [snap] = listed(tmp_path)
    assert snap["data_of"] == live(clean_target) and snap["restored_by_rollback"] is False
