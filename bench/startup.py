"""Start-up cost of otter's commands and of what an Otterfile imports, against importing
click alone, optionally beside another checkout of otter (the peer), interleaved.

    python bench/startup.py [--runs 20] [--peer /work/main]

Cases: `python3 -c 'import click'` (the floor), `from otterfile import *` (what every
Otterfile starts with), `otter --help`, `otter list` on the sample Otterfile, and
`otter exec` and `otter rollback` on it up to their first connection (the process ends
where it would connect: what it costs before it touches a host). Each case runs
`--runs` times as whole processes, this checkout's and the peer's alternating, with the
bytecode kept (PYTHONPYCACHEPREFIX in a temporary folder, compiled by a first run). Prints
the median wall time, the median CPU time (user and system: the load average stretches it
less than the wall time), the modules imported, which heavy ones (none is the goal), and
the load average before and after.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "otterfile" / "templates" / "Otterfile.py.sample"
HEAVY = ("docker", "httpx", "jinja2", "sh", "rich", "tarfile", "hashlib", "zipfile")
# runs a command's Python code in-process and prints what it imported (the command's own
# work is cut short where it would reach a host: the engine is never made)
PROBE = ("import sys, runpy; sys.argv = {argv!r}\n"
         "before = set(sys.modules)\n"
         "{stub}"
         "try:\n    runpy.run_module('otterfile', run_name='__main__')\n"
         "except SystemExit:\n    pass\n"
         "new = set(sys.modules) - before\n"
         "print('MODULES', len(new), ','.join(m for m in {heavy!r} if m in new),"
         " file=sys.stderr)")
# stops `exec` and `rollback` where they would first connect: what they imported to get
# there is what a whole process pays before its first round trip
STUB = ("import {module} as stubbed\n"
        "def stop(*a, **k):\n    raise SystemExit(0)\n"
        "stubbed.{name} = stop\n")


NEUTRAL = Path(tempfile.gettempdir())  # the processes' working folder: not a checkout, whose
# otterfile `python3 -c`/`-m` would import first


def env_for(root: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(root), "PYTHONPYCACHEPREFIX": str(cache)}


def once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process."""
    used, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False, env=env, cwd=NEUTRAL)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime


def modules(args: list[str], env: dict[str, str], stub: tuple[str, str] | None = None) -> str:
    """The number of modules `otter ARGS` imports and the heavy ones among them; `stub`:
    (module, function) that ends the process where it is first called."""
    code = PROBE.format(argv=["otter", *args], heavy=HEAVY, stub=STUB.format(
        module=stub[0], name=stub[1]) if stub else "")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=NEUTRAL)
    line = [l for l in done.stderr.splitlines() if l.startswith("MODULES")]
    if not line:
        return "?"
    words = line[-1].split(" ")
    return f"{words[1]:>4}  {words[2] if len(words) > 2 and words[2] else 'none'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--peer", type=Path, help="another otter checkout, timed interleaved")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="otter-bench-"))
    otterfile = folder / "Otterfile.py"
    otterfile.write_text(SAMPLE.read_text())
    f = ["-f", str(otterfile)]
    cases: dict[str, tuple[list[str], list[str] | None, bool]] = {
        "python3 -c 'import click'": (["-c", "import click"], None, False),
        "from otterfile import *": (["-c", "from otterfile import *"], None, False),
        "otter --help": (["-m", "otterfile", "--help"], ["--help"], False),
        "otter list": (["-m", "otterfile", *f, "list"], [*f, "list"], False),
    }
    probes = {"otter exec (to its first connection)": (
        [*f, "exec", "production", "--", "true"], ("otterfile.executors", "executor_for")),
              "otter rollback (to its first connection)": (
        [*f, "rollback", "production"], ("otterfile.cli.engines", "engines_for"))}
    otters = {"this": ROOT, **({"peer": args.peer.resolve()} if args.peer else {})}
    cache = Path(tempfile.mkdtemp(prefix="otter-bench-pycache-"))
    envs = {who: env_for(root, cache) for who, root in otters.items()}
    load = [Path("/proc/loadavg").read_text().split()[0]]
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for name, (cli, stub) in probes.items():  # whole processes that end at the first connection
        code = PROBE.format(argv=["otter", *cli], heavy=HEAVY, stub=STUB.format(
            module=stub[0], name=stub[1]))
        cases[name] = (["-c", code], None, False)
    for argv, _, _ in cases.values():  # compile once: the bytecode is kept, as installed
        for env in envs.values():
            once([sys.executable, *argv], env)
    for n in range(args.runs):
        for name, (argv, _, _) in cases.items():
            for who in (list(envs) if n % 2 == 0 else list(envs)[::-1]):
                samples.setdefault((name, who), []).append(
                    once([sys.executable, *argv], envs[who]))
    load.append(Path("/proc/loadavg").read_text().split()[0])
    print(f"{args.runs} runs each, interleaved; 1-minute load {load[0]} before, {load[1]} after")
    print(f"{'command':<42} {'otter':<5} {'wall':>8} {'CPU':>8}  modules  heavy imported")
    for (name, who), got in samples.items():
        wall = statistics.median(w for w, _ in got)
        cpu = statistics.median(c for _, c in got)
        cli = cases[name][1]
        mods = modules(cli, envs[who]) if cli else "-"
        if name in probes:
            mods = modules(probes[name][0], envs[who], probes[name][1])
        if name.startswith("from"):  # the import alone, not the CLI's
            code = ("import sys; b = set(sys.modules); from otterfile import *; "
                    f"n = set(sys.modules) - b; print(len(n), ','.join(m for m in {HEAVY!r} "
                    "if m in n) or 'none')")
            out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                 text=True, env=envs[who], cwd=NEUTRAL).stdout.split()
            mods = f"{out[0]:>4}  {out[1]}" if len(out) == 2 else "?"
        print(f"{name:<42} {who:<5} {wall * 1000:6.1f}ms {cpu * 1000:6.1f}ms  {mods}")


if __name__ == "__main__":
    main()
