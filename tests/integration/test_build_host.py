"""build(on=TARGET) for real: the app is built on target3 from a git repository there, and
streamed through the controller's SSH connections to the other targets, never stored on
the controller; target3, a deploy target too, takes no transfer. A file built there reaches
the targets the same way, or with via="url" from target3 over HTTP on the hosts' network."""
from __future__ import annotations

import io
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from otterfile.command import cmd
from otterfile.executors import executor_for
from tests.integration.deploy import events, otter, served, write_app

pytestmark = pytest.mark.integration

REPO = "/srv/otter-it-build-host.git"
CACHE = "/var/cache/otter"

OTTERFILE = '''
from otterfile import *

@artifact
def web():
    return build(repo={repo!r}, ref="main", command={command!r}, on="builder"{extra})

@runtime
def box():
    return {runtime}

@target("builder")
def builder():
    return ssh({builder[0]!r}, identity_file={builder[1]!r}, known_hosts={builder[2]!r})

@target
def servers():
    return [ssh(a, identity_file=k, known_hosts=n) for a, k, n in {servers!r}]

@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets={deploy_to}, domains=["app.test"],
                      proxy=caddy(tls="off"), health_check=HealthCheck(path="/health"))
'''


def spelled(target) -> tuple:
    return (target.host.name, target.host.identity_file, target.host.known_hosts)


def put_repo(target, app: Path, version: str) -> None:
    """A bare git repository of `app` at `version` on the build host, at REPO."""
    work = app.parent / "work"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    subprocess.run(["cp", "-r", str(app), str(work)], check=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                 git + ["commit", "-qm", version]):
        subprocess.run(argv, cwd=work, check=True, capture_output=True)
    bare = app.parent / "bare.git"
    subprocess.run(["rm", "-rf", str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as archive:
        archive.add(bare, arcname=".")
    packed.seek(0)
    executor = executor_for(target.host)
    try:
        result = executor.run(cmd("sh", "-c", f"rm -rf {REPO} && mkdir -p {REPO} && "
                                  f"tar -x -C {REPO}"), stdin=packed)
        assert result.ok, result.stderr
    finally:
        executor.close()


def run_on(target, script: str):
    executor = executor_for(target.host)
    try:
        return executor.run(cmd("sh", "-c", script))
    finally:
        executor.close()


@pytest.fixture
def build_host(clean_targets):
    """target3 as the build host; its repository, build cache and image go afterwards."""
    yield clean_targets[2]
    run_on(clean_targets[2], f"rm -rf {REPO} {CACHE}")


def ships(stdout: str) -> dict[str, str]:
    """What each target's ship stage said: `sent N bytes` or `artifact already there`."""
    return {e["host"]: e["message"] for e in events(stdout)
            if e.get("stage") == "ship" and e.get("event") == "info"}


def test_docker_image_built_on_target3_is_streamed_to_the_others(tmp_path, clean_targets,
                                                                  build_host):
    tag = f"otter-it-build-host:{uuid.uuid4().hex[:8]}"
    app = write_app(tmp_path / "app", "built on target3")
    put_repo(build_host, app, "v1")
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(
        repo=REPO, command=f"docker build -q -t {tag} .", extra="", runtime="docker(port=8080)",
        builder=spelled(build_host), servers=[spelled(t) for t in clean_targets[:2]],
        deploy_to='[servers, "builder"]'))

    planned = otter(tmp_path, "plan", "production")
    assert planned.returncode == 0, planned.stderr
    where_built = planned.stdout.split("\n  acquire")[0].splitlines()[-1]
    assert where_built == "builder:"  # the build is shown on the build host, by its name

    done = otter(tmp_path, "--json", "run", "production", timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    for target in clean_targets:
        assert served(target) == "200 built on target3"
    said = ships(done.stdout)
    for target in clean_targets[:2]:
        assert said[target.host.name].startswith("sent "), said
        assert int(said[target.host.name].split()[1]) > 100_000  # busybox: the whole image
    assert said["builder"] == "artifact already there"  # built there

    made = run_on(build_host, f"docker image inspect --format '{{{{.Id}}}}' {tag}")
    assert made.ok and made.stdout.startswith("sha256:")
    on_controller = subprocess.run(["docker", "image", "inspect", tag], capture_output=True)
    assert on_controller.returncode != 0  # streamed through, never loaded or kept here
    assert not (tmp_path / ".otter" / "cache" / "artifacts").exists()

    again = otter(tmp_path, "--json", "run", "production", timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert ships(again.stdout) == {}  # a no-op, decided on each target in its lock's trip
    assert again.stdout.count("decided on the target, which released the lock") == 3
    run_on(build_host, f"docker rmi {tag} >/dev/null 2>&1; true")


@pytest.mark.parametrize("via", ["controller", "url"])
def test_file_built_on_target3_is_deployed_under_systemd(tmp_path, clean_targets, build_host,
                                                         via):
    app = tmp_path / "app"
    app.mkdir()
    (app / "index.html").write_text("a file built on target3\n")
    (app / "health").write_text("ok\n")
    put_repo(build_host, app, "v1")
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(
        repo=REPO, command="mkdir -p dist && tar -czf dist/site.tar.gz index.html health",
        extra=f', output="dist/site.tar.gz", via="{via}"',
        runtime='systemd(command="python3 -m http.server {port} --bind 127.0.0.1", port=8080)',
        builder=spelled(build_host), servers=[spelled(t) for t in clean_targets[:2]],
        deploy_to="[servers]"))
    done = otter(tmp_path, "--json", "run", "production", timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    said = ships(done.stdout)
    for target in clean_targets[:2]:
        assert served(target) == "200 a file built on target3"
        if via == "url":  # from the build host over its network, checked by digest there
            assert said[target.host.name] == "downloaded by the target itself", said
        else:
            assert said[target.host.name].startswith("sent "), said
    serving = run_on(build_host, "pgrep -f 'Threading[H]TTPServer' || true")
    assert serving.ok and serving.stdout.strip() == ""  # the one-off server is gone
    kept = run_on(build_host, f"ls {CACHE}/build/artifacts/sha256")
    assert kept.ok and len(kept.stdout.split()) == 1  # the file stays in the host's store
    assert not (tmp_path / ".otter" / "cache" / "artifacts").exists()
