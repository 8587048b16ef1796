"""The task graph as text, Graphviz dot or Mermaid."""
from __future__ import annotations

import json
import re

from otterfile.plan.graph import Graph


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
        label = _dot_string(f"{task.label}\n{task.where}")
        lines.append(f"  {_dot_string(task.id)} [label={label}];")
    for task in graph.order():
        for dep in task.deps:
            lines.append(f"  {_dot_string(dep)} -> {_dot_string(task.id)};")
    return "\n".join(lines + ["}"]) + "\n"


def mermaid(graph: Graph) -> str:
    """Mermaid flowchart; node ids are t0, t1...; labels are escaped (names come from users)."""
    ids = {t.id: f"t{n}" for n, t in enumerate(graph.order())}
    lines = ["flowchart LR"]
    for task in graph.order():
        label = _mermaid_label(f"{task.label} @ {task.where}")
        lines.append(f'  {ids[task.id]}["{label}"]')
    for task in graph.order():
        for dep in task.deps:
            lines.append(f"  {ids[dep]} --> {ids[task.id]}")
    return "\n".join(lines) + "\n"


def _dot_string(value: str) -> str:
    """A DOT quoted string: JSON's escapes are DOT's (\\", \\\\, \\n); UTF-8 stays readable."""
    return json.dumps(value, ensure_ascii=False)


# mermaid reads these as syntax or HTML even inside a quoted label; #NN; is its entity code
_MERMAID_CODES = {ord(c): f"#{ord(c)};" for c in '"#&<>[]{}|`'}


def _mermaid_label(text: str) -> str:
    """`text` safe inside `["..."]`: one line, syntax characters as entity codes."""
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029]+", " ", text).translate(_MERMAID_CODES)
