"""bench/RESULTS.md from a runner's measurements."""
from __future__ import annotations

import time
from pathlib import Path

from .stats import table, workload_table

NOTES = Path(__file__).resolve().parent / "NOTES.md"  # the hand-written findings, appended


def write_results(run, out: Path) -> None:
    parts = [f"# Benchmark results\n\nWritten by `python -m bench` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {run.rounds} timed "
             "rounds after one warm-up round; wall time of each whole command (tool start-up "
             "included). Ratios are medians over the median of the workload's floor (marked) "
             "on the same host count. How each tool is tuned: bench/README.md.\n",
             "## Machine\n", table(["", ""], [[k, v] for k, v in run.machine.items()]),
             "\nLoad (`uptime`), shared with other engineers' test runs:\n",
             *[f"- {when}: `{value}`" for when, value in run.load.items()], ""]
    results = run.all_results()
    workloads = list(dict.fromkeys(m.workload for m in results))
    for workload in workloads:
        items = [m for m in results if m.workload == workload]
        parts += [f"## {workload}\n", workload_table(items), ""]
        if workload.startswith("W6") and (out.parent / "w6.png").exists():
            parts += ["![W6: time against host count](w6.png)\n"]
    if NOTES.exists():
        parts.append(NOTES.read_text())
    out.write_text("\n".join(parts) + "\n")
