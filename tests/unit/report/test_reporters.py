"""The renderers of a run: plain lines on a pipe, JSON lines, the live view only on a real
terminal, and nothing a target says reaching the terminal raw."""
import io
import re

import pytest

from otterfile.plan.graph import Task
from otterfile.report.json_lines import JsonReporter
from otterfile.report.plain import ConsoleReporter
from otterfile.report.reporters import console_reporter, is_terminal
from otterfile.report.text import amount, bounded
from otterfile.report.tables import table
from otterfile.report.text import printable
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


# --- the terminal --------------------------------------------------------------------------

def test_printable_drops_sequences_and_escapes_controls():
    assert printable("\x1b[31mred\x1b[0m \x1b]0;title\x07ok") == "red ok"
    assert printable("a\tb\nc\rd\x00e\x07f\x1bg\x7fh\x85i\x9b2Jj") == \
        "a\tb\nc\\x0dd\\x00e\\x07f\\x1bg\\x7fh\\x85ij"
    assert printable("a\tb\n", keep="") == "a\\x09b\\x0a"
    assert printable("café ✓") == "café ✓"


def test_a_table_escapes_cells_and_keeps_one_line_per_row():
    shown = table(["name", "status"], [["otter-p-1", "Up\x1b[2J\x1b\x07"], ["b", "x\ny\tz"]])
    assert shown.splitlines() == ["name       status", "---------  ----------",
                                  "otter-p-1  Up\\x1b\\x07", "b          x y z"]


def test_console_output_lines_are_sanitized():
    stream = io.StringIO()
    report = ConsoleReporter(stream)
    task = Task("production/start@web1", "start", host="web1")
    report(Event("output", task, message="\x1b[2J\x1b]0;owned\x07hello\x1b\r"))
    report(Event("end", task, status=FAILED, message="boom\n\x1bc reset", seconds=1.0))
    out = stream.getvalue()
    assert "\x1b" not in out and "\r" not in out
    assert "| hello\\x1b\\x0d\n" in out and "boom\n      \\x1bc reset" in out


@pytest.mark.unit
def test_the_summary_marks_name_the_runners_states():
    """report/tables.py spells the runner's states out (it imports the runner only when a
    summary is made, not for otter exec's table)."""
    from otterfile.report.tables import MARKS
    from otterfile.run.runner import FAILED, OK, SKIPPED
    assert set(MARKS) == {OK, FAILED, SKIPPED}
