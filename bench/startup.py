"""Start-up cost of otter's commands and of what an Otterfile imports, against importing
click alone, optionally beside another checkout of otter (the peer), interleaved.

    python3 -m bench.startup [--runs 20] [--peer /work/main] [--hosts]

Cases: `python3 -c 'import click'` (the floor), `from otterfile import *` (what every
Otterfile starts with), evaluating the sample Otterfile (load and evaluate, no command),
`otter --help`, `otter list` on the sample Otterfile, and `otter exec`, `otter status` and
`otter rollback` on it up to their first connection: the process ends (os._exit) where it
would first touch a host, at its first connect to a Unix socket (an SSH master's, warm or
not) or its first `ssh` process, so what is timed is what it costs before its first round
trip. Each case runs `--runs` times as whole processes, this checkout's and the peer's
alternating, with the bytecode kept (PYTHONPYCACHEPREFIX in a temporary folder, compiled by a
first run). Prints the median wall time, the median CPU time (user and system: the load
average stretches it less than the wall time), the modules imported (up to the first
connection for the cut cases), which heavy ones (none is the goal), and the load average
before and after.

`--hosts`: also on the 3 test hosts of the slot (OTTER_TESTBED_SLOT; start them first with
`python3 -m tests.testbed up`): the test Otterfile (tests/integration/deploy.py: docker,
Caddy, the busybox app) deployed at v1 then v2 by this checkout, then `otter exec`, `otter
status`, `otter run` of a no-op and `otter rollback` to their first connection, and the same
four whole, SSH masters warm (OTTER_SSH_PERSIST), each otter in turn; rollback runs twice a
round (v2 to v1 and back), so each round's no-op finds v2 live. It takes the slot's lock and
resets the hosts before and after.
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
# runs otter's command line in-process and ends it where it first reaches for a host (its
# first connect to a Unix socket, a master's, not the Docker engine's, or its first ssh
# process), printing what it imported up to there; a command that gets nowhere near a host
# prints at its end
CUT = ("import os, sys, runpy, socket, subprocess, threading\n"
       "sys.argv = {argv!r}\n"
       "before = set(sys.modules)\n"
       "once = threading.Lock()  # lanes connect at once: one line, then the end\n"
       "def said(where):\n"
       "    once.acquire()\n"
       "    new = set(sys.modules) - before\n"
       "    print('MODULES', len(new), ','.join(m for m in {heavy!r} if m in new) or 'none', where,"
       " file=sys.stderr, flush=True)\n"
       "def cut(where):\n    said(where)\n    os._exit(0)\n"
       "connect, connect_ex, popen = (socket.socket.connect, socket.socket.connect_ex,"
       " subprocess.Popen.__init__)\n"
       "def unix(call):\n"
       "    def to(self, *a):\n"
       "        if self.family == socket.AF_UNIX and 'docker' not in str(a[:1]):\n"
       "            cut('unix')\n"
       "        return call(self, *a)\n    return to\n"
       "def spawn(self, args, *a, **k):\n"
       "    if isinstance(args, (list, tuple)) and args and os.path.basename(str(args[0])) == 'ssh':\n"
       "        cut('ssh')\n"
       "    return popen(self, args, *a, **k)\n"
       "socket.socket.connect, socket.socket.connect_ex = unix(connect), unix(connect_ex)\n"
       "subprocess.Popen.__init__ = spawn\n"
       "try:\n    runpy.run_module('otterfile', run_name='__main__')\n"
       "except SystemExit:\n    pass\n"
       "said('end')\n")
# evaluates an Otterfile without the command line: what `from otterfile import *` and the
# declarations cost (the kinds' handlers are not imported: tests/unit/test_lazy_kinds.py)
EVALUATE = ("import sys\nbefore = set(sys.modules)\n"
            "from otterfile.load.evaluate import evaluate\n"
            "from otterfile.load.loader import load\n"
            "evaluate(load({file!r}))\n"
            "new = set(sys.modules) - before\n"
            "print('MODULES', len(new), ','.join(m for m in {heavy!r} if m in new) or 'none',"
            " file=sys.stderr)\n")


NEUTRAL = Path(tempfile.gettempdir())  # the processes' working folder: not a checkout, whose
# otterfile `python3 -c`/`-m` would import first


def env_for(root: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(root), "PYTHONPYCACHEPREFIX": str(cache)}


def once(argv: list[str], env: dict[str, str], cwd: Path = NEUTRAL,
         check: bool = False) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, the MODULES line it printed or "") of one whole process;
    `check`: a failed one ends the bench with its output."""
    used, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env, cwd=cwd)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[-4:])} failed:\n{done.stdout[-2000:]}\n"
                         f"{done.stderr[-2000:]}")
    said = [line for line in done.stderr.splitlines() if line.startswith("MODULES")]
    return wall, after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime, \
        said[-1] if said else ""


def shown(line: str) -> str:
    """A MODULES line as the table shows it: the count, the heavy ones, where it ended."""
    words = line.split(" ")
    if len(words) < 3:
        return "-"
    return f"{words[1]:>4}  {words[2]}" + (f" (at {words[3]})" if len(words) > 3 else "")


def cut(args: list[str]) -> list[str]:
    """python's arguments that run `otter ARGS` up to its first connection."""
    return ["-c", CUT.format(argv=["otter", *args], heavy=HEAVY)]


Case = tuple[list[str], Path]  # python's arguments, the working folder


def timed(cases: dict[str, Case], envs: dict[str, dict[str, str]], runs: int,
          samples: dict[tuple[str, str], list[tuple[float, float, str]]],
          check: bool = False) -> None:
    """Each case `runs` times per otter, the otters alternating who goes first."""
    for n in range(runs):
        for name, (argv, cwd) in cases.items():
            for who in (list(envs) if n % 2 == 0 else list(envs)[::-1]):
                samples.setdefault((name, who), []).append(
                    once([sys.executable, *argv], envs[who], cwd, check))


def table(samples: dict[tuple[str, str], list[tuple[float, float, str]]]) -> str:
    lines = [f"{'command':<46} {'otter':<5} {'wall':>8} {'CPU':>8}  modules  heavy imported"]
    for (name, who), got in samples.items():
        wall = statistics.median(w for w, _, _ in got)
        cpu = statistics.median(c for _, c, _ in got)
        lines.append(f"{name:<46} {who:<5} {wall * 1000:6.1f}ms {cpu * 1000:6.1f}ms  "
                     f"{shown(got[-1][2])}")
    return "\n".join(lines)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def sample_cases(otterfile: Path) -> dict[str, Case]:
    """The cases on the sample Otterfile (no host is reached)."""
    f = ["-f", str(otterfile)]
    count = ("import sys; b = set(sys.modules); {code}; n = set(sys.modules) - b; "
             "print('MODULES', len(n), ','.join(m for m in {heavy!r} if m in n) or 'none', "
             "file=sys.stderr)")
    return {
        "python3 -c 'import click'": (["-c", count.format(code="import click", heavy=HEAVY)],
                                      NEUTRAL),
        "from otterfile import *": (["-c", count.format(code="from otterfile import *",
                                                        heavy=HEAVY)], NEUTRAL),
        "evaluate the sample Otterfile": (["-c", EVALUATE.format(file=str(otterfile),
                                                                 heavy=HEAVY)], NEUTRAL),
        "otter --help": (cut(["--help"]), NEUTRAL),
        "otter list": (cut([*f, "list"]), NEUTRAL),
        "otter exec (to its first connection)": (cut([*f, "exec", "production", "--", "true"]),
                                                 NEUTRAL),
        "otter status (to its first connection)": (cut([*f, "status", "production"]), NEUTRAL),
        "otter rollback (to its first connection)": (cut([*f, "rollback", "production"]),
                                                     NEUTRAL),
    }


def on_hosts(otters: dict[str, Path], cache: Path, runs: int,
             samples: dict[tuple[str, str], list[tuple[float, float, str]]]) -> None:
    """The four commands on the slot's test hosts: to their first connection, and whole
    with warm masters (see the module's docstring)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.integration.deploy import otter_env, write_app, write_otterfile
    from tests.testbed.hosts import KEPT, Testbed, exclusive
    from tests.testbed.images import target_tag
    bed = Testbed(KEPT, image=target_tag())
    with exclusive(), tempfile.TemporaryDirectory(prefix="otter-bench-startup-") as tmp:
        folder = Path(tmp)
        targets = bed.targets()
        bed.wait_ready(targets, timeout=60)
        bed.reset(targets)
        try:
            envs = {who: {**otter_env(), "PYTHONPATH": str(root), "PYTHONPYCACHEPREFIX":
                          str(cache), "OTTER_SSH_PERSIST": "120"}
                    for who, root in otters.items()}
            f = ["-f", str(write_otterfile(folder, targets))]
            deploy = [sys.executable, "-m", "otterfile", *f, "run", "production"]
            for version in ("v1", "v2"):
                write_app(folder / "app", version)
                once(deploy, envs["this"], folder, check=True)
            commands = {"exec": ["exec", "production", "--", "true"],
                        "status": ["status", "production"], "run (no-op)": ["run", "production"],
                        "rollback": ["rollback", "production"]}
            first = {f"hosts: otter {name} (to its first connection)": (cut([*f, *words]), folder)
                     for name, words in commands.items()}
            timed(first, envs, 1, {})  # compiled once, and masters started
            timed(first, envs, runs, samples)
            whole = {f"hosts: otter {name} (whole, warm)": (["-m", "otterfile", *f, *words], folder)
                     for name, words in commands.items()}
            whole["hosts: otter rollback (whole, warm; back)"] = whole[
                "hosts: otter rollback (whole, warm)"]
            once([sys.executable, "-m", "otterfile", *f, "exec", "production", "--", "true"],
                 envs["this"], folder, check=True)  # warm the masters
            timed(whole, envs, runs, samples, check=True)
        finally:
            bed.reset(targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--peer", type=Path, help="another otter checkout, timed interleaved")
    parser.add_argument("--hosts", action="store_true",
                        help="also on the slot's test hosts (OTTER_TESTBED_SLOT)")
    parser.add_argument("--no-sample", action="store_true",
                        help="skip the cases on the sample Otterfile")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="otter-bench-"))
    otterfile = folder / "Otterfile.py"
    otterfile.write_text(SAMPLE.read_text())
    otters = {"this": ROOT, **({"peer": args.peer.resolve()} if args.peer else {})}
    cache = Path(tempfile.mkdtemp(prefix="otter-bench-pycache-"))
    envs = {who: env_for(root, cache) for who, root in otters.items()}
    load = [load_average()]
    samples: dict[tuple[str, str], list[tuple[float, float, str]]] = {}
    if not args.no_sample:
        cases = sample_cases(otterfile)
        timed(cases, envs, 1, {})  # compile once: the bytecode is kept, as installed
        timed(cases, envs, args.runs, samples)
    if args.hosts:
        on_hosts(otters, cache, args.runs, samples)
    load.append(load_average())
    print(f"{args.runs} runs each, interleaved; load average {load[0]} before, {load[1]} after")
    print(table(samples))


if __name__ == "__main__":
    main()
