"""`otter rollback` inside the rollback window against today's rollback (issue 22, item 2), on
the three test hosts of the slot, with warm connections, side by side.

    python3 bench/rollback_window.py [--runs 7] [--no-write] [--no-bytecode] [--peer DIR]

One Otterfile, two deployments of the same app on the same three hosts: `today` (no window:
a rollback starts the previous release again, waits for its health check, switches, stops
the other) and `window` (`rollback_window=3600`: the previous release still runs, so a
rollback is a health check and a switch). Both are deployed at v1, then v2; then each run
times one whole `otter rollback NAME` process (interpreter start-up included) of each, in
turn, right after an `otter exec` that leaves the SSH masters warm (OTTER_SSH_PERSIST).
Each rollback goes back and forth between v1 and v2. Writes a table into bench/RESULTS.md
(between its markers) unless --no-write. `--peer DIR` (another checkout of otter, say
/work/main) times that otter's rollbacks too, interleaved with this one's (the same hosts
and app versions, each otter's rollback right after the other's, each on its own pair of
deployments, NAME-peer for the peer's: a switch back one otter left ready on the targets
is not undone by the other's rollback): its rows are marked `(peer)`.

otter's modules are compiled once and their bytecode kept (in bench/.out/pycache), as for
an installed otter; an environment with PYTHONDONTWRITEBYTECODE=1 makes every process
compile them again (about 0.1 s of CPU here): `--no-bytecode` measures that way. The load
average (`/proc/loadavg`) is read right before each timed rollback.

It takes the test hosts' lock (it waits while a test session holds them), uses the hosts of
the slot (OTTER_TESTBED_SLOT), resets them before and after, and never starts or stops
hosts: start them first (`python3 -m tests.testbed up`).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import replace_section  # noqa: E402
from tests.integration.deploy import (USERS_DRAIN, otter, otter_env, write_app,  # noqa: E402
                                     write_otterfile)
from tests.testbed.hosts import KEPT, Testbed, exclusive, run  # noqa: E402
from tests.testbed.images import target_tag  # noqa: E402

SECTION = "rollback-window"
MODES = {"today": 0, "window": 3600}  # deployment name -> rollback_window
PAIR = '''
@deployment
def pair():
    return [Deployment(name=name, artifact=web, runtime=box, targets=[servers],
                       domains=[name + ".test"], proxy=caddy(tls="off"), keep_releases=3,
                       rollback_window=seconds,
                       health_check=HealthCheck(path="/health", timeout_seconds=20))
            for name, seconds in {modes!r}.items()]
'''


PEER = "-peer"  # the peer's own deployments: NAME-peer


def otterfile(folder: Path, targets, peer: bool = False) -> None:
    """The test Otterfile with its one deployment replaced by the pair (and, for a peer,
    the pair again under its own names: each otter rolls back its own deployments, so one
    never works from the state or the switch back the other left on the targets)."""
    path = write_otterfile(folder, targets, drain=USERS_DRAIN)
    text = path.read_text()
    modes = {**MODES, **({name + PEER: s for name, s in MODES.items()} if peer else {})}
    path.write_text(text[:text.index("@deployment")] + PAIR.format(modes=modes))


def must(done, what: str) -> str:
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout + done.stderr


LOADS: list[float] = []  # the 1-minute load average before each timed rollback
CPU: dict[str, list[float]] = {}  # row -> CPU seconds of each otter process and its ssh


def peer_otter(root: Path, folder: Path, *args: str, timeout: float = 600):
    """`otter ARGS` from the checkout at `root` (the peer), as tests' otter() runs this one."""
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "otterfile", "-f", str(folder / "Otterfile.py"),
                           *args], capture_output=True, text=True, timeout=timeout,
                          env={**otter_env(), "PYTHONPATH": path}, cwd=folder)


def timed_rollback(folder: Path, name: str, peer: Path | None = None) -> tuple[float, bool]:
    """(wall seconds of `otter rollback NAME`, whether it started nothing), warm masters;
    with `peer`, that checkout's otter."""
    must(otter(folder, "exec", "pair", "--", "true"), "otter exec (warming)")
    LOADS.append(float(Path("/proc/loadavg").read_text().split()[0]))
    used, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = peer_otter(peer, folder, "rollback", name + PEER) if peer else \
        otter(folder, "rollback", name, timeout=600)
    seconds, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(row(name, peer), []).append(after.ru_utime - used.ru_utime +
                                               after.ru_stime - used.ru_stime)
    return seconds, "nothing to start" in must(done, f"otter rollback {name}")


def row(name: str, peer: Path | None) -> str:
    return f"{name} (peer)" if peer else name


def measure(folder: Path, targets, runs: int,
            peer: Path | None = None) -> dict[str, list[tuple[float, bool]]]:
    write_app(folder / "app", "v1")
    otterfile(folder, targets, peer is not None)
    must(otter(folder, "run", "pair", timeout=900), "deploy v1")
    write_app(folder / "app", "v2")
    must(otter(folder, "run", "pair", timeout=900), "deploy v2")
    otters = [None, peer] if peer else [None]
    samples: dict[str, list[tuple[float, bool]]] = {row(name, p): [] for name in MODES
                                                    for p in otters}
    for n in range(runs):
        for name in MODES:
            for p in (otters if n % 2 == 0 else otters[::-1]):  # who goes first alternates
                samples[row(name, p)].append(timed_rollback(folder, name, p))
        print(f"run {n + 1}: " + ", ".join(f"{name} {s[-1][0]:.2f}s"
                                           for name, s in samples.items()), flush=True)
    return samples


def report(samples: dict[str, list[tuple[float, bool]]], runs: int, load: list[str],
           bytecode: bool = True, peer: Path | None = None) -> str:
    rows = []
    for name, got in samples.items():
        mode = name.split()[0]
        today = statistics.median(s for s, _ in samples[name.replace(mode, "today", 1)])
        seconds = [s for s, _ in got]
        median = statistics.median(seconds)
        instant = sum(1 for _, nothing in got if nothing)
        cpu = f"{statistics.median(CPU[name]):.2f}" if CPU.get(name) else "–"
        rows.append(f"| {name} | {'none' if not MODES[mode] else f'{MODES[mode]} s'} | "
                    f"{median:.2f} | {min(seconds):.2f}–{max(seconds):.2f} | "
                    f"{median / today:.0%} | {instant} of {len(got)} | {cpu} |")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    flags = ("" if bytecode else " --no-bytecode") + (f" --peer {peer}" if peer else "")
    peers = (f" Rows marked `(peer)`: the otter of {peer}, interleaved with this checkout's "
             "(the two alternate who goes first), its share against its own `today`.") \
        if peer else ""
    cached = "its bytecode kept between processes, as installed" if bytecode else \
        "its modules compiled again by every process (PYTHONDONTWRITEBYTECODE=1)"
    loads = f"{min(LOADS):.1f}–{max(LOADS):.1f}" if LOADS else "?"
    return (f"## Rollback inside the window (issue 22)\n\nWritten by `python3 bench/"
            f"rollback_window.py --runs {runs}{flags}` on {when}: one whole `otter rollback NAME` "
            "process (start-up included) on the 3 test hosts of a slot (Docker, Caddy, the "
            "busybox test app), SSH masters warm (an `otter exec` right before each), the two "
            "deployments in turn, each rolling back and forth between v1 and v2. `today`: "
            "no rollback window (start, health, switch, stop the other); `window`: "
            "`rollback_window=3600` (the kept release is health-checked and switched to, "
            f"nothing started). otter runs from the checkout, {cached}. Load (`uptime`): "
            f"{load[0]} at the start, {load[1]} at the end; the 1-minute load before each "
            f"timed rollback {loads}. `otter CPU s`: the median CPU time (user and system) of "
            "the otter process and the ssh clients it ran, which the load does not stretch "
            f"as it does the wall time.{peers}\n\n| deployment | rollback_window | median s | min–max s | of today's | "
            "nothing started | otter CPU s |\n| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
            + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="every otter process compiles its modules (no bytecode kept)")
    parser.add_argument("--peer", type=Path, help="another otter checkout, timed interleaved")
    args = parser.parse_args(argv)
    if args.no_bytecode:
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    else:  # kept out of the checkout; otter_env() passes the environment on
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(ROOT / "bench" / ".out" / "pycache")
    os.environ.setdefault("APP_TOKEN", "bench")
    os.environ.setdefault("OTTER_SSH_PERSIST", "60")  # warm masters between otter processes
    bed = Testbed(KEPT, image=target_tag())
    load = [f"`{run(['uptime']).stdout.strip()}`"]
    with exclusive(), tempfile.TemporaryDirectory(prefix="otter-bench-rw-") as tmp:
        targets = bed.targets()
        bed.wait_ready(targets, timeout=30)
        bed.reset(targets)
        try:
            samples = measure(Path(tmp), targets, args.runs, args.peer)
        finally:
            for target in targets:  # the hosts' reset leaves transient timers
                run(bed.ssh_argv(target, "systemctl", "stop", "otter-kept-window:*.timer",
                                 "otter-kept-window.timer",  # (a peer's name for it)
                                 f"otter-kept-window{PEER}:*.timer"))
            bed.reset(targets)
    load.append(f"`{run(['uptime']).stdout.strip()}`")
    text = report(samples, args.runs, load, bytecode=not args.no_bytecode, peer=args.peer)
    print(text)
    if not args.no_write:
        replace_section(ROOT / "bench" / "RESULTS.md", SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
