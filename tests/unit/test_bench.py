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
    text = compose_text("light", 50, "otter-bench-light")
    assert "127.0.0.1:2501:22" in text and "127.0.0.1:2550:22" in text
    assert "127.0.0.1:8550:80" in text
    assert not any(f":{port}:" in text for port in (2201, 2202, 2203))
    others = compose_text("full", 3, "f") + compose_text("sshd", 100, "s")  # never together
    light = {line.split(":")[1] for line in text.split('"') if line.startswith("127.0.0.1:")}
    assert not light & {line.split(":")[1] for line in others.split('"')
                        if line.startswith("127.0.0.1:")}
    assert light.isdisjoint(str(port) for port in range(2451, 2501))  # side_by_side's mux-N
    assert "127.0.0.1:2341:22" in compose_text("full", 3, "otter-bench-full")


def test_a_scripts_section_of_results_is_replaced_and_kept_by_python_m_bench(tmp_path):
    from types import SimpleNamespace

    from bench.report import replace_section, sections, write_results
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n")
    replace_section(out, "zero-downtime", "## old table\n")
    replace_section(out, "zero-downtime", "## new table\n")
    assert sections(out.read_text()) == {"zero-downtime": "## new table\n"}
    assert out.read_text().count("section:zero-downtime") == 2
    run = SimpleNamespace(rounds=1, machine={}, load={}, all_results=lambda: [])
    write_results(run, out)
    assert sections(out.read_text()) == {"zero-downtime": "## new table\n"}


def test_wrk_summaries_are_read_with_and_without_errors():
    from bench.zero_downtime import parse_wrk
    clean = parse_wrk("  20000 requests in 10.00s, 3.2MB read\nRequests/sec: 2000\n")
    assert (clean.requests, clean.seconds, clean.non_2xx, clean.socket_errors) == \
        (20000, 10.0, 0, 0)
    bad = parse_wrk("  21301 requests in 12.50s, 3.4MB read\n"
                    "  Socket errors: connect 0, read 14, write 1, timeout 0\n"
                    "  Non-2xx or 3xx responses: 3\n", note="x")
    assert (bad.requests, bad.non_2xx, bad.read, bad.write, bad.socket_errors, bad.note) == \
        (21301, 3, 14, 1, 15, "x")
    assert parse_wrk("  5 requests in 500.00ms, 1KB read\n").seconds == 0.5


def test_rollback_window_table_has_medians_and_the_share_of_today():
    from bench.rollback_window import report
    samples = {"today": [(4.0, False), (5.0, False), (6.0, False)],
               "window": [(0.5, True), (0.9, True), (0.7, True)]}
    rows = report(samples, 3, ["`a`", "`b`"]).splitlines()[-2:]
    assert rows == ["| today | none | 5.00 | 4.00–6.00 | 100% | 0 of 3 | – |",
                    "| window | 3600 s | 0.70 | 0.50–0.90 | 14% | 3 of 3 | – |"]


def test_round_trips_per_host_from_otter_debug_json_without_the_heartbeat():
    from bench.cases import events, round_trips
    from otterfile.scripts import load
    beat = "\n".join(load("lock/heartbeat.sh").splitlines()[:4])
    out = "\n".join([
        '{"v": 1, "event": "start", "stage": "lock", "host": "h:1"}h:1 $ sh -c \'lock',
        "  script body, its functions: date +%s > heartbeat.tmp",  # one host: nothing between
        "h:2 $ sh -c 'lock'",
        f"h:1 $ sh -c '{beat}",
        "  echo x > heartbeat.tmp",
        '{"v": 1, "event": "info", "message": "live: nothing to do (decided on the target)",'
        ' "host": "h:2"}',
        "h:2 $ sh -c 'state'",
        "other $ not ours"])
    assert round_trips(out, ["h:1", "h:2", "h:3"]) == {"h:1": 1, "h:2": 2, "h:3": 0}
    said = events(out)
    assert [e["event"] for e in said] == ["start", "info"]
    assert [e["host"] for e in said if "decided" in e.get("message", "")] == ["h:2"]
