"""The health gate's stabilisation window (`min_ready_seconds`) against a recording target
and a fake clock, for each runtime's own instance status: a release that answers healthy and
then fails, exits or is restarted within the window is refused, one that stays healthy is
watched exactly that long, and 0 asks nothing more than before. Nothing runs or waits."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from otterfile import HealthCheck, OtterError, ssh
from otterfile.executors.base import ProbeFailed
from otterfile.executors.recording import RecordingExecutor
from otterfile.run import health
from otterfile.run.health import HealthFailed, wait_healthy
from otterfile.runtimes import NAMED

pytestmark = pytest.mark.unit

INSTANCE = "otter-production-R1"
# what each runtime's inspect prints for an instance that runs, and for one that exited 2
SYSTEMD = ("LoadState=loaded\nActiveState={}\nSubState={}\nExecMainStatus={}\nNRestarts={}\n"
           "Result={}\n--- otter:journal\n{}")
STATUS = {
    "docker": {"running": "running 0 0 false", "exited": "exited 2 0 false\nbye",
               "restarted": "running 2 1 false\nbye"},
    "podman": {"running": "running 0 0 false", "exited": "exited 2 0 false\nbye",
               "restarted": "running 2 1 false\nbye"},
    "systemd": {"running": SYSTEMD.format("active", "running", 0, 0, "success", ""),
                "exited": SYSTEMD.format("failed", "failed", 2, 0, "exit-code", "bye"),
                "restarted": SYSTEMD.format("active", "running", 2, 1, "success", "bye")},
}
EXITED_AS = {"docker": "exited", "podman": "exited", "systemd": "failed"}


class Clock:
    """Stands in for the `time` module in otterfile.run.health: sleeping moves it on."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Target(RecordingExecutor):
    """Answers GETs with `answer(t)` and inspects with `inspect(t)`, t the clock's time; an
    answer of None is a refused connection."""

    def __init__(self, clock, answer, inspect):
        super().__init__(ssh("root@web1"))
        self.clock, self.answer, self.inspect = clock, answer, inspect
        self.gets: list[float] = []
        self.inspected: list[float] = []

    def _answer(self, command):
        from otterfile.executors.recording import _result
        if command.description.startswith("inspect "):
            self.inspected.append(self.clock.now)
            return _result(self.inspect(self.clock.now), command, self.host.name)
        if command.description.startswith("GET "):
            self.gets.append(self.clock.now)
        return super()._answer(command)

    @property
    def http_status(self):
        status = self.answer(self.clock.now)
        if status is None:
            raise ProbeFailed("connection refused")
        return status

    @http_status.setter
    def http_status(self, value):
        pass  # RecordingExecutor's constructor sets it; `answer` decides


def gate(monkeypatch, runtime: str, answer, inspect, min_ready: float = 5,
         cancel: threading.Event | None = None):
    """Run the health gate; (what it said or the OtterError it raised, the target)."""
    clock = Clock()
    monkeypatch.setattr(health, "time", clock)
    target = Target(clock, answer, lambda t: STATUS[runtime][inspect(t)])
    said: list[str] = []
    engine = SimpleNamespace(executor=lambda host: target, cancel=cancel or threading.Event(),
                             emit=lambda task, kind, message: said.append(message))
    check = HealthCheck(path="/health", timeout_seconds=10, min_ready_seconds=min_ready)
    lane = SimpleNamespace(deployment=SimpleNamespace(health_check=check),
                           release=SimpleNamespace(port=20001, instance=INSTANCE),
                           runtime=NAMED[runtime])
    try:
        wait_healthy(engine, lane, SimpleNamespace(host="web1"))  # type: ignore[arg-type]
    except OtterError as error:
        return error, target
    return said, target


@pytest.mark.parametrize("runtime", sorted(STATUS))
def test_a_release_that_stays_healthy_is_watched_that_long(monkeypatch, runtime):
    said, target = gate(monkeypatch, runtime, lambda t: 200, lambda t: "running")
    assert said == ["GET /health answered 200 after 1 poll(s), then stayed healthy for 5.0s"]
    assert target.gets == [0.5 * n for n in range(11)]  # the first answer, then 5 s of polls
    assert target.inspected[-1] == 5.0  # its instance never exited, restart counts included


@pytest.mark.parametrize("runtime", sorted(STATUS))
def test_an_instance_that_exits_within_the_window_is_refused(monkeypatch, runtime):
    error, target = gate(monkeypatch, runtime, lambda t: 200 if t < 2 else None,
                         lambda t: "running" if t < 2 else "exited")
    assert isinstance(error, HealthFailed)
    assert f"web1: {INSTANCE} {EXITED_AS[runtime]} (exit 2, 0 restarts) 2.0s after it was " \
        "first healthy (min_ready_seconds=5); GET /health: connection refused" in str(error)
    assert "bye" in str(error)  # its last log lines
    assert target.gets[-1] == 2.0  # nothing asked after it was seen gone


def test_an_answer_that_turns_unhealthy_within_the_window_is_refused(monkeypatch):
    error, _ = gate(monkeypatch, "docker", lambda t: 200 if t < 1.5 else 503,
                    lambda t: "running")
    assert str(error) == (f"web1: {INSTANCE} not healthy 1.5s after it was first healthy "
                          "(min_ready_seconds=5): GET /health answered 503, expected 200")


@pytest.mark.parametrize("runtime", sorted(STATUS))
def test_an_exit_between_two_polls_shows_in_the_restart_count(monkeypatch, runtime):
    """A restart policy brought it back before the next GET: every GET answered 200."""
    error, _ = gate(monkeypatch, runtime, lambda t: 200,
                    lambda t: "running" if t < 1.2 else "restarted")
    assert isinstance(error, HealthFailed)
    assert f"{INSTANCE} exited and restarted (1 restarts) 2.0s after it was first " \
        "healthy (min_ready_seconds=5); it answered healthy until then" in str(error)


def test_a_window_of_0_asks_nothing_more(monkeypatch):
    said, target = gate(monkeypatch, "docker", lambda t: 200, lambda t: "running",
                        min_ready=0)
    assert said == ["GET /health answered 200 after 1 poll(s)"]
    assert target.gets == [0.0] and target.inspected == []


def test_a_release_never_healthy_is_refused_as_before(monkeypatch):
    error, _ = gate(monkeypatch, "docker", lambda t: 503, lambda t: "running")
    assert str(error) == (f"web1: {INSTANCE} not healthy after 10s: GET /health answered "
                          "503, expected 200")


def test_ctrl_c_within_the_window_stops_the_watch(monkeypatch):
    cancel = threading.Event()

    def answer(t):
        if t >= 1:
            cancel.set()  # what the engine's interrupt() does
        return 200
    error, target = gate(monkeypatch, "docker", answer, lambda t: "running", cancel=cancel)
    assert type(error) is OtterError and str(error) == "interrupted during the health check"
    assert target.gets[-1] == 1.0


def test_a_release_slow_to_answer_is_polled_soon_then_every_half_second(monkeypatch):
    """The first polls come 0.05, 0.1, 0.2 s apart (most services answer within tenths of
    a second), later ones POLL_SECONDS apart."""
    said, target = gate(monkeypatch, "docker", lambda t: 200 if t >= 2 else None,
                        lambda t: "running", min_ready=0)
    assert target.gets[:5] == pytest.approx([0.0, 0.05, 0.15, 0.35, 0.75])
    assert [round(b - a, 3) for a, b in zip(target.gets[4:], target.gets[5:])] == \
        [0.5] * (len(target.gets) - 5)
    assert said == [f"GET /health answered 200 after {len(target.gets)} poll(s)"]
    # its instance looked at every 4th failed poll, not at once (one round trip less)
    assert target.inspected == pytest.approx([0.35])


@pytest.mark.parametrize("recreate,check,wait", [
    (False, None, health.LISTEN_WAIT),  # any answer below 500 on /
    (False, HealthCheck(path="/up", timeout_seconds=20), health.LISTEN_WAIT),
    (False, HealthCheck(path="/up", timeout_seconds=1), 1),  # never past the gate's own
    (True, HealthCheck(path="/up"), health.LISTEN_WAIT),
    (True, None, 0),  # running is healthy: it may listen on no port
])
def test_the_start_waits_for_the_port_only_where_the_gate_polls_it(recreate, check, wait):
    deployment = SimpleNamespace(recreate=recreate, health_check=check)
    assert health.listen_wait(deployment) == wait  # type: ignore[arg-type]
