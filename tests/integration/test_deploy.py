"""The whole Docker deploy on real test hosts over real SSH, through Caddy."""
from __future__ import annotations

import contextlib
import json
import subprocess

from tests.integration.deploy import (assert_one_container, on, otter, served, start_otter,
                                      write_app, write_otterfile)


def test_deploy_redeploy_and_noop(project, two):
    first = otter(project, "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    assert [served(t) for t in two] == ["200 v1", "200 v1"]
    assert "s3cret-token-value" not in first.stdout + first.stderr
    write_app(project / "app", "v2")
    narrowed = otter(project, "run", "production", "--targets", two[0].host.name)
    assert narrowed.returncode == 0, narrowed.stdout + narrowed.stderr
    assert [served(t) for t in two] == ["200 v2", "200 v1"]
    second = otter(project, "run", "production")
    assert second.returncode == 0, second.stdout + second.stderr
    assert [served(t) for t in two] == ["200 v2", "200 v2"]
    noop = otter(project, "run", "production")
    assert noop.returncode == 0 and "nothing to do" in noop.stdout
    assert_one_container(two)  # one container serves; the old one is gone


def test_secret_stays_off_command_lines_and_out_of_reach(project, two):
    assert otter(project, "run", "production").returncode == 0
    target = two[0]
    ps = on(target, "ps", "axww", "-o", "args").stdout
    assert "s3cret-token-value" not in ps
    files = on(target, "sh", "-c", "stat -c '%a %U' /var/lib/otter/production/env/*.env").stdout
    assert files.split() == ["600", "root"]
    # the release fingerprint covers the secret: keyed, the key readable by root alone
    key = on(target, "stat", "-c", "%a %U", "/var/lib/otter/production/fingerprint.key")
    assert key.stdout.split() == ["600", "root"]
    env = on(target, "sh", "-c", "docker exec $(docker ps -q --filter "
             "label=otter.deployment=production) /bin/busybox env").stdout
    assert "APP_TOKEN=s3cret-token-value" in env


def test_unhealthy_release_never_takes_traffic(project, two):
    assert otter(project, "run", "production").returncode == 0
    write_app(project / "app", "v2-broken", healthy=False)
    bad = otter(project, "run", "production")
    assert bad.returncode == 1
    assert "answered 404" in bad.stdout
    assert [served(t) for t in two] == ["200 v1", "200 v1"]
    for t in two:  # the run ends saying what serves where it failed
        live = [r["id"] for r in _releases(t) if r["status"] == "live"]
        assert f"{t.host.name}: production still serves {live[0]} (the new release took no " \
            "traffic)" in bad.stdout, bad.stdout
    write_app(project / "app", "v3-crash", healthy=False, failure="exit")
    crash = otter(project, "run", "production")
    assert crash.returncode == 1
    assert "failing on purpose" in crash.stdout  # the container's last log lines
    assert [served(t) for t in two] == ["200 v1", "200 v1"]
    assert_one_container(two)


def test_status_rollback_and_logs(project, two):
    assert otter(project, "run", "production").returncode == 0
    write_app(project / "app", "v2")
    assert otter(project, "run", "production").returncode == 0
    status = otter(project, "status", "production", "--log", "5")
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("200 on /health") == 2
    assert "ok" in status.stdout and "health=" in status.stdout  # the deploy log
    back = otter(project, "rollback", "production")
    assert back.returncode == 0, back.stdout + back.stderr
    assert [served(t) for t in two] == ["200 v1", "200 v1"]
    releases = _releases(two[0])
    v2 = [r for r in releases if r["status"] == "previous"][-1]["id"]
    forward = otter(project, "rollback", "production", "--to", v2)
    assert forward.returncode == 0, forward.stdout + forward.stderr
    assert [served(t) for t in two] == ["200 v2", "200 v2"]
    logs = otter(project, "logs", "production", "--tail", "5")
    assert logs.returncode == 0, logs.stderr
    for t in two:
        assert f"{t.host.name} | app v2 starting" in logs.stdout
    _follow_logs_until_ctrl_c(project, two)


def _follow_logs_until_ctrl_c(project, two):
    import signal
    process = start_otter(project, "logs", "production", "-f")
    lines = [json.loads(process.stdout.readline()) for _ in two]  # start_otter: --json
    assert {line["event"] for line in lines} == {"output"}
    assert {line["host"] for line in lines} == {t.host.name for t in two}
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 1


def test_deploy_from_a_git_repository(tmp_path, two):
    work, bare = tmp_path / "work", tmp_path / "app.git"
    write_app(work, "from-git-v1")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run(git + ["-C", str(work), "add", "-A"], check=True)
    subprocess.run(git + ["-C", str(work), "commit", "-qm", "v1"], check=True)
    subprocess.run(git + ["-C", str(work), "tag", "v1"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    project = tmp_path / "project"
    project.mkdir()
    write_otterfile(project, two, source=f'repo={str(bare)!r}, ref="v1"')
    result = otter(project, "run", "production")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [served(t) for t in two] == ["200 from-git-v1"] * 2
    status = otter(project, "status", "production")
    assert commit[:10] in status.stdout


def test_a_failed_build_touches_no_server(project, two):
    (project / "app" / "Dockerfile").write_text("FROM scratch\nCOPY missing-file /x\n")
    result = otter(project, "run", "production")
    assert result.returncode == 1
    assert "build of" in result.stdout and "failed" in result.stdout
    for t in two:
        assert on(t, "test", "-e", "/var/lib/otter/production").exited == 1


def test_exec_on_local_and_ssh_hosts(tmp_path, two):
    hosts = [(t.host.address, t.host.identity_file, t.host.known_hosts) for t in two]
    (tmp_path / "Otterfile.py").write_text(f'''
from otterfile import *

@target
def both():
    return [local()] + [ssh(a, identity_file=k, known_hosts=h) for a, k, h in {hosts!r}]

@deployment
def production():
    return Deployment(artifact=build(path=".", command="true", image="x"),
                      runtime=docker(port=80), targets=[both])
''')
    result = otter(tmp_path, "exec", "production", "--", "hostname")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "target1" in result.stdout and "target2" in result.stdout
    assert result.stdout.count(" 0 ") >= 3
    failed = otter(tmp_path, "exec", "production", "--", 'test "$(hostname)" = target1')
    assert failed.returncode == 1
    rows = {line.split()[0]: line.split()[1] for line in failed.stdout.splitlines()[-3:]}
    assert rows == {"local": "1", two[0].host.name: "0", two[1].host.name: "1"}


def _releases(target) -> list[dict]:
    import json
    text = on(target, "cat", f"{STATE}/releases.json").stdout
    return sorted(json.loads(text)["releases"], key=lambda r: r["id"])


def test_keep_releases_prunes_old_images(project, two):
    for version in ("v1", "v2", "v3", "v4", "v5"):
        write_app(project / "app", version)
        assert otter(project, "run", "production").returncode == 0
    statuses = [r["status"] for r in _releases(two[0])]
    assert statuses == ["retired", "retired", "previous", "previous", "live"]  # keep 3
    kept = {r["digest"] for r in _releases(two[0]) if r["status"] != "retired"}
    images = set(on(two[0], "docker", "images", "-q", "--no-trunc").stdout.split())
    assert kept <= images
    assert not {r["digest"] for r in _releases(two[0]) if r["status"] == "retired"} & images


@contextlib.contextmanager
def caddy_missing(target):
    """The target's caddy binary moved away for the duration (Caddy keeps serving)."""
    on(target, "mv", "/usr/bin/caddy", "/usr/bin/caddy.away")
    try:
        yield
    finally:
        on(target, "mv", "/usr/bin/caddy.away", "/usr/bin/caddy")


def test_missing_caddy_is_named_and_nothing_switches(project, two):
    assert otter(project, "run", "production").returncode == 0
    write_app(project / "app", "v2")
    with caddy_missing(two[1]):
        result = otter(project, "run", "production")
    assert result.returncode == 1
    assert f"{two[1].host.name}: Caddy is not installed" in result.stdout
    assert served(two[0]) == "200 v2" and served(two[1]) == "200 v1"


def test_on_failure_rollback_returns_switched_targets(project, two):
    write_otterfile(project, two, on_failure="rollback")
    assert otter(project, "run", "production").returncode == 0
    write_app(project / "app", "v2")
    with caddy_missing(two[1]):
        result = otter(project, "run", "production")
    assert result.returncode == 1
    assert f"rolling back {two[0].host.name}" in result.stdout
    assert [served(t) for t in two] == ["200 v1", "200 v1"]


STATE = "/var/lib/otter/production"  # removed by clean_targets
STEPS = """
@step(deployment="production", before="switch", on="once")
def migrate(ctx):
    ctx.run("docker exec {container} /bin/busybox cat /www/index.html > {state}/migrated")

@step(deployment="production", after="retire")
def record(ctx):
    ctx.run("echo {release} > {state}/released")
""".replace("{state}", STATE)


def test_rolling_deploy_with_custom_steps(project, two):
    import json
    write_otterfile(project, two, parallel=1, extra=STEPS)
    result = otter(project, "--json", "run", "production")
    assert result.returncode == 0, result.stdout + result.stderr
    ends = [(e["host"], e["stage"]) for e in map(json.loads, result.stdout.splitlines())
            if e["event"] == "end"]
    first, second = two[0].host.name, two[1].host.name
    # one target at a time: the second is locked only after the first is unlocked
    assert ends.index((first, "unlock")) < ends.index((second, "lock"))
    assert on(two[0], "cat", f"{STATE}/migrated").stdout == "v1\n"  # once: the first only
    assert on(two[1], "test", "-e", f"{STATE}/migrated").exited == 1
    for t in two:  # per target, with the release id filled in
        assert on(t, "cat", f"{STATE}/released").stdout.startswith("20")
