"""The benchmark's pure parts: summaries, ratios to the floor, the Markdown table."""
from bench.hosts import compose_text
from bench.stats import Measured, ratio, floor_of, seconds, table, workload_table


def test_median_and_ratio_to_the_floor_of_the_same_host_count():
    floor1 = Measured("W1", "ssh", 1, [0.2, 0.4, 0.3], floor=True)
    floor3 = Measured("W1", "ssh", 3, [1.0], floor=True)
    tool = Measured("W1", "tool", 3, [2.0, 3.0, 2.5])
    items = [floor1, floor3, tool]
    assert floor1.median == 0.3
    assert floor_of(items, tool) is floor3
    assert ratio(tool, floor_of(items, tool)) == 2.5
    assert ratio(Measured("W1", "none", 1), floor1) is None


def test_seconds_switch_to_milliseconds_below_a_tenth():
    assert seconds(0.0456) == "46 ms"
    assert seconds(1.234) == "1.23 s"
    assert seconds(None) == "-"


def test_markdown_table_escapes_pipes():
    text = table(["a", "b"], [["x|y", "1"]])
    assert text.splitlines() == ["| a | b |", "| --- | --- |", "| x\\|y | 1 |"]


def test_workload_table_rows():
    items = [Measured("W2", "ssh cat", 3, [1.0, 2.0, 3.0], floor=True),
             Measured("W2", "fabric", 3, [4.0], note="threads"),
             Measured("W2", "broken", 3, error="exit 1")]
    lines = workload_table(items).splitlines()
    assert lines[2] == "| ssh cat (floor) | 3 | 2.00 s | 1.00 s – 3.00 s | 1.00x | 3 |  |"
    assert lines[3] == "| fabric | 3 | 4.00 s | 4.00 s – 4.00 s | 2.00x | 1 | threads |"
    assert lines[4] == "| broken | 3 | - | - | - | 0 | FAILED: exit 1 |"


def test_bench_hosts_keep_off_the_test_hosts_ports():
    text = compose_text("light", 20, "otter-bench-light")
    assert "127.0.0.1:2301:22" in text and "127.0.0.1:2320:22" in text
    assert not any(f":{port}:" in text for port in (2201, 2202, 2203))
    assert "127.0.0.1:2341:22" in compose_text("full", 3, "otter-bench-full")
