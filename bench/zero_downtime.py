"""Failed requests at full speed while releases change (issue 19, item 5): Debian's `wrk`
(keep-alive, -t2 -c16 --timeout 10s) through each proxy on a test host during four phases,
a steady one, a deploy, a refused broken release and a rollback; each proxy with otter's
switch (`switch="file"`: a port file renamed, no reload) and with the old reload switch
(`switch="reload"`) beside it.

    python3 bench/zero_downtime.py [--runs 3] [--steady 10] [--proxies caddy,nginx]
                                   [--switches file,reload] [--no-write]

Per phase and run: requests, non-2xx/3xx answers and socket errors (connect, read, write,
timeout) as wrk counts them. A phase with an otter command lasts from wrk's start to one
second after the command ended (wrk is stopped with SIGINT, which prints its summary).
Then, on the controller only (loopback), what nginx's variable `proxy_pass` costs: no
`upstream { keepalive }`, so one upstream connection per request, against a keep-alive
backend. Writes its tables into bench/RESULTS.md (between its markers; `python -m bench`
keeps them) unless --no-write.

It takes the test hosts' lock (it waits while a test session holds them), uses the first
host of the slot (OTTER_TESTBED_SLOT), resets it before each run and at the end, and never
starts, stops or recreates hosts: start them first (`python3 -m tests.testbed up`).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import replace_section  # noqa: E402
from tests.integration.deploy import DOMAIN, USERS_DRAIN, otter, write_app, write_otterfile  # noqa: E402
from tests.testbed.hosts import KEPT, Testbed, exclusive, run  # noqa: E402
from tests.testbed.images import target_tag  # noqa: E402

WRK = ("wrk", "-t2", "-c16", "--timeout", "10s")
PHASES = ("steady", "deploy", "refused release", "rollback")
PROXIES = {"caddy": 'caddy(tls="off", switch="{switch}")', "nginx": 'nginx(switch="{switch}")'}
SECTION = "zero-downtime"


@dataclass(frozen=True)
class Count:
    """What wrk counted in one phase of one run."""

    requests: int
    seconds: float
    non_2xx: int
    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0
    note: str = ""

    @property
    def socket_errors(self) -> int:
        return self.connect + self.read + self.write + self.timeout


def parse_wrk(text: str, note: str = "") -> Count:
    """A Count from wrk's summary ("N requests in 10.00s", "Socket errors: connect 0, read 5,
    write 0, timeout 0", "Non-2xx or 3xx responses: 3"; the last two only when not zero)."""
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", text)
    if not done:
        raise ValueError(f"no wrk summary in: {text[-500:]}")
    scale = {"ms": 0.001, "s": 1, "m": 60}[done.group(3)]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       text)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return Count(int(done.group(1)), float(done.group(2)) * scale,
                 int(bad.group(1)) if bad else 0,
                 *(int(n) for n in errors.groups()) if errors else (), note=note)


def under_wrk(url: str, action=None, seconds: float = 10) -> Count:
    """wrk against `url` for `seconds`, or while `action` runs (from a second after wrk
    starts to a second after it ends); `action` returns a note ("" when it went as meant)."""
    argv = [*WRK, "-H", f"Host: {DOMAIN}", url]
    if action is None:
        done = run([*argv[:1], "-d", f"{seconds:g}s", *argv[1:]], timeout=seconds + 60)
        return parse_wrk(done.stdout)
    wrk = subprocess.Popen([*argv[:1], "-d", "600s", *argv[1:]], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1)  # a second of load before the change (a measure, not a synchronisation)
        note = action()
        time.sleep(1)
    finally:
        wrk.send_signal(signal.SIGINT)  # wrk stops and prints its summary
        out, _ = wrk.communicate(timeout=60)
    return parse_wrk(out, note)


def otter_step(folder: Path, expect: int, *args: str):
    def act() -> str:
        done = otter(folder, *args, timeout=600)
        return "" if done.returncode == expect else \
            f"otter {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-200:]}"
    return act


def one_run(bed: Testbed, target, proxy: str, switch: str, folder: Path,
            steady: float) -> dict[str, Count]:
    """The four phases on `target`, from a fresh host with v1 deployed."""
    bed.reset([target])
    if proxy == "nginx":  # one proxy owns port 80
        run(bed.ssh_argv(target, "systemctl", "stop", "caddy"), check=True)
    write_app(folder / "app", "v1")
    write_otterfile(folder, [target], drain=USERS_DRAIN, proxy=PROXIES[proxy].format(switch=switch), timeout=6)
    first = otter(folder, "run", "production", timeout=600)
    if first.returncode != 0:
        raise SystemExit(f"first deploy failed:\n{first.stdout}\n{first.stderr}")
    url = f"http://127.0.0.1:{target.http_port}/"
    counts = {"steady": under_wrk(url, seconds=steady)}
    write_app(folder / "app", "v2")
    counts["deploy"] = under_wrk(url, otter_step(folder, 0, "run", "production"))
    write_app(folder / "app", "v3", healthy=False)
    counts["refused release"] = under_wrk(url, otter_step(folder, 1, "run", "production"))
    counts["rollback"] = under_wrk(url, otter_step(folder, 0, "rollback", "production"))
    return counts


def table(results: dict[tuple[str, str], list[dict[str, Count]]]) -> str:
    """One row per proxy, switch and phase: each run's figures, comma separated."""
    lines = ["| proxy | switch | phase | requests | non-2xx/3xx | socket errors (connect/"
             "read/write/timeout) | requests/s | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (proxy, switch), runs in results.items():
        for phase in PHASES:
            requests, non_2xx, errors, rate, notes = cells([one[phase] for one in runs])
            lines.append(f"| {proxy} | {switch} | {phase} | {requests} | {non_2xx} | {errors} | "
                         f"{rate} | {notes} |")
    return "\n".join(lines)


def cells(counts: list[Count]) -> tuple[str, str, str, str, str]:
    """A phase's runs as table cells: requests, non-2xx/3xx, socket errors (by kind), the
    median requests/s, the notes."""
    errors = ", ".join(f"{c.socket_errors} ({c.connect}/{c.read}/{c.write}/{c.timeout})"
                       for c in counts)
    rate = statistics.median(c.requests / c.seconds for c in counts)
    return (", ".join(str(c.requests) for c in counts),
            ", ".join(str(c.non_2xx) for c in counts), errors, f"{rate:,.0f}",
            "; ".join(c.note for c in counts if c.note))


KEEPALIVE_CONF = """
load_module {njs};
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {root}/t1; proxy_temp_path {root}/t2; fastcgi_temp_path {root}/t3;
    uwsgi_temp_path {root}/t4; scgi_temp_path {root}/t5;
    js_import up from {root}/up.js;
    js_set $up up.upstream;
    # the backend: answers on kept connections
    server {{ listen 127.0.0.1:{backend}; location / {{ return 200 "ok\\n"; }} }}
    upstream kept {{ server 127.0.0.1:{backend}; keepalive 16; }}
    server {{ listen 127.0.0.1:{kept};
             location / {{ proxy_pass http://kept; proxy_http_version 1.1;
                          proxy_set_header Connection ""; }} }}
    server {{ listen 127.0.0.1:{variable};
             location / {{ proxy_pass http://$up; proxy_http_version 1.1;
                          proxy_set_header Connection close; }} }}
}}
"""
NJS = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")


def keepalive_cost(runs: int, seconds: float) -> str | None:
    """requests/s through nginx to a keep-alive backend, all on 127.0.0.1 of the controller:
    a fixed upstream with `keepalive 16` (the reload switch's site) against njs's variable
    proxy_pass (the port-file switch's site), which opens a connection per request."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None or not NJS.exists():
        return None
    ports = [_free_port() for _ in range(3)]
    with tempfile.TemporaryDirectory(prefix="otter-bench-nginx-") as tmp:
        root = Path(tmp)
        (root / "up.js").write_text(f"function upstream(r) {{ return '127.0.0.1:{ports[0]}'; }}\n"
                                    "export default {upstream};\n")
        (root / "nginx.conf").write_text(KEEPALIVE_CONF.format(
            njs=NJS, root=root, backend=ports[0], kept=ports[1], variable=ports[2]))
        argv = [nginx, "-p", f"{root}/", "-e", f"{root}/error.log", "-c", f"{root}/nginx.conf"]
        run(argv, check=True)
        try:
            rates: dict[str, list[float]] = {"kept": [], "variable": []}
            for _ in range(runs):
                for name, port in (("kept", ports[1]), ("variable", ports[2])):
                    count = under_wrk(f"http://127.0.0.1:{port}/", seconds=seconds)
                    rates[name].append(count.requests / count.seconds)
        finally:
            run([*argv, "-s", "stop"])
    kept, variable = (statistics.median(rates[n]) for n in ("kept", "variable"))
    each = lambda name: ", ".join(f"{r:,.0f}" for r in rates[name])  # noqa: E731
    return ("| nginx site | requests/s (median) | each run |\n| --- | --- | --- |\n"
            f"| fixed upstream, keepalive 16 (switch=\"reload\") | {kept:,.0f} | "
            f"{each('kept')} |\n"
            f"| njs variable proxy_pass, a connection per request (switch=\"file\") | "
            f"{variable:,.0f} ({variable / kept:.0%}) | {each('variable')} |")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(results, cost: str | None, args, load: list[str]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = [f"## Failed requests while releases change (issue 19)\n\nWritten by "
             f"`python3 bench/zero_downtime.py --runs {args.runs}` on {when}: `{' '.join(WRK)}` "
             f"through the proxy of one test host to the test app (busybox httpd), "
             f"{args.runs} runs; each cell lists the runs. Phases: steady ({args.steady:g} s), "
             "`otter run` of a new release, `otter run` of a release whose health check "
             "fails (refused), `otter rollback`; a phase with otter lasts from a second "
             "before the command to a second after it. `file`: otter's switch (the site "
             "reads the port file per request, no reload); `reload`: the switch before it "
             "(the site names the port, every switch reloads). Load (`uptime`): "
             f"{load[0]} at the start, {load[1]} at the end.\n", table(results), ""]
    if cost:
        parts += ["### nginx without `upstream { keepalive }`\n\nnjs picks the upstream per "
                  "request, and a variable `proxy_pass` keeps no upstream connections: each "
                  "request opens one to the release. Measured on the controller's loopback "
                  f"(`{' '.join(WRK)}`, {args.runs} runs of {args.steady:g} s) against a "
                  "backend that keeps connections (nginx `return 200`): what a tiny "
                  "response costs at the proxy's limit. The test app (busybox httpd) closes "
                  "every connection itself, so the table above shows no such difference.\n",
                  cost, ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steady", type=float, default=10, help="seconds of the steady phase")
    parser.add_argument("--proxies", default="caddy,nginx")
    parser.add_argument("--switches", default="file,reload")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args(argv)
    os.environ.setdefault("APP_TOKEN", "bench")
    bed = Testbed(KEPT, image=target_tag())
    load = [run(["uptime"]).stdout.strip()]
    results: dict[tuple[str, str], list[dict[str, Count]]] = {}
    with exclusive(), tempfile.TemporaryDirectory(prefix="otter-bench-zd-") as tmp:
        target = bed.targets()[0]
        bed.wait_ready([target], timeout=30)
        try:
            for proxy in args.proxies.split(","):
                for switch in args.switches.split(","):
                    for n in range(args.runs):
                        folder = Path(tmp) / f"{proxy}-{switch}-{n}"
                        results.setdefault((proxy, switch), []).append(
                            one_run(bed, target, proxy, switch, folder, args.steady))
                        print("\n".join(table({(proxy, switch): results[(proxy, switch)][-1:]})
                                        .splitlines()[-4:]), flush=True)
        finally:
            bed.reset([target])
    cost = keepalive_cost(args.runs, args.steady)
    load.append(run(["uptime"]).stdout.strip())
    text = report(results, cost, args, [f"`{line}`" for line in load])
    print(text)
    if not args.no_write:
        replace_section(ROOT / "bench" / "RESULTS.md", SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
