"""plan/picture.py: the graph drawn as dot and mermaid; step and host names come from users,
so every label is escaped and gives the names back."""
import json
import re

from otterfile.plan.graph import Graph, Task
from otterfile.plan.picture import draw
from tests.unit.plan.test_planner import graph_of


def test_dot_and_mermaid(otterfile):
    graph = graph_of(otterfile)
    dot = draw(graph, "dot")
    assert dot.startswith("digraph otter {") and \
        '"production/lock@a" -> "production/ship@a";' in dot
    mermaid = draw(graph, "mermaid")
    assert mermaid.startswith("flowchart LR") and 't1["lock @ a"]' in mermaid


# pictures: step and host names come from users

NASTY = 'x"y\n<b>[c]|d{e}`f#35;&\r\x00end'


def nasty_graph() -> Graph:
    return Graph({"a": Task("a", "acquire"),
                  "s": Task("s", "step", host=f"h{NASTY}", step=NASTY, deps=("a",))})


def test_mermaid_escapes_every_syntax_character_of_a_label():
    lines = draw(nasty_graph(), "mermaid").splitlines()
    assert lines[0] == "flowchart LR" and lines[-1] == "  t0 --> t1" and len(lines) == 4
    node = re.fullmatch(r'  t1\["(.*)"\]', lines[2])
    assert node, lines[2]
    label = node.group(1)
    assert not set(label) & set('"<>[]{}|`\n\r\x00')
    # the entity codes give the text back, whitespace runs as one space
    shown = re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)
    flat = re.sub(r"[\x00-\x1f]+", " ", NASTY)
    assert shown == f"step {flat} @ h{flat}"


def test_dot_strings_stay_quoted_and_give_the_names_back():
    out = draw(nasty_graph(), "dot")
    string = r'"(?:[^"\\\n]|\\.)*"'
    for line in out.splitlines()[3:-1]:
        assert re.fullmatch(rf"  {string}( \[label={string}\]| -> {string});", line), line
    labels = [json.loads(m) for m in re.findall(rf"label=({string})", out)]
    assert labels[1] == f"step {NASTY}\nh{NASTY}"
    assert "café" in draw(Graph({"c": Task("c", "step", host="h", step="café")}), "dot")
