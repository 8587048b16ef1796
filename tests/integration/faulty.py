"""Helpers for fault tests: `otter --json run` in the background with its events read as
they come (so a fault lands at a stage, not after a sleep), gates an Otterfile step waits
at, and what a fault may not leave on a target (read with `docker exec`, which works while
its sshd is down)."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tests.integration.deploy import APP_TAG, otter, otter_env, write_app, write_otterfile

Event = dict
Predicate = Callable[[Event], bool]


class Run:
    """`otter --json ARGS` started in `project`; `wait_for` reads its events up to one."""

    def __init__(self, project: Path, *args: str, env: dict[str, str] | None = None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "otterfile", "-f", str(project / "Otterfile.py"), "--json",
             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=project,
            env=otter_env(**(env or {})))
        self.events: list[Event] = []
        self.stderr = ""
        self._queue: queue.Queue[Event | None] = queue.Queue()
        self._readers = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith("{"):
                event = json.loads(line)
                self.events.append(event)
                self._queue.put(event)
        self._queue.put(None)

    def _read_stderr(self) -> None:
        self.stderr = self.process.stderr.read()

    def wait_for(self, predicate: Predicate, timeout: float = 180) -> Event:
        """The first event (from here on) that `predicate` accepts; fails when the run ends
        or `timeout` seconds pass without one."""
        while True:
            try:
                event = self._queue.get(timeout=timeout)
            except queue.Empty:
                self.process.kill()
                raise AssertionError(f"no such event within {timeout}s") from None
            if event is None:
                raise AssertionError(f"the run ended without it:\n{self.text}")
            if predicate(event):
                return event

    def finish(self, timeout: float = 300) -> int:
        """Wait for the run to end; its exit status."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    @property
    def text(self) -> str:
        return "\n".join(json.dumps(e) for e in self.events) + "\n" + self.stderr

    def name_of(self, target) -> str:
        """The name otter's output gives `target` (a one-host target: the target's name)."""
        return next(e["host"] for e in self.events if e.get("address") == target.host.address)

    def ends(self, target) -> dict[str, str]:
        """stage -> status of every task that ended on `target`."""
        return {e["stage"]: e["status"] for e in self.events
                if e.get("event") == "end" and e.get("address") == target.host.address}

    def failure(self, target, stage: str) -> str:
        """Why `stage` failed on `target` (its end event's message)."""
        return next(e.get("message", "") for e in self.events if e.get("event") == "end"
                    and e.get("address") == target.host.address and e.get("stage") == stage)

    def infos(self, target, stage: str) -> list[str]:
        return [e.get("message", "") for e in self.events if e.get("event") == "info"
                and e.get("address") == target.host.address and e.get("stage") == stage]


def on_target(event: Event, stage: str, target) -> bool:
    return event.get("stage") == stage and event.get("address") == target.host.address


def starts(stage: str, target) -> Predicate:
    return lambda e: e.get("event") == "start" and on_target(e, stage, target)


def ended(stage: str, target, status: str = "ok") -> Predicate:
    return lambda e: e.get("event") == "end" and on_target(e, stage, target) and \
        e.get("status") == status


def shipping(target) -> Predicate:
    """Bytes of the ship stage on their way to `target`."""
    return lambda e: e.get("event") == "progress" and on_target(e, "ship", target) and \
        e.get("done", 0) > 0


def image_id(tag: str = APP_TAG) -> str:
    return subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", tag],
                          capture_output=True, text=True, check=True).stdout.strip()


def deployed_v1(project, targets) -> None:
    write_app(project / "app", "v1")
    write_otterfile(project, targets, timeout=20)
    first = otter(project, "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr


def padded_app(folder, version: str, megabytes: int = 16) -> None:
    """The test app with `megabytes` of random bytes more: a throttled ship of it lasts."""
    write_app(folder, version)
    (folder / "www" / "pad.bin").write_bytes(os.urandom(megabytes * 1024 * 1024))


# -- gates: a step of the Otterfile waits until the test opens its gate --------------------

GATE_STEPS = '''
import os as _os, select as _select

def _gate(name):
    """Wait (bounded) until the test opens gate `name`: a fifo in $OTTER_TEST_GATES."""
    folder = _os.environ.get("OTTER_TEST_GATES")
    if not folder:
        return
    fd = _os.open(_os.path.join(folder, name), _os.O_RDONLY | _os.O_NONBLOCK)
    try:
        if not _select.select([fd], [], [], 180)[0]:
            raise RuntimeError(f"gate {name} stayed shut")
    finally:
        _os.close(fd)
'''


def gate_step(deployment: str, where: str) -> str:
    """An Otterfile step of `deployment` at `where` (`after="start"`) that waits at the
    gate named after the deployment."""
    return (f'\n@step(deployment="{deployment}", {where}, on="controller")\n'
            f'def hold_{deployment}(ctx):\n    _gate("{deployment}")\n')


class Gates:
    """Fifos a gated step waits on; `open(name)` lets it through (before or after it waits)."""

    def __init__(self, folder: Path, *names: str):
        self.folder, self._fds = folder, []
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            os.mkfifo(folder / name)

    @property
    def env(self) -> dict[str, str]:
        return {"OTTER_TEST_GATES": str(self.folder)}

    def open(self, name: str) -> None:
        # read-write never blocks, and keeps the byte in the fifo until the step reads it
        fd = os.open(self.folder / name, os.O_RDWR | os.O_NONBLOCK)
        os.write(fd, b"go\n")
        self._fds.append(fd)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)


# -- what a fault may not leave on a target ------------------------------------------------

DEPLOYMENT_DIR = "/var/lib/otter/production"
SITE = "/etc/caddy/otter.d/production.caddy"
STORE = "/var/lib/otter/artifacts/sha256"
DOCKER_TMP = "/var/lib/docker/tmp"
# half-written files: otter's temporary names (state, env, key, unit, site, store, release)
LEFTOVERS = r"""
find /var/lib/otter /etc/caddy /etc/systemd/system /etc/nginx \
  \( -name '*.tmp' -o -name '*.tmp.*' -o -name '*otter-tmp*' \) -print 2>/dev/null
ls -A "$1" 2>/dev/null | grep -v '^otter-fill$' | sed "s|^|$1/|"
exit 0
"""
# every file in the store has the digest it is named by
STORE_CHECK = r"""
cd "$1" 2>/dev/null || exit 0
for f in *; do [ -f "$f" ] || continue; [ "$(sha256sum "$f" | cut -c1-64)" = "$f" ] || echo "$f"; done
"""


def sh(target, script: str, *args: str) -> str:
    result = subprocess.run(["docker", "exec", target.container, "sh", "-c", script, "sh",
                             *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass(frozen=True)
class Snapshot:
    """What a deploy wrote on a target, to compare after a fault."""

    state: str
    site: str
    images: frozenset[str]
    env_files: frozenset[str]


def snapshot(target) -> Snapshot:
    return Snapshot(sh(target, 'cat "$1"', f"{DEPLOYMENT_DIR}/releases.json"),
                    sh(target, 'cat "$1" 2>/dev/null; exit 0', SITE),
                    frozenset(sh(target, "docker images -aq --no-trunc").split()),
                    frozenset(sh(target, 'ls "$1" 2>/dev/null; exit 0',
                                 f"{DEPLOYMENT_DIR}/env").split()))


def receivers_gone(target, timeout: float = 90) -> None:
    """Wait (bounded) until no load or store write of a run is left on `target`: a run cut
    off mid-ship leaves its receiver until the guard sees its lock go quiet."""
    deadline = time.monotonic() + timeout
    while sh(target, "pgrep -f -x 'docker load|podman load' || true").strip():
        assert time.monotonic() < deadline, "a receiver outlived its run on the target"
        time.sleep(0.5)


def assert_intact(target, before: Snapshot, *, new_image: str | None = None) -> None:
    """The fault left the target as the last good deploy did: the same live release and
    site (the state may name the new release `failed`: a cleanup that reached the target),
    no half-written file (otter's temporary names, docker's load folder), a store whose
    files match their digests, complete env files, no image but `new_image` (complete) added."""
    now = snapshot(target)
    state, old = json.loads(now.state), json.loads(before.state)
    assert state["live"] == old["live"] and state["releases"][:len(old["releases"])] == \
        old["releases"], now.state
    assert {r["status"] for r in state["releases"][len(old["releases"]):]} <= {"failed"}
    assert now.site == before.site
    assert sh(target, LEFTOVERS, DOCKER_TMP) == ""
    assert sh(target, STORE_CHECK, STORE) == ""
    added = now.images - before.images
    assert added <= {new_image} if new_image else not added, added
    for name in now.env_files:  # a release's env file: whole, or not there
        text = sh(target, 'cat "$1"', f"{DEPLOYMENT_DIR}/env/{name}")
        assert name.endswith(".env") and sorted(line.split("=", 1)[0] for line in
                                                text.splitlines()) == ["APP_TOKEN", "GREETING"]
