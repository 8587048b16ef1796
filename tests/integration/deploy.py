"""Helpers for deploy tests: an app source tree, an Otterfile for the test hosts, `otter`."""
from __future__ import annotations

import json
import os
import signal
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from otterfile.load.model import Deployment
from tests.testbed.app import BUSYBOX, DOCKERFILE, FAIL, SERVE, _quote, add_slow_route
from tests.testbed.hosts import scoped

DOMAIN = "app.test"
# what a user's deployment drains for (benches measure that; tests drain for 0 s)
USERS_DRAIN = float(Deployment.drain_seconds)
APP_TAG = scoped("otter-it-app:latest")  # what write_otterfile's build tags
ROOT = Path(__file__).resolve().parents[2]


def otter_env(**extra: str) -> dict[str, str]:
    """The environment `otter` runs in: this checkout's package first (not whichever one pip
    installed last), the secret the test Otterfiles read, and Python's fault handler (a
    SIGABRT prints every thread's stack: what a test that times out sends)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    # the retire stays in the run unless a test asks for the background one (the default
    # for users, run/retire_later.py): a test that reads the target after a run sees it done
    retire = os.environ.get("OTTER_RETIRE", "foreground")
    return {**os.environ, "PYTHONPATH": path, "APP_TOKEN": "s3cret-token-value",
            "PYTHONFAULTHANDLER": "1", "OTTER_RETIRE": retire, **extra}


def finish(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """(stdout, stderr) of a started `otter` once it ends; one that does not end in
    `timeout` seconds fails the test with every thread's stack (its fault handler)."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        out, err = process.communicate(timeout=30)
        raise AssertionError(f"otter did not end in {timeout}s; its threads:\n{err}\n"
                             f"its output:\n{out[-4000:]}") from None

OTTERFILE = '''
from otterfile import *

HOSTS = {hosts!r}

@artifact
def web():
    return build({source}, command={command!r})

@runtime
def box():
    return {runtime}(port=8080, env={{"GREETING": "hello", "APP_TOKEN": secret("APP_TOKEN")}})

@target
def servers():
    return [ssh(address, identity_file=key, known_hosts=known) for address, key, known in HOSTS]

@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets=[servers], domains=["{domain}"],
                      proxy={proxy}, keep_releases=3, on_failure="{on_failure}",
                      parallel={parallel},
                      drain_seconds={drain:g},
                      health_check=HealthCheck(path="/health", timeout_seconds={timeout}))
'''


def write_app(folder: Path, version: str, healthy: bool = True, failure: str = "404",
              start_delay: float = 0, exit_after: float | None = None) -> Path:
    """The test app's source tree: a FROM-scratch busybox image serving `version`, listening
    `start_delay` seconds after it starts (and exiting 2 `exit_after` seconds after)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(BUSYBOX, folder / "busybox")
    (folder / "www").mkdir(exist_ok=True)
    (folder / "www" / "index.html").write_text(version + "\n")
    add_slow_route(folder / "www")
    health = folder / "www" / "health"
    if healthy or failure != "404":
        health.write_text("ok\n")
    elif health.exists():
        health.unlink()
    command = (f'echo "app {version} starting"; ' + SERVE) if healthy or failure == "404" \
        else FAIL
    if exit_after is not None:
        command = command.replace("wait $!", f'busybox sleep {exit_after:g} & wait $!; '
                                  f'echo "app {version} exits on purpose" >&2; exit 2')
    (folder / "Dockerfile").write_text(DOCKERFILE.format(
        port=8080, start_delay=start_delay, label=_quote(version), command=_quote(command)))
    return folder


def write_otterfile(project: Path, targets, *, source: str = 'path="app"',
                    timeout: float = 8, on_failure: str = "stop", parallel: int | None = None,
                    extra: str = "", runtime: str = "docker",
                    proxy: str = 'caddy(tls="off")', drain: float = 0,
                    command: str = f"docker build -q -t {APP_TAG} .") -> Path:
    """An Otterfile deploying the app to `targets`; `extra` is appended (steps). No drain
    unless given: no test of this Otterfile watches requests in flight to the old release
    (test_zero_downtime does, with its own), and 2 s per retire add up over the suite."""
    hosts = [(t.host.address, t.host.identity_file, t.host.known_hosts) for t in targets]
    path = project / "Otterfile.py"
    path.write_text(OTTERFILE.format(hosts=hosts, source=source, domain=DOMAIN,
                                     timeout=timeout, on_failure=on_failure,
                                     parallel=parallel, runtime=runtime, proxy=proxy,
                                     command=command, drain=drain) + extra)
    return path


def otter(project: Path, *args: str, timeout: float = 240, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `otter` command line in `project`."""
    env = otter_env()
    return subprocess.run([sys.executable, "-m", "otterfile", "-f", str(project / "Otterfile.py"),
                           *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=project, **kwargs)


def start_otter(project: Path, *args: str, **popen) -> subprocess.Popen:
    env = otter_env()
    return subprocess.Popen([sys.executable, "-m", "otterfile", "-f",
                             str(project / "Otterfile.py"), "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=project, **popen)


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def on(target, *argv):
    """Run argv on a test host through otter's own SSH executor (a fresh connection)."""
    from otterfile.command import cmd
    from otterfile.executors import executor_for
    executor = executor_for(target.host)
    try:
        return executor.run(cmd(*argv))
    finally:
        executor.close()


def served(target) -> str:
    """What the target's Caddy answers for the app's domain."""
    response = httpx.get(target.url("/"), headers={"Host": DOMAIN}, timeout=5)
    return f"{response.status_code} {response.text.strip()}"


def kill_after(project: Path, stage: str) -> None:
    """`otter run production`, SIGKILLed as soon as `stage` ends on some target."""
    process = start_otter(project, "run", "production")
    killed = False
    for line in process.stdout:
        if any(e.get("event") == "end" and e.get("stage") == stage for e in events(line)):
            process.kill()
            killed = True
            break
    process.wait(timeout=60)
    assert killed, f"never saw the end of {stage}"


def assert_one_container(targets, engine: str = "docker"):
    """Each target has exactly one container of the deployment, running or not."""
    for t in targets:
        names = on(t, engine, "ps", "-a", "--format", "{{.Names}}").stdout.split()
        assert len([n for n in names if n.startswith("otter-production-")]) == 1, names
