"""Custom steps, `--only` and strategy="recreate" on the real test hosts."""
from __future__ import annotations

import subprocess
import sys

from tests.integration.deploy import (on, otter, otter_env, served, write_app,
                                      write_otterfile)

STEPS = '''
import os

@step(deployment="production", before="switch", on="once")
def migrate(ctx):
    ctx.run("echo {release} >> /tmp/otter-it-migrated")
    if os.environ.get("OTTER_IT_FAIL"):
        ctx.run("echo migration broke >&2; exit 3")

@step(deployment="production", after="switch")
def configure(ctx):
    ctx.template("conf.j2", "/tmp/otter-it-conf", mode=0o640, greeting="hi")
    ctx.put("conf.j2", "/tmp/otter-it-raw")
    out = ctx.run("cat /tmp/otter-it-conf")
    ctx.log("conf says " + out.stdout.strip())

@step(deployment="production", after="acquire", on="controller")
def announce(ctx):
    ctx.run("echo announcing {deployment}")
'''


def migrated(targets) -> list[int]:
    return [len(on(t, "sh", "-c", "cat /tmp/otter-it-migrated 2>/dev/null || true")
                .stdout.split()) for t in targets]


def test_steps_in_every_mode_and_a_failure_before_switch(tmp_path, two):
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, two, extra=STEPS)
    (tmp_path / "conf.j2").write_text("{{ greeting }} {{ deployment }} {{ port }}\n")
    for t in two:
        on(t, "rm", "-f", "/tmp/otter-it-migrated")
    first = otter(tmp_path, "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(migrated(two)) == [0, 1]  # on="once": exactly one target
    assert "announcing production" in first.stdout
    for t in two:
        conf = on(t, "stat", "-c", "%a", "/tmp/otter-it-conf").stdout.strip()
        text = on(t, "cat", "/tmp/otter-it-conf").stdout
        assert conf == "640" and text.startswith("hi production 2")  # a port of 127.0.0.1
        assert on(t, "cat", "/tmp/otter-it-raw").stdout.startswith("{{ greeting }}")
        assert f"{t.host.name}" in first.stdout and "conf says hi production" in first.stdout
    write_app(tmp_path / "app", "v2")
    broken = subprocess.run([sys.executable, "-m", "otterfile", "run", "production"],
                            capture_output=True, text=True, timeout=240, cwd=tmp_path,
                            env=otter_env(OTTER_IT_FAIL="1"))
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "migration broke" in broken.stdout + broken.stderr
    assert [served(t) for t in two] == ["200 v1", "200 v1"]  # the old keeps serving
    for t in two:  # the new release was removed
        names = on(t, "docker", "ps", "-a", "--format", "{{.Names}}").stdout.split()
        assert len([n for n in names if n.startswith("otter-production-")]) == 1, names
    # --only: the step alone, on the live release, nothing started or switched
    before = migrated(two)
    only = otter(tmp_path, "run", "production", "--only", "migrate")
    assert only.returncode == 0, only.stdout + only.stderr
    assert sum(migrated(two)) == sum(before) + 1
    assert [served(t) for t in two] == ["200 v1", "200 v1"]
    unknown = otter(tmp_path, "run", "production", "--only", "nope")
    assert unknown.returncode == 2 and "its steps: migrate, configure, announce" in \
        unknown.stdout + unknown.stderr


SERVICE = '''
from otterfile import *

HOSTS = {hosts!r}

@target
def servers():
    return [ssh(address, identity_file=key, known_hosts=known) for address, key, known in HOSTS]

@deployment
def store():
    return Deployment(artifact=build(path="app", command="docker build -q -t otter-it-store ."),
                      runtime=docker(port=8080, volumes=["otter-it-store:/data"]),
                      targets=[servers], strategy="recreate")
'''


def test_recreate_keeps_data_across_a_redeploy(tmp_path, two):
    target = two[0]
    write_app(tmp_path / "app", "v1")
    hosts = [(target.host.name, target.host.identity_file, target.host.known_hosts)]
    (tmp_path / "Otterfile.py").write_text(SERVICE.format(hosts=hosts))
    on(target, "docker", "volume", "rm", "-f", "otter-it-store")
    first = otter(tmp_path, "run", "store")
    assert first.returncode == 0, first.stdout + first.stderr

    def container() -> str:
        names = on(target, "docker", "ps", "--format", "{{.Names}}").stdout.split()
        mine = [n for n in names if n.startswith("otter-store-")]
        assert len(mine) == 1, names
        return mine[0]
    first_container = container()
    on(target, "docker", "exec", first_container, "/bin/busybox", "sh", "-c",
       "echo row-1 >> /data/rows")
    # reached on the host's 127.0.0.1 at the runtime's port
    assert on(target, "sh", "-c", "curl -s http://127.0.0.1:8080/ || "
              "wget -qO- http://127.0.0.1:8080/").stdout.strip() == "v1"
    write_app(tmp_path / "app", "v2")
    second = otter(tmp_path, "run", "store")
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"stopped {first_container}" in second.stdout
    again = container()
    assert again != first_container
    rows = on(target, "docker", "exec", again, "/bin/busybox", "cat", "/data/rows").stdout
    assert rows.split() == ["row-1"]
    noop = otter(tmp_path, "run", "store")
    assert noop.returncode == 0 and "nothing to do" in noop.stdout
    assert container() == again
    on(target, "docker", "rm", "-f", again)
    on(target, "docker", "volume", "rm", "-f", "otter-it-store")
