"""Pure parts: timings summarised, ratios to the floor, Markdown tables (no I/O here)."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Measured:
    """One case of one workload on `hosts` hosts: its wall times in seconds."""

    workload: str
    case: str
    hosts: int
    values: list[float] = field(default_factory=list)
    floor: bool = False  # the raw OpenSSH figure the others are compared with
    note: str = ""
    error: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None


def ratio(item: Measured, floor: Measured | None) -> float | None:
    """`item`'s median over the floor's median, None when either is missing."""
    if floor is None or not floor.values or not item.values or not floor.median:
        return None
    return item.median / floor.median


def floor_of(items: list[Measured], item: Measured) -> Measured | None:
    """The first floor case of the same workload and host count."""
    return next((f for f in items if f.floor and f.workload == item.workload
                 and f.hosts == item.hosts), None)


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 0.1 else f"{value:.2f} s"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub Markdown table; cells may not contain `|` (it is escaped)."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(header), "|" + "|".join(" --- " for _ in header) + "|",
                      *map(line, rows)])


def workload_table(items: list[Measured]) -> str:
    """One row per case: hosts, median, min-max, ratio to the floor, rounds, note."""
    rows = []
    for item in items:
        found = ratio(item, floor_of(items, item))
        spread = f"{seconds(min(item.values))} – {seconds(max(item.values))}" \
            if item.values else "-"
        note = item.note if not item.error else f"FAILED: {item.error}"
        rows.append([item.case + (" (floor)" if item.floor else ""), str(item.hosts),
                     seconds(item.median), spread,
                     "-" if found is None else f"{found:.2f}x", str(len(item.values)), note])
    return table(["case", "hosts", "median", "min – max", "x floor", "n", "note"], rows)
