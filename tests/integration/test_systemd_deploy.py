"""The systemd runtime on real test hosts: a Python http.server app packed as a tarball by
build(output=...), run as a generated unit behind Caddy on two hosts: deployed, redeployed
without moving a byte, upgraded, a crashing release and bad artifacts refused while the old
release answers, rolled back; status and logs; every unit verified, hardened, run as the
deployment's own user with an env file only that user can read."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.deploy import events, kill_after, on, otter, served

GREETING = 'he said "hi" $HOME \\ 100%'
UNIT_GLOB = "otter-production@*"
RELEASES = "/var/lib/otter/production/releases"
DATA = "/var/lib/otter/production/data"

SERVER = r'''
import os, sys, pathlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

here = pathlib.Path(__file__).parent
version = (here / "VERSION").read_text().strip()
port = int(sys.argv[sys.argv.index("--port") + 1])
if (here / "CRASH").exists():
    print("app crashing on purpose", flush=True)
    sys.exit(3)
if (here / "STUBBORN").exists():  # a release that ignores SIGTERM: only SIGKILL stops it
    import signal
    signal.signal(signal.SIGTERM, lambda *_: print("app ignores SIGTERM", flush=True))
(pathlib.Path(os.environ["HOME"]) / f"pid-{version}").write_text(str(os.getpid()))
with open(pathlib.Path(os.environ["HOME"]) / "starts", "a") as starts:  # the data folder
    starts.write(version + "\n")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        text = "ok" if self.path == "/health" else \
            f"{version} {os.environ['GREETING']} port={os.environ['PORT']}"
        body = (text + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


print(f"app {version} starting on {port}", flush=True)
if (here / "EXIT_AFTER").exists():  # healthy at first, then gone
    import threading
    threading.Timer(float((here / "EXIT_AFTER").read_text()), lambda: (
        print("app exiting on purpose", flush=True), os._exit(2))).start()
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
'''

# A tarball with a member that climbs out of the release folder (tar itself strips `../`).
EVIL = r'''
import io, tarfile
with tarfile.open("app.tar.gz", "w:gz") as archive:
    for name in ("server.py", "VERSION"):
        archive.add(name)
    data = b"pwned\n"
    info = tarfile.TarInfo("../evil")
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))
'''

OTTERFILE = '''
from otterfile import *

HOSTS = {hosts!r}

@artifact
def web():
    return build(path="app", command={build!r}, output={output!r})

@runtime
def service():
    return systemd(command={command!r}, port=8080,
                   env={{"GREETING": {greeting!r}, "APP_TOKEN": secret("APP_TOKEN")}})

@target
def servers():
    return [ssh(address, identity_file=key, known_hosts=known) for address, key, known in HOSTS]

@deployment
def production():
    return Deployment(artifact=web, runtime=service, targets=[servers], domains=["app.test"],
                      proxy=caddy(tls="off"), drain_seconds=0, keep_releases=3,
                      health_check=HealthCheck(path="/health", timeout_seconds=10))
'''


def write_project(project: Path, targets, version: str, *, crash: bool = False,
                  build: str = "tar czf app.tar.gz server.py VERSION",
                  command: str = "python3 server.py --port {port}",
                  output: str = "app.tar.gz", stubborn: bool = False,
                  exit_after: float | None = None) -> None:
    app = project / "app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "server.py").write_text(SERVER)
    (app / "evil.py").write_text(EVIL)
    (app / "VERSION").write_text(version + "\n")
    for wanted, marker in ((crash, "CRASH"), (stubborn, "STUBBORN")):
        (app / marker).unlink(missing_ok=True)
        if wanted:
            build = build.replace("VERSION", f"VERSION {marker}")
            (app / marker).write_text("")
    (app / "EXIT_AFTER").unlink(missing_ok=True)
    if exit_after is not None:
        build = build.replace("VERSION", "VERSION EXIT_AFTER")
        (app / "EXIT_AFTER").write_text(f"{exit_after:g}")
    hosts = [(t.host.address, t.host.identity_file, t.host.known_hosts) for t in targets]
    (project / "Otterfile.py").write_text(OTTERFILE.format(
        hosts=hosts, build=build, command=command, greeting=GREETING, output=output))


def answer(target) -> str:
    text = served(target)
    return re.sub(r"port=\d+$", "port=N", text) if text.startswith("200 ") else text


def units(target) -> list[str]:
    listed = on(target, "systemctl", "list-units", "--all", "--plain", "--no-legend", UNIT_GLOB)
    return [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]


def releases(target) -> list[str]:
    return on(target, "ls", RELEASES).stdout.split()


def ship_messages(result) -> list[str]:
    return [str(e.get("message", "")) for e in events(result.stdout) if e.get("stage") == "ship"]


def run(project: Path, *args: str):
    return otter(project, "--json", *args)


def check_unit(target) -> float:
    """The live unit passes verify, runs as otter-production with an env file that only
    it can read; returns its `systemd-analyze security` exposure."""
    (unit,) = units(target)
    verify = on(target, "systemd-analyze", "verify", f"/etc/systemd/system/{unit}")
    assert verify.ok and not (verify.stdout + verify.stderr).strip(), verify.stderr
    pid = on(target, "systemctl", "show", "--property=MainPID", "--value", unit).stdout.strip()
    assert on(target, "ps", "-o", "user=", "-p", pid).stdout.strip() == "otter-production"
    release = unit.split("@", 1)[1].removesuffix(".service")
    env = f"/var/lib/otter/production/env/{release}.env"
    assert on(target, "stat", "-c", "%U %a", env).stdout.strip() == "otter-production 400"
    mine = on(target, "runuser", "-u", "otter-production", "--", "cat", env)
    assert mine.ok and "APP_TOKEN=" in mine.stdout
    assert not on(target, "runuser", "-u", "nobody", "--", "cat", env).ok
    security = on(target, "systemd-analyze", "security", "--no-pager", unit).stdout
    return float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", security).group(1))


def test_systemd_deploy_redeploy_refuse_and_roll_back(tmp_path, two):
    write_project(tmp_path, two, "v1")
    first = run(tmp_path, "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    v1 = f"200 v1 {GREETING} port=N"
    assert [answer(t) for t in two] == [v1] * 2
    size = (tmp_path / "app" / "app.tar.gz").stat().st_size
    assert ship_messages(first).count(f"sent {size} bytes") == 2
    scores = [check_unit(t) for t in two]
    assert all(score <= 2.0 for score in scores), scores
    print(f"systemd-analyze security exposure: {scores}")

    again = run(tmp_path, "run", "production")  # the same artifact and settings
    assert again.returncode == 0, again.stdout + again.stderr
    # decided on each target in the lock's round trip (systemd/runs.sh): nothing ships
    assert not [m for m in ship_messages(again) if m.startswith("sent ")]
    assert again.stdout.count("nothing to do (decided on the target") == 2

    write_project(tmp_path, two, "v2")
    second = run(tmp_path, "run", "production")
    assert second.returncode == 0, second.stdout + second.stderr
    v2 = f"200 v2 {GREETING} port=N"
    assert [answer(t) for t in two] == [v2] * 2
    for t in two:  # the old unit and its folder retired; the data folder kept
        assert len(units(t)) == 1 and len(releases(t)) == 1
        assert on(t, "cat", f"{DATA}/starts").stdout == "v1\nv2\n"
        check_unit(t)

    write_project(tmp_path, two, "v3", crash=True)
    bad = run(tmp_path, "run", "production")
    assert bad.returncode == 1
    assert "restarting" in bad.stdout and "app crashing on purpose" in bad.stdout, bad.stdout
    assert [answer(t) for t in two] == [v2] * 2
    assert all(len(units(t)) == 1 and len(releases(t)) == 1 for t in two)

    for build, command, why in (
            ("python3 evil.py", "python3 server.py --port {port}",
             "member ../evil escapes the release folder (..)"),
            ("tar czf app.tar.gz server.py VERSION", "./nope --port {port}",
             "command ./nope: the artifact has no file nope")):
        write_project(tmp_path, two, "v4", build=build, command=command)
        refused = run(tmp_path, "run", "production")
        assert refused.returncode == 1 and why in refused.stdout, refused.stdout
        assert [answer(t) for t in two] == [v2] * 2
        for t in two:
            assert len(units(t)) == 1 and len(releases(t)) == 1
            assert not on(t, "test", "-e", "/var/lib/otter/production/evil").ok

    write_project(tmp_path, two, "v2")
    back = otter(tmp_path, "rollback", "production")
    assert back.returncode == 0, back.stdout + back.stderr
    assert [answer(t) for t in two] == [v1] * 2
    assert all(len(units(t)) == 1 for t in two)
    status = otter(tmp_path, "status", "production")
    assert status.returncode == 0 and status.stdout.count("200 on /health") == 2, status.stdout
    assert status.stdout.count("running") >= 2
    logs = otter(tmp_path, "logs", "production", "--tail", "5")
    assert logs.returncode == 0 and logs.stdout.count("app v1 starting on ") == 2, logs.stdout


@pytest.mark.parametrize("stage", ["ship", "start", "health", "switch", "retire"])
def test_sigkill_at_a_stage_boundary_leaves_the_live_unit_serving(tmp_path, two, stage):
    write_project(tmp_path, two, "v1")
    assert run(tmp_path, "run", "production").returncode == 0
    write_project(tmp_path, two, f"v2-{stage}")
    kill_after(tmp_path, stage)
    for t in two:
        assert answer(t) in (f"200 v1 {GREETING} port=N", f"200 v2-{stage} {GREETING} port=N")
    again = run(tmp_path, "run", "production")  # takes over the dead run's lock itself
    assert again.returncode == 0, again.stdout + again.stderr
    assert [answer(t) for t in two] == [f"200 v2-{stage} {GREETING} port=N"] * 2
    assert all(len(units(t)) == 1 and len(releases(t)) == 1 for t in two)


def test_zip_and_tar_zst_artifacts_are_unpacked_and_run(tmp_path, clean_target):
    one = [clean_target]
    for version, build, output in (
            ("v1-zip", "python3 -m zipfile -c app.zip server.py VERSION", "app.zip"),
            ("v2-zst", "tar --zstd -cf app.tar.zst server.py VERSION", "app.tar.zst")):
        write_project(tmp_path, one, version, build=build, output=output)
        done = run(tmp_path, "run", "production")
        assert done.returncode == 0, done.stdout + done.stderr
        assert answer(clean_target) == f"200 {version} {GREETING} port=N"
        (release,) = releases(clean_target)
        files = on(clean_target, "ls", f"{RELEASES}/{release}").stdout.split()
        assert files == ["VERSION", "server.py"], files
        check_unit(clean_target)


def test_a_unit_that_fails_verify_is_taken_back_and_the_live_one_serves(tmp_path,
                                                                        clean_target):
    one = [clean_target]
    write_project(tmp_path, one, "v1")
    assert run(tmp_path, "run", "production").returncode == 0
    (live_unit,) = units(clean_target)
    # the host's systemd-analyze finds fault with the next unit (first on root's PATH)
    fake = "/usr/local/bin/systemd-analyze"
    on(clean_target, "sh", "-c", f"printf '%s\\n' '#!/bin/sh' "
       f"'echo \"$2: Command x is not executable.\" >&2' 'exit 1' > {fake} && chmod 755 {fake}")
    try:
        write_project(tmp_path, one, "v2")
        refused = run(tmp_path, "run", "production")
    finally:
        on(clean_target, "rm", "-f", fake)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "does not pass systemd-analyze verify" in refused.stdout, refused.stdout
    assert "Command x is not executable" in refused.stdout
    assert answer(clean_target) == f"200 v1 {GREETING} port=N"
    assert units(clean_target) == [live_unit] and len(releases(clean_target)) == 1
    files = on(clean_target, "sh", "-c", "ls /etc/systemd/system | grep '^otter-production@'")
    assert files.stdout.split() == [live_unit]  # no unit file of v2 left, none half-written
    again = run(tmp_path, "run", "production")  # the next run goes through
    assert again.returncode == 0, again.stdout + again.stderr
    assert answer(clean_target) == f"200 v2 {GREETING} port=N"


def stop_fast(project: Path) -> None:
    """1 s between SIGTERM and SIGKILL when a release is stopped (no drain: the template's)."""
    path = project / "Otterfile.py"
    text = path.read_text()
    path.write_text(text.replace("keep_releases=3,",
                                 "keep_releases=3, stop_seconds=1,"))
    assert "stop_seconds=1" in path.read_text()


def test_a_release_that_ignores_sigterm_is_killed_when_retired(tmp_path, clean_target):
    one = [clean_target]
    write_project(tmp_path, one, "v1", stubborn=True)
    stop_fast(tmp_path)
    assert run(tmp_path, "run", "production").returncode == 0
    (old_unit,) = units(clean_target)
    pid = on(clean_target, "cat", f"{DATA}/pid-v1").stdout.strip()
    assert pid and on(clean_target, "kill", "-0", pid).ok
    write_project(tmp_path, one, "v2")
    stop_fast(tmp_path)
    done = run(tmp_path, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    assert answer(clean_target) == f"200 v2 {GREETING} port=N"
    assert not on(clean_target, "kill", "-0", pid).ok  # SIGTERM ignored, SIGKILL ended it
    journal = on(clean_target, "journalctl", "-u", old_unit, "-o", "cat", "--no-pager").stdout
    assert "app ignores SIGTERM" in journal, journal  # asked first, then killed
    assert "SIGKILL" in journal or "killing it" in done.stdout, journal + done.stdout
    assert len(units(clean_target)) == 1 and units(clean_target) != [old_unit]


def test_a_unit_that_exits_within_min_ready_seconds_is_refused(tmp_path, clean_target):
    """The unit answers healthy, exits 2 s later and waits out RestartSec: refused with
    min_ready_seconds=5, the live unit serving; the same app passes with 0."""
    one = [clean_target]
    write_project(tmp_path, one, "v1")
    assert run(tmp_path, "run", "production").returncode == 0
    v1 = f"200 v1 {GREETING} port=N"
    live = units(clean_target)

    write_project(tmp_path, one, "v2", exit_after=2)
    otterfile = tmp_path / "Otterfile.py"
    otterfile.write_text(otterfile.read_text().replace(
        "timeout_seconds=10)", "timeout_seconds=10, min_ready_seconds=5)"))
    refused = otter(tmp_path, "run", "production")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert re.search(r"(failed|restarting|inactive)\b.* \d+\.\ds after it was first healthy "
                     r"\(min_ready_seconds=5\)", refused.stdout), refused.stdout
    assert "app exiting on purpose" in refused.stdout  # its journal's last lines
    assert answer(clean_target) == v1 and units(clean_target) == live

    write_project(tmp_path, one, "v2", exit_after=2)  # no window: it passes the gate
    passed = otter(tmp_path, "run", "production")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "stayed healthy" not in passed.stdout


def test_a_first_deploy_that_never_gets_healthy_takes_its_early_site_away(tmp_path,
                                                                          clean_target):
    """The first deploy's Caddy site goes in beside the start (no port file: 502); a
    release that crashes is removed with it, so the domain is served by nothing again."""
    one = [clean_target]
    write_project(tmp_path, one, "v1", crash=True)
    failed = run(tmp_path, "run", "production")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "installed the site of production, no release named yet" in failed.stdout
    assert "(started in the ship's round trip)" in failed.stdout
    assert units(clean_target) == [] and releases(clean_target) == []
    site = "/etc/caddy/otter.d/production.caddy"
    assert not on(clean_target, "test", "-e", site).ok, failed.stdout
    write_project(tmp_path, one, "v1")  # the next run installs it again and serves
    done = run(tmp_path, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    assert answer(clean_target) == f"200 v1 {GREETING} port=N"
    assert "(no reload)" in done.stdout  # the site went in beside the start
