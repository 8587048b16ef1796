"""A bounded request loop through the targets' proxies, for the length of a deploy.

    with Load([Site("web.test", two, slow=2), Site("other.test", two, rate=5)]) as load:
        otter(project, "run", "web")
    report = load.report()
    assert report.failed == [] and report.bodies() <= {"v1", "v2"}

Each site gets `rate` requests a second on each target (a fresh connection each, as a
browser that is not reusing one), `slow` long requests (`/cgi-bin/slow`, ~2 s) kept in
flight on each target, and `keepalive` connections per target that each send
`keepalive_rate` requests a second and are reused while the server keeps them (as browsers
and load balancers do). Every request's status, body and latency is kept, and so is every
kept connection the server closed while it was idle without saying so (`Connection: close`):
what a proxy's reload does, and what fails a request sent at that moment. The loop stops at
`stop()` or after `max_seconds`, whichever comes first; traffic goes to 127.0.0.1 only.
"""
from __future__ import annotations

import http.client
import select
import threading
import time
from dataclasses import dataclass, field

SLOW_PATH = "/cgi-bin/slow"


@dataclass(frozen=True)
class Site:
    """What to load: a domain (the Host header) on each target's published HTTP port."""

    domain: str
    targets: list
    rate: float = 20  # fast requests a second, per target
    slow: int = 0  # slow requests kept in flight, per target
    keepalive: int = 0  # kept connections, per target
    keepalive_rate: float = 10  # requests a second on each kept connection


@dataclass(frozen=True)
class Sample:
    """One request: what was asked, when, how long it took and what came back."""

    domain: str
    target: str
    path: str
    started: float  # time.monotonic()
    seconds: float
    status: int  # 0: no HTTP answer at all
    body: str
    error: str = ""
    kept: bool = False  # sent on a kept (keep-alive) connection


    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error

    @property
    def ended(self) -> float:
        return self.started + self.seconds


@dataclass(frozen=True)
class Drop:
    """A kept connection the server closed while idle, without `Connection: close`."""

    domain: str
    target: str
    at: float  # time.monotonic() when the client found it closed


@dataclass
class Report:
    samples: list[Sample] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)

    def of(self, domain: str, slow: bool | None = None,
           kept: bool | None = None) -> list[Sample]:
        return [s for s in self.samples if s.domain == domain and
                (slow is None or (s.path == SLOW_PATH) == slow) and
                (kept is None or s.kept == kept)]

    @property
    def failed(self) -> list[Sample]:
        return [s for s in self.samples if not s.ok]

    def bodies(self, domain: str | None = None) -> set[str]:
        return {s.body for s in self.samples if domain in (None, s.domain)}

    def spanning(self, moment: float, domain: str | None = None) -> list[Sample]:
        """The slow requests in flight at `moment`."""
        return [s for s in self.samples if s.path == SLOW_PATH and
                s.started <= moment <= s.ended and domain in (None, s.domain)]

    def longest(self, start: float = 0, end: float = float("inf"), *,
                slow: bool = False) -> float:
        """The longest latency of requests (fast ones by default) overlapping start..end."""
        seconds = [s.seconds for s in self.samples if (s.path == SLOW_PATH) == slow
                   and s.started <= end and s.ended >= start]
        return max(seconds, default=0.0)

    def summary(self) -> str:
        lines = []
        for domain in dict.fromkeys(s.domain for s in self.samples):
            fast, slow = self.of(domain, slow=False), self.of(domain, slow=True)
            kept = self.of(domain, kept=True)
            drops = sum(d.domain == domain for d in self.drops)
            lines.append(f"{domain}: {len(fast)} requests ({sum(not s.ok for s in fast)} "
                         f"failed; {len(kept)} on kept connections, {drops} of those closed "
                         f"idle by the server), {len(slow)} slow "
                         f"({sum(not s.ok for s in slow)} failed), "
                         f"answers {sorted(self.bodies(domain))}, longest "
                         f"{max((s.seconds for s in fast), default=0):.3f}s")
        return "; ".join(lines)


def request(port: int, domain: str, path: str, timeout: float = 15) -> tuple[int, str, str]:
    """One GET on a fresh connection to 127.0.0.1:port: (status, body, error)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": domain, "Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace").strip(), ""
    except (OSError, http.client.HTTPException) as error:
        return 0, "", f"{type(error).__name__}: {error}"
    finally:
        connection.close()


def dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle kept connection was closed by the server: its socket reads (EOF) while
    no request is out, as urllib3 checks before it reuses one."""
    sock = connection.sock
    return sock is not None and bool(select.select([sock], [], [], 0)[0])


class Load:
    """Threads that send requests until stopped; bounded by `max_seconds`."""

    def __init__(self, sites: list[Site], *, max_seconds: float = 300):
        self.sites, self.max_seconds = sites, max_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._samples: list[Sample] = []
        self._drops: list[Drop] = []
        self._threads: list[threading.Thread] = []

    def _record(self, site: Site, target, path: str) -> None:
        started = time.monotonic()
        status, body, error = request(target.http_port, site.domain, path)
        sample = Sample(site.domain, target.name, path, started, time.monotonic() - started,
                        status, body, error)
        with self._lock:
            self._samples.append(sample)

    def _fast(self, site: Site, target, deadline: float) -> None:
        interval, due = 1 / site.rate, time.monotonic()
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._record(site, target, "/")
            due += interval
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _kept(self, site: Site, target, deadline: float) -> None:
        """One kept connection: reused until the server ends it; each request recorded, and
        each idle close without `Connection: close` (the next request would have failed)."""
        connection, interval, due = None, 1 / site.keepalive_rate, time.monotonic()
        while not self._stop.is_set() and time.monotonic() < deadline:
            if connection is not None and dropped(connection):
                with self._lock:
                    self._drops.append(Drop(site.domain, target.name, time.monotonic()))
                connection.close()
                connection = None
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", target.http_port,
                                                        timeout=15)
            started, status, body, error = time.monotonic(), 0, "", ""
            try:
                connection.request("GET", "/", headers={"Host": site.domain})
                response = connection.getresponse()
                status, body = response.status, response.read().decode(errors="replace").strip()
                if response.will_close:  # said so: a reconnect is expected, not a drop
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as failure:
                error = f"{type(failure).__name__}: {failure}"
                connection.close()
                connection = None
            with self._lock:
                self._samples.append(Sample(site.domain, target.name, "/", started,
                                            time.monotonic() - started, status, body, error,
                                            kept=True))
            due += interval
            self._stop.wait(max(0.0, due - time.monotonic()))
        if connection is not None:
            connection.close()

    def _slow(self, site: Site, target, deadline: float) -> None:
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._record(site, target, SLOW_PATH)

    def start(self) -> Load:
        deadline = time.monotonic() + self.max_seconds
        for site in self.sites:
            for target in site.targets:
                jobs = [self._fast] * (site.rate > 0) + [self._kept] * site.keepalive + \
                    [self._slow] * site.slow
                for index, job in enumerate(jobs):
                    thread = threading.Thread(target=job, args=(site, target, deadline),
                                              daemon=True)
                    self._threads.append(thread)
                    thread.start()
                    if job is self._slow:  # spread slow requests over their 2 s
                        time.sleep(2 / max(1, site.slow) * (index > 0))
        return self

    def wait_for(self, count: int, timeout: float = 60) -> None:
        """Until `count` more requests have ended than now (bounded): the loop is seen
        running, not guessed to be after a sleep."""
        with self._lock:
            wanted = len(self._samples) + count
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                done = len(self._samples)
            if done >= wanted:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{done} requests ended, {wanted} awaited")
            self._stop.wait(0.05)

    def stop(self) -> Report:
        """Stop sending; wait for the requests in flight (a slow one ends within seconds)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        return self.report()

    def report(self) -> Report:
        with self._lock:
            return Report(sorted(self._samples, key=lambda s: s.started), list(self._drops))

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
