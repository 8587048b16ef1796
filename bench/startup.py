"""Start-up cost of `otter --help` and `otter list` against `python3 -c 'import click'`.

    python bench/startup.py [--runs 20]

Prints a table of median wall times and the ratio to importing click alone, and which
heavy modules (docker, httpx, jinja2, sh) each command imported (none is the goal).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "otterfile" / "templates" / "Otterfile.py.sample"
HEAVY = ("docker", "httpx", "jinja2", "sh", "rich")
PROBE = ("import sys, runpy; sys.argv = {argv!r}\n"
         "try:\n    runpy.run_module('otterfile', run_name='__main__')\n"
         "except SystemExit:\n    pass\n"
         "print('HEAVY', ','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)")


def timed(argv: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def heavy_imports(args: list[str]) -> str:
    code = PROBE.format(argv=["otter", *args], heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    line = [l for l in done.stderr.splitlines() if l.startswith("HEAVY")]
    return (line[-1][6:] or "none") if line else "?"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    folder = Path(tempfile.mkdtemp(prefix="otter-bench-"))
    (folder / "Otterfile.py").write_text(SAMPLE.read_text())
    cases = {
        "python3 -c 'import click'": ([sys.executable, "-c", "import click"], None),
        "otter --help": ([sys.executable, "-m", "otterfile", "--help"], ["--help"]),
        "otter list": ([sys.executable, "-m", "otterfile", "-f", str(folder / "Otterfile.py"),
                        "list"], ["-f", str(folder / "Otterfile.py"), "list"]),
    }
    base = None
    print(f"{'command':<28} {'median':>9} {'ratio':>7}  heavy modules imported")
    for name, (argv, args) in cases.items():
        seconds = timed(argv, runs)
        base = base or seconds
        heavy = heavy_imports(args) if args else "-"
        print(f"{name:<28} {seconds * 1000:7.1f}ms {seconds / base:6.2f}x  {heavy}")


if __name__ == "__main__":
    main()
