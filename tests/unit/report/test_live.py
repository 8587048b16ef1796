"""report/live.py: the live view on a (fake) terminal."""
import re

from rich.console import Console

from otterfile.plan.graph import Task
from otterfile.report.live import LiveReporter
from otterfile.run.runner import Event
from tests.unit.report.test_reporters import Clock, Terminal, deploy_events


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


def test_a_narrow_terminal_cuts_the_detail_never_the_host():
    """Three hosts on one address differ in their last characters: on a terminal narrower
    than a long detail (a cache path) the host and stage stay whole, the detail is cut."""
    stream = Terminal()
    console = Console(file=stream, force_terminal=True, width=60, color_system=None)
    report = LiveReporter(stream, console=console)
    for port in (2251, 2252, 2253):
        task = Task(f"api/start@127.0.0.1:{port}", "start", host=f"127.0.0.1:{port}",
                    deployment="api")
        report.apply(Event("start", task, "running"))
        report.apply(Event("info", task, message="/tmp/trial/.otter/cache/artifacts/sha256/"
                           + "1b95a201" * 8))
        report.apply(Event("end", task, "ok"))
    console.print(report.render())
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    assert [line.split()[0] for line in lines] == \
        ["127.0.0.1:2251", "127.0.0.1:2252", "127.0.0.1:2253"]
    assert all(len(line) <= 60 and line.rstrip().endswith("…") for line in lines)
