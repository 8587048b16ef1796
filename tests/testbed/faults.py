"""Faults for integration tests: stop, kill, pause or cut off a test host; a request loop.

What each fault does to SSH (measured; sshd is reached through Docker's published port
127.0.0.1:220N, i.e. docker-proxy on the controller, then the container's outer interface):
- stop(t):  systemd halts (SIGRTMIN+3). Open ssh sessions end (ssh exits 255); new ones get
  "Connection refused" at once. start(t) boots the same container (same host key).
- kill(t):  SIGKILL, no shutdown; otherwise like stop.
- disconnect(t): the container leaves its compose network and Docker drops its published
  ports with it: new connections are REFUSED at once, open ones break. Not a silent partition.
  connect(t) rejoins (same alias) and the published ports come back.
- partition(t): iptables DROP inside the target on its outer interfaces (eth+). TCP still
  connects to docker-proxy on 127.0.0.1, then nothing answers: ssh fails with "Connection
  timed out during banner exchange" after its ConnectTimeout, open connections hang until
  ServerAlive gives up, HTTP times out. The host itself keeps running. heal(t) undoes it.
- pause(t): freezes every process of the host (cgroup freezer): from outside like partition,
  and `docker exec` fails too. unpause(t).
- restart(t): `docker restart`: systemd halts and the same container boots again (what the
  deploy wrote on disk stays; /run is a fresh tmpfs). Wait with `testbed.wait_ready([t])`.
- kill_sshd(t): sshd stops listening and every sshd process of the host (sessions included)
  is SIGKILLed: open ssh sessions end (ssh exits 255), new ones are refused; the host, its
  proxy and releases keep running. start_sshd(t) undoes it.
- throttle(t, rate): inbound SSH on the outer interfaces is dropped past `rate` (iptables
  hashlimit, e.g. "2mb/s"), so a ship takes long enough to fault it in its middle; in the
  same chain as partition (which replaces it) and healed with it.
- mount_tmpfs(t, path, size) / unmount(t, path): a small file system where a store is; fill(t,
  path, leave) fills the one holding `path` up to `leave` bytes free, unfill(t, path) empties it.
- refuse(t, program, verb): `docker rm ...` (say) fails on the host, by a wrapper first on
  PATH; allow(t, program) undoes it.
After start/unpause/connect, wait with `testbed.wait_ready([t])`; the `clean_targets` fixture
undoes every fault itself (`restore`) but mounts (unmount them in the test's own fixture).
"""
from __future__ import annotations

import ipaddress
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx

CHAIN = "OTTER-FAULT"


class HasContainer(Protocol):
    name: str
    container: str


T = TypeVar("T", bound=HasContainer)


def _docker(*argv: str, check: bool = True) -> str:
    result = subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout


def stop(t: HasContainer, timeout: int = 10) -> None:
    _docker("stop", "-t", str(timeout), t.container)


def kill(t: HasContainer) -> None:
    _docker("kill", t.container)


def start(t: HasContainer) -> None:
    _docker("start", t.container)


PAUSE_TRIES = 5  # the cgroup freezer gives up ("unable to freeze") when a busy task will not stop


def pause(t: HasContainer) -> None:
    for _ in range(PAUSE_TRIES - 1):
        result = subprocess.run(["docker", "pause", t.container], capture_output=True,
                                text=True, timeout=120)
        if result.returncode == 0:
            return
        if "unable to freeze" not in result.stderr:
            raise RuntimeError(f"docker pause {t.container}: {result.stderr.strip()}")
    _docker("pause", t.container)


def unpause(t: HasContainer) -> None:
    _docker("unpause", t.container)


def _network(t: HasContainer) -> str:
    project = _docker("inspect", "-f", '{{index .Config.Labels "com.docker.compose.project"}}',
                      t.container).strip()
    return f"{project}_default"


def disconnect(t: HasContainer) -> None:
    _docker("network", "disconnect", _network(t), t.container)


def connect(t: HasContainer) -> None:
    _docker("network", "connect", "--alias", t.name, _network(t), t.container)


def partition(t: HasContainer) -> None:
    _docker("exec", t.container, "sh", "-c",
            f"iptables -N {CHAIN} 2>/dev/null; iptables -F {CHAIN}; iptables -A {CHAIN} -j DROP;"
            f" iptables -C INPUT -i eth+ -j {CHAIN} 2>/dev/null || iptables -I INPUT -i eth+ -j {CHAIN};"
            f" iptables -C OUTPUT -o eth+ -j {CHAIN} 2>/dev/null || iptables -I OUTPUT -o eth+ -j {CHAIN}")


def restart(t: HasContainer, timeout: int = 10) -> None:
    _docker("restart", "-t", str(timeout), t.container)


def kill_sshd(t: HasContainer) -> None:
    # ssh.service keeps its sessions when stopped (KillMode=process): kill them by pid
    _docker("exec", t.container, "sh", "-c",
            "systemctl stop ssh.service ssh.socket 2>/dev/null; "
            "for p in $(pidof sshd); do kill -KILL \"$p\"; done; exit 0")


def start_sshd(t: HasContainer) -> None:
    _docker("exec", t.container, "systemctl", "start", "ssh.service")


def throttle(t: HasContainer, rate: str) -> None:
    _docker("exec", t.container, "sh", "-c",
            f"iptables -N {CHAIN} 2>/dev/null; iptables -F {CHAIN};"
            f" iptables -A {CHAIN} -p tcp --dport 22 -m hashlimit --hashlimit-name otter-ssh"
            f" --hashlimit-above {rate} --hashlimit-burst 1mb --hashlimit-mode dstport -j DROP;"
            f" iptables -C INPUT -i eth+ -j {CHAIN} 2>/dev/null || iptables -I INPUT -i eth+ -j {CHAIN}")


def mount_tmpfs(t: HasContainer, path: str, size: str) -> None:
    _docker("exec", t.container, "sh", "-c", 'mkdir -p "$1" && mount -t tmpfs -o size="$2" '
            'otter-fault "$1"', "sh", path, size)


def unmount(t: HasContainer, path: str) -> None:
    _docker("exec", t.container, "sh", "-c", 'while mountpoint -q "$1"; do umount -l "$1" || '
            'exit 1; done', "sh", path, check=False)


def fill(t: HasContainer, path: str, leave: int) -> None:
    """Fill the file system holding `path` (a folder) until `leave` bytes are free, or
    full when what writes there meanwhile took more."""
    _docker("exec", t.container, "sh", "-c",
            'kib=$(df -Pk "$1" | awk \'NR == 2 { print $4 }\'); '
            'head -c $((kib * 1024 - $2)) /dev/zero > "$1/otter-fill" 2>/dev/null; exit 0',
            "sh", path, str(leave))


def unfill(t: HasContainer, path: str) -> None:
    _docker("exec", t.container, "rm", "-f", f"{path}/otter-fill")


def refuse(t: HasContainer, program: str, verb: str) -> None:
    """`PROGRAM VERB ...` (and `PROGRAM container VERB ...`) fails on the host, exit 1 with
    a message on stderr, through a wrapper first on PATH (/usr/local/bin, which sshd's and
    systemd's PATH put before /usr/bin); everything else runs the real program. allow(t,
    program) undoes it, as the hosts' reset does."""
    wrapper = (f'#!/bin/sh\ncase "$1 $2" in "{verb} "*|"container {verb}")\n'
               f'  echo "{program} {verb}: refused (a test\'s fault)" >&2; exit 1 ;;\nesac\n'
               f'exec /usr/bin/{program} "$@"\n')
    _docker("exec", t.container, "sh", "-c", 'printf "%s" "$1" > "/usr/local/bin/$2" && '
            'chmod 755 "/usr/local/bin/$2"', "sh", wrapper, program)


def allow(t: HasContainer, program: str) -> None:
    _docker("exec", t.container, "rm", "-f", f"/usr/local/bin/{program}")


def heal(t: HasContainer) -> None:
    _docker("exec", t.container, "iptables", "-F", CHAIN, check=False)


def restore(t: HasContainer, *, heal_rules: bool = True) -> bool:
    """Undo any fault: unpause, start, reconnect, heal, sshd started. True if the host must
    boot or reconnect (then wait until it is ready)."""
    waited = bool(restore_many([t]))
    if heal_rules:
        heal(t)
    # kill_sshd stops it: a test that failed before start_sshd left it so
    _docker("exec", t.container, "sh", "-c",
            "systemctl is-active -q ssh.service || systemctl start ssh.service", check=False)
    return waited


def restore_many(targets: list[T]) -> list[T]:
    """Unpause, start and reconnect what a test left so, all hosts read by one `docker
    inspect`; the hosts that must boot or reconnect (wait until they are ready). Rules and
    sshd are left to the caller (the testbed's reset script heals and starts sshd itself)."""
    if not targets:
        return []
    lines = _docker("inspect", "-f", "{{.State.Status}}|{{index .Config.Labels "
                    "\"com.docker.compose.project\"}}|{{json .NetworkSettings.Networks}}",
                    *(t.container for t in targets)).strip().splitlines()
    waiting = []
    for t, line in zip(targets, lines, strict=True):
        status, project, networks = line.split("|", 2)
        waited = False
        if status == "paused":
            unpause(t)
            waited = True
        elif status != "running":
            start(t)
            waited = True
        if f'"{project}_default"' not in networks:
            _docker("network", "connect", "--alias", t.name, f"{project}_default", t.container)
            waited = True
        if waited:
            waiting.append(t)
    return waiting


# -- a bounded request loop -------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    at: float            # seconds since the loop started
    status: int | None   # None: no HTTP answer (see error)
    body: str = ""       # first 200 characters, stripped
    error: str = ""


@dataclass
class LoopSummary:
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    samples: list[Sample] = field(default_factory=list, repr=False)

    @property
    def total(self) -> int:
        return self.ok + self.failed

    @property
    def statuses(self) -> Counter:
        return Counter(s.status if s.status is not None else s.error for s in self.samples)

    @property
    def bodies(self) -> Counter:
        return Counter(s.body for s in self.samples if s.status is not None)

    def __str__(self) -> str:
        return (f"{self.total} requests in {self.seconds:.1f}s: {self.ok} ok, {self.failed} "
                f"failed; {dict(self.statuses)}")


def _loopback_only(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"request loops only go to 127.0.0.0/8 or ::1, not {url}")


class RequestLoop:
    """GET `url` over and over in a thread until stop(), max_requests or max_seconds.

        with RequestLoop(t.url("/"), host="myapp.test", max_seconds=60) as loop:
            ... deploy ...
        assert loop.summary.failed == 0, loop.summary

    A request counts ok when it answers `expect_status`. Without keepalive each request
    opens its own connection, so refused connections are seen as they happen.
    """

    def __init__(self, url: str, *, host: str | None = None, max_requests: int = 5000,
                 max_seconds: float = 120.0, interval: float = 0.01, timeout: float = 2.0,
                 expect_status: int = 200, keepalive: bool = False):
        _loopback_only(url)
        self.url, self.max_requests, self.max_seconds = url, max_requests, max_seconds
        self.interval, self.expect_status = interval, expect_status
        self.headers = {"Host": host} if host else {}
        limits = httpx.Limits(max_keepalive_connections=1 if keepalive else 0)
        self._client = httpx.Client(timeout=timeout, limits=limits)
        self.summary = LoopSummary()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="request-loop", daemon=True)

    def _loop(self) -> None:
        started = time.monotonic()
        summary = self.summary
        while (not self._stop.is_set() and summary.total < self.max_requests
               and time.monotonic() - started < self.max_seconds):
            at = time.monotonic() - started
            try:
                response = self._client.get(self.url, headers=self.headers)
                sample = Sample(at, response.status_code, response.text[:200].strip())
            except httpx.HTTPError as exc:
                sample = Sample(at, None, error=type(exc).__name__)
            summary.samples.append(sample)
            if sample.status == self.expect_status:
                summary.ok += 1
            else:
                summary.failed += 1
            summary.seconds = time.monotonic() - started
            self._stop.wait(self.interval)

    def start(self) -> "RequestLoop":
        self._thread.start()
        return self

    def stop(self) -> LoopSummary:
        self._stop.set()
        self._thread.join(timeout=self._client.timeout.read + 5 if self._client.timeout.read else 30)
        self._client.close()
        return self.summary

    def wait_until(self, done: Callable[[LoopSummary], bool], timeout: float = 60) -> None:
        """Until `done(summary)` holds, bounded: a test acts on what the loop has seen (a
        first answer, a first failure), not after a guessed sleep."""
        deadline = time.monotonic() + timeout
        while not done(self.summary):
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError(f"the request loop never got there: {self.summary}")
            time.sleep(0.05)

    def wait(self) -> LoopSummary:
        """Until the loop reaches its own bound (count or time)."""
        self._thread.join(timeout=self.max_seconds + 10)
        return self.stop()

    def __enter__(self) -> "RequestLoop":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
