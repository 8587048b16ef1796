"""Untrusted archives and state on a real host: a 1 MB gzip that grows to 1 GiB is stopped at
the systemd runtime's limit while the live release serves and nothing half-unpacked stays;
BusyBox tar first on a target's PATH is named with what to install; `otter remove` leaves an
image that only a tampered releases.json names."""
from __future__ import annotations

import hashlib
import json

from tests.archives import gzip_bomb
from tests.integration.deploy import on, otter, write_app
from tests.integration.test_systemd_deploy import (GREETING, RELEASES, answer, releases,
                                                    units, write_project)

V1 = f"200 v1 {GREETING} port=N"


def deployed_v1(project, one) -> str:
    write_project(project, one, "v1")
    done = otter(project, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    (target,) = one
    assert answer(target) == V1
    (live,) = releases(target)
    return live


def untouched(target, live: str) -> None:
    """The live release serves and is all there is: no other unit, no (hidden) stage."""
    assert answer(target) == V1
    assert units(target) == [f"otter-production@{live}.service"]
    assert on(target, "ls", "-A", RELEASES).stdout.split() == [live]


def test_a_gzip_bomb_is_stopped_at_the_limit_and_nothing_stays(tmp_path, clean_targets):
    one = clean_targets[:1]
    (target,) = one
    live = deployed_v1(tmp_path, one)
    bomb = gzip_bomb(1 << 30)  # 1 GiB of zeros
    assert len(bomb) < 1_100_000
    (tmp_path / "app" / "bomb.tgz").write_bytes(bomb)
    write_project(tmp_path, one, "v2", build="cp bomb.tgz app.tar.gz")
    refused = otter(tmp_path, "run", "production")
    said = refused.stdout + refused.stderr
    assert refused.returncode == 1, said
    artifact = hashlib.sha256(bomb).hexdigest()[:12]
    assert "servers: starting the release failed (exit 1): otter: refusing the " \
        f"artifact {artifact}: it unpacks to more than 64.0 MiB (67108864 bytes), the " \
        f"default limit: 20 times its {len(bomb)} bytes, at least 64 MiB, at most 10 GiB; " \
        "raise it with systemd(max_unpacked=...)" in said, said
    untouched(target, live)
    assert int(on(target, "du", "-sm", RELEASES).stdout.split()[0]) < 5

    write_project(tmp_path, one, "v2", build="cp bomb.tgz app.tar.gz")  # a limit of its own
    otterfile = tmp_path / "Otterfile.py"
    otterfile.write_text(otterfile.read_text().replace("port=8080,",
                                                       'port=8080, max_unpacked="100MB",'))
    limited = otter(tmp_path, "run", "production")
    assert limited.returncode == 1 and "it unpacks to more than 95.3 MiB (100000000 bytes), " \
        "the limit systemd(max_unpacked=...) sets" in limited.stdout + limited.stderr
    untouched(target, live)


def test_busybox_tar_on_a_target_is_named(tmp_path, clean_targets):
    one = clean_targets[:1]
    (target,) = one
    live = deployed_v1(tmp_path, one)
    if not on(target, "test", "-x", "/bin/busybox").ok:
        installed = on(target, "sh", "-c", "apt-get install -y -q busybox >/dev/null 2>&1 || "
                       "{ apt-get update -q && apt-get install -y -q busybox; }")
        assert installed.ok, installed.stderr
    assert on(target, "ln", "-s", "/bin/busybox", "/usr/local/bin/tar").ok  # first on PATH
    try:
        write_project(tmp_path, one, "v2")
        refused = otter(tmp_path, "run", "production")
        said = refused.stdout + refused.stderr
        assert refused.returncode == 1, said
        assert "is a tar archive, and /usr/local/bin/tar is BusyBox tar (tar (busybox) " in said
        assert "install it (Debian: apt-get install tar; Alpine: apk add tar) and put it " \
            "first on PATH" in said
        untouched(target, live)
    finally:
        assert on(target, "rm", "-f", "/usr/local/bin/tar").ok
    again = otter(tmp_path, "run", "production")  # GNU tar again: the same artifact deploys
    assert again.returncode == 0, again.stdout + again.stderr
    assert answer(target) == f"200 v2 {GREETING} port=N"


FOREIGN_TAG = "otter-it-foreign:1"  # an image on the target otter never loaded


def test_remove_keeps_an_image_only_a_tampered_releases_json_names(tmp_path, clean_targets):
    from tests.integration.deploy import write_otterfile
    one = clean_targets[:1]
    (target,) = one
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, one)
    done = otter(tmp_path, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    state_file = "/var/lib/otter/production/releases.json"
    state = json.loads(on(target, "cat", state_file).stdout)
    (mine,) = [r["digest"] for r in state["releases"]]
    records = on(target, "ls", "/var/lib/otter/artifacts/started/production").stdout.split()
    assert records == [mine.split(":")[1]]  # the start wrote the store's record

    made = on(target, "sh", "-c", f"tar cf - -T /dev/null | docker import - {FOREIGN_TAG}")
    assert made.ok, made.stderr
    foreign = on(target, "docker", "image", "inspect", "-f", "{{.Id}}", FOREIGN_TAG)
    rid = "20200101T000000-ffffffff"
    state["releases"].insert(0, {"id": rid, "digest": foreign.stdout.strip(), "image": "",
                                 "status": "retired", "port": None,
                                 "instance": f"otter-production-{rid}"})
    written = on(target, "sh", "-c", f"printf '%s' '{json.dumps(state)}' > {state_file}")
    assert written.ok, written.stderr

    removed = otter(tmp_path, "remove", "production", "--yes")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "1 (kept: 1 not started here by otter)" in removed.stdout, removed.stdout
    assert on(target, "docker", "image", "inspect", FOREIGN_TAG).ok  # still there
    assert not on(target, "docker", "image", "inspect", mine).ok  # otter's own: removed
    assert not on(target, "test", "-e", "/var/lib/otter/artifacts/started/production").ok
    on(target, "docker", "rmi", FOREIGN_TAG)
