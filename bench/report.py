"""bench/RESULTS.md from a runner's measurements."""
from __future__ import annotations

import re
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
    kept = sections(out.read_text()) if out.exists() else {}  # other scripts' tables
    parts += [_marked(name, text) for name, text in kept.items()]
    out.write_text("\n".join(parts) + "\n")


_SECTION = re.compile(r"<!-- section:([a-z0-9-]+) -->\n(.*?)<!-- /section:\1 -->\n?", re.S)


def _marked(name: str, text: str) -> str:
    return f"<!-- section:{name} -->\n{text.rstrip()}\n<!-- /section:{name} -->\n"


def sections(text: str) -> dict[str, str]:
    """The marked sections of RESULTS.md that scripts other than `python -m bench` wrote
    (bench/zero_downtime.py), by name."""
    return {m.group(1): m.group(2) for m in _SECTION.finditer(text)}


def replace_section(out: Path, name: str, text: str) -> None:
    """Put `text` into RESULTS.md as section `name`, in place of the one there (or last)."""
    old = out.read_text() if out.exists() else ""
    new = _marked(name, text)
    if name in sections(old):
        old = _SECTION.sub(lambda m: new if m.group(1) == name else m.group(0), old)
        out.write_text(old)
    else:
        out.write_text(old.rstrip("\n") + "\n\n" + new)
