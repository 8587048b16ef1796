"""A script's text as it is sent: its comments left out. Every command nests scripts in
`sh -c '...'`, and each level of nesting turns a single quote into five characters (`'"'"'`),
so an apostrophe in a comment four levels down costs over a hundred bytes; a deploy's lock
trip was 34 KB, 43% of it quoting. Comment lines and comments at the end of a line go, never
inside a here-doc or a quoted string (an awk program, a multi-line message): what runs is
the same code."""
from __future__ import annotations

import re

HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


def compact(text: str, name: str) -> str:
    """`text` of script `name` without its comments (.sh and .awk; others as they are)."""
    if name.endswith(".awk"):  # awk has no string spanning lines
        return "".join(line for line in text.splitlines(keepends=True)
                       if not line.lstrip().startswith("#"))
    if not name.endswith(".sh"):
        return text
    kept: list[str] = []
    quote, until = "", ""  # an open quote carried to the next line; a here-doc's end word
    for line in text.splitlines(keepends=True):
        if until:
            kept.append(line)
            if line.strip("\n").lstrip("\t") == until:
                until = ""
            continue
        if not quote and line.startswith("#!") and not kept:
            kept.append(line)  # the interpreter line
            continue
        if not quote and line.lstrip().startswith("#"):
            continue
        code, quote = _scan(line, quote)
        kept.append(code)
        found = HEREDOC.search(code) if not quote else None
        if found:
            until = found.group(2)
    return "".join(kept)


def _scan(line: str, quote: str) -> tuple[str, str]:
    """`line` without a comment at its end, and the quote still open there, given the one
    open at its start."""
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            escaped = True
        elif quote == '"':
            quote = "" if char == '"' else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t;|&("):
            return line[:index].rstrip() + "\n", ""  # a comment to the end of the line
    return line, quote
