"""registry(...) and build(push=...) on real test hosts, against a real image registry
(Debian's docker-registry) that the test starts on target3. The controller reaches it as
127.0.0.1:50S3 (S: the testbed's slot; published; Docker treats 127.0.0.0/8 as plain HTTP), the targets as
target3:5000 (insecure in their docker and podman settings).

Deployed to target1 and target2: v1 by tag, both running the same digest; a redeploy pulls
nothing; v2 pushed under the same tag is deployed; a tag that does not exist, a registry
nobody serves and a wrong password fail at ship with the reference and the registry named,
and the live release keeps serving. With a login, the password never shows and never stays
on a target. The push flow builds on the controller, pushes, and the targets pull by digest.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
import pytest

from otterfile.command import Command
from otterfile.commands import container
from otterfile.executors import executor_for
from tests.integration.deploy import (events, on, otter, otter_env, served, write_app,
                                      write_otterfile)
from tests.testbed.hosts import SLOT

pytestmark = pytest.mark.integration

BUILD_LINE = re.compile(r"build\(.*\)\n")
PUSH_AS = f"127.0.0.1:50{SLOT}3/app"  # the registry on target3, as the controller reaches it
PULL_AS = "target3:5000/app"  # the same registry, as the targets reach it
UNIT = "otter-test-registry"  # an otter-* unit: the testbed's reset stops it
FOLDER = "/run/otter-test-registry"
USER, PASSWORD = "otter", "registry-pass-7f3a9c"
CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: :5000
"""
AUTH = f"""auth:
  htpasswd:
    realm: otter-test
    path: {FOLDER}/htpasswd
"""
# the registry wants bcrypt; Debian's libxcrypt makes it through python3's crypt module
HASH = ("import crypt, sys; print(sys.argv[1] + ':' + "
        "crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))")


def sh(target, script: str, *args: str, stdin: str | None = None):
    executor = executor_for(target.host)
    try:
        return executor.run(Command(("sh", "-c", script, "sh", *args), stdin=stdin))
    finally:
        executor.close()


def start_registry(target, *, auth: bool) -> None:
    """A registry on `target`:5000 (Debian's docker-registry with a config of the test's:
    the package's own asks for an htpasswd file it does not ship)."""
    config = CONFIG + (AUTH if auth else "")
    started = sh(target, f'''set -e
mkdir -p {FOLDER}; cat > {FOLDER}/config.yml
if [ -n "$1" ]; then python3 -W ignore -c "$3" "$1" "$2" > {FOLDER}/htpasswd; fi
systemctl stop {UNIT} docker-registry >/dev/null 2>&1 || true
systemctl reset-failed {UNIT} >/dev/null 2>&1 || true
systemd-run --unit {UNIT} --uid docker-registry \
  /usr/bin/docker-registry serve {FOLDER}/config.yml''',
                 USER if auth else "", PASSWORD, HASH, stdin=config)
    assert started.ok, started.stderr
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"http://{PUSH_AS.split('/')[0]}/v2/", timeout=2).status_code \
                    in (200, 401):
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the registry never answered"
        time.sleep(0.2)


@pytest.fixture
def registry(clean_targets, tmp_path):
    """Start the registry on target3: registry(auth=False); yields the pushed tags."""
    target3, pushed = clean_targets[2], []

    def start(auth: bool = False):
        start_registry(target3, auth=auth)
        return pushed

    yield start
    sh(target3, f"systemctl stop {UNIT}; systemctl reset-failed {UNIT}; "
       "rm -rf /var/lib/docker-registry/*; true")
    listed = subprocess.run(["docker", "images", "--digests", "--format",
                             "{{.Repository}}@{{.Digest}}"], capture_output=True, text=True)
    refs = [r for r in listed.stdout.split() if r.startswith(f"{PUSH_AS}@sha256:")]
    if pushed or refs:  # the controller keeps none of what the tests pushed
        subprocess.run(["docker", "rmi", "--no-prune", *set(pushed), *refs], capture_output=True)


def push(image, tag: str, pushed: list, *, login: bool = False, tmp_path=None) -> str:
    """Push a controller image as PUSH_AS:TAG; returns the registry's digest.
    A login goes to a throwaway docker config (never the controller's own)."""
    ref = f"{PUSH_AS}:{tag}"
    subprocess.run(["docker", "tag", image.id, ref], check=True)
    pushed.append(ref)
    env = None
    if login:
        env = {"DOCKER_CONFIG": str(tmp_path / "docker-config"), "PATH": "/usr/bin:/bin"}
        subprocess.run(["docker", "login", "-u", USER, "--password-stdin", PUSH_AS.split("/")[0]],
                       input=PASSWORD, text=True, check=True, capture_output=True, env=env)
    done = subprocess.run(["docker", "push", ref], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return re.findall(r"digest: (sha256:[0-9a-f]{64})", done.stdout)[-1]


def pulling(project, targets, ref: str, *, runtime: str = "docker", login: bool = False):
    """The deploy tests' Otterfile with its artifact pulled from `ref`."""
    write_otterfile(project, targets, runtime=runtime)
    extra = ', username="otter", password=secret("REG_PASSWORD")' if login else ""
    text = (project / "Otterfile.py").read_text()
    (project / "Otterfile.py").write_text(
        BUILD_LINE.sub(f"registry({ref!r}{extra})\n", text, 1))


def run(project, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    """`otter` with REG_PASSWORD in its environment."""
    return subprocess.run([sys.executable, "-m", "otterfile", "-f",
                           str(project / "Otterfile.py"), *args], capture_output=True,
                          text=True, timeout=240, cwd=project,
                          env=otter_env(REG_PASSWORD=password))


def digests(targets, engine: str = "docker") -> list[str]:
    """The digest label of each target's running release container."""
    label = '{{.Label "otter.digest"}}' if engine == "docker" else \
        '{{index .Labels "otter.digest"}}'
    return [on(t, engine, "ps", "--filter", "label=otter.deployment=production",
               "--format", label).stdout.strip() for t in targets]


def ship_messages(stdout: str) -> list[str]:
    return [str(e.get("message", "")) for e in events(stdout) if e.get("stage") == "ship"]


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_pulled_by_tag_pinned_by_digest_redeployed_and_moved(tmp_path, two, registry,
                                                             app_image, engine):
    pushed = registry()
    v1 = push(app_image(f"registry-{engine}-v1"), "v1", pushed)
    pulling(tmp_path, two, f"{PULL_AS}:v1", runtime=engine)

    first = otter(tmp_path, "--json", "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    assert [served(t) for t in two] == [f"200 registry-{engine}-v1"] * 2
    assert digests(two, engine) == [v1, v1]  # the registry's digest, the same on both
    assert ship_messages(first.stdout).count("downloaded by the target itself") == 2

    again = otter(tmp_path, "--json", "run", "production")
    assert again.returncode == 0, again.stdout + again.stderr
    assert ship_messages(again.stdout).count("artifact already there") == 2  # nothing pulled
    assert sum("nothing to do" in str(e.get("message"))
               for e in events(again.stdout)) == 2, again.stdout

    v2 = push(app_image(f"registry-{engine}-v2"), "v1", pushed)  # the same tag, moved
    moved = otter(tmp_path, "--json", "run", "production")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert [served(t) for t in two] == [f"200 registry-{engine}-v2"] * 2
    assert v2 != v1 and digests(two, engine) == [v2, v2]

    status = otter(tmp_path, "--json", "status", "production")
    assert status.returncode == 0, status.stdout + status.stderr

    rolled = otter(tmp_path, "rollback", "production")  # by the digest the release records
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert [served(t) for t in two] == [f"200 registry-{engine}-v1"] * 2
    assert digests(two, engine) == [v1, v1]

    for t in two:  # what retire runs past keep_releases, given v2's registry digest
        executor = executor_for(t.host)
        try:
            pruned = executor.run(container.prune_images(engine, [v2], [v1]))
        finally:
            executor.close()
        assert pruned.ok and f"removed {PULL_AS}@{v2}" in pruned.stdout, pruned.stdout
        assert not on(t, engine, "image", "inspect", f"{PULL_AS}@{v2}").ok
        assert on(t, engine, "image", "inspect", f"{PULL_AS}@{v1}").ok


@pytest.mark.parametrize("ref, said", [
    (f"{PULL_AS}:nope", f"cannot pull {PULL_AS}:nope from the registry target3:5000: "),
    ("target2:5000/app:v1", "cannot pull target2:5000/app:v1 from the registry "
     "target2:5000: "),
], ids=["missing tag", "no registry there"])
def test_a_bad_reference_fails_at_ship_and_the_live_release_keeps_serving(
        tmp_path, two, registry, app_image, ref, said):
    pushed = registry()
    v1 = push(app_image("registry-live"), "v1", pushed)
    pulling(tmp_path, two, f"{PULL_AS}:v1")
    assert otter(tmp_path, "run", "production").returncode == 0
    before = [on(t, "docker", "ps", "-aq").stdout for t in two]

    pulling(tmp_path, two, ref)
    bad = otter(tmp_path, "run", "production")
    output = bad.stdout + bad.stderr
    assert bad.returncode == 1, output
    assert said in output and "Traceback" not in output
    assert ("manifest unknown" if "nope" in ref else "connection refused") in output
    assert [on(t, "docker", "ps", "-aq").stdout for t in two] == before
    assert [served(t) for t in two] == ["200 registry-live"] * 2
    assert digests(two) == [v1, v1]


def test_a_login_reads_the_password_on_stdin_and_leaves_nothing_behind(
        tmp_path, two, registry, app_image):
    pushed = registry(auth=True)
    digest = push(app_image("registry-private"), "v1", pushed, login=True, tmp_path=tmp_path)
    pulling(tmp_path, two, f"{PULL_AS}:v1", login=True)
    # what earlier tests on these shared hosts left in /tmp is not this test's
    before = [sh(t, "ls -d /tmp/tmp.* 2>/dev/null; true").stdout.split() for t in two]

    plan = run(tmp_path, "plan", "production")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "docker login target3:5000 --username otter --password-stdin <<< ***" in plan.stdout
    assert PASSWORD not in plan.stdout + plan.stderr

    wrong = run(tmp_path, "run", "production", password="not-the-password")
    output = wrong.stdout + wrong.stderr
    assert wrong.returncode == 1, output
    assert "the registry target3:5000 refused the login as otter" in output
    assert "not-the-password" not in output

    done = run(tmp_path, "--json", "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert [served(t) for t in two] == ["200 registry-private"] * 2
    assert digests(two) == [digest, digest]
    for t, earlier in zip(two, before):  # the login's temporary config is gone; the
        # engine's own has no password
        left = sh(t, 'grep -rl "$1" /tmp /root/.docker /root/.config /run/containers '
                  '2>/dev/null; true', PASSWORD)
        assert left.stdout == "", left.stdout
        now = sh(t, "ls -d /tmp/tmp.* 2>/dev/null; true").stdout.split()
        assert set(now) <= set(earlier), now


def test_build_push_then_the_targets_pull_by_digest(tmp_path, two, registry):
    registry().append(f"{PUSH_AS}:latest")  # the tag the push makes on the controller
    write_app(tmp_path / "app", "pushed-v1")
    write_otterfile(tmp_path, two, source=f'path="app", push={PUSH_AS!r}, '
                    f'pull_from={PULL_AS!r}')
    first = otter(tmp_path, "--json", "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    assert [served(t) for t in two] == ["200 pushed-v1"] * 2
    stored = httpx.head(f"http://{PUSH_AS.split('/')[0]}/v2/app/manifests/latest",
                        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
                        timeout=5).headers["Docker-Content-Digest"]
    assert digests(two) == [stored, stored]  # pulled by the digest the push stored
    assert not any(m.startswith("sent ") for m in ship_messages(first.stdout))
    for t in two:
        assert on(t, "docker", "image", "inspect", f"{PULL_AS}@{stored}").ok

    write_app(tmp_path / "app", "pushed-v2")
    second = otter(tmp_path, "--json", "run", "production")
    assert second.returncode == 0, second.stdout + second.stderr
    assert [served(t) for t in two] == ["200 pushed-v2"] * 2
    assert len(set(digests(two))) == 1 and digests(two)[0] != stored

