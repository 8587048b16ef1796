"""Plain text tables a person reads in a terminal or CI log (`table`), and the run's summary:
one row per host, one column per stage, then time and result, with the targets a failure
or an interrupt kept from starting; `summary_hosts` is the same as data for --json."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otterfile.report.text import printable

if TYPE_CHECKING:  # the summaries import them when called: `table` alone (otter exec's and
    # status's end) needs neither the graph nor the runner (nor its thread pool, logging)
    from otterfile.plan.graph import Graph
    from otterfile.run.runner import Outcome

# run.runner's OK, FAILED and SKIPPED as a person reads them (tests/unit: the same states)
MARKS = {"ok": "ok", "failed": "FAILED", "skipped": "skipped"}


def summary(graph: Graph, outcome: Outcome) -> str:
    """A table: one row per host, one column per stage, then the time and result; then
    the targets a failure kept from starting (a later batch), if any."""
    from otterfile.run.runner import FAILED, OK
    columns: list[str] = []
    for task in graph.order():
        if task.label not in columns:
            columns.append(task.label)
    rows, waiting = [], not_started(graph, outcome)
    for where in dict.fromkeys(t.where for t in graph.order()):
        tasks = [t for t in graph.order() if t.where == where]
        cells = {t.label: MARKS.get(outcome.status[t.id], outcome.status[t.id]) for t in tasks}
        total = sum(outcome.seconds.get(t.id, 0.0) for t in tasks)
        failed = any(outcome.status[t.id] == FAILED for t in tasks)
        result = "FAILED" if failed else ("ok" if all(outcome.status[t.id] == OK for t in tasks)
                                          else "incomplete")
        if where in waiting:  # a row of "skipped" cells says less than one word
            cells, result = {}, "not started"
        rows.append([where] + [cells.get(c, "") for c in columns] + [f"{total:.1f}s", result])
    text = table(["host"] + columns + ["time", "result"], rows)
    if waiting:
        why = "interrupted" if outcome.interrupted else "after a failure"
        text += f"\n\nnot started ({why}): {', '.join(printable(h, keep='') for h in waiting)}"
    return text


def not_started(graph: Graph, outcome: Outcome) -> list[str]:
    """The targets none of whose tasks ran (skipped after a failure or an interrupt)."""
    from otterfile.run.runner import SKIPPED
    hosts = dict.fromkeys(t.host for t in graph.order() if t.host)
    return [h for h in hosts if all(outcome.status[t.id] == SKIPPED for t in graph.for_host(h))]


def summary_hosts(graph: Graph, outcome: Outcome,
                  hosts: dict[str, str]) -> list[dict[str, Any]]:
    """The summary as data: per host its address, result, seconds and stage statuses."""
    from otterfile.plan.graph import CONTROLLER
    from otterfile.run.runner import FAILED, OK
    out = []
    waiting = not_started(graph, outcome)
    for where in dict.fromkeys(t.where for t in graph.order()):
        tasks = [t for t in graph.order() if t.where == where]
        states = [outcome.status[t.id] for t in tasks]
        out.append({"host": where, "address": hosts.get(where, where) if where != CONTROLLER
                    else "local",
                    "result": "failed" if FAILED in states else
                    ("ok" if all(s == OK for s in states) else "incomplete"),
                    "started": where not in waiting,
                    "seconds": round(sum(outcome.seconds.get(t.id, 0.0) for t in tasks), 3),
                    "stages": {t.label: outcome.status[t.id] for t in tasks}})
    return out


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain text table a person reads in a terminal or a CI log; each cell is one line,
    its control characters escaped (`printable`)."""
    headers, rows = _cells(headers), [_cells(r) for r in rows]
    widths = [max(len(r[i]) for r in [headers] + rows) for i in range(len(headers))]
    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _cells(row: list[Any]) -> list[str]:
    return [printable(str(c).replace("\n", " ").replace("\t", " "), keep="") for c in row]
