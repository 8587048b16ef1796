"""The renderers of a run: a live view on a (fake) terminal, plain lines on a pipe."""
import io
import re

import pytest
from rich.console import Console

from otterfile.plan.graph import Task
from otterfile.report.live import LiveReporter
from otterfile.report.json_lines import JsonReporter
from otterfile.report.plain import ConsoleReporter
from otterfile.report.reporters import console_reporter, is_terminal
from otterfile.report.text import amount, bounded
from otterfile.run.runner import FAILED, OK, Event

ESCAPE = re.compile(r"\x1b|\x9b")
HOSTS = ("web1", "web2")


class Clock:
    """A clock tests move by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def deploy_events(clock: Clock, failing: str | None = None):
    """What a two-target deploy reports: acquire, then per host lock..unlock with a
    transfer whose estimated total the archive passes (2.0 MB of a 1.9 MB estimate)."""
    acquire = Task("acquire:web", "acquire", artifact="web")
    yield Event("start", acquire, "running")
    yield Event("output", acquire, message="Step 1/3 : FROM scratch")
    yield Event("info", acquire, message="app:1 sha256:abc")
    yield Event("end", acquire, OK, seconds=0.5)
    for stage in ("lock", "ship", "start", "health", "switch", "retire", "unlock"):
        for host in HOSTS:
            task = Task(f"production/{stage}@{host}", stage, host=host, deployment="production")
            yield Event("start", task, "running")
            if stage == "ship":
                for sent in range(0, 2_100_000, 64 * 1024):  # 33 chunks, 0.1 s apart
                    clock.now += 0.1
                    total = 2_000_000  # the estimate, passed at the end
                    yield Event("progress", task, data={"done": sent, "total": total})
                yield Event("info", task, message="sent 2097152 bytes")
            if stage == "health" and host == failing:
                yield Event("end", task, FAILED, "GET /health answered 500", seconds=8.0)
                continue
            yield Event("end", task, OK, seconds=0.2)


def test_a_pipe_gets_plain_lines_one_per_finished_stage():
    clock, stream = Clock(), io.StringIO()
    report = ConsoleReporter(stream, clock=clock)
    for event in deploy_events(clock):
        report(event)
    report.finish("summary")
    lines = stream.getvalue().splitlines()
    assert not ESCAPE.search(stream.getvalue())
    ends = [line for line in lines if re.search(r"\b(ok|FAILED)\b", line)]
    assert len(ends) == 1 + 7 * len(HOSTS)  # one line per finished stage
    progress = [line for line in lines if " of " in line or re.search(r"\d B\b|KB|MB", line)
                and "sent" not in line]
    assert 1 <= len(progress) <= 2  # 6.6 s of shipping: one line every 3 s at most
    assert "ship       ok" in next(line for line in lines if "web1" in line and "ship" in line
                                    and "ok" in line)
    assert any(line.endswith("sent 2097152 bytes") for line in lines)  # said on its end line
    assert lines[-1] == "summary"
    assert len(lines) <= 20


def test_plain_progress_counts_never_pass_their_total():
    clock, stream = Clock(), io.StringIO()
    report = ConsoleReporter(stream, clock=clock, every=0.0)
    for event in deploy_events(clock):
        report(event)
    units = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
    counts = [(float(a) * units[u], float(b) * units[v]) for a, u, b, v in
              re.findall(r"([\d.]+) ([KMG]?B) of ([\d.]+) ([KMG]?B)", stream.getvalue())]
    assert counts and all(done <= total for done, total in counts)
    assert amount(2_100_000, 2_000_000) == "2.0 MB"  # past an estimate: no total
    assert bounded(5, 4) == (5, None) and bounded(3, 4) == (3, 4)


def test_a_failure_shows_its_reason_on_a_pipe():
    clock, stream = Clock(), io.StringIO()
    report = ConsoleReporter(stream, clock=clock)
    for event in deploy_events(clock, failing="web2"):
        report(event)
    assert re.search(r"web2\s+health\s+FAILED\s+8\.0s\s+GET /health answered 500",
                     stream.getvalue())


def test_a_terminal_redraws_lines_in_place_and_scrolls_output_above():
    clock, stream = Clock(), Terminal()
    console = Console(file=stream, force_terminal=True, width=100, color_system=None)
    report = LiveReporter(stream, clock=clock, console=console)
    events = deploy_events(clock, failing="web2")  # moves the clock as it goes
    for _ in range(30):  # stop in the middle of web1's transfer
        report(next(events))
    rows = [report._cells(row, clock()) for row in report.rows.values()]
    shown = {str(cells[0]): " ".join(str(c) for c in cells[1:]) for cells in rows}
    assert re.fullmatch(r"ship [\d.]+s [\d.]+ [KM]B of 1\.9 MB\s+[\d.]+ [KM]B/s", shown["web1"])
    assert shown["controller"].startswith("ok")
    for event in events:
        report(event)
    rows = {str(r[0]): [str(c) for c in r[1:]] for r in
            (report._cells(row, clock()) for row in report.rows.values())}
    assert rows["web2"][0] == "FAILED" and "health: GET /health answered 500" in rows["web2"][2]
    assert rows["web1"][0] == "ok"
    report.finish("summary table")
    out = stream.getvalue()
    assert "\x1b[" in out and re.search(r"\x1b\[\d*A", out)  # the region moves the cursor up
    assert "controller | Step 1/3 : FROM scratch" in out  # output scrolls above
    assert "web2 health FAILED: GET /health answered 500" in out
    assert out.rstrip().endswith("summary table")


def test_live_counts_never_pass_their_total():
    clock, stream = Clock(), Terminal()
    report = LiveReporter(stream, clock=clock)
    task = Task("production/ship@web1", "ship", host="web1", deployment="production")
    report.apply(Event("start", task, "running"))
    report.apply(Event("progress", task, data={"done": 2_100_000, "total": 2_000_000}))
    detail = str(report._cells(report.rows["web1"], clock())[3])
    assert detail.startswith("2.0 MB  ") and " of " not in detail


def test_target_text_cannot_move_the_cursor_in_the_live_view():
    stream = Terminal()
    console = Console(file=stream, force_terminal=True, width=100, color_system=None)
    report = LiveReporter(stream, console=console)
    task = Task("production/start@web1", "start", host="web1", deployment="production")
    report(Event("output", task, message="\x1b[2Aowned\x1b]0;title\x07"))
    report.finish("")
    assert "\x1b[2Aowned" not in stream.getvalue() and "owned" in stream.getvalue()


@pytest.mark.parametrize("environ, tty, live", [
    ({"TERM": "xterm"}, True, True),
    ({"TERM": "xterm"}, False, False),
    ({"TERM": "dumb"}, True, False),
    ({"TERM": "xterm", "NO_COLOR": "1"}, True, False),
    ({}, True, False),
])
def test_the_live_view_only_on_a_real_terminal(monkeypatch, environ, tty, live):
    stream = Terminal() if tty else io.StringIO()
    assert is_terminal(stream, environ) is live
    monkeypatch.delenv("NO_COLOR", raising=False)
    for key, value in {"TERM": "xterm", **environ}.items():
        monkeypatch.setenv(key, value)
    if "NO_COLOR" in environ:
        monkeypatch.setenv("NO_COLOR", "1")
    if "TERM" not in environ:
        monkeypatch.delenv("TERM")
    assert (type(console_reporter(stream)).__name__ == "LiveReporter") is live


def test_json_events_carry_version_host_and_address():
    stream = io.StringIO()
    report = JsonReporter(stream, hosts={"web1": "deploy@10.0.0.1:2222"})
    task = Task("production/ship@web1", "ship", host="web1", deployment="production")
    report(Event("progress", task, data={"done": 10, "total": 20}))
    report(Event("end", Task("acquire:web", "acquire"), OK, seconds=1.23456))
    import json
    first, second = map(json.loads, stream.getvalue().splitlines())
    assert first == {"v": 1, "event": "progress", "seconds": 0.0, "task": "production/ship@web1",
                     "host": "web1", "stage": "ship", "deployment": "production",
                     "address": "deploy@10.0.0.1:2222", "done": 10, "total": 20}
    assert second["host"] == "controller" and second["address"] == "local"
    assert second["seconds"] == 1.235 and second["status"] == "ok"


def test_json_progress_is_a_few_objects_per_task_and_always_the_last():
    import json
    stream, now = io.StringIO(), [0.0]
    report = JsonReporter(stream, clock=lambda: now[0])
    ship_a = Task("production/ship@a", "ship", host="a", deployment="production")
    ship_b = Task("production/ship@b", "ship", host="b", deployment="production")
    for done in range(1, 1001):  # a thousand chunks within 0.5 s, two targets
        now[0] = done / 2000
        report(Event("progress", ship_a, data={"done": done * 1000, "total": 1_000_000}))
        report(Event("progress", ship_b, data={"done": done * 1000, "total": 1_000_000}))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    for host in ("a", "b"):
        dones = [line["done"] for line in lines if line["host"] == host]
        assert dones[0] == 1000 and dones[-1] == 1_000_000  # the first and the last
        assert len(dones) <= 4  # 0, 0.25, 0.5 s, and the last
