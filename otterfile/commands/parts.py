"""Several read-only commands in one round trip, each part's output closed by a marker line
naming the part and its exit status (`plan --check`'s read, `status`'s extra read)."""
from __future__ import annotations

import shlex

from otterfile.command import Command, script


def in_parts(parts: dict[str, Command], mark: str, description: str) -> Command:
    """`parts` in one script, each with no input and its errors dropped; the marker starts
    a line of its own (a part's output may not end with a newline). See `parse`."""
    text = "\n".join(f"{c.shell_line()} </dev/null 2>/dev/null; "
                     f"printf '\\n{mark} %s %s\\n' {shlex.quote(name)} $?"
                     for name, c in parts.items())
    return script(text + "\nexit 0", description=description)


def parse(stdout: str, mark: str) -> dict[str, tuple[int, str]]:
    """Part name -> (exit status, output) from what `in_parts` printed."""
    out, lines = dict[str, tuple[int, str]](), list[str]()
    for line in stdout.splitlines(keepends=True):
        if line.startswith(mark + " "):
            words = line.split()
            if len(words) >= 4 and words[-1].lstrip("-").isdigit():
                text = "".join(lines)  # less the newline printed before the marker
                out[words[2]] = (int(words[-1]), text[:-1] if text.endswith("\n") else text)
            lines = []
        else:
            lines.append(line)
    return out
