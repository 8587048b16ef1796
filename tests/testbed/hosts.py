"""The test hosts as a running docker-compose project: key, known_hosts, readiness, reset.

The pytest fixtures (tests/integration/conftest.py) and `python -m tests.testbed up|down`
drive the same `Testbed` object.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import subprocess
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import httpx

from otterfile import ssh
from otterfile.hosts import SSHHost

from . import faults
from .images import ensure_images

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
# OTTER_TESTBED_DOCKER_STORAGE=overlay2: the targets' engines on overlay2 and a volume each,
# as on a real server (tests/docker-compose.overlay2.yml); unset, vfs (the image's own)
STORAGE = os.environ.get("OTTER_TESTBED_DOCKER_STORAGE", "vfs")
if STORAGE not in ("vfs", "overlay2"):
    raise ValueError(f"OTTER_TESTBED_DOCKER_STORAGE={STORAGE!r}: expected vfs or overlay2")
# Several sets of test hosts can run side by side (one per slot, 0 to 9): each has its own
# compose project, ports (tests/docker-compose.yml), lock, kept key and image tags.
SLOT = os.environ.get("OTTER_TESTBED_SLOT", "0")
if SLOT not in tuple("0123456789"):
    raise ValueError(f"OTTER_TESTBED_SLOT={SLOT!r}: expected one digit, 0 to 9")
_SUFFIX = "" if SLOT == "0" else f"-{SLOT}"
PROJECT = os.environ.get("OTTER_TESTBED_PROJECT", "otter-testbed" + _SUFFIX)
READY_TIMEOUT = 120.0  # seconds for a container to boot and answer; measured: about 5
RESET_SCRIPT = "/usr/local/sbin/otter-testbed-reset"
LOCK_TIMEOUT = 1800.0  # another session may hold the hosts for a whole suite
# The compose project and its ports are machine-wide, so the lock is too (not per checkout):
# sessions from two clones or worktrees wait for each other instead of colliding.
LOCK_FILE = Path(os.environ.get("OTTER_TESTBED_LOCK", f"/run/lock/{PROJECT}.lock"))
# Kept hosts (OTTER_TESTBED_KEEP=1) have one key and known_hosts for the machine: the compose
# file mounts the key's path, so a per-checkout path would recreate the hosts of another clone.
KEPT = Path(os.environ.get("OTTER_TESTBED_HOME", f"/var/tmp/{PROJECT}"))
T = TypeVar("T")


def scoped(tag: str) -> str:
    """An image tag on the controller's Docker engine, which every slot shares: slot 0 keeps
    `tag`, another slot's repository gets its suffix (otter-it-app-3:latest)."""
    repository, colon, version = tag.partition(":")
    return f"{repository}{_SUFFIX}{colon}{version}"


@dataclass(frozen=True)
class TestTarget:
    """One test host: `host` is a ready otter SSHHost (root, own key and known_hosts)."""

    __test__ = False  # not a pytest test class

    name: str        # compose service: target1, also its name on the compose network
    host: SSHHost
    ssh_port: int    # on 127.0.0.1
    http_port: int   # on 127.0.0.1, the target's port 80 (Caddy)
    container: str   # docker container name on the controller
    https_port: int = 0

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def as_user(self, user: str) -> SSHHost:
        """The same host logged in as `user` (the image has `deploy`: docker group, sudo)."""
        return dataclasses.replace(self.host, user=user)


class NotReady(RuntimeError):
    """A test host did not boot or answer in time."""


def run(argv: list[str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


def parallel(function: Callable[..., T], items: Iterable) -> list[T]:
    items = list(items)
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        return list(pool.map(function, items))


@contextlib.contextmanager
def exclusive(timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the hosts for one session: the compose project and its ports are machine-wide,
    so a second session waits (bounded) instead of recreating the first one's hosts."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a+") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NotReady(f"another test session holds the hosts ({lock.name})")
                time.sleep(1)
        yield


class Testbed:
    """The compose project of test hosts, its session key and its known_hosts file."""

    __test__ = False

    def __init__(self, workdir: Path, image: str | None = None, project: str = PROJECT,
                 compose_file: Path = COMPOSE_FILE):
        self.workdir, self.project, self.compose_file = Path(workdir), project, compose_file
        self.image = image or ensure_images()
        self.key = self.workdir / "id_ed25519"
        self.known_hosts = self.workdir / "known_hosts"
        self.authorized_keys = self.workdir / "authorized_keys"
        self._host_keys: dict[int, str] = {}
        self._lock = threading.Lock()

    @property
    def env(self) -> dict[str, str]:
        """What tests/docker-compose.yml reads."""
        return {"OTTER_TESTBED_IMAGE": self.image, "OTTER_TESTBED_SLOT": SLOT,
                "OTTER_TESTBED_AUTHORIZED_KEYS": str(self.authorized_keys)}

    def make_key(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "otter-testbed",
                 "-f", str(self.key)], check=True)
        self.authorized_keys.write_text(self.key.with_suffix(".pub").read_text())
        self.authorized_keys.chmod(0o644)
        self.known_hosts.touch()

    def compose_argv(self, *args: str, storage: str = STORAGE) -> list[str]:
        files = [self.compose_file]
        if storage == "overlay2":
            files.append(self.compose_file.with_name("docker-compose.overlay2.yml"))
        return ["docker-compose", *(a for f in files for a in ("-f", str(f))), "-p",
                self.project, *args]

    def compose(self, *args: str, timeout: float = 300) -> str:
        argv = self.compose_argv(*args)
        result = run(argv, timeout=timeout, env={**os.environ, **self.env})
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr}")
        return result.stdout

    def services(self) -> list[str]:
        names = [s for s in self.compose("config", "--services").split() if s.startswith("target")]
        return sorted(names, key=lambda name: (len(name), name))  # target2 before target10

    def target(self, service: str) -> TestTarget:
        container = run(["docker", "ps", "-a", "--format", "{{.Names}}",
                         "--filter", f"label=com.docker.compose.project={self.project}",
                         "--filter", f"label=com.docker.compose.service={service}"]).stdout.split()
        if len(container) != 1:
            raise NotReady(f"{service}: expected one container, found {container}")
        ports = {}
        for line in run(["docker", "port", container[0]]).stdout.splitlines():
            inner, _, outer = line.partition(" -> ")
            ports[inner] = int(outer.rsplit(":", 1)[1])
        host = ssh(f"root@127.0.0.1:{ports['22/tcp']}", identity_file=str(self.key),
                   known_hosts=str(self.known_hosts), host_key_checking="yes")
        return TestTarget(service, host, ports["22/tcp"], ports["80/tcp"], container[0],
                          ports.get("443/tcp", 0))

    def targets(self) -> list[TestTarget]:
        return [self.target(service) for service in self.services()]

    # -- readiness ------------------------------------------------------------------------

    def wait_ready(self, targets: list[TestTarget], timeout: float = READY_TIMEOUT) -> None:
        """Bounded wait: systemd booted, host key known, SSH + inner docker + caddy answer."""
        deadline = time.monotonic() + timeout
        parallel(lambda t: self._wait_booted(t, deadline), targets)
        for t in targets:
            key = run(["docker", "exec", t.container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"],
                      check=True).stdout.split()
            self._host_keys[t.ssh_port] = " ".join(key[:2])
        self._write_known_hosts()
        parallel(lambda t: self._wait_answers(t, deadline), targets)

    def _wait_booted(self, t: TestTarget, deadline: float) -> None:
        state = ""
        while time.monotonic() < deadline:
            try:  # before PID 1 is up, systemctl fails at once: retry
                result = run(["docker", "exec", t.container, "systemctl", "is-system-running",
                              "--wait"], timeout=max(1.0, deadline - time.monotonic()))
                state = result.stdout.strip() or result.stderr.strip()
            except subprocess.TimeoutExpired:
                break
            if state == "running":
                return
            if state == "degraded":
                failed = run(["docker", "exec", t.container, "systemctl", "--failed", "--plain",
                              "--no-legend"]).stdout.strip()
                warnings.warn(f"{t.name}: systemd is degraded; failed units:\n{failed}")
                return
            time.sleep(0.2)
        raise NotReady(f"{t.name} ({t.container}): systemd not running after the wait: {state}")

    def ssh_argv(self, t: TestTarget, *command: str, user: str = "root",
                 connect_timeout: int = 5) -> list[str]:
        """Plain OpenSSH to the target, independent of otter's executor."""
        return ["ssh", "-F", "/dev/null", "-i", str(self.key), "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}",
                "-p", str(t.ssh_port), f"{user}@127.0.0.1", "--", *command]

    def _wait_answers(self, t: TestTarget, deadline: float) -> None:
        probe = "docker info >/dev/null && systemctl is-active -q caddy && curl -fsS -o /dev/null http://127.0.0.1/"
        error = ""
        while time.monotonic() < deadline:
            result = run(self.ssh_argv(t, probe), timeout=30)
            if result.returncode == 0:
                break
            error = result.stderr.strip()
            time.sleep(0.3)
        else:
            raise NotReady(f"{t.name}: ssh, docker or caddy do not answer: {error}")
        while time.monotonic() < deadline:
            try:
                if httpx.get(t.url(), headers={"Host": "testbed.test"}, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError as exc:
                error = repr(exc)
            time.sleep(0.2)
        raise NotReady(f"{t.name}: {t.url()} does not answer 200: {error}")

    def _write_known_hosts(self) -> None:
        with self._lock:
            lines = [f"[127.0.0.1]:{port} {key}\n" for port, key in sorted(self._host_keys.items())]
            tmp = self.known_hosts.with_suffix(".tmp")
            tmp.write_text("".join(lines))
            tmp.replace(self.known_hosts)  # atomic: executors may read it meanwhile

    # -- keeping hosts clean --------------------------------------------------------------

    def reset(self, targets: list[TestTarget]) -> None:
        """Each host back to pristine (see recipe/.../otter-testbed-reset), in parallel: one
        `docker inspect` for all, then one `docker exec` each (the script starts sshd and
        heals the fault rules too)."""
        stopped = faults.restore_many(targets)  # a test stopped, paused or disconnected them
        if stopped:
            self.wait_ready(stopped)
        parallel(self._reset_one, targets)

    def _reset_one(self, t: TestTarget) -> None:
        result = run(["docker", "exec", t.container, RESET_SCRIPT], timeout=120)
        if result.returncode != 0:
            raise NotReady(f"{t.name}: reset failed ({result.stdout.strip()}): {result.stderr}")

    def recreate(self, t: TestTarget) -> TestTarget:
        """A brand-new container for `t` (new host key, written to known_hosts)."""
        self.compose("rm", "--stop", "--force", t.name)
        self.compose("up", "-d", "--no-deps", t.name)
        fresh = self.target(t.name)
        self.wait_ready([fresh])
        return fresh

    def up(self) -> list[TestTarget]:
        self.make_key()
        self.compose("up", "-d", "--force-recreate", "--remove-orphans")
        targets = self.targets()
        self.wait_ready(targets)
        return targets

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans")


if __name__ == "__main__":  # `python -m tests.testbed.hosts up` works too
    from .__main__ import main
    raise SystemExit(main())
