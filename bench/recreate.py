"""Failed and held requests at full speed during a strategy="recreate" swap behind the proxy
(issue 22, item 1): Debian's `wrk` (keep-alive, -t2 -c16 --timeout 40s --latency) through
Caddy and through nginx on a test host, in three phases: steady, a swap (v1 stopped, v2
started, listening a second after it starts, health checked, switched) and a refused release
(v3's health check fails: it is removed and v2 started again).

    python3 bench/recreate.py [--runs 3] [--steady 10] [--proxies caddy,nginx] [--no-write]

Per phase and run: requests, non-2xx/3xx answers, socket errors, and the longest request
(wrk's max latency: a request held through the swap). The app stops as a server should on
SIGTERM (it stops listening, lets requests in flight finish, exits); `hold_seconds=30`.
Writes its table into bench/RESULTS.md (between its markers) unless --no-write. Takes the
test hosts' lock, uses the slot's first host, resets it before each run and at the end:
start the hosts first (`python3 -m tests.testbed up`).
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import replace_section  # noqa: E402
from bench.zero_downtime import Count, cells, parse_wrk  # noqa: E402
from tests.integration.deploy import otter  # noqa: E402
from tests.integration.test_recreate_proxy import DOMAIN, OTTERFILE, PROXIES, TAG, \
    graceful_app  # noqa: E402
from tests.testbed.hosts import KEPT, Testbed, exclusive, run  # noqa: E402
from tests.testbed.images import target_tag  # noqa: E402

WRK = ("wrk", "-t2", "-c16", "--timeout", "40s", "--latency")
PHASES = ("steady", "swap", "refused release")
SECTION = "recreate"
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def longest(text: str) -> float:
    """wrk's max latency in seconds ("Latency   1.2ms   3.4ms  7.01s   99%")."""
    found = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)\b", text)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else 0.0


def under_wrk(url: str, action=None, seconds: float = 10) -> tuple[Count, float]:
    """wrk against `url` for `seconds`, or from a second before `action` to a second after."""
    argv = [*WRK[:1], "-d", "600s" if action else f"{seconds:g}s", *WRK[1:],
            "-H", f"Host: {DOMAIN}", url]
    wrk = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    note = ""
    if action is not None:
        try:
            time.sleep(1)  # a second of load before the change (a measure, not a sync)
            note = action()
            time.sleep(1)
        finally:
            wrk.send_signal(signal.SIGINT)  # wrk stops and prints its summary
    out, _ = wrk.communicate(timeout=seconds + 120)
    return parse_wrk(out, note), longest(out)


def step(folder: Path, expect: int):
    def act() -> str:
        done = otter(folder, "run", "db", timeout=600)
        return "" if done.returncode == expect else \
            f"otter run exited {done.returncode}: {done.stderr.strip()[-200:]}"
    return act


def one_run(bed: Testbed, target, proxy: str, folder: Path, steady: float):
    bed.reset([target])
    if proxy == "nginx":  # one proxy owns port 80
        run(bed.ssh_argv(target, "systemctl", "stop", "caddy"), check=True)
    folder.mkdir(parents=True)
    (folder / "Otterfile.py").write_text(OTTERFILE.format(
        address=target.host.address, key=target.host.identity_file,
        known=target.host.known_hosts, tag=TAG, domain=DOMAIN, proxy=PROXIES[proxy])
        .replace("timeout_seconds=20", "timeout_seconds=8"))
    graceful_app(folder / "app", "v1")
    first = otter(folder, "run", "db", timeout=600)
    if first.returncode != 0:
        raise SystemExit(f"first deploy failed:\n{first.stdout}\n{first.stderr}")
    url = f"http://127.0.0.1:{target.http_port}/"
    counts = {"steady": under_wrk(url, seconds=steady)}
    graceful_app(folder / "app", "v2", start_delay=1)
    counts["swap"] = under_wrk(url, step(folder, 0))
    graceful_app(folder / "app", "v3", healthy=False)
    counts["refused release"] = under_wrk(url, step(folder, 1))
    return counts


def table(results: dict[str, list[dict[str, tuple[Count, float]]]]) -> str:
    lines = ["| proxy | phase | requests | non-2xx/3xx | socket errors (connect/read/write/"
             "timeout) | longest request (s) | requests/s | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for proxy, runs in results.items():
        for phase in PHASES:
            requests, non_2xx, errors, rate, notes = cells([one[phase][0] for one in runs])
            longest = ", ".join(f"{one[phase][1]:.2f}" for one in runs)
            lines.append(f"| {proxy} | {phase} | {requests} | {non_2xx} | {errors} | {longest} | "
                         f"{rate} | {notes} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steady", type=float, default=10, help="seconds of the steady phase")
    parser.add_argument("--proxies", default="caddy,nginx")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args(argv)
    bed = Testbed(KEPT, image=target_tag())
    load = [run(["uptime"]).stdout.strip()]
    results: dict[str, list[dict[str, tuple[Count, float]]]] = {}
    with exclusive(), tempfile.TemporaryDirectory(prefix="otter-bench-recreate-") as tmp:
        target = bed.targets()[0]
        bed.wait_ready([target], timeout=30)
        try:
            for proxy in args.proxies.split(","):
                for n in range(args.runs):
                    results.setdefault(proxy, []).append(
                        one_run(bed, target, proxy, Path(tmp) / f"{proxy}-{n}", args.steady))
                    print("\n".join(table({proxy: results[proxy][-1:]}).splitlines()[-3:]),
                          flush=True)
        finally:
            run(bed.ssh_argv(target, "docker", "volume", "rm", "-f", "otter-it-db"))
            bed.reset([target])
            subprocess.run(["docker", "rmi", "--no-prune", TAG], capture_output=True)
    load.append(run(["uptime"]).stdout.strip())
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = (f"## Requests during a recreate swap behind the proxy (issue 22)\n\nWritten by "
            f"`python3 bench/recreate.py --runs {args.runs}` on {when}: `{' '.join(WRK)}` "
            "through the proxy of one test host to the test app (busybox httpd, stopping "
            "gracefully on SIGTERM), `strategy=\"recreate\"`, `hold_seconds=30`; each cell "
            f"lists the runs. Phases: steady ({args.steady:g} s); swap (`otter run`: v1 "
            "stops, v2 starts and listens a second later); refused release (`otter run` of "
            "a v3 whose health check fails: removed, v2 started again). A phase with otter "
            "lasts from a second before the command to a second after it; the longest "
            "request is wrk's max latency (a request held through the swap). Load "
            f"(`uptime`): `{load[0]}` at the start, `{load[1]}` at the end.\n\n"
            + table(results) + "\n")
    print(text)
    if not args.no_write:
        replace_section(ROOT / "bench" / "RESULTS.md", SECTION, text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("APP_TOKEN", "bench")
    sys.exit(main())
