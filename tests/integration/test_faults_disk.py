"""A target's disk on real hosts: full in the middle of a ship (a small tmpfs where the bytes
land, filled once they flow), and too small before it (otter stops before sending, after
pruning what keep_releases allows). Where the bytes land: `docker load` writes the archive
to <DockerRootDir>/tmp first; the systemd runtime's store is /var/lib/otter/artifacts.
The live release serves throughout, nothing is half-written, the error names the host and
what happened, and the next run succeeds."""
from __future__ import annotations

import os
import re

import pytest

from tests.integration.deploy import DOMAIN, otter, served
from tests.integration.faulty import (DOCKER_TMP, Run, assert_intact, deployed_v1, image_id,
                                      padded_app, sh, shipping, snapshot)
from tests.testbed import faults
from tests.testbed.faults import RequestLoop

ARTIFACTS = "/var/lib/otter/artifacts"  # the systemd runtime's store is its sha256/ folder
MB = 1024 * 1024

SYSTEMD_OTTERFILE = '''
from otterfile import *

@artifact
def web():
    return build(path="app", command="tar czf app.tar.gz index.html health pad.bin",
                 output="app.tar.gz")

@runtime
def service():
    return systemd(command="python3 -m http.server --bind 127.0.0.1 {{port}}", port=8080,
                   env={{"GREETING": "hello", "APP_TOKEN": secret("APP_TOKEN")}})

@target
def servers():
    return [ssh({address!r}, identity_file={key!r}, known_hosts={known!r})]

@deployment
def production():
    return Deployment(artifact=web, runtime=service, targets=[servers], domains=["{domain}"],
                      proxy=caddy(tls="off"), keep_releases=2,
                      health_check=HealthCheck(path="/health", timeout_seconds=20))
'''


def systemd_app(project, target, version: str, megabytes: float = 0) -> None:
    """A static site served by python3's http.server from a release folder, with
    `megabytes` of random bytes (the tarball is about as big)."""
    app = project / "app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "index.html").write_text(version + "\n")
    (app / "health").write_text("ok\n")
    (app / "pad.bin").write_bytes(os.urandom(int(megabytes * MB)))
    host = target.host
    (project / "Otterfile.py").write_text(SYSTEMD_OTTERFILE.format(
        address=host.address, key=host.identity_file, known=host.known_hosts, domain=DOMAIN))


def deploy(project) -> Run:
    run = Run(project, "run", "production")
    assert run.finish() == 0, run.text
    return run


@pytest.fixture
def tmpfs(clean_target):
    """mount(path, size): a small file system on the test host, gone after the test."""
    mounted: list[str] = []

    def mount(path: str, size: str) -> None:
        faults.mount_tmpfs(clean_target, path, size)
        mounted.append(path)
    yield mount
    faults.heal(clean_target)
    for path in mounted:
        faults.unmount(clean_target, path)


@pytest.mark.parametrize("runtime", ["docker", "systemd"])
def test_disk_full_mid_ship(tmp_path, clean_target, tmpfs, runtime):
    """The file system where the shipped bytes land fills up once they flow (another
    process took the room): the ship fails naming the host and the full disk, the partial
    archive is gone, and once there is room the next run succeeds."""
    t, where = clean_target, DOCKER_TMP if runtime == "docker" else ARTIFACTS
    if runtime == "docker":
        deployed_v1(tmp_path, [t])
        tmpfs(where, "64m")
        padded_app(tmp_path / "app", "v2")
    else:
        tmpfs(where, "64m")  # the store lives there from the first release on
        systemd_app(tmp_path, t, "v1")
        deploy(tmp_path)
        systemd_app(tmp_path, t, "v2", megabytes=16)
    before = snapshot(t)
    faults.throttle(t, "1mb/s")  # the ship lasts: the disk fills in its middle
    with RequestLoop(t.url("/"), host=DOMAIN, max_seconds=240) as loop:
        run = Run(tmp_path, "run", "production")
        run.wait_for(shipping(t))
        faults.fill(t, where, leave=256 * 1024)
        assert run.finish() == 1, run.text
    assert loop.summary.failed == 0 and set(loop.summary.bodies) == {"v1"}, loop.summary
    assert run.ends(t).get("ship") == "failed" and run.ends(t).get("start") == "skipped"
    error = run.failure(t, "ship")
    assert run.name_of(t) in error and "no space left on device" in error.lower(), error
    assert_intact(t, before)  # no partial archive in docker's tmp or the store
    faults.unfill(t, where)
    faults.heal(t)
    again = otter(tmp_path, "run", "production", "--lock-wait", "60")
    assert again.returncode == 0, again.stdout + again.stderr
    assert served(t).startswith("200 v2")
    if runtime == "docker":
        assert image_id() in sh(t, "docker images -q --no-trunc")


def test_ship_stops_before_sending_when_the_target_lacks_room(tmp_path, clean_target, tmpfs):
    """Docker's load folder has 8 MB, the new layers need 16: the run stops at ship before
    a byte moves, says so naming the host, and the live release serves on."""
    t = clean_target
    deployed_v1(tmp_path, [t])
    tmpfs(DOCKER_TMP, "8m")
    padded_app(tmp_path / "app", "v2")
    before = snapshot(t)
    with RequestLoop(t.url("/"), host=DOMAIN, max_seconds=240) as loop:
        run = Run(tmp_path, "run", "production")
        assert run.finish() == 1, run.text
    assert loop.summary.failed == 0 and set(loop.summary.bodies) == {"v1"}, loop.summary
    name = run.name_of(t)
    assert re.fullmatch(rf"{name}: needs 16\.\d MB, 8\.0 MB free on {DOCKER_TMP}: nothing was "
                        r"sent; make room there or lower keep_releases", run.failure(t, "ship"))
    shipped = [e for e in run.events if e.get("stage") == "ship" and
               (e.get("event") == "progress" or "bytes" in e)]
    assert shipped == [] and run.ends(t).get("start") == "skipped"
    assert_intact(t, before)  # not even a partial image
    faults.unmount(t, DOCKER_TMP)
    again = otter(tmp_path, "run", "production")
    assert again.returncode == 0, again.stdout + again.stderr
    assert served(t) == "200 v2"


def test_pruning_what_keep_releases_allows_makes_room_first(tmp_path, clean_target, tmpfs):
    """A 16 MB store holding two 6 MB releases (keep_releases=2): the third needs the room
    of the oldest, which goes first; a 20 MB release does not fit even then: refused before
    sending, the live release serving."""
    t = clean_target
    tmpfs(ARTIFACTS, "16m")
    for version in ("v1", "v2"):
        systemd_app(tmp_path, t, version, megabytes=6)
        deploy(tmp_path)
    systemd_app(tmp_path, t, "v3", megabytes=6)
    third = deploy(tmp_path)
    assert any(m.startswith("pruned 1 old release(s) and 1 artifact(s) to make room")
               for m in third.infos(t, "ship")), third.text
    assert served(t) == "200 v3"
    assert len(sh(t, f"ls {ARTIFACTS}/sha256").split()) == 2  # v2 (kept) and v3

    systemd_app(tmp_path, t, "v4", megabytes=20)
    with RequestLoop(t.url("/"), host=DOMAIN, max_seconds=240) as loop:
        run = Run(tmp_path, "run", "production")
        assert run.finish() == 1, run.text
    assert loop.summary.failed == 0 and set(loop.summary.bodies) == {"v3"}, loop.summary
    error = run.failure(t, "ship")
    assert re.fullmatch(rf"{run.name_of(t)}: needs 20\.\d MB, \d+\.\d MB free on "
                        rf"{ARTIFACTS}/sha256 \(after pruning 1 old artifact\(s\)\): nothing "
                        r"was sent; make room there or lower keep_releases", error), error
    assert len(sh(t, f"ls {ARTIFACTS}/sha256").split()) == 1  # v3 alone: v2 made room
    assert [e for e in run.events if e.get("event") == "progress"] == []
    assert served(t) == "200 v3"
