"""The task graph as text, Graphviz dot or Mermaid."""
from __future__ import annotations

import json
import re

from .graph import Graph


def draw(graph: Graph, fmt: str) -> str:
    """The graph in `fmt`: "text", "dot" or "mermaid"."""
    return {"text": text, "dot": dot, "mermaid": mermaid}[fmt](graph)


def text(graph: Graph) -> str:
    lines = []
    for task in graph.order():
        after = f"  <- {', '.join(task.deps)}" if task.deps else ""
        lines.append(f"{task.id}{after}")
    return "\n".join(lines) + "\n"


def dot(graph: Graph) -> str:
    lines = ["digraph otter {", "  rankdir=LR;", "  node [shape=box];"]
    for task in graph.order():
        label = json.dumps(f"{task.label}\n{task.where}")
        lines.append(f"  {json.dumps(task.id)} [label={label}];")
    for task in graph.order():
        for dep in task.deps:
            lines.append(f"  {json.dumps(dep)} -> {json.dumps(task.id)};")
    return "\n".join(lines + ["}"]) + "\n"


def mermaid(graph: Graph) -> str:
    ids = {t.id: f"t{n}" for n, t in enumerate(graph.order())}
    lines = ["flowchart LR"]
    for task in graph.order():
        label = re.sub(r'["<>]', "'", f"{task.label} @ {task.where}")
        lines.append(f'  {ids[task.id]}["{label}"]')
    for task in graph.order():
        for dep in task.deps:
            lines.append(f"  {ids[dep]} --> {ids[task.id]}")
    return "\n".join(lines) + "\n"
